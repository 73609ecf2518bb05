// virtio-net (virtio 1.2, 5.1): one receive and one transmit queue in front of a NetBackend
// (the user-mode stack, a stream socket). Offers the MAC and link status in config space,
// mergeable receive buffers, and checksum offload both ways: the guest may hand over frames
// with NEEDS_CSUM (completed here before the backend sees them), and frames from a backend that
// computes its own checksums are marked DATA_VALID so the guest skips verifying them. TCP
// segmentation offload is offered only where the backend can honour it: HOST_TSO4/6 when it
// takes one large TCP segment as is (validated and checksummed here first, offload.ts), and
// GUEST_TSO4/6 when it can send large segments, which it does only once the guest acked them.
// No UFO or ECN. Received frames wait in a bounded backlog while the guest has no buffers
// posted; past that they are dropped, as a NIC would.
import type { GuestMemoryAccess } from '../../../memory/guest-memory.ts';
import { NO_GUEST_OFFLOADS, type NetBackend, type RxOffload } from '../../../net/backend.ts';
import {
  bit, readConfigBytes, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_ID_NET,
  type DeviceLogger, type DeviceSignals, type VirtioDevice,
} from '../device.ts';
import type { DescriptorChain, Virtqueue } from '../queue.ts';
import { completeChecksum, NET_HDR_BYTES, prepareTx, rxHeader, type TxOffloads } from './offload.ts';

export { NET_HDR_BYTES, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE } from './offload.ts';

export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_GUEST_TSO6 = 8;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_HOST_TSO6 = 12;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;

export const VIRTIO_NET_S_LINK_UP = 1;

export const NET_QUEUE_SIZE = 256;
export const RX_QUEUE = 0;
export const TX_QUEUE = 1;
/** Largest frame accepted from the guest: a 64 KiB IP packet (TSO) behind a VLAN-tagged header. */
export const MAX_TX_FRAME = 65535 + 18;
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
  /** Transmitted frames refused, by reason (bad checksum or TSO requests). */
  txRefused: Record<string, number>;
}

interface RxFrame {
  frame: Uint8Array;
  offload?: RxOffload;
}

type State =
  | { kind: 'inactive' }
  | { kind: 'activated'; mem: GuestMemoryAccess; rx: Virtqueue; tx: Virtqueue; signals: DeviceSignals; features: bigint };

export class VirtioNet implements VirtioDevice {
  readonly name = 'virtio-net';
  readonly deviceType = VIRTIO_ID_NET;
  readonly features: bigint;
  readonly queueMaxSizes = [NET_QUEUE_SIZE, NET_QUEUE_SIZE];
  readonly configSize = CONFIG_BYTES;
  readonly stats: NetDeviceStats = { txFrames: 0, rxFrames: 0, txDropped: 0, rxDropped: 0, txRefused: {} };
  readonly mac: Uint8Array;
  private readonly config = new Uint8Array(CONFIG_BYTES);
  private readonly backend: NetBackend;
  private readonly log: DeviceLogger;
  private state: State = { kind: 'inactive' };
  private backlog: RxFrame[] = [];
  private txOffloads: TxOffloads = { csum: false, tcpv4: false, tcpv6: false };
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
    const takes = this.backend.acceptsSegmentation;
    const makes = this.backend.producesSegmentation;
    this.features =
      bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX) |
      bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS) | bit(VIRTIO_NET_F_MRG_RXBUF) |
      bit(VIRTIO_NET_F_CSUM) | bit(VIRTIO_NET_F_GUEST_CSUM) |
      (takes?.tcpv4 ? bit(VIRTIO_NET_F_HOST_TSO4) : 0n) | (takes?.tcpv6 ? bit(VIRTIO_NET_F_HOST_TSO6) : 0n) |
      (makes?.tcpv4 ? bit(VIRTIO_NET_F_GUEST_TSO4) : 0n) | (makes?.tcpv6 ? bit(VIRTIO_NET_F_GUEST_TSO6) : 0n);
    this.backend.onFrame((f, offload) => this.receive(f, offload));
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
    // Segmentation needs the matching checksum offload (5.1.3.1); a driver acking one without
    // the other gets neither.
    const csum = this.has(VIRTIO_NET_F_CSUM);
    this.txOffloads = { csum, tcpv4: csum && this.has(VIRTIO_NET_F_HOST_TSO4), tcpv6: csum && this.has(VIRTIO_NET_F_HOST_TSO6) };
    const guestCsum = this.has(VIRTIO_NET_F_GUEST_CSUM);
    this.backend.setGuestOffloads?.({
      csum: guestCsum,
      tcpv4: guestCsum && this.has(VIRTIO_NET_F_GUEST_TSO4),
      tcpv6: guestCsum && this.has(VIRTIO_NET_F_GUEST_TSO6),
    });
  }

  reset(): void {
    this.state = { kind: 'inactive' };
    this.backlog = [];
    this.held = [];
    this.backend.setGuestOffloads?.(NO_GUEST_OFFLOADS);
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
  receive(frame: Uint8Array, offload?: RxOffload): void {
    if (this.state.kind !== 'activated' || frame.length === 0) {
      this.stats.rxDropped++;
      return;
    }
    if (offload && !this.guestTakes(offload)) {
      // The backend raced a renegotiation: finish the checksum here; a large segment cannot be cut.
      if (offload.gso || !completeChecksum(frame, offload)) {
        this.stats.rxDropped++;
        return;
      }
      offload = undefined;
    }
    if (this.backlog.length >= MAX_RX_BACKLOG) {
      this.stats.rxDropped++;
      this.log.debug('virtio-net: rx backlog full, dropping a frame');
      return;
    }
    this.backlog.push({ frame, offload });
    this.deliver();
  }

  private has(feature: number): boolean {
    return this.state.kind === 'activated' && (this.state.features & bit(feature)) !== 0n;
  }

  /** Whether the negotiated features let the guest take this frame's offload as described. */
  private guestTakes(o: RxOffload): boolean {
    if (!this.has(VIRTIO_NET_F_GUEST_CSUM)) return false;
    if (!o.gso) return true;
    return this.has(o.gso.protocol === 'tcpv4' ? VIRTIO_NET_F_GUEST_TSO4 : VIRTIO_NET_F_GUEST_TSO6);
  }

  private deliver(): void {
    const st = this.state;
    if (st.kind !== 'activated' || !st.rx.active) return;
    const mergeable = this.has(VIRTIO_NET_F_MRG_RXBUF);
    const dataValid = this.backend.checksumsTrusted && this.has(VIRTIO_NET_F_GUEST_CSUM);
    let delivered = 0;
    while (this.backlog.length > 0) {
      const { frame, offload } = this.backlog[0];
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
      const hdr = rxHeader(offload, dataValid);
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
      const prepared = len < NET_HDR_BYTES || len > NET_HDR_BYTES + MAX_TX_FRAME ? 'chain-length' : prepareTx(c.readBytes(st.mem, 0, len), this.txOffloads);
      st.tx.addUsed(c.head, 0);
      if (typeof prepared === 'string') this.refuse(prepared, len);
      else {
        this.stats.txFrames++;
        this.backend.send(prepared.frame, prepared.segmentation);
        if (this.state !== st) return; // the backend's reply reset the device
      }
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

  /** Count a refused transmit; warn once per reason (the guest controls how often). */
  private refuse(reason: string, chainLength: number): void {
    this.stats.txDropped++;
    const seen = this.stats.txRefused[reason] ?? 0;
    this.stats.txRefused[reason] = seen + 1;
    (seen === 0 ? this.log.warn : this.log.debug).call(this.log, `virtio-net: dropping a ${chainLength}-byte tx chain (${reason})`);
  }
}
