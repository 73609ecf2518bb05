// A module's blocks are one function; a jump to a block of another module ends run() with
// that block's id in OFF_NEXT and the dispatcher continues there.
// With one or two blocks per module nearly every jump crosses modules. The programs call
// between hot blocks in loops, leave through an MMIO data abort and a guest alignment fault
// in blocks reached across modules, and run with budgets down to one instruction, so a
// continuation often finds less budget than its block needs. Everything must match the
// interpreter at every batch boundary.
import { expect } from 'chai';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { GUEST_EXCEPTION, VM_EXIT } from '../../../src/accel/emu/cpu.ts';
import { OFF_HOPS, OFF_STARVED } from '../../../src/accel/emu/state-area.ts';
import { assembleRaw, findToolchain, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { RAM_BASE } from './harness.ts';
import { MMIO, ec, expectHvc, guestPair, runToExit, runToExitAsync, thrownFromTranslated, type GuestPair } from './guest.ts';

const DATA = RAM_BASE + 0x40_0000;

const PROGRAM = `
  mov x1, #0
  mov x3, #0
  mov x4, #0
  ldr x20, =${DATA}
  ldr x24, =${DATA + 0x10_0000}
  mov x2, #200
1: bl f
  add x1, x1, x0
  bl g
  subs x2, x2, #1
  b.ne 1b
  hvc #1
  // MMIO: h's load leaves on the 11th call
  ldr x21, =${MMIO}
  mov x2, #30
2: bl h
  subs x2, x2, #1
  b.ne 2b
  hvc #2
  // A guest fault: LDXR from an odd address in a block reached from another module
  add x22, x20, #1
  mov x2, #30
3: bl k
  subs x2, x2, #1
  b.ne 3b
  hvc #3
f: mov x0, #3
  add x3, x3, x0
  ret
g: eor x4, x4, x1
  str x4, [x20], #8
  ret
// h and k load from RAM (x24) until the call the test aims at, all in one translated block
h: add x5, x5, #1
  cmp x2, #20
  csel x23, x21, x24, eq
  ldr w6, [x23, #4]
  ret
k: add x7, x7, #1
  cmp x2, #25
  csel x25, x22, x24, eq
  ldxr x8, [x25]
  ret
  .ltorg`;

/** Runs the program to its end; `budget` instructions per batch. */
function runProgram(p: GuestPair, budget: number): void {
  expectHvc(runToExit(p, budget), 1);
  expect(p.b.cpu.s.x[2], 'x1').to.equal(600);
  const mmio = runToExit(p, budget);
  expect(ec(mmio), 'data abort exit').to.equal(0x24);
  expect(mmio.syndrome & (1 << 24), 'ISV').to.not.equal(0);
  expect((mmio.syndrome >>> 16) & 31, 'SRT').to.equal(6);
  expect(mmio.pa).to.equal(MMIO + 4);
  // Emulate the device read, as the VMM would, and go on after the load.
  for (const m of [p.a, p.b]) { m.cpu.s.x[12] = 0x1234; m.cpu.s.x[13] = 0; m.cpu.s.pcLo += 4; }
  expectHvc(runToExit(p, budget), 2);
  expect(p.b.cpu.s.x[10], 'x5: calls of h').to.equal(30);
  const fault = runToExit(p, budget);
  expectHvc(fault, 0x104); // current EL, SP_ELx synchronous vector
  const c = p.b.cpu;
  expect(Number(c.sysregs.get(SysReg.ESR_EL1)) >>> 26, 'EC: data abort').to.equal(0x25);
  expect(Number(c.sysregs.get(SysReg.ESR_EL1)) & 0x3f, 'DFSC: alignment').to.equal(0x21);
  expect(c.sysregs.get(SysReg.FAR_EL1)).to.equal(BigInt(DATA + 1 + 8 * 200));
  expect(c.s.x[14], 'x7: calls of k').to.equal(6);
}

describe('translation tier: blocks in different modules', function () {
  let tc: Toolchain;
  let code: Uint8Array;
  before(function () {
    const found = findToolchain();
    if (!found.toolchain) this.skip();
    tc = found.toolchain!;
    code = assembleRaw(tc, PROGRAM);
  });

  for (const batchSize of [1, 2]) {
    for (const budget of [1000, 2, 5, 13]) {
      it(`${batchSize} block(s) per module, batches of ${budget}: same as interpreted`, () => {
        const p = guestPair(code, { translator: { threshold: 1, batchSize } });
        // What left translated code by throwing: the MMIO exit and the guest fault should.
        const thrown = thrownFromTranslated(p);
        runProgram(p, budget);
        if (budget === 1000) expect(thrown, 'exits from translated code').to.deep.equal([VM_EXIT, GUEST_EXCEPTION]);
        const stats = p.b.tier!.stats;
        expect(stats.modules, 'modules').to.be.greaterThan(4);
        if (budget >= 7) expect(stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.5);
      });
    }
  }

  it('more modules than the tier keeps: it translates anew from nothing, and the program runs as interpreted', () => {
    const p = guestPair(code, { translator: { threshold: 1, batchSize: 1, maxModules: 3 } });
    runProgram(p, 1000);
    const stats = p.b.tier!.stats;
    // Each start-over drops 3 modules: more than 6 compiled means at least two of them.
    expect(stats.modules, 'modules compiled').to.be.greaterThan(6);
    expect(stats.translatedInstructions, 'instructions run translated').to.be.greaterThan(0);
  });

  it('modules compiled in the background: blocks run interpreted until theirs is installed, then translated', async () => {
    const p = guestPair(code, { translator: { threshold: 1, batchSize: 2, background: true } });
    const stats = p.b.tier!.stats;
    // Without a turn of the event loop no module can be ready: everything so far was interpreted.
    p.b.cpu.runBatch(200); p.a.cpu.runBatch(200);
    expect(stats.modules, 'modules installed before the event loop turned').to.equal(0);
    expect(stats.translatedInstructions).to.equal(0);
    // Once the event loop turns, the modules compiled meanwhile are installed (however slow the machine).
    for (let waited = 0; stats.modules === 0 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(stats.modules, 'modules installed').to.be.greaterThan(0);
    expectHvc(await runToExitAsync(p, 50), 1);
    expect(p.b.cpu.s.x[2], 'x1').to.equal(600);
    expect(stats.translatedInstructions, 'instructions run translated').to.be.greaterThan(0);
  });

  it('a module still compiling when the tier starts over is discarded, and the program runs as interpreted', async () => {
    const p = guestPair(code, { translator: { threshold: 1, batchSize: 1, maxModules: 1, background: true } });
    // Every block head queues a module; with room for one, each second one starts over
    // while the first is still compiling (no turn of the event loop yet).
    p.a.cpu.runBatch(40); p.b.cpu.runBatch(40);
    const stats = p.b.tier!.stats;
    for (let waited = 0; stats.discardedModules === 0 && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
    expect(stats.discardedModules, 'modules compiled for an earlier start-over').to.be.greaterThan(0);
    expectHvc(await runToExitAsync(p, 7), 1);
    expect(p.b.cpu.s.x[2], 'x1').to.equal(600);
  });

  it('a continuation with less budget than its block leaves run() with 0 and the interpreter goes on', () => {
    const p = guestPair(code, { translator: { threshold: 1, batchSize: 1 } });
    const m32 = new Int32Array(p.b.cpu.s.buffer, p.b.cpu.s.base);
    // Warm up (every module compiled), then count the dispatcher's hops between modules.
    expectHvc(runToExit(p), 1);
    const hops0 = m32[OFF_HOPS >> 2], starved0 = m32[OFF_STARVED >> 2];
    // The same loop again (PC back at its start, x2 = 200) in batches of 5 instructions.
    const loop = p.a.cpu.s.pcLo - 4 * 6; // `1: bl f`
    for (const m of [p.a, p.b]) { m.cpu.s.pcLo = loop; m.cpu.s.x[4] = 200; }
    expectHvc(runToExit(p, 5), 1);
    expect(m32[OFF_HOPS >> 2] - hops0, 'cross-module continuations').to.be.greaterThan(100);
    expect(m32[OFF_STARVED >> 2] - starved0, 'continuations without budget for their block').to.be.greaterThan(10);
  });
});
