// The scalar FP instructions translated blocks run inline because they cannot raise an FP
// exception there: FMOV (immediate), SCVTF/UCVTF of a W register to a double, and FCMP/FCMPE
// of numbers that are neither NaN nor subnormal. NaN and subnormal operands (IOC, FPCR.FZ)
// go to the interpreter from inside the block. Both tiers run the same images and must agree
// at every batch (V registers included; FPSR and the flags each compare left are folded into
// general registers); interpreter helper calls are counted to show what went inline.
import { expect } from 'chai';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { RAM_BASE, randomData } from './harness.ts';
import { AP_EL1_RW, countCalls, expectHvc, fpOn, guestPair, mmuOn, runToExit } from './guest.ts';

const DATA = RAM_BASE + 0x40_0000;

describe('translation tier: inline scalar FP moves, conversions and compares', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  /** Each compare's NZCV folded into x10 (rotated in), so every compare's result is compared. */
  const fold = `
    mrs x9, nzcv
    eor x10, x9, x10, ror #7`;

  // Doubles and singles from the data (random bits: mostly numbers, sometimes NaNs or
  // subnormals) against each other, zero, themselves and converted integers.
  const LOOP = (compares: string) => `
    ldr x20, =${DATA}
    mov x2, #64
    mov x10, #0
  1: ldr d0, [x20], #8
    ldr d1, [x20, #8]
    ldr s2, [x20, #16]
    ldr s3, [x20, #20]
    ldr w4, [x20, #24]
    ${compares}
    fmov d5, #1.0
    fmov d6, #-0.125
    fmov d7, #31.0
    fmov s8, #0.5
    fmov s9, #-2.0
    scvtf d11, w4
    ucvtf d12, w4
    scvtf d13, w2
    fcmp d11, d12
    ${fold}
    fcmpe d12, d13
    ${fold}
    subs x2, x2, #1
    b.ne 1b
    hvc #1
    .ltorg`;
  const COMPARES = `
    fcmp d0, d1
    ${fold}
    fcmpe d1, d0
    ${fold}
    fcmp d0, #0.0
    ${fold}
    fcmpe d1, #0.0
    ${fold}
    fcmp d0, d0
    ${fold}
    fcmp s2, s3
    ${fold}
    fcmpe s3, #0.0
    ${fold}
    fcmp d5, d6
    ${fold}
    fcmp d6, d5
    ${fold}
    fcmp d5, d5
    ${fold}`;

  /** Data whose doubles and singles are all normal numbers: random signs, mantissas and moderate exponents. */
  const normalData = (seed: number, bytes: number): Uint8Array => {
    const raw = randomData(seed, bytes);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let o = 0; o + 8 <= bytes; o += 8) {
      v.setUint16(o + 6, (v.getUint16(o + 6, true) & 0x800f) | 0x3ff0, true); // exponent 1023 (+ a few bits of mantissa kept)
      if (o % 24 === 16) v.setUint32(o, (v.getUint32(o, true) & 0x807fffff) | 0x3f800000, true); // s2: exponent 127
      if (o % 24 === 16) v.setUint32(o + 4, (v.getUint32(o + 4, true) & 0x807fffff) | 0x40000000, true); // s3
    }
    return raw;
  };

  it('numbers only: every FMOV, conversion and compare inline, as the interpreter', () => {
    const code = assembleRaw(tc, `${mmuOn}\n${fpOn}\n${LOOP(COMPARES)}`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[DATA, normalData(3, 0x1000)]] });
    const calls = countCalls(p.b.tier!, ['interp']);
    expectHvc(runToExit(p), 1);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.9);
    // Each turn's twelve MRS NZCV go to the interpreter; its 20 FP instructions do not.
    expect(calls.calls, 'interpreter helper calls').to.be.at.most(12 * 64);
  });

  it('edge integers convert exactly (0, -1, INT_MIN, UINT_MAX) and their compares agree', () => {
    const words = new Uint8Array(0x1000);
    const v = new DataView(words.buffer);
    const edges = [0, -1, -0x80000000, 0x7fffffff, 1, 0x12345678];
    for (let o = 0; o + 32 <= 0x1000; o += 8) v.setInt32(o + 24, edges[(o >> 3) % edges.length], true);
    const code = assembleRaw(tc, `${mmuOn}\n${fpOn}\n${LOOP('')}`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[DATA, words]] });
    expectHvc(runToExit(p), 1);
  });

  it('NaNs, infinities, zeros of both signs and subnormals, with FZ off and on: the interpreter decides, FPSR agrees', () => {
    // Doubles: qNaN, sNaN, +inf, -inf, +0, -0, a subnormal, a normal; singles likewise.
    const specials64 = [0x7ff8000000000000n, 0x7ff0000000000001n, 0x7ff0000000000000n, 0xfff0000000000000n, 0n, 0x8000000000000000n, 1n, 0x3ff0000000000000n];
    const specials32 = [0x7fc00000, 0x7f800001, 0x7f800000, 0xff800000, 0, 0x80000000, 1, 0x3f800000];
    const data = new Uint8Array(0x1000);
    const v = new DataView(data.buffer);
    for (let o = 0, i = 0; o + 32 <= 0x1000; o += 8, i++) {
      v.setBigUint64(o, specials64[(i * 3) % 8], true);
      if (o % 24 === 16) { v.setUint32(o, specials32[i % 8], true); v.setUint32(o + 4, specials32[(i * 5) % 8], true); }
    }
    for (const fz of [false, true]) {
      const setFz = fz ? 'mov x0, #(1 << 24)\n msr fpcr, x0' : '';
      const body = `${COMPARES}
        mrs x11, fpsr
        add x12, x12, x11
        msr fpsr, xzr`;
      const code = assembleRaw(tc, `${mmuOn}\n${fpOn}\n${setFz}\n mov x12, #0\n${LOOP(body)}`);
      const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[DATA, data]] });
      expectHvc(runToExit(p), 1);
      expect(p.a.cpu.s.x[24] | p.a.cpu.s.x[25], `some compare raised IOC (FZ ${fz})`).to.not.equal(0);
    }
  });
});
