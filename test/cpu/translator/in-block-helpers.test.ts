// Instructions without a translation of their own (FP/SIMD data processing and loads and
// stores, divides, exclusives...) run inside translated blocks through the interpreter
// helper. Their results, the flags FCMP leaves for a translated B.cond or CSEL of the same
// block, precise faults and exits, self-modifying FP stores and the CPACR_EL1.FPEN trap
// must all be the interpreter's.
import { expect } from 'chai';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { GUEST_EXCEPTION, VM_EXIT } from '../../../src/accel/emu/cpu.ts';
import { BlockGen } from '../../../src/accel/emu/translator/codegen.ts';
import { Code } from '../../../src/accel/emu/translator/wasm.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { CODE, HVC0, RAM_BASE, Rng, hex, pair, randomData, randomState, snapshot } from './harness.ts';
import { AP_EL1_RW, IMAGE, MMIO, ec, expectHvc, fpOn, guestPair, mmuOn, runToExit, thrownFromTranslated } from './guest.ts';

const DATA = RAM_BASE + 0x40_0000;

/** What the code generator makes of each instruction word (kind per word; 'end' ends the block). */
function kinds(words: number[]): ('next' | 'end' | false)[] {
  const g = new BlockGen(new Code(), BigInt(IMAGE), { chain: () => -1 });
  return words.map((w, k) => { g.k = k; return g.insn(w); });
}

function words(bytes: Uint8Array): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length >> 2 }, (_, i) => dv.getUint32(4 * i, true));
}

describe('translation tier: the interpreter helper inside blocks', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  it('FP/SIMD, divides, LD1/ST1 and exclusives in a hot loop compute what the interpreter does', () => {
    const loopBody = `
      ldr d2, [x20, x2, lsl #3]  // FP load (register offset)
      scvtf d3, x2
      fmul d4, d2, d3
      fadd d5, d5, d4
      fcmp d4, d6                // NZCV for the translated CSEL below
      csel x3, x2, x1, gt
      fcvtzs x7, d5
      add x1, x1, x3
      udiv x8, x1, x2
      sdiv x9, x7, x2
      msub x10, x8, x2, x1
      ld1 {v0.16b, v1.16b}, [x21], #32
      add v2.16b, v0.16b, v1.16b
      umaxv b7, v2.16b
      st1 {v2.16b}, [x22], #16
      stp q0, q2, [x22], #32
      ldxr x11, [x23]
      add x11, x11, x8
      stxr w12, x11, [x23]
      add x13, x13, x12
      fcmp d2, d4
      b.vs 2f                    // translated B.cond on FCMP's flags, same block`;
    const code = assembleRaw(tc, `
      ${fpOn}
      ldr x20, =${DATA}
      ldr x21, =${DATA + 0x1000}
      ldr x22, =${DATA + 0x8000}
      ldr x23, =${DATA + 0x10000}
      fmov d6, #0.5
      mov x1, #0
      mov x2, #120
    1: ${loopBody}
      subs x2, x2, #1
      b.ne 1b
      hvc #1
    2: hvc #2
      .ltorg`);
    const body = assembleRaw(tc, `${loopBody}
2:`);
    const k = kinds(words(body));
    expect(k.slice(0, -1).every((r) => r === 'next'), `one block: ${k}`).to.equal(true);
    expect(k.at(-1)).to.equal('end');
    const p = guestPair(code, { extra: [[DATA, randomData(7, 0x2000)]] });
    expectHvc(runToExit(p), 1);
    const stats = p.b.tier!.stats;
    expect(stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.9);
    // With batches of 3 instructions every helper call sits at some batch boundary too.
    const q = guestPair(code, { extra: [[DATA, randomData(7, 0x2000)]] });
    expectHvc(runToExit(q, 3), 1);
  });

  it('an FP load that leaves as an MMIO exit: PC at the load, no ISV, same retired count', () => {
    const code = assembleRaw(tc, `
      ${fpOn}
      ldr x20, =${DATA}
      ldr x21, =${MMIO}
      mov x2, #20
    1: add x1, x1, #1
      cmp x2, #5
      csel x3, x21, x20, eq
      ldr q0, [x3, #16]
      fadd v1.4s, v1.4s, v0.4s
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code, { extra: [[DATA, randomData(8, 64)]] });
    const thrown = thrownFromTranslated(p);
    const exit = runToExit(p);
    expect(thrown, 'the exit left from translated code').to.deep.equal([VM_EXIT]);
    expect(ec(exit)).to.equal(0x24);
    expect(exit.syndrome & (1 << 24), 'ISV').to.equal(0);
    expect(exit.pa).to.equal(MMIO + 16);
    expect(p.b.cpu.s.x[2], 'x1').to.equal(16);
    expect(p.b.tier!.stats.translatedInstructions, 'translated').to.be.greaterThan(60);
  });

  it('an FP load that faults at EL1: precise ELR, FAR and retired count', () => {
    // Blocks 0 (code, tables) and 1 mapped; the load's address moves to unmapped block 3.
    const code = assembleRaw(tc, `
      ${fpOn}
      ${mmuOn}
      ldr x20, =${RAM_BASE + 0x20_0000}
      ldr x21, =${RAM_BASE + 0x60_0000}
      mov x2, #20
    1: add x1, x1, #1
      cmp x2, #7
      csel x3, x21, x20, eq
      ldp s0, s1, [x3, #8]
      fmadd s2, s0, s1, s2
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW] });
    const thrown = thrownFromTranslated(p);
    expectHvc(runToExit(p), 0x104);
    expect(thrown, 'the fault was raised in translated code').to.deep.equal([GUEST_EXCEPTION]);
    const c = p.b.cpu, esr = Number(c.sysregs.get(SysReg.ESR_EL1));
    expect(esr >>> 26, 'EC: data abort, same EL').to.equal(0x25);
    expect(esr & 0x3f, 'DFSC: level 2 translation fault').to.equal(0x06);
    expect(c.sysregs.get(SysReg.FAR_EL1)).to.equal(BigInt(RAM_BASE + 0x60_0008));
    const ldp = Number(c.sysregs.get(SysReg.ELR_EL1));
    expect(new DataView(p.b.ram.buffer).getUint32(ldp - RAM_BASE, true) >>> 22, 'ELR at the LDP (s)').to.equal(0x0b5);
    expect(p.b.tier!.stats.translatedInstructions, 'translated').to.be.greaterThan(60);
  });

  it('an FP store into its own block: the block stops after it and the new code runs', () => {
    // Iteration 20 of the translated loop stores over `slot`, the others store to data.
    const code = assembleRaw(tc, `
      ${fpOn}
      mov x1, #0
      adr x4, slot
      ldr x20, =${DATA}
      ldr s1, =0xd2800060        // movz x0, #3
      mov x2, #40
    self:
      cmp x2, #20
      csel x6, x4, x20, eq
      str s1, [x6]               // over the block's own next instruction once
    slot:
      movz x0, #9
      add x1, x1, x0
      subs x2, x2, #1
      b.ne self
      hvc #1
      .ltorg`);
    for (const budget of [1000, 2]) {
      const p = guestPair(code);
      expectHvc(runToExit(p, budget), 1);
      expect(p.b.cpu.s.x[2], 'x1').to.equal(20 * 9 + 20 * 3);
      if (budget === 1000) expect(p.b.tier!.stats.translatedInstructions, 'translated').to.be.greaterThan(100);
    }
  });

  it('FP disabled by CPACR_EL1.FPEN: the trap (EC 0x07) is taken from inside the block', () => {
    const code = assembleRaw(tc, `
      ${fpOn}
      fmov d1, #1.0
      mov x3, #2
    0: mov x2, #30               // a head from the second round on: translated in the third
    1: add x1, x1, #1
      fadd d0, d0, d1
      add x5, x5, #1
      subs x2, x2, #1
      b.ne 1b
      subs x3, x3, #1
      b.ne 0b
      hvc #5
      msr cpacr_el1, xzr         // FPEN = 00: the next FADD traps
      isb
      b 0b`);
    const p = guestPair(code);
    const thrown = thrownFromTranslated(p);
    expectHvc(runToExit(p), 5);
    expectHvc(runToExit(p), 0x104);
    expect(thrown, 'trapped inside a translated block').to.deep.equal([GUEST_EXCEPTION]);
    const c = p.b.cpu;
    expect(Number(c.sysregs.get(SysReg.ESR_EL1)) >>> 26, 'EC').to.equal(0x07);
    const elr = Number(c.sysregs.get(SysReg.ELR_EL1));
    expect(new DataView(p.b.ram.buffer).getUint32(elr - RAM_BASE, true) >>> 0, 'ELR at the FADD').to.equal(0x1e612800);
    expect(c.s.x[2], 'x1').to.equal(61);
    expect(c.s.x[10], 'x5').to.equal(60);
  });
});

interface Group { name: string; mask: number; value: number }

/** Encoding groups the code generator hands (wholly or partly) to the interpreter helper. */
const HELPER_GROUPS: Group[] = [
  { name: 'FP/SIMD data processing', mask: 0x0e000000, value: 0x0e000000 },
  { name: 'FP/SIMD loads and stores (incl. LD1/ST1 structures)', mask: 0x0e000000, value: 0x0c000000 },
  { name: 'data processing, 2 source (UDIV, SDIV, CRC32...)', mask: 0x5fe00000, value: 0x1ac00000 },
  { name: 'data processing, 1 source (RBIT, REV...)', mask: 0x5fe00000, value: 0x5ac00000 },
  { name: 'multiply, 3 source (SMULH, UMADDL...)', mask: 0x1f000000, value: 0x1b000000 },
  { name: 'exclusives and ordered loads/stores', mask: 0x3f000000, value: 0x08000000 },
];
/** csinc x0, x1, x2, ne: a translated instruction reading the flags the helper left. */
const CSINC_NE = 0x9a821420;

describe('translation tier: random helper-run encodings inside a block', () => {
  for (const g of HELPER_GROUPS) {
    it(`${g.name}: as interpreted, followed by a translated CSINC`, () => {
      const rng = new Rng(0x85ebca6b ^ g.value);
      let helped = 0;
      for (let i = 0; i < 300; i++) {
        const w = ((rng.u32() & ~g.mask) | g.value) >>> 0;
        if (kinds([w])[0] !== 'next') continue;
        const { a, b } = pair([w, CSINC_NE, HVC0]);
        randomState(rng, [a, b]);
        const v = Uint8Array.from({ length: 512 }, () => rng.below(256));
        for (const m of [a, b]) { m.cpu.s.vbytes.set(v); m.cpu.fpen = 3; }
        expect(b.tier!.prepare(CODE, 0), 'translated').to.equal(true);
        const ea = a.cpu.runBatch(2), eb = b.cpu.runBatch(2);
        const what = hex(w);
        expect(snapshot(b, eb), what).to.deep.equal(snapshot(a, ea));
        expect(Buffer.compare(Buffer.from(a.cpu.s.vbytes), Buffer.from(b.cpu.s.vbytes)), `${what}: V registers`).to.equal(0);
        expect(Buffer.compare(a.ram, b.ram), `${what}: RAM`).to.equal(0);
        helped++;
      }
      expect(helped, 'encodings run in a block').to.be.greaterThan(100);
    });
  }
});

describe('translation tier: where a block ends', () => {
  it('kindOf (the decoder\'s look at each word) agrees with what insn() emits, for every instruction group', () => {
    const rng = new Rng(0x5eed);
    const gen = new BlockGen(new Code(), BigInt(IMAGE), { chain: () => -1 });
    const seen = new Map<string, number>();
    for (let i = 0; i < 40_000; i++) {
      const w = rng.u32();
      const expected = new BlockGen(new Code(), BigInt(IMAGE), { chain: () => -1 }).insn(w);
      gen.k = i % 64;
      expect(gen.kindOf(w), hex(w)).to.equal(expected);
      const key = `${(w >>> 25) & 0xf}:${expected}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    // Every group came up, and the branch and system groups gave all three answers.
    expect(new Set([...seen.keys()].map((k) => k.split(':')[0])).size).to.equal(16);
    for (const k of ['10:next', '10:end', '10:false', '11:end', '11:false']) expect(seen.has(k), k).to.equal(true);
  });
});
