// A minimal WebAssembly binary writer: LEB128, opcodes, and a module builder with exactly
// the sections the translator needs (types, imports, functions, table, globals, exports,
// elements, code). The binary is produced directly; no text format is involved.

export const I32 = 0x7f;
export const I64 = 0x7e;
export const FUNCREF = 0x70;
const BLOCK_EMPTY = 0x40;

export const Op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d, brTable: 0x0e,
  return: 0x0f, call: 0x10, callIndirect: 0x11, drop: 0x1a, select: 0x1b,
  localGet: 0x20, localSet: 0x21, localTee: 0x22, globalGet: 0x23, globalSet: 0x24,
  i32Load: 0x28, i64Load: 0x29, i32Load8U: 0x2d, i32Load16U: 0x2f, i32Store: 0x36, i64Store: 0x37, i32Store8: 0x3a, i32Store16: 0x3b,
  i32Const: 0x41, i64Const: 0x42,
  i32Eqz: 0x45, i32Eq: 0x46, i32Ne: 0x47, i32LtS: 0x48, i32LtU: 0x49, i32GtS: 0x4a, i32GtU: 0x4b, i32LeU: 0x4d, i32GeS: 0x4e, i32GeU: 0x4f,
  i64Eqz: 0x50, i64Eq: 0x51, i64Ne: 0x52, i64LtU: 0x54, i64GtU: 0x56, i64LeU: 0x58, i64GeU: 0x5a,
  i32Clz: 0x67, i32Add: 0x6a, i32Sub: 0x6b, i32Mul: 0x6c, i32DivS: 0x6d, i32DivU: 0x6e, i32And: 0x71, i32Or: 0x72, i32Xor: 0x73,
  i32Shl: 0x74, i32ShrS: 0x75, i32ShrU: 0x76, i32Rotr: 0x78,
  i64Clz: 0x79, i64Add: 0x7c, i64Sub: 0x7d, i64Mul: 0x7e, i64DivS: 0x7f, i64DivU: 0x80, i64And: 0x83, i64Or: 0x84, i64Xor: 0x85,
  i64Shl: 0x86, i64ShrS: 0x87, i64ShrU: 0x88, i64Rotr: 0x8a,
  f32Eq: 0x5b, f32Lt: 0x5d, f32Ge: 0x60, f64Eq: 0x61, f64Lt: 0x63, f64Ge: 0x66,
  i32WrapI64: 0xa7, i64ExtendI32S: 0xac, i64ExtendI32U: 0xad,
  f64ConvertI32S: 0xb7, f64ConvertI32U: 0xb8, i64ReinterpretF64: 0xbd, f32ReinterpretI32: 0xbe, f64ReinterpretI64: 0xbf,
  i32Extend8S: 0xc0, i32Extend16S: 0xc1, i64Extend8S: 0xc2, i64Extend16S: 0xc3, i64Extend32S: 0xc4,
} as const;

/** A growable byte buffer with LEB128 writers. */
export class Bytes {
  private buf: Uint8Array;
  length = 0;
  /** `capacity`: the bytes expected, so that a large buffer is not grown (and copied) step by step. */
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  private grow(extra: number): void {
    let size = this.buf.length * 2;
    while (size < this.length + extra) size *= 2;
    const n = new Uint8Array(size);
    n.set(this.buf.subarray(0, this.length));
    this.buf = n;
  }

  byte(b: number): this {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
    return this;
  }

  bytes(src: Uint8Array | number[]): this {
    if (this.length + src.length > this.buf.length) this.grow(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
    return this;
  }

  u32(v: number): this {
    v >>>= 0;
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
    return this;
  }

  s32(v: number): this {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  s64(v: bigint): this {
    // Most constants fit in 32 bits, and their LEB128 is the same at either width.
    if (v >= -0x80000000n && v <= 0x7fffffffn) return this.s32(Number(v));
    // On two int32 halves: BigInt arithmetic per 7-bit group is slow.
    let lo = Number(BigInt.asUintN(32, v)) | 0;
    let hi = Number(BigInt.asIntN(32, v >> 32n));
    for (;;) {
      const b = lo & 0x7f;
      lo = (lo >>> 7) | (hi << 25);
      hi >>= 7;
      if ((hi === 0 && lo === 0 && (b & 0x40) === 0) || (hi === -1 && lo === -1 && (b & 0x40) !== 0)) return this.byte(b);
      this.byte(b | 0x80);
    }
  }

  name(s: string): this {
    const enc = new TextEncoder().encode(s);
    return this.u32(enc.length).bytes(enc);
  }

  /** Append another buffer prefixed by its length (sections, function bodies). */
  sized(b: Bytes): this {
    this.u32(b.length);
    return this.bytes(b.buf.subarray(0, b.length));
  }

  /** Start again from empty, keeping the buffer. */
  reset(): this {
    this.length = 0;
    return this;
  }

  /** The bytes written so far, without copying (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  toUint8Array(): Uint8Array {
    return this.length === this.buf.length ? this.buf : this.buf.slice(0, this.length);
  }
}

/** Instruction-level helpers over Bytes for function bodies. */
export class Code extends Bytes {
  /**
   * Structured-control nesting at the current position (if/block/loop open one level, end
   * closes it): code at depth 0 runs on every path that reaches it, which the code generator's
   * register caching relies on. Every opcode goes through op() or the block openers below.
   */
  depth = 0;
  /**
   * Branch hints (the branch-hinting proposal): the offset of each hinted `if` in the body and
   * 1 when its then-arm is the likely one, 0 when unlikely, in pairs, offsets increasing.
   */
  readonly hints: number[] = [];
  override reset(): this {
    this.depth = 0;
    this.hints.length = 0;
    return super.reset();
  }
  op(o: number): this {
    if (o === Op.end) this.depth--;
    else if (o === Op.if || o === Op.block || o === Op.loop) throw new Error('open blocks with ifVoid, ifResult, blockVoid or loopVoid');
    return this.byte(o);
  }
  i32(v: number): this { return this.byte(Op.i32Const).s32(v); }
  i64(v: bigint): this { return this.byte(Op.i64Const).s64(v); }
  get(l: number): this { return this.byte(Op.localGet).u32(l); }
  set(l: number): this { return this.byte(Op.localSet).u32(l); }
  tee(l: number): this { return this.byte(Op.localTee).u32(l); }
  /** Loads and stores at a constant address: base 0 pushed by the caller, offset in the memarg. */
  load32(offset: number): this { return this.byte(Op.i32Load).u32(2).u32(offset); }
  load64(offset: number): this { return this.byte(Op.i64Load).u32(3).u32(offset); }
  store32(offset: number): this { return this.byte(Op.i32Store).u32(2).u32(offset); }
  store64(offset: number): this { return this.byte(Op.i64Store).u32(3).u32(offset); }
  /** A load or store `op` at a computed address, byte alignment (guest accesses may be unaligned). */
  mem(op: number, offset = 0): this { return this.byte(op).u32(0).u32(offset); }
  /** `likely`: a branch hint, whether the then-arm is the one usually taken. */
  ifVoid(likely?: boolean): this { this.hint(likely); this.depth++; return this.byte(Op.if).byte(BLOCK_EMPTY); }
  ifResult(type: number, likely?: boolean): this { this.hint(likely); this.depth++; return this.byte(Op.if).byte(type); }
  private hint(likely: boolean | undefined): void {
    if (likely !== undefined) this.hints.push(this.length, likely ? 1 : 0);
  }
  blockVoid(): this { this.depth++; return this.byte(Op.block).byte(BLOCK_EMPTY); }
  loopVoid(): this { this.depth++; return this.byte(Op.loop).byte(BLOCK_EMPTY); }
  /** Branch to the construct opened when the nesting reached `depth` (br's relative index). */
  brTo(depth: number): this { return this.op(Op.br).u32(this.depth - depth); }
  /** br_table: index on the stack, one relative target per index, then the default. */
  brTable(targets: readonly number[], fallback: number): this {
    this.op(Op.brTable).u32(targets.length);
    for (const t of targets) this.u32(t);
    return this.u32(fallback);
  }
  call(f: number): this { return this.byte(Op.call).u32(f); }
  /** call_indirect through table 0, the callee's index on the stack. */
  callIndirect(type: number): this { return this.byte(Op.callIndirect).u32(type).u32(0); }
}

export interface FuncType { params: number[]; results: number[] }

export interface ModuleSpec {
  types: FuncType[];
  /** Imported functions (module "e"), by name and type index; they take indices 0.. */
  importFuncs: { name: string; type: number }[];
  /** Import the memory as e.mem. */
  importMemory: boolean;
  /** Import a function table as e.table (table 0); `table` then fills it from `tableOffset`. */
  importTable?: boolean;
  tableOffset?: number;
  /** Import this many mutable i32 globals as e.g0, e.g1... (they take indices 0..). */
  importGlobals?: number;
  /** Defined functions: type index, extra locals (grouped by type), body (without the final end). */
  funcs: { type: number; locals: [count: number, type: number][]; body: Code }[];
  /** Mutable i32 globals, initialised to 0. */
  globals: number;
  /** Exported defined functions: name and function index (imports count). */
  exports: { name: string; func: number }[];
  /** Function indices placed in table 0 from slot 0 (or tableOffset in an imported table). */
  table: number[];
}

export function buildModule(m: ModuleSpec): Uint8Array {
  const out = new Bytes().bytes([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, body: Bytes) => { out.byte(id).sized(body); };

  const types = new Bytes().u32(m.types.length);
  for (const t of m.types) {
    types.byte(0x60).u32(t.params.length).bytes(t.params).u32(t.results.length).bytes(t.results);
  }
  section(1, types);

  const nGlobals = m.importGlobals ?? 0;
  const imports = new Bytes().u32(m.importFuncs.length + (m.importMemory ? 1 : 0) + (m.importTable ? 1 : 0) + nGlobals);
  for (let i = 0; i < nGlobals; i++) imports.name('e').name(`g${i}`).byte(0x03).byte(I32).byte(0x01);
  if (m.importMemory) imports.name('e').name('mem').byte(0x02).byte(0x00).u32(1);
  if (m.importTable) imports.name('e').name('table').byte(0x01).byte(FUNCREF).byte(0x00).u32(0);
  for (const f of m.importFuncs) imports.name('e').name(f.name).byte(0x00).u32(f.type);
  section(2, imports);

  const funcs = new Bytes().u32(m.funcs.length);
  for (const f of m.funcs) funcs.u32(f.type);
  section(3, funcs);

  if (m.table.length > 0 && !m.importTable) {
    const table = new Bytes().u32(1).byte(FUNCREF).byte(0x01).u32(m.table.length).u32(m.table.length);
    section(4, table);
  }

  if (m.globals > 0) {
    const globals = new Bytes().u32(m.globals);
    for (let i = 0; i < m.globals; i++) globals.byte(I32).byte(0x01).byte(Op.i32Const).s32(0).byte(Op.end);
    section(6, globals);
  }

  const exports = new Bytes().u32(m.exports.length);
  for (const e of m.exports) exports.name(e.name).byte(0x00).u32(e.func);
  section(7, exports);

  if (m.table.length > 0) {
    const elems = new Bytes().u32(1).u32(0).byte(Op.i32Const).s32(m.importTable ? m.tableOffset ?? 0 : 0).byte(Op.end).u32(m.table.length);
    for (const f of m.table) elems.u32(f);
    section(9, elems);
  }

  // The code section is written straight into the output (it is nearly all of a batch's
  // bytes), which is allocated once at its final size.
  const locals = m.funcs.map((f) => {
    const l = new Bytes(16).u32(f.locals.length);
    for (const [count, type] of f.locals) l.u32(count).byte(type);
    return l;
  });
  // Branch hints go before the code section; an offset counts from the start of the
  // function's body (its locals). An engine without the proposal skips the section.
  const hinted = m.funcs.map((f, i) => [f, i] as const).filter(([f]) => f.body.hints.length > 0);
  if (hinted.length > 0) {
    const hints = new Bytes().name('metadata.code.branch_hint').u32(hinted.length);
    for (const [f, i] of hinted) {
      const h = f.body.hints, base = locals[i].length;
      hints.u32(i + m.importFuncs.length).u32(h.length / 2);
      for (let j = 0; j < h.length; j += 2) hints.u32(base + h[j]).u32(1).byte(h[j + 1]);
    }
    section(0, hints);
  }
  const bodySizes = m.funcs.map((f, i) => locals[i].length + f.body.length + 1);
  const codeSize = bodySizes.reduce((n, b) => n + lebSize(b) + b, lebSize(m.funcs.length));
  const final = new Bytes(out.length + 1 + lebSize(codeSize) + codeSize);
  final.bytes(out.view()).byte(10).u32(codeSize).u32(m.funcs.length);
  m.funcs.forEach((f, i) => { final.u32(bodySizes[i]).bytes(locals[i].view()).bytes(f.body.view()).byte(Op.end); });
  return final.toUint8Array();
}

/** Bytes of v as an unsigned LEB128. */
function lebSize(v: number): number {
  let n = 1;
  for (v >>>= 7; v !== 0; v >>>= 7) n++;
  return n;
}
