// Architectural state of one software vCPU, laid out for speed in V8: 64-bit values are
// kept as 32-bit halves in typed arrays (BigInt arithmetic is ~20x slower), and every
// array lives in one ArrayBuffer so a later WebAssembly tier can share the layout.
//
// Contract between the CPU parts (core decoder, system/MMU, FP & AdvSIMD):
//  - General register n (0..30): lo = x[2n], hi = x[2n+1], as signed int32 bit patterns.
//    Slot 31 is the zero register: it always reads 0 (writers must not leave it non-zero;
//    use setX/setX32, which discard writes to 31). The current stack pointer lives in slot 32.
//  - V register n (0..31): 16 bytes at vbytes[16n..16n+15], little-endian (byte 0 is the
//    least significant). v32/vf32/vf64 are views of the same bytes.
//  - Memory is reached only through the VirtualMemory port (MMU + RAM + MMIO), which
//    throws a GuestException for faults and exits; the run loop catches it.
// The registers open the vCPU's state area, whose full layout is in state-area.ts.

import { OFF_MONITOR, OFF_PEER_MONITORS, OFF_SYSREG_MIRROR, STATE_AREA_BYTES, SYSREG_MIRROR_COUNT } from './state-area.ts';

export const SLOT_ZR = 31;
export const SLOT_SP = 32;

/** Where a state area lives: a WebAssembly memory and the area's offset in it. */
export interface StateArea {
  memory: WebAssembly.Memory;
  base: number;
}

export interface VirtualMemory {
  /** Load `length` bytes from virtual address hi:lo into dst[dstOffset..]. */
  loadBytes(lo: number, hi: number, dst: Uint8Array, dstOffset: number, length: number): void;
  /** Store `length` bytes from src[srcOffset..] at virtual address hi:lo. */
  storeBytes(lo: number, hi: number, src: Uint8Array, srcOffset: number, length: number): void;
}

export class CpuState {
  /**
   * The memory holding this state area (at `base`), so translated code (translator/) reads
   * the registers in place: the vCPU's own, or guest RAM's (arena.ts), where translated
   * loads and stores also reach RAM directly.
   */
  readonly memory: WebAssembly.Memory;
  readonly base: number;
  readonly buffer: ArrayBuffer;
  /** General registers as int32 halves; see the contract above. */
  readonly x: Int32Array;
  /** SIMD&FP registers. */
  readonly vbytes: Uint8Array;
  readonly v32: Int32Array;
  readonly vf32: Float32Array;
  readonly vf64: Float64Array;

  /** Program counter halves. */
  pcLo = 0;
  pcHi = 0;
  /** NZCV flags as separate 0/1 numbers (cheaper to update than a packed word). */
  n = 0;
  z = 0;
  c = 0;
  v = 0;
  fpcr = 0;
  fpsr = 0;

  /** Set by the core; FP & AdvSIMD code reaches memory through it. */
  mem!: VirtualMemory;

  /** See OFF_PEER_MONITORS. */
  readonly peerMonitors: Int32Array;
  /** See OFF_SYSREG_MIRROR (SysRegStore writes it). */
  readonly sysregMirror: BigInt64Array;
  /** See OFF_MONITOR: reserved PA low and high words (both -1: none), size, other vCPUs. */
  readonly monitor: Int32Array;

  constructor(area?: StateArea) {
    const pages = Math.ceil(STATE_AREA_BYTES / 65536);
    this.memory = area?.memory ?? new WebAssembly.Memory({ initial: pages, maximum: pages });
    this.base = area?.base ?? 0;
    // 33 GPR slots x 2 words, then 32 V registers x 16 bytes.
    const gprBytes = 33 * 8, b = this.base;
    this.buffer = this.memory.buffer;
    this.x = new Int32Array(this.buffer, b, 66);
    this.vbytes = new Uint8Array(this.buffer, b + gprBytes, 512);
    this.v32 = new Int32Array(this.buffer, b + gprBytes, 128);
    this.vf32 = new Float32Array(this.buffer, b + gprBytes, 128);
    this.vf64 = new Float64Array(this.buffer, b + gprBytes, 64);
    this.peerMonitors = new Int32Array(this.buffer, b + OFF_PEER_MONITORS, 1);
    this.sysregMirror = new BigInt64Array(this.buffer, b + OFF_SYSREG_MIRROR, SYSREG_MIRROR_COUNT);
    this.monitor = new Int32Array(this.buffer, b + OFF_MONITOR, 4).fill(0);
    this.monitor[0] = -1; this.monitor[1] = -1;
  }

  /** Low 32 bits of Xn (n = 31 reads as zero). */
  xlo(n: number): number {
    return this.x[n << 1];
  }
  /** High 32 bits of Xn (n = 31 reads as zero). */
  xhi(n: number): number {
    return this.x[(n << 1) | 1];
  }
  /** Write Xn = hi:lo; writes to 31 (XZR) are discarded. */
  setX(n: number, lo: number, hi: number): void {
    if (n !== SLOT_ZR) {
      this.x[n << 1] = lo;
      this.x[(n << 1) | 1] = hi;
    }
  }
  /** Write Wn (upper half zeroed); writes to 31 are discarded. */
  setX32(n: number, lo: number): void {
    if (n !== SLOT_ZR) {
      this.x[n << 1] = lo;
      this.x[(n << 1) | 1] = 0;
    }
  }
  getXBig(n: number): bigint {
    return (BigInt(this.x[(n << 1) | 1] >>> 0) << 32n) | BigInt(this.x[n << 1] >>> 0);
  }
  setXBig(n: number, value: bigint): void {
    this.setX(n, Number(value & 0xffffffffn) | 0, Number((value >> 32n) & 0xffffffffn) | 0);
  }
  get pcBig(): bigint {
    return (BigInt(this.pcHi >>> 0) << 32n) | BigInt(this.pcLo >>> 0);
  }
  set pcBig(value: bigint) {
    this.pcLo = Number(value & 0xffffffffn) | 0;
    this.pcHi = Number((value >> 32n) & 0xffffffffn) | 0;
  }
}
