// Number-based fast paths for the integer lane operations that glibc's string functions
// and vectorised loops execute most (lanes of 8/16/32 bits). They compute exactly what the
// generic bigint paths in simd-integer.ts compute; anything else returns false there.
import type { CpuState } from '../state.ts';
import { clearHigh, vviews } from './vreg.ts';

const out = new Uint32Array(16);

function laneArray(s: CpuState, esize: number): Uint8Array | Uint16Array | Uint32Array {
  const v = vviews(s);
  return esize === 8 ? v.u8 : esize === 16 ? v.u16 : v.u32;
}

function signed(x: number, esize: number): number {
  const sh = 32 - esize;
  return (x << sh) >> sh;
}

function commit(s: CpuState, arr: Uint8Array | Uint16Array | Uint32Array, base: number, count: number, rd: number, bytes: number): void {
  for (let i = 0; i < count; i++) arr[base + i] = out[i];
  if (bytes === 8) clearHigh(s, rd);
}

/** Three-same opcodes handled here: ADD/SUB, CMEQ/CMTST, CMGT/CMHI, CMGE/CMHS, MAX/MIN, MUL/MLA/MLS, pairwise. */
export function fastThreeSame(
  s: CpuState,
  opcode: number,
  u: number,
  esize: number,
  count: number,
  rn: number,
  rm: number,
  rd: number,
  bytes: number,
): boolean {
  const arr = laneArray(s, esize);
  const per = 128 / esize;
  const nb = rn * per;
  const mb = rm * per;
  const db = rd * per;
  switch (opcode) {
    case 16:
      for (let i = 0; i < count; i++) out[i] = u ? arr[nb + i] - arr[mb + i] : arr[nb + i] + arr[mb + i];
      break;
    case 17:
      for (let i = 0; i < count; i++) {
        const a = arr[nb + i];
        const b = arr[mb + i];
        out[i] = (u ? a === b : (a & b) !== 0) ? 0xffffffff : 0;
      }
      break;
    case 6:
    case 7:
      for (let i = 0; i < count; i++) {
        let a = arr[nb + i];
        let b = arr[mb + i];
        if (!u) {
          a = signed(a, esize);
          b = signed(b, esize);
        }
        out[i] = (opcode === 6 ? a > b : a >= b) ? 0xffffffff : 0;
      }
      break;
    case 12:
    case 13:
      for (let i = 0; i < count; i++) {
        const a = arr[nb + i];
        const b = arr[mb + i];
        const x = u ? a : signed(a, esize);
        const y = u ? b : signed(b, esize);
        out[i] = (opcode === 12 ? x >= y : x <= y) ? a : b;
      }
      break;
    case 18:
    case 19:
      if (opcode === 19 && u) return false; // PMUL
      for (let i = 0; i < count; i++) {
        const p = Math.imul(arr[nb + i], arr[mb + i]);
        out[i] = opcode === 19 ? p : u ? arr[db + i] - p : arr[db + i] + p;
      }
      break;
    case 20:
    case 21:
    case 23: {
      if (opcode === 23 && u) return false;
      for (let i = 0; i < count; i++) {
        const src = 2 * i < count ? nb : mb;
        const k = (2 * i) % count;
        const a = arr[src + k];
        const b = arr[src + k + 1];
        if (opcode === 23) out[i] = a + b;
        else {
          const x = u ? a : signed(a, esize);
          const y = u ? b : signed(b, esize);
          out[i] = (opcode === 20 ? x >= y : x <= y) ? a : b;
        }
      }
      break;
    }
    default:
      return false;
  }
  commit(s, arr, db, count, rd, bytes);
  return true;
}

/** ADD/SUB, CMEQ/CMTST on 64-bit lanes, as 32-bit halves with carry. */
export function fastThreeSame64(s: CpuState, opcode: number, u: number, count: number, rn: number, rm: number, rd: number): boolean {
  if (opcode !== 16 && opcode !== 17) return false;
  const w = vviews(s).u32;
  for (let i = 0; i < count; i++) {
    const alo = w[rn * 4 + 2 * i];
    const ahi = w[rn * 4 + 2 * i + 1];
    const blo = w[rm * 4 + 2 * i];
    const bhi = w[rm * 4 + 2 * i + 1];
    if (opcode === 16) {
      const lo = u ? alo - blo : alo + blo;
      const carry = u ? (lo < 0 ? -1 : 0) : lo > 0xffffffff ? 1 : 0;
      out[2 * i] = lo;
      out[2 * i + 1] = (u ? ahi - bhi : ahi + bhi) + carry;
    } else {
      const hit = u ? alo === blo && ahi === bhi : (alo & blo) !== 0 || (ahi & bhi) !== 0;
      out[2 * i] = out[2 * i + 1] = hit ? 0xffffffff : 0;
    }
  }
  for (let i = 0; i < 2 * count; i++) w[rd * 4 + i] = out[i];
  return true;
}

/** ADDV, SMAXV/UMAXV, SMINV/UMINV for 8/16/32-bit lanes. */
export function fastAcross(s: CpuState, opcode: number, u: number, esize: number, count: number, rn: number, rd: number): boolean {
  if (opcode !== 10 && opcode !== 26 && !(opcode === 27 && u === 0)) return false;
  const arr = laneArray(s, esize);
  const base = rn * (128 / esize);
  let acc = u ? arr[base] : signed(arr[base], esize);
  for (let i = 1; i < count; i++) {
    const x = u ? arr[base + i] : signed(arr[base + i], esize);
    if (opcode === 27) acc += x;
    else if (opcode === 10 ? x > acc : x < acc) acc = x;
  }
  const w = vviews(s).u32;
  w.fill(0, rd * 4, rd * 4 + 4);
  arr[rd * (128 / esize)] = acc;
  return true;
}

/** USHR/SSHR/SHL (vector, 8/16/32-bit lanes) and SHRN from 16/32-bit lanes. */
export function fastShift(
  s: CpuState,
  opcode: number,
  u: number,
  esize: number,
  immhb: number,
  q: number,
  rn: number,
  rd: number,
): boolean {
  if (opcode === 16 && u === 0) {
    // SHRN/SHRN2: source lanes are 2*esize <= 32 bits
    if (esize > 16) return false;
    const src = laneArray(s, esize * 2);
    const dst = laneArray(s, esize);
    const shift = 2 * esize - immhb;
    const count = 64 / esize;
    const sb = rn * (64 / esize);
    for (let i = 0; i < count; i++) out[i] = src[sb + i] >>> shift;
    const db = rd * (128 / esize) + (q ? count : 0);
    for (let i = 0; i < count; i++) dst[db + i] = out[i];
    if (!q) clearHigh(s, rd);
    return true;
  }
  if (opcode !== 0 && !(opcode === 10 && u === 0)) return false;
  const arr = laneArray(s, esize);
  const per = 128 / esize;
  const count = (q ? 128 : 64) / esize;
  for (let i = 0; i < count; i++) {
    const a = arr[rn * per + i];
    if (opcode === 10) out[i] = a << (immhb - esize);
    else {
      const sh = 2 * esize - immhb;
      out[i] = sh >= 32 ? (u ? 0 : signed(a, esize) >> 31) : u ? a >>> sh : signed(a, esize) >> sh;
    }
  }
  commit(s, arr, rd * per, count, rd, q ? 16 : 8);
  return true;
}
