// Fetch, decode and execute one A64 instruction (integer, branches, loads/stores, system).
// FP and Advanced SIMD data processing and structure loads/stores go to simd-fp/.
// Decoding follows the Arm ARM's top-level groups (op0 = bits [28:25]).
import { GUEST_EXCEPTION, VM_EXIT, type Cpu } from './cpu.ts';
import { SLOT_SP, SLOT_ZR, type CpuState } from './state.ts';
import { out, addNum, lsl64, lsr64, asr64, ror64, ror32, mul64, mulU32, toBig, fromBig, clz64, rbit32, rev32, rev16in32, bitMasks, maskWords, crc32, umulh64, smulh64 } from './alu.ts';
import { takeSyncException, takeSyncExceptionAfter, undefinedInstruction, eret, execMsrMrs } from './system.ts';
import { ACC_WRITE, ACC_READ, FSC_ALIGNMENT } from './mmu.ts';
import { execSimdFp, execSimdLoadStoreStructure } from './simd-fp/index.ts';
import { DC_ZVA_BYTES } from './id-registers.ts';
import { SysReg } from '../sysregs.ts';

export function step(c: Cpu): void {
  const s = c.s;
  const lo = s.pcLo, hi = s.pcHi;
  c.curPcLo = lo;
  c.curPcHi = hi;
  const insn = c.mmu.fetch(lo, hi);
  c.curInsn = insn;
  c.branched = false;
  execute(c, s, insn);
  if (!c.branched) {
    const nl = (lo + 4) | 0;
    s.pcLo = nl;
    if ((nl >>> 0) < (lo >>> 0)) s.pcHi = (hi + 1) | 0;
  }
}

/** Execute one instruction whose PC is already in s.pc and curPc (also the translator's fallback). */
export function execute(c: Cpu, s: CpuState, insn: number): void {
  switch ((insn >>> 25) & 0xf) {
    case 0x8: case 0x9: return dpImmediate(c, s, insn);
    case 0xa: case 0xb: return branchSystem(c, s, insn);
    case 0x4: case 0x6: case 0xc: case 0xe: return loadStore(c, s, insn);
    case 0x5: case 0xd: return dpRegister(c, s, insn);
    case 0x7: case 0xf:
      checkFp(c);
      if (!execSimdFp(s, insn)) undefinedInstruction(c);
      return;
    default:
      undefinedInstruction(c);
  }
}

/** CPACR_EL1.FPEN: trap FP/SIMD at EL0 (01) or everywhere (00/10). */
function checkFp(c: Cpu): void {
  const fpen = c.fpen;
  if (fpen === 3 || (fpen === 1 && c.el === 1)) return;
  takeSyncException(c, (0x07 << 26) | (1 << 25));
  throw GUEST_EXCEPTION;
}

// ---- register helpers ----

/** Slot for register n where 31 means SP. */
const spOr = (n: number) => (n === 31 ? SLOT_SP : n);

function setFlagsNZ64(s: CpuState, lo: number, hi: number): void {
  s.n = hi >>> 31;
  s.z = (lo | hi) === 0 ? 1 : 0;
}

/** hi:lo = a + b + carry with NZCV (64-bit). */
function adds64(s: CpuState, al: number, ah: number, bl: number, bh: number, cin: number, setFlags: boolean): void {
  const sumLo = (al >>> 0) + (bl >>> 0) + cin;
  const carryLo = sumLo > 0xffffffff ? 1 : 0;
  const sumHi = (ah >>> 0) + (bh >>> 0) + carryLo;
  out.lo = sumLo | 0;
  out.hi = sumHi | 0;
  if (setFlags) {
    s.n = out.hi >>> 31;
    s.z = (out.lo | out.hi) === 0 ? 1 : 0;
    s.c = sumHi > 0xffffffff ? 1 : 0;
    s.v = ((~(ah ^ bh) & (ah ^ out.hi)) >>> 31);
  }
}

function adds32(s: CpuState, a: number, b: number, cin: number, setFlags: boolean): void {
  const sum = (a >>> 0) + (b >>> 0) + cin;
  out.lo = sum | 0;
  out.hi = 0;
  if (setFlags) {
    s.n = out.lo >>> 31;
    s.z = out.lo === 0 ? 1 : 0;
    s.c = sum > 0xffffffff ? 1 : 0;
    s.v = ((~(a ^ b) & (a ^ out.lo)) >>> 31);
  }
}

function condHolds(s: CpuState, cond: number): boolean {
  let r: boolean;
  switch (cond >>> 1) {
    case 0: r = s.z === 1; break;
    case 1: r = s.c === 1; break;
    case 2: r = s.n === 1; break;
    case 3: r = s.v === 1; break;
    case 4: r = s.c === 1 && s.z === 0; break;
    case 5: r = s.n === s.v; break;
    case 6: r = s.n === s.v && s.z === 0; break;
    default: return true;
  }
  return (cond & 1) !== 0 ? !r : r;
}

function branchTo(c: Cpu, lo: number, hi: number): void {
  c.s.pcLo = lo;
  c.s.pcHi = hi;
  c.branched = true;
}

function branchRel(c: Cpu, offset: number): void {
  addNum(c.curPcLo, c.curPcHi, offset);
  branchTo(c, out.lo, out.hi);
}

/** Write the return address (PC + 4) to X30. */
function link(c: Cpu): void {
  addNum(c.curPcLo, c.curPcHi, 4);
  c.s.setX(30, out.lo, out.hi);
}

// ---- data processing (immediate) ----

function dpImmediate(c: Cpu, s: CpuState, insn: number): void {
  const sf = insn >>> 31;
  const rd = insn & 31;
  const rn = (insn >>> 5) & 31;
  switch ((insn >>> 23) & 7) {
    case 0: case 1: { // ADR, ADRP
      const imm = (((insn << 8) >> 13) << 2) | ((insn >>> 29) & 3);
      if (insn >>> 31) {
        addNum(c.curPcLo & ~0xfff, c.curPcHi, imm * 4096);
      } else {
        addNum(c.curPcLo, c.curPcHi, imm);
      }
      s.setX(rd, out.lo, out.hi);
      return;
    }
    case 2: { // ADD/SUB (immediate)
      const sub = (insn >>> 30) & 1, setFlags = ((insn >>> 29) & 1) === 1;
      let imm = (insn >>> 10) & 0xfff;
      if ((insn >>> 22) & 1) imm <<= 12;
      const n = spOr(rn);
      if (sf) adds64(s, s.x[n << 1], s.x[(n << 1) | 1], sub ? ~imm : imm, sub ? -1 : 0, sub, setFlags);
      else adds32(s, s.x[n << 1], sub ? ~imm : imm, sub, setFlags);
      const d = setFlags ? rd : spOr(rd);
      if (d !== SLOT_ZR) { s.x[d << 1] = out.lo; s.x[(d << 1) | 1] = out.hi; }
      return;
    }
    case 4: { // logical (immediate)
      const nbit = (insn >>> 22) & 1;
      if (!sf && nbit) undefinedInstruction(c);
      const k = bitMasks(nbit, (insn >>> 10) & 0x3f, (insn >>> 16) & 0x3f, sf === 1, true);
      if (k < 0) undefinedInstruction(c);
      const ml = maskWords[k], mh = maskWords[k + 1];
      const al = s.x[rn << 1], ah = sf ? s.x[(rn << 1) | 1] : 0;
      let lo: number, hi: number;
      const opc = (insn >>> 29) & 3;
      if (opc === 0 || opc === 3) { lo = al & ml; hi = ah & mh; }
      else if (opc === 1) { lo = al | ml; hi = ah | mh; }
      else { lo = al ^ ml; hi = ah ^ mh; }
      if (!sf) hi = 0;
      if (opc === 3) {
        if (sf) setFlagsNZ64(s, lo, hi); else { s.n = lo >>> 31; s.z = lo === 0 ? 1 : 0; }
        s.c = 0; s.v = 0;
        s.setX(rd, lo, hi);
      } else {
        const d = spOr(rd);
        s.x[d << 1] = lo; s.x[(d << 1) | 1] = hi;
      }
      return;
    }
    case 5: { // move wide
      const opc = (insn >>> 29) & 3, hw = (insn >>> 21) & 3, imm = (insn >>> 5) & 0xffff;
      if (opc === 1 || (!sf && hw > 1)) undefinedInstruction(c);
      let lo = 0, hi = 0;
      if (opc === 3) { lo = s.x[rd << 1]; hi = sf ? s.x[(rd << 1) | 1] : 0; }
      const sh = (hw & 1) * 16;
      const mask = ~(0xffff << sh);
      if (hw < 2) lo = (lo & mask) | (imm << sh); else hi = (hi & mask) | (imm << sh);
      if (opc === 0) { lo = ~lo; hi = sf ? ~hi : 0; }
      s.setX(rd, lo, sf ? hi : 0);
      return;
    }
    case 6: return bitfield(c, s, insn, sf);
    case 7: { // EXTR
      const rm = (insn >>> 16) & 31, lsb = (insn >>> 10) & 0x3f;
      if (sf) {
        if (lsb === 0) { s.setX(rd, s.x[rm << 1], s.x[(rm << 1) | 1]); return; }
        lsr64(s.x[rm << 1], s.x[(rm << 1) | 1], lsb);
        const l1 = out.lo, h1 = out.hi;
        lsl64(s.x[rn << 1], s.x[(rn << 1) | 1], 64 - lsb);
        s.setX(rd, l1 | out.lo, h1 | out.hi);
      } else {
        if (lsb > 31) undefinedInstruction(c);
        const v = lsb === 0 ? s.x[rm << 1] : (s.x[rm << 1] >>> lsb) | (s.x[rn << 1] << (32 - lsb));
        s.setX32(rd, v);
      }
      return;
    }
    default:
      undefinedInstruction(c);
  }
}

function bitfield(c: Cpu, s: CpuState, insn: number, sf: number): void {
  const opc = (insn >>> 29) & 3, nbit = (insn >>> 22) & 1;
  const immr = (insn >>> 16) & 0x3f, imms = (insn >>> 10) & 0x3f;
  const rn = (insn >>> 5) & 31, rd = insn & 31;
  if (opc === 3 || nbit !== sf) undefinedInstruction(c);
  const k = bitMasks(nbit, imms, immr, sf === 1, false);
  if (k < 0) undefinedInstruction(c);
  const w0 = maskWords[k], w1 = maskWords[k + 1], t0 = maskWords[k + 2], t1 = maskWords[k + 3];
  const sl = s.x[rn << 1], sh = sf ? s.x[(rn << 1) | 1] : 0;
  // bot = ROR(src, immr) & wmask
  let rl: number, rh: number;
  if (sf) { ror64(sl, sh, immr); rl = out.lo; rh = out.hi; }
  else { rl = ror32(sl, immr); rh = 0; }
  const botLo = rl & w0, botHi = rh & w1;
  let topLo: number, topHi: number;
  if (opc === 1) { topLo = s.x[rd << 1]; topHi = sf ? s.x[(rd << 1) | 1] : 0; } // BFM: keep destination
  else if (opc === 0) { // SBFM: replicate bit imms of the source
    const bit = imms < 32 ? (sl >>> imms) & 1 : (sh >>> (imms - 32)) & 1;
    topLo = bit ? -1 : 0; topHi = bit && sf ? -1 : 0;
  } else { topLo = 0; topHi = 0; }
  if (opc === 1) {
    // BFM: dst = (dst AND NOT wmask) OR bot, then apply tmask against dst
    const bLo = (topLo & ~w0) | botLo, bHi = (topHi & ~w1) | botHi;
    s.setX(rd, (topLo & ~t0) | (bLo & t0), sf ? (topHi & ~t1) | (bHi & t1) : 0);
    return;
  }
  s.setX(rd, (topLo & ~t0) | (botLo & t0), sf ? (topHi & ~t1) | (botHi & t1) : 0);
}

// ---- branches, exception generation, system ----

function branchSystem(c: Cpu, s: CpuState, insn: number): void {
  // Hints first (NOP, YIELD, WFE/WFI, PACIASP/AUTIASP, BTI...): 5% of a kernel's instructions.
  if ((insn & 0xfffff01f) === (0xd503201f | 0)) return hint(c, (insn >>> 5) & 0x7f);
  const top = insn >>> 26;
  if ((top & 0x1f) === 0x05) { // B, BL
    if (insn >>> 31) link(c);
    branchRel(c, ((insn << 6) >> 6) * 4);
    return;
  }
  if ((insn & 0xff000010) === 0x54000000) { // B.cond
    if (condHolds(s, insn & 0xf)) branchRel(c, ((insn << 8) >> 13) * 4);
    return;
  }
  const op25 = (insn >>> 25) & 0x3f;
  if (op25 === 0x1a) { // CBZ/CBNZ
    const rt = insn & 31;
    const zero = insn >>> 31 ? (s.x[rt << 1] | s.x[(rt << 1) | 1]) === 0 : s.x[rt << 1] === 0;
    if (zero !== (((insn >>> 24) & 1) === 1)) branchRel(c, ((insn << 8) >> 13) * 4);
    return;
  }
  if (op25 === 0x1b) { // TBZ/TBNZ
    const rt = insn & 31, bit = ((insn >>> 31) << 5) | ((insn >>> 19) & 31);
    const v = bit < 32 ? (s.x[rt << 1] >>> bit) & 1 : (s.x[(rt << 1) | 1] >>> (bit - 32)) & 1;
    if (v === ((insn >>> 24) & 1)) branchRel(c, ((insn << 13) >> 18) * 4);
    return;
  }
  if ((insn >>> 24) === 0xd4) return exceptionGeneration(c, insn);
  if ((insn >>> 22) === 0x354) return system(c, s, insn);
  if ((insn >>> 25) === 0x6b) return branchRegister(c, s, insn);
  undefinedInstruction(c);
}

function exceptionGeneration(c: Cpu, insn: number): void {
  const opc = (insn >>> 21) & 7, ll = insn & 3, imm = (insn >>> 5) & 0xffff;
  if (((insn >>> 2) & 7) !== 0) undefinedInstruction(c);
  if (opc === 0 && ll === 1) { // SVC
    takeSyncExceptionAfter(c, (0x15 << 26) | (1 << 25) | imm);
    throw GUEST_EXCEPTION;
  }
  if (opc === 0 && ll === 2) { // HVC: exit after the instruction, as HVF reports it
    if (c.el === 0) undefinedInstruction(c);
    addNum(c.curPcLo, c.curPcHi, 4);
    c.s.pcLo = out.lo; c.s.pcHi = out.hi;
    c.exit = { reason: 1, syndrome: ((0x16 << 26) | (1 << 25) | imm) >>> 0, va: 0n, pa: 0 };
    throw VM_EXIT;
  }
  if (opc === 0 && ll === 3) { // SMC: exit at the instruction
    if (c.el === 0) undefinedInstruction(c);
    c.s.pcLo = c.curPcLo; c.s.pcHi = c.curPcHi;
    c.exit = { reason: 1, syndrome: ((0x17 << 26) | (1 << 25) | imm) >>> 0, va: 0n, pa: 0 };
    throw VM_EXIT;
  }
  if (opc === 1 && ll === 0) { // BRK
    const esr = (0x3c << 26) | (1 << 25) | imm;
    if (c.trapDebugExceptions) {
      c.s.pcLo = c.curPcLo; c.s.pcHi = c.curPcHi;
      c.exit = { reason: 1, syndrome: esr >>> 0, va: 0n, pa: 0 };
      throw VM_EXIT;
    }
    takeSyncException(c, esr);
    throw GUEST_EXCEPTION;
  }
  undefinedInstruction(c);
}

function branchRegister(c: Cpu, s: CpuState, insn: number): void {
  const opc = (insn >>> 21) & 0xf, op2 = (insn >>> 16) & 0x1f, op3 = (insn >>> 10) & 0x3f, rn = (insn >>> 5) & 31, op4 = insn & 31;
  if (op2 !== 0x1f) undefinedInstruction(c);
  if (opc === 4 && op3 === 0 && rn === 31 && op4 === 0) { // ERET
    eret(c);
    return;
  }
  if (op3 !== 0 || op4 !== 0 || opc > 2) undefinedInstruction(c);
  const lo = s.x[rn << 1], hi = s.x[(rn << 1) | 1];
  if (opc === 1) link(c); // BLR
  branchTo(c, lo, hi);
}

function system(c: Cpu, s: CpuState, insn: number): void {
  const l = (insn >>> 21) & 1, op0 = (insn >>> 19) & 3, op1 = (insn >>> 16) & 7, crn = (insn >>> 12) & 15;
  const crm = (insn >>> 8) & 15, op2 = (insn >>> 5) & 7, rt = insn & 31;
  if (op0 >= 2) return execMsrMrs(c, insn);
  if (l === 0 && op0 === 0 && crn === 4) return msrImmediate(c, op1, crm, op2);
  if (l === 0 && op0 === 0 && crn === 2 && rt === 31) return hint(c, (crm << 3) | op2);
  if (l === 0 && op0 === 0 && crn === 3 && rt === 31) { // barriers
    if (op2 === 2) c.exclusiveAddr = -1; // CLREX
    return;
  }
  if (l === 0 && op0 === 1) return sysInstruction(c, s, op1, crn, crm, op2, rt);
  undefinedInstruction(c);
}

function msrImmediate(c: Cpu, op1: number, crm: number, op2: number): void {
  if (op1 === 3 && (op2 === 6 || op2 === 7)) { // DAIFSet / DAIFClr
    if (c.el === 0) undefinedInstruction(c);
    c.daif = op2 === 6 ? c.daif | crm : c.daif & ~crm;
    return;
  }
  if (op1 === 0 && op2 === 5) { // SPSel
    if (c.el === 0) undefinedInstruction(c);
    c.saveSp(); c.spsel = crm & 1; c.loadSp();
    return;
  }
  // PAN, UAO, SSBS, DIT, TCO: not implemented, so not advertised; accept as no-ops
  // where the architecture has the field (op1 0/3), UNDEFINED otherwise.
  if ((op1 === 0 && (op2 === 3 || op2 === 4)) || (op1 === 3 && (op2 === 1 || op2 === 2 || op2 === 4))) return;
  undefinedInstruction(c);
}

function hint(c: Cpu, n: number): void {
  switch (n) {
    case 2: case 3: { // WFE, WFI: the VMM decides how long to wait
      // WFE with the event register set clears it and completes at once (SEVL; WFE, or the
      // lock word was written since LDXR): no exit.
      if (n === 2 && c.eventRegister) { c.eventRegister = false; return; }
      c.s.pcLo = c.curPcLo; c.s.pcHi = c.curPcHi;
      c.exit = { reason: 1, syndrome: ((0x01 << 26) | (1 << 25) | (n === 2 ? 1 : 0)) >>> 0, va: 0n, pa: 0 };
      throw VM_EXIT;
    }
    case 1: // YIELD (cpu_relax in spin loops): with other vCPUs, end the batch so they get the host thread
      if (c.peers.length > 1) {
        addNum(c.curPcLo, c.curPcHi, 4);
        c.s.pcLo = out.lo; c.s.pcHi = out.hi;
        c.exit = undefined;
        throw VM_EXIT;
      }
      return;
    case 4: // SEV
      c.sendEvent();
      return;
    case 5: // SEVL
      c.eventRegister = true;
      return;
    default:
      // NOP, PAC/BTI hints (PAC and BTI are not advertised), ESB, CSDB...
      return;
  }
}

function sysInstruction(c: Cpu, s: CpuState, op1: number, crn: number, crm: number, op2: number, rt: number): void {
  if (crn === 8) { // TLBI
    if (c.el === 0) undefinedInstruction(c);
    // CRm 6/7 are the local (non-shareable) forms; every other TLBI broadcasts to all vCPUs.
    const local = crm === 6 || crm === 7;
    const byVa = op1 === 0 && (op2 === 1 || op2 === 3 || op2 === 5 || op2 === 7) && (crm === 3 || crm === 7 || crm === 1);
    const byAsid = op1 === 0 && op2 === 2 && (crm === 3 || crm === 7 || crm === 1);
    if (byVa) c.flushTlbs(local, (m) => m.flushTlbVa(s.x[rt << 1], s.x[(rt << 1) | 1]));
    else if (byAsid) c.flushTlbs(local, (m) => m.flushTlbAsid(s.x[(rt << 1) | 1] >>> 16));
    else c.flushTlbs(local, (m) => m.flushTlb());
    return;
  }
  if (crn === 7) {
    if (op1 === 3 && crm === 4 && op2 === 1) { // DC ZVA
      const lo = s.x[rt << 1] & ~(DC_ZVA_BYTES - 1), hi = s.x[(rt << 1) | 1];
      c.accessIss = 0;
      for (let i = 0; i < DC_ZVA_BYTES; i += 8) c.mmu.write64((lo + i) | 0, hi, 0, 0);
      return;
    }
    if (crm === 5 && op1 === 0 && op2 === 0) { c.mmu.icInvalidate(true, 0, 0); return; } // IC IALLU
    if (crm === 1 && op1 === 0 && op2 === 0) { c.mmu.icInvalidate(true, 0, 0); return; } // IC IALLUIS
    if (crm === 5 && op1 === 3 && op2 === 1) { c.mmu.icInvalidate(false, s.x[rt << 1], s.x[(rt << 1) | 1]); return; } // IC IVAU
    if (crm === 8 && op1 === 0) return addressTranslate(c, s, op2, rt); // AT S1E1R/W, S1E0R/W
    // DC CIVAC/CVAC/CVAU/IVAC/ISW/CSW/CISW and friends: caches are coherent here.
    if (c.el === 0 && op1 !== 3) undefinedInstruction(c);
    return;
  }
  undefinedInstruction(c);
}

function addressTranslate(c: Cpu, s: CpuState, op2: number, rt: number): void {
  if (c.el === 0) undefinedInstruction(c);
  const lo = s.x[rt << 1], hi = s.x[(rt << 1) | 1];
  const access = op2 & 1 ? ACC_WRITE : ACC_READ;
  const unpriv = op2 >= 2;
  // Probe without taking a fault: save the exception state and restore it after a fault.
  const saved = { pcLo: s.pcLo, pcHi: s.pcHi, pstate: c.pstate, esr: c.sysregs.get(SysReg.ESR_EL1), far: c.sysregs.get(SysReg.FAR_EL1), elr: c.sysregs.get(SysReg.ELR_EL1), spsr: c.sysregs.get(SysReg.SPSR_EL1) };
  try {
    const pa = c.mmu.translate(lo, hi, access, unpriv);
    c.sysregs.set(SysReg.PAR_EL1, BigInt(pa - (pa % 4096)));
  } catch (e) {
    if (e !== GUEST_EXCEPTION) throw e;
    const fsc = Number((c.sysregs.get(SysReg.ESR_EL1) ?? 0n) & 0x3fn);
    c.setPstate(saved.pstate);
    s.pcLo = saved.pcLo; s.pcHi = saved.pcHi;
    const restore = (r: number, v: bigint | undefined) => (v === undefined ? c.sysregs.delete(r) : c.sysregs.set(r, v));
    restore(SysReg.ESR_EL1, saved.esr); restore(SysReg.FAR_EL1, saved.far); restore(SysReg.ELR_EL1, saved.elr); restore(SysReg.SPSR_EL1, saved.spsr);
    c.sysregs.set(SysReg.PAR_EL1, BigInt((fsc << 1) | 1));
    c.branched = false;
  }
}

// ---- data processing (register) ----

/** Xm shifted per `type` by `amount`, width per sf, into out. */
function shiftedReg(s: CpuState, rm: number, type: number, amount: number, sf: number): void {
  const lo = s.x[rm << 1], hi = s.x[(rm << 1) | 1];
  if (sf) {
    if (type === 0) lsl64(lo, hi, amount);
    else if (type === 1) lsr64(lo, hi, amount);
    else if (type === 2) asr64(lo, hi, amount);
    else ror64(lo, hi, amount);
  } else {
    out.hi = 0;
    if (amount === 0) out.lo = lo;
    else if (type === 0) out.lo = lo << amount;
    else if (type === 1) out.lo = lo >>> amount | 0;
    else if (type === 2) out.lo = lo >> amount;
    else out.lo = ror32(lo, amount);
  }
}

/** Xm extended per option (UXTB..SXTX) and shifted left by 0..4, into out. */
function extendedReg(s: CpuState, rm: number, option: number, shift: number): void {
  let lo = s.x[rm << 1], hi = s.x[(rm << 1) | 1];
  switch (option) {
    case 0: lo &= 0xff; hi = 0; break;
    case 1: lo &= 0xffff; hi = 0; break;
    case 2: hi = 0; break;
    case 3: break;
    case 4: lo = (lo << 24) >> 24; hi = lo >> 31; break;
    case 5: lo = (lo << 16) >> 16; hi = lo >> 31; break;
    case 6: hi = lo >> 31; break;
    case 7: break;
  }
  lsl64(lo, hi, shift);
}

function dpRegister(c: Cpu, s: CpuState, insn: number): void {
  const sf = insn >>> 31;
  const rd = insn & 31, rn = (insn >>> 5) & 31, rm = (insn >>> 16) & 31;
  if (((insn >>> 28) & 1) === 0) {
    if (((insn >>> 24) & 1) === 0) { // logical (shifted register)
      const imm6 = (insn >>> 10) & 0x3f;
      if (!sf && imm6 > 31) undefinedInstruction(c);
      shiftedReg(s, rm, (insn >>> 22) & 3, imm6, sf);
      let bl = out.lo, bh = out.hi;
      if ((insn >>> 21) & 1) { bl = ~bl; bh = sf ? ~bh : 0; }
      const al = s.x[rn << 1], ah = sf ? s.x[(rn << 1) | 1] : 0;
      const opc = (insn >>> 29) & 3;
      let lo: number, hi: number;
      if (opc === 0 || opc === 3) { lo = al & bl; hi = ah & bh; }
      else if (opc === 1) { lo = al | bl; hi = ah | bh; }
      else { lo = al ^ bl; hi = ah ^ bh; }
      if (!sf) hi = 0;
      if (opc === 3) {
        if (sf) setFlagsNZ64(s, lo, hi); else { s.n = lo >>> 31; s.z = lo === 0 ? 1 : 0; }
        s.c = 0; s.v = 0;
      }
      s.setX(rd, lo, hi);
      return;
    }
    const sub = (insn >>> 30) & 1, setFlags = ((insn >>> 29) & 1) === 1;
    let n = rn, d = rd;
    if (((insn >>> 21) & 1) === 0) { // add/sub (shifted register)
      const type = (insn >>> 22) & 3, imm6 = (insn >>> 10) & 0x3f;
      if (type === 3 || (!sf && imm6 > 31)) undefinedInstruction(c);
      shiftedReg(s, rm, type, imm6, sf);
    } else { // add/sub (extended register): Rn and (without S) Rd may be SP
      const shift = (insn >>> 10) & 7;
      if (shift > 4) undefinedInstruction(c);
      extendedReg(s, rm, (insn >>> 13) & 7, shift);
      n = spOr(rn);
      if (!setFlags) d = spOr(rd);
    }
    const bl = out.lo, bh = out.hi;
    if (sf) adds64(s, s.x[n << 1], s.x[(n << 1) | 1], sub ? ~bl : bl, sub ? ~bh : bh, sub, setFlags);
    else adds32(s, s.x[n << 1], sub ? ~bl : bl, sub, setFlags);
    if (d !== SLOT_ZR) { s.x[d << 1] = out.lo; s.x[(d << 1) | 1] = out.hi; }
    return;
  }
  switch ((insn >>> 21) & 0xf) {
    case 0: { // ADC/SBC
      if (((insn >>> 10) & 0x3f) !== 0) undefinedInstruction(c);
      const sub = (insn >>> 30) & 1, setFlags = ((insn >>> 29) & 1) === 1;
      const bl = s.x[rm << 1], bh = s.x[(rm << 1) | 1];
      if (sf) adds64(s, s.x[rn << 1], s.x[(rn << 1) | 1], sub ? ~bl : bl, sub ? ~bh : bh, s.c, setFlags);
      else adds32(s, s.x[rn << 1], sub ? ~bl : bl, s.c, setFlags);
      s.setX(rd, out.lo, out.hi);
      return;
    }
    case 2: { // CCMN/CCMP
      if (((insn >>> 29) & 1) === 0 || ((insn >>> 10) & 1) || ((insn >>> 4) & 1)) undefinedInstruction(c);
      const sub = (insn >>> 30) & 1;
      if (condHolds(s, (insn >>> 12) & 0xf)) {
        let bl: number, bh: number;
        if ((insn >>> 11) & 1) { bl = rm; bh = 0; } else { bl = s.x[rm << 1]; bh = s.x[(rm << 1) | 1]; }
        if (sf) adds64(s, s.x[rn << 1], s.x[(rn << 1) | 1], sub ? ~bl : bl, sub ? ~bh : bh, sub, true);
        else adds32(s, s.x[rn << 1], sub ? ~bl : bl, sub, true);
      } else {
        const nzcv = insn & 0xf;
        s.n = nzcv >>> 3; s.z = (nzcv >>> 2) & 1; s.c = (nzcv >>> 1) & 1; s.v = nzcv & 1;
      }
      return;
    }
    case 4: { // conditional select
      if ((insn >>> 29) & 1 || ((insn >>> 11) & 1)) undefinedInstruction(c);
      const op = (insn >>> 30) & 1, o2 = (insn >>> 10) & 1;
      let lo: number, hi: number;
      if (condHolds(s, (insn >>> 12) & 0xf)) { lo = s.x[rn << 1]; hi = s.x[(rn << 1) | 1]; }
      else {
        lo = s.x[rm << 1]; hi = s.x[(rm << 1) | 1];
        if (op) { lo = ~lo; hi = ~hi; }
        if (o2) { // +1 (CSINC) or negate (CSNEG = invert + 1)
          const l2 = (lo + 1) | 0;
          if (l2 === 0) hi = (hi + 1) | 0;
          lo = l2;
        }
      }
      s.setX(rd, lo, sf ? hi : 0);
      return;
    }
    case 6: return (insn >>> 30) & 1 ? dp1Source(c, s, insn, sf, rd, rn) : dp2Source(c, s, insn, sf, rd, rn, rm);
    default:
      if ((insn >>> 24) & 1) return dp3Source(c, s, insn, sf, rd, rn, rm);
      undefinedInstruction(c);
  }
}

function dp1Source(c: Cpu, s: CpuState, insn: number, sf: number, rd: number, rn: number): void {
  if ((insn >>> 16) & 0x1f || (insn >>> 29) & 1) undefinedInstruction(c); // PAC etc. not implemented
  const op = (insn >>> 10) & 0x3f;
  const lo = s.x[rn << 1], hi = s.x[(rn << 1) | 1];
  if (!sf) {
    switch (op) {
      case 0: s.setX32(rd, rbit32(lo)); return;
      case 1: s.setX32(rd, rev16in32(lo)); return;
      case 2: s.setX32(rd, rev32(lo)); return;
      case 4: s.setX32(rd, Math.clz32(lo)); return;
      case 5: s.setX32(rd, Math.clz32(lo ^ (lo >> 31)) - 1); return;
    }
  } else {
    switch (op) {
      case 0: s.setX(rd, rbit32(hi), rbit32(lo)); return;
      case 1: s.setX(rd, rev16in32(lo), rev16in32(hi)); return;
      case 2: s.setX(rd, rev32(lo), rev32(hi)); return;
      case 3: s.setX(rd, rev32(hi), rev32(lo)); return;
      case 4: s.setX(rd, clz64(lo, hi), 0); return;
      case 5: { const sgn = hi >> 31; s.setX(rd, clz64(lo ^ sgn, hi ^ sgn) - 1, 0); return; }
    }
  }
  undefinedInstruction(c);
}

function dp2Source(c: Cpu, s: CpuState, insn: number, sf: number, rd: number, rn: number, rm: number): void {
  if ((insn >>> 29) & 1) undefinedInstruction(c);
  const op = (insn >>> 10) & 0x3f;
  const al = s.x[rn << 1], ah = s.x[(rn << 1) | 1], bl = s.x[rm << 1], bh = s.x[(rm << 1) | 1];
  switch (op) {
    case 2: case 3: { // UDIV, SDIV (division by zero gives 0)
      if (!sf) {
        if (bl === 0) { s.setX32(rd, 0); return; }
        if (op === 2) s.setX32(rd, Math.floor((al >>> 0) / (bl >>> 0)) | 0);
        else s.setX32(rd, al === -0x80000000 && bl === -1 ? al : (Math.trunc(al / bl) | 0));
        return;
      }
      if ((bl | bh) === 0) { s.setX(rd, 0, 0); return; }
      if (op === 2 && ah === 0 && bh === 0) { s.setX(rd, Math.floor((al >>> 0) / (bl >>> 0)) | 0, 0); return; }
      const a = op === 2 ? toBig(al, ah) : BigInt.asIntN(64, toBig(al, ah));
      const b = op === 2 ? toBig(bl, bh) : BigInt.asIntN(64, toBig(bl, bh));
      fromBig(BigInt.asUintN(64, a / b));
      s.setX(rd, out.lo, out.hi);
      return;
    }
    case 8: case 9: case 10: case 11: { // LSLV, LSRV, ASRV, RORV
      const amount = sf ? bl & 63 : bl & 31;
      if (sf) {
        if (op === 8) lsl64(al, ah, amount); else if (op === 9) lsr64(al, ah, amount);
        else if (op === 10) asr64(al, ah, amount); else ror64(al, ah, amount);
        s.setX(rd, out.lo, out.hi);
      } else {
        const v = op === 8 ? al << amount : op === 9 ? al >>> amount : op === 10 ? al >> amount : ror32(al, amount);
        s.setX32(rd, v | 0);
      }
      return;
    }
    case 16: case 17: case 18: case 19: case 20: case 21: case 22: case 23: { // CRC32{B,H,W,X}, CRC32C*
      const sz = op & 3;
      if ((sz === 3) !== (sf === 1)) undefinedInstruction(c);
      s.setX32(rd, crc32(al, bl, bh, 1 << sz, (op & 4) !== 0)); // no pre/post inversion: software does that
      return;
    }
  }
  undefinedInstruction(c);
}

function dp3Source(c: Cpu, s: CpuState, insn: number, sf: number, rd: number, rn: number, rm: number): void {
  const op31 = (insn >>> 21) & 7, o0 = (insn >>> 15) & 1, ra = (insn >>> 10) & 31;
  if ((insn >>> 29) & 3) undefinedInstruction(c);
  const al = s.x[rn << 1], ah = s.x[(rn << 1) | 1], bl = s.x[rm << 1], bh = s.x[(rm << 1) | 1];
  const cl = s.x[ra << 1], ch = s.x[(ra << 1) | 1];
  if (op31 === 0) { // MADD/MSUB
    if (!sf) {
      const p = Math.imul(al, bl);
      s.setX32(rd, o0 ? (cl - p) | 0 : (cl + p) | 0);
      return;
    }
    mul64(al, ah, bl, bh);
    let pl = out.lo, ph = out.hi;
    if (o0) { pl = ~pl; ph = ~ph; adds64(s, cl, ch, pl, ph, 1, false); } // c - p = c + ~p + 1
    else adds64(s, cl, ch, pl, ph, 0, false);
    s.setX(rd, out.lo, out.hi);
    return;
  }
  if (!sf) undefinedInstruction(c);
  if (op31 === 1 || op31 === 5) { // SMADDL/SMSUBL, UMADDL/UMSUBL
    if (op31 === 5) mulU32(al, bl);
    else {
      mulU32(al, bl);
      // signed correction: subtract b<<32 if a<0 and a<<32 if b<0
      if (al < 0) out.hi = (out.hi - bl) | 0;
      if (bl < 0) out.hi = (out.hi - al) | 0;
    }
    let pl = out.lo, ph = out.hi;
    if (o0) { pl = ~pl; ph = ~ph; adds64(s, cl, ch, pl, ph, 1, false); }
    else adds64(s, cl, ch, pl, ph, 0, false);
    s.setX(rd, out.lo, out.hi);
    return;
  }
  if ((op31 === 2 || op31 === 6) && o0 === 0) { // SMULH, UMULH
    if (op31 === 6) umulh64(al, ah, bl, bh); else smulh64(al, ah, bl, bh);
    s.setX(rd, out.lo, out.hi);
    return;
  }
  undefinedInstruction(c);
}

// ---- loads and stores ----

const ISV = 1 << 24;
/** Bounce buffer for SIMD&FP loads and stores (a pair of Q registers at most). */
const SCRATCH = new Uint8Array(32);

function alignmentFault(c: Cpu, lo: number, hi: number, write: boolean): never {
  const ec = c.el === 0 ? 0x24 : 0x25;
  takeSyncException(c, (ec << 26) | (1 << 25) | (write ? 1 << 6 : 0) | FSC_ALIGNMENT, toBig(lo, hi));
  throw GUEST_EXCEPTION;
}

function loadStore(c: Cpu, s: CpuState, insn: number): void {
  const v = (insn >>> 26) & 1;
  const b2927 = (insn >>> 27) & 7;
  if (b2927 === 1 && v === 1 && (insn >>> 31) === 0) { // AdvSIMD structures
    checkFp(c);
    if (!execSimdLoadStoreStructure(s, insn)) undefinedInstruction(c);
    return;
  }
  if (b2927 === 1 && v === 0 && ((insn >>> 24) & 7) === 0) return exclusive(c, s, insn);
  if (b2927 === 3 && ((insn >>> 24) & 1) === 0) return loadLiteral(c, s, insn, v);
  if (b2927 === 5) return loadStorePair(c, s, insn, v);
  if (b2927 === 7) return loadStoreRegister(c, s, insn, v);
  undefinedInstruction(c);
}

/** Base register (SP for 31) plus a byte offset, into out. */
function baseAddr(s: CpuState, rn: number, offset: number): void {
  const n = rn === 31 ? SLOT_SP : rn;
  addNum(s.x[n << 1], s.x[(n << 1) | 1], offset);
}

function loadLiteral(c: Cpu, s: CpuState, insn: number, v: number): void {
  const opc = insn >>> 30, rt = insn & 31;
  addNum(c.curPcLo, c.curPcHi, ((insn << 8) >> 13) * 4);
  const lo = out.lo, hi = out.hi;
  c.accessIss = 0;
  if (v) {
    if (opc === 3) undefinedInstruction(c);
    checkFp(c);
    const size = 4 << opc;
    s.vbytes.fill(0, rt * 16, rt * 16 + 16);
    c.mmu.loadBytes(lo, hi, s.vbytes, rt * 16, size);
    return;
  }
  if (opc === 3) return; // PRFM (literal)
  if (opc === 0) { s.setX32(rt, c.mmu.read(lo, hi, 4)); return; }
  if (opc === 2) { const w = c.mmu.read(lo, hi, 4) | 0; s.setX(rt, w, w >> 31); return; } // LDRSW
  c.mmu.read64(lo, hi);
  s.setX(rt, c.mmu.rl, c.mmu.rh);
}

function loadStorePair(c: Cpu, s: CpuState, insn: number, v: number): void {
  const opc = insn >>> 30, mode = (insn >>> 23) & 3, load = (insn >>> 22) & 1;
  const rt = insn & 31, rn = (insn >>> 5) & 31, rt2 = (insn >>> 10) & 31;
  const imm7 = (insn << 10) >> 25;
  let size: number;
  if (v) { if (opc === 3) undefinedInstruction(c); size = 4 << opc; checkFp(c); }
  else { if (opc === 3 || (opc === 1 && !load)) undefinedInstruction(c); size = opc === 2 ? 8 : 4; }
  const offset = imm7 * size;
  const n = rn === 31 ? SLOT_SP : rn;
  const bl = s.x[n << 1], bh = s.x[(n << 1) | 1];
  let lo: number, hi: number;
  if (mode === 1) { lo = bl; hi = bh; } else { addNum(bl, bh, offset); lo = out.lo; hi = out.hi; }
  addNum(lo, hi, size);
  const lo2 = out.lo, hi2 = out.hi;
  c.accessIss = 0;
  if (v) {
    // Through a scratch buffer: a fault leaves the registers as they were.
    const vb = s.vbytes, tmp = SCRATCH;
    if (load) {
      c.mmu.loadBytes(lo, hi, tmp, 0, size * 2);
      vb.fill(0, rt * 16, rt * 16 + 16);
      for (let k = 0; k < size; k++) vb[rt * 16 + k] = tmp[k];
      vb.fill(0, rt2 * 16, rt2 * 16 + 16);
      for (let k = 0; k < size; k++) vb[rt2 * 16 + k] = tmp[size + k];
    } else {
      for (let k = 0; k < size; k++) { tmp[k] = vb[rt * 16 + k]; tmp[size + k] = vb[rt2 * 16 + k]; }
      c.mmu.storeBytes(lo, hi, tmp, 0, size * 2);
    }
  } else if (load) {
    if (size === 8) {
      c.mmu.read64(lo, hi); const al = c.mmu.rl, ah = c.mmu.rh;
      c.mmu.read64(lo2, hi2);
      s.setX(rt, al, ah); s.setX(rt2, c.mmu.rl, c.mmu.rh);
    } else {
      const a = c.mmu.read(lo, hi, 4) | 0, b = c.mmu.read(lo2, hi2, 4) | 0;
      if (opc === 1) { s.setX(rt, a, a >> 31); s.setX(rt2, b, b >> 31); } // LDPSW
      else { s.setX32(rt, a); s.setX32(rt2, b); }
    }
  } else if (size === 8) {
    const al = s.x[rt << 1], ah = s.x[(rt << 1) | 1], b1 = s.x[rt2 << 1], b2 = s.x[(rt2 << 1) | 1];
    c.mmu.write64(lo, hi, al, ah);
    c.mmu.write64(lo2, hi2, b1, b2);
  } else {
    const a = s.x[rt << 1], b = s.x[rt2 << 1];
    c.mmu.write(lo, hi, 4, a);
    c.mmu.write(lo2, hi2, 4, b);
  }
  if (mode === 1 || mode === 3) { // writeback
    if (mode === 1) { addNum(bl, bh, offset); lo = out.lo; hi = out.hi; }
    s.x[n << 1] = lo; s.x[(n << 1) | 1] = hi;
  }
}

function loadStoreRegister(c: Cpu, s: CpuState, insn: number, v: number): void {
  const sizeBits = insn >>> 30, opc = (insn >>> 22) & 3, rt = insn & 31, rn = (insn >>> 5) & 31;
  let lo: number, hi: number;
  let writeback = false;
  let wbLo = 0, wbHi = 0;
  let unpriv = false;
  let syndromeOk = true;
  const n = rn === 31 ? SLOT_SP : rn;
  const bl = s.x[n << 1], bh = s.x[(n << 1) | 1];
  let scale = sizeBits;
  if (v && opc >= 2) scale = 4; // 128-bit
  if ((insn >>> 24) & 1) { // unsigned offset
    addNum(bl, bh, ((insn >>> 10) & 0xfff) * (1 << scale));
    lo = out.lo; hi = out.hi;
  } else if ((insn >>> 21) & 1) {
    if (((insn >>> 10) & 3) !== 2) undefinedInstruction(c); // atomics and PAC loads: not implemented
    const option = (insn >>> 13) & 7;
    if ((option & 2) === 0) undefinedInstruction(c);
    extendedReg(s, (insn >>> 16) & 31, option, (insn >>> 12) & 1 ? scale : 0);
    const ol = out.lo, oh = out.hi;
    adds64(s, bl, bh, ol, oh, 0, false);
    lo = out.lo; hi = out.hi;
  } else {
    const imm9 = (insn << 11) >> 23;
    const kind = (insn >>> 10) & 3;
    if (kind === 0 || kind === 2) { // unscaled, unprivileged
      addNum(bl, bh, imm9); lo = out.lo; hi = out.hi;
      if (kind === 2) { if (v) undefinedInstruction(c); unpriv = c.el === 1; }
    } else { // post-index (1), pre-index (3)
      addNum(bl, bh, imm9);
      wbLo = out.lo; wbHi = out.hi; writeback = true; syndromeOk = false;
      if (kind === 1) { lo = bl; hi = bh; } else { lo = wbLo; hi = wbHi; }
    }
  }
  if (v) {
    checkFp(c);
    const size = 1 << scale;
    c.accessIss = 0;
    if (opc & 1) { // load
      const tmp = SCRATCH;
      c.mmu.loadBytes(lo, hi, tmp, 0, size);
      const vb = s.vbytes;
      if (size < 16) vb.fill(0, rt * 16 + size, rt * 16 + 16);
      for (let k = 0; k < size; k++) vb[rt * 16 + k] = tmp[k];
    } else {
      c.mmu.storeBytes(lo, hi, s.vbytes, rt * 16, size);
    }
  } else {
    const size = 1 << sizeBits;
    if (opc === 0) { // store
      c.accessIss = syndromeOk ? ISV | (sizeBits << 22) | (rt << 16) | (sizeBits === 3 ? 1 << 15 : 0) : 0;
      if (size === 8) c.mmu.write64(lo, hi, s.x[rt << 1], s.x[(rt << 1) | 1], unpriv);
      else c.mmu.write(lo, hi, size, s.x[rt << 1], unpriv);
    } else if (opc === 1) { // load, zero-extend
      c.accessIss = syndromeOk ? ISV | (sizeBits << 22) | (rt << 16) | (sizeBits === 3 ? 1 << 15 : 0) : 0;
      if (size === 8) { c.mmu.read64(lo, hi, unpriv); s.setX(rt, c.mmu.rl, c.mmu.rh); }
      else s.setX32(rt, c.mmu.read(lo, hi, size, unpriv) | 0);
    } else if (sizeBits === 3) {
      if (opc === 2) { /* PRFM/PRFUM */ } else undefinedInstruction(c);
    } else { // sign-extending loads: opc 2 -> 64-bit, opc 3 -> 32-bit
      if (sizeBits === 2 && opc === 3) undefinedInstruction(c);
      const to64 = opc === 2;
      c.accessIss = syndromeOk ? ISV | (sizeBits << 22) | (1 << 21) | (rt << 16) | (to64 ? 1 << 15 : 0) : 0;
      const raw = c.mmu.read(lo, hi, size, unpriv);
      const sh = 32 - 8 * size;
      const val = sh === 0 ? raw | 0 : (raw << sh) >> sh;
      if (to64) s.setX(rt, val, val >> 31); else s.setX32(rt, val);
    }
  }
  if (writeback) { s.x[n << 1] = wbLo; s.x[(n << 1) | 1] = wbHi; }
}

function exclusive(c: Cpu, s: CpuState, insn: number): void {
  const size = insn >>> 30, o2 = (insn >>> 23) & 1, load = (insn >>> 22) & 1, o1 = (insn >>> 21) & 1;
  const rs = (insn >>> 16) & 31, o0 = (insn >>> 15) & 1, rt2 = (insn >>> 10) & 31, rn = (insn >>> 5) & 31, rt = insn & 31;
  const n = rn === 31 ? SLOT_SP : rn;
  const lo = s.x[n << 1], hi = s.x[(n << 1) | 1];
  const bytes = 1 << size;
  if (o2 === 1) { // LDAR/STLR (o1 = 0); LDLAR/STLLR too (o0 = 0)
    if (o1) undefinedInstruction(c); // CAS: LSE not implemented
    c.accessIss = ISV | (size << 22) | (rt << 16) | (size === 3 ? 1 << 15 : 0) | (1 << 14);
    if (load) {
      if (size === 3) { c.mmu.read64(lo, hi); s.setX(rt, c.mmu.rl, c.mmu.rh); }
      else s.setX32(rt, c.mmu.read(lo, hi, bytes) | 0);
    } else if (size === 3) c.mmu.write64(lo, hi, s.x[rt << 1], s.x[(rt << 1) | 1]);
    else c.mmu.write(lo, hi, bytes, s.x[rt << 1]);
    return;
  }
  void o0;
  c.accessIss = 0;
  const pair = o1 === 1;
  if (pair && size < 2) undefinedInstruction(c);
  const total = pair ? bytes * 2 : bytes;
  if ((lo & (total - 1)) !== 0) alignmentFault(c, lo, hi, !load);
  if (load) {
    const pa = c.mmu.physical(lo, hi, ACC_READ);
    if (size === 3) {
      c.mmu.read64(lo, hi); const al = c.mmu.rl, ah = c.mmu.rh;
      if (pair) { addNum(lo, hi, 8); c.mmu.read64(out.lo, out.hi); s.setX(rt2, c.mmu.rl, c.mmu.rh); }
      s.setX(rt, al, ah);
    } else if (pair) { // 32-bit pair
      const a = c.mmu.read(lo, hi, 4), b = c.mmu.read((lo + 4) | 0, hi, 4);
      s.setX32(rt, a | 0); s.setX32(rt2, b | 0);
    } else s.setX32(rt, c.mmu.read(lo, hi, bytes) | 0);
    c.exclusiveAddr = pa;
    c.exclusiveSize = total;
    return;
  }
  // Store-exclusive: succeeds only if this vCPU still holds the reservation.
  const pa = c.mmu.physical(lo, hi, ACC_WRITE);
  const ok = c.exclusiveAddr === pa && c.exclusiveSize === total;
  c.exclusiveAddr = -1;
  if (ok) {
    if (size === 3) {
      c.mmu.write64(lo, hi, s.x[rt << 1], s.x[(rt << 1) | 1]);
      if (pair) { addNum(lo, hi, 8); c.mmu.write64(out.lo, out.hi, s.x[rt2 << 1], s.x[(rt2 << 1) | 1]); }
    } else if (pair) {
      c.mmu.write(lo, hi, 4, s.x[rt << 1]);
      c.mmu.write((lo + 4) | 0, hi, 4, s.x[rt2 << 1]);
    } else c.mmu.write(lo, hi, bytes, s.x[rt << 1]);
  }
  s.setX32(rs, ok ? 0 : 1);
}
