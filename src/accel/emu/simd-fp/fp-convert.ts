// Conversions: between half/single/double (FPConvert), float to integer/fixed-point with
// saturation (FPToFixed) and integer/fixed-point to float (FixedToFP).
import type { CpuState } from '../state.ts';
import { fastVal, roundNum } from './fp-arith.ts';
import {
  FPCR_AHP,
  FPSR_UFC,
  RM,
  RN,
  RP,
  FPCR_DN,
  FPCR_FZ,
  FPSR_IOC,
  FPSR_IXC,
  INF,
  QNAN,
  SNAN,
  ZERO,
  bitsToRaw,
  f32BitsOf,
  f32Value,
  fmtOf,
  fpcrRmode,
  infBits,
  rawToBits,
  roundPack,
  unpack,
  zeroBits,
} from './softfloat.ts';

/** FPConvert between esizes 16, 32 and 64 (rounding per FPCR unless `rmode` is given). */
export function fpConvert(s: CpuState, from: number, to: number, raw: number, rmode = -1): number {
  // FPCR.AHP: half precision in the alternative format (no infinities or NaNs).
  if ((s.fpcr & FPCR_AHP) !== 0 && (from === 16 || to === 16) && from !== to) {
    return from === 16 ? fromAltHalf(to, raw) : toAltHalf(s, from, raw, rmode < 0 ? fpcrRmode(s) : rmode);
  }
  const fz = (s.fpcr & FPCR_FZ) !== 0;
  if (from === 32 && to === 64) {
    const e = raw & 0x7f800000;
    if (e !== 0x7f800000 && (e !== 0 || !fz)) return f32Value(raw);
  }
  const src = fmtOf(from);
  const dst = fmtOf(to);
  const bits = rawToBits(from, raw);
  // Half-precision inputs ignore FPCR.FZ (FPUnpackCV); half outputs are never flushed.
  const u = unpack(s, src, bits, fz && from !== 16);
  if (u.cls === QNAN || u.cls === SNAN) {
    if (u.cls === SNAN) s.fpsr |= FPSR_IOC;
    if ((s.fpcr & FPCR_DN) !== 0) return bitsToRaw(to, dst.defaultNaN);
    const frac = bits & src.fracMask;
    const moved = dst.fbits >= src.fbits ? frac << BigInt(dst.fbits - src.fbits) : frac >> BigInt(src.fbits - dst.fbits);
    return bitsToRaw(to, infBits(dst, u.sign) | dst.quietBit | moved);
  }
  if (u.cls === INF) return bitsToRaw(to, infBits(dst, u.sign));
  if (u.cls === ZERO) return bitsToRaw(to, zeroBits(dst, u.sign));
  return bitsToRaw(to, roundPack(s, dst, u.sign, u.mant, u.exp, rmode < 0 ? fpcrRmode(s) : rmode, fz && to !== 16));
}

const TWO32 = 4294967296;

/** An alternative-format half: exponent 31 is an ordinary exponent. Exact in single and double. */
function fromAltHalf(to: number, raw: number): number {
  const sign = (raw >>> 15) & 1, e = (raw >>> 10) & 31, f = raw & 0x3ff;
  const mag = e === 0 ? f * 2 ** -24 : (1024 + f) * 2 ** (e - 25);
  const v = sign ? -mag : mag;
  return to === 32 ? f32BitsOf(v) : v;
}

/**
 * Round to the alternative half format (largest exponent 31, no Inf/NaN): a NaN becomes a
 * signed zero and an infinity or overflow saturates to the largest magnitude, both raising
 * Invalid Operation only (FPConvert / FPRoundCV with alt_hp).
 */
function toAltHalf(s: CpuState, from: number, raw: number, rmode: number): number {
  const u = unpack(s, fmtOf(from), rawToBits(from, raw), (s.fpcr & FPCR_FZ) !== 0);
  const signBit = u.sign << 15;
  if (u.cls === QNAN || u.cls === SNAN) {
    s.fpsr |= FPSR_IOC;
    return signBit;
  }
  if (u.cls === INF) {
    s.fpsr |= FPSR_IOC;
    return signBit | 0x7fff;
  }
  if (u.cls === ZERO) return signBit;
  const a = Number(u.mant) * 2 ** u.exp; // |value|: mantissas of single/double fit a double exactly
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const q = e < -14 ? 2 ** -24 : 2 ** (e - 10);
  const n = a / q;
  let r = Math.trunc(n);
  const rest = n - r;
  if (rest !== 0) {
    if (rmode === RN) { if (rest > 0.5 || (rest === 0.5 && r % 2 === 1)) r++; }
    else if (rmode === RP) { if (!u.sign) r++; }
    else if (rmode === RM) { if (u.sign) r++; }
  }
  const value = r * q;
  if (value >= 2 ** 17) {
    s.fpsr |= FPSR_IOC;
    return signBit | 0x7fff;
  }
  if (value !== a) s.fpsr |= FPSR_IXC | (value < 2 ** -14 || a < 2 ** -14 ? FPSR_UFC : 0);
  if (value === 0) return signBit;
  let he = Math.floor(Math.log2(value));
  if (2 ** he > value) he--;
  else if (2 ** (he + 1) <= value) he++;
  if (he < -14) return signBit | (value / 2 ** -24);
  return signBit | ((he + 15) << 10) | (value / 2 ** (he - 10) - 1024);
}

/**
 * FPToFixed: round raw * 2^fbits to an integer of `isize` bits (saturating, IOC on NaN or
 * overflow, IXC when inexact). Returns [lo, hi] words (hi is 0/sign for 32-bit results).
 */
export function fpToFixed(
  s: CpuState,
  esize: number,
  raw: number,
  fbits: number,
  unsigned: boolean,
  rmode: number,
  isize: number,
): [number, number] {
  // Exclusive upper bound: 2^63 - 1 is not a double, 2^63 is.
  const limit = unsigned ? 2 ** isize : 2 ** (isize - 1);
  const min = unsigned ? 0 : -limit;
  const saturate = (high: boolean): [number, number] => {
    s.fpsr |= FPSR_IOC;
    if (isize === 32) return [high ? (unsigned ? -1 : 0x7fffffff) : unsigned ? 0 : -0x80000000, 0];
    if (unsigned) return high ? [-1, -1] : [0, 0];
    return high ? [-1, 0x7fffffff] : [0, -0x80000000];
  };
  let v = fastVal(s, esize, raw);
  if (v === null || !Number.isFinite(v)) {
    const u = unpack(s, fmtOf(esize), rawToBits(esize, raw), (s.fpcr & FPCR_FZ) !== 0 && esize !== 16);
    if (u.cls === QNAN || u.cls === SNAN) {
      s.fpsr |= FPSR_IOC;
      return [0, 0];
    }
    if (u.cls === INF) return saturate(u.sign === 0);
    if (u.cls === ZERO) return [0, 0];
    v = Number(u.mant) * 2 ** u.exp;
    if (u.sign) v = -v;
  }
  if (v === 0) return [0, 0];
  v *= 2 ** fbits;
  const r = roundNum(v, rmode);
  if (r >= limit) return saturate(true);
  if (r < min) return saturate(false);
  if (r !== v) s.fpsr |= FPSR_IXC;
  if (r === 0) return [0, 0];
  const hi = Math.floor(r / TWO32);
  const lo = r - hi * TWO32;
  return [lo | 0, isize === 32 ? 0 : hi | 0];
}

/** FixedToFP: integer hi:lo (isize bits, signed or not) divided by 2^fbits, rounded per FPCR. */
export function fixedToFp(
  s: CpuState,
  esize: number,
  lo: number,
  hi: number,
  isize: number,
  unsigned: boolean,
  fbits: number,
): number {
  let v: number | null;
  if (isize === 32) v = unsigned ? lo >>> 0 : lo | 0;
  else {
    const h = unsigned ? hi >>> 0 : hi | 0;
    v = h < 0x200000 && h >= -0x200000 ? h * TWO32 + (lo >>> 0) : null;
  }
  if (v !== null && Math.abs(v) < (esize === 64 ? 2 ** 53 : esize === 32 ? 2 ** 24 : 2 ** 11) && esize !== 16) {
    const r = v * 2 ** -fbits;
    return esize === 64 ? r : f32BitsOf(r);
  }
  let big: bigint;
  if (isize === 32) big = unsigned ? BigInt(lo >>> 0) : BigInt(lo | 0);
  else {
    big = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    if (!unsigned) big = BigInt.asIntN(64, big);
  }
  const fmt = fmtOf(esize);
  if (big === 0n) return bitsToRaw(esize, zeroBits(fmt, 0));
  const sign = big < 0n ? 1 : 0;
  const mag = big < 0n ? -big : big;
  return bitsToRaw(esize, roundPack(s, fmt, sign, mag, -fbits, fpcrRmode(s), (s.fpcr & FPCR_FZ) !== 0 && esize !== 16));
}
