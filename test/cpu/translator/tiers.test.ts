// Differential test of the two execution tiers: random encodings of each translated
// instruction group run once interpreted and once translated from the same random
// register state; registers, flags, PC, retired count, exits, exception registers and RAM
// must match. Memory groups use bases in and out of RAM, so faults and MMIO exits inside
// translated code are compared too.
import { expect } from 'chai';
import { CODE, HVC0, Rng, hex, pair, randomState, snapshot, translatable } from './harness.ts';

interface Group { name: string; mask: number; value: number }

const GROUPS: Group[] = [
  { name: 'ADR/ADRP', mask: 0x1f000000, value: 0x10000000 },
  { name: 'ADD/SUB (immediate)', mask: 0x1f800000, value: 0x11000000 },
  { name: 'logical (immediate)', mask: 0x1f800000, value: 0x12000000 },
  { name: 'move wide', mask: 0x1f800000, value: 0x12800000 },
  { name: 'bitfield', mask: 0x1f800000, value: 0x13000000 },
  { name: 'EXTR', mask: 0x7fa00000, value: 0x13800000 },
  { name: 'logical (shifted register)', mask: 0x1f000000, value: 0x0a000000 },
  { name: 'ADD/SUB (shifted/extended register)', mask: 0x1f000000, value: 0x0b000000 },
  { name: 'ADC/SBC', mask: 0x1fe0fc00, value: 0x1a000000 },
  { name: 'CCMP/CCMN', mask: 0x1fe00410, value: 0x1a400000 },
  { name: 'conditional select', mask: 0x1fe00800, value: 0x1a800000 },
  { name: 'variable shifts, CLZ', mask: 0x1fe0f000, value: 0x1ac02000 },
  { name: 'CLZ', mask: 0x7ffffc00, value: 0x5ac01000 },
  { name: 'multiply-add', mask: 0x1f000000, value: 0x1b000000 },
  { name: 'B.cond', mask: 0xff000010, value: 0x54000000 },
  { name: 'CBZ/CBNZ', mask: 0x7e000000, value: 0x34000000 },
  { name: 'TBZ/TBNZ', mask: 0x7e000000, value: 0x36000000 },
  { name: 'B/BL', mask: 0x7c000000, value: 0x14000000 },
  { name: 'BR/BLR/RET', mask: 0xff9ffc1f, value: 0xd61f0000 },
  { name: 'hints and barriers', mask: 0xffffe01f, value: 0xd503201f },
  { name: 'LDR/STR (unsigned offset)', mask: 0x3f000000, value: 0x39000000 },
  { name: 'LDR/STR (register, pre/post-index, unscaled)', mask: 0x3f000000, value: 0x38000000 },
  { name: 'LDP/STP', mask: 0x3c000000, value: 0x28000000 },
  { name: 'LDR (literal)', mask: 0x3b000000, value: 0x18000000 },
];

function compareOne(words: number[], rng: Rng): void {
  const { a, b } = pair([...words, HVC0]);
  randomState(rng, [a, b]);
  expect(b.tier!.prepare(CODE, 0), 'translated').to.equal(true);
  const ea = a.cpu.runBatch(words.length);
  const eb = b.cpu.runBatch(words.length);
  const what = words.map(hex).join(' ');
  expect(snapshot(b, eb), what).to.deep.equal(snapshot(a, ea));
  expect(Buffer.compare(a.ram, b.ram), `${what}: RAM`).to.equal(0);
}

describe('translation tier vs interpreter', () => {
  for (const g of GROUPS) {
    it(`${g.name}: random encodings`, () => {
      const rng = new Rng(0x9e3779b9 ^ g.value);
      let accepted = 0;
      for (let i = 0; i < 600 && accepted < 250; i++) {
        const w = ((rng.u32() & ~g.mask) | g.value) >>> 0;
        if (!translatable(w)) continue;
        accepted++;
        compareOne([w], rng);
      }
      expect(accepted, 'encodings the translator accepted').to.be.greaterThan(20);
    });
  }

  it('random straight-line sequences ending in a branch', () => {
    const rng = new Rng(12345);
    const body = GROUPS.filter((g) => !/B\.cond|CBZ|TBZ|B\/BL|BR\//.test(g.name));
    const ends = GROUPS.filter((g) => /B\.cond|CBZ|TBZ|B\/BL|BR\//.test(g.name));
    const pick = (gs: Group[]): number => {
      for (;;) {
        const g = gs[rng.below(gs.length)];
        const w = ((rng.u32() & ~g.mask) | g.value) >>> 0;
        if (translatable(w)) return w;
      }
    };
    for (let i = 0; i < 300; i++) {
      const words: number[] = [];
      const len = 2 + rng.below(12);
      for (let k = 0; k < len; k++) words.push(pick(body));
      words.push(pick(ends));
      compareOne(words, rng);
    }
  });
});
