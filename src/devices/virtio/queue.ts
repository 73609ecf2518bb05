// Split virtqueue, device side (virtio 1.2, 2.7). The guest owns the rings, so every index,
// address and length read from them is checked before use: a malformed chain is logged and
// returned to the driver with length 0; a corrupt ring (avail index running ahead by more
// than the queue size, unreadable ring memory) marks the queue broken and the transport sets
// DEVICE_NEEDS_RESET. Nothing here throws to the caller and no loop runs unbounded.
import type { GuestMemoryAccess } from '../../memory/guest-memory.ts';
import { bit, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, type DeviceLogger } from './device.ts';

export const VIRTQ_DESC_F_NEXT = 1;
export const VIRTQ_DESC_F_WRITE = 2;
export const VIRTQ_DESC_F_INDIRECT = 4;
export const VIRTQ_AVAIL_F_NO_INTERRUPT = 1;
const DESC_SIZE = 16;
/** Longest chain accepted, direct descriptors and indirect entries together. */
export const MAX_CHAIN_DESCRIPTORS = 1024;
/** Largest queue the transport lets a device declare (spec maximum for split rings). */
export const MAX_QUEUE_SIZE = 32768;

export type QueueErrorKind =
  | 'HeadOutOfRange'
  | 'NextOutOfRange'
  | 'ChainTooLong'
  | 'DescriptorLoop'
  | 'BufferOutOfMemory'
  | 'NestedIndirect'
  | 'IndirectWithNext'
  | 'IndirectTableInvalid'
  | 'IndirectNotNegotiated'
  | 'AvailIndexInvalid'
  | 'RingInaccessible'
  | 'UsedHeadInvalid';

export class QueueError extends Error {
  override readonly name = 'QueueError';
  constructor(readonly kind: QueueErrorKind, detail: string) {
    super(`${kind}: ${detail}`);
  }
}

/** One guest buffer of a chain, already checked to lie in guest RAM. */
export interface Segment {
  readonly addr: number;
  readonly len: number;
  readonly writable: boolean;
}

/** A descriptor chain popped from the avail ring. */
export class DescriptorChain {
  constructor(readonly head: number, readonly segments: readonly Segment[]) {}

  get readable(): Segment[] {
    return this.segments.filter((s) => !s.writable);
  }
  get writable(): Segment[] {
    return this.segments.filter((s) => s.writable);
  }
  get readableLength(): number {
    return this.readable.reduce((n, s) => n + s.len, 0);
  }
  get writableLength(): number {
    return this.writable.reduce((n, s) => n + s.len, 0);
  }

  /** Copy up to `max` bytes of the readable segments, starting `skip` bytes in. */
  readBytes(mem: GuestMemoryAccess, skip: number, max: number): Uint8Array {
    const total = Math.max(0, Math.min(max, this.readableLength - skip));
    const out = new Uint8Array(total);
    gather(mem, this.readable, skip, out);
    return out;
  }

  /** Scatter `data` into the writable segments starting `skip` bytes in; returns bytes written. */
  writeBytes(mem: GuestMemoryAccess, skip: number, data: Uint8Array): number {
    let pos = 0;
    let offset = skip;
    for (const s of this.writable) {
      if (pos >= data.length) break;
      if (offset >= s.len) {
        offset -= s.len;
        continue;
      }
      const n = Math.min(s.len - offset, data.length - pos);
      mem.write(s.addr + offset, data.subarray(pos, pos + n));
      pos += n;
      offset = 0;
    }
    return pos;
  }
}

function gather(mem: GuestMemoryAccess, segs: readonly Segment[], skip: number, out: Uint8Array): void {
  let pos = 0;
  let offset = skip;
  for (const s of segs) {
    if (pos >= out.length) break;
    if (offset >= s.len) {
      offset -= s.len;
      continue;
    }
    const n = Math.min(s.len - offset, out.length - pos);
    out.set(mem.slice(s.addr + offset, n), pos);
    pos += n;
    offset = 0;
  }
}

export const descTableBytes = (size: number): number => DESC_SIZE * size;
export const availRingBytes = (size: number): number => 6 + 2 * size;
export const usedRingBytes = (size: number): number => 6 + 8 * size;

/** A split virtqueue as configured through the transport, usable once activated. */
export class Virtqueue {
  size: number;
  ready = false;
  descTable = 0;
  availRing = 0;
  usedRing = 0;
  /** Set when the rings are corrupt; the queue then does nothing until reset. */
  broken?: QueueError;
  /** Chains rejected and returned with length 0 (for tests and stats). */
  badChains = 0;

  private mem?: GuestMemoryAccess;
  private eventIdx = false;
  private indirect = false;
  private nextAvail = 0;
  private nextUsed = 0;
  private lastSignalledUsed = 0;
  private log: DeviceLogger = silentLogger;
  private onBroken: (reason: string) => void = () => undefined;
  private onDropped: () => void = () => undefined;
  /** pop() returned malformed chains to the driver; the device does not know, so pop signals. */
  private dropped = false;

  constructor(readonly maxSize: number) {
    this.size = maxSize;
  }

  /** Why the configured rings are unusable, or undefined when they are fine. */
  validate(mem: GuestMemoryAccess): string | undefined {
    const s = this.size;
    if (s === 0 || s > this.maxSize || (s & (s - 1)) !== 0) return `size ${s} is not a power of two <= ${this.maxSize}`;
    if (this.descTable % 16 !== 0) return 'descriptor table not 16-byte aligned';
    if (this.availRing % 2 !== 0) return 'avail ring not 2-byte aligned';
    if (this.usedRing % 4 !== 0) return 'used ring not 4-byte aligned';
    if (!mem.checkRange(this.descTable, descTableBytes(s))) return 'descriptor table outside guest RAM';
    if (!mem.checkRange(this.availRing, availRingBytes(s))) return 'avail ring outside guest RAM';
    if (!mem.checkRange(this.usedRing, usedRingBytes(s))) return 'used ring outside guest RAM';
    return undefined;
  }

  /**
   * Start using the rings. `onBroken` is told when they turn out corrupt; `onDropped` when pop()
   * returned malformed chains to the used ring (the transport raises the used-buffer interrupt,
   * else a driver waiting for such a chain would never hear of it).
   */
  activate(mem: GuestMemoryAccess, features: bigint, log: DeviceLogger, onBroken: (reason: string) => void, onDropped: () => void = () => undefined): void {
    this.mem = mem;
    this.onDropped = onDropped;
    this.dropped = false;
    this.eventIdx = (features & bit(VIRTIO_F_EVENT_IDX)) !== 0n;
    this.indirect = (features & bit(VIRTIO_F_INDIRECT_DESC)) !== 0n;
    this.log = log;
    this.onBroken = onBroken;
    this.nextAvail = 0;
    this.nextUsed = 0;
    this.lastSignalledUsed = 0;
  }

  reset(): void {
    this.ready = false;
    this.size = this.maxSize;
    this.descTable = this.availRing = this.usedRing = 0;
    this.mem = undefined;
    this.broken = undefined;
    this.badChains = 0;
    this.nextAvail = this.nextUsed = this.lastSignalledUsed = 0;
  }

  get active(): boolean {
    return this.ready && this.mem !== undefined && this.broken === undefined;
  }

  private fail(err: QueueError): void {
    if (this.broken) return;
    this.broken = err;
    this.log.warn(`virtqueue broken: ${err.message}`);
    this.onBroken(err.message);
  }

  /**
   * The next available chain, or undefined when none is pending or the queue is unusable.
   * Malformed chains are consumed (used length 0) and skipped.
   */
  pop(): DescriptorChain | undefined {
    const chain = this.take();
    if (this.dropped) {
      this.dropped = false;
      this.onDropped();
    }
    return chain;
  }

  private take(): DescriptorChain | undefined {
    const mem = this.mem;
    // Bounded: each iteration consumes one avail entry, at most `size` are pending.
    for (let guard = 0; guard <= this.size && this.active && mem; guard++) {
      let availIdx: number;
      try {
        availIdx = mem.readU16(this.availRing + 2);
      } catch {
        this.fail(new QueueError('RingInaccessible', 'avail ring unreadable'));
        return undefined;
      }
      const pending = (availIdx - this.nextAvail) & 0xffff;
      if (pending === 0) {
        this.publishAvailEvent(mem);
        return undefined;
      }
      if (pending > this.size) {
        this.fail(new QueueError('AvailIndexInvalid', `avail idx ${availIdx} is ${pending} ahead of ${this.nextAvail}`));
        return undefined;
      }
      const head = mem.readU16(this.availRing + 4 + 2 * (this.nextAvail % this.size));
      this.nextAvail = (this.nextAvail + 1) & 0xffff;
      if (this.eventIdx) this.publishAvailEvent(mem);
      try {
        return new DescriptorChain(head, this.walk(mem, head));
      } catch (e) {
        if (!(e instanceof QueueError)) throw e;
        this.badChains++;
        this.log.warn(`dropping descriptor chain ${head}: ${e.message}`);
        if (head < this.size) {
          this.addUsed(head, 0);
          this.dropped = true;
        } else this.fail(e);
      }
    }
    return undefined;
  }

  /** Tell the driver (EVENT_IDX) to notify us once it adds past what we consumed. */
  private publishAvailEvent(mem: GuestMemoryAccess): void {
    if (this.eventIdx) mem.writeU16(this.usedRing + 4 + 8 * this.size, this.nextAvail);
  }

  private walk(mem: GuestMemoryAccess, head: number): Segment[] {
    if (head >= this.size) throw new QueueError('HeadOutOfRange', `head ${head} >= size ${this.size}`);
    const segments: Segment[] = [];
    const seen = new Uint8Array(this.size);
    let index = head;
    let count = 0;
    for (;;) {
      if (seen[index]) throw new QueueError('DescriptorLoop', `descriptor ${index} revisited`);
      seen[index] = 1;
      if (++count > Math.min(this.size, MAX_CHAIN_DESCRIPTORS)) throw new QueueError('ChainTooLong', `more than ${count - 1} descriptors`);
      const d = readDescriptor(mem, this.descTable + DESC_SIZE * index);
      if (d.flags & VRING_INDIRECT) {
        if (!this.indirect) throw new QueueError('IndirectNotNegotiated', `descriptor ${index}`);
        if (d.flags & VIRTQ_DESC_F_NEXT) throw new QueueError('IndirectWithNext', `descriptor ${index}`);
        this.walkIndirect(mem, d.addr, d.len, segments);
        return segments;
      }
      segments.push(checkedSegment(mem, d));
      if (segments.length > MAX_CHAIN_DESCRIPTORS) throw new QueueError('ChainTooLong', `more than ${MAX_CHAIN_DESCRIPTORS} descriptors`);
      if (!(d.flags & VIRTQ_DESC_F_NEXT)) return segments;
      if (d.next >= this.size) throw new QueueError('NextOutOfRange', `next ${d.next} >= size ${this.size}`);
      index = d.next;
    }
  }

  private walkIndirect(mem: GuestMemoryAccess, addr: number, len: number, segments: Segment[]): void {
    if (len === 0 || len % DESC_SIZE !== 0) throw new QueueError('IndirectTableInvalid', `table length ${len}`);
    const entries = len / DESC_SIZE;
    if (entries + segments.length > MAX_CHAIN_DESCRIPTORS) throw new QueueError('ChainTooLong', `indirect table of ${entries}`);
    if (!Number.isSafeInteger(addr) || !mem.checkRange(addr, len)) throw new QueueError('BufferOutOfMemory', `indirect table 0x${addr.toString(16)}+${len}`);
    const seen = new Uint8Array(entries);
    let index = 0;
    for (;;) {
      if (seen[index]) throw new QueueError('DescriptorLoop', `indirect entry ${index} revisited`);
      seen[index] = 1;
      const d = readDescriptor(mem, addr + DESC_SIZE * index);
      if (d.flags & VRING_INDIRECT) throw new QueueError('NestedIndirect', `indirect entry ${index}`);
      segments.push(checkedSegment(mem, d));
      if (!(d.flags & VIRTQ_DESC_F_NEXT)) return;
      if (d.next >= entries) throw new QueueError('NextOutOfRange', `indirect next ${d.next} >= ${entries}`);
      index = d.next;
    }
  }

  /** Return a chain to the driver: the used element first, then the used index. */
  addUsed(head: number, len: number): void {
    const mem = this.mem;
    if (!mem || !this.ready) return;
    if (head >= this.size) {
      this.fail(new QueueError('UsedHeadInvalid', `head ${head}`));
      return;
    }
    const elem = this.usedRing + 4 + 8 * (this.nextUsed % this.size);
    mem.writeU32(elem, head);
    mem.writeU32(elem + 4, len >>> 0);
    this.nextUsed = (this.nextUsed + 1) & 0xffff;
    mem.writeU16(this.usedRing + 2, this.nextUsed);
  }

  /** Whether the driver wants an interrupt for what was added since the last call. */
  needsInterrupt(): boolean {
    const mem = this.mem;
    if (!mem || !this.ready) return false;
    const old = this.lastSignalledUsed;
    const now = this.nextUsed;
    this.lastSignalledUsed = now;
    if (old === now) return false;
    if (this.eventIdx) {
      const usedEvent = mem.readU16(this.availRing + 4 + 2 * this.size);
      return ((now - usedEvent - 1) & 0xffff) < ((now - old) & 0xffff);
    }
    return (mem.readU16(this.availRing) & VIRTQ_AVAIL_F_NO_INTERRUPT) === 0;
  }
}

const VRING_INDIRECT = VIRTQ_DESC_F_INDIRECT;

interface RawDescriptor {
  addr: number;
  len: number;
  flags: number;
  next: number;
}

function readDescriptor(mem: GuestMemoryAccess, at: number): RawDescriptor {
  const raw = mem.readU64(at);
  if (raw > BigInt(Number.MAX_SAFE_INTEGER)) throw new QueueError('BufferOutOfMemory', `address 0x${raw.toString(16)}`);
  return { addr: Number(raw), len: mem.readU32(at + 8), flags: mem.readU16(at + 12), next: mem.readU16(at + 14) };
}

function checkedSegment(mem: GuestMemoryAccess, d: RawDescriptor): Segment {
  if (d.len > 0 && !mem.checkRange(d.addr, d.len)) {
    throw new QueueError('BufferOutOfMemory', `buffer 0x${d.addr.toString(16)}+${d.len}`);
  }
  return { addr: d.addr, len: d.len, writable: (d.flags & VIRTQ_DESC_F_WRITE) !== 0 };
}
