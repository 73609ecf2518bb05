// The MMU's data fast path as translated code reads it: per TLB slot, in the vCPU's state
// area (state-area.ts), the page tag under which each EL may read and write the page inline, and
// the page's offset in guest RAM's memory (stored less the page's VA bits), in one 64-byte entry. An entry is
// written only where Mmu.fast() would hit with that same offset (MMU on, ASID global or
// current, both stages granting the access, RAM in the arena, no write to a code page); the
// MMU drops it wherever that may stop being true. Inline code that misses calls the JS helpers, which may fill it again.

import { MIRROR_BASE, MIRROR_ENTRY_SHIFT, MIRROR_TAGS, OFF_MIRROR_EL, TLB_SLOTS } from './state-area.ts';

/** Int32 words of an entry, and the shift from a slot to its first word. */
const WORDS = 1 << (MIRROR_ENTRY_SHIFT - 2), SHIFT = MIRROR_ENTRY_SHIFT - 2;
/** The offset's two copies (state-area.ts MIRROR_BASE), as word indices in an entry. */
const BASE_EL1 = MIRROR_BASE >> 2, BASE_EL0 = (MIRROR_BASE + 16) >> 2;

const LISTED = 1, LISTED_NON_GLOBAL = 2;

export class TlbMirror {
  /** The entries as words: 8 of tag halves (-1:-1, which no VA page has, marks no access), then the offset twice. */
  private readonly entries: Int32Array;
  private readonly elWord: Int32Array;
  /** Slots written since the last clear(), and those written non-global since the last ASID drop: supersets, so drops stay cheap. */
  private readonly listed = new Uint8Array(TLB_SLOTS);
  private readonly written = new Int32Array(TLB_SLOTS);
  private nWritten = 0;
  private readonly nonGlobal = new Int32Array(TLB_SLOTS);
  private nNonGlobal = 0;

  /** `buffer`: the memory holding the state area at `base`, which must be guest RAM's. */
  constructor(readonly buffer: ArrayBuffer, base: number) {
    this.entries = new Int32Array(buffer, base + MIRROR_TAGS, TLB_SLOTS * WORDS);
    for (let i = 0; i < TLB_SLOTS; i++) this.drop(i);
    this.elWord = new Int32Array(buffer, base + OFF_MIRROR_EL, 1);
  }

  /** The current EL, as the MMU learns it. */
  setEl(el: number): void {
    this.elWord[0] = el === 0 ? 16 : 0;
  }

  /**
   * Slot i now holds VA page hi:page (page = VA[31:12]) at `offset` in the memory, with the
   * accesses each EL may make inline.
   */
  set(i: number, page: number, hi: number, offset: number, global: boolean, r1: boolean, w1: boolean, r0: boolean, w0: boolean): void {
    const t = i << SHIFT, tagLo = (hi << 20) | page, tagHi = hi >>> 12, tags = this.entries;
    tags[t] = r1 ? tagLo : -1; tags[t + 1] = r1 ? tagHi : -1;
    tags[t + 2] = w1 ? tagLo : -1; tags[t + 3] = w1 ? tagHi : -1;
    tags[t + 4] = r0 ? tagLo : -1; tags[t + 5] = r0 ? tagHi : -1;
    tags[t + 6] = w0 ? tagLo : -1; tags[t + 7] = w0 ? tagHi : -1;
    // Less the page's VA bits: translated code adds the address's whole low word (codegen.ts ramAddress).
    tags[t + BASE_EL1] = tags[t + BASE_EL0] = (offset - (page << 12)) | 0;
    const l = this.listed[i];
    if ((l & LISTED) === 0) this.written[this.nWritten++] = i;
    if (!global && (l & LISTED_NON_GLOBAL) === 0) this.nonGlobal[this.nNonGlobal++] = i;
    this.listed[i] = l | LISTED | (global ? 0 : LISTED_NON_GLOBAL);
  }

  drop(i: number): void {
    this.entries.fill(-1, i << SHIFT, (i << SHIFT) + 8);
  }

  /** Stores to slot i's page must take the helper (it became code). */
  dropWrites(i: number): void {
    const t = i << SHIFT, tags = this.entries;
    tags[t + 2] = -1; tags[t + 3] = -1; tags[t + 6] = -1; tags[t + 7] = -1;
  }

  clear(): void {
    for (let k = 0; k < this.nWritten; k++) {
      const i = this.written[k];
      this.drop(i);
      this.listed[i] = 0;
    }
    this.nWritten = 0;
    this.nNonGlobal = 0;
  }

  /** The ASID changed: entries of the old one no longer hit. */
  dropNonGlobal(): void {
    for (let k = 0; k < this.nNonGlobal; k++) {
      const i = this.nonGlobal[k];
      this.drop(i);
      this.listed[i] &= ~LISTED_NON_GLOBAL;
    }
    this.nNonGlobal = 0;
  }
}
