// The MMIO bus: maps guest-physical ranges to devices. Devices see offsets into their own
// range only; ranges must be non-empty and may not overlap.

export class BusError extends Error {
  override readonly name = 'BusError';
}

/** A device on the bus. Accesses are 1, 2, 4 or 8 bytes; values are little-endian. */
export interface MmioDevice {
  readonly name: string;
  /** Read `size` bytes at `offset`; 8-byte reads return a bigint or a number. */
  read(offset: number, size: number, vcpu: number): number | bigint;
  write(offset: number, size: number, value: number | bigint, vcpu: number): void;
}

export interface BusRange {
  readonly base: number;
  readonly size: number;
  readonly device: MmioDevice;
}

export type MmioResult =
  | { handled: true; value: number | bigint }
  | { handled: false };

export class MmioBus {
  private ranges: BusRange[] = [];

  insert(device: MmioDevice, base: number, size: number): void {
    if (!Number.isSafeInteger(base) || base < 0) throw new BusError(`${device.name}: invalid base ${base}`);
    if (!Number.isSafeInteger(size) || size <= 0) throw new BusError(`${device.name}: empty or invalid range size ${size}`);
    if (!Number.isSafeInteger(base + size)) throw new BusError(`${device.name}: range overflows`);
    for (const r of this.ranges) {
      if (base < r.base + r.size && r.base < base + size) {
        throw new BusError(
          `${device.name} at 0x${base.toString(16)}+0x${size.toString(16)} overlaps ${r.device.name} at 0x${r.base.toString(16)}+0x${r.size.toString(16)}`,
        );
      }
    }
    this.ranges.push({ base, size, device });
    this.ranges.sort((a, b) => a.base - b.base);
  }

  remove(device: MmioDevice): void {
    this.ranges = this.ranges.filter((r) => r.device !== device);
  }

  /** The range holding [addr, addr+size), or undefined if none holds all of it. */
  find(addr: number, size = 1): BusRange | undefined {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.ranges[mid];
      if (addr < r.base) hi = mid - 1;
      else if (addr >= r.base + r.size) lo = mid + 1;
      else return addr + size <= r.base + r.size ? r : undefined;
    }
    return undefined;
  }

  read(addr: number, size: number, vcpu = 0): MmioResult {
    const r = this.find(addr, size);
    if (!r) return { handled: false };
    return { handled: true, value: r.device.read(addr - r.base, size, vcpu) };
  }

  write(addr: number, size: number, value: number | bigint, vcpu = 0): boolean {
    const r = this.find(addr, size);
    if (!r) return false;
    r.device.write(addr - r.base, size, value, vcpu);
    return true;
  }

  get entries(): readonly BusRange[] {
    return this.ranges;
  }
}
