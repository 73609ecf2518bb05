// HVF's in-kernel GICv3 (macOS 15+, hv_gic_*) behind the same SpiSink as the userspace
// GicV3, so devices and the machine builder do not care which one is in use.
//
// Swap-in recipe for the VMM (libkrun's order, see shared/docs/anchors.md):
//   1. if accel.capabilities().inKernelGic, create the VM with
//      { inKernelGic: { distributorBase: GIC_DIST_BASE, redistributorBase: GIC_REDIST_BASE } }
//      before creating any vCPU;
//   2. wire devices to `new InKernelGicSink(vm.gic!)` instead of a GicV3;
//   3. do NOT map GicV3.distributor/redistributors on the bus, do not route ICC_* sysreg
//      traps (HVF handles them), and skip irqPending()/setPpi(): the vtimer PPI and WFI are
//      absorbed by the in-kernel GIC;
//   4. PSCI, PL011, PL031 and the boot timer are unchanged.
import type { InKernelGic } from '../../accel/types.ts';
import type { SpiSink } from '../interrupt.ts';
import { SPI_BASE } from '../../arch/arm64/layout.ts';
import { GicError } from './gicv3.ts';

export class InKernelGicSink implements SpiSink {
  constructor(private readonly gic: InKernelGic, private readonly intidLimit = 1020) {}

  setSpi(intid: number, asserted: boolean): void {
    if (!Number.isInteger(intid) || intid < SPI_BASE || intid >= this.intidLimit) {
      throw new GicError(`INTID ${intid} is not an SPI`);
    }
    this.gic.setSpi(intid, asserted);
  }
}
