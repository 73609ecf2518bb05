// Translated blocks keep guest registers and NZCV in wasm locals and store them back only
// before helper calls and exits (codegen.ts). Each test runs an image on both tiers, compared
// at every batch (guest.ts), where a missing write-back or a stale local would show: a value
// written just before a faulting load or an interpreted instruction, a value an interpreted
// instruction writes, flags across a helper call, and code that continues after an exit or a
// helper call inside a branch.
import { expect } from 'chai';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { GUEST_EXCEPTION, VM_EXIT } from '../../../src/accel/emu/cpu.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { RAM_BASE } from './harness.ts';
import { AP_EL1_RW, IMAGE, MMIO, countCalls, ec, expectHvc, fpOn, guestPair, mmuOn, runToExit, thrownFromTranslated, type GuestPair } from './guest.ts';

const DATA = RAM_BASE + 0x40_0000;
/** NZCV of a CPU's state as a 4-bit number. */
const nzcv = (p: GuestPair): number => { const s = p.b.cpu.s; return (s.n << 3) | (s.z << 2) | (s.c << 1) | s.v; };
const xReg = (p: GuestPair, n: number): bigint => {
  const x = p.b.cpu.s.x;
  return (BigInt(x[2 * n + 1] >>> 0) << 32n) | BigInt(x[2 * n] >>> 0);
};
const translated = (p: GuestPair): number => p.b.tier!.stats.translatedInstructions;

describe('translation tier: registers and flags cached in wasm locals', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  for (const inline of [true, false]) {
    const how = inline ? 'inline slow path' : 'JS helpers only';
    it(`registers and flags written before a load that leaves as an MMIO exit are in the state (${how})`, () => {
      const code = assembleRaw(tc, `
        ldr x20, =${DATA}
        ldr x21, =${MMIO}
        mov x2, #20
      1: add x1, x1, #1
        mov x9, x2
        add sp, sp, #16
        cmp x2, #5
        csel x3, x21, x20, eq
        ldr x4, [x3, #8]
        add x5, x5, x4
        subs x2, x2, #1
        b.ne 1b
        hvc #1
        .ltorg`);
      const p = guestPair(code, { inline });
      const sp0 = xReg(p, 32);
      const thrown = thrownFromTranslated(p);
      const exit = runToExit(p);
      expect(thrown, 'the exit left from translated code').to.deep.equal([VM_EXIT]);
      expect(ec(exit), 'EC: data abort').to.equal(0x24);
      expect(exit.pa).to.equal(MMIO + 8);
      expect(xReg(p, 1), 'x1').to.equal(16n);
      expect(xReg(p, 9), 'x9').to.equal(5n);
      expect(xReg(p, 32) - sp0, 'SP').to.equal(16n * 16n);
      expect(nzcv(p), 'NZCV of cmp x2, #5 with x2 = 5').to.equal(0b0110);
      expect(translated(p), 'translated').to.be.greaterThan(60);
    });
  }

  it('registers and flags written before a load that faults at EL1: exception state and registers as interpreted', () => {
    // Blocks 0 (code, tables) and 1 mapped; on one iteration the load's address is in unmapped block 3.
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${RAM_BASE + 0x20_0000}
      ldr x21, =${RAM_BASE + 0x60_0000}
      mov x2, #20
    1: add x1, x1, #1
      cmp x2, #7
      csel x3, x21, x20, eq
      mov x9, x3
      ldr w4, [x3, #4]
      add x5, x5, x4
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW] });
    const thrown = thrownFromTranslated(p);
    expectHvc(runToExit(p), 0x104);
    expect(thrown, 'the fault was raised in translated code').to.deep.equal([GUEST_EXCEPTION]);
    const c = p.b.cpu;
    expect(Number(c.sysregs.get(SysReg.ESR_EL1)) >>> 26, 'EC: data abort, same EL').to.equal(0x25);
    expect(c.sysregs.get(SysReg.FAR_EL1)).to.equal(BigInt(RAM_BASE + 0x60_0004));
    expect(Number(c.sysregs.get(SysReg.SPSR_EL1)) >>> 28, 'SPSR NZCV: cmp x2, #7 with x2 = 7').to.equal(0b0110);
    expect(xReg(p, 1), 'x1').to.equal(14n);
    expect(xReg(p, 9), 'x9').to.equal(BigInt(RAM_BASE + 0x60_0000));
    expect(translated(p), 'translated').to.be.greaterThan(60);
  });

  it('interpreted instructions read the registers and flags the block wrote before them', () => {
    // SCVTF and FCVTZS (general to FP and back), LDXR from SP and MRS NZCV run in the interpreter helper.
    const code = assembleRaw(tc, `
      ${fpOn}
      ldr x20, =${DATA}
      mov sp, x20
      mov x2, #30
    1: add x1, x1, #3
      scvtf d0, x1
      fcvtzs x6, d0
      add x7, x7, x6
      sub sp, sp, #32
      add x8, sp, #0
      str x8, [sp]
      ldxr x10, [sp]
      add x11, x11, x10
      cmp x2, #10
      mrs x12, nzcv
      add x13, x13, x12, lsr #28
      add sp, sp, #16
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code);
    const calls = countCalls(p.b.tier!, ['interp']);
    expectHvc(runToExit(p), 1);
    expect(xReg(p, 7), 'sum of x1 through SCVTF and FCVTZS').to.equal(3n * (30n * 31n / 2n));
    expect(xReg(p, 11), 'sum of SP through LDXR').to.equal(BigInt(DATA) * 30n - 16n * (30n * 31n / 2n) - 16n * 30n);
    expect(xReg(p, 13), 'sum of NZCV through MRS').to.equal(0b0010n * 20n + 0b0110n + 0b1000n * 9n);
    expect(calls.calls, 'helper calls').to.be.greaterThan(100);
    expect(translated(p), 'translated').to.be.greaterThan(300);
  });

  it('translated code after an interpreted instruction reads the registers and flags it wrote', () => {
    // Each register is cached (read or written) before the helper writes it.
    const code = assembleRaw(tc, `
      ${fpOn}
      ldr x20, =${DATA}
      fmov d1, #1.0
      fmov d2, #2.0
      mov x2, #30
    1: add x1, x1, #5
      fmov x1, d1
      add x3, x3, x1
      add x4, x4, #7
      mrs x4, tpidr_el1
      add x5, x5, x4
      add x6, x6, x20
      ldxr x6, [x20]
      add x6, x6, #1
      mov x7, #5
      stxr w7, x6, [x20]
      add x8, x8, x7
      cmp x2, #15
      fcmp d1, d2
      csinc x9, x9, x9, ge
      cmp x2, #15
      fcmp d2, d1
      b.le 2f
      subs x2, x2, #1
      b.ne 1b
      hvc #1
    2: hvc #2
      .ltorg`);
    const p = guestPair(code);
    for (const m of [p.a, p.b]) m.cpu.sysregs.set(SysReg.TPIDR_EL1, 0x1234n);
    expectHvc(runToExit(p), 1);
    expect(xReg(p, 3), 'x1 from FMOV').to.equal(0x3ff0000000000000n * 30n & 0xffffffffffffffffn);
    expect(xReg(p, 5), 'x4 from MRS TPIDR_EL1').to.equal(0x1234n * 30n);
    expect(xReg(p, 8), 'w7 from STXR: success').to.equal(0n);
    expect(xReg(p, 9), 'CSINC on FCMP flags (less than): always incremented').to.equal(30n);
    expect(translated(p), 'translated').to.be.greaterThan(300);
  });

  it('flags set by CMP are what CSEL reads after an interpreted instruction in between', () => {
    const code = assembleRaw(tc, `
      ${fpOn}
      mov x2, #40
    1: cmp x2, #20
      fmov d0, x2
      csinc x3, x3, x3, lt
      adds x4, x2, #0
      fadd d1, d1, d0
      csinc x5, x5, x5, eq
      subs x2, x2, #1
      b.ne 1b
      hvc #1`);
    for (const budget of [1000, 13]) {
      const p = guestPair(code);
      expectHvc(runToExit(p, budget), 1);
      expect(xReg(p, 3), 'x3: incremented where x2 >= 20').to.equal(21n);
      expect(xReg(p, 5), 'x5: incremented where x2 != 0').to.equal(40n);
      if (budget === 1000) expect(translated(p), 'translated').to.be.greaterThan(200);
    }
  });

  it('code after a conditional exit (a store into its own block) writes back what it changed', () => {
    // Iteration 20 stores over `slot`, leaving the block after the store; the others continue.
    const code = assembleRaw(tc, `
      mov x1, #0
      adr x4, slot
      ldr x20, =${DATA}
      ldr w9, =0xd2800060        // movz x0, #3
      mov x2, #40
    self:
      add x1, x1, #1
      cmp x2, #20
      csel x6, x4, x20, eq
      str w9, [x6], #4
      add x10, x10, x1
      add x12, x12, x6
    slot:
      movz x0, #9
      add x11, x11, x0
      subs x2, x2, #1
      b.ne self
      hvc #1
      .ltorg`);
    for (const inline of [true, false]) {
      const p = guestPair(code, { inline });
      expectHvc(runToExit(p), 1);
      expect(xReg(p, 1), 'x1').to.equal(40n);
      expect(xReg(p, 10), 'x10: sum of x1').to.equal(40n * 41n / 2n);
      expect(xReg(p, 11), 'x11').to.equal(20n * 9n + 20n * 3n);
      expect(xReg(p, 12), 'x12: sum of the written-back x6').to.equal(39n * BigInt(DATA + 4) + BigInt(IMAGE + 4 * 11 + 4));
      expect(translated(p), 'translated').to.be.greaterThan(200);
    }
  });

  it('registers written before an inline access that went once through its slow path are still written back', () => {
    // The first iterations take the helpers and fill the TLB mirror; the later ones stay inline,
    // where the stores the slow path made of x1, x7 and the flags did not happen.
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${RAM_BASE + 0x20_0000}
      mov x2, #50
    1: add x1, x1, #1
      add x7, x7, x2
      cmp x2, #25
      ldr x4, [x20, #8]
      str x1, [x20, #16]
      csinc x8, x8, x8, lt
      add x5, x5, x4
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW] });
    const calls = countCalls(p.b.tier!, ['ld64', 'st64']);
    expectHvc(runToExit(p), 1);
    expect(xReg(p, 1), 'x1').to.equal(50n);
    expect(xReg(p, 7), 'x7').to.equal(50n * 51n / 2n);
    expect(xReg(p, 8), 'x8: incremented where x2 >= 25').to.equal(26n);
    expect(calls.calls, 'helper calls: most iterations inline').to.be.lessThan(20);
    expect(translated(p), 'translated').to.be.greaterThan(300);
  });

  it('indirect branches (BLR, RET) leave with the registers and flags the block wrote', () => {
    const code = assembleRaw(tc, `
      adr x20, 2f
      mov x2, #30
    1: add x1, x1, #1
      cmp x2, #10
      blr x20
      csinc x4, x4, x4, hi
      subs x2, x2, #1
      b.ne 1b
      hvc #1
    2: add x3, x3, x1
      adds x5, x5, #0
      ret`);
    const p = guestPair(code);
    expectHvc(runToExit(p), 1);
    expect(xReg(p, 3), 'x3: sum of x1').to.equal(30n * 31n / 2n);
    expect(xReg(p, 4), 'x4: always incremented (ADDS in the callee leaves ls)').to.equal(30n);
    expect(translated(p), 'translated').to.be.greaterThan(200);
  });

  it('CCMP writes the flags inside a branch; registers first read there are read from memory later', () => {
    // CCMP reads x1 and x3 only when the condition holds; CSEL and ADD read them after it on both paths.
    const code = assembleRaw(tc, `
      mov x2, #40
      mov x3, #17
    1: add x1, x1, #1
      tst x2, #1
      ccmp x3, x2, #0b0100, eq
      csinc x4, x4, x4, ne
      add x5, x5, x3
      cmp x2, #8
      ccmp x1, #20, #0b0010, hi
      csinc x6, x6, x6, cs
      subs x2, x2, #1
      b.ne 1b
      hvc #1`);
    for (const budget of [1000, 15]) {
      const p = guestPair(code);
      expectHvc(runToExit(p, budget), 1);
      expect(xReg(p, 5), 'x5').to.equal(17n * 40n);
      if (budget === 1000) expect(translated(p), 'translated').to.be.greaterThan(200);
    }
  });
});
