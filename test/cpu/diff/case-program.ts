// Turns instruction cases into one assembly program per group. Each variant of a case
// loads a full register state (X0-X30, SP, NZCV, FPSR, FPCR, V0-V31 and a 128-byte memory
// block) from .data, executes the instruction(s), and dumps the same state into an output
// buffer; writes that record to stdout. Comparing the bytes from
// qemu-aarch64 and from the software CPU finds every difference; `describeDiff` names it.
import { Rng, intValue, u64 } from './values.ts';
import type { Feature } from './emu-runner.ts';

/** Layout of a state record (seed and dump share it). */
export const REC = {
  x: 0,
  sp: 248,
  nzcv: 256,
  fpsr: 264,
  fpcr: 272,
  v: 288,
  mem: 800,
  size: 928,
} as const;
export const MEM_SIZE = 128;

/** A seed value for a general register: a number, or an address inside the memory block. */
export type XSeed = bigint | { memOffset: number };

export interface Seed {
  x: XSeed[]; // 31 entries
  sp: XSeed;
  nzcv: bigint;
  fpsr: bigint;
  fpcr: bigint;
  v: Uint8Array; // 512 bytes
  mem: Uint8Array; // 128 bytes
}

export interface InsnCase {
  /** Shown in test titles and failures; unique within a group. */
  name: string;
  /** Assembly executed between seeding and dumping (may span lines, use local labels). */
  asm: string;
  seeds: Seed[];
}

export interface Overrides {
  x?: Record<number, XSeed>;
  sp?: XSeed;
  nzcv?: bigint;
  fpsr?: bigint;
  fpcr?: bigint;
  /** V register n: little-endian bytes written from lane 0 (shorter arrays leave the rest random). */
  v?: Record<number, Uint8Array>;
  mem?: Uint8Array;
}

/** Default seed: every register random (edge-biased), flags random, FP control zero. */
export function defaultSeed(rng: Rng): Seed {
  const x: XSeed[] = [];
  for (let i = 0; i < 31; i++) x.push(intValue(rng));
  return {
    x,
    sp: { memOffset: 64 },
    nzcv: BigInt(rng.int(16)) << 28n,
    fpsr: 0n,
    fpcr: 0n,
    v: rng.bytes(512),
    mem: rng.bytes(MEM_SIZE),
  };
}

export function applyOverrides(seed: Seed, o: Overrides): Seed {
  const s: Seed = { ...seed, x: [...seed.x], v: seed.v.slice(), mem: seed.mem.slice() };
  if (o.x) for (const [k, val] of Object.entries(o.x)) s.x[Number(k)] = val;
  if (o.sp !== undefined) s.sp = o.sp;
  if (o.nzcv !== undefined) s.nzcv = o.nzcv;
  if (o.fpsr !== undefined) s.fpsr = o.fpsr;
  if (o.fpcr !== undefined) s.fpcr = o.fpcr;
  if (o.v) for (const [k, bytes] of Object.entries(o.v)) s.v.set(bytes, Number(k) * 16);
  if (o.mem) s.mem.set(o.mem);
  return s;
}

/** Little-endian bytes of a value of `bits` width. */
export function leBytes(value: bigint, bits: number): Uint8Array {
  const out = new Uint8Array(bits / 8);
  let v = value;
  for (let i = 0; i < out.length; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Concatenate lane values (lane 0 first) into little-endian bytes. */
export function lanes(values: bigint[], bits: number): Uint8Array {
  const out = new Uint8Array((values.length * bits) / 8);
  values.forEach((v, i) => out.set(leBytes(v, bits), (i * bits) / 8));
  return out;
}

export interface CaseGroup {
  name: string;
  cases: InsnCase[];
  /** Extra assembler flags (architecture extensions). */
  flags?: string[];
  /** Optional architecture features the group needs; skipped if the CPU does not advertise them. */
  requires?: Feature[];
  /** Run on the emulator with the MMU on (identity map, Normal memory), e.g. for unaligned accesses. */
  mmu?: boolean;
}

const label = (ci: number, vi: number) => `seed_${ci}_${vi}`;
export const caseSymbol = (ci: number, vi: number) => `case_${ci}_${vi}`;

function xSeedAsm(v: XSeed, seedLabel: string): string {
  if (typeof v === 'bigint') return `0x${u64(v).toString(16)}`;
  return `${seedLabel} + ${REC.mem + v.memOffset}`;
}

export function variantCount(group: CaseGroup): number {
  return group.cases.reduce((n, c) => n + c.seeds.length, 0);
}

/** The whole program for a group. */
export function groupAssembly(group: CaseGroup): string {
  const text: string[] = ['  .text', '  .global main', 'main:'];
  const data: string[] = ['  .data', '  .balign 16'];
  group.cases.forEach((c, ci) => {
    c.seeds.forEach((seed, vi) => {
      const seedLabel = label(ci, vi);
      text.push(`// ${c.name} [${vi}]`, `${caseSymbol(ci, vi)}:`);
      text.push(`  adrp x0, ${seedLabel}`, `  add x0, x0, :lo12:${seedLabel}`);
      for (let q = 0; q < 32; q += 2) text.push(`  ldp q${q}, q${q + 1}, [x0, #${REC.v + q * 16}]`);
      text.push(`  ldr x1, [x0, #${REC.sp}]`, '  mov sp, x1');
      text.push(`  ldr x1, [x0, #${REC.nzcv}]`, '  msr nzcv, x1');
      text.push(`  ldr x1, [x0, #${REC.fpsr}]`, '  msr fpsr, x1');
      text.push(`  ldr x1, [x0, #${REC.fpcr}]`, '  msr fpcr, x1');
      for (let r = 1; r < 31; r += 2) text.push(`  ldp x${r}, x${r + 1}, [x0, #${r * 8}]`);
      text.push('  ldr x0, [x0]');
      text.push(c.asm.split('\n').map((l) => `  ${l.trim()}`).join('\n'));
      text.push('  msr tpidr_el0, x0', '  adrp x0, out_record', '  add x0, x0, :lo12:out_record');
      for (let r = 1; r < 31; r += 2) text.push(`  stp x${r}, x${r + 1}, [x0, #${r * 8}]`);
      text.push('  mov x1, sp', `  str x1, [x0, #${REC.sp}]`);
      text.push('  mrs x1, nzcv', `  str x1, [x0, #${REC.nzcv}]`);
      text.push('  mrs x1, fpsr', `  str x1, [x0, #${REC.fpsr}]`);
      text.push('  mrs x1, fpcr', `  str x1, [x0, #${REC.fpcr}]`);
      for (let q = 0; q < 32; q += 2) text.push(`  stp q${q}, q${q + 1}, [x0, #${REC.v + q * 16}]`);
      text.push('  mrs x1, tpidr_el0', '  str x1, [x0]');
      text.push(`  adrp x1, ${seedLabel}`, `  add x1, x1, :lo12:${seedLabel}`);
      for (let m = 0; m < MEM_SIZE; m += 32) {
        text.push(`  ldp q0, q1, [x1, #${REC.mem + m}]`, `  stp q0, q1, [x0, #${REC.mem + m}]`);
      }
      // One write per variant: a run that stops early still shows every record before it.
      text.push('  mov x1, x0', `  mov x2, #${REC.size}`, '  mov x0, #1', '  mov x8, #64', '  svc #0');

      data.push(`${seedLabel}:`);
      data.push(`  .quad ${seed.x.map((v) => xSeedAsm(v, seedLabel)).join(', ')}`);
      data.push(`  .quad ${xSeedAsm(seed.sp, seedLabel)}, 0x${seed.nzcv.toString(16)}, 0x${seed.fpsr.toString(16)}, 0x${seed.fpcr.toString(16)}, 0`);
      data.push(`  .byte ${Array.from(seed.v).join(',')}`);
      data.push(`  .byte ${Array.from(seed.mem).join(',')}`);
    });
  });
  text.push('finish:', '  mov x0, #0', '  mov x8, #94', '  svc #0', '  b .');
  const bss = ['  .bss', '  .balign 16', 'out_record:', `  .space ${REC.size}`];
  return [...text, ...data, ...bss, ''].join('\n');
}

/** Where each variant's record starts in the output, in case order. */
export interface VariantRef {
  caseIndex: number;
  variant: number;
  offset: number;
}

export function variantRefs(group: CaseGroup): VariantRef[] {
  const refs: VariantRef[] = [];
  let offset = 0;
  group.cases.forEach((c, ci) =>
    c.seeds.forEach((_, vi) => {
      refs.push({ caseIndex: ci, variant: vi, offset });
      offset += REC.size;
    }),
  );
  return refs;
}

const hex64 = (b: Uint8Array, off: number) => {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i]);
  return v;
};
const hexBytes = (b: Uint8Array) => Array.from(b).reverse().map((x) => x.toString(16).padStart(2, '0')).join('');

interface Field {
  name: string;
  offset: number;
  size: number;
}

const FIELDS: Field[] = [
  ...Array.from({ length: 31 }, (_, i) => ({ name: `x${i}`, offset: REC.x + i * 8, size: 8 })),
  { name: 'sp', offset: REC.sp, size: 8 },
  { name: 'nzcv', offset: REC.nzcv, size: 8 },
  { name: 'fpsr', offset: REC.fpsr, size: 8 },
  { name: 'fpcr', offset: REC.fpcr, size: 8 },
  ...Array.from({ length: 32 }, (_, i) => ({ name: `v${i}`, offset: REC.v + i * 16, size: 16 })),
  ...Array.from({ length: MEM_SIZE / 16 }, (_, i) => ({ name: `mem[${i * 16}..${i * 16 + 15}]`, offset: REC.mem + i * 16, size: 16 })),
];

function fieldValue(rec: Uint8Array, f: Field): string {
  return f.size === 8 ? `0x${hex64(rec, f.offset).toString(16)}` : `0x${hexBytes(rec.subarray(f.offset, f.offset + f.size))}`;
}

/** Registers an instruction's text mentions (its inputs, as far as a seed shows them). */
function mentionedInputs(asm: string, seed: Seed): string[] {
  const out = new Set<string>();
  for (const m of asm.matchAll(/\b[xw](\d+)\b/g)) {
    const n = Number(m[1]);
    if (n < 31) {
      const v = seed.x[n];
      out.add(`x${n}=${typeof v === 'bigint' ? `0x${v.toString(16)}` : `&mem[${v.memOffset}]`}`);
    }
  }
  if (/\b(w|x)?sp\b/.test(asm)) out.add(`sp=${typeof seed.sp === 'bigint' ? `0x${seed.sp.toString(16)}` : `&mem[${seed.sp.memOffset}]`}`);
  for (const m of asm.matchAll(/\b[vqdshb](\d+)\b/g)) {
    const n = Number(m[1]);
    if (n < 32) out.add(`v${n}=0x${hexBytes(seed.v.subarray(n * 16, n * 16 + 16))}`);
  }
  out.add(`nzcv=0x${seed.nzcv.toString(16)}`);
  if (seed.fpcr) out.add(`fpcr=0x${seed.fpcr.toString(16)}`);
  if (/\[|ld|st|cas|swp/.test(asm)) out.add(`mem=0x${hexBytes(seed.mem)}`);
  return [...out];
}

/**
 * Compare one variant's dump; undefined if equal, else a message naming the instruction,
 * the first differing register (and any others), expected (QEMU) and actual values, inputs.
 */
export function describeDiff(c: InsnCase, variant: number, expected: Uint8Array, actual: Uint8Array): string | undefined {
  const diffs: string[] = [];
  for (const f of FIELDS) {
    const e = expected.subarray(f.offset, f.offset + f.size);
    const a = actual.subarray(f.offset, f.offset + f.size);
    if (a.length < f.size || e.some((b, i) => b !== a[i])) {
      diffs.push(`${f.name}: expected ${fieldValue(expected, f)}, got ${a.length < f.size ? '(missing)' : fieldValue(actual, f)}`);
    }
  }
  if (diffs.length === 0) return undefined;
  const seed = c.seeds[variant];
  return `${c.name} [variant ${variant}]: first difference ${diffs[0]}` +
    (diffs.length > 1 ? `; also ${diffs.slice(1, 6).join('; ')}${diffs.length > 6 ? ` (+${diffs.length - 6} more)` : ''}` : '') +
    `\n    inputs: ${mentionedInputs(c.asm, seed).join(' ')}`;
}

/** Build `n` seeds for a case: the default random state with the case's overrides. */
export function makeSeeds(name: string, n: number, overrides: (rng: Rng, i: number) => Overrides): Seed[] {
  const rng = new Rng(name);
  const seeds: Seed[] = [];
  for (let i = 0; i < n; i++) seeds.push(applyOverrides(defaultSeed(rng), overrides(rng, i)));
  return seeds;
}
