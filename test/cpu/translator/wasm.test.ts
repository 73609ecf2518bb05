// The WebAssembly binary writer: LEB128 encodings against a BigInt reference, and a small
// module (imports, table, globals, call_indirect, i64 memory access) that V8 validates and runs,
// the nesting depth Code keeps, and the branch hints it records.
import { expect } from 'chai';
import { Bytes, Code, I32, I64, Op, buildModule } from '../../../src/accel/emu/translator/wasm.ts';
import { Rng } from './harness.ts';

function refSigned(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) { out.push(b); return out; }
    out.push(b | 0x80);
  }
}

/** Reads an unsigned LEB128 at `at`; returns the value and the offset after it. */
function readU32(b: Uint8Array, at: number): [number, number] {
  let v = 0, shift = 0;
  for (;;) {
    const x = b[at++];
    v += (x & 0x7f) * 2 ** shift;
    shift += 7;
    if ((x & 0x80) === 0) return [v, at];
  }
}

/** The bodies of the code section (each from its locals, as branch-hint offsets count). */
function functionBodies(bin: Uint8Array): Uint8Array[] {
  let at = 8;
  while (at < bin.length) {
    const id = bin[at];
    const [size, start] = readU32(bin, at + 1);
    if (id === 10) {
      let [count, p] = readU32(bin, start);
      const bodies: Uint8Array[] = [];
      for (; count > 0; count--) {
        const [len, q] = readU32(bin, p);
        bodies.push(bin.subarray(q, q + len));
        p = q + len;
      }
      return bodies;
    }
    at = start + size;
  }
  throw new Error('no code section');
}

function refUnsigned(v: bigint): number[] {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return out;
}

describe('wasm binary writer', () => {
  it('LEB128: u32, s32 and s64 match a BigInt reference', () => {
    const rng = new Rng(42);
    const edge = [0n, 1n, -1n, 63n, 64n, -64n, -65n, 127n, 128n, 0x7fffffffn, -0x80000000n, 0xffffffffn, 1n << 32n, (1n << 63n) - 1n, -(1n << 63n)];
    const values = [...edge];
    for (let i = 0; i < 2000; i++) values.push(BigInt.asIntN(64, (BigInt(rng.u32()) << 32n) | BigInt(rng.u32())) >> BigInt(rng.below(64)));
    for (const v of values) {
      expect(Array.from(new Bytes().s64(v).toUint8Array()), `s64 ${v}`).to.deep.equal(refSigned(v));
      const v32 = BigInt.asIntN(32, v);
      expect(Array.from(new Bytes().s32(Number(v32)).toUint8Array()), `s32 ${v32}`).to.deep.equal(refSigned(v32));
      const u32 = BigInt.asUintN(32, v);
      expect(Array.from(new Bytes().u32(Number(u32)).toUint8Array()), `u32 ${u32}`).to.deep.equal(refUnsigned(u32));
    }
    // Growing past the initial buffer keeps every byte.
    const big = new Bytes();
    for (let i = 0; i < 5000; i++) big.byte(i & 0xff);
    big.bytes(new Uint8Array(3000).fill(7));
    const all = big.toUint8Array();
    expect(all.length).to.equal(8000);
    expect(all[4999]).to.equal(4999 & 0xff);
    expect(all[7999]).to.equal(7);
  });

  it('builds a module that validates and runs: imports, memory, globals, table, call_indirect', () => {
    // f0 (imported): (i32) -> i32; f1: () -> i32 reads an i64 at 8 and adds the import's
    // result; f2 (exported): (i32) -> i32 calls table[arg] and counts calls in global 0.
    const f1 = new Code();
    f1.i32(0).load64(8).i64(5n).op(Op.i64Mul).op(Op.i32WrapI64).i32(3).call(0).op(Op.i32Add);
    const f2 = new Code();
    f2.op(Op.globalGet).u32(0).i32(1).op(Op.i32Add).op(Op.globalSet).u32(0);
    f2.get(0).op(Op.callIndirect).u32(1).u32(0).op(Op.globalGet).u32(0).op(Op.i32Add);
    const bin = buildModule({
      types: [{ params: [I32], results: [I32] }, { params: [], results: [I32] }],
      importFuncs: [{ name: 'twice', type: 0 }],
      importMemory: true,
      funcs: [{ type: 1, locals: [[1, I64]], body: f1 }, { type: 0, locals: [], body: f2 }],
      globals: 1,
      exports: [{ name: 'go', func: 2 }],
      table: [1],
    });
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    new BigInt64Array(mem.buffer, 8, 1)[0] = 7n;
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bin.buffer as ArrayBuffer), { e: { mem, twice: (x: number) => 2 * x } } as never);
    const go = inst.exports.go as (i: number) => number;
    expect(go(0)).to.equal(35 + 6 + 1);
    expect(go(0)).to.equal(35 + 6 + 2);
    expect(() => go(1)).to.throw(); // out of table bounds
  });

  it('Code tracks the nesting depth of if, block and loop (the code generator caches registers only at depth 0)', () => {
    const c = new Code();
    c.blockVoid().loopVoid().i32(1).ifResult(I32).i32(2).op(Op.else);
    expect(c.depth).to.equal(3);
    c.i32(1).ifVoid().op(Op.end).i32(3).op(Op.end);
    expect(c.depth).to.equal(2);
    c.op(Op.drop).op(Op.end).op(Op.end);
    expect(c.depth).to.equal(0);
    expect(() => c.op(Op.if), 'an if opened without its block type').to.throw();
  });

  it('branch hints: one custom section entry per hinted if, at its offset in the body, and the module still runs', () => {
    // f1 (unhinted, no locals) returns 1; f2 (a local, two hinted ifs, one unhinted)
    // returns arg < 10 ? 100 : arg & 1 ? 7 : 8.
    const f1 = new Code().i32(1);
    const f2 = new Code();
    f2.get(0).i32(10).op(Op.i32LtU).ifResult(I32, true).i32(100).op(Op.else);
    f2.get(0).i32(1).op(Op.i32And).ifResult(I32, false).i32(7).op(Op.else).i32(8).op(Op.end).op(Op.end);
    f2.i32(0).ifVoid().op(Op.end);
    const bin = buildModule({
      types: [{ params: [], results: [I32] }, { params: [I32], results: [I32] }],
      importFuncs: [{ name: 'unused', type: 0 }],
      importMemory: false,
      funcs: [{ type: 0, locals: [], body: f1 }, { type: 1, locals: [[2, I64]], body: f2 }],
      globals: 0,
      exports: [{ name: 'go', func: 2 }],
      table: [],
    });
    const mod = new WebAssembly.Module(bin.buffer as ArrayBuffer);
    // Node's typings leave out Module.customSections (a standard JS API since wasm 1.0).
    const { customSections } = WebAssembly.Module as unknown as { customSections(m: WebAssembly.Module, name: string): ArrayBuffer[] };
    const sections = customSections(mod, 'metadata.code.branch_hint');
    expect(sections).to.have.length(1);
    const s = new Uint8Array(sections[0]);
    let [funcs, at] = readU32(s, 0);
    expect(funcs, 'only the hinted function').to.equal(1);
    let func: number, count: number;
    [func, at] = readU32(s, at);
    expect(func, 'function index counts the import').to.equal(2);
    [count, at] = readU32(s, at);
    expect(count).to.equal(2);
    const body = functionBodies(bin)[1];
    const hints: [number, number][] = [];
    for (let i = 0; i < count; i++) {
      let offset: number, size: number;
      [offset, at] = readU32(s, at);
      [size, at] = readU32(s, at);
      expect(size).to.equal(1);
      hints.push([offset, s[at++]]);
      expect(body[offset], `hint ${i} points at an if`).to.equal(Op.if);
    }
    expect(at).to.equal(s.length);
    expect(hints.map((h) => h[1])).to.deep.equal([1, 0]);
    expect(hints[0][0]).to.be.below(hints[1][0]);
    const go = new WebAssembly.Instance(mod, { e: { unused: () => 0 } } as never).exports.go as (i: number) => number;
    expect([go(3), go(11), go(12)]).to.deep.equal([100, 7, 8]);
    // A reset body forgets its hints.
    expect(f2.reset().hints).to.have.length(0);
  });
});
