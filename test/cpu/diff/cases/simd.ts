// AdvSIMD: integer arithmetic (saturating, halving, rounding, widening, narrowing), shifts,
// compares, across-lane reductions, by-element, permutes and table lookups, copies and
// immediates, FP vector ops, structure loads/stores, and the AES/SHA/PMULL extensions.
// Source vectors v2..v5 get edge-biased lanes (0, 1, -1, MIN, MAX) of the element size.
import { makeSeeds, lanes, type CaseGroup, type InsnCase, type Overrides } from '../case-program.ts';
import { fpValue, type FpSize, type Rng } from '../values.ts';

const ESIZE: Record<string, number> = { b: 8, h: 16, s: 32, d: 64, q: 128 };
const esizeOf = (arr: string) => ESIZE[arr[arr.length - 1]];

function laneValue(rng: Rng, bits: number): bigint {
  const mask = (1n << BigInt(bits)) - 1n;
  const r = rng.int(10);
  if (r === 0) return 0n;
  if (r === 1) return 1n;
  if (r === 2) return mask;
  if (r === 3) return 1n << BigInt(bits - 1);
  if (r === 4) return mask >> 1n;
  if (r === 5) return BigInt(rng.int(bits + 2)); // shift-count-like
  return rng.next64() & mask;
}

function vec(rng: Rng, bits: number): Uint8Array {
  if (bits >= 128) return rng.bytes(16);
  const vals: bigint[] = [];
  for (let i = 0; i < 128 / bits; i++) vals.push(laneValue(rng, bits));
  return lanes(vals, bits);
}

function fvec(rng: Rng, bits: FpSize): Uint8Array {
  const vals: bigint[] = [];
  for (let i = 0; i < 128 / bits; i++) vals.push(fpValue(rng, bits));
  return lanes(vals, bits);
}

/** Case with v2..v5 seeded with `bits`-wide edge-biased lanes. */
function vi(asm: string, bits: number, n = 3, extra?: (rng: Rng, i: number) => Overrides): InsnCase {
  const seeds = makeSeeds(asm, n, (rng, i) => ({
    v: { 2: vec(rng, bits), 3: vec(rng, bits), 4: vec(rng, bits), 5: vec(rng, bits) },
    ...(extra ? extra(rng, i) : {}),
  }));
  return { name: asm.replace(/\n/g, '; '), asm, seeds };
}

/** Case with v2..v4 seeded with FP lanes; FPCR cycles through rounding modes, FZ and DN. */
function vf(asm: string, bits: FpSize, n = 6): InsnCase {
  const fpcrs = [0n, 1n << 22n, 2n << 22n, 3n << 22n, 1n << 24n, 1n << 25n];
  const seeds = makeSeeds(asm, n, (rng, i) => ({
    v: { 2: fvec(rng, bits), 3: fvec(rng, bits), 4: fvec(rng, bits) },
    fpcr: fpcrs[i % fpcrs.length],
  }));
  return { name: asm.replace(/\n/g, '; '), asm, seeds };
}

const B = ['16b', '8b'];
const H = ['8h', '4h'];
const S = ['4s', '2s'];
const D = ['2d'];
const BHS = [...B, ...H, ...S];
const ALL = [...BHS, ...D];

function threeSame(): InsnCase[] {
  const out: InsnCase[] = [];
  const t = (op: string, arrs: string[]) => {
    for (const a of arrs) out.push(vi(`${op} v0.${a}, v2.${a}, v3.${a}`, esizeOf(a)));
  };
  for (const op of ['add', 'sub', 'sqadd', 'uqadd', 'sqsub', 'uqsub', 'cmeq', 'cmgt', 'cmge', 'cmhi', 'cmhs', 'cmtst', 'addp']) t(op, ALL);
  for (const op of ['sshl', 'ushl', 'sqshl', 'uqshl', 'srshl', 'urshl', 'sqrshl', 'uqrshl']) t(op, ALL);
  for (const op of ['mul', 'mla', 'mls', 'shadd', 'uhadd', 'srhadd', 'urhadd', 'shsub', 'uhsub']) t(op, BHS);
  for (const op of ['smax', 'smin', 'umax', 'umin', 'smaxp', 'sminp', 'umaxp', 'uminp', 'sabd', 'uabd', 'saba', 'uaba']) t(op, BHS);
  for (const op of ['sqdmulh', 'sqrdmulh']) t(op, ['8h', '4h', '4s', '2s']);
  for (const op of ['and', 'orr', 'orn', 'eor', 'bic', 'bsl', 'bit', 'bif']) t(op, B);
  t('pmul', B);
  // Scalar forms of the saturating and 64-bit-only ops.
  for (const asm of ['sqadd b0, b2, b3', 'uqsub h0, h2, h3', 'sqdmulh s0, s2, s3', 'add d0, d2, d3', 'sub d0, d2, d3', 'cmgt d0, d2, d3', 'ushl d0, d2, d3', 'sqrshl s0, s2, s3']) {
    out.push(vi(asm, esizeOf(asm.split(' ')[1].replace(',', '').replace(/\d+/, ''))));
  }
  return out;
}

function twoMiscAndShifts(): InsnCase[] {
  const out: InsnCase[] = [];
  const u = (op: string, arrs: string[], suffix = '') => {
    for (const a of arrs) out.push(vi(`${op} v0.${a}, v2.${a}${suffix}`, esizeOf(a)));
  };
  for (const op of ['abs', 'neg', 'sqabs', 'sqneg', 'suqadd', 'usqadd']) u(op, ALL);
  for (const op of ['cmeq', 'cmgt', 'cmge', 'cmle', 'cmlt']) u(op, ALL, ', #0');
  for (const op of ['clz', 'cls']) u(op, BHS);
  for (const op of ['not', 'cnt', 'rbit', 'rev16']) u(op, B);
  u('rev32', [...B, ...H]);
  u('rev64', BHS);
  u('urecpe', S);
  u('ursqrte', S);
  // Narrowing, widening, pairwise long.
  for (const op of ['xtn', 'sqxtn', 'uqxtn', 'sqxtun']) {
    out.push(vi(`${op} v0.8b, v2.8h`, 16), vi(`${op}2 v0.16b, v2.8h`, 16), vi(`${op} v0.2s, v2.2d`, 64), vi(`${op} v0.4h, v2.4s`, 32));
  }
  for (const op of ['saddlp', 'uaddlp', 'sadalp', 'uadalp']) out.push(vi(`${op} v0.8h, v2.16b`, 8), vi(`${op} v0.2d, v2.4s`, 32), vi(`${op} v0.2s, v2.4h`, 16));
  out.push(vi('shll v0.8h, v2.8b, #8', 8), vi('shll2 v0.2d, v2.4s, #32', 32));
  // Shifts by immediate.
  const sh = (op: string, arrs: string[], amount: (bits: number) => number) => {
    for (const a of arrs) out.push(vi(`${op} v0.${a}, v2.${a}, #${amount(esizeOf(a))}`, esizeOf(a)));
  };
  for (const op of ['sshr', 'ushr', 'ssra', 'usra', 'srshr', 'urshr', 'srsra', 'ursra', 'sri']) sh(op, ALL, (b) => b - 1 - (b >> 2));
  for (const op of ['sshr', 'urshr']) sh(op, ['16b', '2d'], (b) => b);
  for (const op of ['shl', 'sli', 'sqshl', 'uqshl', 'sqshlu']) sh(op, ALL, (b) => (b >> 1) + 1);
  for (const op of ['shrn', 'rshrn', 'sqshrn', 'uqshrn', 'sqrshrn', 'uqrshrn', 'sqshrun', 'sqrshrun']) {
    out.push(vi(`${op} v0.8b, v2.8h, #3`, 16), vi(`${op}2 v0.8h, v2.4s, #16`, 32), vi(`${op} v0.2s, v2.2d, #31`, 64));
  }
  for (const op of ['sshll', 'ushll']) out.push(vi(`${op} v0.8h, v2.8b, #3`, 8), vi(`${op}2 v0.2d, v2.4s, #0`, 32), vi(`${op} v0.4s, v2.4h, #15`, 16));
  out.push(vi('sxtl v0.8h, v2.8b', 8), vi('uxtl2 v0.4s, v2.8h', 16));
  out.push(vi('sshr d0, d2, #64', 64), vi('shl d0, d2, #63', 64), vi('sqshrn s0, d2, #7', 64), vi('ursra d0, d2, #1', 64));
  return out;
}

function threeDifferentAndElement(): InsnCase[] {
  const out: InsnCase[] = [];
  const wide = ['saddl', 'uaddl', 'ssubl', 'usubl', 'sabal', 'uabal', 'sabdl', 'uabdl', 'smlal', 'umlal', 'smlsl', 'umlsl', 'smull', 'umull'];
  for (const op of wide) {
    out.push(vi(`${op} v0.8h, v2.8b, v3.8b`, 8), vi(`${op}2 v0.4s, v2.8h, v3.8h`, 16), vi(`${op} v0.2d, v2.2s, v3.2s`, 32));
  }
  for (const op of ['saddw', 'uaddw', 'ssubw', 'usubw']) out.push(vi(`${op} v0.8h, v2.8h, v3.8b`, 8), vi(`${op}2 v0.2d, v2.2d, v3.4s`, 32));
  for (const op of ['addhn', 'raddhn', 'subhn', 'rsubhn']) out.push(vi(`${op} v0.8b, v2.8h, v3.8h`, 16), vi(`${op}2 v0.4s, v2.2d, v3.2d`, 64));
  for (const op of ['sqdmull', 'sqdmlal', 'sqdmlsl']) out.push(vi(`${op} v0.4s, v2.4h, v3.4h`, 16), vi(`${op}2 v0.2d, v2.4s, v3.4s`, 32));
  out.push(vi('pmull v0.8h, v2.8b, v3.8b', 8), vi('pmull2 v0.8h, v2.16b, v3.16b', 8));
  // By element.
  for (const asm of [
    'mul v0.4s, v2.4s, v3.s[1]', 'mul v0.8h, v2.8h, v3.h[7]', 'mla v0.4h, v2.4h, v3.h[2]', 'mls v0.2s, v2.2s, v3.s[3]',
    'smull v0.4s, v2.4h, v3.h[5]', 'umlal2 v0.2d, v2.4s, v3.s[2]', 'sqdmulh v0.4s, v2.4s, v3.s[0]', 'sqrdmulh v0.8h, v2.8h, v3.h[3]',
    'sqdmull v0.2d, v2.2s, v3.s[1]', 'sqdmlal2 v0.4s, v2.8h, v3.h[6]',
  ]) out.push(vi(asm, asm.includes('.h[') ? 16 : 32, 4));
  // Across lanes.
  for (const op of ['addv', 'smaxv', 'sminv', 'umaxv', 'uminv']) {
    out.push(vi(`${op} b0, v2.16b`, 8), vi(`${op} h0, v2.4h`, 16), vi(`${op} s0, v2.4s`, 32));
  }
  for (const op of ['saddlv', 'uaddlv']) out.push(vi(`${op} h0, v2.16b`, 8), vi(`${op} s0, v2.8h`, 16), vi(`${op} d0, v2.4s`, 32));
  out.push(vi('addp d0, v2.2d', 64));
  return out;
}

function permuteAndCopy(): InsnCase[] {
  const out: InsnCase[] = [];
  for (const op of ['zip1', 'zip2', 'uzp1', 'uzp2', 'trn1', 'trn2']) {
    for (const a of ['16b', '8b', '8h', '4s', '2s', '2d']) out.push(vi(`${op} v0.${a}, v2.${a}, v3.${a}`, esizeOf(a), 2));
  }
  out.push(vi('ext v0.16b, v2.16b, v3.16b, #5', 8), vi('ext v0.8b, v2.8b, v3.8b, #7', 8), vi('ext v0.16b, v2.16b, v3.16b, #0', 8));
  // Table lookups: indices partly in range, partly out of range.
  const idx = (rng: Rng): Overrides => ({ v: { 6: new Uint8Array(16).map(() => (rng.int(4) === 0 ? rng.int(256) : rng.int(64))) } });
  for (const asm of [
    'tbl v0.16b, {v2.16b}, v6.16b', 'tbl v0.8b, {v2.16b, v3.16b}, v6.8b', 'tbl v0.16b, {v2.16b, v3.16b, v4.16b}, v6.16b',
    'tbl v0.16b, {v2.16b, v3.16b, v4.16b, v5.16b}, v6.16b', 'tbx v0.16b, {v2.16b}, v6.16b', 'tbx v0.8b, {v2.16b, v3.16b, v4.16b, v5.16b}, v6.8b',
    'tbx v0.16b, {v31.16b, v0.16b}, v6.16b',
  ]) out.push(vi(asm, 8, 4, idx));
  // Copies between lanes and general registers.
  for (const asm of [
    'dup v0.16b, w2', 'dup v0.8h, w2', 'dup v0.2s, w2', 'dup v0.2d, x2', 'dup v0.16b, v2.b[13]', 'dup v0.4s, v2.s[3]', 'dup v0.2d, v2.d[1]',
    'dup b0, v2.b[5]', 'dup d0, v2.d[1]', 'ins v0.b[3], w2', 'ins v0.h[7], w2', 'ins v0.s[1], w2', 'ins v0.d[1], x2',
    'ins v0.b[15], v2.b[0]', 'ins v0.s[0], v2.s[3]', 'ins v0.d[0], v2.d[1]', 'umov w0, v2.b[9]', 'umov w0, v2.h[3]', 'umov w0, v2.s[2]',
    'umov x0, v2.d[1]', 'smov w0, v2.b[15]', 'smov x0, v2.h[1]', 'smov x0, v2.s[3]', 'smov w0, v2.h[6]', 'mov v0.16b, v2.16b', 'mov v0.8b, v2.8b',
  ]) out.push(vi(asm, /\.b|b\[|16b|8b/.test(asm) ? 8 : /\.h|h\[/.test(asm) ? 16 : /\.d|d\[/.test(asm) ? 64 : 32, 3));
  // Modified immediates.
  for (const asm of [
    'movi v0.16b, #0xa5', 'movi v0.8h, #0x12, lsl #8', 'movi v0.4s, #0xff, lsl #24', 'movi v0.2s, #0x34, msl #16', 'movi v0.2d, #0xff00ff0000ffff00',
    'movi d0, #0xffffffff00000000', 'mvni v0.4s, #0x80, lsl #8', 'mvni v0.4h, #0x1', 'mvni v0.4s, #0x12, msl #8', 'orr v0.4s, #0x55, lsl #16',
    'bic v0.8h, #0xff', 'orr v0.4h, #0x1, lsl #8', 'bic v0.2s, #0x80, lsl #24', 'fmov v0.4s, #-1.25', 'fmov v0.2d, #0.5', 'fmov v0.2s, #31.0',
  ]) out.push(vi(asm, 32, 2));
  return out;
}

function fpVector(): InsnCase[] {
  const out: InsnCase[] = [];
  const f3 = (op: string) => {
    out.push(vf(`${op} v0.4s, v2.4s, v3.4s`, 32), vf(`${op} v0.2d, v2.2d, v3.2d`, 64), vf(`${op} v0.2s, v2.2s, v3.2s`, 32, 3));
  };
  for (const op of ['fadd', 'fsub', 'fmul', 'fdiv', 'fmax', 'fmin', 'fmaxnm', 'fminnm', 'fmla', 'fmls', 'fabd', 'fmulx']) f3(op);
  for (const op of ['faddp', 'fmaxp', 'fminp', 'fmaxnmp', 'fminnmp', 'frecps', 'frsqrts']) f3(op);
  for (const op of ['fcmeq', 'fcmge', 'fcmgt', 'facge', 'facgt']) f3(op);
  const f2 = (op: string, suffix = '') => {
    out.push(vf(`${op} v0.4s, v2.4s${suffix}`, 32), vf(`${op} v0.2d, v2.2d${suffix}`, 64));
  };
  for (const op of ['fabs', 'fneg', 'fsqrt', 'frintn', 'frintp', 'frintm', 'frintz', 'frinta', 'frintx', 'frinti', 'frecpe', 'frsqrte']) f2(op);
  for (const op of ['fcvtzs', 'fcvtzu', 'fcvtns', 'fcvtnu', 'fcvtps', 'fcvtmu', 'fcvtas', 'fcvtau', 'scvtf', 'ucvtf']) f2(op);
  for (const op of ['fcmeq', 'fcmge', 'fcmgt', 'fcmle', 'fcmlt']) f2(op, ', #0.0');
  out.push(vf('fcvtzs v0.4s, v2.4s, #8', 32), vf('ucvtf v0.2d, v2.2d, #33', 64));
  out.push(vf('fcvtl v0.2d, v2.2s', 32), vf('fcvtl2 v0.4s, v2.8h', 16), vf('fcvtn v0.2s, v2.2d', 64), vf('fcvtn2 v0.8h, v2.4s', 32));
  out.push(vf('fcvtxn v0.2s, v2.2d', 64), vf('fcvtxn2 v0.4s, v2.2d', 64));
  for (const op of ['fmaxv', 'fminv', 'fmaxnmv', 'fminnmv']) out.push(vf(`${op} s0, v2.4s`, 32));
  out.push(vf('fmul v0.4s, v2.4s, v3.s[2]', 32), vf('fmla v0.2d, v2.2d, v3.d[1]', 64), vf('fmls s0, s2, v3.s[3]', 32), vf('fmulx d0, d2, v3.d[0]', 64));
  return out;
}

function structures(): InsnCase[] {
  const out: InsnCase[] = [];
  const at0 = (): Overrides => ({ x: { 10: { memOffset: 0 }, 11: 16n } });
  const s = (asm: string) => out.push(vi(asm, 8, 2, at0));
  for (const n of [1, 2, 3, 4]) {
    const regs = (a: string) => Array.from({ length: n }, (_, i) => `v${i}.${a}`).join(', ');
    s(`ld1 {${regs('16b')}}, [x10]`);
    s(`ld1 {${regs('2d')}}, [x10], #${16 * n}`);
    s(`st1 {${regs('4s')}}, [x10]`);
    s(`st1 {${regs('8b')}}, [x10], x11`);
    if (n > 1) {
      s(`ld${n} {${regs('16b')}}, [x10]`);
      s(`ld${n} {${regs('4h')}}, [x10], #${8 * n}`);
      s(`ld${n} {${regs('4s')}}, [x10], x11`);
      s(`st${n} {${regs('8h')}}, [x10]`);
      s(`st${n} {${regs('2s')}}, [x10], #${8 * n}`);
    }
    s(`ld${n}r {${regs('8h')}}, [x10]`);
    s(`ld${n}r {${regs('2d')}}, [x10], #${8 * n}`);
    s(`ld${n} {${Array.from({ length: n }, (_, i) => `v${i}.s`).join(', ')}}[1], [x10]`);
    s(`ld${n} {${Array.from({ length: n }, (_, i) => `v${i}.b`).join(', ')}}[13], [x10], #${n}`);
    s(`st${n} {${Array.from({ length: n }, (_, i) => `v${i}.h`).join(', ')}}[6], [x10]`);
    s(`st${n} {${Array.from({ length: n }, (_, i) => `v${i}.d`).join(', ')}}[1], [x10], x11`);
  }
  s('ld1 {v31.16b, v0.16b}, [x10]');
  return out;
}

function crypto(): InsnCase[] {
  const out: InsnCase[] = [];
  for (const asm of [
    'aese v0.16b, v2.16b', 'aesd v0.16b, v2.16b', 'aesmc v0.16b, v2.16b', 'aesimc v0.16b, v2.16b',
    'sha1c q0, s2, v3.4s', 'sha1p q0, s2, v3.4s', 'sha1m q0, s2, v3.4s', 'sha1h s0, s2', 'sha1su0 v0.4s, v2.4s, v3.4s', 'sha1su1 v0.4s, v2.4s',
    'sha256h q0, q2, v3.4s', 'sha256h2 q0, q2, v3.4s', 'sha256su0 v0.4s, v2.4s', 'sha256su1 v0.4s, v2.4s, v3.4s',
    'pmull v0.1q, v2.1d, v3.1d', 'pmull2 v0.1q, v2.2d, v3.2d',
  ]) out.push(vi(asm, 32, 4));
  return out;
}

export function simdGroups(): CaseGroup[] {
  return [
    { name: 'AdvSIMD integer three-same', cases: threeSame() },
    { name: 'AdvSIMD integer two-reg misc and shifts', cases: twoMiscAndShifts() },
    { name: 'AdvSIMD widening/narrowing, by element, across lanes', cases: threeDifferentAndElement() },
    { name: 'AdvSIMD permutes, tables, copies, immediates', cases: permuteAndCopy() },
    { name: 'AdvSIMD floating point', cases: fpVector() },
    { name: 'AdvSIMD loads/stores of structures', cases: structures() },
    { name: 'AES, SHA-1, SHA-256, PMULL (FEAT_AES/SHA1/SHA256/PMULL)', cases: crypto(), flags: ['-march=armv8-a+crypto'], requires: ['aes-pmull', 'sha1', 'sha256'] },
  ];
}
