// The double-precision fused multiply-add fast path (Boldo-Melquiond with rounding to odd)
// must agree bit for bit, flags included, with the exact bigint FPMulAdd (itself checked
// against QEMU in oracle.test.ts), above all when the addend cancels the product.
import { expect } from 'chai';
import { fpMulAdd, mulAddExact } from '../../../src/accel/emu/simd-fp/fp-arith.ts';
import { CpuState } from '../../../src/accel/emu/state.ts';
import { prng } from './values.ts';

describe('simd-fp: fast double FMA agrees with the exact path', function () {
  this.timeout(60000);

  it('random operands, cancelling addends, every rounding mode', () => {
    const rnd = prng(4242);
    const fast = new CpuState();
    const slow = new CpuState();
    const bits = new DataView(new ArrayBuffer(8));
    const hex = (x: number): string => {
      bits.setFloat64(0, x, true);
      return bits.getBigUint64(0, true).toString(16);
    };
    const failures: string[] = [];
    for (let i = 0; i < 40000 && failures.length < 5; i++) {
      const a = (rnd() - 0.5) * 2 ** Math.floor(rnd() * 80 - 40);
      const b = (rnd() - 0.5) * 2 ** Math.floor(rnd() * 80 - 40);
      const kind = Math.floor(rnd() * 4);
      let c: number;
      if (kind === 0) c = -(a * b); // result is the product's rounding error
      else if (kind === 1) c = -(a * b) * (1 + (rnd() - 0.5) * 2 ** -40); // near-cancellation
      else if (kind === 2) c = (rnd() - 0.5) * 2 ** Math.floor(rnd() * 200 - 100);
      else c = a * b * 2 ** -(Math.floor(rnd() * 60) + 1); // addend far below the product
      const fpcr = (i & 3) << 22;
      fast.fpcr = slow.fpcr = fpcr;
      fast.fpsr = slow.fpsr = 0;
      const r1 = fpMulAdd(fast, 64, c, a, b);
      const r2 = mulAddExact(slow, 64, c, a, b);
      if (hex(r1) !== hex(r2) || fast.fpsr !== slow.fpsr) {
        failures.push(`a=${a} b=${b} c=${c} fpcr=${fpcr.toString(16)}: fast ${hex(r1)}/${fast.fpsr} exact ${hex(r2)}/${slow.fpsr}`);
      }
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('single precision: random operands, cancelling addends, every rounding mode', () => {
    const rnd = prng(4343);
    const fast = new CpuState();
    const slow = new CpuState();
    const f32 = (x: number): number => {
      const dv = new DataView(new ArrayBuffer(4));
      dv.setFloat32(0, x, true);
      return dv.getUint32(0, true);
    };
    const failures: string[] = [];
    for (let i = 0; i < 40000 && failures.length < 5; i++) {
      const a = Math.fround((rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 20));
      const b = Math.fround((rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 20));
      const kind = Math.floor(rnd() * 4);
      let c: number;
      if (kind === 0) c = -Math.fround(a * b);
      else if (kind === 1) c = Math.fround(-(a * b) * (1 + (rnd() - 0.5) * 2 ** -20));
      else if (kind === 2) c = Math.fround((rnd() - 0.5) * 2 ** Math.floor(rnd() * 60 - 30));
      else c = Math.fround(a * b * 2 ** -(Math.floor(rnd() * 30) + 1));
      const fpcr = (i & 3) << 22;
      fast.fpcr = slow.fpcr = fpcr;
      fast.fpsr = slow.fpsr = 0;
      const r1 = fpMulAdd(fast, 32, f32(c), f32(a), f32(b));
      const r2 = mulAddExact(slow, 32, f32(c), f32(a), f32(b));
      if (r1 !== r2 || fast.fpsr !== slow.fpsr) {
        failures.push(`a=${a} b=${b} c=${c} fpcr=${fpcr.toString(16)}: fast ${r1.toString(16)}/${fast.fpsr} exact ${r2.toString(16)}/${slow.fpsr}`);
      }
    }
    expect(failures, failures.join('\n')).to.deep.equal([]);
  });

  it('single precision: a double sum on a single midpoint does not mislead the rounding', () => {
    // c = 1 + 2^-23, a = 1 + 2^-23, b = (1 - 2^-23) * 2^-24: a*b = 2^-24 - 2^-70, so the exact
    // sum is 1 + 2^-23 + 2^-24 - 2^-70, just below the midpoint 1 + 2^-23 + 2^-24 between
    // 1 + 2^-23 and 1 + 2^-22. Its double rounding is that midpoint, which ties-to-even
    // would round up to 1 + 2^-22; the fused result is 1 + 2^-23 (0x3f800001), inexact.
    const s = new CpuState();
    const bitsOf = (x: number): number => {
      const dv = new DataView(new ArrayBuffer(4));
      dv.setFloat32(0, x, true);
      return dv.getUint32(0, true);
    };
    const one23 = 1 + 2 ** -23;
    const r = fpMulAdd(s, 32, bitsOf(one23), bitsOf(one23), bitsOf((1 - 2 ** -23) * 2 ** -24));
    expect(r.toString(16)).to.equal('3f800001');
    expect(s.fpsr).to.equal(16);
  });
});
