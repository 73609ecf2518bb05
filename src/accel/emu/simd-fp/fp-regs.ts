// Scalar FP register access (H/S/D views of V registers) and condition evaluation.
import type { CpuState } from '../state.ts';
import { vviews } from './vreg.ts';

/** Raw scalar value of V[reg] for esize 16/32 (bits) or 64 (double). */
export function readFp(s: CpuState, reg: number, esize: number): number {
  const v = vviews(s);
  if (esize === 64) return v.f64[reg * 2];
  if (esize === 32) return v.u32[reg * 4];
  return v.u16[reg * 8];
}

/** Write a scalar FP result; the rest of the 128-bit register is zeroed. */
export function writeFp(s: CpuState, reg: number, esize: number, raw: number): void {
  const v = vviews(s);
  const w = reg * 4;
  if (esize === 64) {
    v.f64[reg * 2] = raw;
  } else if (esize === 32) {
    v.u32[w] = raw;
    v.u32[w + 1] = 0;
  } else {
    v.u32[w] = raw & 0xffff;
    v.u32[w + 1] = 0;
  }
  v.u32[w + 2] = 0;
  v.u32[w + 3] = 0;
}

/** ConditionHolds for a 4-bit condition code. */
export function conditionHolds(s: CpuState, cond: number): boolean {
  let r: boolean;
  switch (cond >> 1) {
    case 0:
      r = s.z === 1;
      break;
    case 1:
      r = s.c === 1;
      break;
    case 2:
      r = s.n === 1;
      break;
    case 3:
      r = s.v === 1;
      break;
    case 4:
      r = s.c === 1 && s.z === 0;
      break;
    case 5:
      r = s.n === s.v;
      break;
    case 6:
      r = s.n === s.v && s.z === 0;
      break;
    default:
      return true; // AL and NV both always hold
  }
  return (cond & 1) !== 0 ? !r : r;
}

export function setNzcv(s: CpuState, nzcv: number): void {
  s.n = (nzcv >> 3) & 1;
  s.z = (nzcv >> 2) & 1;
  s.c = (nzcv >> 1) & 1;
  s.v = nzcv & 1;
}
