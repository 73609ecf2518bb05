// virtio-rng (virtio 1.2, 5.4): fills each writable buffer the driver offers with bytes from
// the host's cryptographic source. Requests are capped so a driver offering huge buffers
// cannot make the VMM generate unbounded amounts of entropy in one go.
import { randomFillSync } from 'node:crypto';
import type { GuestMemoryAccess } from '../../../memory/guest-memory.ts';
import {
  bit, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_ID_RNG,
  type DeviceLogger, type DeviceSignals, type VirtioDevice,
} from '../device.ts';
import type { Virtqueue } from '../queue.ts';

export const RNG_QUEUE_SIZE = 64;
/** Bytes handed out per request at most (Linux asks for 64 at a time at most anyway). */
export const MAX_RNG_BYTES_PER_REQUEST = 64 * 1024;
/** Requests served per notification; the rest wait for the next turn of the event loop. */
const MAX_REQUESTS_PER_TURN = RNG_QUEUE_SIZE;

export interface RngOptions {
  log?: DeviceLogger;
  /** The entropy source; the host's CSPRNG unless a test replaces it. */
  fill?: (buf: Uint8Array) => void;
}

type State = { kind: 'inactive' } | { kind: 'activated'; mem: GuestMemoryAccess; queue: Virtqueue; signals: DeviceSignals };

export class VirtioRng implements VirtioDevice {
  readonly name = 'virtio-rng';
  readonly deviceType = VIRTIO_ID_RNG;
  readonly features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX);
  readonly queueMaxSizes = [RNG_QUEUE_SIZE];
  readonly configSize = 0;
  private state: State = { kind: 'inactive' };
  private readonly log: DeviceLogger;
  private readonly fill: (buf: Uint8Array) => void;
  private scheduled = false;
  /** Bytes handed to the guest since creation (for stats and tests). */
  bytesServed = 0;

  constructor(opts: RngOptions = {}) {
    this.log = opts.log ?? silentLogger;
    this.fill = opts.fill ?? ((b) => randomFillSync(b));
  }

  readConfig(): number {
    return 0;
  }

  writeConfig(offset: number, size: number): void {
    this.log.warn(`virtio-rng: ignoring ${size}-byte config write at ${offset}`);
  }

  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], _features: bigint, signals: DeviceSignals): void {
    this.state = { kind: 'activated', mem, queue: queues[0], signals };
  }

  reset(): void {
    this.state = { kind: 'inactive' };
  }

  queueNotify(index: number): void {
    if (index !== 0) {
      this.log.warn(`virtio-rng: notify for queue ${index}`);
      return;
    }
    this.serve();
  }

  private serve(): void {
    const st = this.state;
    if (st.kind !== 'activated' || !st.queue.active) return;
    let served = 0;
    for (; served < MAX_REQUESTS_PER_TURN; served++) {
      const chain = st.queue.pop();
      if (!chain) break;
      const len = Math.min(chain.writableLength, MAX_RNG_BYTES_PER_REQUEST);
      if (chain.writableLength === 0) this.log.warn('virtio-rng: request without a writable buffer');
      const bytes = new Uint8Array(len);
      this.fill(bytes);
      const written = chain.writeBytes(st.mem, 0, bytes);
      this.bytesServed += written;
      st.queue.addUsed(chain.head, written);
    }
    if (served > 0) st.signals.usedBuffers(0);
    // A full turn's worth: continue later instead of spinning on a driver that keeps refilling.
    if (served === MAX_REQUESTS_PER_TURN && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.serve();
      });
    }
  }
}
