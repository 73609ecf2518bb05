// Which guest-physical 4K pages hold translated code, for every vCPU of one VM. The MMUs
// keep such pages off their store fast path, so every guest store to one reaches
// written(), which drops the page's translations (self-modifying code, a loader writing a
// page that held code). IC instructions end here too, for writes the CPUs did not see
// (the VMM's DMA into RAM).
import type { CodeWatch, Mmu } from '../mmu.ts';

/** The part of a translation the registry needs. */
export interface PageCode {
  valid: boolean;
}

const PAGE = 4096;

export class CodePages implements CodeWatch {
  private readonly pages = new Map<number, PageCode[]>();
  private readonly mmus: Mmu[] = [];
  /** How often each page's translations were dropped by a store. */
  private readonly drops = new Map<number, number>();
  /** Set by written()/invalidateAll(); the store helpers read and clear it. */
  hit = false;
  /** Bumped whenever translations are dropped (tiers forget their lookup entries lazily). */
  generation = 0;

  attach(mmu: Mmu): void {
    this.mmus.push(mmu);
    mmu.codeWatch = this;
  }

  isCode(pa: number): boolean {
    return this.pages.has(Math.floor(pa / PAGE));
  }

  /** Record code translated from physical page of `pa`; its stores stop taking the fast path. */
  add(pa: number, code: PageCode): void {
    const page = Math.floor(pa / PAGE);
    const list = this.pages.get(page);
    if (list !== undefined) { list.push(code); return; }
    this.pages.set(page, [code]);
    for (const m of this.mmus) m.dropFastPath(pa);
  }

  written(pa: number): void {
    const page = Math.floor(pa / PAGE);
    const list = this.pages.get(page);
    if (list === undefined) return;
    for (const b of list) b.valid = false;
    this.pages.delete(page);
    this.drops.set(page, (this.drops.get(page) ?? 0) + 1);
    this.hit = true;
    this.generation++;
  }

  /** A page whose code keeps being overwritten (code and data sharing it, a JIT): interpret it. */
  churning(pa: number): boolean {
    return (this.drops.get(Math.floor(pa / PAGE)) ?? 0) > 16;
  }

  /** invalidateAll() calls that dropped translations. */
  fullDrops = 0;

  invalidateAll(): void {
    if (this.pages.size === 0) return;
    this.fullDrops++;
    for (const list of this.pages.values()) for (const b of list) b.valid = false;
    this.pages.clear();
    this.hit = true;
    this.generation++;
  }

  get pageCount(): number {
    return this.pages.size;
  }
}
