// A64 -> WebAssembly for one instruction of a straight-line block. Registers live in the
// CPU state memory (state.ts layout: Xn as a little-endian i64 at 8n, SP in slot 32); NZCV
// and the block's exit PC live past the register file (layout below). Within a block they
// are kept in wasm locals (see "registers" below) and written back before every helper call,
// every inline load or store (mirrorHit) and every exit.
// Canonical encodings of the common integer instructions are translated; other data
// processing, FP/SIMD and load/store instructions call the interpreter for that one
// instruction; branches and system instructions not handled here return false and end the
// block before them, so the interpreter executes them. When the state area is in guest
// RAM's memory, loads and stores that hit the TLB mirror (tlb-mirror.ts) access RAM inline;
// the others call imported JS helpers (the MMU) with the call site and the count of
// instructions retired, from which a helper that faults or exits stores the instruction's
// PC and count, so a fault or an MMIO exit inside a block leaves the state the interpreter would.
import { Code, Op, I32, I64 } from './wasm.ts';
import { bitMasks, maskWords } from '../alu.ts';
import { SysReg, sysRegId } from '../../sysregs.ts';
import { CTR_EL0, DCZID_EL0, DC_ZVA_BYTES } from '../id-registers.ts';
import { alwaysTrapsToVmm } from '../system.ts';
import {
  DISPATCH_SIZE, MIRROR_BASE, OFF_NEXT, MIRROR_ENTRY_SHIFT, MIRROR_TAGS, OFF_C, OFF_DISPATCH, OFF_EPOCH,
  OFF_MIRROR_EL, OFF_MODE, OFF_MONITOR, OFF_N, OFF_PC, OFF_PEER_MONITORS, OFF_SP_EL0, OFF_SYSREG_MIRROR, OFF_V, OFF_Z, TLB_SLOTS,
} from '../state-area.ts';
import { MIRRORED_SYSREGS } from '../sysreg-store.ts';
import { expandFpImm } from '../simd-fp/fp-scalar.ts';
import { rawToBits } from '../simd-fp/softfloat.ts';

/** Where a block's state area is: its offset in the imported memory, and whether guest RAM is in that memory (inline loads and stores). */
export interface StateLayout {
  base: number;
  inline: boolean;
  /**
   * With inline: PA minus memory address of guest RAM when LDXR/STXR may run inline (RAM in
   * one mapping of the memory; the code also checks there is no other vCPU); else undefined.
   */
  exclusiveDelta?: bigint;
}

// ---- module-level indices shared with the module builder ----
export const F_LD8 = 0, F_LD16 = 1, F_LD32 = 2, F_LD64 = 3, F_ST8 = 4, F_ST16 = 5, F_ST32 = 6, F_ST64 = 7, F_INTERP = 8, F_SYS = 9;
/**
 * Function index, in a batch module, of the stub that calls memory helper f (F_LD8..F_ST64)
 * with the address (and value) split into words: one short call per slow path instead of
 * that split and the indirect call at each (module.ts memoryStubs).
 */
export const MEMORY_STUB0 = 1;
export const HELPER_NAMES = ['ld8', 'ld16', 'ld32', 'ld64', 'st8', 'st16', 'st32', 'st64', 'interp', 'sys'];
/** Type index of each helper (see TYPES in module.ts); helper f is entry f of the helper table (module.ts helperTable). */
export const HELPER_TYPES = [0, 0, 0, 1, 2, 2, 2, 3, 5, 5];
/**
 * System registers the hot MRS path reads without the interpreter (rid = sysRegId layout,
 * `0x8000 | insn[20:5]`): SP_EL0 (Linux's `current`), TPIDR_EL1 (per-CPU offset),
 * TPIDR_EL0, TPIDRRO_EL0 (TLS) and DAIF (irqsave).
 */
export const MRS_DAIF = sysRegId(3, 3, 4, 2, 1);
/** CTR_EL0 and DCZID_EL0: constants (id-registers.ts), read inline at EL1 (the kernel's cache maintenance loops read them). */
export const MRS_CTR = sysRegId(3, 3, 0, 0, 1), MRS_DCZID = sysRegId(3, 3, 0, 0, 7);
export const FAST_MRS = new Set([SysReg.SP_EL0, SysReg.TPIDR_EL1, SysReg.TPIDR_EL0, SysReg.TPIDRRO_EL0, MRS_DAIF, MRS_CTR, MRS_DCZID]);
// A module's blocks are one function, run(slot, budget) (module.ts): its params, then the
// blocks' scratch locals (six i64, four i32), the run's own (three i32), then the cached guest state: one
// i64 per register slot (X0..X30, slot 31 unused: XZR is never stored, SP in 32) and one i32
// per flag.
/** Params: the slot of the block to run next (a block id on entry), the instructions the run may retire. */
export const P_SLOT = 0, P_BUDGET = 1;
const L0 = 2, L1 = 3, L2 = 4, L3 = 5, L4 = 6;
const U0 = 8, U1 = 9;
/** An inline access's address low word and its TLB slot. */
const A_LO = 10, A_ENTRY = 11;
/** Instructions retired so far in this run; a block id being followed. */
const R_DONE = 12, R_NEXT = 13;
/**
 * The address of the current EL's tags in the TLB mirror (from OFF_MIRROR_EL, read once per
 * run: the EL cannot change inside translated code), and the state area's base: state
 * accesses address it from this local, leaving only small offsets in their memargs.
 */
const R_MIRROR_EL = 14, R_SB = 15;
const REG_LOCALS = 16, FLAG_LOCALS = REG_LOCALS + 33;
/** The run function's declared locals (after the params). */
export const RUN_LOCALS: [number, number][] = [[6, I64], [8, I32], [33, I64], [4, I32]];
/** Low bits of a block id: its slot in its module (so at most 1 << BLOCK_ID_BITS blocks per module). */
export const BLOCK_ID_BITS = 8;
export const MAX_BATCH = 1 << BLOCK_ID_BITS;
/**
 * A helper call site, an i32 constant: moduleNo << (BLOCK_ID_BITS + SITE_K_BITS) | slot <<
 * SITE_K_BITS | k, the instruction's index in its block (so blocks are at most 1 << SITE_K_BITS long).
 */
export const SITE_K_BITS = 6;
export const MAX_BLOCK_LENGTH = 1 << SITE_K_BITS;
export const callSite = (moduleNo: number, slot: number, k: number): number => (moduleNo << (BLOCK_ID_BITS + SITE_K_BITS)) | (slot << SITE_K_BITS) | k;
/** A call site's module number, block slot and instruction index. */
export const siteModule = (site: number): number => site >>> (BLOCK_ID_BITS + SITE_K_BITS);
export const siteSlot = (site: number): number => (site >>> SITE_K_BITS) & (MAX_BATCH - 1);
export const siteIndex = (site: number): number => site & (MAX_BLOCK_LENGTH - 1);
/** Nesting at which run() opens the loop every jump to a block of the module goes back to. */
export const LOOP_DEPTH = 2;
/**
 * Nestings of run()'s two shared tails (module.ts), each entered with a guest PC in L3: past
 * LEAVE_DEPTH's block it leaves for the batch loop at that PC, past LOOKUP_DEPTH's it looks the PC
 * up in the dispatch table and goes on there. Sharing them keeps every exit a few bytes long.
 */
export const LEAVE_DEPTH = 3, LOOKUP_DEPTH = 4;

/** The V registers in the state area: 16 bytes each after the 33 general register slots (state.ts). */
const V_REGS = 33 * 8;
/** The mode word's bit for FP/SIMD enabled at the current EL (CPACR_EL1.FPEN; tier.ts modeToMemory). */
export const MODE_FP_OK = 1 << 12;

/** Guest state cells: register slots 0..32, then N, Z, C, V. */
const CELLS = 37, FLAG_CELL = 33;
const flagCell = (off: number): number => FLAG_CELL + ((off - OFF_N) >> 2);
/** A cell's state in the code emitted so far: memory only; local equal to memory; local newer than memory. */
const UNCACHED = 0, CLEAN = 1, DIRTY = 2;

const ISV = 1 << 24;
const M64 = (1n << 64n) - 1n;

export interface BlockContext {
  /** Slot of a translation in the same module that may be entered directly at `va`, or -1. */
  chain(va: bigint): number;
  /**
   * The nesting of the construct that ends just before the code of the block in `slot`, when
   * a branch from this block's code reaches it (a block later in the module); else undefined,
   * and the jump goes round run()'s loop and its br_table.
   */
  labelOf?(slot: number): number | undefined;
  /** The module's number (the high bits of its block ids): ids of other modules leave run(). */
  moduleNo?: number;
  /** The block's slot in its module (the low bits of its id), for helper call sites. */
  slot?: number;
  /**
   * The block branches back to its own start (a loop of its own, module.ts): its loads and
   * stores leave the cells cached, each slow path storing them before its helper call.
   */
  loops?: boolean;
}

/** Emits one block's instructions; tracks the position for PCs and retired counts. */
export class BlockGen {
  /** Index of the current instruction in the block. */
  k = 0;
  /** The state area's offset in the memory (R_SB holds it at run time; tables indexed at run time add it to their memarg offsets). */
  private readonly sb: number;
  private readonly inline: boolean;
  private readonly exclusiveDelta: bigint | undefined;
  /** Per cell (register slot or flag): UNCACHED, CLEAN or DIRTY at the current position. */
  private readonly cells: number[] = new Array<number>(CELLS).fill(UNCACHED);
  /** Per cell, the value of `writes` at its last write (see flush's `since`). */
  private readonly writtenAt: number[] = new Array<number>(CELLS).fill(0);
  private writes = 0;
  /** Cells that may be DIRTY, one bit each (cells 0..31, then 32..36): flush visits only these. */
  private dirtyLow = 0;
  private dirtyHigh = 0;
  /** The nesting where the block's code starts (run() puts each block inside its labels). */
  private readonly baseDepth: number;
  constructor(readonly c: Code, readonly va: bigint, readonly ctx: BlockContext, layout: StateLayout = { base: 0, inline: false }) {
    this.sb = layout.base;
    this.inline = layout.inline;
    this.exclusiveDelta = layout.inline ? layout.exclusiveDelta : undefined;
    this.baseDepth = c.depth;
  }

  /** Whether code emitted here runs on every path through the block from this point (no if around it). */
  private top(): boolean { return this.c.depth === this.baseDepth; }

  get pc(): bigint { return (this.va + 4n * BigInt(this.k)) & M64; }

  // ---- registers ----
  // A register slot or flag (a cell) is loaded into its local at its first read and written
  // only to the local, then stored back (flush) before every helper call, inline access and exit. Caching
  // starts and writes skip memory only at the block's own nesting (top()), where the code runs on every path
  // that reaches what follows; inside an if, an uncached cell is read from memory and a
  // write goes to memory (and to the local when cached), so both stay right on either path.

  private cellLocal(i: number): number { return i < FLAG_CELL ? REG_LOCALS + i : FLAG_LOCALS + i - FLAG_CELL; }
  private cellOffset(i: number): number { return i < FLAG_CELL ? i * 8 : OFF_N + 4 * (i - FLAG_CELL); }
  /** Push the state area's address (the base for the offsets of state-area.ts). */
  private state(): Code { return this.c.get(R_SB); }
  private loadCell(i: number): void { if (i < FLAG_CELL) this.c.load64(this.cellOffset(i)); else this.c.load32(this.cellOffset(i)); }
  private storeCell(i: number): void { if (i < FLAG_CELL) this.c.store64(this.cellOffset(i)); else this.c.store32(this.cellOffset(i)); }
  /** Push cell i (i64 for a register, i32 for a flag). */
  private read(i: number): void {
    const c = this.c;
    if (this.cells[i] !== UNCACHED) { c.get(this.cellLocal(i)); return; }
    this.state(); this.loadCell(i);
    if (this.top()) { c.tee(this.cellLocal(i)); this.cells[i] = CLEAN; }
  }
  /** Cell i = value; `value` must only read state. */
  private write(i: number, value: () => void): void {
    const c = this.c;
    this.writtenAt[i] = ++this.writes;
    if (this.top()) {
      value(); c.set(this.cellLocal(i)); this.cells[i] = DIRTY;
      if (i < 32) this.dirtyLow |= 1 << i; else this.dirtyHigh |= 1 << (i - 32);
      return;
    }
    this.state(); value();
    if (this.cells[i] !== UNCACHED) c.tee(this.cellLocal(i));
    this.storeCell(i);
  }
  /**
   * Store the cells newer in their locals than in memory, so a helper or the code after an
   * exit sees the guest state. Inside an if the marks stay: the other path did not store.
   * `since`: only the cells written after that point (`writes`), on a path where a helper
   * call flushed the rest since then.
   */
  private flush(since = -1): void {
    const top = this.top();
    for (let bits = this.dirtyLow; bits !== 0; bits &= bits - 1) this.flushCell(31 - Math.clz32(bits & -bits), since, top);
    for (let bits = this.dirtyHigh; bits !== 0; bits &= bits - 1) this.flushCell(63 - Math.clz32(bits & -bits), since, top);
  }
  private flushCell(i: number, since: number, top: boolean): void {
    if (this.cells[i] !== DIRTY || this.writtenAt[i] <= since) return;
    this.state().get(this.cellLocal(i)); this.storeCell(i);
    if (!top) return;
    this.cells[i] = CLEAN;
    if (i < 32) this.dirtyLow &= ~(1 << i); else this.dirtyHigh &= ~(1 << (i - 32));
  }
  /** After a helper that may have changed these cells in memory (flushed before it): read them from memory again. */
  private forget(first: number, end: number): void {
    if (!this.top()) throw new Error('cached state dropped inside a branch');
    for (let i = first; i < end; i++) this.cells[i] = UNCACHED;
  }

  /** Xn (31 = XZR) as i64. */
  x(n: number): void { if (n === 31) this.c.i64(0n); else this.read(n); }
  /** Xn (31 = SP) as i64. */
  xsp(n: number): void { this.read(n === 31 ? 32 : n); }
  /** Wn (31 = WZR) as i32. */
  w(n: number): void { if (n === 31) this.c.i32(0); else this.word(n); }
  wsp(n: number): void { this.word(n === 31 ? 32 : n); }
  /** The low word of register slot i as i32. */
  private word(i: number): void {
    const c = this.c;
    if (this.cells[i] === UNCACHED && !this.top()) { this.state().load32(i * 8); return; }
    this.read(i); c.op(Op.i32WrapI64);
  }
  /** Xn = value (31 = XZR: discarded); `value` must only read state. */
  setX(n: number, value: () => void): void {
    if (n === 31) return;
    this.write(n, value);
  }
  /** Xn = value (31 = SP). */
  setXsp(n: number, value: () => void): void { this.write(n === 31 ? 32 : n, value); }
  /** Wn = 32-bit value, upper half zeroed. */
  setW(n: number, value: () => void): void { this.setX(n, () => { value(); this.c.op(Op.i64ExtendI32U); }); }
  setWsp(n: number, value: () => void): void { this.setXsp(n, () => { value(); this.c.op(Op.i64ExtendI32U); }); }
  flag(off: number): void { this.read(flagCell(off)); }
  setFlag(off: number, value: () => void): void { this.write(flagCell(off), value); }
  setFlagsConst(nzcv: number): void {
    this.setFlag(OFF_N, () => this.c.i32((nzcv >>> 3) & 1));
    this.setFlag(OFF_Z, () => this.c.i32((nzcv >>> 2) & 1));
    this.setFlag(OFF_C, () => this.c.i32((nzcv >>> 1) & 1));
    this.setFlag(OFF_V, () => this.c.i32(nzcv & 1));
  }

  /** Push the condition (0/1) for an A64 condition code. */
  cond(cond: number): void {
    const c = this.c;
    switch (cond >>> 1) {
      case 0: this.flag(OFF_Z); break;
      case 1: this.flag(OFF_C); break;
      case 2: this.flag(OFF_N); break;
      case 3: this.flag(OFF_V); break;
      case 4: this.flag(OFF_C); this.flag(OFF_Z); c.op(Op.i32Eqz).op(Op.i32And); break;
      case 5: this.flag(OFF_N); this.flag(OFF_V); c.op(Op.i32Eq); break;
      case 6: this.flag(OFF_N); this.flag(OFF_V); c.op(Op.i32Eq); this.flag(OFF_Z); c.op(Op.i32Eqz).op(Op.i32And); break;
      default: c.i32(1); return; // AL, NV
    }
    if (cond & 1) c.op(Op.i32Eqz);
  }

  // ---- exits ----
  /** Leave run() for the batch loop at va (through the shared tail). */
  private leaveAt(va: bigint): void { this.c.i64(va).set(L3).brTo(LEAVE_DEPTH); }
  /** done += k + 1 (the current instruction completes). */
  private retire(): void { this.c.get(R_DONE).i32(this.k + 1).op(Op.i32Add).set(R_DONE); }
  /** Leave run() for the dispatcher with the block id on the stack (-1: back to the batch loop); OFF_PC is already stored. */
  private leave(): void {
    const c = this.c;
    c.set(R_NEXT); this.state().get(R_NEXT).store32(OFF_NEXT).get(R_DONE).op(Op.return);
  }
  /** The start of run(), before its loop: the run's own locals. */
  runPrologue(): void {
    const c = this.c;
    c.i32(this.sb).set(R_SB);
    this.state().load32(OFF_MIRROR_EL).i32(this.sb + MIRROR_TAGS).op(Op.i32Add).set(R_MIRROR_EL);
  }
  /** run()'s tail past LEAVE_DEPTH: store the PC in L3 and leave for the batch loop. */
  leaveTail(): void {
    this.state().get(L3).store64(OFF_PC).i32(-1);
    this.leave();
  }
  /** run()'s tail past LOOKUP_DEPTH: store the PC in L3, then continue where its dispatch entry says, if it is valid in this epoch. */
  lookupTail(): void {
    const c = this.c;
    this.state().get(L3).store64(OFF_PC);
    // U1 = the dispatch entry's offset from OFF_DISPATCH (state-area.ts dispatchIndex)
    c.get(L3).op(Op.i32WrapI64).tee(U1).i32(2).op(Op.i32ShrU).get(U1).i32(18).op(Op.i32ShrU).op(Op.i32Xor);
    c.i32(DISPATCH_SIZE - 1).op(Op.i32And).i32(4).op(Op.i32Shl).set(U1);
    c.get(U1).load64(this.sb + OFF_DISPATCH).get(L3).op(Op.i64Eq);
    c.get(U1).load32(this.sb + OFF_DISPATCH + 8); this.state().load32(OFF_EPOCH).op(Op.i32Eq).op(Op.i32And);
    c.ifResult(I32, true).get(U1).load32(this.sb + OFF_DISPATCH + 12).op(Op.else).i32(-1).op(Op.end);
    this.follow();
  }
  /** Continue with the block id on the stack: a block of this module at once, else through the dispatcher. */
  private follow(): void {
    const c = this.c;
    c.tee(R_NEXT).i32(BLOCK_ID_BITS).op(Op.i32ShrS).i32(this.ctx.moduleNo ?? 0).op(Op.i32Eq).ifVoid();
    c.get(R_NEXT).i32(MAX_BATCH - 1).op(Op.i32And).set(P_SLOT).brTo(LOOP_DEPTH);
    c.op(Op.end);
    c.get(R_NEXT);
    this.leave();
  }
  /**
   * Continue at va: in the block of this module translated there when it may be entered
   * directly (its entry stores its own PC if it leaves at once), else through the dispatch table.
   */
  private goTo(va: bigint): void {
    const c = this.c;
    this.flush();
    const direct = this.ctx.chain(va);
    if (direct >= 0) {
      // Forward: a plain branch. Back: round the loop, an indirect jump every block shares.
      const label = this.ctx.labelOf?.(direct);
      if (label !== undefined) c.brTo(label);
      else c.i32(direct).set(P_SLOT).brTo(LOOP_DEPTH);
      return;
    }
    c.i64(va).set(L3).brTo(LOOKUP_DEPTH);
  }
  /** Budget check at block entry: leave untouched when fewer than len instructions remain. */
  entry(len: number): void {
    const c = this.c;
    c.get(P_BUDGET).get(R_DONE).op(Op.i32Sub).i32(len).op(Op.i32LtS).ifVoid(false);
    this.flush(); // nothing is cached yet; kept so that every exit flushes
    this.leaveAt(this.va);
    c.op(Op.end);
  }
  /** End of a block that did not end in a branch: continue at the next instruction. */
  fallThrough(): void {
    this.k--; // retire() counts k + 1
    this.retire();
    this.k++;
    this.goTo(this.pc);
  }
  private branchConst(target: bigint): void { this.retire(); this.goTo(target & M64); }
  /** Conditional branch: condition already pushed. */
  private branchIf(target: bigint): void {
    const c = this.c;
    this.retire();
    this.flush(); // both exits store the same cells: once here instead of in each
    c.ifVoid();
    this.goTo(target & M64);
    c.op(Op.end);
    this.goTo((this.pc + 4n) & M64);
  }
  private branchReg(): void { // target in L3
    this.retire();
    this.flush();
    this.c.brTo(LOOKUP_DEPTH);
  }

  // ---- helper calls ----
  private beforeCall(): void { this.flush(); }
  /**
   * Call helper f with its own arguments pushed, then the call site and the instructions
   * retired before this block's part of the run: from those a helper that may fault or exit
   * sets the instruction's PC and OFF_DONE itself (Translator.helpers).
   */
  private callHelper(f: number): void {
    this.siteArgs();
    this.c.i32(f).callIndirect(HELPER_TYPES[f]);
  }
  /** Push a helper's last two arguments: this instruction's call site and the instructions retired before this block's part of the run. */
  private siteArgs(): void {
    const slot = this.ctx.slot ?? 0;
    if (this.k >= 1 << SITE_K_BITS || slot >= MAX_BATCH) throw new RangeError('helper call site out of range');
    this.c.i32(callSite(this.ctx.moduleNo ?? 0, slot, this.k)).get(R_DONE);
  }
  /** Call memory helper f through its stub, its own arguments pushed (the address, the value for a store, the ISS). */
  private callMemoryStub(f: number): void {
    this.siteArgs();
    this.c.call(MEMORY_STUB0 + f);
  }
  /** Load `size` bytes from the address in local `a`; leaves the raw value: i32 (size < 8) or i64. `inline`: try the mirror first. */
  private load(a: number, size: number, iss: number, inline = this.inline): void {
    const c = this.c;
    if (inline) {
      this.mirrorHit(a, size, false);
      c.ifResult(size === 8 ? I64 : I32, true);
      this.ramAddress();
      c.mem(size === 1 ? Op.i32Load8U : size === 2 ? Op.i32Load16U : size === 4 ? Op.i32Load : Op.i64Load);
      c.op(Op.else);
    }
    this.beforeCall();
    c.get(a).i32(iss);
    this.callMemoryStub(size === 1 ? F_LD8 : size === 2 ? F_LD16 : size === 4 ? F_LD32 : F_LD64);
    if (inline) c.op(Op.end);
  }
  /** Store the value (i64 in local v) to the address in local a; leaves the helper's i32 result (0 inline: never a code page). */
  private store(a: number, v: number, size: number, iss: number, inline = this.inline): void {
    const c = this.c;
    if (inline) {
      this.storeHit(a, size);
      c.ifResult(I32, true);
      this.ramAddress();
      c.get(v);
      if (size < 8) c.op(Op.i32WrapI64);
      c.mem(size === 1 ? Op.i32Store8 : size === 2 ? Op.i32Store16 : size === 4 ? Op.i32Store : Op.i64Store).i32(0);
      c.op(Op.else);
    }
    this.beforeCall();
    c.get(a).get(v).i32(iss);
    this.callMemoryStub(size === 1 ? F_ST8 : size === 2 ? F_ST16 : size === 4 ? F_ST32 : F_ST64);
    if (inline) c.op(Op.end);
  }
  /**
   * LDP/LDPSW: two `size`-byte loads at L0 and L1 = L0 + size into L2 and L3 (extended by
   * `ext`). Inline, one mirror check covers both when they share a page; else both go to the
   * helpers, one after the other as the interpreter makes them.
   */
  private loadPair(size: number, ext: number | undefined): void {
    const c = this.c;
    const op = size === 8 ? Op.i64Load : Op.i32Load;
    const slow = (): void => {
      this.load(L0, size, 0, false); if (ext !== undefined) c.op(ext); c.set(L2);
      this.load(L1, size, 0, false); if (ext !== undefined) c.op(ext); c.set(L3);
    };
    if (!this.inline) { slow(); return; }
    this.mirrorHit(L0, 2 * size, false);
    c.ifVoid(true);
    this.ramAddress(); c.set(U0);
    c.get(U0).mem(op); if (ext !== undefined) c.op(ext); c.set(L2);
    c.get(U0).mem(op, size); if (ext !== undefined) c.op(ext); c.set(L3);
    c.op(Op.else);
    slow();
    c.op(Op.end);
  }
  /** STP: L2 and L3 to L0 and L0 + size (L1), as loadPair; leaves whether a helper wrote translated code. */
  private storePair(size: number): void {
    const c = this.c;
    const slow = (): void => {
      this.store(L0, L2, size, 0, false); c.set(U0);
      this.store(L1, L3, size, 0, false); c.get(U0).op(Op.i32Or);
    };
    if (!this.inline) { slow(); return; }
    this.storeHit(L0, 2 * size);
    c.ifResult(I32, true);
    this.ramAddress(); c.set(U0);
    const op = size === 8 ? Op.i64Store : Op.i32Store;
    c.get(U0).get(L2); if (size < 8) c.op(Op.i32WrapI64); c.mem(op);
    c.get(U0).get(L3); if (size < 8) c.op(Op.i32WrapI64); c.mem(op, size);
    c.i32(0);
    c.op(Op.else);
    slow();
    c.op(Op.end);
  }
  /**
   * Push whether the access at the address in local `a` may go inline: the TLB mirror's tag
   * for this EL and access, in the slot of the access's first byte, equals the VA page of its
   * last byte. That is the access's own page and it stays in the page: the slot is VA[23:12]
   * (mmu.ts slotOf), so a page's slot never holds the next page's tag (as TCG's check). Leaves
   * the address's low word in A_LO and its mirror entry's address (this EL's tags) in A_ENTRY.
   * The cells written so far are stored first, as TCG syncs its globals before a guest load
   * or store: the slow path's helper call then has nothing to store, where each access's slow
   * path used to store every dirty cell again (on the Debian boot's batches 83 -> 75 wasm
   * bytes per guest instruction; the stores happen at the block's exit anyway). Not in a block
   * that loops on itself: its iterations would store every cell at every access, and keep
   * every flag an iteration overwrites alive (mpihelp_submul_1's loop, half of the Debian
   * boot's instructions: 0.37 -> 0.31 ns a guest instruction); the slow paths store them.
   */
  private mirrorHit(a: number, size: number, write: boolean): void {
    const c = this.c;
    if (!this.ctx.loops) this.flush();
    c.get(a).op(Op.i32WrapI64).tee(A_LO).i32(12).op(Op.i32ShrU).i32(TLB_SLOTS - 1).op(Op.i32And);
    c.i32(MIRROR_ENTRY_SHIFT).op(Op.i32Shl).get(R_MIRROR_EL).op(Op.i32Add).tee(A_ENTRY);
    c.load64(write ? 8 : 0);
    c.get(a);
    if (size > 1) c.i64(BigInt(size - 1)).op(Op.i64Add);
    c.i64(12n).op(Op.i64ShrU).op(Op.i64Eq);
  }
  /**
   * mirrorHit for a store that may also go inline only while no other vCPU holds a
   * reservation: the helper clears one this store reaches.
   */
  private storeHit(a: number, size: number): void {
    this.mirrorHit(a, size, true);
    this.state().load32(OFF_PEER_MONITORS).op(Op.i32Eqz).op(Op.i32And);
  }
  /**
   * Push the RAM address of a mirror hit: the slot's base (the page's offset in the memory
   * less the page's VA bits, tlb-mirror.ts) plus the address's low word, wrapping.
   */
  private ramAddress(): void {
    const c = this.c;
    c.get(A_ENTRY).load32(MIRROR_BASE);
    c.get(A_LO).op(Op.i32Add);
  }
  /**
   * An instruction without a translation of its own that cannot branch or change the
   * translation regime (data processing, FP/SIMD, loads and stores): the interpreter runs it
   * from inside the block, which is far cheaper than ending the block for it.
   */
  private interpret(insn: number): 'next' {
    this.beforeCall();
    this.c.i32(insn); this.callHelper(F_INTERP);
    this.forget(0, CELLS); // any register and NZCV
    this.exitIfCodeWritten();
    return 'next';
  }

  /**
   * System instructions run from inside the block. Reads (MRS: SP_EL0 for `current`,
   * TPIDR_EL1 for per-CPU data and DAIF inline, others such as the counter in the
   * interpreter) and data-cache operations (DC ZVA clears pages, inline) continue the block.
   * Writes (MSR), PSTATE changes, TLBI, IC and AT end it after the instruction, so the batch loop sees a new interrupt mask, epoch or timer before going
   * on. Everything else (exception generation and return, WFI/WFE, SYSL) stays untranslated,
   * as do the registers that always trap to the VMM (ICC_*): the block ends before them.
   */
  private system(insn: number): 'next' | 'end' | false {
    if (((insn & 0xffc00000) >>> 0) !== 0xd5000000) return false;
    const read = (insn >>> 21) & 1, op0 = (insn >>> 19) & 3, crn = (insn >>> 12) & 15, crm = (insn >>> 8) & 15;
    const op1 = (insn >>> 16) & 7, op2 = (insn >>> 5) & 7;
    // A trap to the VMM (the GIC's ICC_* registers above all) thrown through wasm frames costs far more than through the interpreter's.
    if (op0 >= 2 && alwaysTrapsToVmm(op0, op1, crn, crm)) return false;
    if (read) {
      if (op0 < 2) return false;
      const rid = 0x8000 | ((insn >>> 5) & 0x7fff);
      return FAST_MRS.has(rid) && (insn & 31) !== 31 ? this.readSysReg(insn, rid) : this.interpret(insn);
    }
    if (op0 >= 2) return this.interpretThenLeave(insn); // MSR (register)
    if (op0 === 0) {
      if (crn === 4) return this.interpretThenLeave(insn); // MSR (immediate): DAIFSet/Clr, SPSel...
      if ((insn & 31) !== 31) return false;
      if (crn === 2) { // hints: the kernel's every function starts with PACIASP and ends with AUTIASP
        const n = (crm << 3) | op2;
        if (n >= 1 && n <= 3) return false; // YIELD, WFE, WFI: the batch loop's (they may end the run)
        return n === 4 || n === 5 ? this.interpret(insn) : 'next'; // SEV, SEVL; the rest are no-ops (PAC and BTI are not advertised)
      }
      // Barriers: one thread runs every vCPU, so DMB/DSB/ISB order nothing more; CLREX drops the reservation.
      if (crn === 3) return op2 === 2 ? this.interpret(insn) : 'next';
      return false;
    }
    if (crn === 8) return this.interpretThenLeave(insn); // TLBI
    if (crn !== 7) return false;
    const dcZva = op1 === 3 && crm === 4 && op2 === 1;
    const dcClean = op1 === 3 && (crm === 10 || crm === 11 || crm === 12 || crm === 13 || crm === 14) && op2 === 1;
    const dcSetWay = op1 === 0 && (crm === 6 || crm === 10 || crm === 14);
    if (dcZva && this.inline) return this.zeroBlock(insn);
    // DC CVAU, CVAC, CIVAC, CVAP, CVADP: no-ops at every EL, as the interpreter has them (caches are coherent here).
    if (dcClean) return 'next';
    return dcZva || dcSetWay ? this.interpret(insn) : this.interpretThenLeave(insn);
  }

  /**
   * DC ZVA (the kernel clears every page with it): a mirror hit for a write zeroes the
   * DC_ZVA_BYTES-aligned block in RAM inline (an aligned block never crosses a page, and write
   * tags never cover code pages); anything else goes to the interpreter, which changes no register.
   */
  private zeroBlock(insn: number): 'next' {
    const c = this.c;
    this.x(insn & 31); c.i64(BigInt(-DC_ZVA_BYTES)).op(Op.i64And).set(L0);
    const since = this.writes;
    this.storeHit(L0, 1);
    c.ifResult(I32, true);
    this.ramAddress(); c.set(U0);
    for (let i = 0; i < DC_ZVA_BYTES; i += 8) c.get(U0).i64(0n).mem(Op.i64Store, i);
    c.i32(0);
    c.op(Op.else);
    this.beforeCall();
    c.i32(insn); this.callHelper(F_INTERP);
    c.op(Op.end);
    this.exitIfCodeWritten(since);
    return 'next';
  }

  /**
   * MRS of a FAST_MRS register into Xt (not XZR) from the state area's copies (OFF_MODE,
   * OFF_SP_EL0, OFF_SYSREG_MIRROR). SP_EL0 is banked only at EL1 with SPSel 1 and TPIDR_EL1
   * is readable only at EL1; otherwise the interpreter reads or traps (it changes only Xt).
   */
  private readSysReg(insn: number, rid: number): 'next' {
    const c = this.c, rt = insn & 31;
    const mirrored = MIRRORED_SYSREGS.indexOf(rid);
    const mode = (): void => { this.state().load32(OFF_MODE); };
    const viaHelper = (): void => {
      this.beforeCall();
      c.i32(insn); this.callHelper(F_INTERP); c.op(Op.drop); this.state().load64(rt * 8);
    };
    const guarded = (fast: () => void, needs: number): void => {
      mode(); c.i32(needs).op(Op.i32And).i32(needs).op(Op.i32Eq);
      c.ifResult(I64, true); fast(); c.op(Op.else); viaHelper(); c.op(Op.end);
    };
    this.setX(rt, () => {
      if (rid === MRS_DAIF) { mode(); c.i32(0x3c0).op(Op.i32And).op(Op.i64ExtendI32U); }
      else if (rid === MRS_CTR || rid === MRS_DCZID) guarded(() => c.i64(rid === MRS_CTR ? CTR_EL0 : DCZID_EL0), 1);
      else if (rid === SysReg.SP_EL0) guarded(() => this.state().load64(OFF_SP_EL0), 3);
      else if (rid === SysReg.TPIDR_EL1) guarded(() => this.state().load64(OFF_SYSREG_MIRROR + 8 * mirrored), 1);
      else this.state().load64(OFF_SYSREG_MIRROR + 8 * mirrored); // TPIDR_EL0, TPIDRRO_EL0: every EL
    });
    return 'next';
  }

  /**
   * Run the instruction in the interpreter and end the block: leave for the batch loop when
   * the `sys` helper says it must see the change (an unmasked interrupt, a new epoch or
   * regime...), else go on at the next instruction as a branch would.
   */
  private interpretThenLeave(insn: number): 'end' {
    const c = this.c;
    const next = (this.pc + 4n) & M64;
    this.beforeCall();
    c.i32(insn); this.callHelper(F_SYS);
    this.forget(0, CELLS);
    this.retire();
    c.ifVoid(false);
    this.flush(); // nothing left to store: every exit flushes
    this.leaveAt(next);
    c.op(Op.end);
    this.goTo(next);
    return 'end';
  }

  /**
   * After stores: when the helper reports a write to translated code, leave after this
   * instruction. Only a helper reports it, and every helper call flushes: the cells written
   * before `since` (the `writes` count before the stores) are already in memory then.
   */
  private exitIfCodeWritten(since = -1): void {
    const c = this.c;
    c.ifVoid(false);
    this.retire();
    this.flush(since);
    this.leaveAt((this.pc + 4n) & M64);
    c.op(Op.end);
  }

  /**
   * a (+|-) b (+ carry) in 64 or 32 bits; operands are emitted by the callbacks (i64 for
   * 64-bit, i32 for 32-bit). cin: 0, 1 or 'c' (PSTATE.C). The result goes to `dst` (a
   * callback taking the i64 result in L2) unless undefined.
   */
  private addSub(sf: number, a: () => void, b: () => void, sub: boolean, cin: 0 | 1 | 'c', flags: boolean, dst?: (r: () => void) => void): void {
    const c = this.c;
    if (!flags && dst !== undefined && cin === (sub ? 1 : 0)) {
      // No flags: the sum or difference straight into the destination, without the scratch locals.
      if (sf) dst(() => { a(); b(); c.op(sub ? Op.i64Sub : Op.i64Add); });
      else dst(() => { a(); b(); c.op(sub ? Op.i32Sub : Op.i32Add).op(Op.i64ExtendI32U); });
      return;
    }
    if (sf && flags && cin === (sub ? 1 : 0)) {
      // ADDS/SUBS/CMP/CMN (64-bit): the plain sum or difference, and flags straight from it.
      a(); c.set(L0);
      b(); c.set(L1);
      c.get(L0).get(L1).op(sub ? Op.i64Sub : Op.i64Add).set(L2);
      this.setFlag(OFF_N, () => { c.get(L2).i64(63n).op(Op.i64ShrU).op(Op.i32WrapI64); });
      this.setFlag(OFF_Z, () => { c.get(L2).op(Op.i64Eqz); });
      // C: no borrow (a >= b unsigned) or a carry out (the sum wrapped below a).
      this.setFlag(OFF_C, () => { if (sub) c.get(L0).get(L1).op(Op.i64GeU); else c.get(L2).get(L0).op(Op.i64LtU); });
      // V: the result's sign differs from a's where the operands' signs say it cannot.
      this.setFlag(OFF_V, () => {
        if (sub) c.get(L0).get(L1).op(Op.i64Xor).get(L0).get(L2).op(Op.i64Xor).op(Op.i64And);
        else c.get(L2).get(L0).op(Op.i64Xor).get(L2).get(L1).op(Op.i64Xor).op(Op.i64And);
        c.i64(63n).op(Op.i64ShrU).op(Op.i32WrapI64);
      });
      if (dst) dst(() => c.get(L2));
      return;
    }
    if (sf) {
      a(); c.set(L0);
      b(); if (sub) c.i64(-1n).op(Op.i64Xor); c.set(L1);
    } else {
      a(); c.op(Op.i64ExtendI32U).set(L0);
      b(); if (sub) c.i32(-1).op(Op.i32Xor); c.op(Op.i64ExtendI32U).set(L1);
    }
    c.get(L0).get(L1).op(Op.i64Add);
    if (cin === 1) c.i64(1n).op(Op.i64Add);
    else if (cin === 'c') { this.flag(OFF_C); c.op(Op.i64ExtendI32U).op(Op.i64Add); }
    c.set(L2);
    if (flags) {
      const top = sf ? 63n : 31n;
      this.setFlag(OFF_N, () => { c.get(L2).i64(top).op(Op.i64ShrU).op(Op.i32WrapI64).i32(1).op(Op.i32And); });
      this.setFlag(OFF_Z, () => { if (sf) c.get(L2).op(Op.i64Eqz); else c.get(L2).op(Op.i32WrapI64).op(Op.i32Eqz); });
      this.setFlag(OFF_C, () => {
        if (!sf) { c.get(L2).i64(32n).op(Op.i64ShrU).op(Op.i32WrapI64); return; }
        if (cin === 0) c.get(L2).get(L0).op(Op.i64LtU);
        else if (cin === 1) c.get(L2).get(L0).op(Op.i64LeU);
        else { c.get(L2).get(L0).op(Op.i64LtU).get(L2).get(L0).op(Op.i64Eq); this.flag(OFF_C); c.op(Op.i32And).op(Op.i32Or); }
      });
      this.setFlag(OFF_V, () => {
        c.get(L0).get(L1).op(Op.i64Xor).i64(-1n).op(Op.i64Xor).get(L0).get(L2).op(Op.i64Xor).op(Op.i64And);
        c.i64(top).op(Op.i64ShrU).op(Op.i32WrapI64).i32(1).op(Op.i32And);
      });
    }
    if (dst) dst(sf ? () => c.get(L2) : () => { c.get(L2).i64(0xffffffffn).op(Op.i64And); });
  }

  private nzFromL2(sf: number): void {
    const c = this.c;
    this.setFlag(OFF_N, () => { c.get(L2).i64(sf ? 63n : 31n).op(Op.i64ShrU).op(Op.i32WrapI64).i32(1).op(Op.i32And); });
    this.setFlag(OFF_Z, () => { c.get(L2).op(Op.i64Eqz); });
    this.setFlag(OFF_C, () => c.i32(0));
    this.setFlag(OFF_V, () => c.i32(0));
  }

  /** Xm shifted (type, amount) as i64 (sf) or i32. */
  private shifted(sf: number, rm: number, type: number, amount: number): void {
    const c = this.c;
    if (sf) {
      this.x(rm);
      if (amount !== 0) c.i64(BigInt(amount)).op([Op.i64Shl, Op.i64ShrU, Op.i64ShrS, Op.i64Rotr][type]);
    } else {
      this.w(rm);
      if (amount !== 0) c.i32(amount).op([Op.i32Shl, Op.i32ShrU, Op.i32ShrS, Op.i32Rotr][type]);
    }
  }

  /** Xm extended (UXTB..SXTX) and shifted left, as i64. */
  private extended(rm: number, option: number, shift: number): void {
    const c = this.c;
    this.x(rm);
    switch (option) {
      case 0: c.i64(0xffn).op(Op.i64And); break;
      case 1: c.i64(0xffffn).op(Op.i64And); break;
      case 2: c.i64(0xffffffffn).op(Op.i64And); break;
      case 4: c.op(Op.i64Extend8S); break;
      case 5: c.op(Op.i64Extend16S); break;
      case 6: c.op(Op.i64Extend32S); break;
    }
    if (shift) c.i64(BigInt(shift)).op(Op.i64Shl);
  }

  /**
   * What insn() returns for this word, emitting code only for branches and system
   * instructions (groups 0xa, 0xb), whose answer depends on the encoding in detail: every
   * other group is 'next' (translated or interpreted in place) or false (unallocated, SVE).
   */
  kindOf(insn: number): 'next' | 'end' | false {
    const group = (insn >>> 25) & 0xf;
    if (group === 0xa || group === 0xb) return this.insn(insn);
    return group < 4 ? false : 'next';
  }

  /**
   * Emit instruction `insn` at the current position. Returns 'next' (continue the block),
   * 'end' (a branch ended it) or false (not translated; nothing was emitted).
   */
  insn(insn: number): 'next' | 'end' | false {
    switch ((insn >>> 25) & 0xf) {
      case 0x8: case 0x9: return this.dpImm(insn) ? 'next' : this.interpret(insn);
      case 0x5: case 0xd: return this.dpReg(insn) ? 'next' : this.interpret(insn);
      case 0xa: case 0xb: return this.branch(insn) || this.system(insn);
      case 0x4: case 0x6: case 0xc: case 0xe: return this.loadStore(insn) ? 'next' : this.interpret(insn);
      case 0x7: case 0xf: return this.fpScalar(insn) || this.fpMove(insn) ? 'next' : this.interpret(insn);
      default: return false;
    }
  }

  private dpImm(insn: number): boolean {
    const c = this.c;
    const sf = insn >>> 31, rd = insn & 31, rn = (insn >>> 5) & 31;
    switch ((insn >>> 23) & 7) {
      case 0: case 1: { // ADR, ADRP
        const imm = BigInt((((insn << 8) >> 13) << 2) | ((insn >>> 29) & 3));
        const v = insn >>> 31 ? (this.pc & ~0xfffn) + imm * 4096n : this.pc + imm;
        this.setX(rd, () => c.i64(v & M64));
        return true;
      }
      case 2: { // ADD/SUB (immediate)
        const sub = ((insn >>> 30) & 1) === 1, flags = ((insn >>> 29) & 1) === 1;
        if ((insn >>> 22) & 2) return false; // sh > 1: tagged forms (not implemented)
        let imm = (insn >>> 10) & 0xfff;
        if ((insn >>> 22) & 1) imm <<= 12;
        this.addSub(sf, () => (sf ? this.xsp(rn) : this.wsp(rn)), () => (sf ? c.i64(BigInt(imm)) : c.i32(imm)), sub, sub ? 1 : 0, flags,
          (r) => (flags ? this.setX(rd, r) : this.setXsp(rd, r)));
        return true;
      }
      case 4: { // logical (immediate)
        const nbit = (insn >>> 22) & 1;
        if (!sf && nbit) return false;
        const k = bitMasks(nbit, (insn >>> 10) & 0x3f, (insn >>> 16) & 0x3f, sf === 1, true);
        if (k < 0) return false;
        const mask = sf ? (BigInt(maskWords[k + 1] >>> 0) << 32n) | BigInt(maskWords[k] >>> 0) : BigInt(maskWords[k] >>> 0);
        const opc = (insn >>> 29) & 3;
        this.x(rn);
        if (!sf) c.i64(0xffffffffn).op(Op.i64And);
        c.i64(mask).op(opc === 1 ? Op.i64Or : opc === 2 ? Op.i64Xor : Op.i64And).set(L2);
        if (opc === 3) { this.nzFromL2(sf); this.setX(rd, () => c.get(L2)); }
        else this.setXsp(rd, () => c.get(L2));
        return true;
      }
      case 5: { // move wide
        const opc = (insn >>> 29) & 3, hw = (insn >>> 21) & 3, imm = BigInt((insn >>> 5) & 0xffff);
        if (opc === 1 || (!sf && hw > 1)) return false;
        const sh = BigInt(hw * 16);
        const width = sf ? M64 : 0xffffffffn;
        if (opc === 3) {
          this.setX(rd, () => { this.x(rd); c.i64(~(0xffffn << sh) & width).op(Op.i64And).i64(imm << sh).op(Op.i64Or); });
        } else {
          const v = opc === 0 ? ~(imm << sh) & width : imm << sh;
          this.setX(rd, () => c.i64(v));
        }
        return true;
      }
      case 6: return this.bitfield(insn, sf);
      case 7: { // EXTR
        const nbit = (insn >>> 22) & 1, rm = (insn >>> 16) & 31, lsb = (insn >>> 10) & 0x3f;
        if (((insn >>> 29) & 3) !== 0 || ((insn >>> 21) & 1) !== 0 || nbit !== sf || (!sf && lsb > 31)) return false;
        if (lsb === 0) { this.setX(rd, () => (sf ? this.x(rm) : (this.w(rm), c.op(Op.i64ExtendI32U)))); return true; }
        if (sf) this.setX(rd, () => { this.x(rm); c.i64(BigInt(lsb)).op(Op.i64ShrU); this.x(rn); c.i64(BigInt(64 - lsb)).op(Op.i64Shl).op(Op.i64Or); });
        else this.setW(rd, () => { this.w(rm); c.i32(lsb).op(Op.i32ShrU); this.w(rn); c.i32(32 - lsb).op(Op.i32Shl).op(Op.i32Or); });
        return true;
      }
    }
    return false;
  }

  private bitfield(insn: number, sf: number): boolean {
    const c = this.c;
    const opc = (insn >>> 29) & 3, nbit = (insn >>> 22) & 1;
    const immr = (insn >>> 16) & 0x3f, imms = (insn >>> 10) & 0x3f;
    const rn = (insn >>> 5) & 31, rd = insn & 31;
    if (opc === 3 || nbit !== sf || (!sf && (immr > 31 || imms > 31))) return false;
    const k = bitMasks(nbit, imms, immr, sf === 1, false);
    if (k < 0) return false;
    const word = (i: number) => (sf ? (BigInt(maskWords[i + 1] >>> 0) << 32n) | BigInt(maskWords[i] >>> 0) : BigInt(maskWords[i] >>> 0));
    const wm = word(k), tm = word(k + 2);
    const width = sf ? M64 : 0xffffffffn;
    // bot = ROR(src, immr) & wmask, in L1
    if (sf) { this.x(rn); if (immr) c.i64(BigInt(immr)).op(Op.i64Rotr); }
    else { this.w(rn); if (immr) c.i32(immr).op(Op.i32Rotr); c.op(Op.i64ExtendI32U); }
    c.i64(wm).op(Op.i64And).set(L1);
    if (opc === 1) { // BFM: (dst & ~T) | (((dst & ~W) | bot) & T)
      this.x(rd); c.set(L0);
      this.setX(rd, () => {
        c.get(L0).i64(~tm & width).op(Op.i64And);
        c.get(L0).i64(~wm & width).op(Op.i64And).get(L1).op(Op.i64Or).i64(tm).op(Op.i64And).op(Op.i64Or);
      });
      return true;
    }
    this.setX(rd, () => {
      if (opc === 0) { // SBFM: top = replicated bit imms of the source
        if (sf) { this.x(rn); c.i64(BigInt(63 - imms)).op(Op.i64Shl).i64(63n).op(Op.i64ShrS); }
        else { this.w(rn); c.i32(31 - imms).op(Op.i32Shl).i32(31).op(Op.i32ShrS).op(Op.i64ExtendI32U); }
        c.i64(~tm & width).op(Op.i64And);
        c.get(L1).i64(tm).op(Op.i64And).op(Op.i64Or);
      } else {
        c.get(L1).i64(tm).op(Op.i64And);
      }
    });
    return true;
  }

  private dpReg(insn: number): boolean {
    const c = this.c;
    const sf = insn >>> 31, rd = insn & 31, rn = (insn >>> 5) & 31, rm = (insn >>> 16) & 31;
    if (((insn >>> 28) & 1) === 0) {
      if (((insn >>> 24) & 1) === 0) { // logical (shifted register)
        const imm6 = (insn >>> 10) & 0x3f, type = (insn >>> 22) & 3, invert = (insn >>> 21) & 1, opc = (insn >>> 29) & 3;
        if (!sf && imm6 > 31) return false;
        if (sf) this.x(rn); else { this.w(rn); }
        this.shifted(sf, rm, type, imm6);
        if (invert) { if (sf) c.i64(-1n).op(Op.i64Xor); else c.i32(-1).op(Op.i32Xor); }
        if (sf) c.op(opc === 1 ? Op.i64Or : opc === 2 ? Op.i64Xor : Op.i64And);
        else c.op(opc === 1 ? Op.i32Or : opc === 2 ? Op.i32Xor : Op.i32And).op(Op.i64ExtendI32U);
        c.set(L2);
        if (opc === 3) this.nzFromL2(sf);
        this.setX(rd, () => c.get(L2));
        return true;
      }
      const sub = ((insn >>> 30) & 1) === 1, flags = ((insn >>> 29) & 1) === 1;
      if (((insn >>> 21) & 1) === 0) { // add/sub (shifted register)
        const type = (insn >>> 22) & 3, imm6 = (insn >>> 10) & 0x3f;
        if (type === 3 || (!sf && imm6 > 31)) return false;
        this.addSub(sf, () => (sf ? this.x(rn) : this.w(rn)), () => this.shifted(sf, rm, type, imm6), sub, sub ? 1 : 0, flags, (r) => this.setX(rd, r));
        return true;
      }
      // add/sub (extended register): Rn and (without S) Rd may be SP
      const shift = (insn >>> 10) & 7, option = (insn >>> 13) & 7;
      if (shift > 4 || ((insn >>> 22) & 3) !== 0) return false;
      this.addSub(sf, () => (sf ? this.xsp(rn) : this.wsp(rn)), () => { this.extended(rm, option, shift); if (!sf) c.op(Op.i32WrapI64); },
        sub, sub ? 1 : 0, flags, (r) => (flags ? this.setX(rd, r) : this.setXsp(rd, r)));
      return true;
    }
    switch ((insn >>> 21) & 0xf) {
      case 0: { // ADC/SBC
        if (((insn >>> 10) & 0x3f) !== 0) return false;
        const sub = ((insn >>> 30) & 1) === 1, flags = ((insn >>> 29) & 1) === 1;
        this.addSub(sf, () => (sf ? this.x(rn) : this.w(rn)), () => (sf ? this.x(rm) : this.w(rm)), sub, 'c', flags, (r) => this.setX(rd, r));
        return true;
      }
      case 2: { // CCMN/CCMP
        if (((insn >>> 29) & 1) === 0 || ((insn >>> 10) & 1) || ((insn >>> 4) & 1)) return false;
        const sub = ((insn >>> 30) & 1) === 1, useImm = (insn >>> 11) & 1;
        this.cond((insn >>> 12) & 0xf);
        c.ifVoid();
        this.addSub(sf, () => (sf ? this.x(rn) : this.w(rn)), () => (useImm ? (sf ? c.i64(BigInt(rm)) : c.i32(rm)) : (sf ? this.x(rm) : this.w(rm))), sub, sub ? 1 : 0, true);
        c.op(Op.else);
        this.setFlagsConst(insn & 0xf);
        c.op(Op.end);
        return true;
      }
      case 4: { // CSEL, CSINC, CSINV, CSNEG
        if ((insn >>> 29) & 1 || ((insn >>> 11) & 1)) return false;
        const op = (insn >>> 30) & 1, o2 = (insn >>> 10) & 1;
        this.setX(rd, () => {
          this.x(rn);
          this.x(rm);
          if (op) c.i64(-1n).op(Op.i64Xor);
          if (o2) c.i64(1n).op(Op.i64Add);
          this.cond((insn >>> 12) & 0xf);
          c.op(Op.select);
          if (!sf) c.i64(0xffffffffn).op(Op.i64And);
        });
        return true;
      }
      case 6: {
        if ((insn >>> 29) & 1) return false;
        const op = (insn >>> 10) & 0x3f;
        if ((insn >>> 30) & 1) return ((insn >>> 16) & 0x1f) === 0 && this.dp1Source(sf, op, rd, rn);
        if (op === 2 || op === 3) { this.divide(sf, op === 3, rd, rn, rm); return true; }
        if (op < 8 || op > 11) return false; // LSLV, LSRV, ASRV, RORV (wasm masks the amount as A64 does)
        const k = op - 8;
        if (sf) this.setX(rd, () => { this.x(rn); this.x(rm); c.op([Op.i64Shl, Op.i64ShrU, Op.i64ShrS, Op.i64Rotr][k]); });
        else this.setW(rd, () => { this.w(rn); this.w(rm); c.op([Op.i32Shl, Op.i32ShrU, Op.i32ShrS, Op.i32Rotr][k]); });
        return true;
      }
      default: {
        if (((insn >>> 24) & 1) === 0 || ((insn >>> 29) & 3) !== 0) return false;
        const op31 = (insn >>> 21) & 7, o0 = (insn >>> 15) & 1, ra = (insn >>> 10) & 31;
        if (op31 === 0) { // MADD, MSUB
          this.setX(rd, () => {
            this.x(ra); this.x(rn); this.x(rm); c.op(Op.i64Mul).op(o0 ? Op.i64Sub : Op.i64Add);
            if (!sf) c.i64(0xffffffffn).op(Op.i64And);
          });
          return true;
        }
        if (sf && (op31 === 1 || op31 === 5)) { // SMADDL/SMSUBL, UMADDL/UMSUBL
          const ext = op31 === 1 ? Op.i64ExtendI32S : Op.i64ExtendI32U;
          this.setX(rd, () => { this.x(ra); this.w(rn); c.op(ext); this.w(rm); c.op(ext).op(Op.i64Mul).op(o0 ? Op.i64Sub : Op.i64Add); });
          return true;
        }
        if (sf && (op31 === 2 || op31 === 6) && o0 === 0) { this.multiplyHigh(op31 === 2, rd, rn, rm); return true; }
        return false;
      }
    }
  }

  /** RBIT, REV16, REV32, REV, CLZ, CLS (op = insn[15:10]). */
  private dp1Source(sf: number, op: number, rd: number, rn: number): boolean {
    const c = this.c;
    if (op > 5 || (!sf && op === 3)) return false;
    if (op >= 4) { // CLZ, CLS (CLS: copies of the sign bit below it = CLZ(x ^ sign fill) - 1)
      if (sf) this.setX(rd, () => { this.x(rn); if (op === 5) { c.tee(L0).get(L0).i64(63n).op(Op.i64ShrS).op(Op.i64Xor); } c.op(Op.i64Clz); if (op === 5) c.i64(1n).op(Op.i64Sub); });
      else this.setW(rd, () => { this.w(rn); if (op === 5) { c.tee(U0).get(U0).i32(31).op(Op.i32ShrS).op(Op.i32Xor); } c.op(Op.i32Clz); if (op === 5) c.i32(1).op(Op.i32Sub); });
      return true;
    }
    // Swap ever larger neighbouring groups of 1, 2, 4 bits (RBIT only), then bytes, halfwords
    // and words (a rotation): REV16 stops after the bytes, REV32 and 32-bit REV after the halfwords.
    const steps: number[] = op === 0 ? [1, 2, 4, 8, 16, 32] : op === 1 ? [8] : op === 2 ? [8, 16] : [8, 16, 32];
    if (!sf && op === 0) steps.pop();
    const width = sf ? 64 : 32;
    const grp = (k: number): bigint => { // mask of the low k bits of every 2k-bit group
      let m = 0n;
      for (let i = 0; i < width; i += 2 * k) m |= ((1n << BigInt(k)) - 1n) << BigInt(i);
      return m;
    };
    const body = () => {
      if (sf) {
        this.x(rn); c.set(L0);
        for (const k of steps) {
          if (k === 32) { c.get(L0).i64(32n).op(Op.i64Rotr).set(L0); continue; }
          const m = grp(k);
          c.get(L0).i64(BigInt(k)).op(Op.i64ShrU).i64(m).op(Op.i64And);
          c.get(L0).i64(m).op(Op.i64And).i64(BigInt(k)).op(Op.i64Shl).op(Op.i64Or).set(L0);
        }
        c.get(L0);
      } else {
        this.w(rn); c.set(U0);
        for (const k of steps) {
          const m = Number(grp(k)) | 0;
          c.get(U0).i32(k).op(Op.i32ShrU).i32(m).op(Op.i32And);
          c.get(U0).i32(m).op(Op.i32And).i32(k).op(Op.i32Shl).op(Op.i32Or).set(U0);
        }
        c.get(U0);
      }
    };
    if (sf) this.setX(rd, body); else this.setW(rd, body);
    return true;
  }

  /** UDIV, SDIV: A64 gives 0 for a zero divisor and INT_MIN for INT_MIN / -1, where wasm traps. */
  private divide(sf: number, signed: boolean, rd: number, rn: number, rm: number): void {
    const c = this.c;
    if (sf) {
      this.x(rn); c.set(L0); this.x(rm); c.set(L1);
      this.setX(rd, () => {
        c.get(L1).op(Op.i64Eqz).ifResult(I64).i64(0n).op(Op.else);
        if (signed) {
          c.get(L1).i64(-1n).op(Op.i64Eq).ifResult(I64).i64(0n).get(L0).op(Op.i64Sub).op(Op.else);
          c.get(L0).get(L1).op(Op.i64DivS).op(Op.end);
        } else c.get(L0).get(L1).op(Op.i64DivU);
        c.op(Op.end);
      });
    } else {
      this.w(rn); c.set(U0); this.w(rm); c.set(U1);
      this.setW(rd, () => {
        c.get(U1).op(Op.i32Eqz).ifResult(I32).i32(0).op(Op.else);
        if (signed) {
          c.get(U1).i32(-1).op(Op.i32Eq).ifResult(I32).i32(0).get(U0).op(Op.i32Sub).op(Op.else);
          c.get(U0).get(U1).op(Op.i32DivS).op(Op.end);
        } else c.get(U0).get(U1).op(Op.i32DivU);
        c.op(Op.end);
      });
    }
  }

  /** UMULH, SMULH: the high half of the 128-bit product from four 32x32->64 products. */
  private multiplyHigh(signed: boolean, rd: number, rn: number, rm: number): void {
    const c = this.c;
    const lo = (l: number) => c.get(l).i64(0xffffffffn).op(Op.i64And);
    const hi = (l: number) => c.get(l).i64(32n).op(Op.i64ShrU);
    this.x(rn); c.set(L0); this.x(rm); c.set(L1);
    lo(L0); hi(L1); c.op(Op.i64Mul).set(L2); // aLo * bHi
    hi(L0); lo(L1); c.op(Op.i64Mul).set(L3); // aHi * bLo
    // carry out of the low half: (aLo*bLo >> 32) + low halves of the cross products (< 3 * 2^32)
    lo(L0); lo(L1); c.op(Op.i64Mul).i64(32n).op(Op.i64ShrU);
    lo(L2); c.op(Op.i64Add); lo(L3); c.op(Op.i64Add).set(L4);
    this.setX(rd, () => {
      hi(L0); hi(L1); c.op(Op.i64Mul);
      hi(L2); c.op(Op.i64Add); hi(L3); c.op(Op.i64Add); hi(L4); c.op(Op.i64Add);
      if (signed) { // the signed product is the unsigned one minus b << 64 if a < 0 and a << 64 if b < 0
        c.get(L0).i64(63n).op(Op.i64ShrS).get(L1).op(Op.i64And).op(Op.i64Sub);
        c.get(L1).i64(63n).op(Op.i64ShrS).get(L0).op(Op.i64And).op(Op.i64Sub);
      }
    });
  }

  private branch(insn: number): 'end' | 'next' | false {
    const c = this.c;
    if (((insn & 0xfffff01f) >>> 0) === 0xd503201f) { // hints: NOP, PAC and BTI hints... (not YIELD, WFE, WFI, SEV*)
      const n = (insn >>> 5) & 0x7f;
      return n >= 1 && n <= 5 ? false : 'next';
    }
    if (((insn & 0xfffff01f) >>> 0) === 0xd503301f) { // DSB, DMB, ISB: ordering is sequential here
      const op2 = (insn >>> 5) & 7;
      return op2 >= 4 && op2 <= 6 ? 'next' : false;
    }
    if (((insn >>> 26) & 0x1f) === 0x05) { // B, BL
      if (insn >>> 31) this.setX(30, () => c.i64((this.pc + 4n) & M64));
      this.branchConst(this.pc + BigInt(((insn << 6) >> 6) * 4));
      return 'end';
    }
    if ((insn & 0xff000010) === 0x54000000) { // B.cond
      this.cond(insn & 0xf);
      this.branchIf(this.pc + BigInt(((insn << 8) >> 13) * 4));
      return 'end';
    }
    const op25 = (insn >>> 25) & 0x3f;
    if (op25 === 0x1a) { // CBZ, CBNZ
      const rt = insn & 31;
      if (insn >>> 31) { this.x(rt); c.op(Op.i64Eqz); } else { this.w(rt); c.op(Op.i32Eqz); }
      if ((insn >>> 24) & 1) c.op(Op.i32Eqz);
      this.branchIf(this.pc + BigInt(((insn << 8) >> 13) * 4));
      return 'end';
    }
    if (op25 === 0x1b) { // TBZ, TBNZ
      const rt = insn & 31, bit = ((insn >>> 31) << 5) | ((insn >>> 19) & 31);
      this.x(rt); c.i64(BigInt(bit)).op(Op.i64ShrU).op(Op.i32WrapI64).i32(1).op(Op.i32And);
      if (((insn >>> 24) & 1) === 0) c.op(Op.i32Eqz);
      this.branchIf(this.pc + BigInt(((insn << 13) >> 18) * 4));
      return 'end';
    }
    const br = (insn & 0xfffffc1f) >>> 0;
    if (br === 0xd61f0000 || br === 0xd63f0000 || br === 0xd65f0000) { // BR, BLR, RET
      this.x((insn >>> 5) & 31); c.set(L3);
      if (br === 0xd63f0000) this.setX(30, () => c.i64((this.pc + 4n) & M64));
      this.branchReg();
      return 'end';
    }
    return false;
  }

  // ---- loads and stores (general registers only) ----

  private loadStore(insn: number): boolean {
    const v = (insn >>> 26) & 1;
    if (v) return this.fpLoadStore(insn);
    const b2927 = (insn >>> 27) & 7;
    if (b2927 === 1 && ((insn >>> 24) & 3) === 0) return this.loadAcquireStoreRelease(insn);
    if (b2927 === 3 && ((insn >>> 24) & 1) === 0) return this.loadLiteral(insn);
    if (b2927 === 5) return this.loadStorePair(insn);
    if (b2927 === 7) return this.loadStoreRegister(insn);
    return false;
  }

  private loadLiteral(insn: number): boolean {
    const c = this.c;
    const opc = insn >>> 30, rt = insn & 31;
    if (opc === 3) return true; // PRFM (literal)
    c.i64((this.pc + BigInt(((insn << 8) >> 13) * 4)) & M64).set(L0);
    if (opc === 1) { this.load(L0, 8, 0); c.set(L1); }
    else { this.load(L0, 4, 0); c.op(opc === 2 ? Op.i64ExtendI32S : Op.i64ExtendI32U).set(L1); }
    this.setX(rt, () => c.get(L1));
    return true;
  }

  /**
   * LDAR/STLR (and the LORegion forms the interpreter treats alike): accesses are sequentially
   * ordered here, so plain loads and stores, no alignment check, syndrome with AR set, as the
   * interpreter's. Exclusives (o2 = 0) and CAS (o1 = 1) are left to the interpreter.
   */
  private loadAcquireStoreRelease(insn: number): boolean {
    const c = this.c;
    const size = insn >>> 30, o2 = (insn >>> 23) & 1, load = (insn >>> 22) & 1, o1 = (insn >>> 21) & 1;
    const rn = (insn >>> 5) & 31, rt = insn & 31;
    if (o2 === 0) return this.exclusive(insn);
    if (o1 === 1) return false;
    const iss = ISV | (size << 22) | (rt << 16) | (size === 3 ? 1 << 15 : 0) | (1 << 14);
    this.xsp(rn); c.set(L0);
    if (load) {
      this.load(L0, 1 << size, iss);
      if (size < 3) c.op(Op.i64ExtendI32U);
      c.set(L2);
      this.setX(rt, () => c.get(L2));
      return true;
    }
    this.x(rt); c.set(L2);
    const since = this.writes;
    this.store(L0, L2, 1 << size, iss);
    this.exitIfCodeWritten(since);
    return true;
  }

  /**
   * LDXR/LDAXR/STXR/STLXR and the pair forms, inline on a mirror hit of an aligned address
   * when the layout allows (exclusiveDelta) and the VM has one vCPU: the reservation (OFF_MONITOR) is the PA and size
   * as the interpreter keeps them, and a store-exclusive clears it whether or not it stores.
   * Otherwise, and for the byte and halfword forms' alignment faults, the interpreter runs it.
   */
  private exclusive(insn: number): boolean {
    const delta = this.exclusiveDelta;
    const size = insn >>> 30, load = (insn >>> 22) & 1, pair = (insn >>> 21) & 1;
    const rs = (insn >>> 16) & 31, rt2 = (insn >>> 10) & 31, rn = (insn >>> 5) & 31, rt = insn & 31;
    if (delta === undefined || (pair && size < 2)) return false;
    const c = this.c, bytes = 1 << size, total = pair ? 2 * bytes : bytes;
    const op = bytes === 8 ? [Op.i64Load, Op.i64Store] : bytes === 4 ? [Op.i32Load, Op.i32Store] : bytes === 2 ? [Op.i32Load16U, Op.i32Store16] : [Op.i32Load8U, Op.i32Store8];
    const pa = (): void => { c.get(U0).op(Op.i64ExtendI32U).i64(delta).op(Op.i64Add); };
    this.xsp(rn); c.set(L0);
    const solo = (): void => { this.state().load32(OFF_MONITOR + 12).op(Op.i32Eqz).op(Op.i32And); };
    if (load) {
      this.mirrorHit(L0, total, false);
      c.get(A_LO).i32(total - 1).op(Op.i32And).op(Op.i32Eqz).op(Op.i32And);
      solo();
      c.ifVoid(true);
      this.ramAddress(); c.set(U0);
      c.get(U0).mem(op[0]); if (bytes < 8) c.op(Op.i64ExtendI32U); c.set(L2);
      if (pair) { c.get(U0).mem(op[0], bytes); if (bytes < 8) c.op(Op.i64ExtendI32U); c.set(L3); }
      this.state(); pa(); c.store64(OFF_MONITOR);
      this.state().i32(total).store32(OFF_MONITOR + 8);
      c.op(Op.else);
      this.beforeCall();
      c.i32(insn); this.callHelper(F_INTERP); c.op(Op.drop); // a load writes no code
      this.state().load64(rt * 8).set(L2); // XZR's slot is never written: unused then
      if (pair) this.state().load64(rt2 * 8).set(L3);
      c.op(Op.end);
      this.setX(rt, () => c.get(L2));
      if (pair) this.setX(rt2, () => c.get(L3));
      return true;
    }
    this.x(rt); c.set(L2);
    if (pair) { this.x(rt2); c.set(L3); }
    const since = this.writes;
    this.mirrorHit(L0, total, true);
    c.get(A_LO).i32(total - 1).op(Op.i32And).op(Op.i32Eqz).op(Op.i32And);
    solo();
    c.ifResult(I32, true); // the status: 0 stored, 1 not
    this.ramAddress(); c.set(U0);
    this.state().load64(OFF_MONITOR); pa(); c.op(Op.i64Eq);
    this.state().load32(OFF_MONITOR + 8).i32(total).op(Op.i32Eq).op(Op.i32And).set(A_LO);
    this.state().i64(-1n).store64(OFF_MONITOR);
    c.get(A_LO).ifVoid();
    c.get(U0).get(L2); if (bytes < 8) c.op(Op.i32WrapI64); c.mem(op[1]);
    if (pair) { c.get(U0).get(L3); if (bytes < 8) c.op(Op.i32WrapI64); c.mem(op[1], bytes); }
    c.op(Op.end);
    c.i32(0).set(U1); // inline stores never reach code
    c.get(A_LO).op(Op.i32Eqz);
    c.op(Op.else);
    this.beforeCall();
    c.i32(insn); this.callHelper(F_INTERP); c.set(U1);
    this.state().load32(rs * 8); // the status the interpreter wrote (rs = WZR: discarded below)
    c.op(Op.end);
    c.set(U0);
    this.setW(rs, () => c.get(U0));
    c.get(U1);
    this.exitIfCodeWritten(since);
    return true;
  }

  private loadStorePair(insn: number): boolean {
    const c = this.c;
    const opc = insn >>> 30, mode = (insn >>> 23) & 3, load = (insn >>> 22) & 1;
    const rt = insn & 31, rn = (insn >>> 5) & 31, rt2 = (insn >>> 10) & 31;
    if (opc === 3 || (opc === 1 && !load)) return false;
    const size = opc === 2 ? 8 : 4;
    const offset = BigInt(((insn << 10) >> 25) * size);
    let since = -1;
    // L0 = address, L1 = address + size; L3 = written-back base
    this.xsp(rn);
    if (mode !== 1) c.i64(offset).op(Op.i64Add);
    c.tee(L0).i64(BigInt(size)).op(Op.i64Add).set(L1);
    if (load) {
      this.loadPair(size, size === 8 ? undefined : opc === 1 ? Op.i64ExtendI32S : Op.i64ExtendI32U);
      this.setX(rt, () => c.get(L2));
      this.setX(rt2, () => c.get(L3));
    } else {
      this.x(rt); c.set(L2); this.x(rt2); c.set(L3);
      since = this.writes;
      this.storePair(size); c.set(U0);
    }
    if (mode === 1) this.setXsp(rn, () => { c.get(L0).i64(offset).op(Op.i64Add); });
    else if (mode === 3) this.setXsp(rn, () => c.get(L0));
    if (!load) { c.get(U0); this.exitIfCodeWritten(since); }
    return true;
  }

  private loadStoreRegister(insn: number): boolean {
    const c = this.c;
    const sizeBits = insn >>> 30, opc = (insn >>> 22) & 3, rt = insn & 31, rn = (insn >>> 5) & 31;
    const size = 1 << sizeBits;
    let writeback = 0; // 1 post-index, 3 pre-index
    let imm = 0n;
    // Classify the access first: nothing is emitted for encodings left to the interpreter.
    const prfm = sizeBits === 3 && opc === 2;
    if (sizeBits === 3 && opc === 3) return false;
    if (sizeBits === 2 && opc === 3) return false;
    if ((insn >>> 24) & 1) { // unsigned offset
      imm = BigInt(((insn >>> 10) & 0xfff) * size);
    } else if ((insn >>> 21) & 1) {
      if (((insn >>> 10) & 3) !== 2 || (((insn >>> 13) & 7) & 2) === 0) return false;
    } else {
      const kind = (insn >>> 10) & 3;
      if (kind === 2) return false; // unprivileged
      if (prfm && kind !== 0) return false;
      imm = BigInt((insn << 11) >> 23);
      if (kind !== 0) writeback = kind;
    }
    if (prfm) return true; // a prefetch hint: no access, no fault
    // L0 = address
    this.xsp(rn);
    if ((insn >>> 24) & 1 || !((insn >>> 21) & 1)) { if (writeback !== 1 && imm !== 0n) c.i64(imm).op(Op.i64Add); }
    else { this.extended((insn >>> 16) & 31, (insn >>> 13) & 7, (insn >>> 12) & 1 ? sizeBits : 0); c.op(Op.i64Add); }
    c.set(L0);
    const syndromeOk = writeback === 0;
    let since = -1;
    if (opc === 0) { // store
      const iss = syndromeOk ? ISV | (sizeBits << 22) | (rt << 16) | (sizeBits === 3 ? 1 << 15 : 0) : 0;
      this.x(rt); c.set(L2);
      since = this.writes;
      this.store(L0, L2, size, iss); c.set(U0);
    } else if (opc === 1) { // load, zero-extend
      const iss = syndromeOk ? ISV | (sizeBits << 22) | (rt << 16) | (sizeBits === 3 ? 1 << 15 : 0) : 0;
      this.load(L0, size, iss);
      if (size < 8) c.op(Op.i64ExtendI32U);
      c.set(L2);
      this.setX(rt, () => c.get(L2));
    } else { // sign-extending loads: opc 2 -> 64-bit, opc 3 -> 32-bit
      const to64 = opc === 2;
      const iss = syndromeOk ? ISV | (sizeBits << 22) | (1 << 21) | (rt << 16) | (to64 ? 1 << 15 : 0) : 0;
      this.load(L0, size, iss);
      if (size === 1) c.op(Op.i32Extend8S); else if (size === 2) c.op(Op.i32Extend16S);
      c.op(to64 ? Op.i64ExtendI32S : Op.i64ExtendI32U).set(L2);
      this.setX(rt, () => c.get(L2));
    }
    if (writeback === 1) this.setXsp(rn, () => { c.get(L0).i64(imm).op(Op.i64Add); });
    else if (writeback === 3) this.setXsp(rn, () => c.get(L0));
    if (opc === 0) { c.get(U0); this.exitIfCodeWritten(since); }
    return true;
  }

  // ---- FP/SIMD register loads, stores and moves ----
  // V registers live in the state area only (never in locals). Each of these runs inline when
  // FP/SIMD is enabled at the current EL (MODE_FP_OK in the mode word, which the batch loop and
  // the sys helper keep) and, for memory, when the TLB mirror covers the whole access; else the
  // interpreter runs the instruction from inside the block, trap, fault, MMIO and page
  // crossing included, exactly as it would have.

  /** Push the mode word's FP/SIMD-enabled bit (nonzero: enabled). */
  private fpEnabled(): void { this.state().load32(OFF_MODE); this.c.i32(MODE_FP_OK).op(Op.i32And); }

  /**
   * LDR/STR (immediate: unsigned offset, pre/post-index, unscaled; register offset) and
   * LDP/STP/LDNP/STNP of S, D and Q registers. The base is written back inline on the fast
   * path, by the interpreter on the other; either way its cell is read from memory afterwards.
   */
  private fpLoadStore(insn: number): boolean {
    const c = this.c;
    const b2927 = (insn >>> 27) & 7, rt = insn & 31, rn = (insn >>> 5) & 31;
    let bytes: number, load: boolean, pair = false, rt2 = 0, writeback = 0; // 1 post-index, 3 pre-index
    let imm = 0n, regOffset = false;
    if (b2927 === 5) { // pairs
      const opc = insn >>> 30, mode = (insn >>> 23) & 3;
      if (opc === 3) return false;
      bytes = 4 << opc; load = ((insn >>> 22) & 1) === 1; pair = true; rt2 = (insn >>> 10) & 31;
      if (load && rt === rt2) return false; // CONSTRAINED UNPREDICTABLE: as the interpreter does it
      imm = BigInt(((insn << 10) >> 25) * bytes);
      if (mode === 1 || mode === 3) writeback = mode;
    } else if (b2927 === 7) {
      const sizeBits = insn >>> 30, opc = (insn >>> 22) & 3;
      bytes = (opc & 2) !== 0 ? (sizeBits === 0 ? 16 : 0) : 1 << sizeBits;
      if (bytes < 4) return false; // B and H registers: rare, left to the interpreter
      load = (opc & 1) === 1;
      if ((insn >>> 24) & 1) imm = BigInt(((insn >>> 10) & 0xfff) * bytes);
      else if ((insn >>> 21) & 1) {
        if (((insn >>> 10) & 3) !== 2 || (((insn >>> 13) & 7) & 2) === 0) return false;
        regOffset = true;
      } else {
        const kind = (insn >>> 10) & 3;
        if (kind === 2) return false;
        imm = BigInt((insn << 11) >> 23);
        if (kind !== 0) writeback = kind;
      }
    } else return false;
    const total = pair ? 2 * bytes : bytes;
    this.flush(); // the interpreter's path needs every cell in memory; the cells stay cached
    // L0 = address
    this.xsp(rn);
    if (regOffset) { this.extended((insn >>> 16) & 31, (insn >>> 13) & 7, (insn >>> 12) & 1 ? Math.log2(bytes) : 0); c.op(Op.i64Add); }
    else if (writeback !== 1 && imm !== 0n) c.i64(imm).op(Op.i64Add);
    c.set(L0);
    if (load) this.mirrorHit(L0, total, false); else this.storeHit(L0, total);
    this.fpEnabled(); c.op(Op.i32Eqz).op(Op.i32Eqz).op(Op.i32And);
    c.ifResult(I32, true);
    this.ramAddress(); c.set(U0);
    const regs = pair ? [rt, rt2] : [rt];
    regs.forEach((r, i) => {
      const v = V_REGS + 16 * r, m = i * bytes;
      for (let o = 0; o < bytes; o += 8) {
        const word = bytes === 4 ? 4 : 8;
        if (load) { this.state().get(U0).mem(word === 4 ? Op.i32Load : Op.i64Load, m + o); if (word === 4) c.store32(v); else c.store64(v + o); }
        else { c.get(U0); this.state(); if (word === 4) c.load32(v); else c.load64(v + o); c.mem(word === 4 ? Op.i32Store : Op.i64Store, m + o); }
      }
      // A scalar load clears the rest of the vector register.
      if (load && bytes === 4) { this.state().i32(0).store32(v + 4); this.state().i64(0n).store64(v + 8); }
      else if (load && bytes === 8) this.state().i64(0n).store64(v + 8);
    });
    if (writeback !== 0) {
      this.state().get(L0);
      if (writeback === 1) c.i64(imm).op(Op.i64Add);
      c.store64(8 * (rn === 31 ? 32 : rn));
    }
    c.i32(0); // inline stores never reach translated code (write tags never cover a code page)
    c.op(Op.else);
    c.i32(insn); this.callHelper(F_INTERP);
    c.op(Op.end);
    if (writeback !== 0) this.forget(rn === 31 ? 32 : rn, (rn === 31 ? 32 : rn) + 1);
    if (load) c.op(Op.drop);
    else this.exitIfCodeWritten(this.writes);
    return true;
  }

  /**
   * The scalar FP instructions that cannot raise an FP exception here, inline: FMOV
   * (immediate); SCVTF and UCVTF of a W register to a double (always exact); FCMP and FCMPE
   * of two numbers neither NaN nor subnormal (NaNs raise IOC, FPCR.FZ flushes subnormals:
   * those go to the interpreter). Arithmetic stays there: its result must set FPSR's flags exactly.
   */
  private fpScalar(insn: number): boolean {
    const c = this.c;
    const rd = insn & 31, rn = (insn >>> 5) & 31, vd = V_REGS + 16 * rd, vn = V_REGS + 16 * rn;
    const double = ((insn >>> 22) & 3) === 1;
    if (((insn & 0xff3efc00) >>> 0) === 0x1e220000 && double) { // SCVTF/UCVTF Dd, Wn
      this.ifFpEnabled(insn, () => {
        this.state(); this.w(rn); c.op(((insn >>> 16) & 1) !== 0 ? Op.f64ConvertI32U : Op.f64ConvertI32S).op(Op.i64ReinterpretF64);
        c.store64(vd);
        this.state().i64(0n).store64(vd + 8);
      });
      return true;
    }
    const single = ((insn >>> 22) & 3) === 0;
    if (!double && !single) return false;
    if (((insn & 0xff201fe0) >>> 0) === 0x1e201000) { // FMOV Sd/Dd, #imm
      const imm8 = (insn >>> 13) & 0xff;
      const esize = double ? 64 : 32, bits = rawToBits(esize, expandFpImm(imm8, esize));
      this.ifFpEnabled(insn, () => {
        this.state().i64(bits).store64(vd);
        this.state().i64(0n).store64(vd + 8);
      });
      return true;
    }
    if (((insn & 0xffe0fc07) >>> 0) !== (single ? 0x1e202000 : 0x1e602000)) return false; // FCMP, FCMPE
    const rm = (insn >>> 16) & 31, zero = (insn & 8) !== 0;
    if (zero && rm !== 0) return false;
    const vm = V_REGS + 16 * rm;
    const operand = (off: number): void => { if (double) this.state().load64(off); else this.state().load32(off).op(Op.i64ExtendI32U); };
    const exp = double ? 0x7ff0000000000000n : 0x7f800000n, mant = double ? 0xfffffffffffffn : 0x7fffffn, one = double ? 1n << 52n : 1n << 23n;
    /** Push whether the i64 in `l` is a zero, an infinity or a normal number (not a NaN, not subnormal). */
    const plain = (l: number): void => {
      c.get(l).i64(mant).op(Op.i64And).op(Op.i64Eqz);
      c.get(l).i64(exp).op(Op.i64And).i64(one).op(Op.i64Sub).i64(exp - one).op(Op.i64LtU).op(Op.i32Or);
    };
    const value = (l: number): void => {
      c.get(l);
      if (double) c.op(Op.f64ReinterpretI64); else c.op(Op.i32WrapI64).op(Op.f32ReinterpretI32);
    };
    this.ifFpEnabled(insn, () => {
      operand(vn); c.set(L0);
      if (zero) c.i64(0n).set(L1); else { operand(vm); c.set(L1); }
      plain(L0); plain(L1); c.op(Op.i32And);
      c.ifVoid(true);
      this.setFlag(OFF_N, () => { value(L0); value(L1); c.op(double ? Op.f64Lt : Op.f32Lt); });
      this.setFlag(OFF_Z, () => { value(L0); value(L1); c.op(double ? Op.f64Eq : Op.f32Eq); });
      this.setFlag(OFF_C, () => { value(L0); value(L1); c.op(double ? Op.f64Ge : Op.f32Ge); });
      this.setFlag(OFF_V, () => c.i32(0));
      c.op(Op.else);
      // A NaN or a subnormal: the interpreter (IOC, FZ), then the flags as it left them.
      this.beforeCall();
      c.i32(insn); this.callHelper(F_INTERP); c.op(Op.drop);
      for (const off of [OFF_N, OFF_Z, OFF_C, OFF_V]) this.setFlag(off, () => { this.state().load32(off); });
      c.op(Op.end);
    });
    return true;
  }

  /** FMOV between FP registers (S, D) and between general and FP registers (W/S, X/D): bit copies, no FP exceptions; else DUP (general). */
  private fpMove(insn: number): boolean {
    const c = this.c;
    const rd = insn & 31, rn = (insn >>> 5) & 31;
    const top = insn & 0xfffffc00;
    let kind: 'vv32' | 'vv64' | 'xv' | 'vx' | 'wv' | 'vw';
    if (top === 0x1e204000) kind = 'vv32'; // FMOV Sd, Sn
    else if (top === 0x1e604000) kind = 'vv64'; // FMOV Dd, Dn
    else if (top === (0x9e660000 | 0)) kind = 'xv'; // FMOV Xd, Dn
    else if (top === (0x9e670000 | 0)) kind = 'vx'; // FMOV Dd, Xn
    else if (top === 0x1e260000) kind = 'wv'; // FMOV Wd, Sn
    else if (top === 0x1e270000) kind = 'vw'; // FMOV Sd, Wn
    else return this.dupGeneral(insn);
    const vd = V_REGS + 16 * rd, vn = V_REGS + 16 * rn;
    // V registers are in memory only, so nothing cached changes here but Xd.
    this.ifFpEnabled(insn, () => {
      if (kind === 'vv32' || kind === 'vv64' || kind === 'vx' || kind === 'vw') {
        this.state();
        if (kind === 'vv32') this.state().load32(vn).op(Op.i64ExtendI32U);
        else if (kind === 'vv64') this.state().load64(vn);
        else if (kind === 'vx') this.x(rn);
        else { this.w(rn); c.op(Op.i64ExtendI32U); }
        c.store64(vd);
        this.state().i64(0n).store64(vd + 8);
      } else {
        // Xd/Wd inside an if: the write goes to memory (and the local when cached), as write() does there.
        this.setX(rd, () => { if (kind === 'xv') this.state().load64(vn); else this.state().load32(vn).op(Op.i64ExtendI32U); });
      }
    });
    return true;
  }

  /**
   * `body` when FP/SIMD is enabled at the EL; else the interpreter runs the instruction (and
   * takes the trap) and, should it return, the block leaves after it.
   */
  private ifFpEnabled(insn: number, body: () => void): void {
    const c = this.c;
    this.fpEnabled();
    c.ifVoid(true);
    body();
    c.op(Op.else);
    this.beforeCall();
    c.i32(insn); this.callHelper(F_INTERP); c.op(Op.drop); // traps (FP/SIMD disabled)
    this.retire();
    this.leaveAt((this.pc + 4n) & M64);
    c.op(Op.end);
  }

  /**
   * DUP (general): Vd's elements (8, 16, 32 or 64 bits; 64 or 128 bits in all) all set to the
   * low bits of Wn/Xn, the rest of Vd cleared. The C library's memset starts with one.
   */
  private dupGeneral(insn: number): boolean {
    if (((insn & 0xbfe0fc00) >>> 0) !== 0x0e000c00) return false;
    const c = this.c;
    const q = (insn >>> 30) & 1, imm5 = (insn >>> 16) & 31, rn = (insn >>> 5) & 31, rd = insn & 31;
    const size = imm5 & 1 ? 0 : imm5 & 2 ? 1 : imm5 & 4 ? 2 : imm5 & 8 ? 3 : -1;
    if (size < 0 || (size === 3 && q === 0)) return false; // reserved: the interpreter's
    const vd = V_REGS + 16 * rd;
    this.ifFpEnabled(insn, () => {
      // One 64-bit lane pattern: the element times 0x01..01 at its width (no carries: each product term lands in its own element).
      this.x(rn);
      if (size < 3) c.i64([0xffn, 0xffffn, 0xffffffffn][size]).op(Op.i64And).i64([0x0101010101010101n, 0x0001000100010001n, 0x0000000100000001n][size]).op(Op.i64Mul);
      c.set(L0);
      this.state().get(L0).store64(vd);
      this.state(); if (q) c.get(L0); else c.i64(0n); c.store64(vd + 8);
    });
    return true;
  }
}
