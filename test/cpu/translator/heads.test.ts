// The batch loop's table of block heads (translator/heads.ts): a head is found again by VA and
// PA, visits count per head, a full probe run gives up its coldest untranslated head and never
// a translated one while there is another, and clear() forgets everything. ColdHeads counts
// cold heads' visits by VA under one key and hands a head's count back to its slot; a head
// marked queued (decoded, waiting to be compiled) is found there without a count.
import { expect } from 'chai';
import { COLD_SET_SPAN, ColdHeads, HeadTable, QUEUED_HEAD } from '../../../src/accel/emu/translator/heads.ts';

interface FakeBlock { valid: boolean }

/** Three heads of one set of the table of cold heads. */
const A = 0x1000, B = A + COLD_SET_SPAN, C = A + 2 * COLD_SET_SPAN;

describe('translation tier: head table', () => {
  it('finds a head again by VA and PA; the same VA at another PA is another head', () => {
    const t = new HeadTable<FakeBlock>(64);
    const a = t.slot(0x1000, -32768, 0x4000_1000, 7);
    expect(t.slot(0x1000, -32768, 0x4000_1000, 9)).to.equal(a);
    expect(t.generation(a)).to.equal(7); // set when the head was taken, not on later finds
    expect([t.lo(a), t.hi(a), t.pa(a)]).to.deep.equal([0x1000, -32768, 0x4000_1000]);
    const b = t.slot(0x1000, -32768, 0x4000_2000, 0);
    expect(b).to.not.equal(a);
    expect(t.slot(0x1000, 0, 0x4000_1000, 0)).to.not.equal(a); // another VA high word
  });

  it('keeps PAs above 4 GiB exact', () => {
    const t = new HeadTable<FakeBlock>(64);
    const pa = 0x1_4000_0ffc;
    const s = t.slot(0xffc, 0, pa, 0);
    expect(t.pa(s)).to.equal(pa);
    expect(t.slot(0xffc, 0, pa - 2 ** 32, 0)).to.not.equal(s);
  });

  it('counts visits per head and starts a taken slot cold', () => {
    const t = new HeadTable<FakeBlock>(64);
    const s = t.slot(0x2000, 0, 0x2000, 0);
    for (let i = 1; i <= 5; i++) expect(t.visit(s)).to.equal(i);
    t.resetVisits(s);
    expect(t.visit(s)).to.equal(1);
  });

  it('when the probes are full, the coldest untranslated head gives way, not a translated one', () => {
    const t = new HeadTable<FakeBlock>(16);
    // Heads with the same home slot: VA low words 16 KiB apart (bits [3:0] of lo >>> 2 equal, the
    // table is 16 slots) and no bits at 19 and above.
    const va = (i: number) => 0x4000 * i;
    const slots = [0, 1, 2, 3].map((i) => t.slot(va(i), 0, 0x10_0000 + va(i), 0));
    expect(new Set(slots).size).to.equal(4);
    t.block[slots[0]] = { valid: true }; // translated
    for (let i = 0; i < 9; i++) t.visit(slots[1]);
    t.visit(slots[2]); // the coldest untranslated: 1 visit
    for (let i = 0; i < 3; i++) t.visit(slots[3]);
    const fifth = t.slot(va(4), 0, 0x10_0000 + va(4), 0);
    expect(fifth).to.equal(slots[2]);
    expect(t.block[fifth]).to.equal(undefined);
    // The translated head is still there, the evicted one is new again.
    expect(t.slot(va(0), 0, 0x10_0000 + va(0), 0)).to.equal(slots[0]);
    expect(t.block[slots[0]]).to.deep.equal({ valid: true });
    const again = t.slot(va(2), 0, 0x10_0000 + va(2), 0);
    expect(t.visit(again)).to.equal(1);
  });

  it('gives up a translated head only when every probe holds one', () => {
    const t = new HeadTable<FakeBlock>(16);
    const va = (i: number) => 0x4000 * i;
    const slots = [0, 1, 2, 3].map((i) => t.slot(va(i), 0, va(i), 0));
    for (const s of slots) t.block[s] = { valid: true };
    const fifth = t.slot(va(4), 0, va(4), 0);
    expect(slots).to.include(fifth);
    expect(t.block[fifth]).to.equal(undefined);
    // An invalidated translation counts as untranslated.
    t.block[fifth] = { valid: true };
    const other = slots.find((s) => s !== fifth)!;
    t.block[other] = { valid: false };
    expect(t.slot(va(5), 0, va(5), 0)).to.equal(other);
  });

  it('clear() forgets every head and translation', () => {
    const t = new HeadTable<FakeBlock>(64);
    const s = t.slot(0x3000, 0, 0x3000, 0);
    t.block[s] = { valid: true };
    t.visit(s);
    t.clear();
    expect(t.block.every((b) => b === undefined)).to.equal(true);
    const again = t.slot(0x3000, 0, 0x3000, 0);
    expect(t.visit(again)).to.equal(1);
  });

  it('rejects a size that is not a power of two', () => {
    expect(() => new HeadTable<FakeBlock>(48)).to.throw(RangeError);
  });

  it('ColdHeads: counts under its key only, and a head that gives up its entry keeps its visits in its slot', () => {
    const t = new HeadTable<FakeBlock>(64), cold = new ColdHeads(t);
    // COLD_SET_SPAN apart: one set of two entries.
    const a = t.slot(A, 0, 0x4000_0000 + A, 0), b = t.slot(B, 0, 0x4000_0000 + B, 0), c = t.slot(C, 0, 0x4000_0000 + C, 0);
    t.visit(a);
    cold.note(A, 0, 6, a);
    expect(cold.visit(A, 0, 6)).to.equal(2);
    expect(cold.visit(A, 0, 6)).to.equal(3);
    expect(cold.visit(A, 0, 8), 'another key').to.equal(-1);
    expect([cold.visits(a), t.visits(a)]).to.deep.equal([3, 1]);
    cold.note(B, 0, 6, b); // the set's other entry
    for (let i = 1; i <= 5; i++) expect(cold.visit(B, 0, 6)).to.equal(i);
    expect(cold.visit(A, 0, 6), 'a keeps its entry').to.equal(4);
    cold.note(C, 0, 6, c); // c takes a's entry (4 visits to b's 5): a's visits go back to its slot
    expect(t.visits(a)).to.equal(4);
    expect(cold.visit(A, 0, 6)).to.equal(-1);
    expect([cold.visit(B, 0, 6), cold.visit(C, 0, 6)]).to.deep.equal([6, 1]);
    expect(cold.release(C, 0)).to.equal(c);
    expect([t.visits(c), cold.visit(C, 0, 6)]).to.deep.equal([1, -1]);
    // A slot that went to another head gets nothing back.
    cold.note(A, 0, 6, a);
    t.clear();
    expect(cold.release(A, 0)).to.equal(-1);
  });

  it('ColdHeads: a head marked queued answers QUEUED_HEAD without counting until dropped, gives back no visits, and keeps its entry', () => {
    const t = new HeadTable<FakeBlock>(64), cold = new ColdHeads(t);
    const a = t.slot(A, 0, 0x4000_0000 + A, 0), b = t.slot(B, 0, 0x4000_0000 + B, 0), c = t.slot(C, 0, 0x4000_0000 + C, 0); // one set
    for (let i = 0; i < 4; i++) t.visit(a);
    t.block[a] = { valid: true }; // decoded and queued
    cold.mark(A, 0, 6, a);
    expect([cold.visit(A, 0, 6), cold.visit(A, 0, 6)]).to.deep.equal([QUEUED_HEAD, QUEUED_HEAD]);
    expect(cold.visit(A, 0, 8), 'another key').to.equal(-1);
    expect([cold.visits(a), t.visits(a)]).to.deep.equal([4, 4]);
    cold.note(B, 0, 6, b);
    for (let i = 1; i <= 3; i++) expect(cold.visit(B, 0, 6)).to.equal(i);
    cold.note(C, 0, 6, c); // c takes b's entry, not the queued head's
    expect([t.visits(b), cold.visit(A, 0, 6), cold.visit(C, 0, 6)]).to.deep.equal([3, QUEUED_HEAD, 1]);
    expect(t.visits(a), 'nothing is written back to a queued head\'s slot').to.equal(4);
    cold.drop(A, 0); // compiled: the batch loop looks it up again
    expect(cold.visit(A, 0, 6)).to.equal(-1);
    cold.note(A, 0, 6, a); // an entry taken over a dropped mark counts again
    expect(cold.visit(A, 0, 6)).to.equal(5);
  });
});
