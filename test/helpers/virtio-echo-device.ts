// A minimal virtio device for transport and queue tests: it records what the transport does
// to it and, when notified, pops every chain, records its segments and returns it with its
// writable length (filling the writable bytes with 0xab).
import type { GuestMemoryAccess } from '../../src/memory/guest-memory.ts';
import { bit, readConfigBytes, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, type DeviceSignals, type VirtioDevice } from '../../src/devices/virtio/device.ts';
import type { Segment, Virtqueue } from '../../src/devices/virtio/queue.ts';

export const ECHO_DEVICE_ID = 0x2a;

export class EchoDevice implements VirtioDevice {
  readonly name = 'echo';
  readonly deviceType = ECHO_DEVICE_ID;
  readonly configSize = 8;
  readonly config = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
  readonly configWrites: [number, number, number][] = [];
  activations = 0;
  resets = 0;
  ackedFeatures = 0n;
  readonly notifies: number[] = [];
  /** Segments of every chain popped, in order. */
  readonly chains: { queue: number; head: number; segments: readonly Segment[] }[] = [];
  signals?: DeviceSignals;
  mem?: GuestMemoryAccess;
  queues: readonly Virtqueue[] = [];
  /** When false, notifications are only recorded. */
  echo = true;

  constructor(
    readonly features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX),
    readonly queueMaxSizes: readonly number[] = [256, 16],
  ) {}

  readConfig(offset: number, size: number): number {
    return readConfigBytes(this.config, offset, size);
  }
  writeConfig(offset: number, size: number, value: number): void {
    this.configWrites.push([offset, size, value]);
  }
  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], acked: bigint, signals: DeviceSignals): void {
    this.activations++;
    this.mem = mem;
    this.queues = queues;
    this.ackedFeatures = acked;
    this.signals = signals;
  }
  reset(): void {
    this.resets++;
    this.mem = undefined;
    this.signals = undefined;
  }
  queueNotify(index: number): void {
    this.notifies.push(index);
    if (!this.echo || !this.mem) return;
    const q = this.queues[index];
    let any = false;
    for (let chain = q.pop(); chain; chain = q.pop()) {
      this.chains.push({ queue: index, head: chain.head, segments: chain.segments });
      const n = chain.writableLength;
      chain.writeBytes(this.mem, 0, new Uint8Array(n).fill(0xab));
      q.addUsed(chain.head, n);
      any = true;
    }
    if (any) this.signals?.usedBuffers(index);
  }
}
