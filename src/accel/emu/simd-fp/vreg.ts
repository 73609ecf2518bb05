// Element-level access to the V register file (little-endian lanes inside state.vbytes).
import type { CpuState } from '../state.ts';

interface VViews {
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  i32: Int32Array;
  f64: Float64Array;
}

const viewCache = new WeakMap<CpuState, VViews>();

/** Typed views over the 32 V registers of one CPU (created once per CpuState). */
export function vviews(s: CpuState): VViews {
  let v = viewCache.get(s);
  if (v === undefined) {
    const off = s.vbytes.byteOffset;
    v = {
      u8: s.vbytes,
      u16: new Uint16Array(s.buffer, off, 256),
      u32: new Uint32Array(s.buffer, off, 128),
      i32: s.v32,
      f64: s.vf64,
    };
    viewCache.set(s, v);
  }
  return v;
}

/** Read lane `idx` of width `esize` bits of V[reg] as an unsigned bigint. */
export function getLane(s: CpuState, reg: number, idx: number, esize: number): bigint {
  const v = vviews(s);
  switch (esize) {
    case 8:
      return BigInt(v.u8[reg * 16 + idx]);
    case 16:
      return BigInt(v.u16[reg * 8 + idx]);
    case 32:
      return BigInt(v.u32[reg * 4 + idx]);
    default: {
      const w = reg * 4 + idx * 2;
      return (BigInt(v.u32[w + 1]) << 32n) | BigInt(v.u32[w]);
    }
  }
}

/** Write lane `idx` of V[reg] (value truncated to esize bits); other lanes unchanged. */
export function setLane(s: CpuState, reg: number, idx: number, esize: number, value: bigint): void {
  const v = vviews(s);
  switch (esize) {
    case 8:
      v.u8[reg * 16 + idx] = Number(value & 0xffn);
      return;
    case 16:
      v.u16[reg * 8 + idx] = Number(value & 0xffffn);
      return;
    case 32:
      v.u32[reg * 4 + idx] = Number(value & 0xffffffffn);
      return;
    default: {
      const w = reg * 4 + idx * 2;
      v.u32[w] = Number(value & 0xffffffffn);
      v.u32[w + 1] = Number((value >> 32n) & 0xffffffffn);
    }
  }
}

/** Read a lane of width <= 32 as an unsigned number. */
export function getLaneNum(s: CpuState, reg: number, idx: number, esize: number): number {
  const v = vviews(s);
  if (esize === 8) return v.u8[reg * 16 + idx];
  if (esize === 16) return v.u16[reg * 8 + idx];
  return v.u32[reg * 4 + idx];
}

/** Write a lane of width <= 32 from a number (truncated). */
export function setLaneNum(s: CpuState, reg: number, idx: number, esize: number, value: number): void {
  const v = vviews(s);
  if (esize === 8) v.u8[reg * 16 + idx] = value;
  else if (esize === 16) v.u16[reg * 8 + idx] = value;
  else v.u32[reg * 4 + idx] = value;
}

/** Zero bits 127:64 of V[reg] (every 64-bit vector or scalar write does this). */
export function clearHigh(s: CpuState, reg: number): void {
  const u32 = vviews(s).u32;
  u32[reg * 4 + 2] = 0;
  u32[reg * 4 + 3] = 0;
}

/** Zero the whole of V[reg]. */
export function clearReg(s: CpuState, reg: number): void {
  vviews(s).u32.fill(0, reg * 4, reg * 4 + 4);
}

/** Copy of the 16 bytes of V[reg] (to read operands before a destination that aliases them is written). */
export function readReg(s: CpuState, reg: number): Uint8Array {
  return s.vbytes.slice(reg * 16, reg * 16 + 16);
}

/** Write 16 bytes into V[reg]; if `bytes` is 8, the top half is zeroed. */
export function writeReg(s: CpuState, reg: number, src: Uint8Array, bytes: number): void {
  s.vbytes.set(src.subarray(0, bytes), reg * 16);
  if (bytes < 16) s.vbytes.fill(0, reg * 16 + bytes, reg * 16 + 16);
}

/** Lane read from a detached 16-byte (or longer) buffer. */
export function bufLane(buf: Uint8Array, idx: number, esize: number): bigint {
  const n = esize >> 3;
  let r = 0n;
  for (let i = n - 1; i >= 0; i--) r = (r << 8n) | BigInt(buf[idx * n + i]);
  return r;
}

/** Lane write into a detached buffer. */
export function setBufLane(buf: Uint8Array, idx: number, esize: number, value: bigint): void {
  const n = esize >> 3;
  let v = value;
  for (let i = 0; i < n; i++) {
    buf[idx * n + i] = Number(v & 0xffn);
    v >>= 8n;
  }
}
