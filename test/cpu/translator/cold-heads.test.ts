// The batch loop counts visits to cold heads in a small table by VA (tier.ts, Translator.cold)
// and moves them back to the head's slot when another head takes the entry. A head must be
// translated at exactly `threshold` visits either way: here f, g and k are COLD_SET_SPAN
// apart, so they share a set of two entries, and g and k take one from each other every turn.
import { expect } from 'chai';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { expectHvc, guestPair, runToExit } from './guest.ts';
import { COLD_SET_SPAN } from '../../../src/accel/emu/translator/heads.ts';

const THRESHOLD = 12;

const PROGRAM = `
    mov x2, #3
  1: bl f
    bl f
    bl f
    bl g
    bl k
    subs x2, x2, #1
    b.ne 1b
    hvc #1
    .balign ${COLD_SET_SPAN}
  f: add x3, x3, #1
    ret
    .balign ${COLD_SET_SPAN}
  g: add x4, x4, #1
    ret
    .balign ${COLD_SET_SPAN}
  k: add x5, x5, #1
    ret`;

describe('translation tier: cold heads', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  it('a head that gives up its entry of the table of cold heads keeps its visits: translated at the threshold', () => {
    const p = guestPair(assembleRaw(tc, PROGRAM), { translator: { threshold: THRESHOLD, batchSize: 1, pullLimit: 1 } });
    expectHvc(runToExit(p), 1);
    const tier = p.b.tier!;
    expect(tier.stats.blocks, 'three turns: 9 visits to f, 3 to every other head').to.equal(0);
    // A fourth turn: f's first call of it is its 10th visit, the third its 12th.
    for (const m of [p.a, p.b]) { m.cpu.s.pcLo -= 4 * 8; m.cpu.s.x[4] = 1; } // back at `1:`, x2 = 1
    expectHvc(runToExit(p), 1);
    expect(tier.stats.blocks, 'f').to.equal(1);
    // Then f runs translated: eight more turns, f's 24 calls.
    const translated = tier.stats.translatedInstructions;
    for (const m of [p.a, p.b]) { m.cpu.s.pcLo -= 4 * 8; m.cpu.s.x[4] = 8; }
    expectHvc(runToExit(p), 1);
    expect(tier.stats.translatedInstructions - translated).to.be.at.least(24 * 2);
    // At the 12th turn g, k and the five return points reach the threshold (`1:`, first
    // reached by falling through, has had one visit fewer).
    expect(tier.stats.blocks).to.equal(1 + 7);
  });
});
