// Scalar floating-point instruction groups (bits[28:24] = 11110/11111, bit 30 = 0).
import type { CpuState } from '../state.ts';
import { OP_ADD, OP_DIV, OP_MUL, OP_SUB, fpAbs, fpBinary, fpCompare, fpMinMax, fpMulAdd, fpNeg, fpRoundInt, fpSqrt } from './fp-arith.ts';
import { fixedToFp, fpConvert, fpToFixed } from './fp-convert.ts';
import { conditionHolds, readFp, setNzcv, writeFp } from './fp-regs.ts';
import { RM, RN, RNA, RP, RZ, bitsToRaw, fpcrRmode } from './softfloat.ts';
import { vviews } from './vreg.ts';

/** ftype field to element size; 10 is unallocated (-1). */
function ftypeSize(ftype: number): number {
  return ftype === 0 ? 32 : ftype === 1 ? 64 : ftype === 3 ? 16 : -1;
}

/** VFPExpandImm for the 8-bit FMOV immediate. */
export function expandFpImm(imm8: number, esize: number): number {
  const sign = (imm8 >> 7) & 1;
  const b6 = (imm8 >> 6) & 1;
  const low = imm8 & 0x3f; // imm8<5:0>: exponent low 2 bits then fraction 4 bits
  if (esize === 64) {
    const hi = (sign << 31) | ((b6 ^ 1) << 30) | ((b6 ? 0xff : 0) << 22) | (low << 16);
    return bitsToRaw(64, BigInt(hi >>> 0) << 32n);
  }
  if (esize === 32) return ((sign << 31) | ((b6 ^ 1) << 30) | ((b6 ? 0x1f : 0) << 25) | (low << 19)) >>> 0;
  return (sign << 15) | ((b6 ^ 1) << 14) | ((b6 ? 3 : 0) << 12) | (low << 6);
}

export function execFpScalar(s: CpuState, insn: number): boolean {
  if ((insn & 0x1f000000) === 0x1f000000) return fpDataProc3(s, insn);
  if ((insn & 0x20000000) !== 0) return false; // S bit
  if ((insn & 0x00200000) === 0) return fpFixedConvert(s, insn);
  if ((insn & 0xfc00) === 0) return fpIntConvert(s, insn);
  if ((insn & 0x80000000) !== 0) return false; // M bit
  if ((insn & 0x7c00) === 0x4000) return fpDataProc1(s, insn);
  if ((insn & 0x3c00) === 0x2000) return fpCompareInsn(s, insn);
  if ((insn & 0x1c00) === 0x1000) return fpImmediate(s, insn);
  switch ((insn >>> 10) & 3) {
    case 1:
      return fpCondCompare(s, insn);
    case 2:
      return fpDataProc2(s, insn);
    case 3:
      return fpCondSelect(s, insn);
  }
  return false;
}

function fpDataProc1(s: CpuState, insn: number): boolean {
  const esize = ftypeSize((insn >>> 22) & 3);
  const opcode = (insn >>> 15) & 0x3f;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (esize < 0) return false;
  if ((opcode & 0x3c) === 0x04) {
    const to = ftypeSize(opcode & 3);
    if (to < 0 || to === esize) return false;
    writeFp(s, rd, to, fpConvert(s, esize, to, readFp(s, rn, esize)));
    return true;
  }
  if (esize === 16) return false; // half-precision arithmetic needs FEAT_FP16
  const a = readFp(s, rn, esize);
  let r: number;
  switch (opcode) {
    case 0:
      r = a;
      break;
    case 1:
      r = fpAbs(esize, a);
      break;
    case 2:
      r = fpNeg(esize, a);
      break;
    case 3:
      r = fpSqrt(s, esize, a);
      break;
    case 8:
      r = fpRoundInt(s, esize, a, RN, false);
      break;
    case 9:
      r = fpRoundInt(s, esize, a, RP, false);
      break;
    case 10:
      r = fpRoundInt(s, esize, a, RM, false);
      break;
    case 11:
      r = fpRoundInt(s, esize, a, RZ, false);
      break;
    case 12:
      r = fpRoundInt(s, esize, a, RNA, false);
      break;
    case 14:
      r = fpRoundInt(s, esize, a, fpcrRmode(s), true);
      break;
    case 15:
      r = fpRoundInt(s, esize, a, fpcrRmode(s), false);
      break;
    default:
      return false;
  }
  writeFp(s, rd, esize, r);
  return true;
}

function fpDataProc2(s: CpuState, insn: number): boolean {
  const esize = ftypeSize((insn >>> 22) & 3);
  if (esize !== 32 && esize !== 64) return false;
  const a = readFp(s, (insn >>> 5) & 31, esize);
  const b = readFp(s, (insn >>> 16) & 31, esize);
  let r: number;
  switch ((insn >>> 12) & 15) {
    case 0:
      r = fpBinary(s, esize, OP_MUL, a, b);
      break;
    case 1:
      r = fpBinary(s, esize, OP_DIV, a, b);
      break;
    case 2:
      r = fpBinary(s, esize, OP_ADD, a, b);
      break;
    case 3:
      r = fpBinary(s, esize, OP_SUB, a, b);
      break;
    case 4:
      r = fpMinMax(s, esize, a, b, true, false);
      break;
    case 5:
      r = fpMinMax(s, esize, a, b, false, false);
      break;
    case 6:
      r = fpMinMax(s, esize, a, b, true, true);
      break;
    case 7:
      r = fpMinMax(s, esize, a, b, false, true);
      break;
    case 8:
      r = fpNeg(esize, fpBinary(s, esize, OP_MUL, a, b));
      break;
    default:
      return false;
  }
  writeFp(s, insn & 31, esize, r);
  return true;
}

function fpDataProc3(s: CpuState, insn: number): boolean {
  if ((insn & 0xa0000000) !== 0) return false; // M and S
  const esize = ftypeSize((insn >>> 22) & 3);
  if (esize !== 32 && esize !== 64) return false;
  const negProduct = ((insn >>> 15) & 1) !== ((insn >>> 21) & 1); // FMSUB, FNMADD
  const negAddend = ((insn >>> 21) & 1) === 1; // FNMADD, FNMSUB
  let n = readFp(s, (insn >>> 5) & 31, esize);
  const m = readFp(s, (insn >>> 16) & 31, esize);
  let a = readFp(s, (insn >>> 10) & 31, esize);
  if (negProduct) n = fpNeg(esize, n);
  if (negAddend) a = fpNeg(esize, a);
  writeFp(s, insn & 31, esize, fpMulAdd(s, esize, a, n, m));
  return true;
}

function fpCompareInsn(s: CpuState, insn: number): boolean {
  const esize = ftypeSize((insn >>> 22) & 3);
  if (esize !== 32 && esize !== 64) return false;
  if ((insn & 0xc000) !== 0 || (insn & 7) !== 0) return false;
  const a = readFp(s, (insn >>> 5) & 31, esize);
  const b = (insn & 8) !== 0 ? 0 : readFp(s, (insn >>> 16) & 31, esize);
  setNzcv(s, fpCompare(s, esize, a, b, (insn & 0x10) !== 0));
  return true;
}

function fpCondCompare(s: CpuState, insn: number): boolean {
  const esize = ftypeSize((insn >>> 22) & 3);
  if (esize !== 32 && esize !== 64) return false;
  if (conditionHolds(s, (insn >>> 12) & 15)) {
    const a = readFp(s, (insn >>> 5) & 31, esize);
    const b = readFp(s, (insn >>> 16) & 31, esize);
    setNzcv(s, fpCompare(s, esize, a, b, (insn & 0x10) !== 0));
  } else {
    setNzcv(s, insn & 15);
  }
  return true;
}

function fpCondSelect(s: CpuState, insn: number): boolean {
  const esize = ftypeSize((insn >>> 22) & 3);
  if (esize !== 32 && esize !== 64) return false;
  const src = conditionHolds(s, (insn >>> 12) & 15) ? (insn >>> 5) & 31 : (insn >>> 16) & 31;
  writeFp(s, insn & 31, esize, readFp(s, src, esize));
  return true;
}

function fpImmediate(s: CpuState, insn: number): boolean {
  const esize = ftypeSize((insn >>> 22) & 3);
  if ((esize !== 32 && esize !== 64) || ((insn >>> 5) & 31) !== 0) return false;
  writeFp(s, insn & 31, esize, expandFpImm((insn >>> 13) & 0xff, esize));
  return true;
}

const RMODE_OF = [RN, RP, RM, RZ];

function fpFixedConvert(s: CpuState, insn: number): boolean {
  const sf = insn >>> 31;
  const esize = ftypeSize((insn >>> 22) & 3);
  const rmode = (insn >>> 19) & 3;
  const opcode = (insn >>> 16) & 7;
  const scale = (insn >>> 10) & 63;
  if (esize !== 32 && esize !== 64) return false;
  if (sf === 0 && scale < 32) return false;
  const fbits = 64 - scale;
  const isize = sf ? 64 : 32;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (rmode === 3 && (opcode === 0 || opcode === 1)) {
    const [lo, hi] = fpToFixed(s, esize, readFp(s, rn, esize), fbits, opcode === 1, RZ, isize);
    if (sf) s.setX(rd, lo, hi);
    else s.setX32(rd, lo);
    return true;
  }
  if (rmode === 0 && (opcode === 2 || opcode === 3)) {
    writeFp(s, rd, esize, fixedToFp(s, esize, s.xlo(rn), sf ? s.xhi(rn) : 0, isize, opcode === 3, fbits));
    return true;
  }
  return false;
}

function fpIntConvert(s: CpuState, insn: number): boolean {
  const sf = insn >>> 31;
  const ftype = (insn >>> 22) & 3;
  const rmode = (insn >>> 19) & 3;
  const opcode = (insn >>> 16) & 7;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  const isize = sf ? 64 : 32;
  if (opcode >= 6) {
    const toGeneral = opcode === 6;
    const v = vviews(s);
    if (sf === 1 && ftype === 2 && rmode === 1) {
      // FMOV Xd, Vn.D[1] / FMOV Vd.D[1], Xn: the upper half is written alone.
      if (toGeneral) s.setX(rd, v.i32[rn * 4 + 2], v.i32[rn * 4 + 3]);
      else {
        v.i32[rd * 4 + 2] = s.xlo(rn);
        v.i32[rd * 4 + 3] = s.xhi(rn);
      }
      return true;
    }
    if (rmode !== 0) return false;
    const w = rd * 4;
    if (ftype === 3) return false; // FMOV to/from Hn needs FEAT_FP16, which is not advertised
    if (sf === 0 && ftype === 0) {
      if (toGeneral) s.setX32(rd, v.i32[rn * 4]);
      else writeFp(s, rd, 32, s.xlo(rn) >>> 0);
      return true;
    }
    if (sf === 1 && ftype === 1) {
      if (toGeneral) s.setX(rd, v.i32[rn * 4], v.i32[rn * 4 + 1]);
      else {
        v.i32[w] = s.xlo(rn);
        v.i32[w + 1] = s.xhi(rn);
        v.i32[w + 2] = 0;
        v.i32[w + 3] = 0;
      }
      return true;
    }
    return false;
  }
  const esize = ftypeSize(ftype);
  if (esize !== 32 && esize !== 64) return false;
  if (opcode === 2 || opcode === 3) {
    if (rmode !== 0) return false;
    writeFp(s, rd, esize, fixedToFp(s, esize, s.xlo(rn), sf ? s.xhi(rn) : 0, isize, opcode === 3, 0));
    return true;
  }
  let mode: number;
  if (opcode <= 1) mode = RMODE_OF[rmode];
  else if (rmode === 0) mode = RNA; // FCVTAS/FCVTAU (opcode 4/5)
  else return false;
  const [lo, hi] = fpToFixed(s, esize, readFp(s, rn, esize), 0, (opcode & 1) === 1, mode, isize);
  if (sf) s.setX(rd, lo, hi);
  else s.setX32(rd, lo);
  return true;
}
