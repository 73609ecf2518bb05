// Differential test of the two execution tiers: random encodings of each translated
// instruction group run once interpreted and once translated from the same random
// register state; registers, flags, PC, retired count, exits, exception registers and RAM
// must match. Memory groups use bases in and out of RAM, so faults and MMIO exits inside
// translated code are compared too.
import { expect } from 'chai';
import { CODE, DATA, HVC0, RAM_BASE, Rng, hex, pair, randomState, snapshot, translatable, type Machine } from './harness.ts';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { mmuOnFirstBlock } from './guest.ts';

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
  { name: 'RBIT/REV16/REV32/REV/CLZ/CLS', mask: 0x7fffe000, value: 0x5ac00000 },
  { name: 'UDIV/SDIV', mask: 0x7fe0f800, value: 0x1ac00800 },
  { name: 'UMULH/SMULH', mask: 0xff608000, value: 0x9b400000 },
  { name: 'LDAR/STLR (+B/H)', mask: 0x3fa00000, value: 0x08800000 },
  { name: 'load/store exclusive', mask: 0x3f800000, value: 0x08000000 },
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

/** Run `words` on both tiers from the state `setup` gives both machines; returns the interpreter's snapshot. */
function compareFrom(words: number[], setup: (ms: Machine[]) => void): ReturnType<typeof snapshot> {
  const { a, b } = pair([...words, HVC0]);
  setup([a, b]);
  expect(b.tier!.prepare(CODE, 0), 'translated').to.equal(true);
  const ea = a.cpu.runBatch(words.length);
  const eb = b.cpu.runBatch(words.length);
  const what = words.map(hex).join(' ');
  const sa = snapshot(a, ea);
  expect(snapshot(b, eb), what).to.deep.equal(sa);
  expect(Buffer.compare(a.ram, b.ram), `${what}: RAM`).to.equal(0);
  return sa;
}

function compareOne(words: number[], rng: Rng): void {
  compareFrom(words, (ms) => randomState(rng, ms));
}

/** 64-bit values as [lo, hi] where division and multiplication have edge cases. */
const EDGES: [number, number][] = [
  [0, 0], [1, 0], [-1, -1], [-1, 0], [0, -0x80000000], [-1, 0x7fffffff], [-0x80000000, 0], [0x7fffffff, 0],
  [-0x80000000, -1], [2, 0], [-2, -1], [0, 1], [0x12345678, -0x789abcdf],
];

/** The same registers (number -> [lo, hi]) on every machine. */
const setRegs = (regs: Record<number, [number, number]>) => (ms: Machine[]): void => {
  for (const m of ms) for (const [r, [lo, hi]] of Object.entries(regs)) { m.cpu.s.x[2 * Number(r)] = lo; m.cpu.s.x[2 * Number(r) + 1] = hi; }
};

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

  it('UDIV/SDIV/UMULH/SMULH (32 and 64 bit): zero divisor, INT_MIN / -1, all-ones and sign edges', () => {
    // One block per (op, dividend): x1 holds the dividend, x2..x14 every edge value, and
    // x15..x27 = x1 op x2..x14, so the 1,014 pairs cost 78 translations, not 1,014.
    const ops = [0x9ac20823, 0x9ac20c23, 0x1ac20823, 0x1ac20c23, 0x9bc27c23, 0x9b427c23]; // udiv, sdiv (x, w), umulh, smulh
    const divisors = Object.fromEntries(EDGES.map((d, j) => [2 + j, d]));
    const seen = new Set<string>();
    for (const op of ops) {
      const block = EDGES.map((_, j) => ((op & ~0x001f03ff) | ((2 + j) << 16) | (1 << 5) | (15 + j)) >>> 0);
      for (const n of EDGES) {
        const s = compareFrom(block, setRegs({ 1: n, ...divisors }));
        for (let j = 0; j < EDGES.length; j++) seen.add(`${hex(op)} ${s.x[2 * (15 + j)]} ${s.x[2 * (15 + j) + 1]}`);
      }
    }
    // SDIV INT_MIN / -1 = INT_MIN, x / 0 = 0
    expect(compareFrom([0x9ac20c23], setRegs({ 1: [0, -0x80000000], 2: [-1, -1], 3: [5, 5] })).x.slice(6, 8)).to.deep.equal([0, -0x80000000]);
    expect(compareFrom([0x1ac20c23], setRegs({ 1: [-0x80000000, 7], 2: [-1, 9], 3: [5, 5] })).x.slice(6, 8)).to.deep.equal([-0x80000000, 0]);
    expect(compareFrom([0x9ac20823], setRegs({ 1: [7, 7], 2: [0, 0], 3: [5, 5] })).x.slice(6, 8)).to.deep.equal([0, 0]);
    // UMULH(-1, -1) = 2^64 - 2; SMULH(-1, -1) = 0
    expect(compareFrom([0x9bc27c23], setRegs({ 1: [-1, -1], 2: [-1, -1] })).x.slice(6, 8)).to.deep.equal([-2, -1]);
    expect(compareFrom([0x9b427c23], setRegs({ 1: [-1, -1], 2: [-1, -1], 3: [5, 5] })).x.slice(6, 8)).to.deep.equal([0, 0]);
    expect(seen.size).to.be.greaterThan(ops.length * 10);
  });

  it('ADDS/SUBS (64-bit): NZCV for every pair of edge values (carry, borrow, signed overflow, zero)', () => {
    // subs x3, x1, x2; adds x3, x1, x2: the flags come from the plain sum or difference
    const nzcv = new Set<string>();
    for (const op of [0xeb020023, 0xab020023]) {
      for (const n of EDGES) {
        for (const d of EDGES) {
          const s = compareFrom([op], setRegs({ 1: n, 2: d }));
          nzcv.add(`${hex(op)} ${s.nzcv.join('')}`);
        }
      }
    }
    // each op meets zero, carry and overflow among the edges
    for (const op of [0xeb020023, 0xab020023]) {
      const seen = [...nzcv].filter((k) => k.startsWith(hex(op))).map((k) => k.split(' ')[1]);
      expect(seen.some((f) => f[1] === '1'), `${hex(op)}: Z`).to.equal(true);
      expect(seen.some((f) => f[2] === '1') && seen.some((f) => f[2] === '0'), `${hex(op)}: C`).to.equal(true);
      expect(seen.some((f) => f[3] === '1'), `${hex(op)}: V`).to.equal(true);
    }
  });

  it('RBIT/REV of fixed patterns', () => {
    // rbit, rev16, rev32, rev (x), rbit, rev16, rev (w): x3 from x1 = 0x0123456789abcdef
    const cases: [number, [number, number]][] = [
      [0xdac00023, [0xe6a2c480 | 0, 0xf7b3d591 | 0]], [0xdac00423, [0xab89efcd | 0, 0x23016745]],
      [0xdac00823, [0xefcdab89 | 0, 0x67452301]], [0xdac00c23, [0x67452301, 0xefcdab89 | 0]],
      [0x5ac00023, [0xf7b3d591 | 0, 0]], [0x5ac00423, [0xab89efcd | 0, 0]], [0x5ac00823, [0xefcdab89 | 0, 0]],
    ];
    for (const [op, want] of cases) {
      const s = compareFrom([op], setRegs({ 1: [0x89abcdef | 0, 0x01234567] }));
      expect(s.x.slice(6, 8), hex(op)).to.deep.equal(want);
    }
  });

  it('LDAR/STLR: RAM, MMIO exits with the interpreter\'s syndrome, faults, writes to translated code', () => {
    // ldar x3, ldar w3, ldarb, ldarh, stlr x3, stlr w3, stlrb, stlrh, all [x1]
    const ops = [0xc8dffc23, 0x88dffc23, 0x08dffc23, 0x48dffc23, 0xc89ffc23, 0x889ffc23, 0x089ffc23, 0x489ffc23];
    const bases: [number, number][] = [[DATA + 0x100, 0], [DATA + 0x103, 0], [RAM_BASE - 0x1000, 0], [0x0900_0000, 0], [0, 0x10000], [CODE + 8, 0], [RAM_BASE + 0x20_0000, 0]];
    let mmio = 0, faults = 0;
    for (const op of ops) {
      for (const [i, base] of bases.entries()) {
        const s = compareFrom([op, 0x91000442], (ms) => {
          setRegs({ 1: base, 3: [0x11223344, 0x55667788] })(ms);
          for (const m of ms) {
            m.ram[DATA + 0x100 - RAM_BASE] = 0xa5;
            if (i === bases.length - 1) mmuOnFirstBlock(m); // this base is then unmapped: a translation fault
          }
        });
        if (s.exit?.reason === 1 && ((s.exit.syndrome >>> 26) & 0x3f) === 0x24) {
          mmio++;
          expect((s.exit.syndrome >>> 14) & 1, `${hex(op)}: AR`).to.equal(1);
          expect((s.exit.syndrome >>> 24) & 1, `${hex(op)}: ISV`).to.equal(1);
        }
        if (s.esr !== undefined && Number(s.esr) >>> 26 === 0x25) faults++;
      }
    }
    expect(mmio, 'MMIO exits').to.be.greaterThan(0);
    expect(faults, 'guest faults').to.be.greaterThan(0);
  });

  it('MRS SP_EL0/TPIDR_EL1/TPIDR_EL0/TPIDRRO_EL0/DAIF at EL1 (SPSel 0 and 1) and EL0 (traps)', () => {
    const mrs = [0xd5384100, 0xd538d080, 0xd53bd040, 0xd53bd060, 0xd53b4220]; // Xt = 0 and 31 (discard) below
    const rng = new Rng(77);
    let traps = 0;
    for (const op of mrs) {
      for (const rt of [0, 5, 31]) {
        for (const pstate of [0x3c5, 0x3c4, 0x145, 0x0]) { // EL1h, EL1t, EL1h with only A and F masked, EL0t
          const v = [rng.value(), rng.value(), rng.value(), rng.value()];
          const s = compareFrom([(op | rt) >>> 0, 0x91000442], (ms) => ms.forEach(({ cpu: c }) => {
            c.spEl0Lo = v[0][0]; c.spEl0Hi = v[0][1];
            c.s.x[64] = v[3][0]; c.s.x[65] = v[3][1];
            c.saveSp();
            c.sysregs.set(SysReg.TPIDR_EL1, (BigInt(v[1][1] >>> 0) << 32n) | BigInt(v[1][0] >>> 0));
            c.sysregs.set(SysReg.TPIDR_EL0, BigInt(v[2][0] >>> 0));
            c.sysregs.set(SysReg.TPIDRRO_EL0, (BigInt(v[2][1] >>> 0) << 32n) | 7n);
            c.setPstate(pstate);
          }));
          if (s.esr !== undefined && (Number(s.esr) >>> 26) === 0x18) traps++;
        }
      }
    }
    expect(traps, 'EL0 reads of EL1 registers trap').to.equal(2 * 3);
  });

  it('MRS TPIDR_EL1 follows writes between runs of the same translation', () => {
    const { b } = pair([0xd538d080, HVC0]); // mrs x0, tpidr_el1
    for (const v of [0x1234n, 0xffff_8000_0000_1000n, 0x1234n, 0n]) {
      b.cpu.s.pcLo = CODE; b.cpu.s.pcHi = 0;
      b.cpu.sysregs.set(SysReg.TPIDR_EL1, v);
      expect(b.tier!.prepare(CODE, 0)).to.equal(true);
      b.cpu.runBatch(1);
      expect(b.cpu.s.getXBig(0)).to.equal(v);
    }
  });

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
