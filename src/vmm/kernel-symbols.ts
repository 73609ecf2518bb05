// Kernel symbol tables for the profiler: System.map or /proc/kallsyms text ("addr type name
// [module]"), sorted for address lookup. Debian ships a placeholder System.map, so the usual
// source is a /proc/kallsyms dump of the same kernel booted with nokaslr (bench/kallsyms.ts).

export interface KernelSymbol {
  address: number;
  name: string;
}

/** Addresses are kept as the low 48 bits (exact in a double); the kernel's top bits are all ones. */
export const VA_MASK_BITS = 48;
const LOW48 = 2 ** VA_MASK_BITS;

export class KernelSymbols {
  private readonly addrs: Float64Array;
  private readonly names: string[];

  constructor(symbols: KernelSymbol[]) {
    const sorted = symbols.filter((s) => Number.isFinite(s.address)).sort((a, b) => a.address - b.address);
    this.addrs = Float64Array.from(sorted.map((s) => s.address));
    this.names = sorted.map((s) => s.name);
  }

  get size(): number {
    return this.names.length;
  }

  /** Parse System.map / kallsyms text: text symbols only (t/T, W), absolute and data symbols dropped. */
  static parse(text: string): KernelSymbols {
    const out: KernelSymbol[] = [];
    for (const line of text.split('\n')) {
      const m = /^([0-9a-fA-F]{8,16})\s+([a-zA-Z])\s+(\S+)/.exec(line.trim());
      if (!m || !'tTwW'.includes(m[2])) continue;
      const address = Number(BigInt('0x' + m[1]) & BigInt(LOW48 - 1));
      if (address === 0) continue;
      out.push({ address, name: m[3] });
    }
    return new KernelSymbols(out);
  }

  /** The address of a symbol, or undefined. */
  addressOf(name: string): number | undefined {
    const i = this.names.indexOf(name);
    return i < 0 ? undefined : this.addrs[i];
  }

  /** The symbol containing `address` (low 48 bits), or undefined below the first or past `maxGap` after the last. */
  lookup(address: number, maxGap = 1 << 20): string | undefined {
    const a = this.addrs;
    let lo = 0, hi = a.length - 1;
    if (hi < 0 || address < a[0]) return undefined;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (a[mid] <= address) lo = mid;
      else hi = mid - 1;
    }
    if (lo === a.length - 1 && address - a[lo] > maxGap) return undefined;
    return this.names[lo];
  }
}
