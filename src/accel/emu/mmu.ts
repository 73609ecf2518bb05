// Stage-1 translation for EL0/EL1 (4K/16K/64K granules, 39..48-bit VAs, TTBR0/TTBR1,
// AP/UXN/PXN, software access flag), an ASID-tagged software TLB, and the memory accessors
// the interpreter and the FP/SIMD unit use. Physical addresses outside mapped RAM become
// HVF-style data-abort exits carrying the current instruction's syndrome.
import { GUEST_EXCEPTION, VM_EXIT, type Cpu } from './cpu.ts';
import type { VirtualMemory } from './state.ts';
import type { Mapping } from './physical-memory.ts';
import { takeSyncException } from './system.ts';
import { SysReg } from '../sysregs.ts';
import { TlbMirror } from './tlb-mirror.ts';
import { TLB_SLOTS } from './state-area.ts';

export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;

const P_R1 = 1, P_W1 = 2, P_X1 = 4, P_R0 = 8, P_W0 = 16, P_X0 = 32;
/**
 * The TLB slot of a 4K virtual page (page = VA[31:12]): VA[23:12]. Not a hash with the high
 * bits: consecutive pages then never share a slot, which translated code's check of an
 * access's last byte relies on (codegen.ts mirrorHit), and the check is shorter.
 */
const slotOf = (page: number): number => page & (TLB_SLOTS - 1);
const TWO32 = 4294967296;
/**
 * Index of the leaf of 2^shift bytes holding the 4K page (page = VA[31:12], hi = VA[63:32]):
 * VA[47:shift] with VA[55] above it. Every VA a walk translates has VA[55:48] all equal to
 * VA[55] (inputs are at most 48 bits), and a TLBI's VA has no tag, so this names the leaf
 * exactly; below 2^37, so `index * 64 + shift` is exact too.
 */
const leafIndex = (page: number, hi: number, shift: number): number =>
  Math.floor((((hi >>> 23) & 1) * 0x10_0000_0000 + (hi & 0xffff) * 0x10_0000 + page) * LEAF_SCALE[shift]);
/** 2^(12 - shift), by shift. */
const LEAF_SCALE = Float64Array.from({ length: 64 }, (_, s) => 2 ** (12 - s));
/** 2^n for n in 0..63: `2 ** n` with a variable n calls Math.pow, which cost the table walk most of its time. */
const POW2 = Float64Array.from({ length: 64 }, (_, n) => 2 ** n);
/** x mod p for an integer 0 <= x < 2^53 and a power of two p, exactly; V8 compiles % on doubles to an x87 fprem loop. */
const modPow2 = (x: number, p: number): number => x - Math.floor(x / p) * p;

const FSC_TRANSLATION = 0x04;
const FSC_ACCESS_FLAG = 0x08;
const FSC_PERMISSION = 0x0c;
const FSC_WALK_EXTERNAL = 0x14;
export const FSC_ALIGNMENT = 0x21;

/** The translation tier's registry of physical pages holding translated code (translator/code-pages.ts). */
export interface CodeWatch {
  isCode(pa: number): boolean;
  /** A store reached physical address pa. */
  written(pa: number): void;
  invalidateAll(): void;
}

export class Mmu implements VirtualMemory {
  private readonly tagLo = new Int32Array(TLB_SLOTS).fill(-1);
  private readonly tagHi = new Int32Array(TLB_SLOTS);
  private readonly tagAsid = new Int32Array(TLB_SLOTS);
  private readonly paPage = new Float64Array(TLB_SLOTS);
  private readonly perm = new Uint8Array(TLB_SLOTS);
  // Data fast path per TLB slot: the RAM mapping behind the 4K page, the page's offset in
  // it, and the permissions both stages grant (0 until a slow-path access fills them).
  // Offsets are uint32 (a mapping is at most 4 GiB): integers, not doubles, on the fast path.
  private readonly slotMap: (Mapping | null)[] = new Array<Mapping | null>(TLB_SLOTS).fill(null);
  private readonly slotOff = new Uint32Array(TLB_SLOTS);
  private readonly fastPerm = new Uint8Array(TLB_SLOTS);
  /**
   * Slots codePa() has vouched for: translated code may jump to their pages until the epoch
   * moves, so dropping one (TLBI, eviction by another page) moves the epoch.
   */
  private readonly codeSlot = new Uint8Array(TLB_SLOTS);
  /**
   * Leaves of vouched-for pages whose slots another page evicted (key: leafIndex * 64 +
   * shift). Their translations are still architecturally valid, so eviction need not move the
   * epoch; a TLBI that reaches the leaf does.
   */
  private readonly evictedCode = new Set<number>();
  // Every filled slot is a 4K slice of a leaf of 2^leafShift bytes (0: slot empty). Slots of
  // leaves above 4K are linked per leaf (leafNext/leafPrev, -1 ends; leafIdx the leaf's index),
  // the list's head in leafHeads[shift] under that index, so a TLBI by VA finds a block's
  // cached slices without trying each of its 4K pages. Each slot is in at most one list and
  // empty lists are deleted, so there are never more than TLB_SLOTS.
  private readonly leafShift = new Uint8Array(TLB_SLOTS);
  private readonly leafIdx = new Float64Array(TLB_SLOTS);
  private readonly leafNext = new Int32Array(TLB_SLOTS);
  private readonly leafPrev = new Int32Array(TLB_SLOTS);
  private readonly leafHeads: (Map<number, number> | undefined)[] = [];
  /** Leaf sizes (log2) above 4K filled since the TLB was last emptied: those a TLBI by VA must look up. */
  private largeShifts: number[] = [];
  /** A slot was filled for a tagged address (TBI): such tags are not in a TLBI's VA, so TLBIs flush everything. */
  private taggedFill = false;
  /** The mapping and TLB slot of the last fast() hit. */
  private hm: Mapping | undefined;
  private hitSlot = 0;
  /** The fast path as translated code reads it, when the vCPU's state is in guest RAM's memory (arena.ts). */
  private readonly mirror: TlbMirror | undefined;
  /** Current ASID (from TTBR1 when TCR.A1, else TTBR0). */
  asid = 0;
  /** 0xff or 0xffff (TCR.AS). */
  private asidMask = 0xff;
  enabled = false;
  tcr = 0n;
  ttbr0 = 0n;
  ttbr1 = 0n;
  // TCR/TTBR fields as numbers, per region (0: TTBR0, 1: TTBR1): every walk reads them.
  private readonly rTbi = [0, 0];
  private readonly rTsz = [0, 0];
  private readonly rEpd = [0, 0];
  private readonly rGranuleBits = [12, 12];
  private readonly rTable = [0, 0];
  // Instruction-fetch page cache.
  private fTag = -1;
  private fTagHi = 0;
  private fMap: Mapping | undefined;
  /**
   * The page's offset in fMap, stored as a uint32 (a mapping is at most 4 GiB): a Smi below
   * 2 GiB, where the difference of doubles it is computed from made the field a boxed double,
   * a load and two conversions on every instruction fetched.
   */
  private fBase = 0;
  /** Result of 64-bit loads. */
  rl = 0;
  rh = 0;
  /**
   * Bumped whenever fetch translations the tier relied on may have changed (a TLBI or
   * eviction reaching a slot it vouched for, a full flush): translated code checks it before
   * jumping to a block verified earlier.
   */
  epoch = 0;
  /**
   * Bumped when the translation controls change (MSR to SCTLR, TCR, TTBRx). The TLB keeps its
   * slots (they are ASID-tagged), so the translations of a regime switched away from and back
   * to are those it had: the tier keys its dispatch entries by regime instead of starting over.
   */
  regime = 0;
  /** Set when the translation tier is on: stores to code pages take the slow path and report here. */
  codeWatch: CodeWatch | undefined;

  constructor(private readonly cpu: Cpu, mirrored: boolean) {
    if (mirrored) {
      this.mirror = new TlbMirror(cpu.s.buffer, cpu.s.base);
      this.mirror.setEl(cpu.el);
    }
  }

  /** Whether the TLB mirror exists: translated code may then access RAM inline. */
  get mirrored(): boolean {
    return this.mirror !== undefined;
  }

  flushTlb(): void {
    this.tagLo.fill(-1);
    this.mirror?.clear();
    this.codeSlot.fill(0);
    this.evictedCode.clear();
    this.leafShift.fill(0);
    for (const s of this.largeShifts) this.leafHeads[s]!.clear();
    this.largeShifts = [];
    this.taggedFill = false;
    this.fTag = -1; this.epoch++;
  }

  /**
   * TLBI by VA (VAE1, VALE1, VAAE1, VAALE1 and their broadcast forms; Xt holds VA[55:12]):
   * drop every slot of the leaf that holds the VA, in all ASIDs (more than the architecture
   * asks, never less). Slots are 4K slices of their leaf, so a block's other slices go too:
   * the VA's own slot, then the list of each leaf above 4K that holds the VA.
   */
  flushTlbVa(xlo: number, xhi: number): void {
    if (this.taggedFill) { this.flushTlb(); return; }
    const hi = (((xlo >>> 20) & 0xfff) | ((xhi & 0xfff) << 12) | ((xhi & 0x800) !== 0 ? 0xff000000 : 0)) | 0;
    const page = xlo & 0xfffff;
    let code = false;
    const i = slotOf(page);
    if (this.tagLo[i] === page && this.tagHi[i] === hi && this.dropSlot(i)) code = true;
    const shifts = this.largeShifts;
    for (let k = 0; k < shifts.length; k++) {
      const heads = this.leafHeads[shifts[k]]!, index = leafIndex(page, hi, shifts[k]);
      const head = heads.get(index);
      if (head === undefined) continue;
      heads.delete(index);
      for (let j = head; j !== -1;) {
        const next = this.leafNext[j];
        this.leafShift[j] = 0; // unlinked with its whole list
        if (this.dropSlot(j)) code = true;
        j = next;
      }
    }
    if (this.evictedCode.size !== 0) {
      if (this.evictedCode.delete(leafIndex(page, hi, 12) * 64 + 12)) code = true;
      for (let k = 0; k < shifts.length; k++) {
        if (this.evictedCode.delete(leafIndex(page, hi, shifts[k]) * 64 + shifts[k])) code = true;
      }
    }
    this.fTag = -1;
    if (code) this.epoch++;
  }

  /** Slot i, filled, leaves the list of its leaf (if above 4K). */
  private unlinkLeaf(i: number): void {
    const shift = this.leafShift[i];
    this.leafShift[i] = 0;
    if (shift <= 12) return;
    const next = this.leafNext[i], prev = this.leafPrev[i];
    if (next !== -1) this.leafPrev[next] = prev;
    if (prev !== -1) this.leafNext[prev] = next;
    else if (next !== -1) this.leafHeads[shift]!.set(this.leafIdx[i], next);
    else this.leafHeads[shift]!.delete(this.leafIdx[i]);
  }

  /** Slot i now holds a 4K slice of the leaf of 2^shift bytes holding page/hi. */
  private linkLeaf(i: number, page: number, hi: number, shift: number): void {
    this.leafShift[i] = shift;
    if (shift <= 12) return;
    const index = leafIndex(page, hi, shift);
    this.leafIdx[i] = index;
    let heads = this.leafHeads[shift];
    if (heads === undefined) heads = this.leafHeads[shift] = new Map();
    if (heads.size === 0 && !this.largeShifts.includes(shift)) this.largeShifts.push(shift);
    const head = heads.get(index);
    this.leafPrev[i] = -1;
    if (head === undefined) this.leafNext[i] = -1;
    else { this.leafNext[i] = head; this.leafPrev[head] = i; }
    heads.set(index, i);
  }

  /** Empty slot i; true when the tier had vouched for it (the epoch must then move). */
  private dropSlot(i: number): boolean {
    if (this.leafShift[i] !== 0) this.unlinkLeaf(i);
    this.tagLo[i] = -1;
    this.mirror?.drop(i);
    if (this.codeSlot[i] === 0) return false;
    this.codeSlot[i] = 0;
    return true;
  }

  /** Another page takes a vouched-for slot: remember the page for TLBIs (or, past a bound, move the epoch). */
  private evictCode(slot: number): void {
    this.codeSlot[slot] = 0;
    if (this.evictedCode.size >= 4096) { this.evictedCode.clear(); this.epoch++; }
    const shift = this.leafShift[slot];
    this.evictedCode.add(leafIndex(this.tagLo[slot], this.tagHi[slot], shift) * 64 + shift);
  }

  /** TLBI ASIDE1(IS) with Xt[63:48] = asid: drop the non-global slots of that ASID. */
  flushTlbAsid(asidField: number): void {
    const asid = asidField & this.asidMask;
    let code = this.evictedCode.size !== 0; // their ASIDs are not kept
    this.evictedCode.clear();
    const tagAsid = this.tagAsid, tagLo = this.tagLo;
    for (let i = 0; i < TLB_SLOTS; i++) {
      if (tagLo[i] !== -1 && tagAsid[i] === asid && this.dropSlot(i)) code = true;
    }
    this.fTag = -1;
    if (code) this.epoch++;
  }

  /**
   * EL changed: the fetch cache holds an EL-dependent permission. Translations stay as they
   * are, so no epoch bump (the tier keys its dispatch entries by EL itself); exception entry
   * and return are far too frequent for every one to send translated code back to the lookup.
   */
  privilegeChanged(): void {
    this.fTag = -1;
    this.mirror?.setEl(this.cpu.el);
  }

  /** Recompute cached translation controls after an MSR to SCTLR/TCR/TTBRx. */
  controlsChanged(sctlr: bigint, tcr: bigint, ttbr0: bigint, ttbr1: bigint, flush: boolean): void {
    const oldAsid = this.asid;
    this.enabled = (sctlr & 1n) === 1n;
    this.tcr = tcr;
    this.ttbr0 = ttbr0;
    this.ttbr1 = ttbr1;
    const tg0 = Number((tcr >> 14n) & 3n), tg1 = Number((tcr >> 30n) & 3n);
    this.rTbi[0] = Number((tcr >> 37n) & 1n); this.rTbi[1] = Number((tcr >> 38n) & 1n);
    this.rTsz[0] = Number(tcr & 0x3fn); this.rTsz[1] = Number((tcr >> 16n) & 0x3fn);
    this.rEpd[0] = Number((tcr >> 7n) & 1n); this.rEpd[1] = Number((tcr >> 23n) & 1n);
    this.rGranuleBits[0] = tg0 === 2 ? 14 : tg0 === 1 ? 16 : 12;
    this.rGranuleBits[1] = tg1 === 1 ? 14 : tg1 === 3 ? 16 : 12;
    this.rTable[0] = Number(ttbr0 & 0xffff_ffff_fffen);
    this.rTable[1] = Number(ttbr1 & 0xffff_ffff_fffen);
    const a1 = (tcr >> 22n) & 1n;
    const asidBits = (tcr >> 36n) & 1n ? 0xffffn : 0xffn;
    this.asid = Number(((a1 ? ttbr1 : ttbr0) >> 48n) & asidBits);
    this.asidMask = Number(asidBits);
    if (flush) this.flushTlb();
    else { this.fTag = -1; this.regime++; }
    // fast() hits only with the MMU on, on global slots or the current ASID's.
    if (this.mirror !== undefined) {
      if (!this.enabled) this.mirror.clear();
      else if (this.asid !== oldAsid) this.mirror.dropNonGlobal();
    }
  }

  // ---- instruction fetch ----

  /**
   * The instruction word at hi:lo, as an int32: a Smi on 64-bit V8, where a uint32 with bit 31
   * set (every 64-bit instruction) is a heap number, allocated again at each call that passes
   * it on. Decoders only use its bits. (Interpreter microbenchmark: 23 to 15 ns an instruction.)
   */
  fetch(lo: number, hi: number): number {
    const page = lo >>> 12;
    if (page === this.fTag && hi === this.fTagHi) {
      return this.fMap!.view.getInt32(this.fBase + (lo & 0xffc), true);
    }
    const pa = this.translate(lo, hi, ACC_EXEC, false);
    const m = this.cpu.memory.find(pa, 4);
    if (m === undefined || (m.flags & 4) === 0) {
      this.vmExit(0x20, 0, lo, hi, pa, false);
    }
    const pageBase = pa - (lo & 0xfff) - m!.gpa;
    // Cache only when the whole 4K page is inside the mapping.
    if (pageBase >= 0 && pageBase + 4096 <= m!.size) {
      this.fTag = page;
      this.fTagHi = hi;
      this.fMap = m;
      this.fBase = pageBase >>> 0; // see fBase
    }
    return m!.view.getInt32(pa - m!.gpa, true);
  }

  // ---- data accesses ----

  /**
   * TLB hit on a RAM page with `need` granted: the access's offset in this.hm, else -1
   * (MMU off, miss, permission or MMIO: the slow path decides).
   */
  private fast(lo: number, hi: number, need: number): number {
    const i = slotOf(lo >>> 12);
    if (this.tagLo[i] !== (lo >>> 12) || this.tagHi[i] !== hi || (this.fastPerm[i] & need) === 0 || !this.enabled) return -1;
    const a = this.tagAsid[i];
    if (a >= 0 && a !== this.asid) return -1;
    this.hm = this.slotMap[i]!;
    this.hitSlot = i;
    return this.slotOff[i] + (lo & 0xfff);
  }

  /** After a successful slow-path access to RAM mapping m: enable the fast path for its page. */
  private fill(lo: number, hi: number, pa: number, m: Mapping): void {
    if (!this.enabled) return;
    const i = slotOf(lo >>> 12);
    if (this.tagLo[i] !== (lo >>> 12) || this.tagHi[i] !== hi) return;
    const base = pa - (lo & 0xfff) - m.gpa;
    if (base < 0 || base + 4096 > m.size) return;
    const host = ((m.flags & 1) !== 0 ? P_R1 | P_R0 : 0) | ((m.flags & 2) !== 0 ? P_W1 | P_W0 : 0);
    this.slotMap[i] = m;
    this.slotOff[i] = base;
    this.fastPerm[i] = this.perm[i] & host;
    if (this.codeWatch !== undefined && this.codeWatch.isCode(pa)) this.fastPerm[i] &= ~(P_W1 | P_W0);
    if (this.mirror !== undefined) this.mirrorSlot(i);
  }

  /**
   * Write slot i's fast path to the mirror (or drop it there when its RAM is not the arena's).
   * Only where fast() would hit: MMU on, slot tagged, its ASID global or current.
   */
  private mirrorSlot(i: number): void {
    const mr = this.mirror!, m = this.slotMap[i]!;
    if (m.bytes.buffer !== mr.buffer) { mr.drop(i); return; }
    const p = this.fastPerm[i];
    mr.set(i, this.tagLo[i], this.tagHi[i], m.bytes.byteOffset + this.slotOff[i], this.tagAsid[i] < 0,
      (p & P_R1) !== 0, (p & P_W1) !== 0, (p & P_R0) !== 0, (p & P_W0) !== 0);
  }

  /**
   * The data fast path alone, for the translation tier: the offset of a `size`-byte access
   * in fastMapping, or -1 when the full accessor must decide (it may fault or exit).
   */
  fastOffset(lo: number, hi: number, size: number, write: boolean): number {
    if ((lo & 0xfff) > 4096 - size) return -1;
    const f = this.fast(lo, hi, write ? this.needWrite(false) : this.needRead(false));
    // The mirror may have lost the slot (ASID switch, the page became code): translated code hits inline again from now on.
    if (f >= 0 && this.mirror !== undefined) this.mirrorSlot(this.hitSlot);
    return f;
  }

  /** The RAM mapping of the last fastOffset() hit. */
  get fastMapping(): Mapping {
    return this.hm!;
  }

  /** Physical page `pa` became code: its stores must reach the slow path (reads stay fast). */
  dropFastPath(pa: number): void {
    const page = pa - modPow2(pa, 4096), fastPerm = this.fastPerm, paPage = this.paPage;
    for (let i = 0; i < TLB_SLOTS; i++) {
      if ((fastPerm[i] & (P_W1 | P_W0)) !== 0 && paPage[i] === page) {
        fastPerm[i] &= ~(P_W1 | P_W0);
        this.mirror?.dropWrites(i);
      }
    }
  }

  /**
   * Physical address of an instruction fetch from hi:lo when it needs no table walk (fetch
   * cache or TLB hit, executable RAM), else -1; never faults. Fills the fetch cache.
   */
  codePa(lo: number, hi: number): number {
    let pa: number;
    if (!this.enabled) pa = (hi >>> 0) * TWO32 + (lo >>> 0);
    else {
      // Always through the TLB slot (not the fetch cache), which is then marked as vouched for.
      const i = slotOf(lo >>> 12);
      if (this.tagLo[i] !== (lo >>> 12) || this.tagHi[i] !== hi || (this.tagAsid[i] >= 0 && this.tagAsid[i] !== this.asid)) return -1;
      if ((this.perm[i] & (this.cpu.el === 0 ? P_X0 : P_X1)) === 0) return -1;
      pa = this.paPage[i] + (lo & 0xfff);
      this.codeSlot[i] = 1;
    }
    const m = this.cpu.memory.find(pa, 4);
    if (m === undefined || (m.flags & 4) === 0) return -1;
    const pageBase = pa - (lo & 0xfff) - m.gpa;
    if (pageBase < 0 || pageBase + 4096 > m.size) return -1;
    this.fTag = lo >>> 12;
    this.fTagHi = hi;
    this.fMap = m;
    this.fBase = pageBase >>> 0; // see fBase
    return pa;
  }

  /** IC IALLU/IALLUIS (all) or IC IVAU hi:lo: drop cached fetches and translated code. */
  icInvalidate(all: boolean, lo: number, hi: number): void {
    // Fetch translations are unaffected; translated code is dropped through the code watch
    // (its generation moves the tier's epoch only when a page really held translations).
    this.fTag = -1;
    const w = this.codeWatch;
    if (w === undefined) return;
    const pa = all ? -1 : this.probe(lo, hi);
    // When the VA does not translate, the page is unknown: drop everything.
    if (pa < 0) w.invalidateAll();
    else w.written(pa);
  }

  /** Physical address of a read of hi:lo, or -1 when it would fault; the fault is not taken. */
  private probe(lo: number, hi: number): number {
    const c = this.cpu, s = c.s, r = c.sysregs;
    const saved = { pcLo: s.pcLo, pcHi: s.pcHi, pstate: c.pstate, esr: r.get(SysReg.ESR_EL1), far: r.get(SysReg.FAR_EL1), elr: r.get(SysReg.ELR_EL1), spsr: r.get(SysReg.SPSR_EL1) };
    try {
      return this.translate(lo, hi, ACC_READ, false);
    } catch (e) {
      if (e !== GUEST_EXCEPTION) throw e;
      c.setPstate(saved.pstate);
      s.pcLo = saved.pcLo; s.pcHi = saved.pcHi;
      const restore = (id: number, v: bigint | undefined) => (v === undefined ? r.delete(id) : r.set(id, v));
      restore(SysReg.ESR_EL1, saved.esr); restore(SysReg.FAR_EL1, saved.far); restore(SysReg.ELR_EL1, saved.elr); restore(SysReg.SPSR_EL1, saved.spsr);
      c.branched = false;
      return -1;
    }
  }

  private needRead(unpriv: boolean): number {
    return this.cpu.el === 0 || unpriv ? P_R0 : P_R1;
  }

  private needWrite(unpriv: boolean): number {
    return this.cpu.el === 0 || unpriv ? P_W0 : P_W1;
  }

  /** Loads of 1 or 2 bytes, zero-extended; of 4 bytes, as an int32 bit pattern (a Smi: see fetch). */
  read(lo: number, hi: number, size: number, unpriv = false): number {
    if ((lo & 0xfff) > 4096 - size) return this.readSplit(lo, hi, size, unpriv);
    const f = this.fast(lo, hi, this.needRead(unpriv));
    if (f >= 0) {
      const hm = this.hm!;
      if (size === 4) return hm.view.getInt32(f, true);
      if (size === 1) return hm.bytes[f];
      return hm.view.getUint16(f, true);
    }
    const pa = this.translate(lo, hi, ACC_READ, unpriv);
    const m = this.cpu.memory.find(pa, size);
    if (m === undefined || (m.flags & 1) === 0) this.vmExit(0x24, 0, lo, hi, pa, false);
    this.fill(lo, hi, pa, m!);
    const off = pa - m!.gpa;
    if (size === 4) return m!.view.getInt32(off, true);
    if (size === 1) return m!.bytes[off];
    return m!.view.getUint16(off, true);
  }

  /** 8-byte load into rl/rh. */
  read64(lo: number, hi: number, unpriv = false): void {
    if ((lo & 0xfff) > 4088) {
      const l = this.readSplit(lo, hi, 4, unpriv);
      const nlo = (lo + 4) | 0;
      const h = this.readSplit(nlo, (nlo >>> 0) < (lo >>> 0) ? hi + 1 : hi, 4, unpriv);
      this.rl = l | 0;
      this.rh = h | 0;
      return;
    }
    const f = this.fast(lo, hi, this.needRead(unpriv));
    if (f >= 0) {
      const v = this.hm!.view;
      this.rl = v.getInt32(f, true);
      this.rh = v.getInt32(f + 4, true);
      return;
    }
    const pa = this.translate(lo, hi, ACC_READ, unpriv);
    const m = this.cpu.memory.find(pa, 8);
    if (m === undefined || (m.flags & 1) === 0) this.vmExit(0x24, 0, lo, hi, pa, false);
    this.fill(lo, hi, pa, m!);
    const off = pa - m!.gpa;
    this.rl = m!.view.getInt32(off, true);
    this.rh = m!.view.getInt32(off + 4, true);
  }

  write(lo: number, hi: number, size: number, value: number, unpriv = false): void {
    if ((lo & 0xfff) > 4096 - size) return this.writeSplit(lo, hi, size, value, unpriv);
    const f = this.fast(lo, hi, this.needWrite(unpriv));
    if (f >= 0) {
      const hm = this.hm!;
      if (size === 4) hm.view.setUint32(f, value >>> 0, true);
      else if (size === 1) hm.bytes[f] = value;
      else hm.view.setUint16(f, value & 0xffff, true);
      this.cpu.clearOtherMonitors(hm.gpa + f, size);
      return;
    }
    const pa = this.translate(lo, hi, ACC_WRITE, unpriv);
    const m = this.cpu.memory.find(pa, size);
    if (m === undefined || (m.flags & 2) === 0) this.vmExit(0x24, 1, lo, hi, pa, true);
    this.fill(lo, hi, pa, m!);
    const off = pa - m!.gpa;
    if (size === 4) m!.view.setUint32(off, value >>> 0, true);
    else if (size === 1) m!.bytes[off] = value;
    else m!.view.setUint16(off, value & 0xffff, true);
    this.cpu.clearOtherMonitors(pa, size);
    if (this.codeWatch !== undefined) this.codeWatch.written(pa);
  }

  write64(lo: number, hi: number, vlo: number, vhi: number, unpriv = false): void {
    if ((lo & 0xfff) > 4088) {
      this.writeSplit(lo, hi, 4, vlo, unpriv);
      const nlo = (lo + 4) | 0;
      this.writeSplit(nlo, (nlo >>> 0) < (lo >>> 0) ? hi + 1 : hi, 4, vhi, unpriv);
      return;
    }
    const f = this.fast(lo, hi, this.needWrite(unpriv));
    if (f >= 0) {
      const hm = this.hm!;
      hm.view.setInt32(f, vlo, true);
      hm.view.setInt32(f + 4, vhi, true);
      this.cpu.clearOtherMonitors(hm.gpa + f, 8);
      return;
    }
    const pa = this.translate(lo, hi, ACC_WRITE, unpriv);
    const m = this.cpu.memory.find(pa, 8);
    if (m === undefined || (m.flags & 2) === 0) this.vmExit(0x24, 1, lo, hi, pa, true);
    this.fill(lo, hi, pa, m!);
    const off = pa - m!.gpa;
    m!.view.setInt32(off, vlo, true);
    m!.view.setInt32(off + 4, vhi, true);
    this.cpu.clearOtherMonitors(pa, 8);
    if (this.codeWatch !== undefined) this.codeWatch.written(pa);
  }

  private readSplit(lo: number, hi: number, size: number, unpriv: boolean): number {
    // An access crossing a page: byte by byte, each translated (no syndrome for MMIO).
    const iss = this.cpu.accessIss;
    this.cpu.accessIss = 0;
    let v = 0;
    for (let i = 0; i < size; i++) {
      const l = (lo + i) | 0;
      const h = (l >>> 0) < (lo >>> 0) ? hi + 1 : hi;
      v += this.read(l, h, 1, unpriv) * 2 ** (8 * i);
    }
    this.cpu.accessIss = iss;
    return size === 4 ? v | 0 : v;
  }

  private writeSplit(lo: number, hi: number, size: number, value: number, unpriv: boolean): void {
    const iss = this.cpu.accessIss;
    this.cpu.accessIss = 0;
    for (let i = 0; i < size; i++) {
      const l = (lo + i) | 0;
      const h = (l >>> 0) < (lo >>> 0) ? hi + 1 : hi;
      this.write(l, h, 1, (value >>> (8 * i)) & 0xff, unpriv);
    }
    this.cpu.accessIss = iss;
  }

  // ---- VirtualMemory port for the FP/SIMD unit ----

  loadBytes(lo: number, hi: number, dst: Uint8Array, dstOffset: number, length: number): void {
    this.cpu.accessIss = 0;
    if ((lo & 0xfff) <= 4096 - length) {
      const f = this.fast(lo, hi, this.needRead(false));
      if (f >= 0) {
        const b = this.hm!.bytes;
        for (let k = 0; k < length; k++) dst[dstOffset + k] = b[f + k];
        return;
      }
    }
    for (let i = 0; i < length;) {
      const l = (lo + i) | 0;
      const h = (l >>> 0) < (lo >>> 0) ? hi + 1 : hi;
      const chunk = Math.min(length - i, 4096 - (l & 0xfff));
      const pa = this.translate(l, h, ACC_READ, false);
      const m = this.cpu.memory.find(pa, chunk);
      if (m === undefined || (m.flags & 1) === 0) this.vmExit(0x24, 0, l, h, pa, false);
      this.fill(l, h, pa, m!);
      dst.set(m!.bytes.subarray(pa - m!.gpa, pa - m!.gpa + chunk), dstOffset + i);
      i += chunk;
    }
  }

  storeBytes(lo: number, hi: number, src: Uint8Array, srcOffset: number, length: number): void {
    this.cpu.accessIss = 0;
    if ((lo & 0xfff) <= 4096 - length) {
      const f = this.fast(lo, hi, this.needWrite(false));
      if (f >= 0) {
        const hm = this.hm!, b = hm.bytes;
        for (let k = 0; k < length; k++) b[f + k] = src[srcOffset + k];
        this.cpu.clearOtherMonitors(hm.gpa + f, length);
        return;
      }
    }
    // Translate every page first so a fault leaves memory untouched.
    const parts: [Mapping, number, number, number][] = [];
    for (let i = 0; i < length;) {
      const l = (lo + i) | 0;
      const h = (l >>> 0) < (lo >>> 0) ? hi + 1 : hi;
      const chunk = Math.min(length - i, 4096 - (l & 0xfff));
      const pa = this.translate(l, h, ACC_WRITE, false);
      const m = this.cpu.memory.find(pa, chunk);
      if (m === undefined || (m.flags & 2) === 0) this.vmExit(0x24, 1, l, h, pa, true);
      this.fill(l, h, pa, m!);
      parts.push([m!, pa, i, chunk]);
      i += chunk;
    }
    for (const [m, pa, i, chunk] of parts) {
      m.bytes.set(src.subarray(srcOffset + i, srcOffset + i + chunk), pa - m.gpa);
      this.cpu.clearOtherMonitors(pa, chunk);
      if (this.codeWatch !== undefined) this.codeWatch.written(pa);
    }
  }

  /** Physical address of a data access, for exclusives and DC ZVA. */
  physical(lo: number, hi: number, access: number): number {
    return this.translate(lo, hi, access, false);
  }

  // ---- translation ----

  translate(lo: number, hi: number, access: number, unpriv: boolean): number {
    if (!this.enabled) {
      return (hi >>> 0) * TWO32 + (lo >>> 0);
    }
    const i = slotOf(lo >>> 12);
    let perm: number;
    let page: number;
    if (this.tagLo[i] === (lo >>> 12) && this.tagHi[i] === hi && (this.tagAsid[i] < 0 || this.tagAsid[i] === this.asid)) {
      perm = this.perm[i];
      page = this.paPage[i];
    } else {
      this.walk(lo, hi, access, i);
      perm = this.perm[i];
      page = this.paPage[i];
    }
    const el0 = this.cpu.el === 0 || unpriv;
    const need = access === ACC_READ ? (el0 ? P_R0 : P_R1) : access === ACC_WRITE ? (el0 ? P_W0 : P_W1) : (el0 ? P_X0 : P_X1);
    if ((perm & need) === 0) this.fault(lo, hi, access, FSC_PERMISSION + 3);
    return page + (lo & 0xfff);
  }

  /** Walk the tables for [hi:lo] and fill TLB slot i, or raise the fault. */
  private walk(lo: number, hi: number, access: number, slot: number): void {
    // Top-byte-ignore for data accesses (TCR.TBI0/TBI1).
    const upper = (hi >>> 23) & 1; // bit 55
    const topHi = this.rTbi[upper] && access !== ACC_EXEC ? (hi << 8) >> 8 : hi;
    const tsz = this.rTsz[upper];
    const epd = this.rEpd[upper];
    const granuleBits = this.rGranuleBits[upper];
    const inputBits = 64 - tsz;
    // Every bit above the input size must equal bit 55 (the region select).
    if (epd || tsz < 16 || tsz > 39 || !this.topBitsMatch(topHi, inputBits, upper)) this.fault(lo, hi, access, FSC_TRANSLATION);
    const stride = granuleBits - 3;
    let level = 4 - Math.ceil((inputBits - granuleBits) / stride);
    const va48 = (hi & 0xffff) * TWO32 + (lo >>> 0);
    let table = this.rTable[upper];
    let apTable = 0;
    let uxnTable = 0;
    let pxnTable = 0;
    const mem = this.cpu.memory;
    for (;;) {
      const shift = granuleBits + stride * (3 - level);
      const bitsHere = level === 4 - Math.ceil((inputBits - granuleBits) / stride) ? inputBits - shift : stride;
      const index = modPow2(Math.floor(va48 / POW2[shift]), POW2[bitsHere]);
      const da = table + index * 8;
      const m = mem.find(da, 8);
      if (m === undefined) this.fault(lo, hi, access, FSC_WALK_EXTERNAL + level);
      const dlo = m!.view.getUint32(da - m!.gpa, true);
      const dhi = m!.view.getUint32(da - m!.gpa + 4, true);
      if ((dlo & 1) === 0) this.fault(lo, hi, access, FSC_TRANSLATION + level);
      const isTable = (dlo & 2) !== 0 && level < 3;
      const addr = (dhi & 0xffff) * TWO32 + (dlo >>> 0);
      if (isTable) {
        table = addr - modPow2(addr, POW2[granuleBits]);
        pxnTable |= (dhi >>> 27) & 1;
        uxnTable |= (dhi >>> 28) & 1;
        apTable |= (dhi >>> 29) & 3;
        level++;
        continue;
      }
      if (level === 3 && (dlo & 2) === 0) this.fault(lo, hi, access, FSC_TRANSLATION + level);
      if ((dlo & 0x400) === 0) this.fault(lo, hi, access, FSC_ACCESS_FLAG + level);
      const blockBase = addr - modPow2(addr, POW2[shift]);
      const pa4k = blockBase + modPow2(va48, POW2[shift]) - (lo & 0xfff);
      const ap = (dlo >>> 6) & 3;
      const el0 = (ap & 1) !== 0 && (apTable & 1) === 0;
      const ro = (ap & 2) !== 0 || (apTable & 2) !== 0;
      let perm = P_R1 | (ro ? 0 : P_W1);
      if (el0) perm |= P_R0 | (ro ? 0 : P_W0);
      const pxn = ((dhi >>> 21) & 1) | pxnTable;
      const uxn = ((dhi >>> 22) & 1) | uxnTable;
      // EL1 may not execute what EL0 can write.
      if (!pxn && !(el0 && !ro)) perm |= P_X1;
      if (!uxn) perm |= P_X0; // AArch64 EL0 may execute what it cannot read (execute-only: AP[1]=0, UXN=0)
      const nG = (dlo >>> 11) & 1;
      if (this.codeSlot[slot] !== 0) this.evictCode(slot);
      if (this.leafShift[slot] !== 0) this.unlinkLeaf(slot);
      this.linkLeaf(slot, lo >>> 12, hi, shift);
      if (topHi !== hi) this.taggedFill = true;
      this.tagLo[slot] = lo >>> 12;
      this.tagHi[slot] = hi;
      this.tagAsid[slot] = nG ? this.asid : -1;
      this.paPage[slot] = pa4k;
      this.perm[slot] = perm;
      this.fastPerm[slot] = 0;
      this.mirror?.drop(slot);
      return;
    }
  }

  private topBitsMatch(hi: number, inputBits: number, upper: number): boolean {
    // Bits [63:inputBits] of the VA must all equal `upper`.
    const highBits = 64 - inputBits; // bits above input range, within the high word (inputBits >= 25)
    const mask = highBits >= 32 ? -1 : ~((1 << (32 - highBits)) - 1);
    return upper ? (hi & mask) === mask : (hi & mask) === 0;
  }

  /** Raise a translation-regime fault in the guest (EL1 data or instruction abort). */
  fault(lo: number, hi: number, access: number, fsc: number): never {
    const cpu = this.cpu;
    const fromEl0 = cpu.el === 0;
    let ec: number;
    let iss = fsc;
    if (access === ACC_EXEC) ec = fromEl0 ? 0x20 : 0x21;
    else {
      ec = fromEl0 ? 0x24 : 0x25;
      if (access === ACC_WRITE) iss |= 1 << 6;
    }
    // The fetch cache's permission is the EL's; translations are unchanged, so the epoch stays.
    this.fTag = -1;
    takeSyncException(cpu, (ec << 26) | (1 << 25) | iss, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
    throw GUEST_EXCEPTION;
  }

  /** Stage-2 miss: leave run() with an HVF-style exit; PC stays at the instruction. */
  vmExit(ec: number, wnr: number, lo: number, hi: number, pa: number, _write: boolean): never {
    const cpu = this.cpu;
    const iss = ec === 0x24 ? (cpu.accessIss | (wnr << 6) | 0x07) : 0x07;
    cpu.exit = { reason: 1, syndrome: ((ec << 26) | (1 << 25) | iss) >>> 0, va: (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0), pa };
    cpu.s.pcLo = cpu.curPcLo;
    cpu.s.pcHi = cpu.curPcHi;
    throw VM_EXIT;
  }
}
