// AdvSIMD integer groups (vector and scalar): three same, three different, two-register
// misc, across lanes, pairwise, shift by immediate, modified immediate, by element.
// Floating-point opcodes inside these groups are handed to simd-fp-vector.ts.
import type { CpuState } from '../state.ts';
import {
  fpAcrossLanes,
  fpIndexed,
  fpScalarPairwise,
  fpShiftImm,
  fpThreeSame,
  fpTwoRegMisc,
} from './simd-fp-vector.ts';
import { fastAcross, fastShift, fastThreeSame, fastThreeSame64 } from './simd-fast.ts';
import { countLeadingZeros, lanes, putLanes, sat, shiftBy, sx, ux } from './simd-lanes.ts';
import { clearHigh, getLane, readReg, setLane, vviews, writeReg } from './vreg.ts';

function ones(esize: number): bigint {
  return (1n << BigInt(esize)) - 1n;
}

// ---- three same ----------------------------------------------------------------------

const SCALAR_3SAME_ANY = new Set([1, 5, 9, 11]);
const SCALAR_3SAME_D = new Set([6, 7, 8, 10, 16, 17]);

export function execThreeSame(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 11) & 31;
  const rm = (insn >>> 16) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (opcode >= 24) return fpThreeSame(s, insn, scalar);
  if (scalar) {
    const ok =
      SCALAR_3SAME_ANY.has(opcode) ||
      (SCALAR_3SAME_D.has(opcode) && size === 3) ||
      (opcode === 22 && (size === 1 || size === 2));
    if (!ok) return false;
  } else {
    if (opcode === 3) return logic(s, q, u, size, rn, rm, rd);
    if (size === 3 && q === 0) return false;
  }
  const esize = 8 << size;
  const bytes = scalar ? 8 : q ? 16 : 8;
  const count = scalar ? 1 : (bytes * 8) / esize;
  if (!scalar && esize <= 32 && fastThreeSame(s, opcode, u, esize, count, rn, rm, rd, bytes)) return true;
  if (esize === 64 && fastThreeSame64(s, opcode, u, count, rn, rm, rd)) {
    if (scalar) clearHigh(s, rd);
    return true;
  }
  if (opcode === 20 || opcode === 21 || opcode === 23) {
    if (opcode === 23 ? u === 1 : size === 3) return false;
    const a = lanes(s, rn, esize, count).concat(lanes(s, rm, esize, count));
    const out = new Array<bigint>(count);
    for (let i = 0; i < count; i++) {
      const x = a[2 * i];
      const y = a[2 * i + 1];
      if (opcode === 23) out[i] = x + y;
      else {
        const ex = u ? x : sx(x, esize);
        const ey = u ? y : sx(y, esize);
        out[i] = (opcode === 20 ? ex > ey : ex < ey) ? x : y;
      }
    }
    putLanes(s, rd, esize, out, bytes);
    return true;
  }
  if (size === 3 && (opcode === 0 || opcode === 2 || opcode === 4 || (opcode >= 12 && opcode <= 15) || opcode >= 18)) return false;
  if (opcode === 19 && (u === 1 ? size !== 0 : false)) return false;
  if (opcode === 22 && (size === 0 || size === 3)) return false;
  const A = lanes(s, rn, esize, count);
  const B = lanes(s, rm, esize, count);
  const D = lanes(s, rd, esize, count);
  const out = new Array<bigint>(count);
  const unsigned = u === 1;
  const ext = (x: bigint): bigint => (unsigned ? x : sx(x, esize));
  for (let i = 0; i < count; i++) {
    const a = ext(A[i]);
    const b = ext(B[i]);
    let r: bigint;
    switch (opcode) {
      case 0:
        r = (a + b) >> 1n;
        break;
      case 1:
        r = sat(s, a + b, esize, unsigned);
        break;
      case 2:
        r = (a + b + 1n) >> 1n;
        break;
      case 4:
        r = (a - b) >> 1n;
        break;
      case 5:
        r = sat(s, a - b, esize, unsigned);
        break;
      case 6:
        r = a > b ? -1n : 0n;
        break;
      case 7:
        r = a >= b ? -1n : 0n;
        break;
      case 8:
      case 9:
      case 10:
      case 11: {
        const sh = Number(sx(B[i] & 0xffn, 8));
        const v = shiftBy(a, sh, (opcode & 2) !== 0);
        r = opcode & 1 ? sat(s, v, esize, unsigned) : v;
        break;
      }
      case 12:
        r = a > b ? a : b;
        break;
      case 13:
        r = a < b ? a : b;
        break;
      case 14:
        r = a > b ? a - b : b - a;
        break;
      case 15:
        r = D[i] + (a > b ? a - b : b - a);
        break;
      case 16:
        r = unsigned ? A[i] - B[i] : A[i] + B[i];
        break;
      case 17:
        r = unsigned ? (A[i] === B[i] ? -1n : 0n) : (A[i] & B[i]) !== 0n ? -1n : 0n;
        break;
      case 18:
        r = unsigned ? D[i] - A[i] * B[i] : D[i] + A[i] * B[i];
        break;
      case 19:
        r = unsigned ? polyMul(A[i], B[i]) : A[i] * B[i];
        break;
      default: {
        // 22: SQDMULH / SQRDMULH
        const prod = 2n * sx(A[i], esize) * sx(B[i], esize) + (unsigned ? 1n << BigInt(esize - 1) : 0n);
        r = sat(s, prod >> BigInt(esize), esize, false);
      }
    }
    out[i] = ux(r, esize);
  }
  putLanes(s, rd, esize, out, bytes);
  return true;
}

function polyMul(a: bigint, b: bigint): bigint {
  let r = 0n;
  for (let i = 0n; i < 8n; i++) if ((b >> i) & 1n) r ^= a << i;
  return r;
}

function logic(s: CpuState, q: number, u: number, size: number, rn: number, rm: number, rd: number): boolean {
  const w = vviews(s).i32;
  const words = q ? 4 : 2;
  const out = [0, 0, 0, 0];
  for (let i = 0; i < words; i++) {
    const n = w[rn * 4 + i];
    const m = w[rm * 4 + i];
    const d = w[rd * 4 + i];
    let r: number;
    if (u === 0) r = size === 0 ? n & m : size === 1 ? n & ~m : size === 2 ? n | m : n | ~m;
    else if (size === 0) r = n ^ m;
    else if (size === 1) r = m ^ ((m ^ n) & d);
    else if (size === 2) r = d ^ ((d ^ n) & m);
    else r = d ^ ((d ^ n) & ~m);
    out[i] = r;
  }
  for (let i = 0; i < 4; i++) w[rd * 4 + i] = out[i];
  return true;
}

// ---- three different -----------------------------------------------------------------

export function execThreeDifferent(s: CpuState, insn: number, scalar = false): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 15;
  const rm = (insn >>> 16) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (size === 3 || opcode === 15) return false;
  // Scalar forms exist only for SQDMLAL, SQDMLSL and SQDMULL.
  if (scalar && (u === 1 || (opcode !== 9 && opcode !== 11 && opcode !== 13))) return false;
  const esize = 8 << size;
  const wide = esize * 2;
  const count = scalar ? 1 : 64 / esize;
  const unsigned = u === 1;
  const ext = (x: bigint): bigint => (unsigned ? x : sx(x, esize));
  if (opcode === 4 || opcode === 6) {
    // ADDHN/RADDHN/SUBHN/RSUBHN
    const A = lanes(s, rn, wide, count);
    const B = lanes(s, rm, wide, count);
    const round = unsigned ? 1n << BigInt(esize - 1) : 0n;
    const out = A.map((a, i) => ux((opcode === 4 ? a + B[i] : a - B[i]) + round, wide) >> BigInt(esize));
    writeNarrow(s, rd, esize, out, q);
    return true;
  }
  if ((opcode === 9 || opcode === 11 || opcode === 13) && (u === 1 || size === 0)) return false;
  if (opcode === 14 && (u === 1 || size !== 0)) return false; // 64-bit PMULL is crypto
  const first = scalar ? 0 : q * count;
  const N = opcode === 1 || opcode === 3 ? lanes(s, rn, wide, count) : lanes(s, rn, esize, count, first);
  const M = lanes(s, rm, esize, count, first);
  const D = lanes(s, rd, wide, count);
  const out = new Array<bigint>(count);
  for (let i = 0; i < count; i++) {
    const a = opcode === 1 || opcode === 3 ? N[i] : ext(N[i]);
    const b = ext(M[i]);
    let r: bigint;
    switch (opcode) {
      case 0:
      case 1:
        r = a + b;
        break;
      case 2:
      case 3:
        r = a - b;
        break;
      case 5:
        r = D[i] + (a > b ? a - b : b - a);
        break;
      case 7:
        r = a > b ? a - b : b - a;
        break;
      case 8:
        r = D[i] + a * b;
        break;
      case 10:
        r = D[i] - a * b;
        break;
      case 12:
        r = a * b;
        break;
      case 14:
        r = polyMul16(N[i], M[i]);
        break;
      default: {
        const prod = sat(s, 2n * a * b, wide, false);
        if (opcode === 13) r = prod;
        else r = sat(s, sx(D[i], wide) + (opcode === 9 ? prod : -prod), wide, false);
      }
    }
    out[i] = ux(r, wide);
  }
  putLanes(s, rd, wide, out, scalar ? 8 : 16);
  return true;
}

function polyMul16(a: bigint, b: bigint): bigint {
  let r = 0n;
  for (let i = 0n; i < 8n; i++) if ((b >> i) & 1n) r ^= a << i;
  return r;
}

/** Write narrowed lanes to the low half (zeroing the high half) or, for the "2" forms, the high half. */
function writeNarrow(s: CpuState, rd: number, esize: number, vals: bigint[], upper: number): void {
  if (upper) {
    const n = vals.length;
    for (let i = 0; i < n; i++) setLane(s, rd, n + i, esize, vals[i]);
  } else putLanes(s, rd, esize, vals, 8);
}

// ---- two-register misc ---------------------------------------------------------------

const FP_MISC_U0 = new Set([22, 23, 24, 25, 26, 27, 28, 29, 31]);
const FP_MISC_U1 = new Set([22, 24, 25, 26, 27, 28, 29, 31]);

export function execTwoRegMisc(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if ((u === 0 ? FP_MISC_U0 : FP_MISC_U1).has(opcode) || (opcode >= 12 && opcode <= 15 && size >= 2)) {
    return fpTwoRegMisc(s, insn, scalar);
  }
  const esize = 8 << size;
  const unsigned = u === 1;
  const bytes = scalar ? 8 : q ? 16 : 8;
  // Narrowing: XTN, SQXTUN, SQXTN, UQXTN
  if (opcode === 18 || opcode === 20) {
    if (size === 3) return false;
    if (scalar && opcode === 18 && u === 0) return false;
    const count = scalar ? 1 : 64 / esize;
    const src = lanes(s, rn, esize * 2, count);
    const out = src.map((x) => {
      if (opcode === 18 && u === 0) return ux(x, esize);
      if (opcode === 18) return sat(s, sx(x, esize * 2), esize, true); // SQXTUN
      return ux(sat(s, unsigned ? x : sx(x, esize * 2), esize, unsigned), esize);
    });
    if (scalar) putLanes(s, rd, esize, out, 8);
    else writeNarrow(s, rd, esize, out, q);
    return true;
  }
  if (opcode === 19) {
    // SHLL/SHLL2
    if (u === 0 || size === 3 || scalar) return false;
    const count = 64 / esize;
    const out = lanes(s, rn, esize, count, q * count).map((x) => x << BigInt(esize));
    putLanes(s, rd, esize * 2, out, 16);
    return true;
  }
  if (scalar) {
    if (!(opcode === 3 || opcode === 7 || ((opcode >= 8 && opcode <= 11) && size === 3))) return false;
    if (opcode === 10 && u === 1) return false;
  } else if (size === 3 && q === 0) return false;
  const count = scalar ? 1 : (bytes * 8) / esize;
  switch (opcode) {
    case 0:
    case 1: {
      // REV64 / REV32 / REV16: reverse esize elements within containers
      const container = opcode === 1 ? 16 : u ? 32 : 64;
      if (esize >= container || (opcode === 1 && u === 1)) return false;
      const src = readReg(s, rn);
      const out = new Uint8Array(16);
      const cb = container / 8;
      const eb = esize / 8;
      for (let c = 0; c < bytes; c += cb)
        for (let e = 0; e < cb; e += eb)
          for (let k = 0; k < eb; k++) out[c + cb - eb - e + k] = src[c + e + k];
      writeReg(s, rd, out, bytes);
      return true;
    }
    case 2:
    case 6: {
      // S/UADDLP, S/UADALP
      if (size === 3) return false;
      const src = lanes(s, rn, esize, count);
      const acc = lanes(s, rd, esize * 2, count / 2);
      const out = new Array<bigint>(count / 2);
      for (let i = 0; i < count / 2; i++) {
        const a = unsigned ? src[2 * i] : sx(src[2 * i], esize);
        const b = unsigned ? src[2 * i + 1] : sx(src[2 * i + 1], esize);
        out[i] = ux(a + b + (opcode === 6 ? acc[i] : 0n), esize * 2);
      }
      putLanes(s, rd, esize * 2, out, bytes);
      return true;
    }
    case 5: {
      if (u === 1 && size === 1) {
        // RBIT
        const src = readReg(s, rn);
        const out = new Uint8Array(16);
        for (let i = 0; i < bytes; i++) {
          let b = src[i];
          let r = 0;
          for (let k = 0; k < 8; k++) {
            r = (r << 1) | (b & 1);
            b >>= 1;
          }
          out[i] = r;
        }
        writeReg(s, rd, out, bytes);
        return true;
      }
      if (size !== 0) return false;
      const src = readReg(s, rn);
      const out = new Uint8Array(16);
      for (let i = 0; i < bytes; i++) {
        if (u) out[i] = ~src[i] & 0xff;
        else {
          let b = src[i];
          let c = 0;
          while (b) {
            c += b & 1;
            b >>= 1;
          }
          out[i] = c;
        }
      }
      writeReg(s, rd, out, bytes);
      return true;
    }
  }
  const A = lanes(s, rn, esize, count);
  const D = lanes(s, rd, esize, count);
  const out = new Array<bigint>(count);
  for (let i = 0; i < count; i++) {
    const a = sx(A[i], esize);
    let r: bigint;
    switch (opcode) {
      case 3:
        // SUQADD (signed acc + unsigned op) / USQADD (unsigned acc + signed op)
        r = unsigned ? sat(s, D[i] + a, esize, true) : sat(s, sx(D[i], esize) + A[i], esize, false);
        break;
      case 4:
        if (size === 3) return false;
        r = BigInt(unsigned ? countLeadingZeros(A[i], esize) : countLeadingZeros(ux(a ^ (a >> 1n), esize), esize) - 1);
        break;
      case 7:
        r = sat(s, unsigned ? -a : a < 0n ? -a : a, esize, false);
        break;
      case 8:
        r = (unsigned ? a >= 0n : a > 0n) ? -1n : 0n;
        break;
      case 9:
        r = (unsigned ? a <= 0n : a === 0n) ? -1n : 0n;
        break;
      case 10:
        if (unsigned) return false;
        r = a < 0n ? -1n : 0n;
        break;
      case 11:
        r = unsigned ? -a : a < 0n ? -a : a;
        break;
      default:
        return false;
    }
    out[i] = ux(r, esize);
  }
  putLanes(s, rd, esize, out, bytes);
  return true;
}

// ---- across lanes and scalar pairwise -----------------------------------------------

export function execAcrossLanes(s: CpuState, insn: number): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (opcode === 12 || opcode === 15) return fpAcrossLanes(s, insn);
  if (size === 3 || (size === 2 && q === 0)) return false;
  const esize = 8 << size;
  const count = (q ? 128 : 64) / esize;
  if (fastAcross(s, opcode, u, esize, count, rn, rd)) return true;
  const src = lanes(s, rn, esize, count).map((x) => (u ? x : sx(x, esize)));
  let r: bigint;
  let resSize = esize;
  switch (opcode) {
    case 3:
      r = src.reduce((x, y) => x + y, 0n);
      resSize = esize * 2;
      break;
    case 10:
      r = src.reduce((x, y) => (y > x ? y : x));
      break;
    case 26:
      r = src.reduce((x, y) => (y < x ? y : x));
      break;
    case 27:
      if (u) return false;
      r = src.reduce((x, y) => x + y, 0n);
      break;
    default:
      return false;
  }
  putLanes(s, rd, resSize, [ux(r, resSize)], 8);
  return true;
}

export function execScalarPairwise(s: CpuState, insn: number): boolean {
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 31;
  const rn = (insn >>> 5) & 31;
  if (opcode === 27 && u === 0) {
    if (size !== 3) return false;
    const sum = getLane(s, rn, 0, 64) + getLane(s, rn, 1, 64);
    putLanes(s, insn & 31, 64, [ux(sum, 64)], 8);
    return true;
  }
  return fpScalarPairwise(s, insn);
}

// ---- shift by immediate -------------------------------------------------------------

export function execShiftImm(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const immh = (insn >>> 19) & 15;
  const immhb = (insn >>> 16) & 127;
  const opcode = (insn >>> 11) & 31;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (opcode === 28 || opcode === 31) return fpShiftImm(s, insn, scalar);
  const hsb = 31 - Math.clz32(immh);
  const esize = 8 << hsb;
  const unsigned = u === 1;
  if (!scalar && hsb < 3 && fastShift(s, opcode, u, esize, immhb, q, rn, rd)) return true;
  if (opcode >= 16 && opcode <= 20) {
    if (hsb === 3) return false;
    if (opcode === 20) {
      if (scalar) return false;
      const count = 64 / esize;
      const shift = BigInt(immhb - esize);
      const out = lanes(s, rn, esize, count, q * count).map((x) => ux((unsigned ? x : sx(x, esize)) << shift, 2 * esize));
      putLanes(s, rd, 2 * esize, out, 16);
      return true;
    }
    if (scalar && u === 0 && opcode <= 17) return false;
    const shift = 2 * esize - immhb;
    const round = (opcode & 1) === 1;
    const count = scalar ? 1 : 64 / esize;
    const src = lanes(s, rn, 2 * esize, count);
    const out = src.map((x) => {
      if (opcode <= 17 && u === 0) return ux(shiftBy(x, -shift, round), esize); // SHRN/RSHRN
      if (opcode <= 17) return sat(s, shiftBy(sx(x, 2 * esize), -shift, round), esize, true); // SQSHRUN
      const v = shiftBy(unsigned ? x : sx(x, 2 * esize), -shift, round);
      return ux(sat(s, v, esize, unsigned), esize);
    });
    if (scalar) putLanes(s, rd, esize, out, 8);
    else writeNarrow(s, rd, esize, out, q);
    return true;
  }
  if (scalar) {
    if (opcode <= 10 && hsb !== 3) return false;
  } else if (hsb === 3 && q === 0) return false;
  const bytes = scalar ? 8 : q ? 16 : 8;
  const count = scalar ? 1 : (bytes * 8) / esize;
  const rshift = 2 * esize - immhb;
  const lshift = immhb - esize;
  const A = lanes(s, rn, esize, count);
  const D = lanes(s, rd, esize, count);
  const out = new Array<bigint>(count);
  for (let i = 0; i < count; i++) {
    const a = unsigned ? A[i] : sx(A[i], esize);
    let r: bigint;
    switch (opcode) {
      case 0:
      case 2:
      case 4:
      case 6:
        r = shiftBy(a, -rshift, (opcode & 4) !== 0);
        if (opcode & 2) r += D[i];
        break;
      case 8: {
        if (!unsigned) return false;
        const mask = ones(esize) >> BigInt(rshift);
        r = (D[i] & ~mask) | (A[i] >> BigInt(rshift));
        break;
      }
      case 10:
        if (unsigned) {
          const mask = ux(ones(esize) << BigInt(lshift), esize);
          r = (D[i] & ~mask) | (A[i] << BigInt(lshift));
        } else r = A[i] << BigInt(lshift);
        break;
      case 12:
        if (!unsigned) return false;
        r = sat(s, sx(A[i], esize) << BigInt(lshift), esize, true);
        break;
      case 14:
        r = sat(s, a << BigInt(lshift), esize, unsigned);
        break;
      default:
        return false;
    }
    out[i] = ux(r, esize);
  }
  putLanes(s, rd, esize, out, bytes);
  return true;
}

// ---- modified immediate -------------------------------------------------------------

/** AdvSIMDExpandImm, as a 64-bit pattern [lo, hi]; null when the encoding is unallocated. */
function expandSimdImm(op: number, cmode: number, imm8: number): [number, number] | null {
  let w: number;
  switch (cmode >> 1) {
    case 0:
    case 1:
    case 2:
    case 3:
      w = imm8 << (8 * (cmode >> 1));
      return [w, w];
    case 4:
    case 5:
      w = imm8 << (8 * ((cmode >> 1) & 1));
      w = w | (w << 16);
      return [w, w];
    case 6:
      w = cmode & 1 ? (imm8 << 16) | 0xffff : (imm8 << 8) | 0xff;
      return [w, w];
    default:
      if ((cmode & 1) === 0) {
        if (op === 0) {
          w = imm8 * 0x01010101;
          return [w | 0, w | 0];
        }
        let lo = 0;
        let hi = 0;
        for (let i = 0; i < 4; i++) {
          if ((imm8 >> i) & 1) lo |= 0xff << (8 * i);
          if ((imm8 >> (i + 4)) & 1) hi |= 0xff << (8 * i);
        }
        return [lo, hi];
      }
      return null; // FMOV forms are decoded by the caller
  }
}

export function execModifiedImm(s: CpuState, insn: number): boolean {
  const q = (insn >>> 30) & 1;
  const op = (insn >>> 29) & 1;
  const cmode = (insn >>> 12) & 15;
  const o2 = (insn >>> 11) & 1;
  const imm8 = (((insn >>> 16) & 7) << 5) | ((insn >>> 5) & 31);
  const rd = insn & 31;
  const w = vviews(s).i32;
  const base = rd * 4;
  if (o2 === 1) return false; // FMOV (vector, half-precision) needs FEAT_FP16
  let imm: [number, number];
  if (cmode === 15) {
    if (op === 0) {
      const b6 = (imm8 >> 6) & 1;
      const f = ((imm8 >> 7) << 31) | ((b6 ^ 1) << 30) | ((b6 ? 0x1f : 0) << 25) | ((imm8 & 0x3f) << 19);
      imm = [f, f];
    } else {
      if (q === 0) return false;
      const b6 = (imm8 >> 6) & 1;
      imm = [0, ((imm8 >> 7) << 31) | ((b6 ^ 1) << 30) | ((b6 ? 0xff : 0) << 22) | ((imm8 & 0x3f) << 16)];
    }
  } else {
    const e = expandSimdImm(op, cmode, imm8);
    if (e === null) return false;
    imm = e;
  }
  const isOrrBic = (cmode & 1) === 1 && cmode < 12;
  const invert = op === 1 && cmode < 14 && !isOrrBic;
  const vals = [imm[0], imm[1], imm[0], imm[1]];
  for (let i = 0; i < 4; i++) {
    if (i >= 2 && q === 0) {
      w[base + i] = 0;
      continue;
    }
    const v = invert ? ~vals[i] : vals[i];
    if (isOrrBic) w[base + i] = op ? w[base + i] & ~v : w[base + i] | v;
    else w[base + i] = v;
  }
  return true;
}

// ---- vector x indexed element -------------------------------------------------------

export function execIndexed(s: CpuState, insn: number, scalar: boolean): boolean {
  const q = (insn >>> 30) & 1;
  const u = (insn >>> 29) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 15;
  const L = (insn >>> 21) & 1;
  const M = (insn >>> 20) & 1;
  const H = (insn >>> 11) & 1;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  if (opcode === 1 || opcode === 5 || opcode === 9) return fpIndexed(s, insn, scalar);
  if (size !== 1 && size !== 2) return false;
  const esize = 8 << size;
  const index = size === 1 ? (H << 2) | (L << 1) | M : (H << 1) | L;
  const rm = size === 1 ? (insn >>> 16) & 15 : (insn >>> 16) & 31;
  const elem = getLane(s, rm, index, esize);
  const unsigned = u === 1;
  const ext = (x: bigint): bigint => (unsigned ? x : sx(x, esize));
  // Same-width forms: MUL, MLA, MLS, SQDMULH, SQRDMULH
  const sameWidth = (opcode === 8 && u === 0) || (u === 1 && (opcode === 0 || opcode === 4)) || opcode === 12 || opcode === 13;
  if (sameWidth) {
    if (scalar && opcode !== 12 && opcode !== 13) return false;
    if ((opcode === 12 || opcode === 13) && u === 1) return false;
    const bytes = scalar ? 8 : q ? 16 : 8;
    const count = scalar ? 1 : (bytes * 8) / esize;
    const A = lanes(s, rn, esize, count);
    const D = lanes(s, rd, esize, count);
    const out = A.map((a, i) => {
      if (opcode === 8) return ux(a * elem, esize);
      if (opcode === 0) return ux(D[i] + a * elem, esize);
      if (opcode === 4) return ux(D[i] - a * elem, esize);
      const prod = 2n * sx(a, esize) * sx(elem, esize) + (opcode === 13 ? 1n << BigInt(esize - 1) : 0n);
      return ux(sat(s, prod >> BigInt(esize), esize, false), esize);
    });
    putLanes(s, rd, esize, out, bytes);
    return true;
  }
  // Long forms: S/UMLAL (2), S/UMLSL (6), S/UMULL (10), SQDMLAL (3), SQDMLSL (7), SQDMULL (11)
  if (![2, 6, 10, 3, 7, 11].includes(opcode)) return false;
  if ((opcode & 1) === 1 && u === 1) return false;
  if (scalar && (opcode & 1) === 0) return false;
  const wide = 2 * esize;
  const count = scalar ? 1 : 64 / esize;
  const A = lanes(s, rn, esize, count, scalar ? 0 : q * count);
  const D = lanes(s, rd, wide, count);
  const b = ext(elem);
  const out = A.map((x, i) => {
    const p = ext(x) * b;
    if (opcode & 1) {
      const d = sat(s, 2n * p, wide, false);
      if (opcode === 11) return ux(d, wide);
      return ux(sat(s, sx(D[i], wide) + (opcode === 3 ? d : -d), wide, false), wide);
    }
    if (opcode === 10) return ux(p, wide);
    return ux(opcode === 2 ? D[i] + p : D[i] - p, wide);
  });
  putLanes(s, rd, wide, out, scalar ? 8 : 16);
  return true;
}
