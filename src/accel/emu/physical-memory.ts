// Guest-physical memory as the software CPU sees it: the RAM regions the VMM mapped with
// hv_vm_map semantics (permissions included). Anything else is MMIO and exits to the VMM.

export interface Mapping {
  gpa: number;
  size: number;
  bytes: Uint8Array;
  view: DataView;
  flags: number;
}

export class PhysicalMemory {
  private maps: Mapping[] = [];
  /** Fast path: the last mapping hit. */
  last: Mapping | undefined;

  map(bytes: Uint8Array, gpa: number, flags: number): void {
    const size = bytes.length;
    for (const m of this.maps) {
      if (gpa < m.gpa + m.size && m.gpa < gpa + size) throw new RangeError(`mapping at 0x${gpa.toString(16)} overlaps an existing one`);
    }
    this.maps.push({ gpa, size, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), flags });
    this.last = undefined;
  }

  unmap(gpa: number, size: number): void {
    this.maps = this.maps.filter((m) => m.gpa + m.size <= gpa || m.gpa >= gpa + size);
    this.last = undefined;
  }

  protect(gpa: number, size: number, flags: number): void {
    for (const m of this.maps) if (m.gpa >= gpa && m.gpa + m.size <= gpa + size) m.flags = flags;
  }

  /** PA minus offset in `buffer` when exactly one mapping is in that buffer (RAM in its arena), else undefined. */
  deltaIn(buffer: ArrayBufferLike): number | undefined {
    const inBuffer = this.maps.filter((m) => m.bytes.buffer === buffer);
    return inBuffer.length === 1 ? inBuffer[0].gpa - inBuffer[0].bytes.byteOffset : undefined;
  }

  /** The mapping holding [pa, pa+len), or undefined (MMIO). */
  find(pa: number, len: number): Mapping | undefined {
    const l = this.last;
    if (l !== undefined && pa >= l.gpa && pa + len <= l.gpa + l.size) return l;
    for (const m of this.maps) {
      if (pa >= m.gpa && pa + len <= m.gpa + m.size) {
        this.last = m;
        return m;
      }
    }
    return undefined;
  }
}
