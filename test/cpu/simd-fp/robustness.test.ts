// Untrusted guest code may contain any bit pattern: whatever the encoding and register
// contents, the FP/AdvSIMD unit must either execute, decline (false), or let a memory fault
// from the VirtualMemory port propagate - never throw anything of its own.
import { expect } from 'chai';
import { execSimdFp, execSimdLoadStoreStructure } from '../../../src/accel/emu/simd-fp/index.ts';
import { CpuState, type VirtualMemory } from '../../../src/accel/emu/state.ts';
import { prng } from './values.ts';

class GuestFault extends Error {}

class SmallMemory implements VirtualMemory {
  readonly bytes = new Uint8Array(256);
  loadBytes(lo: number, hi: number, dst: Uint8Array, off: number, len: number): void {
    if (hi !== 0 || lo >>> 0 > 256 - len) throw new GuestFault('load fault');
    dst.set(this.bytes.subarray(lo, lo + len), off);
  }
  storeBytes(lo: number, hi: number, src: Uint8Array, off: number, len: number): void {
    if (hi !== 0 || lo >>> 0 > 256 - len) throw new GuestFault('store fault');
    this.bytes.set(src.subarray(off, off + len), lo);
  }
}

function randomState(rnd: () => number): CpuState {
  const s = new CpuState();
  for (let i = 0; i < 512; i++) s.vbytes[i] = Math.floor(rnd() * 256);
  for (let i = 0; i < 66; i++) s.x[i] = rnd() < 0.9 ? (i & 1 ? 0 : Math.floor(rnd() * 128)) : Math.floor(rnd() * 2 ** 32) | 0;
  s.x[62] = 0;
  s.x[63] = 0;
  s.fpcr = (Math.floor(rnd() * 16) << 22) & 0x03c00000;
  s.mem = new SmallMemory();
  return s;
}

describe('simd-fp: robustness against arbitrary encodings', function () {
  this.timeout(120000);

  it('execSimdFp never throws for random encodings in its space', () => {
    const rnd = prng(77);
    let executed = 0;
    for (let i = 0; i < 60000; i++) {
      const s = randomState(rnd);
      const insn = (Math.floor(rnd() * 2 ** 32) | 0x0e000000) >>> 0;
      if (execSimdFp(s, insn)) executed++;
    }
    expect(executed).to.be.greaterThan(1000);
  });

  it('structure loads/stores only ever throw the memory port fault', () => {
    const rnd = prng(78);
    let executed = 0;
    let faulted = 0;
    for (let i = 0; i < 30000; i++) {
      const s = randomState(rnd);
      const insn = ((Math.floor(rnd() * 2 ** 32) & 0x41ffffff) | 0x0c000000) >>> 0;
      try {
        if (execSimdLoadStoreStructure(s, insn)) executed++;
      } catch (e) {
        expect(e).to.be.instanceOf(GuestFault);
        faulted++;
      }
    }
    expect(executed).to.be.greaterThan(1000);
    expect(faulted).to.be.greaterThan(100);
  });
});
