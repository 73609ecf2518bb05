// Property: no frame, however malformed, makes the user network throw or answer with an
// invalid frame; every frame it sends is a well-formed Ethernet/IPv4 or ARP frame.
import { expect } from 'chai';
import fc from 'fast-check';
import { parseIp } from '../../src/net/checksum.ts';
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, buildEthernet, parseArp, parseEthernet } from '../../src/net/ethernet.ts';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP, buildIpv4, parseIpv4 } from '../../src/net/ipv4.ts';
import { parseNetSpec, type UserNetSpec } from '../../src/net/spec.ts';
import { buildTcp } from '../../src/net/tcp-segment.ts';
import { buildUdp } from '../../src/net/udp.ts';
import { GATEWAY_MAC, UserNetwork } from '../../src/net/user-net.ts';
import { GUEST_MAC } from './guest-frames.ts';

const GUEST = parseIp('10.0.2.15')!;
// Only virtual-network destinations and ports nothing listens on: the property never reaches
// the outside (ICMP/ARP/DHCP/DNS to a dead resolver port, TCP to unreachable in-net hosts).
const DST = fc.constantFrom(parseIp('10.0.2.2')!, parseIp('10.0.2.3')!, parseIp('10.0.2.99')!, parseIp('255.255.255.255')!);

const wellFormed = fc.oneof(
  fc.record({ dst: DST, sport: fc.integer({ min: 1, max: 65535 }), flags: fc.integer({ min: 0, max: 63 }), seq: fc.nat(), ack: fc.nat(), data: fc.uint8Array({ maxLength: 64 }) })
    .map(({ dst, sport, flags, seq, ack, data }) => buildIpv4(GUEST, dst === parseIp('10.0.2.2')! ? parseIp('10.0.2.98')! : dst, PROTO_TCP, buildTcp(GUEST, dst, sport, 1, { seq, ack, flags, window: 100, payload: data }))),
  fc.record({ dst: DST, port: fc.constantFrom(53, 67, 9), data: fc.uint8Array({ maxLength: 400 }) })
    .map(({ dst, port, data }) => buildIpv4(GUEST, dst, PROTO_UDP, buildUdp(GUEST, dst, 68, port, data))),
  fc.record({ dst: DST, data: fc.uint8Array({ maxLength: 64 }) }).map(({ dst, data }) => buildIpv4(GUEST, dst, PROTO_ICMP, data)),
  fc.uint8Array({ maxLength: 80 }),
);

const frames = fc.oneof(
  fc.uint8Array({ maxLength: 1600 }),
  fc.record({ type: fc.constantFrom(ETHERTYPE_IPV4, ETHERTYPE_ARP, 0x86dd), payload: wellFormed, flip: fc.option(fc.nat()) })
    .map(({ type, payload, flip }) => {
      const f = buildEthernet(GATEWAY_MAC, GUEST_MAC, type, payload);
      if (flip !== null && f.length > 14) f[14 + (flip % (f.length - 14))] ^= 1 << (flip % 8);
      return f;
    }),
  fc.record({ payload: wellFormed, cut: fc.nat() }).map(({ payload, cut }) => {
    const f = buildEthernet(GATEWAY_MAC, GUEST_MAC, ETHERTYPE_IPV4, payload);
    return f.subarray(0, cut % (f.length + 1));
  }),
);

describe('user network under random frames (property)', () => {
  it('never throws and only emits well-formed frames', async () => {
    const spec = parseNetSpec('user') as UserNetSpec;
    const net = await UserNetwork.create(spec, { guestMac: GUEST_MAC, dnsUpstream: { address: '127.0.0.1', port: 9 } });
    const out: Uint8Array[] = [];
    net.onFrame((f) => out.push(f));
    try {
      fc.assert(fc.property(fc.array(frames, { maxLength: 20 }), (batch) => {
        out.length = 0;
        for (const f of batch) net.send(f);
        for (const f of out) {
          const e = parseEthernet(f)!;
          expect(e).to.not.equal(undefined);
          if (e.type === ETHERTYPE_ARP) expect(parseArp(e.payload)).to.not.equal(undefined);
          else expect(typeof parseIpv4(e.payload)).to.equal('object');
        }
      }), { numRuns: 300 });
      expect(net.stats.dropped.internal ?? 0).to.equal(0);
    } finally {
      await net.close();
    }
  });
});
