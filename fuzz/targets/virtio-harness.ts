// Shared engine of the virtio fuzz targets: an input is a program of hostile driver actions
// (register accesses at any offset and size, status values, queue setup with random
// addresses, raw or structured descriptor chains, avail index jumps, notifies, resets in the
// middle of I/O) run against a device behind the real virtio-mmio transport. Checked after
// every action:
// - nothing escapes the transport or device (thrown, uncaught or unhandled rejection);
// - the device wrote guest RAM only inside buffers some descriptor marked writable (direct or
//   one indirect level, scanned independently of the queue code) and the used rings, and not
//   at all after a reset: RAM is compared with a shadow copy the harness keeps in step;
// - every used length is at most the writable length of a chain popped with that head;
// - register reads return 32-bit unsigned values, async work settles within a bound.
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { RecordingLine } from '../../src/devices/interrupt.ts';
import { VirtioMmioTransport, REG } from '../../src/devices/virtio/mmio-transport.ts';
import type { VirtioDevice } from '../../src/devices/virtio/device.ts';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE, type DescriptorChain, type Virtqueue } from '../../src/devices/virtio/queue.ts';
import { InputReader } from '../target.ts';

export const RAM_BASE = 0x4000_0000;
export const RAM_SIZE = 0x1_0000;
const RAM_END = RAM_BASE + RAM_SIZE;
const MAX_STEPS = 64;
/** Scratch area for buffers and indirect tables, above the standard queue layout. */
const DATA_BASE = RAM_BASE + 0x4000;

export class FuzzInvariantError extends Error {
  override readonly name = 'FuzzInvariantError';
}

export interface DeviceUnderTest {
  device: VirtioDevice;
  /** Let asynchronous device work run; must resolve within a bound or throw. */
  settle(): Promise<void>;
  /** Drop host resources of this instance (after the final reset). */
  dispose?(): Promise<void>;
}

export const enum Op {
  Read, Write, Status, Negotiate, SetupQueue, RawBytes, Chain, AvailJump, Notify, Reset, Settle, RingFlags, AckIrq, Config,
  Count,
}

const SIZES = [1, 2, 4, 8, 3, 0];
const STATUS_VALUES = [0, 1, 3, 0xb, 0xf, 0x7, 0x80, 0x40, 0x4f, 0xff, 0x8b];

/** Runs one program against `dut`; throws FuzzInvariantError (or whatever escaped) on a finding. */
export async function runVirtioProgram(input: Uint8Array, dut: DeviceUnderTest): Promise<void> {
  const escaped: unknown[] = [];
  const onEscape = (e: unknown): void => {
    escaped.push(e);
  };
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
  try {
    const h = new Harness(dut);
    try {
      await h.run(new InputReader(input));
      // A final reset with I/O possibly still in flight: nothing may touch RAM afterwards.
      h.transport.write(REG.Status, 4, 0);
      h.afterReset();
      await dut.settle();
      h.check('final reset');
    } finally {
      await dut.dispose?.();
    }
    if (escaped.length) throw escaped[0];
  } finally {
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  }
}

class Harness {
  readonly ram = new Uint8Array(RAM_SIZE);
  private readonly shadow = new Uint8Array(RAM_SIZE);
  private readonly allowed = new Uint8Array(RAM_SIZE);
  readonly mem = new GuestMemory([{ gpa: RAM_BASE, bytes: this.ram }]);
  readonly transport: VirtioMmioTransport;
  /** Writable lengths of popped chains not yet returned, by head. */
  private readonly outstanding: Map<number, number[]>[];

  constructor(private readonly dut: DeviceUnderTest) {
    this.transport = new VirtioMmioTransport(dut.device, this.mem, new RecordingLine());
    this.outstanding = this.transport.queues.map(() => new Map());
    this.transport.queues.forEach((q, i) => this.hook(q, i));
  }

  /** Record popped chains and check used lengths against them. */
  private hook(q: Virtqueue, index: number): void {
    const pop = q.pop.bind(q);
    const addUsed = q.addUsed.bind(q);
    const out = this.outstanding[index];
    q.pop = (): DescriptorChain | undefined => {
      const c = pop();
      if (c) {
        const list = out.get(c.head) ?? [];
        list.push(c.writableLength);
        out.set(c.head, list);
      }
      return c;
    };
    q.addUsed = (head: number, len: number): void => {
      const list = out.get(head);
      const i = list ? list.findIndex((w) => w >= len) : -1;
      if (list && i >= 0) list.splice(i, 1);
      else if (len !== 0) {
        throw new FuzzInvariantError(`queue ${index}: used length ${len} for head ${head} exceeds the writable length of every chain popped with that head (${list?.join(',') ?? 'none'})`);
      }
      addUsed(head, len);
    };
  }

  async run(r: InputReader): Promise<void> {
    for (let step = 0; step < MAX_STEPS && !r.done; step++) {
      const op = r.u8() % Op.Count;
      const wasActive = this.transport.activated;
      this.scanAllowed();
      await this.step(op, r);
      if (wasActive && !this.transport.activated) this.afterReset();
      this.check(`step ${step} (op ${op})`);
    }
  }

  /** A reset ends every right to write guest memory. */
  afterReset(): void {
    this.check('before reset took effect');
    this.allowed.fill(0);
  }

  private async step(op: number, r: InputReader): Promise<void> {
    const t = this.transport;
    const nq = t.queues.length;
    switch (op) {
      case Op.Read: {
        const offset = r.u16() % 0x200;
        const v = t.read(offset, SIZES[r.u8() % SIZES.length]);
        const n = typeof v === 'bigint' ? Number(v) : v;
        if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new FuzzInvariantError(`read at 0x${offset.toString(16)} returned ${v}`);
        return;
      }
      case Op.Write: {
        const offset = r.u16() % 0x200;
        const size = SIZES[r.u8() % SIZES.length];
        t.write(offset, size, size === 8 ? r.u64() : r.u32());
        return;
      }
      case Op.Status:
        t.write(REG.Status, 4, r.u8() & 1 ? STATUS_VALUES[r.u8() % STATUS_VALUES.length] : r.u32());
        return;
      case Op.Negotiate: {
        // The regular handshake up to FEATURES_OK (DRIVER_OK is a separate Status step), with
        // a random subset of the offered features.
        t.write(REG.Status, 4, 0);
        this.afterReset();
        t.write(REG.Status, 4, 1);
        t.write(REG.Status, 4, 3);
        for (const sel of [0, 1]) {
          t.write(REG.DeviceFeaturesSel, 4, sel);
          const offered = Number(t.read(REG.DeviceFeatures, 4));
          t.write(REG.DriverFeaturesSel, 4, sel);
          t.write(REG.DriverFeatures, 4, (offered & (sel === 1 ? 0xffff_ffff : r.u32())) >>> 0);
        }
        t.write(REG.Status, 4, 0xb);
        if (r.u8() & 1) this.setupQueues(r);
        if (r.u8() & 1) t.write(REG.Status, 4, 0xf);
        return;
      }
      case Op.SetupQueue: {
        const sel = r.u8() % (nq + 1);
        const size = [256, 1, 2, 4, 8, 16, 64, 3, 0, 0x10000, 0x8000][r.u8() % 11];
        this.setupQueue(sel, size, this.addr(r) & ~15, this.addr(r) & ~1, this.addr(r) & ~3, r.u8() % 4 !== 0);
        return;
      }
      case Op.RawBytes: {
        const at = this.addr(r);
        const n = r.u8();
        for (let i = 0; i < n; i++) this.w8(at + i, r.u8());
        return;
      }
      case Op.Chain:
        this.chain(r);
        return;
      case Op.AvailJump: {
        const q = t.queues[r.u8() % nq];
        const cur = this.r16(q.availRing + 2);
        this.w16(q.availRing + 2, r.u8() & 1 ? r.u16() : cur + (r.u8() % 8));
        return;
      }
      case Op.Notify:
        t.write(REG.QueueNotify, 4, r.u8() & 7 ? r.u8() % (nq + 1) : r.u32());
        return;
      case Op.Reset:
        t.write(REG.Status, 4, 0);
        return;
      case Op.Settle:
        await this.dut.settle();
        return;
      case Op.RingFlags: {
        const q = t.queues[r.u8() % nq];
        this.w16(q.availRing, r.u16());
        this.w16(q.availRing + 4 + 2 * q.size, r.u16()); // used_event
        return;
      }
      case Op.AckIrq: {
        const s = Number(t.read(REG.InterruptStatus, 4));
        t.write(REG.InterruptAck, 4, r.u8() & 1 ? s : r.u32());
        return;
      }
      case Op.Config: {
        const offset = REG.Config + (r.u8() % 0x80);
        const size = SIZES[r.u8() % SIZES.length];
        if (r.u8() & 1) t.read(offset, size);
        else t.write(offset, size, r.u32());
        return;
      }
    }
  }

  /** Every queue in the standard layout: queue i at RAM_BASE + 0x2000 * i. */
  private setupQueues(r: InputReader): void {
    const want = [256, 16, 4, 1][r.u8() % 4];
    this.transport.queues.forEach((q, i) => {
      if (i > 1) return;
      const size = Math.min(q.maxSize, want);
      const desc = RAM_BASE + 0x2000 * i;
      const avail = desc + 16 * size;
      const used = (avail + 6 + 2 * size + 3) & ~3;
      this.setupQueue(i, size, desc, avail, used, true);
    });
  }

  private setupQueue(sel: number, size: number, desc: number, avail: number, used: number, ready: boolean): void {
    const t = this.transport;
    t.write(REG.QueueSel, 4, sel);
    t.write(REG.QueueNum, 4, size);
    for (const [lo, v] of [[REG.QueueDescLow, desc], [REG.QueueDriverLow, avail], [REG.QueueDeviceLow, used]] as const) {
      t.write(lo, 4, v >>> 0);
      t.write(lo + 4, 4, Math.floor(v / 0x1_0000_0000) >>> 0);
    }
    // Rings start clean unless the program scribbles on them later.
    if (this.inRam(avail, 6) && this.inRam(used, 6)) {
      this.w16(avail + 2, 0);
      this.w16(used + 2, 0);
    }
    if (ready) t.write(REG.QueueReady, 4, 1);
  }

  /** A structured, often hostile, descriptor chain put on a queue's avail ring. */
  private chain(r: InputReader): void {
    const q = this.transport.queues[r.u8() % this.transport.queues.length];
    const size = q.size > 0 && q.size <= 0x8000 ? q.size : 1;
    const kind = r.u8() % 7;
    const head = r.u16() % size;
    const n = 1 + (r.u8() % 6);
    const table = q.descTable;
    if (kind === 2 || kind === 3) {
      // Indirect: the head points at a table of entries; kind 3 nests another indirect.
      const at = r.u8() & 3 ? (DATA_BASE + (r.u16() % (RAM_SIZE - 0x4000))) & ~15 : this.addr(r);
      const entries = 1 + (r.u8() % 8);
      const len = r.u8() & 7 ? 16 * entries : r.u32();
      this.desc(table, head, at, len, VIRTQ_DESC_F_INDIRECT | (r.u8() & 7 ? 0 : VIRTQ_DESC_F_NEXT), r.u16());
      for (let i = 0; i < entries; i++) {
        const last = i === entries - 1;
        const nested = kind === 3 && i === 0;
        this.desc(at, i, nested ? at : this.addr(r), nested ? 16 * entries : this.len(r), (nested ? VIRTQ_DESC_F_INDIRECT : this.flags(r, last)), last ? r.u16() % (entries + 1) : i + 1);
      }
    } else if (kind === 6) {
      // Shaped like a device request: a 16-byte header, data, a 1-byte status at the end.
      const hdr = (DATA_BASE + (r.u16() % (RAM_SIZE - 0x4010))) & ~15;
      const type = r.u8() % 7;
      this.w32(hdr, type < 6 ? [0, 1, 4, 8, 11, 13][type] : r.u32());
      this.w32(hdr + 4, 0);
      this.w64(hdr + 8, r.u8() & 3 ? BigInt(r.u8()) : r.u64());
      const idx = [head];
      for (let i = 1; i < n + 1; i++) idx.push((head + i) % size);
      this.desc(table, idx[0], hdr, 16, VIRTQ_DESC_F_NEXT, idx[1]);
      for (let i = 1; i < n; i++) {
        const dataWritable = r.u8() & 1;
        const len = r.u8() & 3 ? 512 * (r.u8() % 4) : this.len(r);
        this.desc(table, idx[i], this.addr(r), len, VIRTQ_DESC_F_NEXT | (dataWritable ? VIRTQ_DESC_F_WRITE : 0), idx[i + 1]);
      }
      this.desc(table, idx[n], this.addr(r), 1, VIRTQ_DESC_F_WRITE, 0);
    } else {
      // 0: plain chain, 1: loop back to the head, 4: next out of range, 5: raw random descriptors.
      for (let i = 0; i < n; i++) {
        const last = i === n - 1;
        const idx = (head + i) % size;
        let next = (idx + 1) % size;
        let flags = this.flags(r, last);
        if (last && kind === 1) (next = head), (flags |= VIRTQ_DESC_F_NEXT);
        if (last && kind === 4) (next = size + r.u8()), (flags |= VIRTQ_DESC_F_NEXT);
        if (kind === 5) this.desc(table, idx, Number(r.u64() & 0x1f_ffff_ffff_ffffn), r.u32(), r.u16(), r.u16());
        else this.desc(table, idx, this.addr(r), this.len(r), flags, next);
      }
    }
    const availIdx = this.r16(q.availRing + 2);
    this.w16(q.availRing + 4 + 2 * (availIdx % size), r.u8() & 15 ? head : r.u16());
    this.w16(q.availRing + 2, availIdx + 1);
  }

  private flags(r: InputReader, last: boolean): number {
    const f = r.u8();
    return (last ? 0 : VIRTQ_DESC_F_NEXT) | (f & 1 ? VIRTQ_DESC_F_WRITE : 0) | (f === 0xff ? VIRTQ_DESC_F_INDIRECT : 0);
  }

  /** Guest addresses: mostly inside RAM, often at, across or far beyond its edges. */
  private addr(r: InputReader): number {
    switch (r.u8() % 10) {
      case 0: return RAM_END - (r.u8() % 32);
      case 1: return RAM_END;
      case 2: return r.u32();
      case 3: return 0;
      case 4: return RAM_BASE - 16 + (r.u8() % 32);
      case 5: return Number(r.u64() & 0x1f_ffff_ffff_ffffn);
      default: return DATA_BASE + (r.u16() % (RAM_SIZE - 0x4000));
    }
  }

  private len(r: InputReader): number {
    switch (r.u8() % 8) {
      case 0: return 0;
      case 1: return 0xffff_ffff;
      case 2: return 0x8000_0000;
      case 3: return RAM_SIZE;
      case 4: return r.u32();
      default: return 1 + (r.u16() % 2048);
    }
  }

  private desc(table: number, i: number, addr: number, len: number, flags: number, next: number): void {
    const at = table + 16 * i;
    this.w64(at, BigInt(Math.max(0, Math.min(addr, Number.MAX_SAFE_INTEGER))));
    this.w32(at + 8, len);
    this.w16(at + 12, flags);
    this.w16(at + 14, next);
  }

  // The driver's own writes go to RAM and to the shadow, so only device writes show up as diffs.
  private inRam(a: number, n: number): boolean {
    return Number.isSafeInteger(a) && a >= RAM_BASE && a + n <= RAM_END;
  }
  private w8(a: number, v: number): void {
    if (!this.inRam(a, 1)) return;
    this.ram[a - RAM_BASE] = v;
    this.shadow[a - RAM_BASE] = v;
  }
  private wn(a: number, n: number, v: bigint): void {
    if (!this.inRam(a, n)) return;
    for (let i = 0; i < n; i++) this.w8(a + i, Number((v >> BigInt(8 * i)) & 0xffn));
  }
  private w16(a: number, v: number): void {
    this.wn(a, 2, BigInt(v & 0xffff));
  }
  private w32(a: number, v: number): void {
    this.wn(a, 4, BigInt(v >>> 0));
  }
  private w64(a: number, v: bigint): void {
    this.wn(a, 8, BigInt.asUintN(64, v));
  }
  private r16(a: number): number {
    return this.inRam(a, 2) ? this.mem.readU16(a) : 0;
  }

  /** Mark what the device may write: writable buffers of every live descriptor, and used rings. */
  private scanAllowed(): void {
    for (const q of this.transport.queues) {
      if (!q.ready) continue;
      this.allow(q.usedRing, 6 + 8 * q.size);
      for (let i = 0; i < q.size; i++) this.allowDescriptor(q.descTable + 16 * i, true);
    }
  }

  private allowDescriptor(at: number, direct: boolean): void {
    if (!this.inRam(at, 16)) return;
    const addr = Number(this.mem.readU64(at));
    const len = this.mem.readU32(at + 8);
    const flags = this.mem.readU16(at + 12);
    if (flags & VIRTQ_DESC_F_INDIRECT) {
      if (!direct) return; // nested indirect tables are rejected by the spec and the queue
      const entries = Math.min(Math.floor(len / 16), 1024);
      for (let i = 0; i < entries; i++) this.allowDescriptor(addr + 16 * i, false);
    } else if (flags & VIRTQ_DESC_F_WRITE) this.allow(addr, len);
  }

  private allow(a: number, n: number): void {
    const lo = Math.max(a, RAM_BASE);
    const hi = Math.min(a + n, RAM_END);
    if (hi > lo) this.allowed.fill(1, lo - RAM_BASE, hi - RAM_BASE);
  }

  /** Compare RAM with the shadow: every byte the device changed must have been allowed. */
  check(where: string): void {
    if (Buffer.from(this.ram.buffer).equals(Buffer.from(this.shadow.buffer))) return;
    this.scanAllowed(); // the device may itself have written descriptors it then used
    for (let i = 0; i < RAM_SIZE; i++) {
      if (this.ram[i] !== this.shadow[i] && !this.allowed[i]) {
        throw new FuzzInvariantError(`${where}: device wrote guest RAM at 0x${(RAM_BASE + i).toString(16)} (0x${this.shadow[i].toString(16)} -> 0x${this.ram[i].toString(16)}) outside writable buffers and used rings`);
      }
    }
    this.shadow.set(this.ram);
  }
}

/** Resolves after `turns` turns of the event loop (immediates the device scheduled run). */
export async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
}
