// virtio-fs (virtio 1.2, 5.11): config space tag[36] + num_request_queues; queue 0 is hiprio
// (FORGET/BATCH_FORGET, no replies), queue 1 the single request queue. Each chain's readable
// part is a FUSE request, its writable part takes the reply. Requests run concurrently on
// Node's async fs (at most MAX_IN_FLIGHT), replies reach the used ring in completion order, and
// a reset bumps the epoch so a request finishing afterwards never writes guest memory.
import type { GuestMemoryAccess } from '../../../memory/guest-memory.ts';
import {
  bit, readConfigBytes, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_ID_FS,
  type DeviceLogger, type DeviceSignals, type VirtioDevice,
} from '../device.ts';
import type { DescriptorChain, Virtqueue } from '../queue.ts';
import { FuseDispatcher, MAX_REPLY_BYTES, MAX_REQUEST_BYTES } from './dispatcher.ts';
import { HostFs, type HostFsOptions } from './host-fs.ts';

export const FS_QUEUE_SIZE = 1024;
export const HIPRIO_QUEUE_SIZE = 128;
export const MAX_IN_FLIGHT = 64;
export const TAG_BYTES = 36;
const CONFIG_BYTES = TAG_BYTES + 4;

/** The warning about shares without race protection is given once per process. */
let warnedRacy = false;

export class VirtioFsError extends Error {
  override readonly name = 'VirtioFsError';
}

export interface VirtioFsOptions extends HostFsOptions {
  tag: string;
  log?: DeviceLogger;
}

type Active = { kind: 'activated'; mem: GuestMemoryAccess; queues: readonly Virtqueue[]; signals: DeviceSignals; epoch: number };

export class VirtioFs implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_FS;
  readonly features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX);
  readonly queueMaxSizes = [HIPRIO_QUEUE_SIZE, FS_QUEUE_SIZE];
  readonly configSize = CONFIG_BYTES;
  readonly name: string;
  private readonly config = new Uint8Array(CONFIG_BYTES);
  private readonly log: DeviceLogger;
  private readonly dispatcher: FuseDispatcher;
  private state: { kind: 'inactive' } | Active = { kind: 'inactive' };
  private epoch = 0;
  private inFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  private closed = false;

  static async open(hostPath: string, opts: VirtioFsOptions): Promise<VirtioFs> {
    let fs: HostFs;
    try {
      fs = await HostFs.open(hostPath, opts);
    } catch (e) {
      throw new VirtioFsError(`cannot share ${hostPath}: ${(e as Error).message}`);
    }
    return new VirtioFs(fs, opts);
  }

  constructor(readonly hostFs: HostFs, opts: VirtioFsOptions) {
    const tag = Buffer.from(opts.tag);
    if (tag.length === 0 || tag.length > TAG_BYTES) throw new VirtioFsError(`virtio-fs tag '${opts.tag}' must be 1-${TAG_BYTES} bytes`);
    this.name = `virtio-fs:${opts.tag}`;
    this.log = opts.log ?? silentLogger;
    this.config.set(tag, 0);
    new DataView(this.config.buffer).setUint32(TAG_BYTES, 1, true); // num_request_queues
    this.dispatcher = new FuseDispatcher(hostFs, this.log);
    if (!hostFs.raceFree && !warnedRacy) {
      warnedRacy = true;
      this.log.warn(`${this.name}: the nodevisor_hostfs addon is not loaded, so shares are confined by path checks that a host process writing into the share can race (docs/security.md); \`npm rebuild nodevisor\` builds it`);
    }
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  readConfig(offset: number, size: number): number {
    return readConfigBytes(this.config, offset, size);
  }

  writeConfig(offset: number, size: number): void {
    this.log.warn(`${this.name}: ignoring ${size}-byte config write at ${offset}`);
  }

  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], _features: bigint, signals: DeviceSignals): void {
    this.state = { kind: 'activated', mem, queues, signals, epoch: ++this.epoch };
  }

  reset(): void {
    this.epoch++;
    this.state = { kind: 'inactive' };
    // A new driver starts with FUSE_INIT and a fresh inode table; open host files are closed.
    this.dispatcher.initialized = false;
    const p = this.hostFs.destroy().catch((e: Error) => this.log.warn(`${this.name}: reset: ${e.message}`));
    this.track(p);
  }

  queueNotify(index: number): void {
    if (index === 0 || index === 1) this.process(index);
    else this.log.warn(`${this.name}: notify for queue ${index}`);
  }

  /** Resolves once every request started so far has completed (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.epoch++;
    this.state = { kind: 'inactive' };
    await this.idle();
    await this.hostFs.close();
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private process(index: number): void {
    const s = this.state;
    if (s.kind !== 'activated' || this.closed) return;
    const q = s.queues[index];
    if (!q?.active) return;
    while (this.inFlight < MAX_IN_FLIGHT) {
      const chain = q.pop();
      if (!chain) break;
      this.start(s, index, chain);
    }
  }

  private start(s: Active, index: number, chain: DescriptorChain): void {
    const q = s.queues[index];
    let req: Uint8Array;
    try {
      if (chain.readableLength > MAX_REQUEST_BYTES) {
        this.log.warn(`${this.name}: request of ${chain.readableLength} bytes dropped`);
        q.addUsed(chain.head, 0);
        s.signals.usedBuffers(index);
        return;
      }
      req = chain.readBytes(s.mem, 0, MAX_REQUEST_BYTES);
    } catch (e) {
      this.log.warn(`${this.name}: reading request failed: ${(e as Error).message}`);
      try {
        q.addUsed(chain.head, 0); // give the buffer back so the driver is not left waiting
        s.signals.usedBuffers(index);
      } catch { /* the queue marks itself broken */ }
      return;
    }
    this.inFlight++;
    const capacity = Math.min(chain.writableLength, MAX_REPLY_BYTES + 16);
    const p = this.dispatcher.dispatch(req, capacity)
      .catch((e: unknown) => {
        this.log.warn(`${this.name}: request failed: ${(e as Error).message}`);
        return undefined;
      })
      .then((reply) => {
        this.inFlight--;
        if (this.state.kind !== 'activated' || this.state.epoch !== s.epoch) return; // reset meanwhile
        try {
          const written = reply ? chain.writeBytes(s.mem, 0, reply) : 0;
          q.addUsed(chain.head, written);
          s.signals.usedBuffers(index);
        } catch (e) {
          this.log.warn(`${this.name}: completing request ${chain.head} failed: ${(e as Error).message}`);
        }
        this.process(index);
      });
    this.track(p);
  }
}
