// Where a block continues in its own page (successors.ts), from the real encodings of its
// final instruction, and the batch that takes such blocks along: a loop whose second block is
// only ever reached by falling through (never a block head for the interpreter) ends up in
// the first block's module, so its turns make no hops between modules. And the interpreter
// counts visits where a translated block would end (a branch not taken, the block's maximum
// length, a page boundary), so every block of a long straight-line function gets hot with
// the function, not one block per `threshold` calls after the one before it. A module keeps
// its blocks in address order, so a jump forward is a plain branch and a block looping on
// itself a wasm loop of its own: both run as interpreted, at any budget.
import { expect } from 'chai';
import { branchesToItself, samePageSuccessors } from '../../../src/accel/emu/translator/successors.ts';
import { OFF_HOPS } from '../../../src/accel/emu/state-area.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { expectHvc, guestPair, runToExit } from './guest.ts';

describe('translation tier: successors in the page', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  /** The words of `src` assembled at `org` (a page offset), as a block starting at its first word. */
  const block = (src: string, org = 0x100): { va: number; words: Uint32Array } => {
    const bin = assembleRaw(tc, `.skip ${org}\n${src}`);
    const words = new Uint32Array(bin.buffer.slice(bin.byteOffset + org, bin.byteOffset + bin.length));
    return { va: 0x4000_1000 + org, words };
  };

  const cases: [string, string, { fallThrough?: number; target?: number }, number?][] = [
    ['not a branch (the block ended before an untranslated instruction)', 'add x1, x1, #1\n add x2, x2, #1', { fallThrough: 8 }],
    ['B forward', 'nop\n b .+8', { target: 12 }],
    ['B back to the block itself (a loop): nothing to take along', '1: nop\n nop\n b 1b', {}],
    ['B.NE back to an earlier block', 'nop\n b.ne .-0x40', { fallThrough: 8, target: 4 - 0x40 }],
    ['CBZ forward', 'cbz x3, .+0x20', { fallThrough: 4, target: 0x20 }],
    ['TBNZ forward', 'tbnz w3, #5, .+0x10', { fallThrough: 4, target: 0x10 }],
    ['BL: the return point, and the callee in the page', 'bl .+0x80', { fallThrough: 4, target: 0x80 }],
    ['BL out of the page: the return point only', 'bl .+0x4000', { fallThrough: 4 }],
    ['BLR: the return point', 'blr x5', { fallThrough: 4 }],
    ['RET: nowhere', 'ret', {}],
    ['BR: nowhere', 'br x1', {}],
    ['ERET: nowhere', 'eret', {}],
    ['B.EQ at the end of the page: the target only', 'b.eq .-0x100', { target: -0x100 }, 0xffc],
    ['B.EQ out of the page backwards: the fall-through only', 'b.eq .-0x200', { fallThrough: 4 }, 0x100],
  ];
  for (const [what, src, expected, org] of cases) {
    it(what, () => {
      const b = block(src, org);
      const got = samePageSuccessors(b.va, b.words);
      expect({ fallThrough: got.fallThrough, target: got.target }).to.deep.equal({ fallThrough: expected.fallThrough, target: expected.target });
    });
  }

  const selfCases: [string, string, boolean][] = [
    ['B.NE back to its first instruction', '1: add x1, x1, #1\n subs x2, x2, #1\n b.ne 1b', true],
    ['a block of one B to itself', '1: b 1b', true],
    ['CBNZ back to its first instruction', '1: sub x1, x1, #1\n cbnz x1, 1b', true],
    ['B.NE back into its middle', 'nop\n 1: nop\n b.ne 1b', false],
    ['B.NE further back', 'nop\n b.ne .-0x40', false],
    ['RET', 'nop\n ret', false],
  ];
  for (const [what, src, expected] of selfCases) {
    it(`loops on itself: ${what}: ${expected}`, () => {
      expect(branchesToItself(block(src).words)).to.equal(expected);
    });
  }

  // The loop's body is one block looping on itself; before it a jump forward past an HVC
  // never reached; after it a block falling into the last.
  const FORWARD_AND_SELF = `
    mov x2, #300
    mov x1, #0
    b 1f
    hvc #9
  1: add x1, x1, #3
    eor x3, x3, x1
    subs x2, x2, #1
    b.ne 1b
    add x4, x1, x3
    cbz x4, 2f
    add x5, x4, #1
  2: hvc #1`;

  for (const budget of [1000, 7]) {
    it(`forward jumps and a block looping on itself in one module, batches of ${budget}: as interpreted, no hops`, () => {
      const p = guestPair(assembleRaw(tc, FORWARD_AND_SELF), { translator: { threshold: 1, batchSize: 8 } });
      expectHvc(runToExit(p, budget), 1); // warm up: every block queued...
      const tier = p.b.tier!;
      tier.flush(true); // ...and compiled into one module
      const m32 = new Int32Array(p.b.cpu.s.buffer, p.b.cpu.s.base);
      for (const m of [p.a, p.b]) { m.cpu.s.pcLo -= 4 * 12; m.cpu.s.x[4] = 0; m.cpu.s.x[5] = 0; } // back at the start (the exit left the PC past the HVC)
      const hops0 = m32[OFF_HOPS >> 2], retired = p.b.cpu.instructionsRetired, translated = tier.stats.translatedInstructions;
      const interpreted = p.a.cpu.instructionsRetired;
      expectHvc(runToExit(p, budget), 1);
      expect(p.b.cpu.s.x[2], 'x1 after 300 turns').to.equal(900);
      const ran = p.b.cpu.instructionsRetired - retired;
      expect(ran, 'as many instructions as interpreted').to.equal(p.a.cpu.instructionsRetired - interpreted);
      expect(ran, 'at least 300 turns of four').to.be.above(1200);
      if (budget === 1000) {
        expect(m32[OFF_HOPS >> 2] - hops0, 'hops between modules').to.equal(0);
        // All but the HVC and, at the batch's end, what was left of it for a block of four.
        expect(tier.stats.translatedInstructions - translated, 'translated').to.be.within(ran - 4, ran - 1);
      }
      const modules = (tier as unknown as { moduleBlocks: ({ va: bigint }[] | undefined)[] }).moduleBlocks.filter((m) => m !== undefined);
      expect(modules.length).to.be.above(0);
      for (const blocks of modules) for (let i = 1; i < blocks!.length; i++) expect(blocks![i].va > blocks![i - 1].va, 'a module keeps its blocks in address order').to.equal(true);
    });
  }

  const LOOP = `
    mov x2, #400
    mov x1, #0
  1: add x1, x1, #3
    cmp x1, #0
    b.eq 2f          // never taken: the next block is only ever fallen into
    eor x3, x3, x1
    subs x2, x2, #1
    b.ne 1b
    hvc #1
  2: hvc #2`;

  const hopsOfSecondRun = (pullLimit: number): number => {
    const p = guestPair(assembleRaw(tc, LOOP), { translator: { threshold: 8, batchSize: 1, pullLimit } });
    expectHvc(runToExit(p), 1); // warm up: both blocks translated
    const m32 = new Int32Array(p.b.cpu.s.buffer, p.b.cpu.s.base);
    const hops0 = m32[OFF_HOPS >> 2];
    for (const m of [p.a, p.b]) { m.cpu.s.pcLo -= 4 * 7; m.cpu.s.x[4] = 400; } // back at `1:` (the exit left the PC past the HVC), x2 = 400
    expectHvc(runToExit(p), 1);
    return m32[OFF_HOPS >> 2] - hops0;
  };

  it('a batch takes along the block its hot block falls into: the loop runs in one module', () => {
    expect(hopsOfSecondRun(1), 'one block per module: a hop each way at every turn').to.be.greaterThan(400);
    expect(hopsOfSecondRun(2), 'the fallen-into block in the same module').to.equal(0);
  });

  // f: 41 instructions from 10 before a page boundary, with a CBZ never taken at 20: with
  // blocks of at most 8 it is blocks at 0, 8 (to the page end), 10, 18 (to the CBZ), 21, 29, 37.
  const STRAIGHT = `
    mov x2, #10
    mov x9, #1
  1: bl f
    subs x2, x2, #1
    b.ne 1b
    hvc #1
    .balign 4096
    .skip 4096 - 40
  f: ${Array.from({ length: 20 }, (_, i) => `add x${10 + (i % 8)}, x${10 + (i % 8)}, #${i + 1}`).join('\n')}
    cbz x9, 2f
    ${Array.from({ length: 19 }, (_, i) => `eor x${10 + (i % 8)}, x${10 + (i % 8)}, x2`).join('\n')}
  2: ret`;

  it('straight-line code reached by falling through is counted block by block, and translated with its function', () => {
    // No blocks taken along (pullLimit 1): only the visits the batch loop counts translate f.
    const p = guestPair(assembleRaw(tc, STRAIGHT), { translator: { threshold: 4, batchSize: 1, pullLimit: 1, maxBlockLength: 8 } });
    expectHvc(runToExit(p), 1);
    const tier = p.b.tier!;
    expect(tier.stats.blocks, "f's 7 blocks, the loop's 2").to.equal(9);
    // Ten more calls: every instruction but the HVC runs translated.
    const retired = p.b.cpu.instructionsRetired, translated = tier.stats.translatedInstructions;
    for (const m of [p.a, p.b]) { m.cpu.s.pcLo -= 4 * 4; m.cpu.s.x[4] = 10; } // back at `1:`, x2 = 10 (its low word)
    expectHvc(runToExit(p), 1);
    expect(p.b.cpu.instructionsRetired - retired, 'ten calls of 44 instructions and the HVC').to.equal(10 * 44 + 1);
    expect(tier.stats.translatedInstructions - translated).to.equal(10 * 44);
  });
});
