// Lane arithmetic shared by the AdvSIMD integer groups: signed/unsigned views of bigint
// lanes, saturation (setting FPSR.QC) and the Arm shift-by-register semantics.
import type { CpuState } from '../state.ts';
import { FPSR_QC } from './softfloat.ts';
import { clearHigh, getLane, setLane } from './vreg.ts';

export function sx(x: bigint, esize: number): bigint {
  return BigInt.asIntN(esize, x);
}

export function ux(x: bigint, esize: number): bigint {
  return BigInt.asUintN(esize, x);
}

/** Clamp to the signed (or unsigned) esize range, setting QC on saturation. */
export function sat(s: CpuState, x: bigint, esize: number, unsigned: boolean): bigint {
  const e = BigInt(esize);
  const max = unsigned ? (1n << e) - 1n : (1n << (e - 1n)) - 1n;
  const min = unsigned ? 0n : -(1n << (e - 1n));
  if (x > max) {
    s.fpsr |= FPSR_QC;
    return max;
  }
  if (x < min) {
    s.fpsr |= FPSR_QC;
    return min;
  }
  return x;
}

/** Read `count` lanes of V[reg] (snapshot, so a later write to the same register is safe). */
export function lanes(s: CpuState, reg: number, esize: number, count: number, first = 0): bigint[] {
  const r = new Array<bigint>(count);
  for (let i = 0; i < count; i++) r[i] = getLane(s, reg, first + i, esize);
  return r;
}

/** Write lanes 0..n-1 of V[reg]; `bytes` (8 or 16) of the register are defined, the rest zeroed. */
export function putLanes(s: CpuState, reg: number, esize: number, vals: bigint[], bytes: number): void {
  for (let i = 0; i < vals.length; i++) setLane(s, reg, i, esize, vals[i]);
  if (bytes <= 8) {
    const used = (vals.length * esize) >> 3;
    if (used < 8) s.vbytes.fill(0, reg * 16 + used, reg * 16 + 8);
    clearHigh(s, reg);
  }
}

/**
 * Shift `a` (already sign- or zero-extended) by a signed amount as SSHL/USHL and friends do:
 * positive shifts left, negative shifts right (arithmetic for signed), optional rounding.
 */
export function shiftBy(a: bigint, shift: number, round: boolean): bigint {
  if (shift >= 0) return a << BigInt(Math.min(shift, 128));
  const sh = BigInt(Math.min(-shift, 128));
  const rc = round ? 1n << (sh - 1n) : 0n;
  return (a + rc) >> sh;
}

export function countLeadingZeros(x: bigint, esize: number): number {
  let n = 0;
  for (let i = esize - 1; i >= 0; i--) {
    if ((x >> BigInt(i)) & 1n) break;
    n++;
  }
  return n;
}
