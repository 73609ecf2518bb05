// The batch loop's table of block heads: per head (its VA and the PA it had), the visits while
// cold, the code-page generation it was last decoded in, and its translation. Open addressing
// over one Int32Array, a few probes per head: a Map of entry objects cost about half a
// microsecond a lookup on the Debian boot (50 K heads; the misses were in the cache, not in
// the map's logic), and the batch loop looks a head up at every interpreted block.

/** Probes per head; when all are taken, the coldest untranslated head among them gives way. */
const PROBES = 4;
/** Int32 words per slot: VA low, VA high, PA low, PA high (-1: free), visits, generation. */
const STRIDE = 6;
const TWO32 = 2 ** 32;

export class HeadTable<B extends { valid: boolean }> {
  private readonly words: Int32Array;
  /** The translation of each slot's head: null when it cannot be translated, undefined while cold or queued. */
  readonly block: (B | null | undefined)[];
  private readonly mask: number;

  constructor(readonly slots = 1 << 17) {
    if ((slots & (slots - 1)) !== 0) throw new RangeError('slots must be a power of two');
    this.mask = slots - 1;
    this.words = new Int32Array(slots * STRIDE);
    this.block = new Array<B | null | undefined>(slots).fill(undefined);
    this.clear();
  }

  /** The slot of the head at hi:lo with physical address pa, taken cold (no visits, `generation`) if it was not there. */
  slot(lo: number, hi: number, pa: number, generation: number): number {
    const found = this.find(lo, hi, pa);
    if (found >= 0) return found;
    const w = this.words;
    const home = this.home(lo, hi);
    // The slot given up for a new head: the first free one, else the coldest untranslated, else
    // (all translated) the first, whose head is translated again when it is hot again.
    let victim = home, victimScore = Infinity;
    for (let p = 0; p < PROBES; p++) {
      const s = (home + p) & this.mask, o = s * STRIDE;
      if (w[o + 3] === -1) { victim = s; break; }
      const b = this.block[s];
      const score = b !== undefined && b !== null && b.valid ? 0x7fffffff : w[o + 4];
      if (score < victimScore) { victim = s; victimScore = score; }
    }
    const o = victim * STRIDE;
    w[o] = lo; w[o + 1] = hi; w[o + 2] = pa | 0; w[o + 3] = (pa / TWO32) | 0; w[o + 4] = 0; w[o + 5] = generation;
    this.block[victim] = undefined;
    return victim;
  }

  /** The first slot a head at hi:lo is looked for in. */
  private home(lo: number, hi: number): number { return ((lo >>> 2) ^ (lo >>> 19) ^ (hi << 5)) & this.mask; }

  /** The slot of the head (lo, hi, pa), or -1 when it is not in the table. */
  find(lo: number, hi: number, pa: number): number {
    const w = this.words;
    const paLo = pa | 0, paHi = (pa / TWO32) | 0; // pa | 0 is pa mod 2^32 (ToInt32), without % (an x87 fprem loop in V8)
    const home = this.home(lo, hi);
    for (let p = 0; p < PROBES; p++) {
      const s = (home + p) & this.mask, o = s * STRIDE;
      if (w[o] === lo && w[o + 1] === hi && w[o + 2] === paLo && w[o + 3] === paHi) return s;
      if (w[o + 3] === -1) return -1; // heads are never removed one by one: it is not further on
    }
    return -1;
  }

  /** The visits so far. */
  visits(s: number): number { return this.words[s * STRIDE + 4]; }

  /** The head's PA, VA low and high words. */
  pa(s: number): number { return (this.words[s * STRIDE + 3] >>> 0) * TWO32 + (this.words[s * STRIDE + 2] >>> 0); }
  lo(s: number): number { return this.words[s * STRIDE]; }
  hi(s: number): number { return this.words[s * STRIDE + 1]; }

  /** One more cold visit; the visits so far. */
  visit(s: number): number { return ++this.words[s * STRIDE + 4]; }
  resetVisits(s: number): void { this.words[s * STRIDE + 4] = 0; }
  setVisits(s: number, n: number): void { this.words[s * STRIDE + 4] = n; }

  generation(s: number): number { return this.words[s * STRIDE + 5]; }
  setGeneration(s: number, g: number): void { this.words[s * STRIDE + 5] = g; }

  /** Forget every head (and so every translation's entry). */
  clear(): void {
    this.words.fill(0);
    for (let o = 3; o < this.words.length; o += STRIDE) this.words[o] = -1;
    this.block.fill(undefined);
  }
}

/**
 * ColdHeads' entries: sets of two (one 64-byte cache line), a head's set chosen by its VA.
 * An entry's words: VA low, VA high, key (0: none), slot in the table of heads, visits,
 * queued (1: see mark).
 */
const COLD_SETS = 8192, COLD_WAYS = 2, COLD_STRIDE = 8;
/** Heads this many bytes apart (and no others) share a set. */
export const COLD_SET_SPAN = COLD_SETS * 4;
/** ColdHeads.visit's answer for a head marked queued. */
export const QUEUED_HEAD = -2;
const coldSet = (lo: number): number => ((lo >>> 2) & (COLD_SETS - 1)) * COLD_WAYS * COLD_STRIDE;

/**
 * Visits to cold heads (no translation yet), counted by VA in a table small enough to stay
 * in the cache, where the table of heads is not (on the Debian boot, 4.4 M of the batch
 * loop's 5.5 M head visits were to cold heads). An entry counts under one key only (the
 * tier's: the EL, never 0); a head's count moves back to its slot when another head takes
 * the entry. On the Debian boot, 0.7 M visits went to the table of heads for a head it had
 * when this table had 4096 entries of one way; with 16 K entries in sets of two, 0.2 M.
 */
export class ColdHeads<B extends { valid: boolean }> {
  private readonly e = new Int32Array(COLD_SETS * COLD_WAYS * COLD_STRIDE);

  constructor(private readonly heads: HeadTable<B>) {}

  /** The entry of the head at hi:lo (either way of its set), or -1. */
  private entryOf(lo: number, hi: number): number {
    const e = this.e, f = coldSet(lo), g = f + COLD_STRIDE;
    if (e[f] === lo && e[f + 1] === hi) return f;
    if (e[g] === lo && e[g + 1] === hi) return g;
    return -1;
  }

  /** One more visit to the head at hi:lo if it has an entry under `key`: its visits so far, QUEUED_HEAD if it is marked queued, else -1. */
  visit(lo: number, hi: number, key: number): number {
    const e = this.e, f = this.entryOf(lo, hi);
    if (f < 0 || e[f + 2] !== key) return -1;
    if (e[f + 5] !== 0) return QUEUED_HEAD;
    return ++e[f + 4];
  }

  /**
   * The head at hi:lo (slot h) was decoded and waits in the queue to be compiled: until the
   * queue is compiled (the tier then drops the mark), a visit finds it here rather than
   * through a lookup in the table of heads (on the Debian boot, 0.3 M visits).
   */
  mark(lo: number, hi: number, key: number, h: number): void {
    this.e[this.take(lo, hi, key, h) + 5] = 1;
  }

  /** Give up the entry of the head at hi:lo, its visits going to its slot: the slot, or -1 if the slot went to another head. */
  release(lo: number, hi: number): number {
    const e = this.e, f = this.entryOf(lo, hi);
    if (f < 0) return -1;
    e[f + 2] = 0;
    const h = e[f + 3];
    if (!this.holds(h, lo, hi)) return -1;
    this.heads.setVisits(h, e[f + 4]);
    return h;
  }

  /** Count the cold head at hi:lo in slot h here from now on, under `key`, in place of an entry's head (whose visits go back to its slot). */
  note(lo: number, hi: number, key: number, h: number): void {
    this.e[this.take(lo, hi, key, h) + 4] = this.heads.visits(h);
  }

  /**
   * An entry of hi:lo's set for slot h under `key`: its own if it has one, else a free one,
   * else the one with fewer visits (a queued head's last: it is hot), whose head's visits go
   * back to that head's slot.
   */
  private take(lo: number, hi: number, key: number, h: number): number {
    const e = this.e;
    let f = this.entryOf(lo, hi);
    if (f < 0) {
      const a = coldSet(lo), b = a + COLD_STRIDE;
      f = e[a + 2] === 0 ? a : e[b + 2] === 0 ? b : this.keep(b) < this.keep(a) ? b : a;
    }
    if (e[f + 2] !== 0 && e[f + 5] === 0 && this.holds(e[f + 3], e[f], e[f + 1])) this.heads.setVisits(e[f + 3], e[f + 4]);
    e[f] = lo; e[f + 1] = hi; e[f + 2] = key; e[f + 3] = h; e[f + 4] = 0; e[f + 5] = 0;
    return f;
  }

  /** The head at hi:lo is no longer cold (decoded) or no longer queued (compiled): drop its entry. */
  drop(lo: number, hi: number): void {
    const f = this.entryOf(lo, hi);
    if (f >= 0) { this.e[f + 2] = 0; this.e[f + 5] = 0; }
  }

  /** The visits of the head in slot h so far: its entry's, if it has one. */
  visits(h: number): number {
    const e = this.e, heads = this.heads, f = this.entryOf(heads.lo(h), heads.hi(h));
    return f >= 0 && e[f + 2] !== 0 && e[f + 5] === 0 && e[f + 3] === h ? e[f + 4] : heads.visits(h);
  }

  clear(): void { this.e.fill(0); }

  /** How much the live entry f is worth keeping. */
  private keep(f: number): number { return this.e[f + 5] !== 0 ? 0x7fffffff : this.e[f + 4]; }

  /**
   * Slot h still holds the head at hi:lo, which is then cold: a head is decoded only after its
   * entry is dropped (Translator.decodeBlock), so an entry's slot has no translation.
   */
  private holds(h: number, lo: number, hi: number): boolean {
    const heads = this.heads;
    return heads.lo(h) === lo && heads.hi(h) === hi;
  }
}
