// FP/SIMD register loads, stores, FMOV and DUP (general) run inline in translated blocks when FP/SIMD is
// enabled and the TLB mirror covers the whole access; page crossings, MMIO, a disabled FPEN
// (the trap is taken from inside the block) and the MMU off go through the interpreter from
// inside the block. Both tiers run the same images and must agree at every batch (V
// registers and RAM included); interpreter helper calls are counted to show what went inline.
import { expect } from 'chai';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { RAM_BASE, randomData } from './harness.ts';
import { leafDescriptor } from '../../helpers/aarch64-page-tables.ts';
import { AP_EL1_RW, L1_TABLE, MMIO, countCalls, ec, expectHvc, fpOn, guestPair, mmuOn, runToExit } from './guest.ts';

const DATA = RAM_BASE + 0x40_0000;

describe('translation tier: inline FP/SIMD loads, stores, moves and DUP', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  // Every addressing form of S, D and Q registers, single and pairs, and the FMOVs, in a hot loop.
  const LOOP = `
    ldr x20, =${DATA}
    ldr x21, =${DATA + 0x8000}
    mov x2, #60
  1: ldr s0, [x20, #4]
    ldr d1, [x20, x2, lsl #3]
    ldr q2, [x20, #32]
    ldur d3, [x20, #-8]
    ldr q4, [x20, #16]!
    ldr d5, [x20], #-16
    ldp s6, s7, [x20, #8]
    ldp d8, d9, [x20, #64]
    ldp q10, q11, [x20, #96]
    ldnp d12, d13, [x20, #128]
    ldr s14, [x20, w2, sxtw #2]
    fmov x3, d1
    fmov w4, s0
    fmov d15, x3
    fmov s16, w4
    fmov d17, d8
    fmov s18, s7
    add x5, x3, x4
    fmov d19, x5
    dup v20.16b, w4
    dup v21.8h, w3
    dup v22.4s, w5
    dup v23.2d, x3
    dup v24.8b, w5
    dup v25.2s, w3
    dup v26.4h, wzr
    str d19, [x21, x2, lsl #3]
    str q2, [x21, #0x400]
    stur s6, [x21, #0xfc]
    stp q10, q11, [x21, #0x300]
    stp d8, d17, [x21, #0xf0]!
    stp s14, s18, [x21], #-0xf0
    str q4, [x21, #0x700]
    stnp q15, q16, [x21, #0x380]
    str d19, [x21, #0xf8]!
    sub x21, x21, #0xf8
    subs x2, x2, #1
    b.ne 1b
    hvc #1
    .ltorg`;

  it('every form inline on TLB hits, as the interpreter', () => {
    const code = assembleRaw(tc, `${mmuOn}\n${fpOn}\n${LOOP}`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[DATA - 0x1000, randomData(7, 0x2000)]] });
    const calls = countCalls(p.b.tier!, ['interp']);
    expectHvc(runToExit(p), 1);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.9);
    // 20 FP accesses, 7 FMOVs and 7 DUPs an iteration, 60 iterations: only the first visits of each page miss the mirror.
    expect(calls.calls, 'interpreter helper calls').to.be.lessThan(60);
  });

  it('with the MMU off every access goes through the interpreter helper, with the same results', () => {
    const code = assembleRaw(tc, `${fpOn}\n${LOOP}`);
    const p = guestPair(code, { extra: [[DATA - 0x1000, randomData(8, 0x2000)]] });
    const calls = countCalls(p.b.tier!, ['interp']);
    expectHvc(runToExit(p), 1);
    expect(calls.calls, 'interpreter helper calls (20 accesses an iteration)').to.be.greaterThan(50 * 20);
  });

  it('Q loads and stores across a page boundary, and into the next page, match the interpreter', () => {
    const code = assembleRaw(tc, `
      ${mmuOn}
      ${fpOn}
      ldr x20, =${DATA + 0xff8}
      ldr x21, =${DATA + 0x1ff8}
      mov x2, #40
    1: ldr q0, [x20]
      ldp d1, d2, [x20]
      ldp q3, q4, [x20, #-16]
      str q0, [x21]
      stp q3, q4, [x21, #-16]
      stp s1, s2, [x21, #4]
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[DATA, randomData(9, 0x4000)]] });
    expectHvc(runToExit(p, 37), 1);
  });

  it('an FP load from MMIO leaves as a data-abort exit from inside the block; a store to MMIO too', () => {
    const code = assembleRaw(tc, `
      ${mmuOn}
      ${fpOn}
      ldr x20, =${DATA}
      ldr x21, =${MMIO}
      mov x2, #20
    1: ldr d0, [x20, x2, lsl #3]
      cmp x2, #5
      csel x22, x21, x20, eq
      ldr d1, [x22, #8]
      str d0, [x22, #16]
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    // L1 entry 0: the first GiB (the MMIO region) identity mapped as one block.
    const l1Entry0 = new Uint8Array(8);
    new DataView(l1Entry0.buffer).setBigUint64(0, leafDescriptor(0, 0n, 1), true);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[L1_TABLE, l1Entry0], [DATA, randomData(10, 0x1000)]] });
    const exit = runToExit(p);
    expect(ec(exit), 'data abort').to.equal(0x24);
    expect(exit.pa).to.equal(MMIO + 8);
    // The interpreter reports no ISS for SIMD&FP loads (the VMM then emulates from the instruction, as HVF would leave it):
    // both tiers agree, which runToExit checked. Step over the load and go on to the store.
    for (const m of [p.a, p.b]) m.cpu.s.pcLo = (m.cpu.s.pcLo + 4) | 0;
    const store = runToExit(p);
    expect(ec(store), 'data abort on the store').to.equal(0x24);
    expect(store.pa).to.equal(MMIO + 16);
  });

  it('FP/SIMD disabled (CPACR_EL1.FPEN = 0): the first FP load, store or FMOV in a block traps with EC 0x07, as interpreted', () => {
    for (const insn of ['ldr d0, [x20]', 'str q1, [x20, #16]', 'ldp s2, s3, [x20, #32]', 'fmov d4, x5', 'fmov x6, d7', 'dup v8.16b, w9']) {
      const code = assembleRaw(tc, `
        ${mmuOn}
        ${fpOn}
        ldr x20, =${DATA}
        mov x2, #30
      1: add x9, x9, #1
        cmp x2, #10
        b.ne 2f
        msr cpacr_el1, xzr   // FPEN = 0 from here on
        isb
      2: add x9, x9, #2
        ${insn}
        add x9, x9, #3
        subs x2, x2, #1
        b.ne 1b
        hvc #1
        .ltorg`);
      const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[DATA, randomData(11, 0x100)]] });
      const exit = runToExit(p);
      expectHvc(exit, 0x104); // current EL with SP_ELx, synchronous vector
      expect(Number(p.b.cpu.sysregs.get(SysReg.ESR_EL1)) >>> 26, `${insn}: EC`).to.equal(0x07);
      expect(p.b.tier!.stats.translatedInstructions, `${insn}: translated`).to.be.greaterThan(50);
    }
  });
});
