// Scalar floating point: arithmetic in all four rounding modes (and flush-to-zero /
// default-NaN), conversions, comparisons, moves; operands biased to NaNs, infinities,
// zeros, denormals and conversion boundaries. FPSR starts at zero so the dump shows the
// exception flags each instruction raised.
import { makeSeeds, lanes, type CaseGroup, type InsnCase, type Overrides } from '../case-program.ts';
import { fpIntValue, fpValue, intValue, type FpSize, type Rng } from '../values.ts';

const RMODES = [0n, 1n, 2n, 3n].map((r) => r << 22n); // RN, RP, RM, RZ
const FZ = 1n << 24n;
const DN = 1n << 25n;
/** 4 rounding modes x 4 operand sets, then FZ, DN, FZ+DN with the default rounding. */
const fpcrFor = (i: number): bigint => (i < 16 ? RMODES[i % 4] : [FZ, DN, FZ | DN, FZ | RMODES[3]][(i - 16) % 4]);
const FP_VARIANTS = 20;

const sizeOf = (reg: string): FpSize => (reg[0] === 'h' ? 16 : reg[0] === 's' ? 32 : 64);

/** A case over FP registers: each named source register gets an FP value in its low lane. */
export function fpInsn(asm: string, sources: Record<number, FpSize>, n = FP_VARIANTS, extra?: (rng: Rng, i: number) => Overrides): InsnCase {
  const seeds = makeSeeds(asm, n, (rng, i) => {
    const v: Record<number, Uint8Array> = {};
    for (const [reg, size] of Object.entries(sources)) v[Number(reg)] = lanes([fpValue(rng, size)], size);
    return { fpcr: fpcrFor(i), v, ...(extra ? extra(rng, i) : {}) };
  });
  return { name: asm.replace(/\n/g, '; '), asm, seeds };
}

function arithmetic(prec: 'h' | 's' | 'd'): InsnCase[] {
  const size = sizeOf(prec);
  const out: InsnCase[] = [];
  for (const op of ['fadd', 'fsub', 'fmul', 'fdiv', 'fmax', 'fmin', 'fmaxnm', 'fminnm', 'fnmul', 'fabd']) {
    out.push(fpInsn(`${op} ${prec}0, ${prec}2, ${prec}3`, { 2: size, 3: size }));
  }
  for (const op of ['fmadd', 'fmsub', 'fnmadd', 'fnmsub']) {
    out.push(fpInsn(`${op} ${prec}0, ${prec}2, ${prec}3, ${prec}4`, { 2: size, 3: size, 4: size }));
  }
  for (const op of ['fsqrt', 'fabs', 'fneg', 'fmov', 'frintn', 'frintp', 'frintm', 'frintz', 'frinta', 'frintx', 'frinti']) {
    out.push(fpInsn(`${op} ${prec}0, ${prec}2`, { 2: size }));
  }
  for (const op of ['frecpe', 'frsqrte', 'frecpx']) out.push(fpInsn(`${op} ${prec}0, ${prec}2`, { 2: size }));
  for (const op of ['frecps', 'frsqrts']) out.push(fpInsn(`${op} ${prec}0, ${prec}2, ${prec}3`, { 2: size, 3: size }));
  return out;
}

const CONDS = ['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'vs', 'hi', 'ls', 'mi'];
/** Make the two operands equal in some variants so equality outcomes show up. */
const sameSometimes = (size: FpSize) => (rng: Rng, i: number): Overrides => {
  if (i % 3 !== 0) return {};
  const val = lanes([fpValue(rng, size)], size);
  return { v: { 2: val, 3: val }, fpcr: fpcrFor(i) };
};

function compare(prec: 'h' | 's' | 'd'): InsnCase[] {
  const size = sizeOf(prec);
  const out: InsnCase[] = [];
  out.push(fpInsn(`fcmp ${prec}2, ${prec}3`, { 2: size, 3: size }, FP_VARIANTS, sameSometimes(size)));
  out.push(fpInsn(`fcmpe ${prec}2, ${prec}3`, { 2: size, 3: size }, FP_VARIANTS, sameSometimes(size)));
  out.push(fpInsn(`fcmp ${prec}2, #0.0`, { 2: size }), fpInsn(`fcmpe ${prec}2, #0.0`, { 2: size }));
  for (const cond of ['ne', 'lt', 'vs']) {
    out.push(fpInsn(`fccmp ${prec}2, ${prec}3, #4, ${cond}`, { 2: size, 3: size }, 12, (rng, i) => ({ nzcv: BigInt(i % 16) << 28n, fpcr: 0n })));
    out.push(fpInsn(`fccmpe ${prec}2, ${prec}3, #9, ${cond}`, { 2: size, 3: size }, 12, (rng, i) => ({ nzcv: BigInt(i % 16) << 28n, fpcr: 0n })));
  }
  for (const cond of CONDS) out.push(fpInsn(`fcsel ${prec}0, ${prec}2, ${prec}3, ${cond}`, { 2: size, 3: size }, 8, (rng, i) => ({ nzcv: BigInt(i * 2) << 28n })));
  return out;
}

function conversions(): InsnCase[] {
  const out: InsnCase[] = [];
  // Between precisions (AHP / DN / FZ and rounding all matter).
  for (const [d, s] of [['d', 's'], ['s', 'd'], ['s', 'h'], ['h', 's'], ['d', 'h'], ['h', 'd']]) {
    out.push(fpInsn(`fcvt ${d}0, ${s}2`, { 2: sizeOf(s) }, 24, (rng, i) => (i >= 20 ? { fpcr: (1n << 26n) | RMODES[i % 4] } : {})));
  }
  // FP to integer with every rounding, signed/unsigned, 32/64-bit, and fixed point.
  for (const op of ['fcvtzs', 'fcvtzu', 'fcvtns', 'fcvtnu', 'fcvtps', 'fcvtpu', 'fcvtms', 'fcvtmu', 'fcvtas', 'fcvtau']) {
    for (const [r, s] of [['w', 's'], ['x', 's'], ['w', 'd'], ['x', 'd']]) out.push(fpInsn(`${op} ${r}0, ${s}2`, { 2: sizeOf(s) }, 12));
  }
  out.push(fpInsn('fcvtzs w0, d2, #16', { 2: 64 }, 12), fpInsn('fcvtzu x0, s2, #3', { 2: 32 }, 12), fpInsn('fcvtzs x0, d2, #64', { 2: 64 }, 12));
  out.push(fpInsn('fcvtzu w0, d2, #32', { 2: 64 }, 12));
  // Integer to FP (rounding matters for wide integers).
  const ints = (rng: Rng, i: number): Overrides => ({ x: { 2: i % 2 ? intValue(rng) : fpIntValue(rng) }, fpcr: RMODES[i % 4] });
  for (const op of ['scvtf', 'ucvtf']) {
    for (const [d, r] of [['s', 'w'], ['s', 'x'], ['d', 'w'], ['d', 'x']]) {
      out.push({ name: `${op} ${d}0, ${r}2`, asm: `${op} ${d}0, ${r}2`, seeds: makeSeeds(`${op} ${d}0, ${r}2`, 16, ints) });
    }
    out.push({ name: `${op} d0, x2, #10`, asm: `${op} d0, x2, #10`, seeds: makeSeeds(`${op} d0, x2, #10`, 8, ints) });
    out.push({ name: `${op} s0, w2, #32`, asm: `${op} s0, w2, #32`, seeds: makeSeeds(`${op} s0, w2, #32`, 8, ints) });
  }
  // Moves between register files and FP immediates.
  const mv = (asm: string) => fpInsn(asm, { 2: 64 }, 4);
  out.push(mv('fmov x0, d2'), mv('fmov d0, x2'), mv('fmov w0, s2'), mv('fmov s0, w2'), mv('fmov x0, v2.d[1]'), mv('fmov v0.d[1], x2'));
  out.push(mv('fmov d0, #1.5'), mv('fmov s0, #-0.125'), mv('fmov d0, #31.0'), mv('fmov d0, xzr'));
  // SIMD scalar FP comparisons and pairwise ops.
  out.push(fpInsn('fcmeq d0, d2, d3', { 2: 64, 3: 64 }, 8, sameSometimes(64)), fpInsn('fcmgt s0, s2, s3', { 2: 32, 3: 32 }, 8));
  out.push(fpInsn('fcmge d0, d2, #0.0', { 2: 64 }, 8), fpInsn('fcmlt s0, s2, #0.0', { 2: 32 }, 8), fpInsn('facgt d0, d2, d3', { 2: 64, 3: 64 }, 8));
  out.push(fpInsn('faddp d0, v2.2d', { 2: 64 }), fpInsn('fmaxnmp s0, v2.2s', { 2: 32 }, 8), fpInsn('fminp d0, v2.2d', { 2: 64 }, 8));
  out.push(fpInsn('fcvtzs d0, d2', { 2: 64 }, 8), fpInsn('scvtf s0, s2', { 2: 32 }, 8), fpInsn('fcvtxn s0, d2', { 2: 64 }));
  return out;
}

function fp16Extras(): InsnCase[] {
  const out: InsnCase[] = [];
  const ints = (rng: Rng, i: number): Overrides => ({ x: { 2: i % 2 ? intValue(rng) : fpIntValue(rng) }, fpcr: RMODES[i % 4] });
  for (const asm of ['scvtf h0, w2', 'ucvtf h0, x2', 'scvtf h0, x2', 'ucvtf h0, w2']) out.push({ name: asm, asm, seeds: makeSeeds(asm, 12, ints) });
  for (const asm of ['fcvtzs w0, h2', 'fcvtnu x0, h2', 'fmov h0, w2', 'fmov w0, h2', 'fmov x0, h2', 'fmov h0, #2.0']) out.push(fpInsn(asm, { 2: 16 }, 8));
  return out;
}

export function fpGroups(): CaseGroup[] {
  return [
    { name: 'FP double: arithmetic, estimates, rounding (4 modes, FZ, DN)', cases: arithmetic('d') },
    { name: 'FP single: arithmetic, estimates, rounding (4 modes, FZ, DN)', cases: arithmetic('s') },
    { name: 'FP compare and select', cases: [...compare('d'), ...compare('s')] },
    { name: 'FP conversions and moves', cases: conversions() },
    { name: 'FP16 arithmetic and compare (FEAT_FP16)', cases: [...arithmetic('h'), ...compare('h'), ...fp16Extras()], flags: ['-march=armv8.2-a+fp16'], requires: ['fp16'] },
  ];
}
