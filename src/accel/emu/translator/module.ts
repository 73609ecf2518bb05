// One WebAssembly module per batch of hot blocks (in address order), all of them in one function,
// run(id, budget): a loop around a br_table on the slot of the block to run (the low bits of
// a block id; the high bits are the module number). A block continues in a later block of the
// module with a branch to its label, in itself through a loop around its own code, in an
// earlier one by setting the slot and going round the loop; it leaves run() with the id of a block
// of another module (from the dispatch table, checked in wasm) in OFF_NEXT, and the dispatcher
// (compileDispatcher) calls that module's run() through the table of runs. Helpers are
// called through a small table of forwarders (helperTable). run() returns the
// instructions it retired. One function rather than one per block: a jump is a branch
// instead of a return and an indirect call, the counters are locals instead of imported
// globals, and V8 optimizes the module's code once it is hot as a whole.
// A block may continue directly in another block of the batch only within the same 4K page
// and the same virtual-to-physical relation, which the batch loop checked when it entered
// the first block (translation cannot change inside translated code: system instructions
// are never translated).
import { Code, I32, I64, Op, buildModule, type FuncType, type ModuleSpec } from './wasm.ts';
import { BLOCK_ID_BITS, BlockGen, F_LD64, F_LD8, F_ST64, F_ST8, HELPER_NAMES, HELPER_TYPES, LEAVE_DEPTH, LOOKUP_DEPTH, LOOP_DEPTH, MAX_BATCH, P_SLOT, RUN_LOCALS, type StateLayout } from './codegen.ts';
import { branchesToItself } from './successors.ts';
import { OFF_DISPATCHED, OFF_HOPS, OFF_NEXT, OFF_RES, OFF_STARVED } from '../state-area.ts';

export { BLOCK_ID_BITS, MAX_BATCH };

export type RunFn = (id: number, budget: number) => number;

export interface BatchBlock {
  readonly lo: number;
  readonly hi: number;
  readonly pa: number;
  readonly va: bigint;
  readonly words: Uint32Array;
  /** Set once its module is compiled: the dispatcher may then enter it. */
  compiled: boolean;
  index: number;
}

// Every helper's last two parameters are the call site and the instructions retired (codegen.ts callHelper).
const TYPES: FuncType[] = [
  { params: [I32, I32, I32, I32, I32], results: [I32] }, // ld8/16/32 (lo, hi, iss)
  { params: [I32, I32, I32, I32, I32], results: [] }, // ld64 (lo, hi, iss): result in the state memory
  { params: [I32, I32, I32, I32, I32, I32], results: [I32] }, // st8/16/32 (lo, hi, value, iss) -> code page written
  { params: [I32, I32, I32, I32, I32, I32, I32], results: [I32] }, // st64 (lo, hi, vlo, vhi, iss)
  { params: [I32, I32], results: [I32] }, // run (id, budget) -> instructions retired
  { params: [I32, I32, I32], results: [I32] }, // interp (instruction) -> code page written
  { params: [I64, I32, I32, I32], results: [I32] }, // ld8/16/32 stub (address, iss)
  { params: [I64, I32, I32, I32], results: [I64] }, // ld64 stub (address, iss)
  { params: [I64, I64, I32, I32, I32], results: [I32] }, // st8/16/32/64 stub (address, value, iss)
];
const T_RUN = 4, T_LOAD_STUB = 6, T_LOAD64_STUB = 7, T_STORE_STUB = 8;

/** run()'s body while a batch is built, reused (buildModule copies it out): a fresh buffer grown to a batch's size cost more than its code. */
const batchCode = new Code(1 << 16);

/**
 * The wasm binary for these blocks, module number `moduleNo`: blocks[i].index must be
 * moduleNo << BLOCK_ID_BITS | i (assigned by the caller), the id jumps use.
 */
export function buildBatch(blocks: readonly BatchBlock[], moduleNo: number, layout: StateLayout = { base: 0, inline: false }): Uint8Array {
  if (blocks.length === 0 || blocks.length > MAX_BATCH) throw new RangeError(`1 to ${MAX_BATCH} blocks per module`);
  const byVa = new Map<bigint, number>();
  blocks.forEach((b, i) => { if (!byVa.has(b.va)) byVa.set(b.va, i); });
  const n = blocks.length;
  const code = batchCode.reset();
  // block $invalid (a slot past the blocks) / loop / block $leave / block $lookup /
  // block b[n-1] ... block b[0] / br_table.
  const tails = new BlockGen(code, 0n, { chain: () => -1, moduleNo }, layout);
  tails.runPrologue();
  code.get(P_SLOT).i32(MAX_BATCH - 1).op(Op.i32And).set(P_SLOT);
  code.blockVoid().loopVoid().blockVoid().blockVoid();
  if (code.depth !== LOOKUP_DEPTH || LEAVE_DEPTH !== LOOKUP_DEPTH - 1 || LOOP_DEPTH !== LEAVE_DEPTH - 1) throw new Error('run(): nesting');
  for (let i = 0; i < n; i++) code.blockVoid();
  code.get(P_SLOT).brTable(blocks.map((_, i) => i), n + LOOKUP_DEPTH - 1);
  blocks.forEach((b, i) => {
    code.op(Op.end); // block b[i]: its code follows, and ends in a branch or a return
    const chain = (va: bigint): number => {
      const t = byVa.get(va);
      if (t === undefined) return -1;
      const sameVaPage = (va >> 12n) === (b.va >> 12n);
      return sameVaPage && blocks[t].pa - b.pa === Number(va - b.va) ? t : -1;
    };
    // Block t's code follows the end of the construct opened at nesting LOOKUP_DEPTH + n - t;
    // a block that loops on itself has a loop of its own around its code.
    const self = branchesToItself(b.words);
    if (self) code.loopVoid();
    const selfDepth = code.depth;
    const labelOf = (t: number): number | undefined => (t > i ? LOOKUP_DEPTH + n - t : t === i && self ? selfDepth : undefined);
    const gen = new BlockGen(code, b.va, { chain, labelOf, moduleNo, slot: i, loops: self }, layout);
    gen.entry(b.words.length);
    let ended = false;
    for (let k = 0; k < b.words.length; k++) {
      gen.k = k;
      const r = gen.insn(b.words[k]);
      if (r === false) throw new Error(`instruction 0x${b.words[k].toString(16)} at 0x${(b.va + 4n * BigInt(k)).toString(16)} no longer translates`);
      if (r === 'end') { ended = true; break; }
    }
    if (!ended) { gen.k = b.words.length; gen.fallThrough(); }
    if (self) code.op(Op.end);
  });
  code.op(Op.end); // block $lookup
  tails.lookupTail();
  code.op(Op.end); // block $leave
  tails.leaveTail();
  code.op(Op.end).op(Op.end); // loop, block $invalid
  code.i32(0).i32(-1).store32(layout.base + OFF_NEXT).i32(0);
  return buildModule({
    types: TYPES,
    importFuncs: [], // helpers are called through the imported table (helperTable)
    importMemory: true,
    importTable: true,
    funcs: [{ type: T_RUN, locals: RUN_LOCALS, body: code }, ...memoryStubs(layout.base)],
    globals: 0,
    exports: [{ name: 'run', func: 0 }],
    table: [],
  });
}

/**
 * Functions MEMORY_STUB0 + f of a batch: memory helper f (F_LD8..F_ST64) called with the
 * address, and a store's value, split into words (JS helpers take no i64: a BigInt per call
 * would cost far more). One per module, so a slow path is a short direct call.
 */
function memoryStubs(base: number): ModuleFunc[] {
  let stubs = memoryStubsByBase.get(base);
  if (stubs === undefined) memoryStubsByBase.set(base, (stubs = buildMemoryStubs(base)));
  return stubs;
}
/** The stubs by state-area base (one per vCPU): the same for every batch of that vCPU. */
const memoryStubsByBase = new Map<number, ModuleFunc[]>();
type ModuleFunc = ModuleSpec['funcs'][number];

function buildMemoryStubs(base: number): ModuleFunc[] {
  const word = (c: Code, p: number, high: boolean): void => {
    c.get(p);
    if (high) c.i64(32n).op(Op.i64ShrU);
    c.op(Op.i32WrapI64);
  };
  return HELPER_NAMES.slice(F_LD8, F_ST64 + 1).map((_, i) => {
    const f = F_LD8 + i, store = f >= F_ST8, body = new Code(48);
    word(body, 0, false); word(body, 0, true);
    if (store) { word(body, 1, false); if (f === F_ST64) word(body, 1, true); }
    const rest = store ? 2 : 1; // iss, call site, instructions retired
    body.get(rest).get(rest + 1).get(rest + 2).i32(f).callIndirect(HELPER_TYPES[f]);
    if (f === F_LD64) body.i32(0).load64(base + OFF_RES); // ld64 leaves its result in the state area
    return { type: store ? T_STORE_STUB : f === F_LD64 ? T_LOAD64_STUB : T_LOAD_STUB, locals: [], body };
  });
}

/**
 * The helpers (HELPER_NAMES, in that order) as a table of wasm functions, which batch modules
 * import and call with call_indirect. Not as imported functions: V8 compiles a wrapper for
 * every imported JS function into every module that imports one, which cost about 1.5 ms a
 * module (more than the code of a small batch). Here one module of forwarders imports them
 * and pays for the wrappers once.
 */
export function helperTable(helpers: Record<string, (...a: number[]) => number | void>): FuncTable {
  const funcs = HELPER_NAMES.map((_, i) => {
    const body = new Code();
    const t = TYPES[HELPER_TYPES[i]];
    for (let p = 0; p < t.params.length; p++) body.get(p);
    body.call(i);
    return { type: HELPER_TYPES[i], locals: [] as [number, number][], body };
  });
  const bin = buildModule({
    types: TYPES,
    importFuncs: HELPER_NAMES.map((name, i) => ({ name, type: HELPER_TYPES[i] })),
    importMemory: false,
    funcs,
    globals: 0,
    exports: HELPER_NAMES.map((name, i) => ({ name, func: HELPER_NAMES.length + i })),
    table: [],
  });
  const imports: Record<string, unknown> = {};
  for (const name of HELPER_NAMES) {
    if (typeof helpers[name] !== 'function') throw new Error(`helper ${name} missing`);
    imports[name] = helpers[name];
  }
  const exported = new WebAssembly.Instance(new WebAssembly.Module(bin.buffer as ArrayBuffer), { e: imports } as never).exports;
  const table = newTable(HELPER_NAMES.length);
  HELPER_NAMES.forEach((name, i) => table.set(i, exported[name]));
  return table;
}

/** Modules a vCPU may hold before it translates everything anew: the size of the table of runs. */
export const MAX_MODULES = 4096;

/** A WebAssembly.Table of functions (the TypeScript lib in use does not declare Table). */
export interface FuncTable { set(index: number, f: unknown): void }

/** The table of runs the dispatcher calls through: never grown, so V8 never copies it. */
export function newRunTable(): FuncTable {
  return newTable(MAX_MODULES);
}

function newTable(size: number): FuncTable {
  const T = (WebAssembly as unknown as { Table: new (d: { element: string; initial: number; maximum: number }) => FuncTable }).Table;
  return new T({ element: 'anyfunc', initial: size, maximum: size });
}

/**
 * The dispatcher: one small module per vCPU that follows ids across modules in wasm, calling
 * each module's run() through a table of runs (table[moduleNo] = that module's run), as the
 * batch loop would. Only this module imports the table, so instantiating a batch copies no
 * table and a hop between modules costs one indirect call instead of a JS round trip.
 * `base` is the vCPU's state area in `memory`. dispatch(id, budget) returns the instructions retired; before each run it stores those
 * already retired at OFF_DISPATCHED, which a fault thrown out of a helper leaves behind.
 * OFF_HOPS and OFF_STARVED count (wrapping) the hops and the hops whose run found too little
 * budget for its block and retired nothing.
 */
export function compileDispatcher(memory: WebAssembly.Memory, runs: FuncTable, base: number): RunFn {
  const ID = 0, BUDGET = 1, DONE = 2, HOP = 3, R = 4;
  const d = new Code();
  d.loopVoid();
  d.i32(0).get(DONE).store32(base + OFF_DISPATCHED);
  d.get(ID).get(BUDGET).get(DONE).op(Op.i32Sub);
  d.get(ID).i32(BLOCK_ID_BITS).op(Op.i32ShrU).op(Op.callIndirect).u32(0).u32(0).tee(R);
  d.get(DONE).op(Op.i32Add).set(DONE);
  // Count the hops between modules, and those that found too little budget for their block.
  d.get(HOP).ifVoid();
  d.i32(0).i32(0).load32(base + OFF_HOPS).i32(1).op(Op.i32Add).store32(base + OFF_HOPS);
  d.i32(0).i32(0).load32(base + OFF_STARVED).get(R).op(Op.i32Eqz).op(Op.i32Add).store32(base + OFF_STARVED);
  d.op(Op.end);
  d.i32(1).set(HOP);
  d.i32(0).load32(base + OFF_NEXT).tee(ID).i32(0).op(Op.i32GeS).op(Op.brIf).u32(0);
  d.op(Op.end);
  d.get(DONE);
  const bin = buildModule({
    types: [TYPES[T_RUN]], importFuncs: [], importMemory: true, importTable: true,
    funcs: [{ type: 0, locals: [[3, I32]], body: d }], globals: 0, exports: [{ name: 'dispatch', func: 0 }], table: [],
  });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bin.buffer as ArrayBuffer), { e: { mem: memory, table: runs } } as never);
  return instance.exports.dispatch as RunFn;
}
