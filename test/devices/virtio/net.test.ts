import { expect } from 'chai';
import { REG } from '../../../src/devices/virtio/mmio-transport.ts';
import { bit, VIRTIO_F_VERSION_1, VIRTIO_ID_NET } from '../../../src/devices/virtio/device.ts';
import {
  MAX_RX_BACKLOG, NET_HDR_BYTES, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_MAC, VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VirtioNet,
} from '../../../src/devices/virtio/net/device.ts';
import type { NetBackend } from '../../../src/net/backend.ts';
import { finishChecksum, onesSum, parseIp, pseudoHeaderSum, writeU16 } from '../../../src/net/checksum.ts';
import { ARP_REQUEST, BROADCAST_MAC, ETHERTYPE_ARP, buildArp, buildEthernet, parseArp, parseEthernet } from '../../../src/net/ethernet.ts';
import { PROTO_UDP, buildIpv4 } from '../../../src/net/ipv4.ts';
import { parseNetSpec, type UserNetSpec } from '../../../src/net/spec.ts';
import { parseUdp } from '../../../src/net/udp.ts';
import { UserNetwork } from '../../../src/net/user-net.ts';
import { BASE_FEATURES, MockVirtioDriver } from '../../helpers/virtio-driver.ts';

const MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);

/** A backend that records what the device transmits and lets the test inject frames. */
class LoopBackend implements NetBackend {
  readonly sent: Uint8Array[] = [];
  receiver: (f: Uint8Array) => void = () => undefined;
  constructor(readonly checksumsTrusted = true) {}
  send(f: Uint8Array): void {
    this.sent.push(f.slice());
  }
  onFrame(r: (f: Uint8Array) => void): void {
    this.receiver = r;
  }
  async close(): Promise<void> {}
}

const hdr = (fields: { flags?: number; gso?: number; csumStart?: number; csumOffset?: number } = {}): Uint8Array => {
  const h = new Uint8Array(NET_HDR_BYTES);
  h[0] = fields.flags ?? 0;
  h[1] = fields.gso ?? 0;
  h[6] = (fields.csumStart ?? 0) & 0xff;
  h[7] = (fields.csumStart ?? 0) >> 8;
  h[8] = (fields.csumOffset ?? 0) & 0xff;
  h[9] = (fields.csumOffset ?? 0) >> 8;
  return h;
};

const frame = (n: number, seed = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

function setup(opts: { features?: bigint; trusted?: boolean } = {}): { d: MockVirtioDriver; be: LoopBackend; dev: VirtioNet } {
  const be = new LoopBackend(opts.trusted ?? true);
  const dev = new VirtioNet({ mac: MAC, backend: be });
  const d = new MockVirtioDriver(dev);
  d.init({ features: opts.features });
  return { d, be, dev };
}

describe('virtio-net', () => {
  it('offers MAC, STATUS, MRG_RXBUF and checksum offload, and no TSO; config holds MAC and link up', () => {
    const be = new LoopBackend();
    const d = new MockVirtioDriver(new VirtioNet({ mac: MAC, backend: be }));
    expect(d.reg(REG.DeviceId)).to.equal(VIRTIO_ID_NET);
    const f = d.deviceFeatures;
    for (const b of [VIRTIO_F_VERSION_1, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM]) expect(f & bit(b)).to.not.equal(0n);
    for (const tso of [7, 8, 11, 12]) expect(f & bit(tso)).to.equal(0n);
    expect([0, 1, 2, 3, 4, 5].map((i) => d.config(i, 1))).to.deep.equal([...MAC]);
    expect(d.config(6, 2)).to.equal(1);
  });

  it('transmits frames without the header, direct and indirect, and completes with length 0', () => {
    const { d, be } = setup();
    const tx = d.queues[1];
    tx.add([{ data: hdr() }, { data: frame(60) }]);
    tx.add([{ data: new Uint8Array([...hdr(), ...frame(100, 3)]) }], { indirect: true });
    tx.notify();
    expect(tx.takeUsed().map((u) => u.len)).to.deep.equal([0, 0]);
    expect(be.sent.map((f) => [...f])).to.deep.equal([[...frame(60)], [...frame(100, 3)]]);
    expect(d.irq.level).to.equal(true);
  });

  it('completes a partial checksum (NEEDS_CSUM) on tx, UDP zero as 0xffff', () => {
    const { d, be } = setup();
    const src = parseIp('10.0.2.15')!;
    const dst = parseIp('10.0.2.2')!;
    const udp = new Uint8Array(8 + 20);
    writeU16(udp, 0, 1000);
    writeU16(udp, 2, 2000);
    writeU16(udp, 4, udp.length);
    udp.set(frame(20), 8);
    // As Linux does: the field holds the folded pseudo-header sum, not complemented.
    writeU16(udp, 6, ~finishChecksum(pseudoHeaderSum(src, dst, PROTO_UDP, udp.length)) & 0xffff);
    const eth = buildEthernet(new Uint8Array(6), MAC, 0x0800, buildIpv4(src, dst, PROTO_UDP, udp));
    d.queues[1].add([{ data: hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 34, csumOffset: 6 }) }, { data: eth }]);
    d.queues[1].notify();
    const out = be.sent[0];
    const parsed = parseUdp(src, dst, out.subarray(34));
    expect(parsed).to.not.be.a('string');
    expect(finishChecksum(onesSum(out, 34, out.length, pseudoHeaderSum(src, dst, PROTO_UDP, udp.length)))).to.equal(0);
  });

  it('drops tx with an out-of-range checksum position, GSO, or a short header, and carries on', () => {
    const { d, be, dev } = setup();
    const tx = d.queues[1];
    tx.add([{ data: hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 50, csumOffset: 16 }) }, { data: frame(60) }]);
    tx.add([{ data: hdr({ gso: 1 }) }, { data: frame(60) }]);
    tx.add([{ data: new Uint8Array(5) }]);
    tx.add([{ data: hdr() }, { data: frame(42) }]);
    tx.notify();
    expect(tx.takeUsed()).to.have.length(4);
    expect(be.sent.map((f) => f.length)).to.deep.equal([42]);
    expect(dev.stats.txDropped).to.equal(3);
  });

  it('refuses NEEDS_CSUM when the driver did not accept CSUM', () => {
    const { d, be } = setup({ features: BASE_FEATURES | bit(VIRTIO_NET_F_MRG_RXBUF) });
    d.queues[1].add([{ data: hdr({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, csumStart: 14, csumOffset: 2 }) }, { data: frame(60) }]);
    d.queues[1].notify();
    expect(be.sent).to.have.length(0);
  });

  it('receives into mergeable buffers: one frame over three, num_buffers in the first header', () => {
    const { d, be } = setup();
    const rx = d.queues[0];
    for (let i = 0; i < 4; i++) rx.add([{ writable: 600 }]);
    rx.notify();
    const f = frame(1500, 9);
    be.receiver(f);
    const used = rx.takeUsed();
    expect(used.map((u) => u.len)).to.deep.equal([600, 600, 312]);
    const all = new Uint8Array([...used[0].written.subarray(0, 600), ...used[1].written.subarray(0, 600), ...used[2].written.subarray(0, 312)]);
    expect(all[0]).to.equal(VIRTIO_NET_HDR_F_DATA_VALID);
    expect(all[10] | (all[11] << 8)).to.equal(3);
    expect([...all.subarray(NET_HDR_BYTES)]).to.deep.equal([...f]);
    expect(d.irq.level).to.equal(true);
  });

  it('holds frames until the guest posts buffers, then delivers in order; DATA_VALID only for trusted backends', () => {
    const { d, be } = setup({ trusted: false });
    be.receiver(frame(100, 1));
    be.receiver(frame(200, 2));
    const rx = d.queues[0];
    expect(rx.usedIndex).to.equal(0);
    rx.add([{ writable: 150 }]);
    rx.notify();
    expect(rx.takeUsed().map((u) => u.len)).to.deep.equal([112]);
    rx.add([{ writable: 100 }]);
    rx.notify();
    expect(rx.usedIndex).to.equal(1); // 212 bytes needed: waits for more
    rx.add([{ writable: 150 }]);
    rx.notify();
    const used = rx.takeUsed();
    expect(used.map((u) => u.len)).to.deep.equal([100, 112]);
    expect(used[0].written[0]).to.equal(0);
    expect(used[0].written[10]).to.equal(2);
  });

  it('bounds the backlog: frames beyond it are dropped', () => {
    const { be, dev } = setup();
    for (let i = 0; i < MAX_RX_BACKLOG + 10; i++) be.receiver(frame(64));
    expect(dev.stats.rxDropped).to.equal(10);
  });

  it('without MRG_RXBUF needs one buffer per frame and drops frames that cannot fit', () => {
    const { d, be, dev } = setup({ features: BASE_FEATURES | bit(VIRTIO_NET_F_MAC) });
    const rx = d.queues[0];
    rx.add([{ writable: 100 }]);
    rx.notify();
    be.receiver(frame(500));
    be.receiver(frame(50));
    const used = rx.takeUsed();
    expect(used.map((u) => u.len)).to.deep.equal([62]);
    expect(used[0].written[10]).to.equal(1);
    expect(dev.stats.rxDropped).to.equal(1);
  });

  it('drops frames before activation and forgets the backlog on reset', () => {
    const be = new LoopBackend();
    const dev = new VirtioNet({ mac: MAC, backend: be });
    const d = new MockVirtioDriver(dev);
    be.receiver(frame(60));
    expect(dev.stats.rxDropped).to.equal(1);
    d.init();
    be.receiver(frame(60));
    d.reset();
    d.init();
    const rx = d.queues[0];
    rx.add([{ writable: 2048 }]);
    rx.notify();
    expect(rx.takeUsed()).to.deep.equal([]);
  });

  it('talks to the user network through the queues: ARP request in, reply out', async () => {
    const net = await UserNetwork.create(parseNetSpec('user') as UserNetSpec, { guestMac: MAC });
    const dev = new VirtioNet({ mac: MAC, backend: net });
    const d = new MockVirtioDriver(dev);
    d.init();
    try {
      d.queues[0].add([{ writable: 2048 }]);
      d.queues[0].notify();
      const arp = buildArp({ op: ARP_REQUEST, senderMac: MAC, senderIp: parseIp('10.0.2.15')!, targetMac: new Uint8Array(6), targetIp: parseIp('10.0.2.2')! });
      d.queues[1].add([{ data: hdr() }, { data: buildEthernet(BROADCAST_MAC, MAC, ETHERTYPE_ARP, arp) }]);
      d.queues[1].notify();
      const [u] = d.queues[0].takeUsed();
      const eth = parseEthernet(u.written.subarray(NET_HDR_BYTES, u.len))!;
      expect(parseArp(eth.payload)).to.deep.include({ op: 2, senderIp: parseIp('10.0.2.2')! });
    } finally {
      await dev.close();
    }
  });
});
