// 64-bit integer helpers over 32-bit halves (int32 bit patterns), the form every value
// takes in the interpreter. Results land in `out` to avoid allocating.

export const out = { lo: 0, hi: 0 };
const TWO32 = 4294967296;

/** hi:lo + a double-precision integer (|v| < 2^53, may be negative). */
export function addNum(lo: number, hi: number, v: number): void {
  if ((v | 0) === v) { // the common case (immediates, offsets): no division
    const sum = (lo >>> 0) + (v >>> 0);
    out.lo = sum | 0;
    out.hi = (hi + (v >> 31) + (sum > 0xffffffff ? 1 : 0)) | 0;
    return;
  }
  const vlo = v >>> 0;
  const vhi = Math.floor(v / TWO32) | 0;
  const sum = (lo >>> 0) + vlo;
  out.lo = sum | 0;
  out.hi = (hi + vhi + (sum > 0xffffffff ? 1 : 0)) | 0;
}

export function lsl64(lo: number, hi: number, s: number): void {
  s &= 63;
  if (s === 0) { out.lo = lo; out.hi = hi; }
  else if (s < 32) { out.hi = (hi << s) | (lo >>> (32 - s)); out.lo = lo << s; }
  else { out.hi = lo << (s - 32); out.lo = 0; }
}

export function lsr64(lo: number, hi: number, s: number): void {
  s &= 63;
  if (s === 0) { out.lo = lo; out.hi = hi; }
  else if (s < 32) { out.lo = (lo >>> s) | (hi << (32 - s)); out.hi = hi >>> s | 0; }
  else { out.lo = hi >>> (s - 32) | 0; out.hi = 0; }
}

export function asr64(lo: number, hi: number, s: number): void {
  s &= 63;
  if (s === 0) { out.lo = lo; out.hi = hi; }
  else if (s < 32) { out.lo = (lo >>> s) | (hi << (32 - s)); out.hi = hi >> s; }
  else { out.lo = hi >> (s - 32); out.hi = hi >> 31; }
}

export function ror64(lo: number, hi: number, s: number): void {
  s &= 63;
  if (s === 0) { out.lo = lo; out.hi = hi; return; }
  if (s === 32) { out.lo = hi; out.hi = lo; return; }
  if (s > 32) { const t = lo; lo = hi; hi = t; s -= 32; }
  out.lo = (lo >>> s) | (hi << (32 - s));
  out.hi = (hi >>> s) | (lo << (32 - s));
}

export function ror32(v: number, s: number): number {
  s &= 31;
  return s === 0 ? v | 0 : ((v >>> s) | (v << (32 - s)));
}

/** Unsigned 32x32 -> 64 multiply. */
export function mulU32(a: number, b: number): void {
  a >>>= 0; b >>>= 0;
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid & 0xffff) * 65536; // mid < 2^33: & (ToInt32) is mod 2^16 exactly, % an x87 fprem loop
  out.lo = low | 0;
  out.hi = (a1 * b1 + Math.floor(mid / 65536) + Math.floor(low / TWO32)) | 0;
}

/** Low 64 bits of a 64x64 product. */
export function mul64(al: number, ah: number, bl: number, bh: number): void {
  mulU32(al, bl);
  out.hi = (out.hi + Math.imul(al, bh) + Math.imul(ah, bl)) | 0;
}

export function toBig(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

export function fromBig(v: bigint): void {
  out.lo = Number(v & 0xffffffffn) | 0;
  out.hi = Number((v >> 32n) & 0xffffffffn) | 0;
}

export function clz64(lo: number, hi: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

export function rbit32(v: number): number {
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  return (v >>> 16) | (v << 16);
}

export function rev32(v: number): number {
  return ((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24);
}

export function rev16in32(v: number): number {
  return ((v & 0x00ff00ff) << 8) | ((v >>> 8) & 0x00ff00ff);
}

// DecodeBitMasks results by (N, imms, immr, width, immediate): 4 words each, computed once.
const MASK_SLOTS = 1 << 15;
/** [wlo, whi, tlo, thi] at 4 * key; read directly (a subarray per call would allocate). */
export const maskWords = new Int32Array(MASK_SLOTS * 4);
/** 0 = not computed, 1 = valid, 2 = reserved encoding. */
const maskState = new Uint8Array(MASK_SLOTS);

/**
 * DecodeBitMasks (Arm ARM): wmask and tmask for N:imms:immr at the given width, as the
 * index of [wlo, whi, tlo, thi] in maskWords; -1 for reserved encodings.
 */
export function bitMasks(n: number, imms: number, immr: number, is64: boolean, immediate: boolean): number {
  const key = (n << 14) | (imms << 8) | (immr << 2) | (is64 ? 2 : 0) | (immediate ? 1 : 0);
  const state = maskState[key];
  if (state === 1) return key * 4;
  if (state === 2) return -1;
  const combined = (n << 6) | (~imms & 0x3f);
  const len = 31 - Math.clz32(combined);
  if (len < 1 || (!is64 && len > 5)) { maskState[key] = 2; return -1; }
  const levels = (1 << len) - 1;
  if (immediate && (imms & levels) === levels) { maskState[key] = 2; return -1; }
  const S = imms & levels, R = immr & levels;
  const d = (S - R) & levels;
  const esize = 1 << len;
  const ones = (k: number) => (k >= 64 ? (1n << 64n) - 1n : (1n << BigInt(k)) - 1n);
  const emask = ones(esize);
  const welem = ones(S + 1);
  const rot = R === 0 ? welem : ((welem >> BigInt(R)) | (welem << BigInt(esize - R))) & emask;
  const telem = ones(d + 1);
  const width = is64 ? 64 : 32;
  let w = 0n, t = 0n;
  for (let i = 0; i < width; i += esize) {
    w |= rot << BigInt(i);
    t |= telem << BigInt(i);
  }
  maskWords.set([Number(w & 0xffffffffn) | 0, Number((w >> 32n) & 0xffffffffn) | 0, Number(t & 0xffffffffn) | 0, Number((t >> 32n) & 0xffffffffn) | 0], key * 4);
  maskState[key] = 1;
  return key * 4;
}

/** High 64 bits of the unsigned 128-bit product (UMULH), in 16-bit limbs to stay exact in doubles. */
export function umulh64(al: number, ah: number, bl: number, bh: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, a2 = ah & 0xffff, a3 = ah >>> 16;
  const b0 = bl & 0xffff, b1 = bl >>> 16, b2 = bh & 0xffff, b3 = bh >>> 16;
  let c = a0 * b0;
  c = Math.floor(c / 65536) + a0 * b1 + a1 * b0;
  c = Math.floor(c / 65536) + a0 * b2 + a1 * b1 + a2 * b0;
  c = Math.floor(c / 65536) + a0 * b3 + a1 * b2 + a2 * b1 + a3 * b0;
  c = Math.floor(c / 65536) + a1 * b3 + a2 * b2 + a3 * b1;
  const r4 = c & 0xffff;
  c = Math.floor(c / 65536) + a2 * b3 + a3 * b2;
  const r5 = c & 0xffff;
  c = Math.floor(c / 65536) + a3 * b3;
  const r6 = c & 0xffff;
  const r7 = Math.floor(c / 65536);
  out.lo = r4 | (r5 << 16);
  out.hi = r6 | (r7 << 16);
}

/** SMULH from UMULH: subtract the other operand from the high half for each negative one. */
export function smulh64(al: number, ah: number, bl: number, bh: number): void {
  umulh64(al, ah, bl, bh);
  let lo = out.lo, hi = out.hi;
  if (ah < 0) { const d = (lo >>> 0) - (bl >>> 0); hi = (hi - bh - (d < 0 ? 1 : 0)) | 0; lo = d | 0; }
  if (bh < 0) { const d = (lo >>> 0) - (al >>> 0); hi = (hi - ah - (d < 0 ? 1 : 0)) | 0; lo = d | 0; }
  out.lo = lo;
  out.hi = hi;
}

function crcTable(poly: number): Int32Array {
  const t = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[i] = c;
  }
  return t;
}
const CRC32 = crcTable(0xedb88320);
const CRC32C = crcTable(0x82f63b78);

export function crc32(acc: number, lo: number, hi: number, bytes: number, castagnoli: boolean): number {
  const t = castagnoli ? CRC32C : CRC32;
  let c = acc;
  for (let i = 0; i < bytes; i++) {
    const b = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
    c = t[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return c | 0;
}
