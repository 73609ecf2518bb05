// Accessing guest memory. Devices depend on this interface only: every access is checked
// against the RAM regions, so a guest-supplied address or length can never reach outside
// guest RAM. How RAM is allocated and mapped lives in ram.ts.

export class GuestMemoryError extends Error {
  override readonly name = 'GuestMemoryError';
  constructor(readonly address: number, readonly length: number, reason = 'outside guest RAM') {
    super(`guest access 0x${address.toString(16)}+${length} ${reason}`);
  }
}

/** One contiguous piece of guest RAM. */
export interface MemoryRegion {
  readonly gpa: number;
  readonly bytes: Uint8Array;
}

export interface GuestMemoryAccess {
  /** True when [gpa, gpa+length) lies inside one region. */
  checkRange(gpa: number, length: number): boolean;
  /** A zero-copy view of [gpa, gpa+length); throws GuestMemoryError if out of range. */
  slice(gpa: number, length: number): Uint8Array;
  read(gpa: number, dst: Uint8Array): void;
  write(gpa: number, src: Uint8Array): void;
  readU8(gpa: number): number;
  readU16(gpa: number): number;
  readU32(gpa: number): number;
  readU64(gpa: number): bigint;
  writeU8(gpa: number, v: number): void;
  writeU16(gpa: number, v: number): void;
  writeU32(gpa: number, v: number): void;
  writeU64(gpa: number, v: bigint): void;
}

interface Region extends MemoryRegion {
  readonly end: number;
  readonly view: DataView;
}

/** Little-endian guest memory over a fixed set of non-overlapping regions. */
export class GuestMemory implements GuestMemoryAccess {
  private readonly regions: Region[];

  constructor(regions: readonly MemoryRegion[]) {
    const sorted = [...regions].sort((a, b) => a.gpa - b.gpa);
    this.regions = sorted.map((r) => ({
      gpa: r.gpa,
      bytes: r.bytes,
      end: r.gpa + r.bytes.length,
      view: new DataView(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength),
    }));
    for (let i = 1; i < this.regions.length; i++) {
      if (this.regions[i].gpa < this.regions[i - 1].end) {
        throw new RangeError(`memory regions overlap at 0x${this.regions[i].gpa.toString(16)}`);
      }
    }
  }

  get regionList(): readonly MemoryRegion[] {
    return this.regions;
  }

  private find(gpa: number, length: number): Region | undefined {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length < 0) return undefined;
    for (const r of this.regions) {
      if (gpa >= r.gpa && gpa + length <= r.end) return r;
    }
    return undefined;
  }

  private region(gpa: number, length: number): Region {
    const r = this.find(gpa, length);
    if (!r) throw new GuestMemoryError(gpa, length);
    return r;
  }

  checkRange(gpa: number, length: number): boolean {
    return this.find(gpa, length) !== undefined;
  }

  slice(gpa: number, length: number): Uint8Array {
    const r = this.region(gpa, length);
    const off = gpa - r.gpa;
    return r.bytes.subarray(off, off + length);
  }

  read(gpa: number, dst: Uint8Array): void {
    dst.set(this.slice(gpa, dst.length));
  }

  write(gpa: number, src: Uint8Array): void {
    this.slice(gpa, src.length).set(src);
  }

  readU8(gpa: number): number {
    const r = this.region(gpa, 1);
    return r.bytes[gpa - r.gpa];
  }
  readU16(gpa: number): number {
    const r = this.region(gpa, 2);
    return r.view.getUint16(gpa - r.gpa, true);
  }
  readU32(gpa: number): number {
    const r = this.region(gpa, 4);
    return r.view.getUint32(gpa - r.gpa, true);
  }
  readU64(gpa: number): bigint {
    const r = this.region(gpa, 8);
    return r.view.getBigUint64(gpa - r.gpa, true);
  }
  writeU8(gpa: number, v: number): void {
    const r = this.region(gpa, 1);
    r.bytes[gpa - r.gpa] = v;
  }
  writeU16(gpa: number, v: number): void {
    const r = this.region(gpa, 2);
    r.view.setUint16(gpa - r.gpa, v, true);
  }
  writeU32(gpa: number, v: number): void {
    const r = this.region(gpa, 4);
    r.view.setUint32(gpa - r.gpa, v >>> 0, true);
  }
  writeU64(gpa: number, v: bigint): void {
    const r = this.region(gpa, 8);
    r.view.setBigUint64(gpa - r.gpa, BigInt.asUintN(64, v), true);
  }
}
