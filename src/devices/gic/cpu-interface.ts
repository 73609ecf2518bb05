// The GICv3 CPU interface of one vCPU, reached through trapped ICC_*_EL1 system-register
// accesses (exit EC 0x18). The VMM passes the hv_sys_reg_t id of the trap:
//
//   readSysReg(id): bigint | undefined   - undefined: not a GIC CPU-interface register
//   writeSysReg(id, value): boolean      - false: not a GIC CPU-interface register
//
// Reads of write-only registers (EOIR, DIR, SGI*R) and writes to read-only ones (IAR,
// HPPIR, RPR) are GIC registers used wrongly by the guest: logged, read as 0 / ignored.
import { sysRegName } from '../../accel/sysregs.ts';
import type { GicV3 } from './gicv3.ts';
import {
  BPR0_MIN, BPR1_MIN, ICC, ICC_CTLR_CBPR, ICC_CTLR_EOIMODE, ICC_CTLR_PRIBITS_SHIFT, ICC_NAMES,
  ICC_SRE_VALUE, PRIORITY_BITS, PRIORITY_MASK,
} from './registers.ts';

/** ICC_CTLR_EL1 read-only part: PRIbits = 4 (5 bits), IDbits = 0 (16-bit INTIDs), no A3V/SEIS. */
const CTLR_RO = (PRIORITY_BITS - 1) << ICC_CTLR_PRIBITS_SHIFT;
const CTLR_RW = ICC_CTLR_CBPR | ICC_CTLR_EOIMODE;

export class GicCpuInterface {
  constructor(private readonly gic: GicV3, readonly cpu: number) {}

  /** True if `id` is one of the ICC registers this interface implements. */
  static handles(id: number): boolean {
    return ICC_NAMES.has(id);
  }

  readSysReg(id: number): bigint | undefined {
    const name = ICC_NAMES.get(id);
    if (!name) return undefined;
    const gic = this.gic;
    const c = gic.cpuState(this.cpu);
    switch (name) {
      case 'IAR0_EL1': return BigInt(gic.acknowledge(this.cpu, 0));
      case 'IAR1_EL1': return BigInt(gic.acknowledge(this.cpu, 1));
      case 'HPPIR0_EL1': return BigInt(gic.highestPending(this.cpu, 0));
      case 'HPPIR1_EL1': return BigInt(gic.highestPending(this.cpu, 1));
      case 'RPR_EL1': return BigInt(gic.runningPriority(this.cpu));
      case 'PMR_EL1': return BigInt(c.pmr);
      case 'BPR0_EL1': return BigInt(c.bpr0);
      case 'BPR1_EL1': return BigInt(c.ctlr & ICC_CTLR_CBPR ? Math.min(c.bpr0 + 1, 7) : c.bpr1);
      case 'CTLR_EL1': return BigInt(CTLR_RO | c.ctlr);
      case 'SRE_EL1': return ICC_SRE_VALUE;
      case 'IGRPEN0_EL1': return c.igrpen[0] ? 1n : 0n;
      case 'IGRPEN1_EL1': return c.igrpen[1] ? 1n : 0n;
      case 'AP0R0_EL1': return BigInt(c.ap[0]);
      case 'AP1R0_EL1': return BigInt(c.ap[1]);
      case 'AP0R1_EL1': case 'AP0R2_EL1': case 'AP0R3_EL1':
      case 'AP1R1_EL1': case 'AP1R2_EL1': case 'AP1R3_EL1':
        return 0n; // 5 preemption bits need only APxR0
      case 'EOIR0_EL1': case 'EOIR1_EL1': case 'DIR_EL1':
      case 'SGI0R_EL1': case 'SGI1R_EL1': case 'ASGI1R_EL1':
        gic.log.warn(`gic: vCPU ${this.cpu} read of write-only ${sysRegName(id)} (ICC_${name})`);
        return 0n;
    }
  }

  writeSysReg(id: number, value: bigint): boolean {
    const name = ICC_NAMES.get(id);
    if (!name) return false;
    const gic = this.gic;
    const cpu = this.cpu;
    const c = gic.cpuState(cpu);
    const low = Number(value & 0xffff_ffffn);
    switch (name) {
      case 'EOIR0_EL1': gic.endOfInterrupt(cpu, 0, low & 0xffffff); break;
      case 'EOIR1_EL1': gic.endOfInterrupt(cpu, 1, low & 0xffffff); break;
      case 'DIR_EL1': gic.deactivateInterrupt(cpu, low & 0xffffff); break;
      case 'SGI1R_EL1': gic.generateSgi(cpu, value, 1); break;
      case 'SGI0R_EL1': gic.generateSgi(cpu, value, 0); break;
      case 'ASGI1R_EL1':
        // Generates SGIs for the other Security state, which does not exist with DS = 1.
        gic.log.debug?.(`gic: vCPU ${cpu} ICC_ASGI1R_EL1 write ignored`);
        break;
      case 'PMR_EL1': c.pmr = low & PRIORITY_MASK; gic.update(cpu); break;
      case 'BPR0_EL1': c.bpr0 = Math.max(low & 7, BPR0_MIN); gic.update(cpu); break;
      case 'BPR1_EL1':
        if (!(c.ctlr & ICC_CTLR_CBPR)) c.bpr1 = Math.max(low & 7, BPR1_MIN);
        gic.update(cpu);
        break;
      case 'CTLR_EL1': c.ctlr = low & CTLR_RW; gic.update(cpu); break;
      case 'SRE_EL1': break; // SRE/DFB/DIB are RAO/WI
      case 'IGRPEN0_EL1': c.igrpen[0] = (low & 1) === 1; gic.update(cpu); break;
      case 'IGRPEN1_EL1': c.igrpen[1] = (low & 1) === 1; gic.update(cpu); break;
      case 'AP0R0_EL1': c.ap[0] = low >>> 0; gic.update(cpu); break;
      case 'AP1R0_EL1': c.ap[1] = low >>> 0; gic.update(cpu); break;
      case 'AP0R1_EL1': case 'AP0R2_EL1': case 'AP0R3_EL1':
      case 'AP1R1_EL1': case 'AP1R2_EL1': case 'AP1R3_EL1':
        break;
      case 'IAR0_EL1': case 'IAR1_EL1': case 'HPPIR0_EL1': case 'HPPIR1_EL1': case 'RPR_EL1':
        gic.log.warn(`gic: vCPU ${cpu} write to read-only ICC_${name} ignored`);
        break;
    }
    return true;
  }
}

export { ICC };
