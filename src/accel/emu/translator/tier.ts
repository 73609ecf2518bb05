// The second execution tier: hot guest blocks run as WebAssembly. The batch loop below
// replaces Cpu.runBatch when the tier is on; it interprets like the plain loop and, at
// each block head (a branch target, an exception vector, the instruction after a block;
// in interpreted code also wherever a translated block would end), looks the PC up. Heads
// reached `threshold` times are decoded and queued; queued blocks are compiled together
// into one module. A translation is found by virtual address and entered only if the fetch
// path maps it to the same physical address now (no walk: fetch cache or TLB), so TLBI and
// TTBR/TCR/SCTLR changes need no bookkeeping; blocks checked so in the current epoch go
// into the dispatch table translated code jumps through. Stores to translated pages and IC
// instructions drop translations (code-pages.ts).
import { GUEST_EXCEPTION, VM_EXIT, type Cpu, type PendingExit } from '../cpu.ts';
import { step, execute } from '../interpreter.ts';
import { takeIrq, takeFiq } from '../system.ts';
import type { CpuState } from '../state.ts';
import { Code } from './wasm.ts';
import { BlockGen, MAX_BLOCK_LENGTH, MODE_FP_OK, siteIndex, siteModule, siteSlot, type StateLayout } from './codegen.ts';
import {
  DISPATCH_SIZE, OFF_C, OFF_DISPATCH, OFF_DISPATCHED, OFF_DONE, OFF_EPOCH, OFF_MODE, OFF_N, OFF_PC, OFF_RES, OFF_SP_EL0, OFF_V, OFF_Z,
  STATE_AREA_BYTES, dispatchOffset,
} from '../state-area.ts';
import { BLOCK_ID_BITS, MAX_BATCH, MAX_MODULES, buildBatch, compileDispatcher, helperTable, newRunTable, type FuncTable, type BatchBlock, type RunFn } from './module.ts';
import type { CodePages } from './code-pages.ts';
import { ColdHeads, HeadTable, QUEUED_HEAD } from './heads.ts';
import { samePageSuccessors } from './successors.ts';
import { tuneWasmTiering } from './v8-tiering.ts';

export interface TranslatorOptions {
  /** Visits of a block head before it is translated. */
  threshold?: number;
  /** Blocks per compiled module (instantiating a module costs far more than a block). */
  batchSize?: number;
  /** Batches a queued block waits at most for the queue to fill. */
  maxWaitBatches?: number;
  /** Instructions per block at most. */
  maxBlockLength?: number;
  /**
   * Blocks a batch may grow to with the warm blocks its blocks continue in directly (at most
   * MAX_BATCH; batchSize or less: none are taken along).
   */
  pullLimit?: number;
  /** Visits a block head needs to be taken along so (default: a quarter of the threshold). */
  pullWarmth?: number;
  /** Modules before everything is translated anew (at most MAX_MODULES, the table of runs' size). */
  maxModules?: number;
  /**
   * Compile modules off the vCPU's thread: their blocks stay interpreted until the module is
   * ready, installed between two batches. Off by default: on the Debian boot it cost more
   * main-thread time than it saved (translation came later, so more was interpreted).
   */
  background?: boolean;
}

const PAGE = 4096;
/** Interpreted visits to blocks waiting in the queue before the queue is compiled as it is. */
const QUEUED_VISITS_BEFORE_COMPILE = 1024;
/** Instructions between timer checks (and profiler samples), as the interpreter's 1024. */
const TICK = 1024;
/**
 * Instructions one run of translated code may retire before the batch loop checks the timer:
 * a quarter of the Debian boot's runs ended on TICK's limit (about 10 us of guest time each).
 * The profiler, which samples every TICK instructions, keeps runs to TICK.
 */
const RUN_LIMIT = 4 * TICK;
/**
 * B.cond, CBZ/CBNZ, TBZ/TBNZ: a translated block ends at one, so the instruction after one not
 * taken starts a block.
 */
const isConditionalBranch = (insn: number): boolean =>
  (insn & 0xff000010) === 0x54000000 || (insn & 0x7c000000) === 0x34000000;

/** Regimes remembered per epoch (processes' page tables, KPTI's two TTBR1 values per process). */
const MAX_REGIMES = 1024;

/** WebAssembly.compile (the TypeScript lib in use does not declare it). */
const compileAsync = (bytes: ArrayBuffer): Promise<WebAssembly.Module> =>
  (WebAssembly as unknown as { compile(b: ArrayBuffer): Promise<WebAssembly.Module> }).compile(bytes);

/** NZCV: translated code keeps them in the state memory, the interpreter in CpuState. */
function flagsToState(m32: Int32Array, s: CpuState): void {
  s.n = m32[OFF_N >> 2]; s.z = m32[OFF_Z >> 2]; s.c = m32[OFF_C >> 2]; s.v = m32[OFF_V >> 2];
}

function flagsToMemory(m32: Int32Array, s: CpuState): void {
  m32[OFF_N >> 2] = s.n; m32[OFF_Z >> 2] = s.z; m32[OFF_C >> 2] = s.c; m32[OFF_V >> 2] = s.v;
}

/**
 * PSTATE's EL, SPSel and DAIF and the banked SP_EL0, as inline MRS reads them (OFF_MODE,
 * OFF_SP_EL0), and whether FP/SIMD is enabled at this EL (CPACR_EL1.FPEN), as inline FP
 * loads, stores and moves check it.
 */
function modeToMemory(m32: Int32Array, c: Cpu): void {
  const fpOk = c.fpen === 3 || (c.fpen === 1 && c.el === 1);
  m32[OFF_MODE >> 2] = c.el | (c.spsel << 1) | (c.daif << 6) | (fpOk ? MODE_FP_OK : 0);
  m32[OFF_SP_EL0 >> 2] = c.spEl0Lo; m32[(OFF_SP_EL0 >> 2) + 1] = c.spEl0Hi;
}

export class Block implements BatchBlock {
  valid = true;
  compiled = false;
  /** Its module is being compiled in the background. */
  compiling = false;
  index = 0;
  constructor(readonly lo: number, readonly hi: number, readonly pa: number, readonly va: bigint, readonly words: Uint32Array) {}
  get len(): number { return this.words.length; }
}

export interface TranslatorStats {
  blocks: number;
  modules: number;
  /** Modules compiled in the background for an earlier start-over, so never installed. */
  discardedModules: number;
  compileMs: number;
  translatedInstructions: number;
}

export class Translator {
  private readonly threshold: number;
  private readonly batchSize: number;
  private readonly maxLen: number;
  /** The decoder's code generator, kept across blocks (BlockGen.kindOf's answers do not depend on the block). */
  private readonly classifier = new BlockGen(new Code(), 0n, { chain: () => -1 });
  /** Each installed module's blocks, by module number: helpers find a call site's PC here. */
  private readonly moduleBlocks: (readonly Block[] | undefined)[] = [];
  /** The vCPU's state area as words (index = byte offset in the area / 4). */
  private readonly m32: Int32Array;
  private readonly layout: StateLayout;
  private readonly heads = new HeadTable<Block>();
  private queue: Block[] = [];
  /** Batches run since the queue's oldest block was queued. */
  private waited = 0;
  /** Visits to queued blocks since the last compile: a hot queue is compiled without waiting to fill. */
  private queuedVisits = 0;
  private readonly maxWait: number;
  private readonly pullLimit: number;
  private readonly pullWarmth: number;
  private readonly maxModules: number;
  /** The helpers translated code calls (tests wrap them before anything is compiled). */
  private readonly imports: Record<string, (...a: number[]) => number | void>;
  /** What batch modules import: the state memory and the helpers' table, made at the first install. */
  private batchImports: { mem: WebAssembly.Memory; table: FuncTable } | undefined;
  private failed = false;
  private readonly background: boolean;
  /** Start-overs so far: a module compiled for an earlier one is not installed. */
  private era = 0;
  /** Modules compiled since the last start-over; the next one's number (the high bits of its block ids). */
  private modules = 0;
  /** table[moduleNo] = that module's run(), for the dispatcher. */
  private readonly runTable: FuncTable;
  private readonly dispatch: RunFn;
  /** The block each dispatch entry was last filled with (by entry number), to check it again cheaply. */
  private readonly dispatchBlocks: (Block | undefined)[] = new Array<Block | undefined>(DISPATCH_SIZE).fill(undefined);
  /** Dispatch entries are valid in this epoch only; it moves on when the MMU's epoch or the code pages change. */
  private epoch = 1;
  /** The highest epoch handed out. */
  private lastEpoch = 1;
  /**
   * What dispatch entries are checked against: the epoch and the EL they were verified at
   * (epoch * 2 + EL), so that exception entry and return keep them valid while an entry
   * verified at EL1 never lets EL0 jump into kernel code.
   */
  private key = 2;
  /**
   * What the table of cold heads counts visits under: the EL only (1 + EL, never 0; key's low
   * bit). Not the epoch: a count only decides when a head is decoded, and a block is entered
   * only after a lookup found it where the PC translates now, so a count that outlives its
   * epoch is harmless. Keyed by epoch, every new epoch or translation regime (about 600 on
   * the Debian boot) sent each cold head's next visit through a full lookup.
   */
  private get coldKey(): number { return 1 + (this.key & 1); }
  private seenMmuEpoch = -1;
  private seenGeneration = -1;
  private seenRegime = -1;
  /**
   * The epoch each translation regime (TTBRs, TCR, MMU enable) was given since the last real
   * change: a context switch back, or the kernel entry and exit that swap TTBR1 under KPTI,
   * find their dispatch entries still valid.
   */
  private readonly regimes = new Map<string, number>();
  /** Heads the batch loop found cold: a visit there is counted without the dispatch entry, the fetch translation and the probes of a lookup. */
  private readonly cold = new ColdHeads<Block>(this.heads);
  /** Set by lookup(): the slot of the head it found cold, else -1. */
  private coldSlot = -1;
  readonly stats: TranslatorStats = { blocks: 0, modules: 0, discardedModules: 0, compileMs: 0, translatedInstructions: 0 };

  constructor(private readonly cpu: Cpu, private readonly code: CodePages, options: TranslatorOptions = {}) {
    tuneWasmTiering();
    // 256: on the Debian boot (3 alternated runs each) 32 was 10% slower than 64, 256 10%
    // faster (12 K blocks instead of 22 K, 24 M instructions interpreted instead of 11 M), 512
    // slower again. Modules compile on the vCPU's thread (440 ms of it a boot instead of
    // 640), and V8's background thread spent about 2 s less CPU optimizing them.
    this.threshold = options.threshold ?? 256;
    this.batchSize = Math.min(options.batchSize ?? 64, MAX_BATCH);
    this.maxLen = Math.min(options.maxBlockLength ?? 64, MAX_BLOCK_LENGTH);
    this.maxWait = options.maxWaitBatches ?? 32;
    this.pullLimit = Math.min(options.pullLimit ?? 2 * this.batchSize, MAX_BATCH);
    this.pullWarmth = Math.max(1, options.pullWarmth ?? this.threshold >> 2);
    this.maxModules = Math.min(options.maxModules ?? MAX_MODULES, MAX_MODULES);
    this.background = options.background ?? false;
    this.m32 = new Int32Array(cpu.s.buffer, cpu.s.base, STATE_AREA_BYTES >> 2);
    // Guest RAM shares the memory when the state is in its arena (arena.ts): loads and stores then go inline.
    this.layout = { base: cpu.s.base, inline: cpu.mmu.mirrored };
    code.attach(cpu.mmu);
    this.imports = this.helpers();
    this.m32[OFF_EPOCH >> 2] = this.key;
    this.runTable = newRunTable();
    this.dispatch = compileDispatcher(cpu.s.memory, this.runTable, cpu.s.base);
  }

  // ---- memory helpers called by translated code ----

  private helpers(): Record<string, (...a: number[]) => number | void> {
    const c = this.cpu, s = c.s, m = c.mmu, m32 = this.m32, code = this.code, moduleBlocks = this.moduleBlocks;
    // Make the JS side precise before a call that may fault or exit: flags (an exception
    // saves them in SPSR), the PC of the instruction (from its call site, codegen.ts
    // callHelper) and, for the batch loop, the instructions retired with it (OFF_DONE).
    const sync = (iss: number, site: number, done: number) => {
      const k = siteIndex(site);
      const b = moduleBlocks[siteModule(site)]![siteSlot(site)];
      m32[OFF_DONE >> 2] = done + k + 1;
      flagsToState(m32, s);
      c.curPcLo = (b.lo + 4 * k) | 0; c.curPcHi = b.hi; // a block never crosses a page
      c.accessIss = iss;
    };
    const stored = () => { const h = code.hit; code.hit = false; return h ? 1 : 0; };
    // One instruction the block does not translate, run by the interpreter in place.
    const interp = (insn: number, site: number, done: number) => {
      sync(0, site, done);
      s.pcLo = c.curPcLo; s.pcHi = c.curPcHi;
      code.hit = false;
      execute(c, s, insn);
      flagsToMemory(m32, s);
      return stored();
    };
    // A system instruction that ended its block (MSR, TLBI, IC, AT): the block goes on at
    // the next instruction unless the batch loop must see what it did (returns 1): a write to
    // translated code, an interrupt it unmasked, a new epoch or translation regime, another
    // SPSel. The mode word and SP_EL0 that inline MRS reads are brought up to date.
    const sys = (insn: number, site: number, done: number) => {
      const spsel = c.spsel;
      if (interp(insn, site, done) !== 0) return 1;
      modeToMemory(m32, c);
      if (c.spsel !== spsel || (c.irqLine && (c.daif & 2) === 0) || (c.fiqLine && (c.daif & 1) === 0)) return 1;
      return m.epoch !== this.seenMmuEpoch || code.generation !== this.seenGeneration || m.regime !== this.seenRegime ? 1 : 0;
    };
    // A fast-path store never reaches a code page: those are kept off the fast path.
    return {
      interp,
      sys,
      ld8: (lo, hi, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 1, false);
        if (f >= 0) return m.fastMapping.bytes[f];
        sync(iss, site, done); return m.read(lo, hi, 1);
      },
      ld16: (lo, hi, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 2, false);
        if (f >= 0) return m.fastMapping.view.getUint16(f, true);
        sync(iss, site, done); return m.read(lo, hi, 2);
      },
      ld32: (lo, hi, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 4, false);
        if (f >= 0) return m.fastMapping.view.getInt32(f, true);
        sync(iss, site, done); return m.read(lo, hi, 4) | 0;
      },
      ld64: (lo, hi, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 8, false);
        if (f >= 0) {
          const v = m.fastMapping.view;
          m32[OFF_RES >> 2] = v.getInt32(f, true); m32[(OFF_RES >> 2) + 1] = v.getInt32(f + 4, true);
          return;
        }
        sync(iss, site, done); m.read64(lo, hi); m32[OFF_RES >> 2] = m.rl; m32[(OFF_RES >> 2) + 1] = m.rh;
      },
      st8: (lo, hi, v, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 1, true);
        if (f >= 0) { const hm = m.fastMapping; hm.bytes[f] = v; c.clearOtherMonitors(hm.gpa + f, 1); return 0; }
        sync(iss, site, done); code.hit = false; m.write(lo, hi, 1, v & 0xff); return stored();
      },
      st16: (lo, hi, v, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 2, true);
        if (f >= 0) { const hm = m.fastMapping; hm.view.setUint16(f, v & 0xffff, true); c.clearOtherMonitors(hm.gpa + f, 2); return 0; }
        sync(iss, site, done); code.hit = false; m.write(lo, hi, 2, v & 0xffff); return stored();
      },
      st32: (lo, hi, v, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 4, true);
        if (f >= 0) { const hm = m.fastMapping; hm.view.setInt32(f, v, true); c.clearOtherMonitors(hm.gpa + f, 4); return 0; }
        sync(iss, site, done); code.hit = false; m.write(lo, hi, 4, v); return stored();
      },
      st64: (lo, hi, vl, vh, iss, site, done) => {
        const f = m.fastOffset(lo, hi, 8, true);
        if (f >= 0) {
          const hm = m.fastMapping, v = hm.view;
          v.setInt32(f, vl, true); v.setInt32(f + 4, vh, true); c.clearOtherMonitors(hm.gpa + f, 8);
          return 0;
        }
        sync(iss, site, done); code.hit = false; m.write64(lo, hi, vl, vh); return stored();
      },
    };
  }

  // ---- lookup and hot counting ----

  /** Translate the block at hi:lo now, whatever its heat (tests, benchmarks); false if it cannot be. */
  prepare(lo: number, hi: number): boolean {
    const pa = this.cpu.mmu.codePa(lo, hi);
    if (pa < 0) return false;
    const h = this.heads.slot(lo, hi, pa, this.code.generation);
    const before = this.heads.block[h];
    if (before === undefined || before === null || !before.valid) this.decode(h);
    const b = this.heads.block[h];
    this.flush(true);
    return b !== undefined && b !== null && b.valid && b.compiled;
  }

  /**
   * One more visit to the cold head at hi:lo if the table of cold heads has it in this epoch
   * and EL; false when the batch loop must look it up (the slot holds another head now, or
   * the head was decoded).
   */
  private coldVisit(lo: number, hi: number): boolean {
    const n = this.cold.visit(lo, hi, this.coldKey);
    if (n === QUEUED_HEAD) return !this.queuedVisit(); // once compiled, the lookup finds it
    if (n < 0) return false;
    if (n < this.threshold) return true;
    const h = this.cold.release(lo, hi);
    if (h < 0) return false;
    this.decode(h);
    return true;
  }

  /** One more visit to a block waiting in the queue: the queue is compiled after enough of them; true if it was now. */
  private queuedVisit(): boolean {
    if (++this.queuedVisits < QUEUED_VISITS_BEFORE_COMPILE) return false;
    this.flush();
    return true;
  }

  /**
   * Translation for the head at hi:lo, null if the head is known untranslatable, else
   * undefined; coldSlot is then the head's slot if it is still cold, else -1.
   */
  private lookup(lo: number, hi: number): Block | null | undefined {
    this.coldSlot = -1;
    const pa = this.cpu.mmu.codePa(lo, hi);
    if (pa < 0) return undefined;
    const heads = this.heads;
    const h = heads.slot(lo, hi, pa, this.code.generation);
    const b = heads.block[h];
    if (b !== undefined && b !== null) {
      if (b.valid) {
        if (b.compiled) return b;
        if (!b.compiling) this.queuedVisit();
        return b.compiled ? b : undefined;
      }
      heads.block[h] = undefined; // its page was written: translate again when hot
      heads.resetVisits(h);
      return undefined;
    }
    if (b === null) {
      // Untranslatable until the page changes (the instruction there may have been rewritten).
      if (heads.generation(h) === this.code.generation) return null;
      heads.block[h] = undefined;
      heads.resetVisits(h);
    }
    if (heads.visit(h) === this.threshold) this.decode(h);
    else this.coldSlot = h;
    return undefined;
  }

  /** Decode the head in slot h into a block and queue it (or mark the head untranslatable). */
  private decode(h: number): void {
    const b = this.decodeBlock(h);
    if (b === null) return;
    this.queue.push(b);
    this.cold.mark(b.lo, b.hi, this.coldKey, h);
    if (this.queue.length >= this.batchSize) this.flush();
  }

  /** Decode the head in slot h into a block (watched by the code pages), or mark it untranslatable (null). */
  private decodeBlock(h: number): Block | null {
    const c = this.cpu, heads = this.heads;
    const pa = heads.pa(h), lo = heads.lo(h), hi = heads.hi(h);
    this.cold.drop(lo, hi);
    const m = c.memory.find(pa, 4);
    heads.setGeneration(h, this.code.generation);
    if (m === undefined || (m.flags & 4) === 0 || this.failed || this.code.churning(pa)) { heads.block[h] = null; return null; }
    const va = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    const gen = this.classifier;
    gen.c.length = 0; // its code is thrown away: only where the block ends matters here
    const words: number[] = [];
    const room = Math.min(this.maxLen, (PAGE - (pa % PAGE)) / 4, (m.gpa + m.size - pa) / 4);
    for (let i = 0; i < room; i++) {
      const w = m.view.getUint32(pa - m.gpa + 4 * i, true);
      gen.k = i;
      const r = gen.kindOf(w); // where the block ends; its code is generated when its module is built
      if (r === false) break;
      words.push(w);
      if (r === 'end') break;
    }
    if (words.length === 0) { heads.block[h] = null; return null; }
    const b = new Block(lo, hi, pa, va, Uint32Array.from(words));
    heads.block[h] = b;
    this.code.add(pa, b);
    return b;
  }

  /**
   * Add to the batch the blocks its blocks continue in directly in their page (successors.ts),
   * up to pullLimit blocks in all: a loop or a run of blocks that became hot at different times
   * would otherwise hop between modules at every turn (on the Debian boot, most of the 75 M
   * hops were between blocks of one loop or function). The next instruction is taken whenever
   * it is not translated yet (it mostly runs with the block before it); a branch target only
   * when it is warm.
   */
  private pullSuccessors(blocks: Block[]): void {
    const heads = this.heads, gen = this.code.generation;
    const pull = (b: Block, offset: number | undefined, mustBeWarm: boolean): void => {
      if (offset === undefined || blocks.length >= this.pullLimit) return;
      const lo = (b.lo + offset) | 0, pa = b.pa + offset;
      let h = heads.find(lo, b.hi, pa);
      if (h >= 0 ? heads.block[h] !== undefined || (mustBeWarm && this.cold.visits(h) < this.pullWarmth) : mustBeWarm) return;
      if (h < 0) h = heads.slot(lo, b.hi, pa, gen);
      const s = this.decodeBlock(h);
      if (s !== null) blocks.push(s);
    };
    // Only the hot blocks' successors: taking theirs too doubled the blocks compiled on the
    // Debian boot, and the background compiles then took the main thread's core.
    const hot = blocks.length;
    for (let i = 0; i < hot && blocks.length < this.pullLimit; i++) {
      const b = blocks[i], next = samePageSuccessors(b.lo, b.words);
      pull(b, next.fallThrough, false);
      pull(b, next.target, true);
    }
  }

  /**
   * Compile the queued blocks into one module: in the background (WebAssembly.compile, V8's
   * worker threads; the blocks stay interpreted until it is ready and installed between two
   * batches) unless `now` or the tier compiles in the foreground.
   */
  flush(now = !this.background): void {
    for (const b of this.queue) this.cold.drop(b.lo, b.hi); // marked queued by decode()
    const blocks = this.queue.filter((b) => b.valid);
    // Emptied in place: a fresh [] has another elements kind (map), and the batch loop's
    // optimized code, which reads the queue's length, was deoptimized for it 40 times a boot.
    this.queue.length = 0;
    this.waited = 0;
    this.queuedVisits = 0;
    if (blocks.length === 0) return;
    const t0 = performance.now();
    if (this.modules >= this.maxModules) {
      // Start over: old modules hold ids as constants; dropping every translation makes them
      // unreachable, and modules still compiling are dropped when they are ready.
      this.code.invalidateAll();
      this.heads.clear();
      this.cold.clear();
      for (let i = 0; i < this.modules; i++) this.runTable.set(i, null);
      this.modules = 0;
      this.era++;
      return;
    }
    if (this.pullLimit > blocks.length) this.pullSuccessors(blocks);
    // In address order: a block mostly continues in one after it, which is then a plain branch
    // away in the module's code (module.ts), not a trip round its loop.
    blocks.sort((a, b) => (a.va < b.va ? -1 : a.va > b.va ? 1 : 0));
    const moduleNo = this.modules++;
    blocks.forEach((b, i) => { b.index = (moduleNo << BLOCK_ID_BITS) | i; });
    try {
      const delta = this.cpu.memory.deltaIn(this.cpu.s.buffer);
      this.layout.exclusiveDelta = delta === undefined ? undefined : BigInt(delta);
      const bin = buildBatch(blocks, moduleNo, this.layout);
      if (now) this.install(new WebAssembly.Module(bin.buffer as ArrayBuffer), blocks, moduleNo); // bin owns its whole buffer
      else {
        for (const b of blocks) b.compiling = true;
        const era = this.era;
        compileAsync(bin.buffer as ArrayBuffer).then(
          (module) => {
            if (era !== this.era || this.failed) { this.stats.discardedModules++; return; } // its number may belong to a newer module now
            const t1 = performance.now();
            this.install(module, blocks, moduleNo);
            this.stats.compileMs += performance.now() - t1;
          },
          (err: unknown) => this.fail(blocks, err),
        );
      }
    } catch (err) {
      this.fail(blocks, err);
    }
    this.stats.compileMs += performance.now() - t0;
  }

  /** Instantiate a compiled batch: its run() goes into the table of runs, and its blocks may be entered. */
  private install(module: WebAssembly.Module, blocks: readonly Block[], moduleNo: number): void {
    try {
      this.batchImports ??= { mem: this.cpu.s.memory, table: helperTable(this.imports) };
      const instance = new WebAssembly.Instance(module, { e: this.batchImports } as never);
      this.runTable.set(moduleNo, instance.exports.run);
      this.moduleBlocks[moduleNo] = blocks;
    } catch (err) {
      this.fail(blocks, err);
      return;
    }
    for (const b of blocks) { b.compiled = true; b.compiling = false; }
    this.stats.blocks += blocks.length;
    this.stats.modules++;
  }

  /** A bug in the translator: keep running on the interpreter. */
  private fail(blocks: readonly Block[], err: unknown): void {
    process.stderr.write(`nodevisor: translator: compiling ${blocks.length} blocks failed, interpreting from now on: ${(err as Error).message}\n`);
    this.failed = true;
    for (const b of blocks) b.valid = false;
  }

  // ---- the batch loop ----

  runBatch(budget: number): PendingExit | undefined {
    const c = this.cpu, s = c.s, m32 = this.m32;
    c.exit = undefined;
    let n = 0;
    let head = true;
    let translated = 0;
    let nextTick = TICK;
    // Interpreted instructions since the last head: the batch loop looks the PC up where a
    // translated block would end, so every block of straight-line code counts its own visits.
    let sinceHead = 0;
    const maxLen = this.maxLen;
    const runLimit = c.profile === undefined ? RUN_LIMIT : TICK;
    try {
      while (n < budget) {
        // As Cpu.runBatch does.
        if (c.irqLine && (c.daif & 2) === 0) { takeIrq(c); c.eventRegister = true; head = true; }
        else if (c.fiqLine && (c.daif & 1) === 0) { takeFiq(c); c.eventRegister = true; head = true; }
        let untranslatable = false;
        if (head) {
          sinceHead = 0;
          this.refreshEpoch();
          const pl = s.pcLo, ph = s.pcHi;
          let id = -1;
          // A head found cold in this epoch and EL: count the visit and interpret. Else a
          // dispatch entry checked in this epoch and EL is as good as a lookup, and far cheaper.
          if (!this.coldVisit(pl, ph)) {
            const d = dispatchOffset(pl) >> 2;
            const samePc = m32[d] === pl && m32[d + 1] === ph;
            id = samePc && m32[d + 2] === this.key ? m32[d + 3] : -1;
            if (id < 0) {
              // The entry's block, if the PC still translates to its page here (a new epoch or EL):
              // cheaper than a full lookup. Only the entry's own PC can have it (an entry of another
              // PC is the common case at a cold head, and its block a cache miss more).
              const last = samePc ? this.dispatchBlocks[d >> 2] : undefined;
              const b = last !== undefined && last.lo === pl && last.hi === ph && last.valid && last.compiled && c.mmu.codePa(pl, ph) === last.pa
                ? last
                : this.lookup(pl, ph);
              if (b !== undefined && b !== null) {
                // Checked in this epoch: translated code may now jump here directly.
                m32[d] = pl; m32[d + 1] = ph; m32[d + 2] = this.key; m32[d + 3] = b.index;
                this.dispatchBlocks[d >> 2] = b;
                id = b.index;
              } else if (b === null) untranslatable = true;
              else if (this.coldSlot >= 0) this.cold.note(pl, ph, this.coldKey, this.coldSlot);
            }
          }
          if (id >= 0) {
            // Up to RUN_LIMIT instructions, then back here for the timer check. Not up to a fixed
            // boundary: a block longer than what is left of it would be interpreted instead.
            const room = Math.min(budget - n, runLimit);
            flagsToMemory(m32, s);
            modeToMemory(m32, c);
            let done = 0;
            try {
              // Across modules while their blocks' dispatch entries say so.
              done = this.dispatch(id, room);
            } catch (e) {
              // A helper faulted or exited: the state is already the interpreter's.
              const k = m32[OFF_DISPATCHED >> 2] + m32[OFF_DONE >> 2];
              n += k;
              translated += k;
              if (e !== GUEST_EXCEPTION) throw e;
              head = true;
              continue;
            }
            s.pcLo = m32[OFF_PC >> 2]; s.pcHi = m32[(OFF_PC >> 2) + 1];
            flagsToState(m32, s);
            if (done > 0) {
              n += done;
              translated += done;
              if (n >= nextTick) { nextTick = n + TICK; if (this.tick()) break; }
              continue;
            }
            // Too little of the budget left for the block: interpret up to its end.
          }
        }
        n++;
        try {
          step(c);
        } catch (e) {
          if (e !== GUEST_EXCEPTION) throw e;
          c.branched = true;
        }
        // Where a translated block would end too: a conditional branch not taken, its maximum
        // length, a page boundary. Else code reached by falling through from interpreted code
        // was never counted, and a long function was translated one block per 64 calls.
        head = c.branched || untranslatable || isConditionalBranch(c.curInsn) || ++sinceHead >= maxLen || (s.pcLo & (PAGE - 1)) === 0;
        if (n >= nextTick) { nextTick = n + TICK; if (this.tick()) break; }
      }
    } catch (e) {
      if (e !== VM_EXIT) throw e;
    } finally {
      c.instructionsRetired += n;
      this.stats.translatedInstructions += translated;
    }
    if (this.queue.length > 0 && ++this.waited >= this.maxWait) this.flush();
    return c.exit;
  }

  /**
   * Move to a new epoch when fetch translations or code pages changed since the last one, to
   * the regime's own epoch when only the translation controls did; track the EL.
   */
  private refreshEpoch(): void {
    const mmu = this.cpu.mmu;
    const me = mmu.epoch, gen = this.code.generation, rg = mmu.regime;
    if (me !== this.seenMmuEpoch || gen !== this.seenGeneration) {
      this.seenMmuEpoch = me;
      this.seenGeneration = gen;
      this.seenRegime = rg;
      this.regimes.clear();
      this.newEpoch();
      this.regimes.set(this.regimeKey(), this.epoch);
    } else if (rg !== this.seenRegime) {
      this.seenRegime = rg;
      const k = this.regimeKey();
      const e = this.regimes.get(k);
      if (e !== undefined) this.epoch = e;
      else {
        if (this.regimes.size >= MAX_REGIMES) this.regimes.clear();
        this.newEpoch();
        this.regimes.set(k, this.epoch);
      }
    }
    const key = this.epoch * 2 + this.cpu.el;
    if (key !== this.key) {
      this.key = key;
      this.m32[OFF_EPOCH >> 2] = key;
    }
  }

  private regimeKey(): string {
    const m = this.cpu.mmu;
    return `${m.enabled ? 1 : 0}:${m.tcr}:${m.ttbr0}:${m.ttbr1}`;
  }

  /** An epoch no entry was written in yet (epochs go back to earlier regimes', so not epoch + 1). */
  private newEpoch(): void {
    if (++this.lastEpoch >= 0x40000000) { // wrap: forget every entry
      this.m32.fill(0, OFF_DISPATCH >> 2, (OFF_DISPATCH >> 2) + DISPATCH_SIZE * 4);
      this.dispatchBlocks.fill(undefined);
      this.regimes.clear();
      this.lastEpoch = 1;
    }
    this.epoch = this.lastEpoch;
  }

  /** The every-TICK-instructions point of the batch loop: profiler sample, timer check. */
  private tick(): boolean {
    const c = this.cpu;
    if (c.profile !== undefined) c.profile.sample(c.s.pcLo, c.s.pcHi, c.el);
    if (c.timerShouldExit()) {
      c.exit = { reason: 2, syndrome: 0, va: 0n, pa: 0 };
      return true;
    }
    return false;
  }
}
