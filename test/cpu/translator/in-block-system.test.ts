// System instructions inside translated blocks, through the interpreter helper: MRS
// continues the block; MSR (register and immediate), TLBI, IC and AT end it after the
// instruction, and leave for the batch loop when it must see what they did (an unmasked
// interrupt, a new translation regime or epoch) before the next one. A VMM-trapped MRS ends the block and leaves as a precise EC 0x18 exit.
import { expect } from 'chai';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { BlockGen } from '../../../src/accel/emu/translator/codegen.ts';
import { Code } from '../../../src/accel/emu/translator/wasm.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { RAM_BASE } from './harness.ts';
import { CTR_EL0, DCZID_EL0 } from '../../../src/accel/emu/id-registers.ts';
import { AP_EL1_RW, IMAGE, L1_TABLE, countCalls, ec, expectHvc, guestPair, mmuOn, runToExit, thrownFromTranslated, wrapDispatch, writeTables } from './guest.ts';

/** What the code generator makes of one instruction word. */
function kind(word: number): 'next' | 'end' | false {
  return new BlockGen(new Code(), BigInt(IMAGE), { chain: () => -1 }).insn(word);
}

const word = (bytes: Uint8Array, i = 0): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(4 * i, true);

describe('translation tier: system instructions inside blocks', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  it('MRS continues the block; MSR, TLBI, IC and AT end it after the instruction', () => {
    const cases: [string, 'next' | 'end'][] = [
      ['mrs x1, sp_el0', 'next'], ['mrs x1, tpidr_el1', 'next'], ['mrs x1, daif', 'next'], ['mrs x1, nzcv', 'next'],
      ['mrs x1, cntvct_el0', 'next'], ['dc zva, x1', 'next'], ['dc civac, x1', 'next'],
      ['msr daifset, #2', 'end'], ['msr daifclr, #2', 'end'], ['msr spsel, #0', 'end'], ['msr tpidr_el1, x1', 'end'],
      ['msr ttbr0_el1, x1', 'end'], ['msr nzcv, x1', 'end'], ['tlbi vmalle1', 'end'], ['tlbi vae1is, x1', 'end'],
      ['ic iallu', 'end'], ['ic ivau, x1', 'end'], ['at s1e1r, x1', 'end'],
    ];
    // Registers that always trap to the VMM are left to the interpreter: the block ends before them.
    const traps = ['mrs x1, s3_0_c12_c12_0' /* ICC_IAR1_EL1 */, 'msr s3_0_c12_c12_1, x1' /* ICC_EOIR1_EL1 */, 'msr s3_0_c4_c6_0, x1' /* ICC_PMR_EL1 */,
      'mrs x1, s3_3_c9_c12_0' /* PMCR_EL0 */, 'mrs x1, s3_3_c14_c2_1' /* CNTP_CTL_EL0 */];
    const trapBin = assembleRaw(tc, traps.join('\n'));
    traps.forEach((s, i) => expect(kind(word(trapBin, i)), s).to.equal(false));
    const bin = assembleRaw(tc, cases.map(([s]) => s).join('\n'));
    cases.forEach(([s, k], i) => expect(kind(word(bin, i)), s).to.equal(k));
  });

  it('hints and barriers continue the block; YIELD, WFE and WFI stay with the batch loop', () => {
    const cases: [string, 'next' | 'end' | false][] = [
      ['nop', 'next'], ['hint #25', 'next'] /* PACIASP */, ['hint #29', 'next'] /* AUTIASP */, ['hint #34', 'next'] /* BTI c */,
      ['hint #20', 'next'] /* CSDB */, ['sev', 'next'], ['sevl', 'next'], ['dmb ish', 'next'], ['dsb sy', 'next'], ['isb', 'next'],
      ['clrex', 'next'], ['yield', false], ['wfe', false], ['wfi', false],
    ];
    const bin = assembleRaw(tc, cases.map(([s]) => s).join('\n'));
    cases.forEach(([s, k], i) => expect(kind(word(bin, i)), s).to.equal(k));
  });

  it('MRS and MSR of SP_EL0, TPIDR_EL1, DAIF, NZCV, SPSel and CNTVCT in a hot loop: as interpreted', () => {
    const code = assembleRaw(tc, `
      ldr x20, =${RAM_BASE + 0x40_0000}
      msr sp_el0, x20
      mov x2, #50
    1: mrs x3, sp_el0
      add x3, x3, #16
      msr sp_el0, x3
      mrs x4, tpidr_el1
      add x4, x4, x2
      msr tpidr_el1, x4
      msr daifclr, #4
      mrs x5, daif
      msr daifset, #4
      add x6, x6, x5, lsr #6
      cmp x2, #25
      mrs x7, nzcv
      eor x7, x7, #(1 << 29)
      msr nzcv, x7
      cset x8, cs
      add x9, x9, x8
      msr spsel, #0              // SP = SP_EL0 ...
      mov x10, sp
      mrs x16, sp_el0            // (what the interpreter reads with SPSel 0: SP)
      add x17, x17, x16
      msr spsel, #1              // ... and back to SP_EL1
      add x11, x11, x10
      mrs x12, cntvct_el0
      mrs x13, cntvct_el0
      cmp x13, x12
      cset x14, hs               // the counter does not go back
      add x15, x15, x14
      mov x12, #0                // (its value differs between the two CPUs)
      mov x13, #0
      mrs x18, ctr_el0           // constants, inline at EL1
      mrs x19, dczid_el0
      add x21, x21, x18
      add x22, x22, x19
      dc cvau, x20               // no-ops, as interpreted
      dc civac, x20
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code);
    const calls = countCalls(p.b.tier!, ['interp']);
    expectHvc(runToExit(p), 1);
    const x = (n: number) => p.b.cpu.s.x[2 * n];
    expect(x(15), 'CNTVCT monotonic').to.equal(50);
    expect(x(21), 'CTR_EL0 x 50').to.equal(Number(CTR_EL0 & 0xffffffffn) * 50 % 2 ** 32 | 0);
    expect(x(22), 'DCZID_EL0 x 50').to.equal(Number(DCZID_EL0) * 50);
    // MRS NZCV and CNTVCT (twice) call the interpreter helper (the MSRs go through `sys`); CTR_EL0, DCZID_EL0 and DC do not.
    expect(calls.calls / 50, 'interpreter calls an iteration').to.be.lessThan(5);
    expect(x(9), 'C after MSR NZCV (x2 < 25)').to.equal(24);
    expect(Number(p.b.cpu.sysregs.get(SysReg.TPIDR_EL1)), 'TPIDR_EL1').to.equal((50 * 51) / 2);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.8);
  });

  it('MRS of SP_EL0, TPIDR_EL1, TPIDR_EL0, TPIDRRO_EL0 and DAIF at EL1 read the state area inline, without a helper', () => {
    const code = assembleRaw(tc, `
      ldr x20, =${RAM_BASE + 0x40_0000}
      msr sp_el0, x20
      ldr x0, =0x123456789
      msr tpidrro_el0, x0
      mov x2, #60
    1: mrs x3, sp_el0
      add x3, x3, #16
      mrs x4, tpidr_el1
      add x4, x4, x2
      mrs x5, tpidr_el0
      add x5, x5, #3
      mrs x6, tpidrro_el0
      add x7, x7, x6
      mrs x8, daif
      add x9, x9, x8, lsr #6
      cmp x2, #30
      b.ne 2f
      msr sp_el0, x3             // each write ends the block; the next run reads the new value
      msr tpidr_el1, x4
      msr tpidr_el0, x5
      msr daifclr, #4
    2: subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code);
    const mrs = countCalls(p.b.tier!, ['interp'], { args: ([insn]) => ((insn & 0xfff00000) >>> 0) === 0xd5300000 });
    expectHvc(runToExit(p), 1);
    const x = (n: number) => p.b.cpu.s.x[2 * n];
    expect(x(3) - (RAM_BASE + 0x40_0000), 'SP_EL0 + 16 after its write').to.equal(16 + 16);
    expect(x(9), 'DAIF.I summed').to.equal(31 * 0xf + 29 * 0xb);
    expect(mrs.calls, 'MRS in the interpreter helper').to.equal(0);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.8);
  });

  it('DC ZVA on a writable mirrored page zeroes inline; on a page of translated code it invalidates the code', () => {
    // f's first 64 bytes are zeroed while f is hot: the next call must fault on UDF #0 (vector 4).
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${RAM_BASE + 0x20_0000}
      mov x2, #40
    1: mov x3, #-1
      str x3, [x20, #56]
      str x3, [x20, #64]
      dc zva, x20
      ldr x4, [x20, #56]
      add x5, x5, x4
      ldr x4, [x20, #64]
      add x6, x6, x4
      add x20, x20, #128
      bl f
      subs x2, x2, #1
      b.ne 1b
      adr x21, f
      dc zva, x21
      bl f
      hvc #1
      .balign 4096
    f: add x7, x7, #1
      ret
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW] });
    const interp = countCalls(p.b.tier!, ['interp']);
    const exit = runToExit(p);
    expectHvc(exit, 0x104); // current EL with SP_ELx, synchronous: the zeroed f
    const x = (n: number) => p.b.cpu.s.x[2 * n];
    expect([x(5), x(6), x(7)], 'zeroed word, untouched word, calls of f').to.deep.equal([0, 40 * -1, 40]);
    expect(interp.calls, 'DC ZVA in the interpreter helper').to.be.at.most(1);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.8);
  });

  it('a store over translated code with base writeback (STR post-index, STP pre-index) leaves with the written-back base in the state', () => {
    // f and g, each in a page of its own, are translated again after each store drops them (until the page churns).
    const code = assembleRaw(tc, `
      ${mmuOn}
      adr x4, slot
      ldr w3, =0xd2800060        // movz x0, #3
      mov x2, #30
    1: bl f
      add x1, x1, x0
      add x5, x5, #1
      str w3, [x4], #4           // over f
      sub x4, x4, #4
      subs x2, x2, #1
      b.ne 1b
      adr x6, slot3
      add x6, x6, #8
      mov x2, #30
    2: bl g
      add x1, x1, x0
      add x5, x5, #1
      stp w3, w3, [x6, #-8]!     // over g
      add x6, x6, #8
      subs x2, x2, #1
      b.ne 2b
      hvc #1
      .ltorg
      .balign 4096
    f:
    slot:
      movz x0, #9
      ret
      .balign 4096
    g:
    slot3:
      movz x0, #9
      movz x0, #8
      ret`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW] });
    const codeWritten = countCalls(p.b.tier!, ['st32'], { result: (written) => written === 1 });
    expectHvc(runToExit(p, 7), 1); // short batches: compared often
    const x = (n: number) => p.b.cpu.s.x[2 * n];
    expect([x(1), x(5)], 'x1, x5').to.deep.equal([9 + 29 * 3 + 8 + 29 * 3, 60]);
    expect(codeWritten.calls, 'stores over code from translated blocks').to.be.greaterThan(10);
  });

  it('MRS at EL0 in a hot loop: EL0 registers read in the block, EL1 registers trap (EC 0x18) as interpreted', () => {
    // The lower-EL sync vector emulates a trapped MRS as reading 0x5a and steps over it.
    const code = assembleRaw(tc, `
      adr x0, vectors
      msr vbar_el1, x0
      ldr x0, =0x1234567
      msr tpidrro_el0, x0
      adr x0, user
      msr elr_el1, x0
      msr spsr_el1, xzr
      eret
    user:
      mov x2, #40
      msr tpidr_el0, x2
    1: mrs x3, tpidr_el0
      add x3, x3, #3
      msr tpidr_el0, x3
      mrs x4, tpidrro_el0
      mrs x5, daif
      add x6, x6, x5
      mrs x7, tpidr_el1          // traps
      add x8, x8, x7
      mrs x9, sp_el0             // traps
      add x10, x10, x9
      mrs x11, nzcv
      subs x2, x2, #1
      b.ne 1b
      svc #1
      .ltorg
      .balign 0x800
    vectors:
      .org vectors + 0x400
      mrs x20, esr_el1
      lsr x21, x20, #26
      cmp x21, #0x18
      b.ne 2f
      ubfx x22, x20, #5, #5      // Rt
      add x27, x27, #1
      mrs x23, elr_el1
      add x23, x23, #4
      msr elr_el1, x23
      // Rt is x7 or x9 here: write 0x5a to it
      cmp x22, #7
      mov x24, #0x5a
      csel x7, x24, x7, eq
      csel x9, x24, x9, ne
      eret
    2: hvc #1`);
    const p = guestPair(code);
    const thrown = thrownFromTranslated(p);
    expectHvc(runToExit(p), 1);
    const x = (n: number) => p.b.cpu.s.x[2 * n];
    expect(x(27), 'trapped MRS').to.equal(80);
    expect(x(8), 'x8').to.equal(40 * 0x5a);
    expect(x(4), 'TPIDRRO_EL0').to.equal(0x1234567);
    expect(p.b.cpu.sysregs.get(SysReg.TPIDR_EL0), 'TPIDR_EL0').to.equal(BigInt(40 + 40 * 3));
    expect(thrown.length, 'traps raised inside translated blocks').to.be.greaterThan(60);
  });

  it('AT, IC IVAU and DC (CIVAC, ZVA) in a hot loop under the MMU: as interpreted', () => {
    const data = RAM_BASE + 0x20_0000;
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${data}
      ldr x21, =${RAM_BASE + 0x60_0000}   // unmapped: AT reports a fault in PAR_EL1
      mov x2, #40
    1: at s1e1r, x20
      mrs x3, par_el1
      add x4, x4, x3
      at s1e1w, x21
      mrs x5, par_el1
      eor x6, x6, x5
      ic ivau, x20               // a page without translations: they all stay
      dc civac, x20
      str x2, [x20, #64]
      dc zva, x20                // clears the 64 bytes at x20, not the word stored above
      ldr x7, [x20, #64]
      add x8, x8, x7
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW] });
    expectHvc(runToExit(p), 1);
    expect(p.b.cpu.s.x[16], 'x8').to.equal((40 * 41) / 2);
    expect(p.b.cpu.s.x[8] !== 0, 'PAR_EL1 results accumulated').to.equal(true);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.8);
  });

  it('a pending IRQ is taken right after MSR DAIFClr inside a translated block', () => {
    // unmask() is hot with the IRQ line low; then it runs once with the line high.
    const code = assembleRaw(tc, `
      mov x2, #20
    1: bl unmask
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      bl unmask
      hvc #2
    unmask:
      add x7, x7, #1
      msr daifclr, #2
      add x8, x8, #1
      msr daifset, #2
      ret`);
    for (const budget of [1000, 3]) {
      const p = guestPair(code);
      expectHvc(runToExit(p, budget), 1);
      const before = p.b.tier!.stats.translatedInstructions;
      for (const m of [p.a, p.b]) m.cpu.irqLine = true;
      expectHvc(runToExit(p, budget), 0x105); // current EL, SP_ELx IRQ vector
      const c = p.b.cpu;
      expect(c.s.x[14], 'x7').to.equal(21);
      expect(c.s.x[16], 'x8: the IRQ came before the ADD after the MSR').to.equal(20);
      const elr = Number(c.sysregs.get(SysReg.ELR_EL1));
      expect(new DataView(p.b.ram.buffer).getUint32(elr - 4 - RAM_BASE, true) >>> 0, 'ELR right after MSR DAIFClr').to.equal(0xd50342ff);
      if (budget === 1000) expect(p.b.tier!.stats.translatedInstructions - before, 'unmask ran translated').to.be.greaterThan(1);
    }
  });

  it('after MSR DAIFSet/DAIFClr with no interrupt pending, and TLBI that drops no vouched slot, translated code goes on without the batch loop', () => {
    const code = assembleRaw(tc, `
      mov x2, #400
    1: msr daifclr, #2
      add x7, x7, #1
      msr daifset, #2
      tlbi vae1, x9              // page 0: holds no code
      add x8, x8, x7
      subs x2, x2, #1
      b.ne 1b
      hvc #1`);
    const p = guestPair(code);
    let runs = 0;
    wrapDispatch(p.b.tier!, (dispatch) => (id, budget) => { runs++; return dispatch(id, budget); });
    expectHvc(runToExit(p, 4000), 1);
    expect(p.b.cpu.s.x[16], 'x8').to.equal((400 * 401) / 2);
    // 400 iterations of 3 blocks each; the first 64 or so interpreted while the blocks got hot.
    expect(p.b.tier!.stats.translatedInstructions, 'instructions run translated').to.be.greaterThan(2000);
    expect(runs, 'runs of translated code').to.be.lessThan(20);
  });

  it('MSR TTBR0_EL1 and TLBI inside a hot loop: each call runs the code of the mapping just switched to', () => {
    // Table A maps VA block 2 to PA block 2, table B (same L1 slot of another L1) to PA block 3.
    const L1_B = RAM_BASE + 0x12000, L2_B = RAM_BASE + 0x13000;
    const remappedVa = RAM_BASE + 0x40_0000;
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x5, =${remappedVa}
      ldr x20, =${L1_TABLE}
      ldr x21, =${L1_B}
      mov x1, #0
      mov x2, #40
    1: tst x2, #1
      csel x6, x20, x21, eq
      msr ttbr0_el1, x6
      tlbi vmalle1
      dsb ish
      isb
      blr x5
      add x1, x1, x0
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const fn = (imm: number) => assembleRaw(tc, `movz x0, #${imm}\nret`);
    for (const budget of [1000, 2]) {
      const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[RAM_BASE + 0x40_0000, fn(1)], [RAM_BASE + 0x60_0000, fn(7)]] });
      for (const m of [p.a, p.b]) {
        writeTables(m.ram, L1_B, L2_B, [0, 1, 3].map((k) => [RAM_BASE + k * 0x20_0000, AP_EL1_RW] as [number, bigint]));
      }
      expectHvc(runToExit(p, budget), 1);
      expect(p.b.cpu.s.x[2], 'x1').to.equal(20 * 1 + 20 * 7);
      if (budget === 1000) expect(p.b.tier!.stats.translatedInstructions, 'translated').to.be.greaterThan(200);
    }
  });

  it('MRS of a VMM-trapped register (ICC_IAR1_EL1) ends the block before it: the interpreter exits with EC 0x18 at the MRS', () => {
    const code = assembleRaw(tc, `
      mov x1, #1
      add x2, x1, #2
      mrs x10, s3_0_c12_c12_0    // ICC_IAR1_EL1
      add x3, x10, #1
      hvc #1`);
    const p = guestPair(code);
    expect(p.b.tier!.prepare(IMAGE, 0), 'the block translates').to.equal(true);
    const thrown = thrownFromTranslated(p);
    const exit = runToExit(p);
    expect(ec(exit)).to.equal(0x18);
    const iss = exit.syndrome & 0x1ffffff;
    expect(iss & 1, 'read').to.equal(1);
    expect((iss >>> 5) & 31, 'Rt').to.equal(10);
    expect([(iss >>> 20) & 3, (iss >>> 14) & 7, (iss >>> 10) & 15, (iss >>> 1) & 15, (iss >>> 17) & 7], 'op0 op1 CRn CRm op2').to.deep.equal([3, 0, 12, 12, 0]);
    expect(p.b.cpu.s.pcLo, 'PC at the MRS').to.equal(IMAGE + 8);
    expect(p.b.cpu.instructionsRetired, 'retired (the MRS counts)').to.equal(3);
    expect(p.b.tier!.stats.translatedInstructions, 'run translated: the two before the MRS').to.equal(2);
    expect(thrown, 'nothing thrown through translated code').to.deep.equal([]);
    // The VMM emulates the read and steps over it; the rest of the block runs on.
    for (const m of [p.a, p.b]) { m.cpu.s.x[20] = 27; m.cpu.s.pcLo += 4; }
    expectHvc(runToExit(p), 1);
    expect(p.b.cpu.s.x[6], 'x3').to.equal(28);
  });
});
