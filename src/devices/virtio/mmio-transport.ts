// virtio-mmio transport, version 2 only (virtio 1.2, 4.2.2). Owns the register file, feature
// negotiation, the device status state machine and queue configuration; hands the device its
// queues at DRIVER_OK. The device state is a discriminated union: Inactive (no guest memory
// access) or Activated.
import type { MmioDevice } from '../../bus/mmio-bus.ts';
import type { GuestMemoryAccess } from '../../memory/guest-memory.ts';
import type { InterruptLine } from '../interrupt.ts';
import { bit, silentLogger, VIRTIO_F_VERSION_1, type DeviceLogger, type VirtioDevice } from './device.ts';
import { Virtqueue } from './queue.ts';

export const MMIO_MAGIC_VALUE = 0x74726976; // "virt"
export const MMIO_VERSION = 2;
export const MMIO_VENDOR_ID = 0x5253564e; // "NVSR"

export const REG = {
  MagicValue: 0x000,
  Version: 0x004,
  DeviceId: 0x008,
  VendorId: 0x00c,
  DeviceFeatures: 0x010,
  DeviceFeaturesSel: 0x014,
  DriverFeatures: 0x020,
  DriverFeaturesSel: 0x024,
  QueueSel: 0x030,
  QueueNumMax: 0x034,
  QueueNum: 0x038,
  QueueReady: 0x044,
  QueueNotify: 0x050,
  InterruptStatus: 0x060,
  InterruptAck: 0x064,
  Status: 0x070,
  QueueDescLow: 0x080,
  QueueDescHigh: 0x084,
  QueueDriverLow: 0x090,
  QueueDriverHigh: 0x094,
  QueueDeviceLow: 0x0a0,
  QueueDeviceHigh: 0x0a4,
  ShmSel: 0x0ac,
  ShmLenLow: 0x0b0,
  ShmLenHigh: 0x0b4,
  ShmBaseLow: 0x0b8,
  ShmBaseHigh: 0x0bc,
  ConfigGeneration: 0x0fc,
  Config: 0x100,
} as const;

export const STATUS = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 0x40,
  FAILED: 0x80,
} as const;

export const INT_USED_BUFFER = 1;
export const INT_CONFIG_CHANGE = 2;

const { ACKNOWLEDGE: ACK, DRIVER, FEATURES_OK, DRIVER_OK, FAILED, DEVICE_NEEDS_RESET } = STATUS;

/** Status values the driver may write, keyed by the current status (FAILED and 0 aside). */
const ALLOWED_STATUS: ReadonlyMap<number, number> = new Map([
  [0, ACK],
  [ACK, ACK | DRIVER],
  [ACK | DRIVER, ACK | DRIVER | FEATURES_OK],
  [ACK | DRIVER | FEATURES_OK, ACK | DRIVER | FEATURES_OK | DRIVER_OK],
]);

type DeviceState = { kind: 'inactive' } | { kind: 'activated'; mem: GuestMemoryAccess };

export class VirtioMmioTransport implements MmioDevice {
  readonly name: string;
  private status = 0;
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private driverFeatures = 0n;
  private queueSel = 0;
  private interruptStatus = 0;
  private configGeneration = 0;
  private state: DeviceState = { kind: 'inactive' };
  readonly queues: Virtqueue[];

  constructor(
    readonly device: VirtioDevice,
    private readonly mem: GuestMemoryAccess,
    private readonly irq: InterruptLine,
    private readonly log: DeviceLogger = silentLogger,
  ) {
    this.name = `virtio-mmio(${device.name})`;
    this.queues = device.queueMaxSizes.map((m) => new Virtqueue(m));
  }

  get deviceStatus(): number {
    return this.status;
  }
  get activated(): boolean {
    return this.state.kind === 'activated';
  }
  get ackedFeatures(): bigint {
    return this.driverFeatures;
  }

  read(offset: number, size: number): number | bigint {
    if (offset >= REG.Config) {
      if (size !== 1 && size !== 2 && size !== 4) return this.bad('read', offset, size);
      if (offset - REG.Config + size > this.device.configSize) return this.bad('read', offset, size);
      return this.device.readConfig(offset - REG.Config, size);
    }
    if (size !== 4 || offset % 4 !== 0) return this.bad('read', offset, size);
    const q = this.queues[this.queueSel];
    switch (offset) {
      case REG.MagicValue: return MMIO_MAGIC_VALUE;
      case REG.Version: return MMIO_VERSION;
      case REG.DeviceId: return this.device.deviceType;
      case REG.VendorId: return MMIO_VENDOR_ID;
      case REG.DeviceFeatures:
        if (this.deviceFeaturesSel > 1) return 0;
        return Number((this.device.features >> BigInt(32 * this.deviceFeaturesSel)) & 0xffffffffn);
      case REG.QueueNumMax: return q ? q.maxSize : 0;
      case REG.QueueNum: return q ? q.size : 0;
      case REG.QueueReady: return q?.ready ? 1 : 0;
      case REG.InterruptStatus: return this.interruptStatus;
      case REG.Status: return this.status;
      case REG.QueueDescLow: return q ? lo(q.descTable) : 0;
      case REG.QueueDescHigh: return q ? hi(q.descTable) : 0;
      case REG.QueueDriverLow: return q ? lo(q.availRing) : 0;
      case REG.QueueDriverHigh: return q ? hi(q.availRing) : 0;
      case REG.QueueDeviceLow: return q ? lo(q.usedRing) : 0;
      case REG.QueueDeviceHigh: return q ? hi(q.usedRing) : 0;
      // No shared memory regions: length reads as all ones (-1).
      case REG.ShmLenLow:
      case REG.ShmLenHigh:
      case REG.ShmBaseLow:
      case REG.ShmBaseHigh:
        return 0xffffffff;
      case REG.ConfigGeneration: return this.configGeneration;
      default: return this.bad('read', offset, size);
    }
  }

  write(offset: number, size: number, value: number | bigint): void {
    const v = Number(BigInt.asUintN(32, BigInt(value)));
    if (offset >= REG.Config) {
      if ((size !== 1 && size !== 2 && size !== 4) || offset - REG.Config + size > this.device.configSize) {
        this.bad('write', offset, size);
        return;
      }
      this.device.writeConfig(offset - REG.Config, size, v);
      return;
    }
    if (size !== 4 || offset % 4 !== 0) {
      this.bad('write', offset, size);
      return;
    }
    switch (offset) {
      case REG.DeviceFeaturesSel: this.deviceFeaturesSel = v; return;
      case REG.DriverFeaturesSel: this.driverFeaturesSel = v; return;
      case REG.DriverFeatures: this.writeDriverFeatures(v); return;
      case REG.QueueSel: this.queueSel = v; return;
      case REG.QueueNum: this.withConfigurableQueue('QueueNum', (q) => { q.size = v; }); return;
      case REG.QueueReady: this.writeQueueReady(v); return;
      case REG.QueueNotify: this.queueNotify(v); return;
      case REG.InterruptAck: this.setInterruptStatus(this.interruptStatus & ~v); return;
      case REG.Status: this.writeStatus(v); return;
      case REG.QueueDescLow: this.withConfigurableQueue('QueueDesc', (q) => { q.descTable = setLo(q.descTable, v); }); return;
      case REG.QueueDescHigh: this.withConfigurableQueue('QueueDesc', (q) => { q.descTable = setHi(q.descTable, v); }); return;
      case REG.QueueDriverLow: this.withConfigurableQueue('QueueDriver', (q) => { q.availRing = setLo(q.availRing, v); }); return;
      case REG.QueueDriverHigh: this.withConfigurableQueue('QueueDriver', (q) => { q.availRing = setHi(q.availRing, v); }); return;
      case REG.QueueDeviceLow: this.withConfigurableQueue('QueueDevice', (q) => { q.usedRing = setLo(q.usedRing, v); }); return;
      case REG.QueueDeviceHigh: this.withConfigurableQueue('QueueDevice', (q) => { q.usedRing = setHi(q.usedRing, v); }); return;
      case REG.ShmSel: return;
      default: this.bad('write', offset, size);
    }
  }

  /** Raise a configuration-change interrupt after the device changed its config space. */
  configChanged(): void {
    this.configGeneration = (this.configGeneration + 1) >>> 0;
    this.setInterruptStatus(this.interruptStatus | INT_CONFIG_CHANGE);
  }

  private bad(op: string, offset: number, size: number): number {
    this.log.warn(`${this.name}: unhandled ${size}-byte ${op} at 0x${offset.toString(16)}`);
    return 0;
  }

  private writeDriverFeatures(v: number): void {
    if ((this.status & (ACK | DRIVER)) !== (ACK | DRIVER) || this.status & FEATURES_OK) {
      this.log.warn(`${this.name}: DriverFeatures written in status 0x${this.status.toString(16)}; ignored`);
      return;
    }
    if (this.driverFeaturesSel > 1) {
      if (v !== 0) this.log.warn(`${this.name}: driver features page ${this.driverFeaturesSel} = 0x${v.toString(16)} ignored`);
      return;
    }
    const shift = BigInt(32 * this.driverFeaturesSel);
    const page = (this.device.features >> shift) & 0xffffffffn;
    const wanted = BigInt(v);
    if (wanted & ~page) this.log.warn(`${this.name}: driver accepted unoffered features 0x${(wanted & ~page).toString(16)} (page ${this.driverFeaturesSel}); masked`);
    this.driverFeatures = (this.driverFeatures & ~(0xffffffffn << shift)) | ((wanted & page) << shift);
  }

  private withConfigurableQueue(what: string, apply: (q: Virtqueue) => void): void {
    const q = this.queues[this.queueSel];
    if (!q) {
      this.log.warn(`${this.name}: ${what} for nonexistent queue ${this.queueSel}`);
      return;
    }
    if (q.ready || this.status & DRIVER_OK) {
      this.log.warn(`${this.name}: ${what} written while queue ${this.queueSel} is live; ignored`);
      return;
    }
    apply(q);
  }

  private writeQueueReady(v: number): void {
    const q = this.queues[this.queueSel];
    if (!q) {
      this.log.warn(`${this.name}: QueueReady for nonexistent queue ${this.queueSel}`);
      return;
    }
    if (v === 0) {
      q.ready = false;
      return;
    }
    if (q.ready) return;
    const problem = q.validate(this.mem);
    if (problem) {
      this.log.warn(`${this.name}: queue ${this.queueSel} not made ready: ${problem}`);
      return;
    }
    q.ready = true;
  }

  private queueNotify(index: number): void {
    if (this.state.kind !== 'activated') {
      // Buffers queued before DRIVER_OK are picked up at activation.
      return;
    }
    if (index >= this.queues.length) {
      this.log.warn(`${this.name}: notify for nonexistent queue ${index}`);
      return;
    }
    this.device.queueNotify(index);
  }

  private writeStatus(v: number): void {
    if (v === 0) {
      this.reset();
      return;
    }
    // Only the device sets DEVICE_NEEDS_RESET, but Linux writes status read-modify-write
    // (virtio_add_status), so the bit comes back with e.g. FAILED: drop it, keep the rest.
    v &= ~DEVICE_NEEDS_RESET;
    if (v & FAILED) {
      this.status |= FAILED;
      return;
    }
    const current = this.status & ~DEVICE_NEEDS_RESET;
    if (v === current) return;
    if (ALLOWED_STATUS.get(current) !== v) {
      this.log.warn(`${this.name}: status transition 0x${current.toString(16)} -> 0x${v.toString(16)} not allowed; ignored`);
      return;
    }
    if (v & FEATURES_OK && !(current & FEATURES_OK) && !(this.driverFeatures & bit(VIRTIO_F_VERSION_1))) {
      // Leaving FEATURES_OK clear tells the driver the feature set is unacceptable.
      this.log.warn(`${this.name}: driver did not negotiate VERSION_1; FEATURES_OK refused`);
      return;
    }
    this.status = v | (this.status & DEVICE_NEEDS_RESET);
    if (v & DRIVER_OK) this.activate();
  }

  private activate(): void {
    const mem = this.mem;
    this.state = { kind: 'activated', mem };
    this.queues.forEach((q, index) => {
      if (!q.ready) return;
      q.activate(mem, this.driverFeatures, this.log, (reason) => this.needsReset(`queue ${index}: ${reason}`), () => this.usedBuffers(index));
    });
    this.device.activate(mem, this.queues, this.driverFeatures, {
      usedBuffers: (index) => this.usedBuffers(index),
      needsReset: (reason) => this.needsReset(reason),
    });
    // Pick up buffers the driver queued (and notified) before DRIVER_OK.
    for (let i = 0; i < this.queues.length; i++) {
      if (this.state.kind !== 'activated') break;
      if (this.queues[i].active) this.device.queueNotify(i);
    }
  }

  private usedBuffers(index: number): void {
    const q = this.queues[index];
    if (this.state.kind !== 'activated' || !q) return;
    if (q.needsInterrupt()) this.setInterruptStatus(this.interruptStatus | INT_USED_BUFFER);
  }

  private needsReset(reason: string): void {
    if (this.status & DEVICE_NEEDS_RESET) return;
    this.log.warn(`${this.name}: device needs reset: ${reason}`);
    this.status |= DEVICE_NEEDS_RESET;
    if (this.status & DRIVER_OK) this.configChanged();
  }

  private setInterruptStatus(v: number): void {
    this.interruptStatus = v & (INT_USED_BUFFER | INT_CONFIG_CHANGE);
    this.irq.setLevel(this.interruptStatus !== 0);
  }

  private reset(): void {
    if (this.state.kind === 'activated') this.device.reset();
    this.state = { kind: 'inactive' };
    this.status = 0;
    this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = 0;
    this.driverFeatures = 0n;
    for (const q of this.queues) q.reset();
    this.setInterruptStatus(0);
  }
}

const lo = (v: number): number => v % 0x1_0000_0000;
const hi = (v: number): number => Math.floor(v / 0x1_0000_0000);
const setLo = (cur: number, v: number): number => hi(cur) * 0x1_0000_0000 + v;
// Addresses above 2^53 cannot be guest RAM; clamp so validation rejects them instead of wrapping.
const setHi = (cur: number, v: number): number => (v >= 0x20_0000 ? Number.MAX_SAFE_INTEGER : v * 0x1_0000_0000 + lo(cur));
