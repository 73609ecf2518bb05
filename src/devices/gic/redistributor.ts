// GICv3 redistributors of every vCPU as one MmioDevice: map it at layout.GIC_REDIST_BASE
// with `size` (vcpuCount * 128 KiB; mapping the whole GIC_REDIST_REGION_SIZE also works,
// frames past the last vCPU read as zero). vCPU n owns [n * 128 KiB, (n + 1) * 128 KiB):
// the RD_base frame (CTLR, IIDR, TYPER, WAKER, IDs) then the SGI_base frame (SGI/PPI
// per-INTID registers). GICR_TYPER carries the vCPU's MPIDR affinity (layout.mpidrOf),
// its processor number and Last on the final vCPU, which ends Linux's redistributor walk.
import type { MmioDevice } from '../../bus/mmio-bus.ts';
import { GIC_REDIST_SIZE_PER_CPU, mpidrOf, SPI_BASE } from '../../arch/arm64/layout.ts';
import type { GicV3 } from './gicv3.ts';
import {
  GICR, GICR_ID_BYTES, GICR_SGI_FRAME, GICR_TYPER_LAST, GICR_WAKER_CHILDREN_ASLEEP,
  GICR_WAKER_PROCESSOR_SLEEP, GIC_IIDR, ID_REGS_BASE,
} from './registers.ts';
import {
  decodeIrqRegister, idRegister, irqRegisterSizeOk, readIrqRegister, toU32, writeIrqRegister,
} from './irq-registers.ts';

const PRIVATE_WINDOW = { first: 0, limit: SPI_BASE };

export class GicRedistributors implements MmioDevice {
  readonly name = 'gicv3-redistributors';
  readonly size: number;

  constructor(private readonly gic: GicV3) {
    this.size = gic.vcpuCount * GIC_REDIST_SIZE_PER_CPU;
  }

  /** GICR_TYPER of vCPU `cpu`: Affinity [63:32], Processor_Number [23:8], Last [4]. */
  typer(cpu: number): bigint {
    const last = cpu === this.gic.vcpuCount - 1 ? GICR_TYPER_LAST : 0;
    return (BigInt(mpidrOf(cpu)) << 32n) | BigInt((cpu << 8) | last);
  }

  read(offset: number, size: number, _vcpu: number): number | bigint {
    const cpu = Math.floor(offset / GIC_REDIST_SIZE_PER_CPU);
    const off = offset % GIC_REDIST_SIZE_PER_CPU;
    if (offset % size !== 0) return this.bad('read', offset, size);
    if (cpu >= this.gic.vcpuCount) {
      this.gic.log.debug?.(`gic: read of absent redistributor ${cpu} at 0x${off.toString(16)}`);
      return 0;
    }
    if (off >= GICR_SGI_FRAME) return this.readSgiFrame(cpu, off - GICR_SGI_FRAME, size, offset);
    if (off === GICR.TYPER || off === GICR.TYPER + 4) {
      const typer = this.typer(cpu);
      if (size === 8) return typer;
      if (size === 4) return Number((off === GICR.TYPER ? typer : typer >> 32n) & 0xffff_ffffn);
      return this.bad('read', offset, size);
    }
    if (off >= GICR.PROPBASER && off < GICR.PENDBASER + 8) return size === 4 || size === 8 ? 0 : this.bad('read', offset, size);
    if (size !== 4) return this.bad('read', offset, size);
    if (off >= ID_REGS_BASE) return idRegister(GICR_ID_BYTES, off);
    switch (off) {
      case GICR.CTLR: return 0; // no LPIs; RWP/UWP never set: writes take effect at once
      case GICR.IIDR: return GIC_IIDR;
      case GICR.STATUSR: return 0;
      case GICR.WAKER: return this.gic.isSleeping(cpu) ? GICR_WAKER_PROCESSOR_SLEEP | GICR_WAKER_CHILDREN_ASLEEP : 0;
    }
    return this.bad('read', offset, size);
  }

  write(offset: number, size: number, value: number | bigint, _vcpu: number): void {
    const cpu = Math.floor(offset / GIC_REDIST_SIZE_PER_CPU);
    const off = offset % GIC_REDIST_SIZE_PER_CPU;
    if (offset % size !== 0) {
      this.bad('write', offset, size);
      return;
    }
    if (cpu >= this.gic.vcpuCount) {
      this.gic.log.debug?.(`gic: write to absent redistributor ${cpu} at 0x${off.toString(16)}`);
      return;
    }
    if (off >= GICR_SGI_FRAME) {
      this.writeSgiFrame(cpu, off - GICR_SGI_FRAME, size, toU32(value), offset);
      return;
    }
    if (off >= GICR.PROPBASER && off < GICR.PENDBASER + 8 && (size === 4 || size === 8)) return; // no LPIs
    if (size !== 4) {
      this.bad('write', offset, size);
      return;
    }
    switch (off) {
      case GICR.CTLR: return; // EnableLPIs is RES0 without LPI support
      case GICR.STATUSR: return;
      case GICR.WAKER:
        this.gic.setSleeping(cpu, (toU32(value) & GICR_WAKER_PROCESSOR_SLEEP) !== 0);
        return;
      case GICR.IIDR:
      case GICR.TYPER:
      case GICR.TYPER + 4:
        this.gic.log.warn(`gic: write to read-only GICR register 0x${off.toString(16)} ignored`);
        return;
    }
    this.bad('write', offset, size);
  }

  private readSgiFrame(cpu: number, off: number, size: number, offset: number): number {
    const irq = decodeIrqRegister(off);
    if (!irq || !irqRegisterSizeOk(irq, off, size)) {
      if (size === 4 && off >= ID_REGS_BASE) return idRegister(GICR_ID_BYTES, off);
      return this.bad('read', offset, size);
    }
    return readIrqRegister(this.gic, cpu, PRIVATE_WINDOW, irq, size);
  }

  private writeSgiFrame(cpu: number, off: number, size: number, value: number, offset: number): void {
    const irq = decodeIrqRegister(off);
    if (!irq || !irqRegisterSizeOk(irq, off, size)) this.bad('write', offset, size);
    else writeIrqRegister(this.gic, cpu, PRIVATE_WINDOW, irq, size, value);
  }

  private bad(kind: 'read' | 'write', offset: number, size: number): 0 {
    this.gic.log.warn(`gic: unhandled GICR ${kind} at 0x${offset.toString(16)} size ${size}`);
    return 0;
  }
}
