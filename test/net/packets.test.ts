import { expect } from 'chai';
import { finishChecksum, internetChecksum, onesSum, parseIp, pseudoHeaderSum, writeU16 } from '../../src/net/checksum.ts';
import { ARP_REQUEST, buildArp, buildEthernet, parseArp, parseEthernet, parseMac } from '../../src/net/ethernet.ts';
import { PROTO_UDP, buildIpv4, parseIpv4 } from '../../src/net/ipv4.ts';
import { buildUdp, parseUdp } from '../../src/net/udp.ts';
import { ACK, SYN, buildTcp, parseTcp } from '../../src/net/tcp-segment.ts';
import { echoReply } from '../../src/net/icmp.ts';
import { DHCPACK, DHCPDISCOVER, DHCPNAK, DHCPOFFER, DHCPREQUEST, dhcpReply, parseDhcp } from '../../src/net/dhcp.ts';
import { nameserverFromResolvConf } from '../../src/net/dns.ts';
import { dhcpRequest } from './guest-frames.ts';

const A = parseIp('10.0.2.15')!;
const B = parseIp('10.0.2.2')!;

describe('packet formats', () => {
  it('computes the RFC 1071 example checksum and verifies to zero', () => {
    const d = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(internetChecksum(d)).to.equal(~0xddf2 & 0xffff);
    const withSum = new Uint8Array([...d, 0, 0]);
    writeU16(withSum, 8, internetChecksum(d));
    expect(internetChecksum(withSum)).to.equal(0);
    expect(internetChecksum(new Uint8Array([1, 2, 3]))).to.equal(~0x0402 & 0xffff); // odd length pads with zero
  });

  it('parses Ethernet and ARP, rejecting truncated and non-IPv4 ARP', () => {
    expect(parseEthernet(new Uint8Array(13))).to.equal(undefined);
    const mac = parseMac('52:54:00:12:34:56')!;
    const arp = buildArp({ op: ARP_REQUEST, senderMac: mac, senderIp: A, targetMac: new Uint8Array(6), targetIp: B });
    const e = parseEthernet(buildEthernet(new Uint8Array(6).fill(0xff), mac, 0x0806, arp))!;
    expect(e.type).to.equal(0x0806);
    expect(parseArp(e.payload)).to.deep.include({ op: ARP_REQUEST, senderIp: A, targetIp: B });
    expect(parseArp(arp.subarray(0, 27))).to.equal(undefined);
    const bad = arp.slice();
    bad[4] = 8;
    expect(parseArp(bad)).to.equal(undefined);
  });

  it('parses IPv4 and drops truncated, bad-checksum, bad-length and fragmented packets', () => {
    const p = buildIpv4(A, B, PROTO_UDP, new Uint8Array([1, 2, 3, 4]));
    const ok = parseIpv4(p);
    expect(ok).to.deep.include({ src: A, dst: B, protocol: PROTO_UDP });
    expect(parseIpv4(p.subarray(0, 19))).to.equal('truncated');
    const sum = p.slice();
    sum[8] ^= 1;
    expect(parseIpv4(sum)).to.equal('checksum');
    const ver = p.slice();
    ver[0] = 0x65;
    expect(parseIpv4(ver)).to.equal('version');
    const len = p.slice();
    writeU16(len, 2, 100);
    expect(parseIpv4(len)).to.equal('total-length');
    const ihl = p.slice();
    ihl[0] = 0x4f;
    expect(parseIpv4(ihl)).to.equal('header-length');
    for (const frag of [0x2000, 0x0001, 0x2010]) {
      const f = p.slice();
      writeU16(f, 6, frag);
      writeU16(f, 10, 0);
      writeU16(f, 10, internetChecksum(f, 0, 20));
      expect(parseIpv4(f)).to.equal('fragment');
    }
    // Trailing Ethernet padding beyond total length is ignored.
    const padded = new Uint8Array(p.length + 10);
    padded.set(p);
    expect((parseIpv4(padded) as { payload: Uint8Array }).payload.length).to.equal(4);
  });

  it('round-trips UDP and rejects bad lengths and checksums; zero checksum means none', () => {
    const u = buildUdp(A, B, 1234, 53, new Uint8Array([9, 8, 7]));
    expect(parseUdp(A, B, u)).to.deep.include({ srcPort: 1234, dstPort: 53 });
    expect(parseUdp(A, B, u.subarray(0, 7))).to.equal('truncated');
    expect(parseUdp(A, parseIp('10.0.2.3')!, u)).to.equal('checksum'); // pseudo header covers the addresses
    const long = u.slice();
    writeU16(long, 4, 100);
    expect(parseUdp(A, B, long)).to.equal('length');
    const none = u.slice();
    writeU16(none, 6, 0);
    none[8] = 0;
    expect(parseUdp(A, B, none)).to.deep.include({ srcPort: 1234 });
  });

  it('round-trips TCP with the MSS option and rejects bad offsets, options and checksums', () => {
    const t = buildTcp(A, B, 40000, 80, { seq: 0xfffffff0, ack: 5, flags: SYN | ACK, window: 1000, mss: 1400, payload: new Uint8Array([1]) });
    expect(parseTcp(A, B, t)).to.deep.include({ srcPort: 40000, dstPort: 80, seq: 0xfffffff0, ack: 5, flags: SYN | ACK, window: 1000, mss: 1400 });
    expect(parseTcp(A, B, t.subarray(0, 19))).to.equal('truncated');
    const off = t.slice();
    off[12] = 0xf0;
    expect(parseTcp(A, B, off)).to.equal('data-offset');
    const sum = t.slice();
    sum[24] ^= 0xff;
    expect(parseTcp(A, B, sum)).to.equal('checksum');
    const opt = t.slice();
    opt[21] = 9; // option runs past the header
    writeU16(opt, 16, 0);
    writeU16(opt, 16, finishChecksum(onesSum(opt, 0, opt.length, pseudoHeaderSum(A, B, 6, opt.length))));
    expect(parseTcp(A, B, opt)).to.equal('options');
  });

  it('round-trips the window-scale option beside MSS and alone; ignores it at a wrong length, drops it truncated', () => {
    const both = buildTcp(A, B, 40000, 80, { seq: 1, ack: 0, flags: SYN, window: 65535, mss: 1460, windowScale: 7 });
    expect(both.length).to.equal(28);
    expect([...both.subarray(20, 28)]).to.deep.equal([2, 4, 0x05, 0xb4, 1, 3, 3, 7]);
    expect(parseTcp(A, B, both)).to.deep.include({ mss: 1460, windowScale: 7 });
    const alone = buildTcp(A, B, 40000, 80, { seq: 1, ack: 0, flags: SYN, window: 100, windowScale: 14 });
    expect(parseTcp(A, B, alone)).to.deep.include({ mss: undefined, windowScale: 14 });
    expect((parseTcp(A, B, buildTcp(A, B, 1, 2, { seq: 1, ack: 0, flags: SYN, window: 1 })) as { windowScale?: number }).windowScale).to.equal(undefined);
    // A raw shift over 14 is reported as sent; the connection clamps it.
    expect(parseTcp(A, B, withOptions([3, 3, 200, 0]))).to.deep.include({ windowScale: 200 });
    // Length 4 (a wrong length that still fits): ignored, the rest of the options still read.
    expect(parseTcp(A, B, withOptions([3, 4, 7, 0, 2, 4, 0x02, 0x00]))).to.deep.include({ windowScale: undefined, mss: 512 });
    // Kind and length but no shift byte before the header ends, or no length at all: dropped.
    expect(parseTcp(A, B, withOptions([1, 1, 3, 3]))).to.equal('options');
    expect(parseTcp(A, B, withOptions([1, 1, 1, 3]))).to.equal('options');
    // After end-of-options nothing is read.
    expect(parseTcp(A, B, withOptions([0, 3, 3, 7]))).to.deep.include({ windowScale: undefined });
  });

  it('answers ICMP echo requests only, with a valid checksum', () => {
    const req = new Uint8Array([8, 0, 0, 0, 0, 1, 0, 2, 0xaa, 0xbb]);
    writeU16(req, 2, internetChecksum(req));
    const r = echoReply(req)!;
    expect(r[0]).to.equal(0);
    expect(internetChecksum(r)).to.equal(0);
    expect([...r.subarray(4)]).to.deep.equal([...req.subarray(4)]);
    const bad = req.slice();
    bad[9] ^= 1;
    expect(echoReply(bad)).to.equal(undefined);
    expect(echoReply(req.subarray(0, 7))).to.equal(undefined);
    const reply = r.slice();
    expect(echoReply(reply)).to.equal(undefined);
  });

  it('serves DHCP: DISCOVER gets an OFFER, REQUEST for our address an ACK, others a NAK', () => {
    const mac = parseMac('52:54:00:12:34:56')!;
    const cfg = { guest: A, router: B, dns: parseIp('10.0.2.3')!, netmask: parseIp('255.255.255.0')!, leaseSeconds: 86400 };
    const offer = parseReply(dhcpReply(parseDhcp(dhcpRequest(DHCPDISCOVER, 0x1234, mac))!, cfg)!);
    expect(offer).to.deep.include({ type: DHCPOFFER, xid: 0x1234, yiaddr: A });
    expect(offer.options.get(3)).to.deep.equal([10, 0, 2, 2]);
    expect(offer.options.get(6)).to.deep.equal([10, 0, 2, 3]);
    expect(offer.options.get(1)).to.deep.equal([255, 255, 255, 0]);
    expect(offer.options.get(51)).to.deep.equal([0, 1, 0x51, 0x80]);
    const ack = parseReply(dhcpReply(parseDhcp(dhcpRequest(DHCPREQUEST, 7, mac, [50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2]))!, cfg)!);
    expect(ack).to.deep.include({ type: DHCPACK, yiaddr: A });
    const nak = parseReply(dhcpReply(parseDhcp(dhcpRequest(DHCPREQUEST, 7, mac, [50, 4, 10, 0, 2, 99]))!, cfg)!);
    expect(nak.type).to.equal(DHCPNAK);
    expect(dhcpReply(parseDhcp(dhcpRequest(DHCPREQUEST, 7, mac, [50, 4, 10, 0, 2, 15, 54, 4, 1, 2, 3, 4]))!, cfg)).to.equal(undefined);
  });

  it('rejects malformed DHCP messages', () => {
    const mac = parseMac('52:54:00:12:34:56')!;
    const good = dhcpRequest(DHCPDISCOVER, 1, mac);
    expect(parseDhcp(good.subarray(0, 239))).to.equal(undefined);
    const cookie = good.slice();
    cookie[236] = 0;
    expect(parseDhcp(cookie)).to.equal(undefined);
    const runaway = good.slice(0, 245);
    runaway.set([53, 1, 1, 12, 200], 240); // hostname option longer than the packet
    expect(parseDhcp(runaway)).to.equal(undefined);
    const notype = good.slice();
    notype.set([255], 240);
    expect(parseDhcp(notype)).to.equal(undefined);
  });

  it('finds the first nameserver in resolv.conf', () => {
    expect(nameserverFromResolvConf('# c\nsearch x\nnameserver bogus\nnameserver 127.0.0.53\nnameserver 8.8.8.8\n')).to.equal('127.0.0.53');
    expect(nameserverFromResolvConf('nameserver fe80::1%eth0\n')).to.equal('fe80::1%eth0');
    expect(nameserverFromResolvConf('search only\n')).to.equal(undefined);
  });
});

function parseReply(p: Uint8Array): { type: number; xid: number; yiaddr: number; options: Map<number, number[]> } {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const options = new Map<number, number[]>();
  for (let i = 240; i < p.length && p[i] !== 255;) {
    if (p[i] === 0) {
      i++;
      continue;
    }
    options.set(p[i], [...p.subarray(i + 2, i + 2 + p[i + 1])]);
    i += 2 + p[i + 1];
  }
  expect(p[0]).to.equal(2);
  expect(dv.getUint32(236)).to.equal(0x63825363);
  return { type: options.get(53)![0], xid: dv.getUint32(4), yiaddr: dv.getUint32(16), options };
}

/** A SYN from A to B whose option bytes (a multiple of 4) are `opts`, with a valid checksum. */
function withOptions(opts: number[]): Uint8Array {
  const t = new Uint8Array(20 + opts.length);
  t.set(buildTcp(A, B, 40000, 80, { seq: 1, ack: 0, flags: SYN, window: 1000 }));
  t[12] = (t.length / 4) << 4;
  t.set(opts, 20);
  writeU16(t, 16, 0);
  writeU16(t, 16, finishChecksum(onesSum(t, 0, t.length, pseudoHeaderSum(A, B, 6, t.length))));
  return t;
}
