// virtio-net segmentation offload: the device's checks on a guest's TSO frames (crafted
// headers, a backend that records what it is given), and TSO both ways through the user
// network to a real host socket on 127.0.0.1, with the mock driver as the guest.
import { expect } from 'chai';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { bit } from '../../../src/devices/virtio/device.ts';
import {
  VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VirtioNet,
} from '../../../src/devices/virtio/net/device.ts';
import {
  NET_HDR_BYTES, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
} from '../../../src/devices/virtio/net/offload.ts';
import type { GuestOffloads, NetBackend, RxOffload, TxSegmentation } from '../../../src/net/backend.ts';
import { finishChecksum, onesSum, pseudoHeaderSum, readU16, writeU16 } from '../../../src/net/checksum.ts';
import { parseEthernet } from '../../../src/net/ethernet.ts';
import { PROTO_TCP, parseIpv4 } from '../../../src/net/ipv4.ts';
import { parseNetSpec, type UserNetSpec } from '../../../src/net/spec.ts';
import { ACK, FIN, PSH, SYN, parseTcp, type TcpSegment } from '../../../src/net/tcp-segment.ts';
import { UserNetwork } from '../../../src/net/user-net.ts';
import { GATEWAY_IP, GUEST_IP, GUEST_MAC, tcpFrame } from '../../net/guest-frames.ts';
import { CapturingLogger, MockVirtioDriver, type MockQueue } from '../../helpers/virtio-driver.ts';

interface HdrFields { flags?: number; gso?: number; hdrLen?: number; gsoSize?: number; csumStart?: number; csumOffset?: number }

function hdr(f: HdrFields = {}): Uint8Array {
  const h = new Uint8Array(NET_HDR_BYTES);
  const le16 = (at: number, v: number): void => {
    h[at] = v & 0xff;
    h[at + 1] = v >> 8;
  };
  h[0] = f.flags ?? 0;
  h[1] = f.gso ?? 0;
  le16(2, f.hdrLen ?? 0);
  le16(4, f.gsoSize ?? 0);
  le16(6, f.csumStart ?? 0);
  le16(8, f.csumOffset ?? 0);
  return h;
}

const pattern = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed + (i >> 8)) & 0xff);

/** A TCP segment from the guest as Linux hands it over for TSO: the checksum field seeded with
 *  the pseudo-header sum, and the header that goes with it. */
function tsoFrame(seg: { seq: number; ack: number; payload: Uint8Array; port: number }, gsoSize = 1448): { header: Uint8Array; frame: Uint8Array } {
  const frame = tcpFrame(GATEWAY_IP, 40001, seg.port, { seq: seg.seq, ack: seg.ack, flags: ACK | PSH, window: 65535, payload: seg.payload });
  const tcpLength = frame.length - 34;
  writeU16(frame, 50, ~finishChecksum(pseudoHeaderSum(GUEST_IP, GATEWAY_IP, PROTO_TCP, tcpLength)) & 0xffff);
  return { header: hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gso: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize, csumStart: 34, csumOffset: 16 }), frame };
}

/** The same as IPv6 (2001:db8::1 -> 2001:db8::2), for the device checks only. */
function tso6Frame(payload: Uint8Array): { header: Uint8Array; frame: Uint8Array } {
  const f = new Uint8Array(14 + 40 + 20 + payload.length);
  writeU16(f, 12, 0x86dd);
  f[14] = 0x60;
  writeU16(f, 18, 20 + payload.length);
  f[20] = PROTO_TCP;
  f[21] = 64;
  f.set([0x20, 0x01, 0x0d, 0xb8], 22);
  f[37] = 1;
  f.set([0x20, 0x01, 0x0d, 0xb8], 38);
  f[53] = 2;
  writeU16(f, 54, 1000);
  writeU16(f, 56, 80);
  f[66] = 0x50;
  f[67] = ACK;
  f.set(payload, 74);
  return { header: hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gso: VIRTIO_NET_HDR_GSO_TCPV6, hdrLen: 74, gsoSize: 1428, csumStart: 54, csumOffset: 16 }), frame: f };
}

/** Records what the device hands over, with the segmentation info; can send offloaded frames. */
class RecordingBackend implements NetBackend {
  readonly checksumsTrusted = true;
  readonly acceptsSegmentation = { tcpv4: true, tcpv6: true };
  readonly producesSegmentation = { tcpv4: true, tcpv6: true };
  readonly sent: { frame: Uint8Array; segmentation?: TxSegmentation }[] = [];
  offloads?: GuestOffloads;
  receiver: (f: Uint8Array, o?: RxOffload) => void = () => undefined;
  send(frame: Uint8Array, segmentation?: TxSegmentation): void {
    this.sent.push({ frame: frame.slice(), segmentation });
  }
  onFrame(r: (f: Uint8Array, o?: RxOffload) => void): void {
    this.receiver = r;
  }
  setGuestOffloads(o: GuestOffloads): void {
    this.offloads = o;
  }
  async close(): Promise<void> {}
}

interface Received { header: Uint8Array; frame: Uint8Array }

/** Plays the guest's side of the rx queue: keeps buffers posted and reassembles merged frames. */
class RxSide {
  private pending: { len: number; written: Uint8Array }[] = [];
  constructor(private readonly rx: MockQueue, private readonly bufferSize = 2048) {}

  post(n: number): void {
    for (let i = 0; i < n; i++) this.rx.add([{ writable: this.bufferSize }]);
    this.rx.notify();
  }

  /** Frames completed so far; every used buffer is replaced by a fresh one. */
  take(): Received[] {
    const used = this.rx.takeUsed();
    if (used.length > 0) this.post(used.length);
    this.pending.push(...used);
    const out: Received[] = [];
    while (this.pending.length > 0) {
      const first = this.pending[0].written;
      const n = first[10] | (first[11] << 8);
      if (this.pending.length < n) break;
      const parts = this.pending.splice(0, n);
      const bytes = Buffer.concat(parts.map((p) => p.written.subarray(0, p.len)));
      out.push({ header: new Uint8Array(bytes.subarray(0, NET_HDR_BYTES)), frame: new Uint8Array(bytes.subarray(NET_HDR_BYTES)) });
    }
    return out;
  }
}

const le16 = (b: Uint8Array, at: number): number => b[at] | (b[at + 1] << 8);

/** Complete a NEEDS_CSUM frame as the guest's stack would, then parse its TCP segment. */
function guestTcp(r: Received): TcpSegment | undefined {
  const frame = r.frame.slice();
  if (r.header[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    const start = le16(r.header, 6);
    writeU16(frame, start + le16(r.header, 8), finishChecksum(onesSum(frame, start, frame.length)));
  }
  const eth = parseEthernet(frame);
  if (!eth || eth.type !== 0x0800) return undefined;
  const ip = parseIpv4(eth.payload);
  if (typeof ip === 'string' || ip.protocol !== PROTO_TCP) return undefined;
  const t = parseTcp(ip.src, ip.dst, ip.payload);
  if (typeof t === 'string') throw new Error(`guest got a bad TCP segment: ${t}`);
  return t;
}

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

async function until<T>(probe: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('virtio-net segmentation offload: device checks', () => {
  function setup(features?: bigint): { d: MockVirtioDriver; be: RecordingBackend; dev: VirtioNet; log: CapturingLogger } {
    const be = new RecordingBackend();
    const log = new CapturingLogger();
    const dev = new VirtioNet({ mac: GUEST_MAC, backend: be, log });
    const d = new MockVirtioDriver(dev, { ramBytes: 8 << 20 });
    d.init({ features });
    return { d, be, dev, log };
  }

  it('offers TSO only as the backend declares it and tells the backend what the guest acked', () => {
    const { d, be } = setup();
    for (const f of [VIRTIO_NET_F_HOST_TSO4, VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6]) expect(d.deviceFeatures & bit(f)).to.not.equal(0n);
    expect(be.offloads).to.deep.equal({ csum: true, tcpv4: true, tcpv6: true });
    // GUEST_TSO4 without GUEST_CSUM is no TSO at all.
    d.init({ features: d.deviceFeatures & ~bit(1) });
    expect(be.offloads).to.deep.equal({ csum: false, tcpv4: false, tcpv6: false });
    d.reset();
    expect(be.offloads).to.deep.equal({ csum: false, tcpv4: false, tcpv6: false });
  });

  it('passes a valid TSO frame (IPv4 and IPv6) on with both checksums completed', () => {
    const { d, be, dev } = setup();
    const v4 = tsoFrame({ seq: 7, ack: 9, payload: pattern(20000), port: 80 });
    v4.frame[24] ^= 0x55; // a stale IP header checksum: recomputed, as a TSO NIC does
    const v6 = tso6Frame(pattern(9000, 3));
    d.queues[1].add([{ data: v4.header }, { data: v4.frame }]);
    d.queues[1].add([{ data: v6.header }, { data: v6.frame }]);
    d.queues[1].notify();
    expect(dev.stats.txRefused).to.deep.equal({});
    expect(be.sent.map((s) => s.segmentation)).to.deep.equal([{ protocol: 'tcpv4', segmentSize: 1448 }, { protocol: 'tcpv6', segmentSize: 1428 }]);
    const ip = parseIpv4(be.sent[0].frame.subarray(14));
    expect(ip).to.not.be.a('string');
    const t = parseTcp(GUEST_IP, GATEWAY_IP, (ip as { payload: Uint8Array }).payload);
    expect(t).to.not.be.a('string');
    expect([...(t as TcpSegment).payload]).to.deep.equal([...pattern(20000)]);
    const f6 = be.sent[1].frame;
    const pseudo6 = onesSum(f6, 22, 54) + PROTO_TCP + (f6.length - 54);
    expect(finishChecksum(onesSum(f6, 54, f6.length, pseudo6))).to.equal(0);
  });

  it('drops malformed TSO requests, counting each reason, and carries on', () => {
    const { d, be, dev, log } = setup();
    const tx = d.queues[1];
    const base = (): { header: Uint8Array; frame: Uint8Array } => tsoFrame({ seq: 1, ack: 1, payload: pattern(3000), port: 80 });
    const bad: [string, (x: { header: Uint8Array; frame: Uint8Array }) => void][] = [
      ['gso-hdr-len', (x) => { x.header[2] = 0xff; x.header[3] = 0x7f; }],
      ['gso-size', (x) => { x.header[4] = 0; x.header[5] = 0; }],
      ['gso-csum-position', (x) => { x.header[6] = 14; }],
      ['gso-csum-position', (x) => { x.header[8] = 6; }],
      ['gso-not-tcp', (x) => { x.frame[23] = 17; }],
      ['gso-type-3', (x) => { x.header[1] = 3; }],
      ['gso-type-129', (x) => { x.header[1] = 0x81; }],
      ['gso-without-csum', (x) => { x.header[0] = 0; }],
      ['gso-ip-length', (x) => writeU16(x.frame, 16, readU16(x.frame, 16) + 100)],
      ['gso-fragment', (x) => writeU16(x.frame, 20, 0x2000)],
      ['gso-tcp-header', (x) => { x.frame[46] = 0x40; }],
      ['gso-not-ipv4', (x) => writeU16(x.frame, 12, 0x86dd)],
    ];
    for (const [, mutate] of bad) {
      const x = base();
      mutate(x);
      tx.add([{ data: x.header }, { data: x.frame }]);
    }
    tx.add([{ data: hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gso: 1, gsoSize: 1000, csumStart: 34, csumOffset: 16 }) }, { data: new Uint8Array(20) }]);
    const ok = base();
    tx.add([{ data: ok.header }, { data: ok.frame }]);
    tx.notify();
    expect(tx.takeUsed()).to.have.length(bad.length + 2);
    const expected: Record<string, number> = {};
    for (const [reason] of bad) expected[reason] = (expected[reason] ?? 0) + 1;
    expected['gso-not-ipv4'] += 1;
    expect(dev.stats.txRefused).to.deep.equal(expected);
    expect(be.sent).to.have.length(1);
    expect(be.sent[0].segmentation).to.deep.equal({ protocol: 'tcpv4', segmentSize: 1448 });
    // One warning per reason, not per frame.
    expect(log.warnings.length).to.equal(Object.keys(expected).length);
  });

  it('refuses TSO the driver did not ack', () => {
    const { d, be, dev } = setup(new MockVirtioDriver(new VirtioNet({ mac: GUEST_MAC, backend: new RecordingBackend() })).deviceFeatures & ~bit(VIRTIO_NET_F_HOST_TSO4));
    const x = tsoFrame({ seq: 1, ack: 1, payload: pattern(3000), port: 80 });
    d.queues[1].add([{ data: x.header }, { data: x.frame }]);
    d.queues[1].notify();
    expect(be.sent).to.have.length(0);
    expect(dev.stats.txRefused).to.deep.equal({ 'gso-type-1': 1 });
  });

  it('describes an offloaded rx frame in the header; without the features, completes or drops it', () => {
    const { d, be, dev } = setup();
    const rx = new RxSide(d.queues[0]);
    rx.post(40);
    const offload: RxOffload = { csumStart: 34, csumOffset: 16, gso: { protocol: 'tcpv4', segmentSize: 1460, headerLength: 54 } };
    be.receiver(pattern(30000), offload);
    const [r] = rx.take();
    expect([r.header[0], r.header[1], le16(r.header, 2), le16(r.header, 4), le16(r.header, 6), le16(r.header, 8)]).to.deep.equal([VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1460, 34, 16]);
    expect(r.frame.length).to.equal(30000);
    // A guest without TSO and GUEST_CSUM: the large segment cannot be delivered, the partial
    // checksum is completed here.
    d.init({ features: d.deviceFeatures & ~(bit(VIRTIO_NET_F_GUEST_TSO4) | bit(1)) });
    const rx2 = new RxSide(d.queues[0]);
    rx2.post(40);
    const dropped = dev.stats.rxDropped;
    be.receiver(pattern(30000), offload);
    expect(dev.stats.rxDropped).to.equal(dropped + 1);
    const small = pattern(200);
    be.receiver(small.slice(), { csumStart: 34, csumOffset: 16 });
    const [s] = rx2.take();
    expect(s.header[0]).to.equal(0);
    // The seed stood for the pseudo header: with it added back, the completed sum verifies.
    expect(finishChecksum(onesSum(s.frame, 34, s.frame.length, readU16(small, 50)))).to.equal(0);
  });
});

describe('virtio-net segmentation offload through the user network', function () {
  this.timeout(20000);
  let server: Server | undefined;
  let dev: VirtioNet | undefined;
  afterEach(async () => {
    await dev?.close();
    server?.close();
  });

  async function connected(features: ((offered: bigint) => bigint) | undefined, onConnection: Parameters<typeof createServer>[1]) {
    server = createServer({ allowHalfOpen: true }, onConnection);
    const port = await listen(server);
    const net = await UserNetwork.create(parseNetSpec('user') as UserNetSpec, { guestMac: GUEST_MAC, initialRtoMs: 200 });
    dev = new VirtioNet({ mac: GUEST_MAC, backend: net });
    const d = new MockVirtioDriver(dev, { ramBytes: 48 << 20 });
    d.init({ features: features?.(d.deviceFeatures), queueSizes: [256, 256] });
    const rx = new RxSide(d.queues[0]);
    rx.post(128);
    const tx = d.queues[1];
    const send = (frame: Uint8Array, header = hdr()): void => {
      tx.add([{ data: header }, { data: frame }]);
      tx.notify();
      tx.takeUsed();
    };
    const gseq = 1000;
    send(tcpFrame(GATEWAY_IP, 40001, port, { seq: gseq, ack: 0, flags: SYN, window: 65535, mss: 1460 }));
    const synAck = await until(() => rx.take().map(guestTcp).find((t) => t && t.flags & SYN), 'SYN-ACK');
    const hseq = synAck!.seq + 1;
    send(tcpFrame(GATEWAY_IP, 40001, port, { seq: gseq + 1, ack: hseq, flags: ACK, window: 65535 }));
    return { d, net, rx, send, port, gseq: gseq + 1, hseq };
  }

  it('takes a 60000-byte TSO frame from the guest as one segment: the host socket gets it intact, one ACK covers it', async () => {
    const got: Buffer[] = [];
    let ended!: () => void;
    const end = new Promise<void>((r) => { ended = r; });
    const c = await connected(undefined, (s) => {
      s.on('data', (b) => got.push(b));
      s.on('end', () => ended());
    });
    expect(c.d.deviceFeatures & bit(VIRTIO_NET_F_HOST_TSO4)).to.not.equal(0n);
    expect(c.d.deviceFeatures & bit(VIRTIO_NET_F_HOST_TSO6)).to.equal(0n); // the stack has no IPv6
    const payload = pattern(60000, 5);
    const x = tsoFrame({ seq: c.gseq, ack: c.hseq, payload, port: c.port });
    c.send(x.frame, x.header);
    const ack = await until(() => c.rx.take().map(guestTcp).find((t) => t && t.ack === ((c.gseq + payload.length) >>> 0)), 'ACK of the segment');
    expect(ack!.flags & ACK).to.equal(ACK);
    c.send(tcpFrame(GATEWAY_IP, 40001, c.port, { seq: c.gseq + payload.length, ack: c.hseq, flags: ACK | FIN, window: 65535 }));
    await end;
    expect(Buffer.concat(got).equals(Buffer.from(payload))).to.equal(true);
    expect(c.net.stats.dropped).to.deep.equal({});
  });

  it('sends large segments to a guest that acked GUEST_TSO4, with GSO header and partial checksum', async () => {
    const blob = Buffer.from(pattern(300_000, 11));
    const c = await connected(undefined, (s) => s.end(blob));
    const received = await receiveAll(c, blob.length);
    expect(received.data.equals(blob)).to.equal(true);
    expect(received.largest).to.be.greaterThan(30000);
    for (const h of received.largeHeaders) {
      expect([h[0], h[1], le16(h, 2), le16(h, 4), le16(h, 6), le16(h, 8)]).to.deep.equal([VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4, 54, 1460, 34, 16]);
    }
  });

  it('falls back to MSS-sized, fully checksummed segments and refuses TSO frames without the features', async () => {
    const blob = Buffer.from(pattern(100_000, 2));
    const c = await connected((f) => f & ~(bit(VIRTIO_NET_F_GUEST_TSO4) | bit(VIRTIO_NET_F_HOST_TSO4)), (s) => s.end(blob));
    const received = await receiveAll(c, blob.length);
    expect(received.data.equals(blob)).to.equal(true);
    expect(received.largest).to.equal(1460);
    expect(received.flags).to.deep.equal([VIRTIO_NET_HDR_F_DATA_VALID]);
    const x = tsoFrame({ seq: c.gseq, ack: c.hseq, payload: pattern(5000), port: c.port });
    c.send(x.frame, x.header);
    expect((dev as VirtioNet).stats.txRefused).to.deep.equal({ 'gso-type-1': 1 });
  });
});

/** Read the host's data as the guest, ACKing in order with a full 64 KiB window, until FIN. */
async function receiveAll(c: { rx: RxSide; send: (f: Uint8Array) => void; port: number; gseq: number; hseq: number }, total: number) {
  const chunks: Uint8Array[] = [];
  let got = 0;
  let largest = 0;
  let fin = false;
  const largeHeaders: Uint8Array[] = [];
  const flags = new Set<number>();
  await until(() => {
    for (const r of c.rx.take()) {
      const t = guestTcp(r);
      if (!t) continue;
      if (t.payload.length > 0) {
        flags.add(r.header[0]);
        largest = Math.max(largest, t.payload.length);
        if (t.payload.length > 1460) largeHeaders.push(r.header);
        if (t.seq === ((c.hseq + got) >>> 0)) {
          chunks.push(t.payload.slice());
          got += t.payload.length;
        }
      }
      if (t.flags & FIN && t.seq === ((c.hseq + got) >>> 0)) fin = true;
      c.send(tcpFrame(GATEWAY_IP, 40001, c.port, { seq: c.gseq, ack: (c.hseq + got + (fin ? 1 : 0)) >>> 0, flags: ACK, window: 65535 }));
    }
    return fin || got > total ? true : undefined;
  }, 'all host data', 15000);
  return { data: Buffer.concat(chunks), largest, largeHeaders, flags: [...flags] };
}
