// Dispatch entries are keyed by epoch and exception level, and exception entry and return
// no longer invalidate them. A kernel block translated and entered at EL1 must never be
// entered from EL0 through the dispatch table (a BLR from translated EL0 code to its VA
// takes the interpreter's instruction abort), and EL0 <-> EL1 round trips must keep
// translated code in use. Both tiers run the same image and must agree at every batch.
import { expect } from 'chai';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { dispatchOffset } from '../../../src/accel/emu/state-area.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { RAM_BASE } from './harness.ts';
import { AP_ALL_RO, AP_ALL_RW, AP_EL1_RW, IMAGE, UXN, expectHvc, guestPair, mmuOn, runToExit } from './guest.ts';

/** Kernel function on a page of its own in the kernel block. */
const KFUNC = IMAGE + 0x1000;
/** User code and stack in 2 MiB block 1 (EL0 read/write/execute, so EL1-execute-never). */
const USER = RAM_BASE + 0x20_0000;
const USER_SP = USER + 0x10_0000;

/** ERET to USER at EL0t with its own stack. */
const eretToUser = `
  ldr x0, =${USER}
  msr elr_el1, x0
  msr spsr_el1, xzr
  ldr x0, =${USER_SP}
  msr sp_el0, x0
  eret
  .ltorg`;

/** EL1 start: MMU on, `hvc #1`, then ERET to USER at EL0t with x5 = KFUNC. */
const kernelThenUser = (before: string) => `
  ${mmuOn}
  ldr x5, =${KFUNC}
  ${before}
  hvc #1
  ${eretToUser}`;

describe('translation tier: dispatch entries and the exception level', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  const variants = [
    ['EL0-inaccessible (AP=00, UXN), BLR', AP_EL1_RW | UXN, 'blr x7'],
    ['EL0-readable but UXN (AP=11), BLR', AP_ALL_RO | UXN, 'blr x7'],
    ['EL0-inaccessible (AP=00, UXN), BR', AP_EL1_RW | UXN, 'adr x30, 2f\n        br x7\n      2:'],
  ] as const;
  for (const [name, kernelAttrs, call] of variants) {
    it(`a kernel block entered at EL1 is not entered from EL0 (${name}): instruction abort as interpreted`, () => {
      const kernel = assembleRaw(tc, `${kernelThenUser(`
        mov x1, #0
        mov x2, #20
      1: blr x5                  // KFUNC runs translated at EL1: its dispatch entry is filled
        subs x2, x2, #1
        b.ne 1b`)}
        .org ${KFUNC - IMAGE}
        add x1, x1, #1
        ret`);
      // The hot EL0 loop calls its own function 19 times, then (same block) the kernel's.
      const user = assembleRaw(tc, `
        adr x6, ufunc
        mov x3, #0
        mov x2, #20
      1: cmp x2, #1
        csel x7, x5, x6, eq
        ${call}
        subs x2, x2, #1
        b.ne 1b
        svc #0
      ufunc:
        add x3, x3, #1
        ret`);
      const p = guestPair(kernel, { blocks: [kernelAttrs, AP_ALL_RW], extra: [[USER, user]] });
      for (const budget of [1000, 7]) {
        const q = budget === 1000 ? p : guestPair(kernel, { blocks: [kernelAttrs, AP_ALL_RW], extra: [[USER, user]] });
        expectHvc(runToExit(q, budget), 1);
        // The kernel function's dispatch entry holds its VA and an EL1 key.
        const m32 = new Int32Array(q.b.cpu.s.buffer, q.b.cpu.s.base);
        const d = dispatchOffset(KFUNC) >> 2;
        expect([m32[d], m32[d + 1]], 'KFUNC dispatch entry').to.deep.equal([KFUNC, 0]);
        expect(m32[d + 2] & 1, 'verified at EL1').to.equal(1);
        const before = q.b.tier!.stats.translatedInstructions;
        const exit = runToExit(q, budget);
        expectHvc(exit, 0x108); // lower-EL synchronous vector
        const c = q.b.cpu;
        expect(c.el).to.equal(1);
        const esr = Number(c.sysregs.get(SysReg.ESR_EL1));
        expect((esr >>> 26) & 0x3f, 'EC: instruction abort from EL0').to.equal(0x20);
        expect(c.sysregs.get(SysReg.ELR_EL1)).to.equal(BigInt(KFUNC));
        expect(c.sysregs.get(SysReg.FAR_EL1)).to.equal(BigInt(KFUNC));
        expect(c.s.x[2], 'x1: kernel calls').to.equal(20);
        expect(c.s.x[6], 'x3: user calls').to.equal(19);
        expect(q.b.tier!.stats.translatedInstructions - before, 'EL0 loop ran translated').to.be.greaterThan(50);
      }
    });
  }

  it('EL0 executes an execute-only page (AP=00, UXN=0) and faults reading it, in both tiers', () => {
    const kernel = assembleRaw(tc, kernelThenUser(''));
    // A hot loop on the execute-only page, then a data read of the page itself.
    const user = assembleRaw(tc, `
      mov x3, #0
      mov x2, #100
    1: add x3, x3, #2
      subs x2, x2, #1
      b.ne 1b
      adr x4, .
      ldr x5, [x4]
      svc #0`);
    const p = guestPair(kernel, { blocks: [AP_EL1_RW | UXN, AP_EL1_RW], extra: [[USER, user]] });
    expectHvc(runToExit(p), 1);
    const exit = runToExit(p);
    expectHvc(exit, 0x108); // lower-EL synchronous vector
    const c = p.b.cpu;
    const esr = Number(c.sysregs.get(SysReg.ESR_EL1));
    expect((esr >>> 26) & 0x3f, 'EC: data abort from EL0').to.equal(0x24);
    expect(esr & 0x3c, 'DFSC: permission fault').to.equal(0x0c);
    expect(c.s.x[6], 'x3: the loop ran at EL0').to.equal(200);
    expect(c.sysregs.get(SysReg.FAR_EL1)).to.equal(BigInt(USER + 20));
  });

  it('EL0 -> EL1 -> EL0 round trips keep translated code valid', () => {
    // Own vectors: the lower-EL sync vector counts `svc #0` in x1 (with a little work) and
    // returns; `svc #2` reports a phase with `hvc #3`, `svc #1` ends with `hvc #2`.
    const kernel = assembleRaw(tc, `
      ${mmuOn}
      adr x0, vectors
      msr vbar_el1, x0
      isb
      mov x1, #0
      ${eretToUser}
      .balign 0x800
    vectors:
      .org vectors + 0x400
      mrs x9, esr_el1
      and x9, x9, #0xffff
      cbz x9, work
      cmp x9, #1
      b.eq fin
      hvc #3
      eret
    fin:
      hvc #2
    work:
      add x1, x1, #1
      mov x10, #5
    2: add x11, x11, x10
      subs x10, x10, #1
      b.ne 2b
      eret`);
    // Three identical phases of 100 system calls each; the third must translate nothing new.
    const user = assembleRaw(tc, `
      mov x3, #0
      mov x4, #3
    0: mov x2, #100
    1: svc #0
      add x3, x3, x1
      subs x2, x2, #1
      b.ne 1b
      svc #2
      subs x4, x4, #1
      b.ne 0b
      svc #1`);
    const p = guestPair(kernel, { blocks: [AP_EL1_RW | UXN, AP_ALL_RW], extra: [[USER, user]] });
    expectHvc(runToExit(p), 3);
    expectHvc(runToExit(p), 3);
    const stats = p.b.tier!.stats;
    const blocks = stats.blocks, translated = stats.translatedInstructions, retired = p.b.cpu.instructionsRetired;
    expectHvc(runToExit(p), 3);
    expect(p.b.cpu.s.x[2], 'x1: system calls').to.equal(300);
    expect(stats.blocks, 'blocks translated in the third phase').to.equal(blocks);
    const share = (stats.translatedInstructions - translated) / (p.b.cpu.instructionsRetired - retired);
    // SVC and ERET are interpreted: 2 of the loop's 13 instructions per round trip.
    expect(share, 'share run translated in the third phase').to.be.greaterThan(0.75);
    expectHvc(runToExit(p), 2);
    expect(p.b.cpu.el, 'ended in the kernel').to.equal(1);
  });
});
