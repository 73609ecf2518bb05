// virtio-net (virtio 1.2, 5.1): one receive and one transmit queue in front of a NetBackend
// (the user-mode stack, a stream socket). Offers the MAC and link status in config space,
// mergeable receive buffers, and checksum offload both ways: the guest may hand over frames
// with NEEDS_CSUM (completed here before the backend sees them), and frames from a backend that
// computes its own checksums are marked DATA_VALID so the guest skips verifying them. No
// segmentation offload (TSO/UFO) is offered. Received frames wait in a bounded backlog while
// the guest has no buffers posted; past that they are dropped, as a NIC would.
import type { GuestMemoryAccess } from '../../../memory/guest-memory.ts';
import type { NetBackend } from '../../../net/backend.ts';
import { finishChecksum, onesSum } from '../../../net/checksum.ts';
import {
  bit, readConfigBytes, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_ID_NET,
  type DeviceLogger, type DeviceSignals, type VirtioDevice,
} from '../device.ts';
import type { DescriptorChain, Virtqueue } from '../queue.ts';

export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_S_LINK_UP = 1;

/** virtio_net_hdr with num_buffers: always 12 bytes under VERSION_1. */
export const NET_HDR_BYTES = 12;
export const NET_QUEUE_SIZE = 256;
export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
/** Largest frame accepted from the guest (no TSO: MTU-sized, with generous slack). */
export const MAX_TX_FRAME = 65535;
/** Frames waiting for guest buffers; more are dropped. */
export const MAX_RX_BACKLOG = 256;
/** Buffers one received frame may span with mergeable buffers. */
const MAX_RX_BUFFERS_PER_FRAME = 64;
const MAX_TX_PER_TURN = NET_QUEUE_SIZE;
const CONFIG_BYTES = 10; // mac[6], status, max_virtqueue_pairs

export interface NetDeviceOptions {
  mac: Uint8Array;
  backend: NetBackend;
  log?: DeviceLogger;
}

export interface NetDeviceStats {
  txFrames: number;
  rxFrames: number;
  txDropped: number;
  rxDropped: number;
}

type State =
  | { kind: 'inactive' }
  | { kind: 'activated'; mem: GuestMemoryAccess; rx: Virtqueue; tx: Virtqueue; signals: DeviceSignals; features: bigint };

export class VirtioNet implements VirtioDevice {
  readonly name = 'virtio-net';
  readonly deviceType = VIRTIO_ID_NET;
  readonly features =
    bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX) |
    bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_MRG_RXBUF) |
    bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_GUEST_CSUM);
  readonly queueMaxSizes = [NET_QUEUE_SIZE, NET_QUEUE_SIZE];
  readonly configSize = CONFIG_BYTES;
  readonly stats: NetDeviceStats = { txFrames: 0, rxFrames: 0, txDropped: 0, rxDropped: 0 };
  readonly mac: Uint8Array;
  private readonly config = new Uint8Array(CONFIG_BYTES);
  private readonly backend: NetBackend;
  private readonly log: DeviceLogger;
  private state: State = { kind: 'inactive' };
  private backlog: Uint8Array[] = [];
  /** Receive chains popped but not yet filled (a frame needing more buffers than are posted). */
  private held: DescriptorChain[] = [];
  private txScheduled = false;

  constructor(opts: NetDeviceOptions) {
    this.mac = opts.mac.slice(0, 6);
    this.backend = opts.backend;
    this.log = opts.log ?? silentLogger;
    this.config.set(this.mac, 0);
    this.config[6] = VIRTIO_NET_S_LINK_UP;
    this.config[8] = 1;
    this.backend.onFrame((f) => this.receive(f));
  }

  readConfig(offset: number, size: number): number {
    return readConfigBytes(this.config, offset, size);
  }

  writeConfig(offset: number, size: number): void {
    // The MAC is writable only with VIRTIO_NET_F_CTRL_MAC_ADDR-era legacy drivers; not offered.
    this.log.warn(`virtio-net: ignoring ${size}-byte config write at ${offset}`);
  }

  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], features: bigint, signals: DeviceSignals): void {
    this.state = { kind: 'activated', mem, rx: queues[RX_QUEUE], tx: queues[TX_QUEUE], signals, features };
    this.held = [];
  }

  reset(): void {
    this.state = { kind: 'inactive' };
    this.backlog = [];
    this.held = [];
  }

  queueNotify(index: number): void {
    if (index === TX_QUEUE) this.transmit();
    else if (index === RX_QUEUE) this.deliver();
    else this.log.warn(`virtio-net: notify for queue ${index}`);
  }

  async close(): Promise<void> {
    this.reset();
    await this.backend.close();
  }

  /** A frame from the backend for the guest. */
  receive(frame: Uint8Array): void {
    if (this.state.kind !== 'activated' || frame.length === 0) {
      this.stats.rxDropped++;
      return;
    }
    if (this.backlog.length >= MAX_RX_BACKLOG) {
      this.stats.rxDropped++;
      this.log.debug('virtio-net: rx backlog full, dropping a frame');
      return;
    }
    this.backlog.push(frame);
    this.deliver();
  }

  private has(feature: number): boolean {
    return this.state.kind === 'activated' && (this.state.features & bit(feature)) !== 0n;
  }

  private deliver(): void {
    const st = this.state;
    if (st.kind !== 'activated' || !st.rx.active) return;
    const mergeable = this.has(VIRTIO_NET_F_MRG_RXBUF);
    const dataValid = this.backend.checksumsTrusted && this.has(VIRTIO_NET_F_GUEST_CSUM);
    let delivered = 0;
    while (this.backlog.length > 0) {
      const frame = this.backlog[0];
      const need = NET_HDR_BYTES + frame.length;
      let have = this.held.reduce((n, c) => n + c.writableLength, 0);
      while (have < need && this.held.length < (mergeable ? MAX_RX_BUFFERS_PER_FRAME : 1)) {
        const c = st.rx.pop();
        if (!c) break;
        if (c.writableLength === 0) {
          this.log.warn('virtio-net: rx buffer without writable space');
          st.rx.addUsed(c.head, 0);
          delivered++;
          continue;
        }
        this.held.push(c);
        have += c.writableLength;
      }
      if (have < need) {
        const full = this.held.length >= (mergeable ? MAX_RX_BUFFERS_PER_FRAME : 1);
        if (!full) break; // wait for the guest to post more buffers
        // The frame cannot fit in what the guest may give it: drop it, keep the buffers.
        this.backlog.shift();
        this.stats.rxDropped++;
        this.log.debug(`virtio-net: ${frame.length}-byte frame does not fit the guest's rx buffers`);
        continue;
      }
      this.backlog.shift();
      const hdr = new Uint8Array(NET_HDR_BYTES);
      hdr[0] = dataValid ? VIRTIO_NET_HDR_F_DATA_VALID : 0;
      const data = new Uint8Array(need);
      data.set(frame, NET_HDR_BYTES);
      let pos = 0;
      let used = 0;
      for (const c of this.held) {
        if (pos >= need) break;
        used++;
        pos += Math.min(c.writableLength, need - pos);
      }
      hdr[10] = used & 0xff;
      hdr[11] = used >> 8;
      data.set(hdr, 0);
      pos = 0;
      for (const c of this.held.splice(0, used)) {
        const n = c.writeBytes(st.mem, 0, data.subarray(pos, Math.min(need, pos + c.writableLength)));
        pos += n;
        st.rx.addUsed(c.head, n);
        delivered++;
      }
      this.stats.rxFrames++;
    }
    if (delivered > 0) st.signals.usedBuffers(RX_QUEUE);
  }

  private transmit(): void {
    const st = this.state;
    if (st.kind !== 'activated' || !st.tx.active) return;
    let n = 0;
    for (; n < MAX_TX_PER_TURN; n++) {
      const c = st.tx.pop();
      if (!c) break;
      const len = c.readableLength;
      let frame: Uint8Array | undefined;
      if (len < NET_HDR_BYTES || len > NET_HDR_BYTES + MAX_TX_FRAME) this.log.warn(`virtio-net: tx chain of ${len} bytes`);
      else frame = this.prepare(c.readBytes(st.mem, 0, len));
      st.tx.addUsed(c.head, 0);
      if (frame) {
        this.stats.txFrames++;
        this.backend.send(frame);
        if (this.state !== st) return; // the backend's reply reset the device
      } else this.stats.txDropped++;
    }
    if (n > 0) st.signals.usedBuffers(TX_QUEUE);
    if (n === MAX_TX_PER_TURN && !this.txScheduled) {
      this.txScheduled = true;
      setImmediate(() => {
        this.txScheduled = false;
        this.transmit();
      });
    }
  }

  /** Strip the header and complete a partial checksum; undefined when the request is invalid. */
  private prepare(bytes: Uint8Array): Uint8Array | undefined {
    const flags = bytes[0];
    const gso = bytes[1];
    const frame = bytes.subarray(NET_HDR_BYTES);
    if (gso !== VIRTIO_NET_HDR_GSO_NONE) {
      this.log.warn(`virtio-net: tx with gso_type ${gso}, which was not offered`);
      return undefined;
    }
    if (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
      const start = bytes[6] | (bytes[7] << 8);
      const offset = bytes[8] | (bytes[9] << 8);
      if (!this.has(VIRTIO_NET_F_CSUM) || start + offset + 2 > frame.length) {
        this.log.warn(`virtio-net: tx NEEDS_CSUM with start ${start} offset ${offset} for a ${frame.length}-byte frame`);
        return undefined;
      }
      // The driver seeded the field with the pseudo-header sum; fold in everything from start.
      let c = finishChecksum(onesSum(frame, start, frame.length));
      // UDP over IPv4 sends a computed zero as 0xffff (zero means "no checksum", RFC 768).
      if (c === 0 && frame.length > 23 && frame[12] === 0x08 && frame[13] === 0x00 && frame[23] === 17) c = 0xffff;
      frame[start + offset] = c >> 8;
      frame[start + offset + 1] = c & 0xff;
    }
    return frame;
  }
}
