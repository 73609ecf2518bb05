// Integer data-processing, branch and system-register cases.
import { makeSeeds, type CaseGroup, type InsnCase, type Overrides } from '../case-program.ts';
import { intValue, smallValue, type Rng } from '../values.ts';

const VARIANTS = 6;

/** A case whose x2..x5 are edge-biased operands (the default seed already is). */
export function insn(asm: string, n = VARIANTS, ov: (rng: Rng, i: number) => Overrides = () => ({})): InsnCase {
  return { name: asm.replace(/\n/g, '; '), asm, seeds: makeSeeds(asm, n, ov) };
}

const CONDS = ['eq', 'ne', 'cs', 'cc', 'mi', 'pl', 'vs', 'vc', 'hi', 'ls', 'ge', 'lt', 'gt', 'le', 'al', 'nv'];
/** All 16 NZCV combinations over the variants, so each condition sees both outcomes. */
const allFlags = (_: Rng, i: number): Overrides => ({ nzcv: BigInt(i % 16) << 28n });
const shiftBy = (max: number) => (rng: Rng): Overrides => ({ x: { 3: smallValue(rng, max) } });

function aluCases(): InsnCase[] {
  const out: InsnCase[] = [];
  // Immediate add/sub, with and without LSL #12, flag-setting, and with SP.
  for (const op of ['add', 'adds', 'sub', 'subs']) {
    out.push(insn(`${op} x0, x2, #0xabc`), insn(`${op} w0, w2, #0xfff`), insn(`${op} x0, x2, #0x123, lsl #12`));
    out.push(insn(`${op} w0, w2, #1, lsl #12`));
  }
  out.push(insn('add sp, x2, #16'), insn('add x0, sp, #0x10'), insn('sub sp, sp, #0x20'), insn('adds x0, sp, #1'));
  out.push(insn('cmp x2, #0'), insn('cmn w2, #1'), insn('cmp w2, #0x800, lsl #12'), insn('mov x0, sp'));
  // Shifted register forms, every shift type, 32 and 64 bit.
  for (const op of ['add', 'adds', 'sub', 'subs']) {
    for (const sh of ['lsl', 'lsr', 'asr']) {
      out.push(insn(`${op} x0, x2, x3, ${sh} #0`), insn(`${op} x0, x2, x3, ${sh} #7`), insn(`${op} x0, x2, x3, ${sh} #63`));
      out.push(insn(`${op} w0, w2, w3, ${sh} #31`), insn(`${op} w0, w2, w3, ${sh} #5`));
    }
  }
  out.push(insn('neg x0, x2'), insn('negs w0, w2'), insn('cmp x2, x3, asr #3'), insn('cmn w2, w3'));
  // Extended register forms (all eight extends, shifts 0..4, SP as operand/destination).
  for (const ext of ['uxtb', 'uxth', 'uxtw', 'uxtx', 'sxtb', 'sxth', 'sxtw', 'sxtx']) {
    const m = ext.endsWith('x') ? 'x' : 'w';
    for (const op of ['add', 'adds', 'sub', 'subs']) out.push(insn(`${op} x0, x2, ${m}3, ${ext} #${op.length === 3 ? 2 : 4}`));
    out.push(insn(`add w0, w2, w3, ${m === 'x' ? `${ext.slice(0, 3)}w` : ext} #1`));
  }
  out.push(insn('add x0, sp, w3, uxtw #3'), insn('sub sp, sp, x3, uxtx #0'), insn('add sp, x2, w3, sxtw'), insn('cmp sp, x3'));
  out.push(insn('adds x0, sp, x3, lsl #2'), insn('cmp w2, w3, uxtb'));
  // Carry chain.
  for (const op of ['adc', 'adcs', 'sbc', 'sbcs']) out.push(insn(`${op} x0, x2, x3`, 8, allFlags), insn(`${op} w0, w2, w3`, 8, allFlags));
  out.push(insn('ngc x0, x2', 4, allFlags), insn('ngcs w0, w2', 4, allFlags));
  return out;
}

function logicCases(): InsnCase[] {
  const out: InsnCase[] = [];
  const imms64 = ['0xff', '0xffff0000ffff0000', '0x5555555555555555', '0x8000000000000001', '0xfffffffffffffffe', '0x3c3c3c3c3c3c3c3c', '0x7ffffffffff'];
  const imms32 = ['0xff', '0xffff0000', '0x55555555', '0x80000001', '0xfffffffe', '0x3ff800'];
  for (const op of ['and', 'orr', 'eor', 'ands']) {
    for (const imm of imms64) out.push(insn(`${op} x0, x2, #${imm}`, 3));
    for (const imm of imms32) out.push(insn(`${op} w0, w2, #${imm}`, 3));
  }
  out.push(insn('orr sp, x2, #0xff0'), insn('tst x2, #0x8000000000000000'), insn('tst w2, #0x1'), insn('mov x0, #0x5555555555555555'));
  for (const op of ['and', 'bic', 'orr', 'orn', 'eor', 'eon', 'ands', 'bics']) {
    for (const sh of ['lsl', 'lsr', 'asr', 'ror']) {
      out.push(insn(`${op} x0, x2, x3, ${sh} #13`, 3), insn(`${op} w0, w2, w3, ${sh} #31`, 3));
    }
    out.push(insn(`${op} x0, x2, x3`, 3));
  }
  out.push(insn('mvn x0, x2'), insn('mvn w0, w2, ror #7'), insn('tst x2, x3, lsr #1'), insn('mov w0, w2'));
  // Move wide.
  out.push(insn('movz x0, #0xbeef, lsl #48'), insn('movz w0, #0xffff, lsl #16'), insn('movn x0, #0x1234, lsl #32'), insn('movn w0, #0'));
  out.push(insn('movk x0, #0xcafe, lsl #16'), insn('movk w0, #0x1234'), insn('movk x0, #0xffff, lsl #48'), insn('movk w0, #0x8000, lsl #16'));
  out.push(insn('mov x0, #-2'), insn('mov w0, #0x7fffffff'));
  // PC-relative.
  out.push(insn('adr x0, .'), insn('adr x0, . + 0x1234'), insn('adrp x0, .'), insn('adrp x0, . + 0x123000'));
  return out;
}

function bitfieldCases(): InsnCase[] {
  const out: InsnCase[] = [];
  const forms = [
    'sbfm x0, x2, #5, #20', 'sbfm x0, x2, #20, #5', 'sbfm w0, w2, #31, #31', 'sbfm x0, x2, #63, #0',
    'ubfm x0, x2, #5, #20', 'ubfm x0, x2, #20, #5', 'ubfm w0, w2, #0, #31', 'ubfm w0, w2, #17, #3',
    'bfm x0, x2, #5, #20', 'bfm x0, x2, #20, #5', 'bfm w0, w2, #0, #30', 'bfm w0, w2, #31, #0',
    'asr x0, x2, #63', 'asr w0, w2, #1', 'lsr x0, x2, #1', 'lsr w0, w2, #31', 'lsl x0, x2, #63', 'lsl w0, w2, #7',
    'sxtb x0, w2', 'sxth x0, w2', 'sxtw x0, w2', 'sxtb w0, w2', 'sxth w0, w2', 'uxtb w0, w2', 'uxth w0, w2',
    'sbfx x0, x2, #40, #24', 'ubfx x0, x2, #3, #60', 'sbfx w0, w2, #8, #1', 'ubfx w0, w2, #31, #1',
    'bfi x0, x2, #8, #16', 'bfi w0, w2, #30, #2', 'bfxil x0, x2, #60, #4', 'bfxil w0, w2, #0, #31',
    'sbfiz x0, x2, #60, #4', 'ubfiz x0, x2, #1, #63', 'sbfiz w0, w2, #3, #10', 'ubfiz w0, w2, #16, #16',
    'bfc x0, #4, #40', 'bfc w0, #0, #16',
    'extr x0, x2, x3, #0', 'extr x0, x2, x3, #17', 'extr x0, x2, x3, #63', 'extr w0, w2, w3, #31', 'extr w0, w2, w3, #7',
    'ror x0, x2, #13', 'ror w0, w2, #31',
  ];
  for (const f of forms) out.push(insn(f, 4));
  for (const op of ['lslv', 'lsrv', 'asrv', 'rorv']) {
    out.push(insn(`${op} x0, x2, x3`, 6, shiftBy(200)), insn(`${op} w0, w2, w3`, 6, shiftBy(200)));
  }
  return out;
}

function mulDivCases(): InsnCase[] {
  const out: InsnCase[] = [];
  out.push(insn('madd x0, x2, x3, x4'), insn('madd w0, w2, w3, w4'), insn('msub x0, x2, x3, x4'), insn('msub w0, w2, w3, w4'));
  out.push(insn('mul x0, x2, x3'), insn('mneg w0, w2, w3'));
  for (const op of ['smaddl', 'umaddl', 'smsubl', 'umsubl']) out.push(insn(`${op} x0, w2, w3, x4`));
  out.push(insn('smull x0, w2, w3'), insn('umull x0, w2, w3'), insn('smnegl x0, w2, w3'));
  out.push(insn('smulh x0, x2, x3', 10), insn('umulh x0, x2, x3', 10));
  const divSeeds = (rng: Rng, i: number): Overrides => {
    const special: [bigint, bigint][] = [
      [0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn], [5n, 0n], [0n, 0n], [0xffff_ffff_8000_0000n, 0xffff_ffff_ffff_ffffn],
      [0x8000_0000n, 0xffff_ffffn], [7n, 0xffff_ffff_0000_0000n],
    ];
    if (i < special.length) return { x: { 2: special[i][0], 3: special[i][1] } };
    return { x: { 2: intValue(rng), 3: intValue(rng) } };
  };
  for (const op of ['udiv', 'sdiv']) out.push(insn(`${op} x0, x2, x3`, 12, divSeeds), insn(`${op} w0, w2, w3`, 12, divSeeds));
  return out;
}

function miscCases(): InsnCase[] {
  const out: InsnCase[] = [];
  for (const op of ['clz', 'cls', 'rbit', 'rev']) out.push(insn(`${op} x0, x2`), insn(`${op} w0, w2`));
  out.push(insn('rev16 x0, x2'), insn('rev16 w0, w2'), insn('rev32 x0, x2'), insn('rev64 x0, x2'));
  // Conditional select and compare, every condition.
  for (const cond of CONDS) {
    out.push(insn(`csel x0, x2, x3, ${cond}`, 4, allFlags));
    out.push(insn(`ccmp x2, x3, #5, ${cond}`, 4, allFlags));
  }
  for (const op of ['csinc', 'csinv', 'csneg']) {
    out.push(insn(`${op} x0, x2, x3, lt`, 6, allFlags), insn(`${op} w0, w2, w3, hi`, 6, allFlags));
  }
  out.push(insn('cset w0, eq', 4, allFlags), insn('csetm x0, vs', 4, allFlags), insn('cinc x0, x2, ls', 4, allFlags));
  out.push(insn('cinv w0, w2, ge', 4, allFlags), insn('cneg x0, x2, mi', 4, allFlags));
  out.push(insn('ccmp w2, #31, #0xf, ne', 6, allFlags), insn('ccmn x2, #3, #2, cs', 6, allFlags), insn('ccmn w2, w3, #8, gt', 6, allFlags));
  out.push(insn('ccmp x2, x3, #0, le', 6, allFlags));
  return out;
}

function crcCases(): InsnCase[] {
  const out: InsnCase[] = [];
  for (const op of ['crc32b', 'crc32h', 'crc32w', 'crc32cb', 'crc32ch', 'crc32cw']) out.push(insn(`${op} w0, w2, w3`));
  out.push(insn('crc32x w0, w2, x3'), insn('crc32cx w0, w2, x3'));
  return out;
}

function branchCases(): InsnCase[] {
  const out: InsnCase[] = [];
  const taken = (head: string) => `${head}\nmovz x0, #0x1111\n1:\nmovz x1, #0x2222`;
  for (const cond of CONDS) out.push(insn(taken(`b.${cond} 1f`), 16, allFlags));
  const zeroOr = (rng: Rng, i: number): Overrides => ({ x: { 2: i % 2 === 0 ? (i % 4 === 0 ? 0n : 0xffff_ffff_0000_0000n) : intValue(rng) } });
  out.push(insn(taken('cbz x2, 1f'), 6, zeroOr), insn(taken('cbnz x2, 1f'), 6, zeroOr));
  out.push(insn(taken('cbz w2, 1f'), 6, zeroOr), insn(taken('cbnz w2, 1f'), 6, zeroOr));
  out.push(insn(taken('tbz x2, #63, 1f')), insn(taken('tbnz x2, #0, 1f')), insn(taken('tbz w2, #31, 1f')), insn(taken('tbnz x2, #35, 1f')));
  out.push(insn(taken('b 1f')));
  out.push(insn('bl 1f\nmovz x0, #1\n1:\nmovz x1, #2'));
  out.push(insn('adr x5, 1f\nblr x5\nmovz x0, #1\n1:\nmovz x1, #2'));
  out.push(insn('adr x5, 1f\nbr x5\nmovz x0, #1\n1:\nmovz x1, #2'));
  out.push(insn('adr x30, 1f\nret\nmovz x0, #1\n1:\nmovz x1, #2'));
  out.push(insn('adr x7, 1f\nret x7\nmovz x0, #1\n1:\nmovz x1, #2'));
  // Loops: a counted loop and a compare-and-branch loop.
  out.push(insn('mov x0, #0\nmov x1, #37\n1:\nadd x0, x0, x1\nsubs x1, x1, #1\nb.ne 1b'));
  out.push(insn('mov x0, #0\n1:\nadd x0, x0, #3\ncmp x0, #300\nb.lo 1b'));
  // System registers and hints reachable at EL0.
  out.push(insn('mrs x0, nzcv', 4, allFlags), insn('msr nzcv, x2'), insn('nop\nyield\nisb\ndsb sy\ndmb ish'));
  out.push(insn('msr tpidr_el0, x2\nmrs x0, tpidr_el0'));
  out.push(insn('mrs x0, fpcr\nmrs x1, fpsr'), insn('msr fpsr, x2\nmrs x0, fpsr'));
  return out;
}

export function integerGroups(): CaseGroup[] {
  return [
    { name: 'integer ALU (add/sub immediate, shifted, extended, carry)', cases: aluCases() },
    { name: 'logical, move wide, PC-relative', cases: logicCases() },
    { name: 'bitfield, extract, variable shifts', cases: bitfieldCases() },
    { name: 'multiply and divide', cases: mulDivCases() },
    { name: 'CLZ/CLS/RBIT/REV, conditional select and compare', cases: miscCases() },
    { name: 'CRC32', cases: crcCases(), flags: ['-march=armv8-a+crc'], requires: ['crc32'] },
    { name: 'branches, conditions, system registers', cases: branchCases() },
  ];
}
