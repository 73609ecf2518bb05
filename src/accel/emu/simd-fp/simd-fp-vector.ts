// AdvSIMD floating-point lanes (vector and scalar forms): arithmetic, fused multiply-add,
// compares, pairwise and across-lane reductions, conversions and rounding.
import type { CpuState } from '../state.ts';
import {
  CMP_EQ,
  CMP_GE,
  CMP_GT,
  OP_ADD,
  OP_DIV,
  OP_MUL,
  OP_SUB,
  fpAbs,
  fpBinary,
  fpCompareCond,
  fpMinMax,
  fpMulAdd,
  fpNeg,
  fpRoundInt,
  fpSqrt,
} from './fp-arith.ts';
import { fixedToFp, fpConvert, fpToFixed } from './fp-convert.ts';
import { fpRSqrtEstimate, fpRecipEstimate, fpRecpX, unsignedEstimate } from './fp-estimate.ts';
import { F32, F64, FPCR_FZ, f32BitsOf, isNaNRaw, INF, RM, RN, RNA, RODD, RP, RZ, ZERO, fpcrRmode, rawToBits, unpack } from './softfloat.ts';
import { clearHigh, vviews } from './vreg.ts';

function getF(s: CpuState, reg: number, idx: number, esize: number): number {
  const v = vviews(s);
  if (esize === 64) return v.f64[reg * 2 + idx];
  if (esize === 32) return v.u32[reg * 4 + idx];
  return v.u16[reg * 8 + idx];
}

// f64 lanes live in Float64Arrays: a plain JS array of doubles would canonicalise NaNs
// and lose signalling NaN payloads.
type Lanes = Float64Array | Uint32Array | Uint16Array;

function newLanes(esize: number, n: number): Lanes {
  return esize === 64 ? new Float64Array(n) : esize === 32 ? new Uint32Array(n) : new Uint16Array(n);
}

function lanesF(s: CpuState, reg: number, esize: number, count: number, first = 0): Lanes {
  const r = newLanes(esize, count);
  for (let i = 0; i < count; i++) r[i] = getF(s, reg, first + i, esize);
  return r;
}

function mapF(src: Lanes, outEsize: number, fn: (x: number, i: number) => number): Lanes {
  const r = newLanes(outEsize, src.length);
  for (let i = 0; i < src.length; i++) r[i] = fn(src[i], i);
  return r;
}

/** Write raw lanes; `bytes` (8 or 16) of the register are defined, the rest zeroed. */
function putF(s: CpuState, reg: number, esize: number, vals: ArrayLike<number>, bytes: number, first = 0): void {
  const v = vviews(s);
  for (let i = 0; i < vals.length; i++) {
    const k = first + i;
    if (esize === 64) v.f64[reg * 2 + k] = vals[i];
    else if (esize === 32) v.u32[reg * 4 + k] = vals[i];
    else v.u16[reg * 8 + k] = vals[i];
  }
  if (first === 0 && bytes <= 8) {
    const used = (vals.length * esize) >> 3;
    if (used < 8) s.vbytes.fill(0, reg * 16 + used, reg * 16 + 8);
    clearHigh(s, reg);
  }
}

function putInt(s: CpuState, reg: number, esize: number, words: [number, number][], bytes: number): void {
  const v = vviews(s);
  for (let i = 0; i < words.length; i++) {
    if (esize === 64) {
      v.i32[reg * 4 + 2 * i] = words[i][0];
      v.i32[reg * 4 + 2 * i + 1] = words[i][1];
    } else v.i32[reg * 4 + i] = words[i][0];
  }
  if (bytes <= 8) {
    const used = (words.length * esize) >> 3;
    if (used < 8) s.vbytes.fill(0, reg * 16 + used, reg * 16 + 8);
    clearHigh(s, reg);
  }
}

/** Raw encoding of the small constants the step instructions use (exact in both formats). */
function constant(esize: number, value: number): number {
  return esize === 64 ? value : f32BitsOf(value);
}

function isInfZero(s: CpuState, esize: number, a: number, b: number): boolean {
  const fmt = esize === 64 ? F64 : F32;
  const fz = (s.fpcr & FPCR_FZ) !== 0;
  // Unpacking raises IDC for flushed inputs, as the operation itself would.
  const ua = unpack(s, fmt, rawToBits(esize, a), fz);
  const ub = unpack(s, fmt, rawToBits(esize, b), fz);
  return (ua.cls === INF && ub.cls === ZERO) || (ua.cls === ZERO && ub.cls === INF);
}

/** FPMulX: FMUL except that infinity times zero gives +-2. */
function fpMulX(s: CpuState, esize: number, a: number, b: number): number {
  if (!isNaNRaw(esize, a) && !isNaNRaw(esize, b) && isInfZero(s, esize, a, b)) {
    const neg = (rawToBits(esize, a) ^ rawToBits(esize, b)) >> BigInt(esize - 1);
    const two = constant(esize, 2);
    return neg & 1n ? fpNeg(esize, two) : two;
  }
  return fpBinary(s, esize, OP_MUL, a, b);
}

/** FPRecipStepFused (2 - a*b) and FPRSqrtStepFused ((3 - a*b) / 2). */
function fpStep(s: CpuState, esize: number, a: number, b: number, rsqrt: boolean): number {
  const na = fpNeg(esize, a);
  if (!isNaNRaw(esize, a) && !isNaNRaw(esize, b) && isInfZero(s, esize, a, b)) return constant(esize, rsqrt ? 1.5 : 2);
  if (!rsqrt) return fpMulAdd(s, esize, constant(esize, 2), na, b);
  return fpMulAdd(s, esize, constant(esize, 3), na, b, -1);
}

function threeSameOp(s: CpuState, key: number, esize: number, a: number, b: number, d: number): number | null {
  switch (key) {
    case 0x00:
      return fpMinMax(s, esize, a, b, true, true);
    case 0x01:
      return fpMulAdd(s, esize, d, a, b);
    case 0x02:
      return fpBinary(s, esize, OP_ADD, a, b);
    case 0x03:
      return fpMulX(s, esize, a, b);
    case 0x04:
      return fpCompareCond(s, esize, a, b, CMP_EQ, false) ? -1 : 0;
    case 0x06:
      return fpMinMax(s, esize, a, b, true, false);
    case 0x07:
      return fpStep(s, esize, a, b, false);
    case 0x08:
      return fpMinMax(s, esize, a, b, false, true);
    case 0x09:
      return fpMulAdd(s, esize, d, fpNeg(esize, a), b);
    case 0x0a:
      return fpBinary(s, esize, OP_SUB, a, b);
    case 0x0e:
      return fpMinMax(s, esize, a, b, false, false);
    case 0x0f:
      return fpStep(s, esize, a, b, true);
    case 0x13:
      return fpBinary(s, esize, OP_MUL, a, b);
    case 0x14:
      return fpCompareCond(s, esize, a, b, CMP_GE, false) ? -1 : 0;
    case 0x15:
      return fpCompareCond(s, esize, a, b, CMP_GE, true) ? -1 : 0;
    case 0x17:
      return fpBinary(s, esize, OP_DIV, a, b);
    case 0x1a:
      return fpAbs(esize, fpBinary(s, esize, OP_SUB, a, b));
    case 0x1c:
      return fpCompareCond(s, esize, a, b, CMP_GT, false) ? -1 : 0;
    case 0x1d:
      return fpCompareCond(s, esize, a, b, CMP_GT, true) ? -1 : 0;
  }
  return null;
}

const COMPARE_KEYS = new Set([0x04, 0x14, 0x15, 0x1c, 0x1d]);
const SCALAR_KEYS = new Set([0x03, 0x04, 0x07, 0x0f, 0x14, 0x15, 0x1a, 0x1c, 0x1d]);
// Pairwise: FMAXNMP, FADDP, FMAXP, FMINNMP, FMINP
const PAIRWISE: Record<number, number> = { 0x10: 0x00, 0x12: 0x02, 0x16: 0x06, 0x18: 0x08, 0x1e: 0x0e };

export function fpThreeSame(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const key = (u << 4) | ((size >> 1) << 3) | (((insn >>> 11) & 31) - 24);
  const esize = size & 1 ? 64 : 32;
  const rm = (insn >>> 16) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (scalar && !SCALAR_KEYS.has(key)) return false;
  if (!scalar && esize === 64 && q === 0) return false;
  const bytes = scalar ? 8 : q ? 16 : 8;
  const count = scalar ? 1 : (bytes * 8) / esize;
  const pair = PAIRWISE[key];
  if (!scalar && pair !== undefined) {
    const all = newLanes(esize, 2 * count);
    all.set(lanesF(s, rn, esize, count), 0);
    all.set(lanesF(s, rm, esize, count), count);
    const out = newLanes(esize, count);
    for (let i = 0; i < count; i++) out[i] = threeSameOp(s, pair, esize, all[2 * i], all[2 * i + 1], 0) as number;
    putF(s, rd, esize, out, bytes);
    return true;
  }
  const A = lanesF(s, rn, esize, count);
  const B = lanesF(s, rm, esize, count);
  const D = lanesF(s, rd, esize, count);
  if (COMPARE_KEYS.has(key)) {
    const masks: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      const r = threeSameOp(s, key, esize, A[i], B[i], 0) as number;
      masks.push([r, r]);
    }
    putInt(s, rd, esize, masks, bytes);
    return true;
  }
  const out = newLanes(esize, count);
  for (let i = 0; i < count; i++) {
    const r = threeSameOp(s, key, esize, A[i], B[i], D[i]);
    if (r === null) return false;
    out[i] = r;
  }
  putF(s, rd, esize, out, bytes);
  return true;
}

export function fpTwoRegMisc(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 31;
  const size1 = size >> 1;
  const sz = size & 1;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (opcode === 22 || opcode === 23) {
    if (size1 !== 0 || (u === 1 && (opcode === 23 || sz === 0)) || (scalar && u === 0)) return false;
    if (scalar) {
      // FCVTXN Sd, Dn
      putF(s, rd, 32, [fpConvert(s, 64, 32, getF(s, rn, 0, 64), RODD)], 8);
      return true;
    }
    const mode = u === 1 ? RODD : -1;
    const wide = sz ? 64 : 32;
    const narrow = sz ? 32 : 16;
    const count = 64 / narrow;
    if (opcode === 22) {
      const out = mapF(lanesF(s, rn, wide, count), narrow, (x) => fpConvert(s, wide, narrow, x, mode));
      if (q) putF(s, rd, narrow, out, 16, count);
      else putF(s, rd, narrow, out, 8);
    } else {
      const out = mapF(lanesF(s, rn, narrow, count, q * count), wide, (x) => fpConvert(s, narrow, wide, x));
      putF(s, rd, wide, out, 16);
    }
    return true;
  }
  const esize = sz ? 64 : 32;
  if (!scalar && esize === 64 && q === 0) return false;
  const bytes = scalar ? 8 : q ? 16 : 8;
  const count = scalar ? 1 : (bytes * 8) / esize;
  const A = lanesF(s, rn, esize, count);
  const key = (u << 6) | (size1 << 5) | opcode;
  // Conversions to integer
  const toInt: Record<number, number> = { 0x1a: RN, 0x1b: RM, 0x3a: RP, 0x3b: RZ, 0x1c: RNA };
  const cvt = toInt[key & 0x3f];
  if (cvt !== undefined) {
    const unsigned = u === 1;
    putInt(s, rd, esize, Array.from(A, (a) => fpToFixed(s, esize, a, 0, unsigned, cvt, esize)), bytes);
    return true;
  }
  if ((key & 0x3f) === 0x1d) {
    // SCVTF / UCVTF (integer)
    const v = vviews(s);
    const out = mapF(A, esize, (_, i) => {
      const lo = esize === 64 ? v.i32[rn * 4 + 2 * i] : v.i32[rn * 4 + i];
      const hi = esize === 64 ? v.i32[rn * 4 + 2 * i + 1] : 0;
      return fixedToFp(s, esize, lo, hi, esize, u === 1, 0);
    });
    putF(s, rd, esize, out, bytes);
    return true;
  }
  const compares: Record<number, [number, boolean]> = {
    0x2c: [CMP_GT, false],
    0x2d: [CMP_EQ, false],
    0x2e: [CMP_GT, true],
    0x6c: [CMP_GE, false],
    0x6d: [CMP_GE, true],
  };
  const cmp = compares[key];
  if (cmp !== undefined) {
    const zero = 0;
    const out = Array.from(A, (a) => {
      const r = cmp[1] ? fpCompareCond(s, esize, zero, a, cmp[0], false) : fpCompareCond(s, esize, a, zero, cmp[0], false);
      return (r ? [-1, -1] : [0, 0]) as [number, number];
    });
    putInt(s, rd, esize, out, bytes);
    return true;
  }
  // FRECPE (0x3d), FRSQRTE (0x7d), URECPE (0x3c), URSQRTE (0x7c), FRECPX (scalar 0x3f)
  if (key === 0x3d || key === 0x7d) {
    const rs = key === 0x7d;
    putF(s, rd, esize, mapF(A, esize, (a) => (rs ? fpRSqrtEstimate(s, esize, a) : fpRecipEstimate(s, esize, a))), bytes);
    return true;
  }
  if (key === 0x3c || key === 0x7c) {
    if (scalar || esize !== 32) return false;
    putF(s, rd, 32, mapF(A, 32, (a) => unsignedEstimate(a, key === 0x7c)), bytes);
    return true;
  }
  if (key === 0x3f && scalar) {
    putF(s, rd, esize, mapF(A, esize, (a) => fpRecpX(s, esize, a)), bytes);
    return true;
  }
  if (scalar) return false;
  let f: ((a: number) => number) | null = null;
  switch (key) {
    case 0x18:
      f = (a) => fpRoundInt(s, esize, a, RN, false);
      break;
    case 0x19:
      f = (a) => fpRoundInt(s, esize, a, RM, false);
      break;
    case 0x38:
      f = (a) => fpRoundInt(s, esize, a, RP, false);
      break;
    case 0x39:
      f = (a) => fpRoundInt(s, esize, a, RZ, false);
      break;
    case 0x58:
      f = (a) => fpRoundInt(s, esize, a, RNA, false);
      break;
    case 0x59:
      f = (a) => fpRoundInt(s, esize, a, fpcrRmode(s), true);
      break;
    case 0x79:
      f = (a) => fpRoundInt(s, esize, a, fpcrRmode(s), false);
      break;
    case 0x2f:
      f = (a) => fpAbs(esize, a);
      break;
    case 0x6f:
      f = (a) => fpNeg(esize, a);
      break;
    case 0x7f:
      f = (a) => fpSqrt(s, esize, a);
      break;
  }
  if (f === null) return false;
  putF(s, rd, esize, mapF(A, esize, f), bytes);
  return true;
}

/** Arm's Reduce(): combine the two halves recursively. */
function reduce(vals: number[], op: (a: number, b: number) => number): number {
  if (vals.length === 1) return vals[0];
  const h = vals.length >> 1;
  return op(reduce(vals.slice(0, h), op), reduce(vals.slice(h), op));
}

export function fpAcrossLanes(s: CpuState, insn: number): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 31;
  if (u !== 1 || q !== 1 || (size & 1) !== 0) return false;
  const isMax = size >> 1 === 0;
  const numeric = opcode === 12;
  const r = reduce(Array.from(lanesF(s, (insn >>> 5) & 31, 32, 4)), (a, b) => fpMinMax(s, 32, a, b, isMax, numeric));
  putF(s, insn & 31, 32, [r], 8);
  return true;
}

export function fpScalarPairwise(s: CpuState, insn: number): boolean {
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 31;
  if (u !== 1) return false;
  const esize = size & 1 ? 64 : 32;
  const [a, b] = lanesF(s, (insn >>> 5) & 31, esize, 2);
  const isMax = size >> 1 === 0;
  let r: number;
  if (opcode === 13 && isMax) r = fpBinary(s, esize, OP_ADD, a, b);
  else if (opcode === 12) r = fpMinMax(s, esize, a, b, isMax, true);
  else if (opcode === 15) r = fpMinMax(s, esize, a, b, isMax, false);
  else return false;
  putF(s, insn & 31, esize, [r], 8);
  return true;
}

export function fpShiftImm(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const immh = (insn >>> 19) & 15;
  const immhb = (insn >>> 16) & 127;
  const opcode = (insn >>> 11) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if ((immh & 0xc) === 0) return false; // half precision or unallocated
  const esize = immh & 8 ? 64 : 32;
  if (!scalar && esize === 64 && q === 0) return false;
  const fbits = 2 * esize - immhb;
  const bytes = scalar ? 8 : q ? 16 : 8;
  const count = scalar ? 1 : (bytes * 8) / esize;
  if (opcode === 31) {
    const A = lanesF(s, rn, esize, count);
    putInt(s, rd, esize, Array.from(A, (a) => fpToFixed(s, esize, a, fbits, u === 1, RZ, esize)), bytes);
    return true;
  }
  const v = vviews(s);
  const out = newLanes(esize, count);
  for (let i = 0; i < count; i++) {
    const lo = esize === 64 ? v.i32[rn * 4 + 2 * i] : v.i32[rn * 4 + i];
    const hi = esize === 64 ? v.i32[rn * 4 + 2 * i + 1] : 0;
    out[i] = fixedToFp(s, esize, lo, hi, esize, u === 1, fbits);
  }
  putF(s, rd, esize, out, bytes);
  return true;
}

export function fpIndexed(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 15;
  const L = (insn >>> 21) & 1;
  const H = (insn >>> 11) & 1;
  const rm = (insn >>> 16) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (size >> 1 !== 1) return false;
  if (u === 1 && opcode !== 9) return false;
  const esize = size & 1 ? 64 : 32;
  if (esize === 64 && (L === 1 || (!scalar && q === 0))) return false;
  const index = esize === 64 ? H : (H << 1) | L;
  const elem = getF(s, rm, index, esize);
  const bytes = scalar ? 8 : q ? 16 : 8;
  const count = scalar ? 1 : (bytes * 8) / esize;
  const A = lanesF(s, rn, esize, count);
  const D = lanesF(s, rd, esize, count);
  const out = mapF(A, esize, (a, i) => {
    if (opcode === 1) return fpMulAdd(s, esize, D[i], a, elem);
    if (opcode === 5) return fpMulAdd(s, esize, D[i], fpNeg(esize, a), elem);
    return u ? fpMulX(s, esize, a, elem) : fpBinary(s, esize, OP_MUL, a, elem);
  });
  putF(s, rd, esize, out, bytes);
  return true;
}
