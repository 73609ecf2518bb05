// Single/double arithmetic with Arm semantics. The common case (finite operands, result
// comfortably inside the normal range) runs on JS doubles with an exact error term to get
// the inexact flag and directed rounding right; anything else goes through the exact
// bigint path in softfloat.ts.
import type { CpuState } from '../state.ts';
import {
  FPCR_FZ,
  FPSR_DZC,
  FPSR_IOC,
  FPSR_IXC,
  INF,
  QNAN,
  RM,
  RN,
  RNA,
  RP,
  RZ,
  SNAN,
  ZERO,
  bitLength,
  bitsToRaw,
  f32BitsOf,
  f32Value,
  fmtOf,
  fpcrRmode,
  infBits,
  isqrt,
  processNaN,
  processNaNs,
  processNaNs3,
  rawToBits,
  roundPack,
  unpack,
  zeroBits,
  type FpFormat,
  type Unpacked,
} from './softfloat.ts';

export const OP_ADD = 0;
export const OP_SUB = 1;
export const OP_MUL = 2;
export const OP_DIV = 3;

const MIN_NORMAL64 = 2 ** -1022;
const MIN_NORMAL32 = 2 ** -126;
const MAX32 = 3.4028234663852886e38;
const EXACT_LO = 2 ** -960; // below this Dekker's error terms could underflow
const SPLIT_HI = 2 ** 995; // above this Veltkamp splitting could overflow

const scratch = new ArrayBuffer(8);
const scF64 = new Float64Array(scratch);
const scU32 = new Uint32Array(scratch);

/** Neighbour of a finite non-zero double, one ulp away from or toward zero. */
function stepF64(x: number, away: boolean): number {
  scF64[0] = x;
  let lo = scU32[0];
  let hi = scU32[1];
  if (away) {
    lo = (lo + 1) >>> 0;
    if (lo === 0) hi = (hi + 1) >>> 0;
  } else {
    if (lo === 0) hi = (hi - 1) >>> 0;
    lo = (lo - 1) >>> 0;
  }
  scU32[0] = lo;
  scU32[1] = hi;
  return scF64[0];
}

function stepF32(x: number, away: boolean): number {
  return f32Value((f32BitsOf(x) + (away ? 1 : -1)) >>> 0);
}

/**
 * Finish a fast-path result: `r` is the round-to-nearest result (as a double holding the
 * esize value) and errSign the sign of (exact - r). Returns the raw result, or null when
 * the result is not safely normal and the exact path must decide.
 */
function finish(s: CpuState, esize: number, r: number, errSign: number): number | null {
  const ar = Math.abs(r);
  if (errSign !== errSign) return null;
  if (esize === 64) {
    if (!(ar > MIN_NORMAL64 && ar < Number.MAX_VALUE)) return null;
  } else if (!(ar > MIN_NORMAL32 && ar < MAX32)) return null;
  if (errSign !== 0) {
    s.fpsr |= FPSR_IXC;
    const rmode = fpcrRmode(s);
    if (rmode !== RN) {
      let step = 0; // +1 away from zero, -1 toward zero
      if (rmode === RZ) step = errSign > 0 !== r > 0 ? -1 : 0;
      else if (rmode === RP) step = errSign > 0 ? (r > 0 ? 1 : -1) : 0;
      else if (rmode === RM) step = errSign < 0 ? (r < 0 ? 1 : -1) : 0;
      if (step !== 0) r = esize === 64 ? stepF64(r, step > 0) : stepF32(r, step > 0);
    }
  }
  return esize === 64 ? r : f32BitsOf(r);
}

/** Error of the double product a*b given p = fl(a*b) (Dekker; needs range checks by caller). */
function twoProdErr(a: number, b: number, p: number): number {
  const ca = 134217729 * a;
  const ah = ca - (ca - a);
  const al = a - ah;
  const cb = 134217729 * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  return ah * bh - p + ah * bl + al * bh + al * bl;
}

/** Sign of an error term; NaN (an intermediate overflowed) stays NaN so finish() bails out. */
function sgn(x: number): number {
  return x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN;
}

/** Operand value for the fast path, or null if it must take the exact path. */
export function fastVal(s: CpuState, esize: number, raw: number): number | null {
  if (esize === 64) {
    if (raw !== raw) return null;
    if ((s.fpcr & FPCR_FZ) !== 0 && raw !== 0 && Math.abs(raw) < MIN_NORMAL64) return null;
    return raw;
  }
  if (esize !== 32) return null;
  if ((raw & 0x7f800000) === 0x7f800000) return null;
  if ((s.fpcr & FPCR_FZ) !== 0 && (raw & 0x7f800000) === 0 && (raw & 0x7fffff) !== 0) return null;
  return f32Value(raw);
}

function flushing(s: CpuState): boolean {
  return (s.fpcr & FPCR_FZ) !== 0;
}

function invalid(s: CpuState, fmt: FpFormat): bigint {
  s.fpsr |= FPSR_IOC;
  return fmt.defaultNaN;
}

function packFinite(s: CpuState, fmt: FpFormat, sign: number, mant: bigint, exp: number): bigint {
  return roundPack(s, fmt, sign, mant, exp, fpcrRmode(s), flushing(s));
}

/** Exact sum of two finite-or-zero unpacked values, rounded. */
function addExact(
  s: CpuState,
  fmt: FpFormat,
  sa: number,
  ma: bigint,
  ea: number,
  sb: number,
  mb: bigint,
  eb: number,
  scale = 0,
): bigint {
  if (ma === 0n && mb === 0n) {
    const sign = sa === sb ? sa : fpcrRmode(s) === RM ? 1 : 0;
    return zeroBits(fmt, sign);
  }
  if (ma === 0n) return packFinite(s, fmt, sb, mb, eb + scale);
  if (mb === 0n) return packFinite(s, fmt, sa, ma, ea + scale);
  const e = Math.min(ea, eb);
  let va = ma << BigInt(ea - e);
  let vb = mb << BigInt(eb - e);
  if (sa) va = -va;
  if (sb) vb = -vb;
  const sum = va + vb;
  if (sum === 0n) return zeroBits(fmt, fpcrRmode(s) === RM ? 1 : 0);
  return sum < 0n ? packFinite(s, fmt, 1, -sum, e + scale) : packFinite(s, fmt, 0, sum, e + scale);
}

function slowBinary(s: CpuState, esize: number, op: number, a: number, b: number): number {
  const fmt = fmtOf(esize);
  const flush = flushing(s);
  const ba = rawToBits(esize, a);
  const bb = rawToBits(esize, b);
  const ua = unpack(s, fmt, ba, flush);
  const ub = unpack(s, fmt, bb, flush);
  const nan = processNaNs(s, fmt, ua, ba, ub, bb);
  if (nan !== null) return bitsToRaw(esize, nan);
  return bitsToRaw(esize, binaryValues(s, fmt, op, ua, ub));
}

function binaryValues(s: CpuState, fmt: FpFormat, op: number, ua: Unpacked, ub: Unpacked): bigint {
  switch (op) {
    case OP_ADD:
    case OP_SUB: {
      const sb = ub.sign ^ (op === OP_SUB ? 1 : 0);
      if (ua.cls === INF && ub.cls === INF && ua.sign !== sb) return invalid(s, fmt);
      if (ua.cls === INF) return infBits(fmt, ua.sign);
      if (ub.cls === INF) return infBits(fmt, sb);
      return addExact(s, fmt, ua.sign, ua.mant, ua.exp, sb, ub.mant, ub.exp);
    }
    case OP_MUL: {
      const sign = ua.sign ^ ub.sign;
      if ((ua.cls === INF && ub.cls === ZERO) || (ua.cls === ZERO && ub.cls === INF)) return invalid(s, fmt);
      if (ua.cls === INF || ub.cls === INF) return infBits(fmt, sign);
      if (ua.cls === ZERO || ub.cls === ZERO) return zeroBits(fmt, sign);
      return packFinite(s, fmt, sign, ua.mant * ub.mant, ua.exp + ub.exp);
    }
    default: {
      const sign = ua.sign ^ ub.sign;
      if ((ua.cls === INF && ub.cls === INF) || (ua.cls === ZERO && ub.cls === ZERO)) return invalid(s, fmt);
      if (ua.cls === INF || ub.cls === ZERO) {
        if (ua.cls !== INF) s.fpsr |= FPSR_DZC;
        return infBits(fmt, sign);
      }
      if (ua.cls === ZERO || ub.cls === INF) return zeroBits(fmt, sign);
      const k = Math.max(0, fmt.fbits + 4 + bitLength(ub.mant) - bitLength(ua.mant));
      const num = ua.mant << BigInt(k);
      const q = num / ub.mant;
      const sticky = num - q * ub.mant !== 0n ? 1n : 0n;
      return packFinite(s, fmt, sign, (q << 1n) | sticky, ua.exp - ub.exp - k - 1);
    }
  }
}

/** FPAdd/FPSub/FPMul/FPDiv on raw values (esize 32 or 64). */
export function fpBinary(s: CpuState, esize: number, op: number, a: number, b: number): number {
  const x = fastVal(s, esize, a);
  const y = x === null ? null : fastVal(s, esize, b);
  if (x !== null && y !== null) {
    let r: number;
    let err: number;
    if (esize === 64) {
      switch (op) {
        case OP_ADD:
        case OP_SUB: {
          const yy = op === OP_SUB ? -y : y;
          r = x + yy;
          const bv = r - x;
          err = sgn(x - (r - bv) + (yy - bv));
          break;
        }
        case OP_MUL: {
          r = x * y;
          const ar = Math.abs(r);
          if (ar < EXACT_LO || Math.abs(x) > SPLIT_HI || Math.abs(y) > SPLIT_HI) {
            err = NaN;
            break;
          }
          err = sgn(twoProdErr(x, y, r));
          break;
        }
        default: {
          r = x / y;
          const ar = Math.abs(r);
          if (Math.abs(x) < EXACT_LO || Math.abs(x) > SPLIT_HI || ar > SPLIT_HI || Math.abs(y) > SPLIT_HI || ar < EXACT_LO) {
            err = NaN;
            break;
          }
          const p = r * y;
          const rem = x - p - twoProdErr(r, y, p);
          err = sgn(rem) * sgn(y);
        }
      }
      if (err === err) {
        const res = finish(s, 64, r, err);
        if (res !== null) return res;
      }
    } else {
      let d: number;
      switch (op) {
        case OP_ADD:
        case OP_SUB: {
          const yy = op === OP_SUB ? -y : y;
          d = x + yy;
          const bv = d - x;
          const e1 = x - (d - bv) + (yy - bv);
          r = Math.fround(d);
          err = r !== d ? sgn(d - r) : sgn(e1);
          break;
        }
        case OP_MUL:
          d = x * y;
          r = Math.fround(d);
          err = sgn(d - r);
          break;
        default:
          r = Math.fround(x / y);
          err = sgn(x - r * y) * sgn(y);
      }
      const res = finish(s, 32, r, err);
      if (res !== null) return res;
    }
  }
  return slowBinary(s, esize, op, a, b);
}

/** FPSqrt. */
export function fpSqrt(s: CpuState, esize: number, a: number): number {
  const x = fastVal(s, esize, a);
  if (x !== null && x > 0) {
    if (esize === 64) {
      if (x >= EXACT_LO && x < SPLIT_HI) {
        const q = Math.sqrt(x);
        const p = q * q;
        const res = finish(s, 64, q, sgn(x - p - twoProdErr(q, q, p)));
        if (res !== null) return res;
      }
    } else {
      const q = Math.fround(Math.sqrt(x));
      const res = finish(s, 32, q, sgn(x - q * q));
      if (res !== null) return res;
    }
  }
  const fmt = fmtOf(esize);
  const ba = rawToBits(esize, a);
  const u = unpack(s, fmt, ba, flushing(s));
  if (u.cls === QNAN || u.cls === SNAN) return bitsToRaw(esize, processNaN(s, fmt, u, ba));
  if (u.cls === ZERO) return bitsToRaw(esize, zeroBits(fmt, u.sign));
  if (u.sign === 1) return bitsToRaw(esize, invalid(s, fmt));
  if (u.cls === INF) return bitsToRaw(esize, infBits(fmt, 0));
  let m = u.mant;
  let e = u.exp;
  const want = 2 * fmt.fbits + 8;
  let k = Math.max(0, want - bitLength(m));
  if ((e - k) & 1) k++;
  m <<= BigInt(k);
  e -= k;
  const root = isqrt(m);
  const sticky = root * root !== m ? 1n : 0n;
  return bitsToRaw(esize, packFinite(s, fmt, 0, (root << 1n) | sticky, e / 2 - 1));
}

/** TwoSum: [s, err] with s = fl(a + b) and a + b = s + err exactly. */
function twoSum(a: number, b: number): [number, number] {
  const s = a + b;
  const bv = s - a;
  return [s, a - (s - bv) + (b - bv)];
}

/** Sign of the exact sum of `xs` (Shewchuk's grow-expansion; needs no overflow). */
function exactSumSign(xs: number[]): number {
  const e: number[] = [];
  for (const x of xs) {
    let q = x;
    for (let i = 0; i < e.length; i++) {
      const [sum, err] = twoSum(q, e[i]);
      e[i] = err;
      q = sum;
    }
    e.push(q);
  }
  for (let i = e.length - 1; i >= 0; i--) if (e[i] !== 0) return e[i] > 0 ? 1 : -1;
  return 0;
}

/**
 * Double-precision fused multiply-add without bigints (Boldo & Melquiond: the product's
 * low part and the sum's low part are added with rounding to odd, then the final sum is
 * rounded once). Returns null when operands or result are outside the proven-safe range.
 */
function fastMulAdd64(s: CpuState, c: number, a: number, b: number): number | null {
  const p = a * b;
  const ap = Math.abs(p);
  const ac = Math.abs(c);
  if (!(ap >= EXACT_LO && ap < SPLIT_HI) || Math.abs(a) > SPLIT_HI || Math.abs(b) > SPLIT_HI) return null;
  if (!(ac < SPLIT_HI) || (ac !== 0 && ac < EXACT_LO)) return null;
  const pl = twoProdErr(a, b, p);
  const [th, tl] = twoSum(c, p);
  let [v, w] = twoSum(tl, pl);
  if (w !== 0 && (f64LowWord(v) & 1) === 0) v = stepF64(v, w > 0 === v > 0); // round to odd
  const r = th + v;
  return finish(s, 64, r, exactSumSign([c, p, pl, -r]));
}

/**
 * Single-precision fused multiply-add on doubles: the product is exact in double, and the
 * double sum is rounded to single except when it sits exactly on a single-precision
 * midpoint with a non-zero remainder (the one case where double rounding misleads).
 */
function fastMulAdd32(s: CpuState, c: number, a: number, b: number): number {
  const p = a * b;
  const [d, t] = twoSum(c, p);
  let r = Math.fround(d);
  if (t !== 0 && r !== d && Math.abs(r) > MIN_NORMAL32 && Math.abs(r) < MAX32) {
    const other = stepF32(r, Math.abs(d) > Math.abs(r));
    if (d - r === other - d && t > 0 === d > r) r = other;
  }
  return finish(s, 32, r, exactSumSign([c, p, -r])) ?? -1;
}

function f64LowWord(x: number): number {
  scF64[0] = x;
  return scU32[0];
}

/**
 * FPMulAdd(addend, op1, op2): addend + op1*op2 with a single rounding; `scale` multiplies
 * the exact result by 2^scale before that rounding (FRSQRTS halves).
 */
export function fpMulAdd(s: CpuState, esize: number, addend: number, op1: number, op2: number, scale = 0): number {
  if (scale === 0) {
    const c = fastVal(s, esize, addend);
    const a = c === null ? null : fastVal(s, esize, op1);
    const b = a === null ? null : fastVal(s, esize, op2);
    if (c !== null && a !== null && b !== null) {
      if (esize === 64) {
        const r = fastMulAdd64(s, c, a, b);
        if (r !== null) return r;
      } else if (a !== 0 && b !== 0) {
        const r = fastMulAdd32(s, c, a, b);
        if (r !== -1) return r;
      }
    }
  }
  return mulAddExact(s, esize, addend, op1, op2, scale);
}

/** The bigint FPMulAdd: always exact; also the reference for the fast path's tests. */
export function mulAddExact(s: CpuState, esize: number, addend: number, op1: number, op2: number, scale = 0): number {
  const fmt = fmtOf(esize);
  const flush = flushing(s);
  const ba = rawToBits(esize, addend);
  const b1 = rawToBits(esize, op1);
  const b2 = rawToBits(esize, op2);
  const ua = unpack(s, fmt, ba, flush);
  const u1 = unpack(s, fmt, b1, flush);
  const u2 = unpack(s, fmt, b2, flush);
  const nan = processNaNs3(s, fmt, ua, ba, u1, b1, u2, b2);
  const infZero = (u1.cls === INF && u2.cls === ZERO) || (u1.cls === ZERO && u2.cls === INF);
  if (ua.cls === QNAN && infZero) return bitsToRaw(esize, invalid(s, fmt));
  if (nan !== null) return bitsToRaw(esize, nan);
  const signP = u1.sign ^ u2.sign;
  const infP = u1.cls === INF || u2.cls === INF;
  if (infZero || (ua.cls === INF && infP && ua.sign !== signP)) return bitsToRaw(esize, invalid(s, fmt));
  if (ua.cls === INF) return bitsToRaw(esize, infBits(fmt, ua.sign));
  if (infP) return bitsToRaw(esize, infBits(fmt, signP));
  const zeroP = u1.cls === ZERO || u2.cls === ZERO;
  const mp = zeroP ? 0n : u1.mant * u2.mant;
  const ep = zeroP ? 0 : u1.exp + u2.exp;
  return bitsToRaw(esize, addExact(s, fmt, ua.sign, ua.mant, ua.exp, signP, mp, ep, scale));
}

function unpackedValue(u: Unpacked): number {
  if (u.cls === ZERO) return 0;
  if (u.cls === INF) return u.sign ? -Infinity : Infinity;
  const v = Number(u.mant) * 2 ** u.exp;
  return u.sign ? -v : v;
}

function repack(fmt: FpFormat, u: Unpacked, bits: bigint): bigint {
  if (u.cls === ZERO) return zeroBits(fmt, u.sign);
  return bits;
}

/** FPMax/FPMin (isMax) and FPMaxNum/FPMinNum (numeric). */
export function fpMinMax(s: CpuState, esize: number, a: number, b: number, isMax: boolean, numeric: boolean): number {
  const fmt = fmtOf(esize);
  const flush = flushing(s);
  let ba = rawToBits(esize, a);
  let bb = rawToBits(esize, b);
  let ua = unpack(s, fmt, ba, flush);
  let ub = unpack(s, fmt, bb, flush);
  if (numeric) {
    const nanA = ua.cls === QNAN || ua.cls === SNAN;
    const nanB = ub.cls === QNAN || ub.cls === SNAN;
    const fill = isMax ? 1 : 0; // -Inf for max, +Inf for min
    if (ua.cls === QNAN && !nanB) {
      ba = infBits(fmt, fill);
      ua = { cls: INF, sign: fill, mant: 0n, exp: 0 };
    } else if (!nanA && ub.cls === QNAN) {
      bb = infBits(fmt, fill);
      ub = { cls: INF, sign: fill, mant: 0n, exp: 0 };
    }
  }
  const nan = processNaNs(s, fmt, ua, ba, ub, bb);
  if (nan !== null) return bitsToRaw(esize, nan);
  if (ua.cls === ZERO && ub.cls === ZERO) {
    const sign = isMax ? ua.sign & ub.sign : ua.sign | ub.sign;
    return bitsToRaw(esize, zeroBits(fmt, sign));
  }
  const va = unpackedValue(ua);
  const vb = unpackedValue(ub);
  const pickA = isMax ? va > vb : va < vb;
  return bitsToRaw(esize, pickA ? repack(fmt, ua, ba) : repack(fmt, ub, bb));
}

/** FPCompare: NZCV as a 4-bit number. `signalAll` (FCMPE) raises IOC for quiet NaNs too. */
export function fpCompare(s: CpuState, esize: number, a: number, b: number, signalAll: boolean): number {
  const x = fastVal(s, esize, a);
  const y = x === null ? null : fastVal(s, esize, b);
  if (x !== null && y !== null) return x === y ? 0b0110 : x < y ? 0b1000 : 0b0010;
  const fmt = fmtOf(esize);
  const flush = flushing(s);
  const ua = unpack(s, fmt, rawToBits(esize, a), flush);
  const ub = unpack(s, fmt, rawToBits(esize, b), flush);
  const qa = ua.cls === QNAN || ua.cls === SNAN;
  const qb = ub.cls === QNAN || ub.cls === SNAN;
  if (qa || qb) {
    if (signalAll || ua.cls === SNAN || ub.cls === SNAN) s.fpsr |= FPSR_IOC;
    return 0b0011;
  }
  const va = unpackedValue(ua);
  const vb = unpackedValue(ub);
  if (va === vb) return 0b0110;
  return va < vb ? 0b1000 : 0b0010;
}

export const CMP_EQ = 0;
export const CMP_GE = 1;
export const CMP_GT = 2;

/** FPCompareEQ/GE/GT for the AdvSIMD compares (EQ signals only on sNaN). */
export function fpCompareCond(s: CpuState, esize: number, a: number, b: number, cond: number, abs: boolean): boolean {
  let x = fastVal(s, esize, a);
  let y = x === null ? null : fastVal(s, esize, b);
  if (x !== null && y !== null) {
    if (abs) {
      x = Math.abs(x);
      y = Math.abs(y);
    }
    return cond === CMP_EQ ? x === y : cond === CMP_GE ? x >= y : x > y;
  }
  const fmt = fmtOf(esize);
  const flush = flushing(s);
  const ua = unpack(s, fmt, rawToBits(esize, a), flush);
  const ub = unpack(s, fmt, rawToBits(esize, b), flush);
  const qa = ua.cls === QNAN || ua.cls === SNAN;
  const qb = ub.cls === QNAN || ub.cls === SNAN;
  if (qa || qb) {
    if (cond !== CMP_EQ || ua.cls === SNAN || ub.cls === SNAN) s.fpsr |= FPSR_IOC;
    return false;
  }
  let va = unpackedValue(ua);
  let vb = unpackedValue(ub);
  if (abs) {
    va = Math.abs(va);
    vb = Math.abs(vb);
  }
  return cond === CMP_EQ ? va === vb : cond === CMP_GE ? va >= vb : va > vb;
}

/** Round a double to an integral value (result may be -0 only if x is). */
export function roundNum(x: number, rmode: number): number {
  switch (rmode) {
    case RZ:
      return Math.trunc(x);
    case RP:
      return Math.ceil(x);
    case RM:
      return Math.floor(x);
    case RNA: {
      const a = Math.abs(x);
      const f = Math.floor(a);
      const r = a - f >= 0.5 ? f + 1 : f;
      return x < 0 ? -r : r;
    }
    default: {
      const f = Math.floor(x);
      const d = x - f;
      if (d > 0.5) return f + 1;
      if (d < 0.5) return f;
      return f % 2 === 0 ? f : f + 1;
    }
  }
}

/** FPRoundInt (FRINT*): `exact` (FRINTX) raises IXC when the value changes. */
export function fpRoundInt(s: CpuState, esize: number, a: number, rmode: number, exact: boolean): number {
  const fmt = fmtOf(esize);
  const bits = rawToBits(esize, a);
  const u = unpack(s, fmt, bits, flushing(s));
  if (u.cls === QNAN || u.cls === SNAN) return bitsToRaw(esize, processNaN(s, fmt, u, bits));
  if (u.cls === INF) return a;
  if (u.cls === ZERO) return bitsToRaw(esize, zeroBits(fmt, u.sign));
  const v = unpackedValue(u);
  let r = roundNum(v, rmode);
  if (exact && r !== v) s.fpsr |= FPSR_IXC;
  if (r === 0) r = u.sign ? -0 : 0;
  if (esize === 64) return r;
  if (esize === 32) return f32BitsOf(r);
  return bitsToRaw(esize, r === 0 ? zeroBits(fmt, u.sign) : roundPack(s, fmt, u.sign, BigInt(Math.abs(r)), 0, RZ, false));
}

/** FPNeg / FPAbs are pure sign-bit operations (no NaN processing, no flags). */
export function fpNeg(esize: number, a: number): number {
  if (esize === 64) return bitsToRaw(64, rawToBits(64, a) ^ (1n << 63n));
  return (a ^ (1 << (esize - 1))) >>> 0;
}

export function fpAbs(esize: number, a: number): number {
  if (esize === 64) return bitsToRaw(64, rawToBits(64, a) & ~(1n << 63n));
  return (a & ~(1 << (esize - 1))) >>> 0;
}

