// Stage-1 translation tables built in guest RAM for the software CPU's MMU tests: one
// builder per table tree (TTBR), any granule, pages or blocks as leaves.

export const AF = 1n << 10n;
export const AP_RO = 1n << 7n;
export const SH_INNER = 3n << 8n;
/** Not global: the entry belongs to the ASID it was filled under. */
export const NG = 1n << 11n;

/** A bump allocator of zeroed, naturally aligned tables inside guest RAM. */
export class TableMemory {
  constructor(readonly view: DataView, readonly ramBase: number, private next: number, private readonly end = Infinity) {}

  alloc(bytes: number): number {
    const at = Math.ceil(this.next / bytes) * bytes;
    if (at + bytes > this.end) throw new RangeError('table area full');
    this.next = at + bytes;
    new Uint8Array(this.view.buffer, this.view.byteOffset + at - this.ramBase, bytes).fill(0);
    return at;
  }

  read(pa: number): bigint { return this.view.getBigUint64(pa - this.ramBase, true); }
  write(pa: number, value: bigint): void { this.view.setBigUint64(pa - this.ramBase, value, true); }
}

/** Leaf descriptor bits for a page (level 3) or a block (above). */
export function leafDescriptor(pa: number, attrs: bigint, level: number): bigint {
  return BigInt(pa) | attrs | AF | SH_INNER | (level === 3 ? 0b11n : 0b01n);
}

/** One table tree (what a TTBR points at) for a granule of 2^bits bytes and a TxSZ. */
export class TableBuilder {
  readonly root: number;
  constructor(private readonly mem: TableMemory, readonly bits: number, private readonly tsz: number) {
    this.root = mem.alloc(1 << bits);
  }

  private get stride(): number { return this.bits - 3; }

  get startLevel(): number {
    return 4 - Math.ceil((64 - this.tsz - this.bits) / this.stride);
  }

  /** Bytes a leaf at `level` covers. */
  leafSize(level: number): number {
    return 2 ** (this.bits + this.stride * (3 - level));
  }

  /**
   * Map the leaf holding `va` (a page at level 3, a block above) to `pa` with extra attribute
   * bits; returns the guest-physical address of the leaf descriptor.
   */
  map(va: number | bigint, pa: number, attrs = 0n, level = 3): number {
    const v = BigInt(va);
    const stride = this.stride;
    let table = this.root;
    for (let l = this.startLevel; ; l++) {
      const shift = BigInt(this.bits + stride * (3 - l));
      const at = table + Number((v >> shift) & ((1n << BigInt(stride)) - 1n)) * 8;
      if (l === level) {
        this.mem.write(at, leafDescriptor(pa, attrs, level));
        return at;
      }
      let desc = this.mem.read(at);
      if ((desc & 1n) === 0n) {
        desc = BigInt(this.mem.alloc(1 << this.bits)) | 0b11n;
        this.mem.write(at, desc);
      }
      table = Number(desc & ~BigInt((1 << this.bits) - 1) & 0xffff_ffff_f000n);
    }
  }
}
