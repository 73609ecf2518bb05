// System registers that trap to the VMM and that the VMM itself emulates (the GIC CPU
// interface is the GIC's business): the OS lock and debug registers, PMU registers and
// unallocated ID-register space. Anything not handled here is UNDEFINED to the guest.
import { sysRegId, type SysRegFields } from '../../accel/sysregs.ts';

export const OSLAR_EL1 = sysRegId(2, 0, 1, 0, 4);
export const OSLSR_EL1 = sysRegId(2, 0, 1, 1, 4);
export const OSDLR_EL1 = sysRegId(2, 0, 1, 3, 4);
export const DBGPRCR_EL1 = sysRegId(2, 0, 1, 4, 4);
export const MDCCSR_EL0 = sysRegId(2, 3, 0, 1, 0);
export const DBGCLAIMSET_EL1 = sysRegId(2, 0, 7, 8, 6);
export const DBGCLAIMCLR_EL1 = sysRegId(2, 0, 7, 9, 6);
export const DBGAUTHSTATUS_EL1 = sysRegId(2, 0, 7, 14, 6);

/** OSLSR_EL1.OSLM = 0b10: the OS lock is implemented; bit 1 (OSLK) reports its state. */
const OSLSR_OSLM_IMPLEMENTED = 1n << 3n;
const OSLSR_OSLK = 1n << 1n;

/** Per-vCPU state of the registers emulated here. */
export class TrappedSysRegs {
  /** The OS lock is set out of reset (Arm ARM: OSLSR_EL1.OSLK resets to 1). */
  private osLocked = true;
  private readonly debugRegs = new Map<number, bigint>();

  /** Value for an MRS, or undefined if the register is not emulated here. */
  read(id: number, f: SysRegFields): bigint | undefined {
    if (id === OSLSR_EL1) return OSLSR_OSLM_IMPLEMENTED | (this.osLocked ? OSLSR_OSLK : 0n);
    if (id === OSDLR_EL1 || id === DBGPRCR_EL1 || id === MDCCSR_EL0 || id === DBGAUTHSTATUS_EL1) return 0n;
    if (id === DBGCLAIMSET_EL1 || id === DBGCLAIMCLR_EL1) return 0n;
    if (isDebugBreakWatchReg(f) || isDebugCommsReg(f)) return this.debugRegs.get(id) ?? 0n;
    if (isIdRegSpace(f)) return 0n;
    if (isPmuReg(f) || isPhysicalTimerReg(f)) return 0n;
    return undefined;
  }

  /** Apply an MSR; false if the register is not emulated here. */
  write(id: number, f: SysRegFields, value: bigint): boolean {
    if (id === OSLAR_EL1) {
      this.osLocked = (value & 1n) === 1n;
      return true;
    }
    if (id === OSDLR_EL1 || id === DBGPRCR_EL1 || id === DBGCLAIMSET_EL1 || id === DBGCLAIMCLR_EL1) return true;
    if (isDebugBreakWatchReg(f) || isDebugCommsReg(f)) {
      this.debugRegs.set(id, value);
      return true;
    }
    // Writes to PMU and EL1 physical-timer registers are ignored: nodevisor exposes no PMU
    // and Linux guests use the virtual timer.
    if (isPmuReg(f) || isPhysicalTimerReg(f)) return true;
    return false;
  }
}

/** DBGBVR/BCR/WVR/WCR<n>_EL1 and MDSCR/MDCCINT: op0=2, op1=0, CRn=0. */
function isDebugBreakWatchReg(f: SysRegFields): boolean {
  return f.op0 === 2 && f.op1 === 0 && f.crn === 0;
}

/** DBGDTR/DBGDTRRX/TX_EL0 (debug comms channel): op0=2, op1=3, CRn=0. */
function isDebugCommsReg(f: SysRegFields): boolean {
  return f.op0 === 2 && f.op1 === 3 && f.crn === 0;
}

/** ID registers: op0=3, op1=0, CRn=0, CRm 1..7; unallocated ones read as zero. */
function isIdRegSpace(f: SysRegFields): boolean {
  return f.op0 === 3 && f.op1 === 0 && f.crn === 0 && f.crm >= 1 && f.crm <= 7;
}

/** PMU: PMCR_EL0 etc. (op1=3, CRn=9, CRm 12-14), PMEVCNTR/TYPER (CRn=14, CRm 8-15), PMINTEN (op1=0, CRn=9, CRm=14). */
function isPmuReg(f: SysRegFields): boolean {
  if (f.op0 !== 3) return false;
  if (f.op1 === 3 && f.crn === 9 && f.crm >= 12 && f.crm <= 14) return true;
  if (f.op1 === 3 && f.crn === 14 && f.crm >= 8) return true;
  return f.op1 === 0 && f.crn === 9 && f.crm === 14;
}

/** CNTP_TVAL/CTL/CVAL_EL0: op0=3, op1=3, CRn=14, CRm=2. */
function isPhysicalTimerReg(f: SysRegFields): boolean {
  return f.op0 === 3 && f.op1 === 3 && f.crn === 14 && f.crm === 2;
}
