// GICv3 distributor (GICD_*), a 64 KiB MmioDevice: map it at layout.GIC_DIST_BASE.
// Affinity routing is always on, so the SGI/PPI parts of the per-INTID registers are RAZ/WI
// (they live in each redistributor's SGI frame) and SPIs are routed by GICD_IROUTER<n>.
// Bad offsets and sizes from the guest are logged and read as zero / ignored.
import type { MmioDevice } from '../../bus/mmio-bus.ts';
import { GIC_DIST_SIZE, SPI_BASE } from '../../arch/arm64/layout.ts';
import type { GicV3 } from './gicv3.ts';
import {
  GICD, GICD_CTLR_ARE, GICD_CTLR_DS, GICD_ID_BYTES, GIC_IIDR, ID_REGS_BASE,
} from './registers.ts';
import {
  decodeIrqRegister, idRegister, irqRegisterSizeOk, readIrqRegister, toU32, toU64, writeIrqRegister,
} from './irq-registers.ts';

const TYPER_IDBITS = 9 << 19; // INTIDs are 10 bits wide (0..1023)
const TYPER_NO1N = 1 << 25; // 1-of-N SPI routing not supported: IROUTER.IRM is RAZ/WI
const IROUTER_END = GICD.IROUTER + 8 * 1020;

export class GicDistributor implements MmioDevice {
  readonly name = 'gicv3-distributor';
  readonly size = GIC_DIST_SIZE;

  constructor(private readonly gic: GicV3) {}

  private get window() {
    return { first: SPI_BASE, limit: this.gic.intidLimit };
  }

  read(offset: number, size: number, vcpu: number): number | bigint {
    if (offset % size !== 0) return this.bad('read', offset, size);
    if (offset >= GICD.IROUTER && offset < IROUTER_END) {
      const intid = (offset - GICD.IROUTER) >> 3;
      const route = this.gic.getRoute(intid);
      if (size === 8) return route;
      if (size === 4) return Number((offset & 4 ? route >> 32n : route) & 0xffff_ffffn);
      return this.bad('read', offset, size);
    }
    const irq = decodeIrqRegister(offset);
    if (irq) {
      if (!irqRegisterSizeOk(irq, offset, size)) return this.bad('read', offset, size);
      return readIrqRegister(this.gic, this.cpu(vcpu), this.window, irq, size);
    }
    if (size !== 4) return this.bad('read', offset, size);
    if (offset >= ID_REGS_BASE) return idRegister(GICD_ID_BYTES, offset);
    switch (offset) {
      case GICD.CTLR: return this.gic.distCtlr | GICD_CTLR_ARE | GICD_CTLR_DS;
      case GICD.TYPER: return (TYPER_NO1N | TYPER_IDBITS | (this.gic.intidLimit / 32 - 1)) >>> 0;
      case GICD.IIDR: return GIC_IIDR;
      case GICD.TYPER2:
      case GICD.STATUSR:
        return 0;
    }
    if (this.isRazWi(offset)) return 0;
    return this.bad('read', offset, size);
  }

  write(offset: number, size: number, value: number | bigint, vcpu: number): void {
    if (offset % size !== 0) {
      this.bad('write', offset, size);
      return;
    }
    if (offset >= GICD.IROUTER && offset < IROUTER_END) {
      const intid = (offset - GICD.IROUTER) >> 3;
      if (size === 8) this.gic.setRoute(intid, toU64(value));
      else if (size === 4) {
        const old = this.gic.getRoute(intid);
        const v = BigInt(toU32(value));
        this.gic.setRoute(intid, offset & 4 ? (old & 0xffff_ffffn) | (v << 32n) : (old & ~0xffff_ffffn) | v);
      } else this.bad('write', offset, size);
      return;
    }
    const irq = decodeIrqRegister(offset);
    if (irq) {
      if (!irqRegisterSizeOk(irq, offset, size)) this.bad('write', offset, size);
      else writeIrqRegister(this.gic, this.cpu(vcpu), this.window, irq, size, toU32(value));
      return;
    }
    if (size !== 4) {
      this.bad('write', offset, size);
      return;
    }
    if (offset === GICD.CTLR) this.gic.setDistributorControl(toU32(value));
    else if (offset === GICD.TYPER || offset === GICD.IIDR || offset === GICD.TYPER2 || offset >= ID_REGS_BASE) {
      this.gic.log.warn(`gic: write to read-only GICD register 0x${offset.toString(16)} ignored`);
    } else if (!this.isRazWi(offset) && offset !== GICD.STATUSR) this.bad('write', offset, size);
  }

  /** Registers that exist but do nothing under ARE = 1, DS = 1, no MBIs. */
  private isRazWi(offset: number): boolean {
    return (offset >= GICD.ITARGETSR && offset < GICD.ITARGETSR + 0x400)
      || offset === GICD.SGIR
      || (offset >= GICD.CPENDSGIR && offset < GICD.SPENDSGIR + 0x10)
      || offset === GICD.SETSPI_NSR || offset === GICD.CLRSPI_NSR;
  }

  private cpu(vcpu: number): number {
    return vcpu >= 0 && vcpu < this.gic.vcpuCount ? vcpu : 0;
  }

  private bad(kind: 'read' | 'write', offset: number, size: number): 0 {
    this.gic.log.warn(`gic: unhandled GICD ${kind} at 0x${offset.toString(16)} size ${size}`);
    return 0;
  }
}
