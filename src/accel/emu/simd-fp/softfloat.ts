// Exact IEEE 754 rounding as the Arm ARM defines it (FPRound, FPUnpack, FPProcessNaN):
// values are held as sign * mant * 2^exp with a bigint mantissa, so every rounding mode,
// flush-to-zero, default NaN and the cumulative FPSR flags come out bit-exact. The fast
// paths in fp-arith.ts fall back to this whenever a result is not comfortably normal.
import type { CpuState } from '../state.ts';

export const FPCR_AHP = 1 << 26;
export const FPCR_DN = 1 << 25;
export const FPCR_FZ = 1 << 24;
export const FPCR_RMODE_SHIFT = 22;

export const FPSR_IOC = 1;
export const FPSR_DZC = 2;
export const FPSR_OFC = 4;
export const FPSR_UFC = 8;
export const FPSR_IXC = 16;
export const FPSR_IDC = 128;
export const FPSR_QC = 1 << 27;

/** Rounding modes: the FPCR.RMode encodings, plus ties-away (used by FCVTA and FRINTA). */
export const RN = 0;
export const RP = 1;
export const RM = 2;
export const RZ = 3;
export const RNA = 4;
/** Round to odd (FCVTXN): truncate, then set the lowest bit if anything was lost. */
export const RODD = 5;

export function fpcrRmode(s: CpuState): number {
  return (s.fpcr >>> FPCR_RMODE_SHIFT) & 3;
}

export interface FpFormat {
  readonly esize: number;
  readonly ebits: number;
  readonly fbits: number;
  readonly bias: number;
  /** All-ones biased exponent (Inf/NaN). */
  readonly emax: number;
  readonly fracMask: bigint;
  readonly quietBit: bigint;
  readonly defaultNaN: bigint;
}

function mkFormat(esize: number, ebits: number): FpFormat {
  const fbits = esize - 1 - ebits;
  const emax = (1 << ebits) - 1;
  const quietBit = 1n << BigInt(fbits - 1);
  return {
    esize,
    ebits,
    fbits,
    bias: (1 << (ebits - 1)) - 1,
    emax,
    fracMask: (1n << BigInt(fbits)) - 1n,
    quietBit,
    defaultNaN: (BigInt(emax) << BigInt(fbits)) | quietBit,
  };
}

export const F16 = mkFormat(16, 5);
export const F32 = mkFormat(32, 8);
export const F64 = mkFormat(64, 11);

export function fmtOf(esize: number): FpFormat {
  return esize === 64 ? F64 : esize === 32 ? F32 : F16;
}

export const ZERO = 0;
export const FINITE = 1;
export const INF = 2;
export const QNAN = 3;
export const SNAN = 4;

export interface Unpacked {
  cls: number;
  sign: number;
  /** Finite non-zero values are sign * mant * 2^exp exactly. */
  mant: bigint;
  exp: number;
}

/** FPUnpack: classify bits; with `flush`, denormal inputs become zero and set IDC. */
export function unpack(s: CpuState, fmt: FpFormat, bits: bigint, flush: boolean): Unpacked {
  const sign = Number((bits >> BigInt(fmt.esize - 1)) & 1n);
  const bexp = Number((bits >> BigInt(fmt.fbits)) & BigInt(fmt.emax));
  const frac = bits & fmt.fracMask;
  if (bexp === 0) {
    if (frac === 0n) return { cls: ZERO, sign, mant: 0n, exp: 0 };
    if (flush) {
      s.fpsr |= FPSR_IDC;
      return { cls: ZERO, sign, mant: 0n, exp: 0 };
    }
    return { cls: FINITE, sign, mant: frac, exp: 1 - fmt.bias - fmt.fbits };
  }
  if (bexp === fmt.emax) {
    if (frac === 0n) return { cls: INF, sign, mant: 0n, exp: 0 };
    return { cls: (frac & fmt.quietBit) !== 0n ? QNAN : SNAN, sign, mant: 0n, exp: 0 };
  }
  return { cls: FINITE, sign, mant: frac | (1n << BigInt(fmt.fbits)), exp: bexp - fmt.bias - fmt.fbits };
}

export function zeroBits(fmt: FpFormat, sign: number): bigint {
  return BigInt(sign) << BigInt(fmt.esize - 1);
}

export function infBits(fmt: FpFormat, sign: number): bigint {
  return zeroBits(fmt, sign) | (BigInt(fmt.emax) << BigInt(fmt.fbits));
}

export function maxNormalBits(fmt: FpFormat, sign: number): bigint {
  return zeroBits(fmt, sign) | (BigInt(fmt.emax - 1) << BigInt(fmt.fbits)) | fmt.fracMask;
}

export function bitLength(m: bigint): number {
  return m.toString(2).length;
}

/**
 * FPRound: round sign * mant * 2^exp (mant > 0) to `fmt` under `rmode`. `flush` applies
 * FPCR.FZ to the output: a tiny unrounded value becomes zero with UFC and no IXC.
 * Underflow is detected before rounding, as on Arm.
 */
export function roundPack(
  s: CpuState,
  fmt: FpFormat,
  sign: number,
  mant: bigint,
  exp: number,
  rmode: number,
  flush: boolean,
): bigint {
  const F = fmt.fbits;
  const minExp = 1 - fmt.bias;
  const topExp = exp + bitLength(mant) - 1; // unrounded value is in [2^topExp, 2^(topExp+1))
  const tiny = topExp < minExp;
  if (tiny && flush) {
    s.fpsr |= FPSR_UFC;
    return zeroBits(fmt, sign);
  }
  let ulpExp = (tiny ? minExp : topExp) - F;
  const shift = ulpExp - exp;
  let intMant: bigint;
  let inexact = false;
  let roundUp = false;
  if (shift > 0) {
    const sh = BigInt(shift);
    intMant = mant >> sh;
    const rem = mant - (intMant << sh);
    if (rem !== 0n) {
      inexact = true;
      const half = 1n << (sh - 1n);
      switch (rmode) {
        case RN:
          roundUp = rem > half || (rem === half && (intMant & 1n) === 1n);
          break;
        case RNA:
          roundUp = rem >= half;
          break;
        case RP:
          roundUp = sign === 0;
          break;
        case RM:
          roundUp = sign === 1;
          break;
        default:
          roundUp = false;
      }
    }
  } else {
    intMant = mant << BigInt(-shift);
  }
  if (inexact && rmode === RODD) intMant |= 1n;
  if (roundUp) {
    intMant += 1n;
    if (intMant === 1n << BigInt(F + 1)) {
      intMant >>= 1n;
      ulpExp += 1;
    }
  }
  if (tiny && inexact) s.fpsr |= FPSR_UFC;
  const normal = intMant >= 1n << BigInt(F);
  const biased = normal ? ulpExp + F + fmt.bias : 0;
  if (biased >= fmt.emax) {
    s.fpsr |= FPSR_OFC | FPSR_IXC;
    const toInf =
      rmode === RN || rmode === RNA || (rmode === RP && sign === 0) || (rmode === RM && sign === 1);
    return toInf ? infBits(fmt, sign) : maxNormalBits(fmt, sign);
  }
  if (inexact) s.fpsr |= FPSR_IXC;
  return zeroBits(fmt, sign) | (BigInt(biased) << BigInt(F)) | (intMant & fmt.fracMask);
}

/** FPProcessNaN: quiet a signalling NaN (raising IOC); FPCR.DN substitutes the default NaN. */
export function processNaN(s: CpuState, fmt: FpFormat, u: Unpacked, bits: bigint): bigint {
  let r = bits;
  if (u.cls === SNAN) {
    s.fpsr |= FPSR_IOC;
    r = bits | fmt.quietBit;
  }
  if ((s.fpcr & FPCR_DN) !== 0) return fmt.defaultNaN;
  return r;
}

/** FPProcessNaNs: first signalling NaN, else first quiet NaN; null when neither is a NaN. */
export function processNaNs(
  s: CpuState,
  fmt: FpFormat,
  u1: Unpacked,
  b1: bigint,
  u2: Unpacked,
  b2: bigint,
): bigint | null {
  if (u1.cls === SNAN) return processNaN(s, fmt, u1, b1);
  if (u2.cls === SNAN) return processNaN(s, fmt, u2, b2);
  if (u1.cls === QNAN) return processNaN(s, fmt, u1, b1);
  if (u2.cls === QNAN) return processNaN(s, fmt, u2, b2);
  return null;
}

export function processNaNs3(
  s: CpuState,
  fmt: FpFormat,
  u1: Unpacked,
  b1: bigint,
  u2: Unpacked,
  b2: bigint,
  u3: Unpacked,
  b3: bigint,
): bigint | null {
  if (u1.cls === SNAN) return processNaN(s, fmt, u1, b1);
  if (u2.cls === SNAN) return processNaN(s, fmt, u2, b2);
  if (u3.cls === SNAN) return processNaN(s, fmt, u3, b3);
  if (u1.cls === QNAN) return processNaN(s, fmt, u1, b1);
  if (u2.cls === QNAN) return processNaN(s, fmt, u2, b2);
  if (u3.cls === QNAN) return processNaN(s, fmt, u3, b3);
  return null;
}

/** Integer square root (floor) of a non-negative bigint. */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = 1n << BigInt((bitLength(n) + 1) >> 1);
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) return x;
    x = y;
  }
}

// ---- raw value containers -------------------------------------------------------------
// Half and single values travel as their bit patterns in a number (uint32); doubles travel
// as JS doubles (a Float64Array load/store keeps NaN payloads on every V8 target).

const scratch = new ArrayBuffer(8);
const scF64 = new Float64Array(scratch);
const scF32 = new Float32Array(scratch);
const scU32 = new Uint32Array(scratch);

export function f64Words(x: number): [number, number] {
  scF64[0] = x;
  return [scU32[0], scU32[1]];
}

export function f64Hi(x: number): number {
  scF64[0] = x;
  return scU32[1];
}

export function f64FromWords(lo: number, hi: number): number {
  scU32[0] = lo;
  scU32[1] = hi;
  return scF64[0];
}

/** Value of single-precision bits (not for NaNs: the widening would quiet them). */
export function f32Value(bits: number): number {
  scU32[0] = bits;
  return scF32[0];
}

/** Bits of a float32-representable non-NaN number. */
export function f32BitsOf(x: number): number {
  scF32[0] = x;
  return scU32[0];
}

export function rawToBits(esize: number, raw: number): bigint {
  if (esize !== 64) return BigInt(raw >>> 0);
  scF64[0] = raw;
  return (BigInt(scU32[1]) << 32n) | BigInt(scU32[0]);
}

export function bitsToRaw(esize: number, bits: bigint): number {
  if (esize !== 64) return Number(bits);
  scU32[0] = Number(bits & 0xffffffffn);
  scU32[1] = Number(bits >> 32n);
  return scF64[0];
}

export function isNaNRaw(esize: number, raw: number): boolean {
  if (esize === 64) return raw !== raw;
  if (esize === 32) return (raw & 0x7fffffff) >>> 0 > 0x7f800000;
  return (raw & 0x7fff) > 0x7c00;
}
