// Reciprocal and reciprocal square root estimates (FRECPE, FRSQRTE, FRECPX, URECPE,
// URSQRTE), following the Arm ARM's table-free definitions (without FEAT_RPRES).
import type { CpuState } from '../state.ts';
import {
  FPCR_FZ,
  FPSR_DZC,
  FPSR_IOC,
  FPSR_IXC,
  FPSR_OFC,
  FPSR_UFC,
  INF,
  QNAN,
  RM,
  RN,
  RP,
  SNAN,
  ZERO,
  bitsToRaw,
  fmtOf,
  fpcrRmode,
  infBits,
  maxNormalBits,
  processNaN,
  rawToBits,
  unpack,
  zeroBits,
} from './softfloat.ts';

/** RecipEstimate: a in [256, 512) -> r in [256, 512). */
function recipEstimate(a: number): number {
  const b = Math.floor((1 << 19) / (a * 2 + 1));
  return (b + 1) >> 1;
}

/** RecipSqrtEstimate: a in [128, 512) -> r in [256, 512). */
function recipSqrtEstimate(a: number): number {
  const x = a < 256 ? a * 2 + 1 : (((a >> 1) << 1) + 1) * 2;
  let b = 512;
  while (x * (b + 1) * (b + 1) < 2 ** 28) b++;
  return (b + 1) >> 1;
}

/** Exponent field and the fraction widened to 52 bits. */
function fields(esize: number, bits: bigint): [number, bigint] {
  if (esize === 64) return [Number((bits >> 52n) & 0x7ffn), bits & ((1n << 52n) - 1n)];
  return [Number((bits >> 23n) & 0xffn), (bits & 0x7fffffn) << 29n];
}

function pack(esize: number, sign: number, exp: number, frac52: bigint): bigint {
  if (esize === 64) return (BigInt(sign) << 63n) | (BigInt(exp & 0x7ff) << 52n) | frac52;
  return (BigInt(sign) << 31n) | (BigInt(exp & 0xff) << 23n) | (frac52 >> 29n);
}

export function fpRecipEstimate(s: CpuState, esize: number, raw: number): number {
  const fmt = fmtOf(esize);
  const bits = rawToBits(esize, raw);
  const u = unpack(s, fmt, bits, (s.fpcr & FPCR_FZ) !== 0);
  if (u.cls === QNAN || u.cls === SNAN) return bitsToRaw(esize, processNaN(s, fmt, u, bits));
  if (u.cls === INF) return bitsToRaw(esize, zeroBits(fmt, u.sign));
  if (u.cls === ZERO) {
    s.fpsr |= FPSR_DZC;
    return bitsToRaw(esize, infBits(fmt, u.sign));
  }
  const mag = Number(u.mant) * 2 ** u.exp;
  if (mag < (esize === 64 ? 2 ** -1024 : 2 ** -128)) {
    const rm = fpcrRmode(s);
    const toInf = rm === RN || (rm === RP && u.sign === 0) || (rm === RM && u.sign === 1);
    s.fpsr |= FPSR_OFC | FPSR_IXC;
    return bitsToRaw(esize, toInf ? infBits(fmt, u.sign) : maxNormalBits(fmt, u.sign));
  }
  if ((s.fpcr & FPCR_FZ) !== 0 && mag >= (esize === 64 ? 2 ** 1022 : 2 ** 126)) {
    s.fpsr |= FPSR_UFC;
    return bitsToRaw(esize, zeroBits(fmt, u.sign));
  }
  let [exp, frac] = fields(esize, bits);
  if (exp === 0) {
    if (((frac >> 51n) & 1n) === 0n) {
      exp = -1;
      frac = (frac << 2n) & ((1n << 52n) - 1n);
    } else frac = (frac << 1n) & ((1n << 52n) - 1n);
  }
  const scaled = 256 | Number((frac >> 44n) & 0xffn);
  let resultExp = (esize === 64 ? 2045 : 253) - exp;
  const estimate = recipEstimate(scaled);
  let f = BigInt(estimate & 0xff) << 44n;
  if (resultExp === 0) f = (1n << 51n) | (f >> 1n);
  else if (resultExp === -1) {
    f = (1n << 50n) | (f >> 2n);
    resultExp = 0;
  }
  return bitsToRaw(esize, pack(esize, u.sign, resultExp, f));
}

export function fpRSqrtEstimate(s: CpuState, esize: number, raw: number): number {
  const fmt = fmtOf(esize);
  const bits = rawToBits(esize, raw);
  const u = unpack(s, fmt, bits, (s.fpcr & FPCR_FZ) !== 0);
  if (u.cls === QNAN || u.cls === SNAN) return bitsToRaw(esize, processNaN(s, fmt, u, bits));
  if (u.cls === ZERO) {
    s.fpsr |= FPSR_DZC;
    return bitsToRaw(esize, infBits(fmt, u.sign));
  }
  if (u.sign === 1) {
    s.fpsr |= FPSR_IOC;
    return bitsToRaw(esize, fmt.defaultNaN);
  }
  if (u.cls === INF) return bitsToRaw(esize, zeroBits(fmt, 0));
  let [exp, frac] = fields(esize, bits);
  if (exp === 0) {
    while (((frac >> 51n) & 1n) === 0n) {
      frac = (frac << 1n) & ((1n << 52n) - 1n);
      exp -= 1;
    }
    frac = (frac << 1n) & ((1n << 52n) - 1n);
  }
  const scaled = (exp & 1) === 0 ? 256 | Number((frac >> 44n) & 0xffn) : 128 | Number((frac >> 45n) & 0x7fn);
  const resultExp = Math.floor(((esize === 64 ? 3068 : 380) - exp) / 2);
  const estimate = recipSqrtEstimate(scaled);
  return bitsToRaw(esize, pack(esize, 0, resultExp, BigInt(estimate & 0xff) << 44n));
}

/** FRECPX: exponent inverted, fraction cleared. */
export function fpRecpX(s: CpuState, esize: number, raw: number): number {
  const fmt = fmtOf(esize);
  const bits = rawToBits(esize, raw);
  const u = unpack(s, fmt, bits, (s.fpcr & FPCR_FZ) !== 0);
  if (u.cls === QNAN || u.cls === SNAN) return bitsToRaw(esize, processNaN(s, fmt, u, bits));
  const exp = Number((bits >> BigInt(fmt.fbits)) & BigInt(fmt.emax));
  const resultExp = exp === 0 ? fmt.emax - 1 : ~exp & fmt.emax;
  return bitsToRaw(esize, zeroBits(fmt, u.sign) | (BigInt(resultExp) << BigInt(fmt.fbits)));
}

/** URECPE / URSQRTE on a 32-bit lane. */
export function unsignedEstimate(x: number, rsqrt: boolean): number {
  const top9 = x >>> 23;
  if (rsqrt) return x >>> 30 === 0 ? 0xffffffff : (recipSqrtEstimate(top9) << 23) >>> 0;
  return x >>> 31 === 0 ? 0xffffffff : (recipEstimate(top9) << 23) >>> 0;
}
