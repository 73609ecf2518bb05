// AdvSIMD structure loads/stores against a flat test memory. Expected values follow from
// the Arm ARM's definition: element e of structure member k lives at offset
// (e * selem + k) * esize, and multi-register LD1 is a plain contiguous copy.
import { expect } from 'chai';
import { CpuState, type VirtualMemory } from '../../../src/accel/emu/state.ts';
import { execSimdLoadStoreStructure } from '../../../src/accel/emu/simd-fp/index.ts';
import { assemble, toolchainMissing } from './oracle.ts';

class FaultError extends Error {}

const BASE = 0x10000;

class FlatMemory implements VirtualMemory {
  readonly bytes = new Uint8Array(4096);
  private check(lo: number, hi: number, length: number): number {
    const off = (lo >>> 0) - BASE;
    if (hi !== 0 || off < 0 || off + length > this.bytes.length) throw new FaultError(`fault at ${(lo >>> 0).toString(16)}`);
    return off;
  }
  loadBytes(lo: number, hi: number, dst: Uint8Array, dstOffset: number, length: number): void {
    const off = this.check(lo, hi, length);
    dst.set(this.bytes.subarray(off, off + length), dstOffset);
  }
  storeBytes(lo: number, hi: number, src: Uint8Array, srcOffset: number, length: number): void {
    const off = this.check(lo, hi, length);
    this.bytes.set(src.subarray(srcOffset, srcOffset + length), off);
  }
}

const INSNS = [
  'ld1 {v0.16b}, [x0]', // 0
  'ld1 {v0.8b, v1.8b}, [x0], #16', // 1
  'ld1 {v0.4s, v1.4s, v2.4s, v3.4s}, [x0]', // 2
  'ld2 {v0.8h, v1.8h}, [x0]', // 3
  'ld3 {v0.16b, v1.16b, v2.16b}, [x0]', // 4
  'ld4 {v0.4s, v1.4s, v2.4s, v3.4s}, [x0]', // 5
  'st2 {v0.8h, v1.8h}, [x1]', // 6
  'st3 {v0.16b, v1.16b, v2.16b}, [x1]', // 7
  'st4 {v0.4s, v1.4s, v2.4s, v3.4s}, [x1], #64', // 8
  'ld1 {v0.s}[2], [x0]', // 9
  'ld1r {v0.8h}, [x0]', // 10
  'ld4r {v0.2d, v1.2d, v2.2d, v3.2d}, [x0]', // 11
  'st1 {v0.d}[1], [x1]', // 12
  'ld1 {v0.16b}, [x0], x2', // 13
  'ld1 {v0.16b}, [sp]', // 14
  'ld4 {v30.16b, v31.16b, v0.16b, v1.16b}, [x0]', // 15
  'ld2 {v0.b, v1.b}[13], [x0], #2', // 16
  'st1 {v0.16b, v1.16b}, [sp], #32', // 17
  'ld3 {v0.4h, v1.4h, v2.4h}, [x0]', // 18
  'ld1r {v0.8b}, [x0], #1', // 19
  'ld3 {v0.d, v1.d, v2.d}[1], [x0]', // 20
  'ld2r {v0.4s, v1.4s}, [x0], x2', // 21
  'st1 {v0.2d, v1.2d, v2.2d}, [x1]', // 22
];

describe('simd-fp: structure loads and stores', function () {
  let enc: number[] = [];
  let s: CpuState;
  let mem: FlatMemory;

  before(function () {
    if (toolchainMissing()) this.skip();
    enc = assemble(INSNS);
  });

  beforeEach(() => {
    s = new CpuState();
    mem = new FlatMemory();
    for (let i = 0; i < mem.bytes.length; i++) mem.bytes[i] = (i * 7 + 3) & 0xff;
    s.mem = mem;
    s.setX(0, BASE, 0);
    s.setX(1, BASE + 0x800, 0);
    for (let i = 0; i < 512; i++) s.vbytes[i] = 0xee;
  });

  const m = (off: number): number => mem.bytes[off];
  const vb = (reg: number, i: number): number => s.vbytes[reg * 16 + i];
  const run = (i: number): boolean => execSimdLoadStoreStructure(s, enc[i]);

  it('LD1 one register copies 16 bytes', () => {
    expect(run(0)).to.equal(true);
    for (let i = 0; i < 16; i++) expect(vb(0, i)).to.equal(m(i));
  });

  it('LD1 two 8B registers, post-index immediate, zeroes the upper halves', () => {
    expect(run(1)).to.equal(true);
    for (let i = 0; i < 8; i++) {
      expect(vb(0, i)).to.equal(m(i));
      expect(vb(1, i)).to.equal(m(8 + i));
      expect(vb(0, 8 + i)).to.equal(0);
      expect(vb(1, 8 + i)).to.equal(0);
    }
    expect(s.xlo(0)).to.equal(BASE + 16);
  });

  it('LD1 four registers is a contiguous 64-byte load', () => {
    run(2);
    for (let r = 0; r < 4; r++) for (let i = 0; i < 16; i++) expect(vb(r, i)).to.equal(m(r * 16 + i));
  });

  it('LD2 de-interleaves halfwords', () => {
    run(3);
    for (let e = 0; e < 8; e++)
      for (let k = 0; k < 2; k++)
        for (let b = 0; b < 2; b++) expect(vb(k, e * 2 + b)).to.equal(m((e * 2 + k) * 2 + b));
  });

  it('LD3 de-interleaves bytes', () => {
    run(4);
    for (let e = 0; e < 16; e++) for (let k = 0; k < 3; k++) expect(vb(k, e)).to.equal(m(e * 3 + k));
  });

  it('LD4 de-interleaves words', () => {
    run(5);
    for (let e = 0; e < 4; e++)
      for (let k = 0; k < 4; k++)
        for (let b = 0; b < 4; b++) expect(vb(k, e * 4 + b)).to.equal(m((e * 4 + k) * 4 + b));
  });

  it('ST2/ST3/ST4 re-interleave what LD2/LD3/LD4 loaded', () => {
    for (const [ld, st, len] of [
      [3, 6, 32],
      [4, 7, 48],
      [5, 8, 64],
    ]) {
      run(ld);
      run(st);
      for (let i = 0; i < len; i++) expect(m(0x800 + i), `pair ${ld}/${st} byte ${i}`).to.equal(m(i));
    }
    expect(s.xlo(1)).to.equal(BASE + 0x800 + 64);
  });

  it('LD1 single lane changes only that lane', () => {
    run(9);
    for (let i = 0; i < 16; i++) expect(vb(0, i)).to.equal(i >= 8 && i < 12 ? m(i - 8) : 0xee);
  });

  it('LD1R replicates one halfword', () => {
    run(10);
    for (let i = 0; i < 16; i++) expect(vb(0, i)).to.equal(m(i & 1));
  });

  it('LD4R replicates four doublewords into four registers', () => {
    run(11);
    for (let k = 0; k < 4; k++) for (let i = 0; i < 16; i++) expect(vb(k, i)).to.equal(m(k * 8 + (i & 7)));
  });

  it('ST1 single lane stores only that lane', () => {
    for (let i = 0; i < 16; i++) s.vbytes[i] = i + 1;
    const before = mem.bytes.slice(0x800, 0x810);
    run(12);
    for (let i = 0; i < 16; i++) expect(m(0x800 + i)).to.equal(i < 8 ? 9 + i : before[i]);
  });

  it('post-index by register adds Xm', () => {
    s.setX(2, 0x123, 0);
    run(13);
    expect(s.xlo(0)).to.equal(BASE + 0x123);
  });

  it('Rn = 31 is the stack pointer (slot 32), also for write-back', () => {
    s.setX(32, BASE + 0x40, 0);
    s.setX(0, 0, 0);
    run(14);
    for (let i = 0; i < 16; i++) expect(vb(0, i)).to.equal(m(0x40 + i));
    run(17);
    expect(s.xlo(32)).to.equal(BASE + 0x60);
    for (let i = 0; i < 16; i++) expect(m(0x40 + i)).to.equal(vb(0, i));
  });

  it('register lists wrap from V31 to V0', () => {
    run(15);
    const regs = [30, 31, 0, 1];
    for (let e = 0; e < 16; e++) for (let k = 0; k < 4; k++) expect(vb(regs[k], e)).to.equal(m(e * 4 + k));
  });

  it('LD2 single byte lane with post-index', () => {
    run(16);
    expect(vb(0, 13)).to.equal(m(0));
    expect(vb(1, 13)).to.equal(m(1));
    expect(vb(0, 12)).to.equal(0xee);
    expect(s.xlo(0)).to.equal(BASE + 2);
  });

  it('LD3 of 4H registers zeroes the upper halves', () => {
    run(18);
    for (let k = 0; k < 3; k++)
      for (let e = 0; e < 4; e++) {
        expect(vb(k, e * 2)).to.equal(m((e * 3 + k) * 2));
        expect(vb(k, e * 2 + 1)).to.equal(m((e * 3 + k) * 2 + 1));
      }
    for (let k = 0; k < 3; k++) for (let i = 8; i < 16; i++) expect(vb(k, i)).to.equal(0);
  });

  it('LD1R 8B zeroes the upper half and post-increments by one element', () => {
    run(19);
    for (let i = 0; i < 8; i++) expect(vb(0, i)).to.equal(m(0));
    for (let i = 8; i < 16; i++) expect(vb(0, i)).to.equal(0);
    expect(s.xlo(0)).to.equal(BASE + 1);
  });

  it('LD3 doubleword lane 1', () => {
    run(20);
    for (let k = 0; k < 3; k++)
      for (let i = 0; i < 16; i++) expect(vb(k, i)).to.equal(i >= 8 ? m(k * 8 + i - 8) : 0xee);
  });

  it('LD2R with register post-index', () => {
    s.setX(2, -8, -1);
    run(21);
    for (let k = 0; k < 2; k++) for (let i = 0; i < 16; i++) expect(vb(k, i)).to.equal(m(k * 4 + (i & 3)));
    expect(s.xlo(0)).to.equal(BASE - 8);
    expect(s.xhi(0)).to.equal(0);
  });

  it('ST1 three registers is a contiguous 48-byte store', () => {
    for (let i = 0; i < 48; i++) s.vbytes[i] = 200 - i;
    run(22);
    for (let i = 0; i < 48; i++) expect(m(0x800 + i)).to.equal(200 - i);
  });

  it('a faulting access propagates and leaves registers unchanged', () => {
    s.setX(0, BASE + 4090, 0);
    expect(() => run(5)).to.throw(FaultError);
    for (let i = 0; i < 64; i++) expect(s.vbytes[i]).to.equal(0xee);
    expect(() => run(1)).to.throw(FaultError);
    expect(s.xlo(0)).to.equal(BASE + 4090);
  });

  it('rejects unallocated encodings', () => {
    // LD2 {Vt.1D, Vt2.1D}: size 3 with Q=0 and more than one structure element.
    expect(execSimdLoadStoreStructure(s, 0x0c408c00 | (3 << 10))).to.equal(false);
    // LD1 single lane, S form with size<1> set (opcode 100, size 10).
    expect(execSimdLoadStoreStructure(s, 0x0d408000 | (2 << 10))).to.equal(false);
    // Non-post-index form with Rm != 0.
    expect(execSimdLoadStoreStructure(s, enc[0] | (5 << 16))).to.equal(false);
  });
});
