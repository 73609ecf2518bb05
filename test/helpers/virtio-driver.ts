// A mock virtio driver that plays the guest: it lays descriptor tables and split rings in
// test memory, negotiates through the real virtio-mmio transport registers, and reads the
// used ring back. Device tests run against it without a guest (as virtio-queue's mock does).
// It can also break the rules on purpose (raw descriptor writes, bogus indices) so tests can
// check that a malicious driver cannot hurt the device.
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { RecordingLine } from '../../src/devices/interrupt.ts';
import { VirtioMmioTransport, REG, STATUS } from '../../src/devices/virtio/mmio-transport.ts';
import { bit, VIRTIO_F_EVENT_IDX, VIRTIO_F_VERSION_1, type DeviceLogger, type VirtioDevice } from '../../src/devices/virtio/device.ts';
import { VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from '../../src/devices/virtio/queue.ts';

export const TEST_RAM_BASE = 0x4000_0000;

/** One buffer of a chain: bytes the device reads, or `writable` bytes it fills. */
export type BufferSpec = { data: Uint8Array } | { writable: number };

export interface UsedElement {
  head: number;
  len: number;
  /** The writable buffers of that chain, as the device left them (concatenated). */
  written: Uint8Array;
}

/** Logs captured for assertions. */
export class CapturingLogger implements DeviceLogger {
  readonly warnings: string[] = [];
  readonly debugs: string[] = [];
  warn(m: string): void {
    this.warnings.push(m);
  }
  debug(m: string): void {
    this.debugs.push(m);
  }
}

interface Outstanding {
  writable: { addr: number; len: number }[];
}

export class MockQueue {
  private nextDesc = 0;
  private availIdx = 0;
  private usedSeen = 0;
  private readonly outstanding = new Map<number, Outstanding>();

  constructor(
    private readonly driver: MockVirtioDriver,
    readonly index: number,
    readonly size: number,
    readonly desc: number,
    readonly avail: number,
    readonly used: number,
  ) {}

  private get mem(): GuestMemory {
    return this.driver.mem;
  }

  /** Write a raw descriptor (for malformed-chain tests). */
  writeDescriptor(i: number, addr: number, len: number, flags: number, next: number, table = this.desc): void {
    const at = table + 16 * i;
    this.mem.writeU64(at, BigInt(addr));
    this.mem.writeU32(at + 8, len);
    this.mem.writeU16(at + 12, flags);
    this.mem.writeU16(at + 14, next);
  }

  /** Put a head on the avail ring without building a chain (for malformed-chain tests). */
  publish(head: number): void {
    this.mem.writeU16(this.avail + 4 + 2 * (this.availIdx % this.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.mem.writeU16(this.avail + 2, this.availIdx);
  }

  /** Set the avail index directly (for corrupt-ring tests). */
  setAvailIndex(v: number): void {
    this.availIdx = v & 0xffff;
    this.mem.writeU16(this.avail + 2, this.availIdx);
  }

  /** Set VIRTQ_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX the used_event field. */
  setAvailFlags(flags: number): void {
    this.mem.writeU16(this.avail, flags);
  }
  setUsedEvent(v: number): void {
    this.mem.writeU16(this.avail + 4 + 2 * this.size, v);
  }
  /** The device's avail_event (EVENT_IDX). */
  get availEvent(): number {
    return this.mem.readU16(this.used + 4 + 8 * this.size);
  }

  /** Build a chain from buffers (direct, or through one indirect table) and make it available. */
  add(buffers: readonly BufferSpec[], opts: { indirect?: boolean } = {}): number {
    const segs = buffers.map((b) => {
      if ('data' in b) {
        const addr = this.driver.alloc(Math.max(1, b.data.length));
        this.mem.write(addr, b.data);
        return { addr, len: b.data.length, writable: false };
      }
      const addr = this.driver.alloc(Math.max(1, b.writable));
      this.mem.slice(addr, b.writable).fill(0xee); // poison: tests see what the device wrote
      return { addr, len: b.writable, writable: true };
    });
    let head: number;
    if (opts.indirect) {
      const table = this.driver.alloc(16 * segs.length, 16);
      segs.forEach((s, i) => {
        const more = i + 1 < segs.length;
        this.writeDescriptor(i, s.addr, s.len, (s.writable ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0), more ? i + 1 : 0, table);
      });
      head = this.takeDescriptors(1)[0];
      this.writeDescriptor(head, table, 16 * segs.length, VIRTQ_DESC_F_INDIRECT, 0);
    } else {
      const ids = this.takeDescriptors(segs.length);
      segs.forEach((s, i) => {
        const more = i + 1 < segs.length;
        this.writeDescriptor(ids[i], s.addr, s.len, (s.writable ? VIRTQ_DESC_F_WRITE : 0) | (more ? VIRTQ_DESC_F_NEXT : 0), more ? ids[i + 1] : 0);
      });
      head = ids[0];
    }
    this.outstanding.set(head, { writable: segs.filter((s) => s.writable) });
    this.publish(head);
    return head;
  }

  private takeDescriptors(n: number): number[] {
    if (n > this.size) throw new Error(`mock driver: chain of ${n} exceeds queue size ${this.size}`);
    const ids: number[] = [];
    for (let i = 0; i < n; i++) {
      ids.push(this.nextDesc);
      this.nextDesc = (this.nextDesc + 1) % this.size;
    }
    return ids;
  }

  /** Ring the doorbell. */
  notify(): void {
    this.driver.transport.write(REG.QueueNotify, 4, this.index);
  }

  /** The device's used index. */
  get usedIndex(): number {
    return this.mem.readU16(this.used + 2);
  }

  /** Used elements added since the last call, with what the device wrote into each chain. */
  takeUsed(): UsedElement[] {
    const out: UsedElement[] = [];
    const end = this.usedIndex;
    while (this.usedSeen !== end) {
      const at = this.used + 4 + 8 * (this.usedSeen % this.size);
      const head = this.mem.readU32(at);
      const len = this.mem.readU32(at + 4);
      const o = this.outstanding.get(head);
      this.outstanding.delete(head);
      const total = o ? o.writable.reduce((n, s) => n + s.len, 0) : 0;
      const written = new Uint8Array(total);
      let pos = 0;
      for (const s of o?.writable ?? []) {
        written.set(this.mem.slice(s.addr, s.len), pos);
        pos += s.len;
      }
      out.push({ head, len, written });
      this.usedSeen = (this.usedSeen + 1) & 0xffff;
    }
    return out;
  }

  /** Wait until `n` used elements are pending (devices with async I/O), then take them. */
  async waitUsed(n: number, timeoutMs = 5000): Promise<UsedElement[]> {
    const deadline = Date.now() + timeoutMs;
    while (((this.usedIndex - this.usedSeen) & 0xffff) < n) {
      if (Date.now() > deadline) throw new Error(`mock driver: waited ${timeoutMs} ms for ${n} used buffers on queue ${this.index}, have ${(this.usedIndex - this.usedSeen) & 0xffff}`);
      await new Promise((r) => setTimeout(r, 1));
    }
    return this.takeUsed();
  }
}

export interface DriverOptions {
  /** Features the driver accepts (masked by what the device offers). Default: all offered. */
  features?: bigint;
  /** Queue sizes to configure; default each queue's maximum, capped at 64. */
  queueSizes?: number[];
  ramBytes?: number;
  log?: DeviceLogger;
}

export class MockVirtioDriver {
  readonly mem: GuestMemory;
  readonly irq = new RecordingLine();
  readonly transport: VirtioMmioTransport;
  readonly log: CapturingLogger;
  readonly queues: MockQueue[] = [];
  private brk: number;
  private readonly ramEnd: number;

  constructor(readonly device: VirtioDevice, opts: DriverOptions = {}) {
    const ramBytes = opts.ramBytes ?? 4 << 20;
    this.mem = new GuestMemory([{ gpa: TEST_RAM_BASE, bytes: new Uint8Array(ramBytes) }]);
    this.log = opts.log instanceof CapturingLogger ? opts.log : new CapturingLogger();
    this.transport = new VirtioMmioTransport(device, this.mem, this.irq, this.log);
    this.brk = TEST_RAM_BASE;
    this.ramEnd = TEST_RAM_BASE + ramBytes;
  }

  alloc(bytes: number, align = 16): number {
    const at = Math.ceil(this.brk / align) * align;
    if (at + bytes > this.ramEnd) throw new Error('mock driver: test RAM exhausted');
    this.brk = at + bytes;
    return at;
  }

  reg(offset: number): number {
    return Number(this.transport.read(offset, 4));
  }
  setReg(offset: number, value: number): void {
    this.transport.write(offset, 4, value);
  }
  config(offset: number, size: 1 | 2 | 4): number {
    return Number(this.transport.read(REG.Config + offset, size));
  }
  setConfig(offset: number, size: 1 | 2 | 4, value: number): void {
    this.transport.write(REG.Config + offset, size, value);
  }

  get deviceFeatures(): bigint {
    this.setReg(REG.DeviceFeaturesSel, 0);
    const lo = BigInt(this.reg(REG.DeviceFeatures));
    this.setReg(REG.DeviceFeaturesSel, 1);
    const hi = BigInt(this.reg(REG.DeviceFeatures));
    return (hi << 32n) | lo;
  }

  /** The Linux driver's sequence up to FEATURES_OK; returns the accepted features. */
  negotiate(wanted?: bigint): bigint {
    this.setReg(REG.Status, 0);
    this.setReg(REG.Status, STATUS.ACKNOWLEDGE);
    this.setReg(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER);
    const accepted = (wanted ?? this.deviceFeatures) & this.deviceFeatures;
    this.setReg(REG.DriverFeaturesSel, 0);
    this.setReg(REG.DriverFeatures, Number(accepted & 0xffffffffn));
    this.setReg(REG.DriverFeaturesSel, 1);
    this.setReg(REG.DriverFeatures, Number(accepted >> 32n));
    this.setReg(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK);
    if (!(this.reg(REG.Status) & STATUS.FEATURES_OK)) throw new Error('mock driver: device refused FEATURES_OK');
    return accepted;
  }

  /** Configure queue `index` with its rings in test memory. */
  setupQueue(index: number, size?: number): MockQueue {
    this.setReg(REG.QueueSel, index);
    const max = this.reg(REG.QueueNumMax);
    if (max === 0) throw new Error(`mock driver: queue ${index} does not exist`);
    const n = size ?? Math.min(max, 64);
    const desc = this.alloc(16 * n, 16);
    const avail = this.alloc(6 + 2 * n, 2);
    const used = this.alloc(6 + 8 * n, 4);
    this.setReg(REG.QueueNum, n);
    this.setReg(REG.QueueDescLow, desc % 2 ** 32);
    this.setReg(REG.QueueDescHigh, Math.floor(desc / 2 ** 32));
    this.setReg(REG.QueueDriverLow, avail % 2 ** 32);
    this.setReg(REG.QueueDriverHigh, Math.floor(avail / 2 ** 32));
    this.setReg(REG.QueueDeviceLow, used % 2 ** 32);
    this.setReg(REG.QueueDeviceHigh, Math.floor(used / 2 ** 32));
    this.setReg(REG.QueueReady, 1);
    if (this.reg(REG.QueueReady) !== 1) throw new Error(`mock driver: queue ${index} refused ready`);
    const q = new MockQueue(this, index, n, desc, avail, used);
    this.queues[index] = q;
    return q;
  }

  driverOk(): void {
    this.setReg(REG.Status, STATUS.ACKNOWLEDGE | STATUS.DRIVER | STATUS.FEATURES_OK | STATUS.DRIVER_OK);
  }

  /** Negotiate, set up every queue the device has, DRIVER_OK. */
  init(opts: DriverOptions = {}): bigint {
    const accepted = this.negotiate(opts.features);
    const n = this.device.queueMaxSizes.length;
    for (let i = 0; i < n; i++) this.setupQueue(i, opts.queueSizes?.[i]);
    this.driverOk();
    return accepted;
  }

  /** Acknowledge whatever interrupts are pending; returns the status read. */
  ackInterrupt(): number {
    const s = this.reg(REG.InterruptStatus);
    this.setReg(REG.InterruptAck, s);
    return s;
  }

  reset(): void {
    this.setReg(REG.Status, 0);
  }
}

/** Features a modern driver always wants. */
export const BASE_FEATURES = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_EVENT_IDX);
