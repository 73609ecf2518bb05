// One WebAssembly module per batch of hot blocks: a function per block returning the table
// index of the block to continue with (-1: back to the batch loop), and run(index, budget),
// which follows that chain in the module. A block may continue directly in another block of
// the batch only within the same 4K page and the same virtual-to-physical relation, which
// the batch loop checked when it entered the first block (translation cannot change inside
// translated code: system instructions are never translated).
import { Code, I32, Op, buildModule, type FuncType } from './wasm.ts';
import { BLOCK_LOCALS, BlockGen, HELPER_NAMES, HELPER_TYPES } from './codegen.ts';

/** The parts of WebAssembly.Table used here (Node's typings do not declare it). */
export interface FuncTable {
  readonly length: number;
  grow(delta: number): number;
  set(index: number, f: unknown): void;
}

/** The two mutable i32 globals every module of a vCPU shares (instructions done, budget). */
export function newRunGlobals(): { g0: unknown; g1: unknown } {
  const G = (WebAssembly as unknown as { Global: new (d: { value: string; mutable: boolean }, v: number) => unknown }).Global;
  return { g0: new G({ value: 'i32', mutable: true }, 0), g1: new G({ value: 'i32', mutable: true }, 0) };
}

export function newFuncTable(initial: number): FuncTable {
  return new (WebAssembly as unknown as { Table: new (d: { element: string; initial: number }) => FuncTable }).Table({ element: 'anyfunc', initial });
}

export interface BatchBlock {
  readonly lo: number;
  readonly hi: number;
  readonly pa: number;
  readonly va: bigint;
  readonly words: Uint32Array;
  run: ((index: number, budget: number) => number) | undefined;
  index: number;
}

const TYPES: FuncType[] = [
  { params: [I32, I32, I32], results: [I32] }, // ld8/16/32 (lo, hi, iss)
  { params: [I32, I32, I32], results: [] }, // ld64 (lo, hi, iss): result in the state memory
  { params: [I32, I32, I32, I32], results: [I32] }, // st8/16/32 (lo, hi, value, iss) -> code page written
  { params: [I32, I32, I32, I32, I32], results: [I32] }, // st64 (lo, hi, vlo, vhi, iss)
  { params: [], results: [I32] }, // a block
  { params: [I32, I32], results: [I32] }, // run (index, budget) -> instructions retired
];
const T_BLOCK = 4, T_RUN = 5;
const G_DONE = 0, G_BUDGET = 1;

/**
 * The wasm binary for these blocks; block i exports as b<i>, to be placed in the shared
 * table at blocks[i].index (assigned by the caller), the id direct jumps use.
 */
export function buildBatch(blocks: readonly BatchBlock[]): Uint8Array {
  const byVa = new Map<bigint, number>();
  blocks.forEach((b, i) => { if (!byVa.has(b.va)) byVa.set(b.va, i); });
  const nImports = HELPER_NAMES.length;
  const funcs = blocks.map((b) => {
    const chain = (va: bigint): number => {
      const t = byVa.get(va);
      if (t === undefined) return -1;
      const tb = blocks[t];
      const sameVaPage = (va >> 12n) === (b.va >> 12n);
      return sameVaPage && tb.pa - b.pa === Number(va - b.va) ? tb.index : -1;
    };
    const code = new Code();
    const gen = new BlockGen(code, b.va, { chain });
    gen.entry(b.words.length);
    let ended = false;
    for (let i = 0; i < b.words.length; i++) {
      gen.k = i;
      const r = gen.insn(b.words[i]);
      if (r === false) throw new Error(`instruction 0x${b.words[i].toString(16)} at 0x${(b.va + 4n * BigInt(i)).toString(16)} no longer translates`);
      if (r === 'end') { ended = true; break; }
    }
    if (!ended) { gen.k = b.words.length; gen.fallThrough(); }
    return { type: T_BLOCK, locals: BLOCK_LOCALS, body: code };
  });
  const run = new Code();
  run.get(1).op(Op.globalSet).u32(G_BUDGET).i32(0).op(Op.globalSet).u32(G_DONE);
  run.loopVoid().get(0).op(Op.callIndirect).u32(T_BLOCK).u32(0).tee(0).i32(0).op(Op.i32GeS).op(Op.brIf).u32(0).op(Op.end);
  run.op(Op.globalGet).u32(G_DONE);
  funcs.push({ type: T_RUN, locals: [], body: run });
  return buildModule({
    types: TYPES,
    importFuncs: HELPER_NAMES.map((name, i) => ({ name, type: HELPER_TYPES[i] })),
    importMemory: true,
    importTable: true,
    // done and budget: shared by every module, since blocks of one run span modules
    importGlobals: 2,
    funcs,
    globals: 0,
    exports: [{ name: 'run', func: nImports + blocks.length }, ...blocks.map((_, i) => ({ name: `b${i}`, func: nImports + i }))],
    table: [],
  });
}

/**
 * Compile and instantiate the batch against the shared table (which must already hold
 * slots up to every block's index); each block gets its module's run() and its slot.
 */
export function compileBatch(blocks: readonly BatchBlock[], imports: Record<string, unknown>, table: FuncTable): void {
  const bin = buildBatch(blocks);
  const module = new WebAssembly.Module(bin.buffer as ArrayBuffer); // bin owns its whole buffer
  const instance = new WebAssembly.Instance(module, { e: { ...imports, table } } as never);
  const run = instance.exports.run as (index: number, budget: number) => number;
  blocks.forEach((b, i) => {
    table.set(b.index, instance.exports[`b${i}`] as never);
    b.run = run;
  });
}
