// Instructions per second of the interpreter and of the translation tier on hot loops
// (integer only; with loads/stores; kernel-style system reads, REV, UDIV, LDAR/STLR; calls),
// and of both on cold code (thousands of blocks, none hot enough to translate).
// Run: npx tsx test/cpu/translator/micro-bench.ts
// A/B: npx tsx test/cpu/translator/micro-bench.ts --against <another checkout> runs every case
// on both trees' CPUs in one process, their rounds interleaved: this host's speed swings by a
// third from one run to the next, so runs one after the other cannot show a change of 10%.
import { CODE, DATA, machine, writeWords } from './harness.ts';
import { mmuOnFirstBlock } from './guest.ts';
import { assembleRaw, findToolchain } from '../../helpers/aarch64-toolchain.ts';
import { resolve } from 'node:path';

const tc = findToolchain().toolchain;
if (!tc) throw new Error('needs the aarch64 toolchain');
const words = (src: string): number[] => {
  const b = assembleRaw(tc, src);
  return Array.from(new Uint32Array(b.buffer, b.byteOffset, b.length / 4));
};
const LOOPS: Record<string, number[]> = {
  alu: words('1: add x1, x1, x2\n eor x3, x3, x1, lsl #3\n and x7, x3, #0xff\n csel x8, x7, x1, ne\n subs x6, x6, #1\n b.ne 1b'),
  memory: words('1: add x1, x1, x2\n eor x3, x3, x1, lsl #3\n ldr x4, [x5, #8]\n str x4, [x5, #16]\n ldp x9, x10, [x5]\n subs x6, x6, #1\n b.ne 1b'),
  // What Linux kernel code leans on: `current` and per-CPU reads, byte swaps, divides, acquire/release.
  kernel: words('1: mrs x1, sp_el0\n mrs x4, tpidr_el1\n add x3, x3, x1\n rev x7, x3\n rbit w11, w7\n udiv x8, x7, x2\n umulh x9, x7, x3\n ldar x10, [x5]\n stlr x9, [x5]\n subs x6, x6, #1\n b.ne 1b'),
  // The loop of the kernel's mpihelp_addmul_1 (generic C, 32-bit half products), where module
  // signature checks spend most of the Debian boot's guest instructions.
  mpi: words(`mov x1, x5\n add x11, x5, #0x800\n mov x10, #0x1234\n mov x12, #0x5678\n mov x13, #0x100000000\n mov x0, #0
0: mov w2, #-64\n sxtw x14, w2
1: sxtw x5, w2\n sub x5, x5, x14\n ldr x4, [x1, x5, lsl #3]\n ldr x6, [x11, x5, lsl #3]\n and x7, x4, #0xffffffff\n lsr x4, x4, #32
 mul x3, x7, x10\n mul x9, x4, x10\n madd x8, x12, x7, x9\n mul x4, x12, x4\n add x7, x0, w3, uxtw\n add x3, x8, x3, lsr #32
 add x8, x4, x13\n cmp x3, x9\n add x7, x7, x3, lsl #32\n csel x4, x8, x4, cc\n lsr x3, x3, #32\n cmp x7, x0\n cinc x3, x3, cc
 adds x6, x6, x7\n str x6, [x11, x5, lsl #3]\n adc x0, x4, x3\n adds w2, w2, #1\n b.ne 1b\n b 0b`),
  // A call per iteration: BL/RET leave the module for the JS loop each time.
  calls: words('1: bl 2f\n subs x6, x6, #1\n b.ne 1b\n2: add x1, x1, #1\n ret'),
};

/**
 * Cold code, as most of what a boot interprets: 7000 small blocks (taken and untaken
 * conditional branches) in a random cycle, placed past guest.ts's page tables. Run with the
 * threshold out of reach, it measures interpreting and the tier's head counting.
 */
/** Each block's successor in one random cycle through all of them. */
function nextOf(blocks: number): number[] {
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const order = Array.from({ length: blocks }, (_, i) => i);
  for (let i = blocks - 1; i > 0; i--) { const j = Math.floor(rnd() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  const next = new Array<number>(blocks);
  for (let i = 0; i < blocks; i++) next[order[i]] = order[(i + 1) % blocks];
  return next;
}

function coldCycle(blocks: number): number[] {
  const next = nextOf(blocks);
  let src = 'b B0\n';
  for (let k = 0; k < blocks; k++) src += `B${k}: add x1, x1, #1\n eor x3, x3, x1\n tst x1, #1\n b.eq C${k}\n add x4, x4, #1\nC${k}: b B${next[k]}\n`;
  return words(src);
}
const COLD_AT = CODE + 0x11000;

/**
 * Warm code with a boot's footprint: the cold cycle's shape, translated, each block loading
 * and storing in one of 160 data pages (past x5, the data), so that code, dispatch entries and
 * the TLB's mirror all spill out of the caches as a boot's warm code does.
 */
function warmCycle(blocks: number): number[] {
  // From 64 KiB past x5: the code runs up to 8 KiB past x5.
  const pageOf = (k: number): number => 16 + ((k * 37) % 160);
  let src = 'b B0\n';
  const next = nextOf(blocks);
  for (let k = 0; k < blocks; k++) {
    src += `B${k}: add x11, x5, #${pageOf(k)}, lsl #12\n ldr x9, [x11, #${8 * (k % 64)}]\n add x1, x1, x9\n tst x1, #1\n b.eq C${k}\n str x1, [x11, #${8 * (k % 64) + 512}]\nC${k}: b B${next[k]}\n`;
  }
  return words(src);
}

/** This tree's machine() and mmuOnFirstBlock(), or another checkout's (--against). */
interface Kit { machine: typeof machine; mmuOnFirstBlock: typeof mmuOnFirstBlock }
const HERE: Kit = { machine, mmuOnFirstBlock };

/** A CPU of `kit` about to run `words` at `at`: x5 the data, x6 a loop count, x2 a small operand. */
function setUp(kit: Kit, words: number[], translate: boolean, at: number, threshold: number): ReturnType<typeof machine> {
  const m = kit.machine(translate, { threshold, batchSize: 64 });
  writeWords(m.ram, at, words);
  kit.mmuOnFirstBlock(m); // as in a kernel: inline loads and stores need stage 1 on
  const s = m.cpu.s;
  s.pcLo = at;
  s.x[5 * 2] = DATA;
  s.x[6 * 2] = 0x7fffffff;
  s.x[2 * 2] = 3;
  return m;
}

/** M instructions per second over `seconds`, after `warmup` instructions (untimed). */
function run(words: number[], translate: boolean, seconds: number, at = CODE, threshold = 16, warmup = 0): number {
  const m = setUp(HERE, words, translate, at, threshold);
  for (let w = 0; w < warmup; w += 200_000) m.cpu.runBatch(200_000);
  const t0 = process.hrtime.bigint();
  let n = 0;
  while (Number(process.hrtime.bigint() - t0) < seconds * 1e9) {
    const exit = m.cpu.runBatch(200_000);
    if (exit) throw new Error(`exit ${JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
    n += 200_000;
  }
  const ns = Number(process.hrtime.bigint() - t0);
  const expected = n + Math.ceil(warmup / 200_000) * 200_000;
  if (m.cpu.instructionsRetired !== expected) throw new Error(`retired ${m.cpu.instructionsRetired}, expected ${expected}`);
  return (n / ns) * 1e3;
}

const againstAt = process.argv.indexOf('--against');
if (againstAt >= 0) {
  const root = resolve(process.argv[againstAt + 1] ?? '.');
  const other: Kit = {
    ...(await import(`${root}/test/cpu/translator/harness.ts`)) as Pick<Kit, 'machine'>,
    ...(await import(`${root}/test/cpu/translator/guest.ts`)) as Pick<Kit, 'mmuOnFirstBlock'>,
  };
  await compare(HERE, other, root);
  process.exit(0);
}

/** Median ns per instruction of every case on this tree (A) and on `other` (B), rounds interleaved. */
async function compare(here: Kit, other: Kit, root: string): Promise<void> {
  const ROUNDS = 31, PER_ROUND = 2_000_000;
  const cases: [string, number[], number, number][] = Object.entries(LOOPS).map(([name, w]) => [name, w, CODE, 16]);
  cases.push(['warm', warmCycle(7000), COLD_AT, 16], ['cold', coldCycle(7000), COLD_AT, 1e9]);
  console.log(`A: this tree, B: ${root}; median ns per instruction of ${ROUNDS} interleaved rounds, translated`);
  for (const [name, w, at, threshold] of cases) {
    const cpus = [here, other].map((kit) => setUp(kit, w, true, at, threshold).cpu);
    const ns: number[][] = [[], []];
    for (let r = 0; r < ROUNDS; r++) {
      for (const i of r & 1 ? [1, 0] : [0, 1]) {
        const t0 = process.hrtime.bigint();
        for (let n = 0; n < PER_ROUND; n += 200_000) cpus[i].runBatch(200_000);
        ns[i].push(Number(process.hrtime.bigint() - t0) / PER_ROUND);
      }
    }
    const [a, b] = ns.map((v) => v.sort((x, y) => x - y)[ROUNDS >> 1]);
    console.log(`${name.padEnd(7)} A ${a.toFixed(3)}  B ${b.toFixed(3)}  B/A ${(b / a).toFixed(3)}`);
  }
}

for (const [name, words] of Object.entries(LOOPS)) {
  const interp = run(words, false, 2);
  const tr = run(words, true, 2);
  console.log(`${name.padEnd(7)} interpreter ${interp.toFixed(1)} M instr/s, translated ${tr.toFixed(1)} M instr/s (x${(tr / interp).toFixed(1)})`);
}
{
  const warm = warmCycle(7000);
  const interp = run(warm, false, 2, COLD_AT);
  const tr = run(warm, true, 2, COLD_AT, 16, 40_000_000);
  console.log(`warm    interpreter ${interp.toFixed(1)} M instr/s, translated ${tr.toFixed(1)} M instr/s (x${(tr / interp).toFixed(1)}; 7000 blocks, 160 data pages, after 40 M to translate them)`);
}
{
  const cold = coldCycle(7000);
  const interp = run(cold, false, 2, COLD_AT);
  const tier = run(cold, true, 2, COLD_AT, 1e9);
  console.log(`cold    interpreter ${interp.toFixed(1)} M instr/s, tier's batch loop (untranslated) ${tier.toFixed(1)} M instr/s`);
}
