// Exceptions taken to EL1, ERET, and the system-register file of the software CPU: which
// registers it implements itself, and which trap to the VMM as HVF traps them (EC 0x18:
// GIC CPU interface, OS lock and debug, PMU, EL1 physical timer, anything unknown).
import { GUEST_EXCEPTION, VM_EXIT, CNTV_CTL, CNTV_CVAL, type Cpu } from './cpu.ts';
import { SLOT_SP } from './state.ts';
import { sysRegId, SysReg } from '../sysregs.ts';
import { CNTFRQ_HZ, ID_REGISTERS, isIdRegisterSpace } from './id-registers.ts';

const FPCR_WRITABLE = 0x07c0_0000n;
const FPSR_WRITABLE = 0xf800_009fn;
const VECTOR_SYNC = 0, VECTOR_IRQ = 0x80, VECTOR_FIQ = 0x100;

function enterEl1(cpu: Cpu, vectorType: number, retLo: number, retHi: number): void {
  const spsr = cpu.pstate;
  const fromEl = cpu.el;
  const base = fromEl === 0 ? 0x400 : cpu.spsel ? 0x200 : 0;
  cpu.sysregs.set(SysReg.SPSR_EL1, BigInt(spsr));
  cpu.sysregs.set(SysReg.ELR_EL1, (BigInt(retHi >>> 0) << 32n) | BigInt(retLo >>> 0));
  cpu.saveSp();
  cpu.el = 1;
  cpu.spsel = 1;
  cpu.daif = 0xf;
  cpu.ss = 0;
  cpu.il = 0;
  cpu.loadSp();
  const vbar = cpu.sysregs.get(SysReg.VBAR_EL1) ?? 0n;
  const target = (vbar & ~0x7ffn) + BigInt(base + vectorType);
  cpu.s.pcLo = Number(target & 0xffffffffn) | 0;
  cpu.s.pcHi = Number(target >> 32n) | 0;
  cpu.branched = true;
  cpu.exclusiveAddr = -1;
  cpu.mmu.privilegeChanged();
}

/** Synchronous exception at the current instruction (ELR = its address). */
export function takeSyncException(cpu: Cpu, esr: number, far?: bigint): void {
  cpu.sysregs.set(SysReg.ESR_EL1, BigInt(esr >>> 0));
  if (far !== undefined) cpu.sysregs.set(SysReg.FAR_EL1, far);
  enterEl1(cpu, VECTOR_SYNC, cpu.curPcLo, cpu.curPcHi);
}

/** SVC and friends: ELR is the next instruction. */
export function takeSyncExceptionAfter(cpu: Cpu, esr: number): void {
  cpu.sysregs.set(SysReg.ESR_EL1, BigInt(esr >>> 0));
  const lo = (cpu.curPcLo + 4) | 0;
  const hi = (lo >>> 0) < (cpu.curPcLo >>> 0) ? cpu.curPcHi + 1 : cpu.curPcHi;
  enterEl1(cpu, VECTOR_SYNC, lo, hi);
}

export function undefinedInstruction(cpu: Cpu): never {
  takeSyncException(cpu, 1 << 25);
  throw GUEST_EXCEPTION;
}

export function takeIrq(cpu: Cpu): void {
  enterEl1(cpu, VECTOR_IRQ, cpu.s.pcLo, cpu.s.pcHi);
  cpu.branched = false;
}

export function takeFiq(cpu: Cpu): void {
  enterEl1(cpu, VECTOR_FIQ, cpu.s.pcLo, cpu.s.pcHi);
  cpu.branched = false;
}

export function eret(cpu: Cpu): void {
  if (cpu.el === 0) undefinedInstruction(cpu);
  const spsr = Number(cpu.sysregs.get(SysReg.SPSR_EL1) ?? 0n);
  const elr = cpu.sysregs.get(SysReg.ELR_EL1) ?? 0n;
  const mode = spsr & 0x1f;
  // Only AArch64 EL0t, EL1t and EL1h exist here; anything else is an illegal return.
  const legal = mode === 0 || mode === 4 || mode === 5;
  cpu.setPstate(legal ? spsr : (spsr & ~0x1f) | 0x5 | (1 << 20));
  cpu.s.pcLo = Number(elr & 0xffffffffn) | 0;
  cpu.s.pcHi = Number(elr >> 32n) | 0;
  cpu.branched = true;
  cpu.exclusiveAddr = -1;
}

/** Leave run() with an EC 0x18 trap for the VMM (PC stays at the instruction). */
function trapToVmm(cpu: Cpu, insn: number): never {
  const op0 = 2 + ((insn >>> 19) & 1);
  const op1 = (insn >>> 16) & 7, crn = (insn >>> 12) & 15, crm = (insn >>> 8) & 15, op2 = (insn >>> 5) & 7;
  const rt = insn & 31, read = (insn >>> 21) & 1;
  const iss = (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | read;
  cpu.exit = { reason: 1, syndrome: ((0x18 << 26) | (1 << 25) | iss) >>> 0, va: 0n, pa: 0 };
  cpu.s.pcLo = cpu.curPcLo;
  cpu.s.pcHi = cpu.curPcHi;
  throw VM_EXIT;
}

/** Registers the VMM emulates: trapped exactly as HVF traps them. */
function trapsToVmm(cpu: Cpu, op0: number, op1: number, crn: number, crm: number): boolean {
  return alwaysTrapsToVmm(op0, op1, crn, crm) || (op0 === 2 && crn === 0 && cpu.trapDebugRegAccesses);
}

/** The MRS/MSR encodings that trap to the VMM whatever the vCPU's settings (the translator leaves them to the interpreter). */
export function alwaysTrapsToVmm(op0: number, op1: number, crn: number, crm: number): boolean {
  if (op0 === 3 && op1 === 0 && ((crn === 12 && crm >= 8) || (crn === 4 && crm === 6))) return true; // ICC_*
  if (op0 === 2 && op1 === 0 && crn === 1) return true; // OSLAR, OSLSR, OSDLR, DBGPRCR
  if (op0 === 2 && crn === 7) return true; // DBGCLAIM*, DBGAUTHSTATUS
  if (op0 === 3 && crn === 9 && crm >= 12) return true; // PMU
  if (op0 === 3 && op1 === 3 && crn === 14 && crm >= 8) return true; // PMEVCNTR/TYPER
  if (op0 === 3 && op1 === 3 && crn === 14 && crm === 2) return true; // CNTP_*
  return false;
}

const id = sysRegId;
const R = {
  NZCV: id(3, 3, 4, 2, 0), DAIF: id(3, 3, 4, 2, 1), FPCR: id(3, 3, 4, 4, 0), FPSR: id(3, 3, 4, 4, 1),
  CURRENTEL: id(3, 0, 4, 2, 2), SPSEL: id(3, 0, 4, 2, 0), PAN: id(3, 0, 4, 2, 3), UAO: id(3, 0, 4, 2, 4),
  SSBS: id(3, 3, 4, 2, 6), DIT: id(3, 3, 4, 2, 5), TCO: id(3, 3, 4, 2, 7),
  CNTFRQ: id(3, 3, 14, 0, 0), CNTPCT: id(3, 3, 14, 0, 1), CNTVCT: id(3, 3, 14, 0, 2),
  CNTPCTSS: id(3, 3, 14, 0, 5), CNTVCTSS: id(3, 3, 14, 0, 6), CNTV_TVAL: id(3, 3, 14, 3, 0),
  SP_EL0: SysReg.SP_EL0, SP_EL1: SysReg.SP_EL1,
  SCTLR: SysReg.SCTLR_EL1, TCR: SysReg.TCR_EL1, TTBR0: SysReg.TTBR0_EL1, TTBR1: SysReg.TTBR1_EL1,
  MPIDR: SysReg.MPIDR_EL1, ISR: id(3, 0, 12, 1, 0),
} as const;

/** Registers stored as plain values (reads return what was written). */
const STORED = new Set<number>([
  SysReg.SCTLR_EL1, SysReg.ACTLR_EL1, SysReg.CPACR_EL1, SysReg.TTBR0_EL1, SysReg.TTBR1_EL1, SysReg.TCR_EL1,
  SysReg.SPSR_EL1, SysReg.ELR_EL1, SysReg.AFSR0_EL1, SysReg.AFSR1_EL1, SysReg.ESR_EL1, SysReg.FAR_EL1,
  SysReg.PAR_EL1, SysReg.MAIR_EL1, SysReg.AMAIR_EL1, SysReg.VBAR_EL1, SysReg.CONTEXTIDR_EL1, SysReg.TPIDR_EL1,
  SysReg.CNTKCTL_EL1, SysReg.CSSELR_EL1, SysReg.TPIDR_EL0, SysReg.TPIDRRO_EL0, SysReg.MDSCR_EL1, SysReg.MDCCINT_EL1,
  SysReg.APIAKEYLO_EL1, SysReg.APIAKEYHI_EL1, SysReg.APIBKEYLO_EL1, SysReg.APIBKEYHI_EL1, SysReg.APDAKEYLO_EL1,
  SysReg.APDAKEYHI_EL1, SysReg.APDBKEYLO_EL1, SysReg.APDBKEYHI_EL1, SysReg.APGAKEYLO_EL1, SysReg.APGAKEYHI_EL1,
  id(3, 0, 10, 4, 0), id(3, 0, 10, 4, 1), // LORSA/LOREA-ish space kept harmless
  id(3, 0, 5, 3, 0), // ERRIDR_EL1 (RAS absent) reads 0
]);

function readCounterRegs(cpu: Cpu, rid: number): bigint | undefined {
  switch (rid) {
    case R.CNTFRQ: return BigInt(CNTFRQ_HZ);
    case R.CNTVCT: case R.CNTVCTSS: return cpu.counter();
    case R.CNTPCT: case R.CNTPCTSS: return (process.hrtime.bigint() * 3n) / 125n;
    case CNTV_CTL: {
      const ctl = cpu.sysregs.get(CNTV_CTL) ?? 0n;
      const fired = (ctl & 1n) !== 0n && (cpu.sysregs.get(CNTV_CVAL) ?? 0n) <= cpu.counter();
      return (ctl & 3n) | (fired ? 4n : 0n);
    }
    case CNTV_CVAL: return cpu.sysregs.get(CNTV_CVAL) ?? 0n;
    case R.CNTV_TVAL: return BigInt.asUintN(32, (cpu.sysregs.get(CNTV_CVAL) ?? 0n) - cpu.counter());
    default: return undefined;
  }
}

/** Value of a system register as the guest reads it, or undefined if not implemented here. */
export function readSysReg(cpu: Cpu, rid: number): bigint | undefined {
  const s = cpu.s;
  switch (rid) {
    case R.NZCV: return BigInt(((s.n << 31) | (s.z << 30) | (s.c << 29) | (s.v << 28)) >>> 0);
    case R.DAIF: return BigInt(cpu.daif << 6);
    case R.FPCR: return BigInt(s.fpcr >>> 0);
    case R.FPSR: return BigInt(s.fpsr >>> 0);
    case R.CURRENTEL: return BigInt(cpu.el << 2);
    case R.SPSEL: return BigInt(cpu.spsel);
    case R.PAN: case R.UAO: case R.SSBS: case R.DIT: case R.TCO: return 0n;
    case R.SP_EL0:
      if (cpu.el === 0 || cpu.spsel === 0) return cpu.s.getXBig(SLOT_SP);
      return (BigInt(cpu.spEl0Hi >>> 0) << 32n) | BigInt(cpu.spEl0Lo >>> 0);
    case R.SP_EL1:
      if (cpu.el === 1 && cpu.spsel === 1) return cpu.s.getXBig(SLOT_SP);
      return (BigInt(cpu.spEl1Hi >>> 0) << 32n) | BigInt(cpu.spEl1Lo >>> 0);
    case R.MPIDR: return cpu.sysregs.get(R.MPIDR) ?? (0x8000_0000n | BigInt(cpu.index));
    case R.ISR: return BigInt((cpu.irqLine ? 0x80 : 0) | (cpu.fiqLine ? 0x40 : 0));
  }
  const counter = readCounterRegs(cpu, rid);
  if (counter !== undefined) return counter;
  if (STORED.has(rid)) return cpu.sysregs.get(rid) ?? 0n;
  const idv = ID_REGISTERS.get(rid);
  if (idv !== undefined) return idv;
  const op0 = rid >> 14, op1 = (rid >> 11) & 7, crn = (rid >> 7) & 15, crm = (rid >> 3) & 15;
  if (isIdRegisterSpace(op0, op1, crn, crm)) return 0n;
  if (op0 === 2 && crn === 0) return cpu.sysregs.get(rid) ?? 0n; // debug registers kept by the CPU
  return undefined;
}

/** Apply a write; false if the register is not implemented here. */
export function writeSysReg(cpu: Cpu, rid: number, v: bigint): boolean {
  const s = cpu.s;
  switch (rid) {
    case R.NZCV: {
      const n = Number(v & 0xffffffffn);
      s.n = (n >>> 31) & 1; s.z = (n >>> 30) & 1; s.c = (n >>> 29) & 1; s.v = (n >>> 28) & 1;
      return true;
    }
    case R.DAIF: cpu.daif = Number((v >> 6n) & 0xfn); return true;
    // Only the implemented fields: FPCR AHP/DN/FZ/RMode (no trapping, no FP16), FPSR NZCV/QC/flags.
    case R.FPCR: s.fpcr = Number(v & FPCR_WRITABLE); return true;
    case R.FPSR: s.fpsr = Number(v & FPSR_WRITABLE) | 0; return true;
    case R.SPSEL: cpu.saveSp(); cpu.spsel = Number(v & 1n); cpu.loadSp(); return true;
    case R.PAN: case R.UAO: case R.SSBS: case R.DIT: case R.TCO: return true;
    case R.SP_EL0:
      if (cpu.el === 0 || cpu.spsel === 0) s.setXBig(SLOT_SP, v);
      else { cpu.spEl0Lo = Number(v & 0xffffffffn) | 0; cpu.spEl0Hi = Number(v >> 32n) | 0; }
      return true;
    case R.SP_EL1:
      if (cpu.el === 1 && cpu.spsel === 1) s.setXBig(SLOT_SP, v);
      else { cpu.spEl1Lo = Number(v & 0xffffffffn) | 0; cpu.spEl1Hi = Number(v >> 32n) | 0; }
      return true;
    case R.MPIDR: cpu.sysregs.set(rid, v); return true;
    case CNTV_CTL: cpu.sysregs.set(CNTV_CTL, v & 3n); return true;
    case CNTV_CVAL: cpu.sysregs.set(CNTV_CVAL, v); return true;
    case R.CNTV_TVAL: cpu.sysregs.set(CNTV_CVAL, cpu.counter() + BigInt.asIntN(32, v)); return true;
  }
  if (STORED.has(rid)) {
    cpu.sysregs.set(rid, v);
    if (rid === SysReg.CPACR_EL1) cpu.fpen = Number((v >> 20n) & 3n);
    if (rid === R.SCTLR || rid === R.TCR || rid === R.TTBR0 || rid === R.TTBR1) {
      const g = (r: number) => cpu.sysregs.get(r) ?? 0n;
      // A new table base under the same ASID needs a TLBI from software; ASIDs tag the TLB.
      cpu.mmu.controlsChanged(g(R.SCTLR), g(R.TCR), g(R.TTBR0), g(R.TTBR1), rid === R.SCTLR || rid === R.TCR);
      cpu.sctlr = g(R.SCTLR);
    }
    return true;
  }
  const op0 = rid >> 14, crn = (rid >> 7) & 15;
  if (op0 === 2 && crn === 0) { cpu.sysregs.set(rid, v); return true; }
  return false;
}

/** MRS/MSR (register) executed by the guest. */
export function execMsrMrs(cpu: Cpu, insn: number): void {
  const op0 = 2 + ((insn >>> 19) & 1);
  const op1 = (insn >>> 16) & 7, crn = (insn >>> 12) & 15, crm = (insn >>> 8) & 15, op2 = (insn >>> 5) & 7;
  const rt = insn & 31;
  const read = (insn >>> 21) & 1;
  if (trapsToVmm(cpu, op0, op1, crn, crm)) trapToVmm(cpu, insn);
  // EL0 may only touch the EL0-accessible registers.
  // EL0 may only touch the EL0-accessible registers; others trap to EL1 (Linux emulates
  // ID-register reads for user space from this trap).
  if (cpu.el === 0 && !(op1 === 3 && (crn === 4 || crn === 13 || crn === 14 || (crn === 0 && (op2 === 1 || op2 === 7))))) {
    const iss = (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | read;
    takeSyncException(cpu, (0x18 << 26) | (1 << 25) | iss);
    throw GUEST_EXCEPTION;
  }
  const rid = id(op0, op1, crn, crm, op2);
  if (read) {
    const v = readSysReg(cpu, rid);
    if (v === undefined) trapToVmm(cpu, insn);
    if (rt !== 31) cpu.s.setXBig(rt, v!);
  } else {
    const v = rt === 31 ? 0n : cpu.s.getXBig(rt);
    if (!writeSysReg(cpu, rid, v)) trapToVmm(cpu, insn);
  }
}
