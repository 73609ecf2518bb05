// The user-mode network stack fed batches of random, mutated and well-formed guest frames
// (ARP, DHCP, ICMP, DNS, UDP, TCP), some marked as TSO segments the way the device hands
// them over (which the stack must still check: the marker widens only the size limit). Nothing may reach the outside: the instance's host address
// map sends no destination anywhere (NAT answers unreachable/RST locally) and the DNS relay's
// upstream is the discard port on loopback. Checked per batch: nothing throws, every frame the
// stack emits is a well-formed Ethernet frame carrying a parseable ARP or IPv4 packet whose
// UDP/TCP checksum verifies, and no frame exceeds the maximum Ethernet frame.
import type { TxSegmentation } from '../../src/net/backend.ts';
import { parseIp } from '../../src/net/checksum.ts';
import { ARP_REQUEST, ETHERTYPE_ARP, ETHERTYPE_IPV4, MAX_FRAME, buildArp, buildEthernet, parseArp, parseEthernet } from '../../src/net/ethernet.ts';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP, buildIpv4, parseIpv4 } from '../../src/net/ipv4.ts';
import { parseNetSpec, type UserNetSpec } from '../../src/net/spec.ts';
import { buildTcp, parseTcp } from '../../src/net/tcp-segment.ts';
import { buildUdp, parseUdp } from '../../src/net/udp.ts';
import { internetChecksum, writeU16 } from '../../src/net/checksum.ts';
import { GATEWAY_MAC, UserNetwork } from '../../src/net/user-net.ts';
import { InputReader, type FuzzTarget } from '../target.ts';
import { FuzzInvariantError } from './virtio-harness.ts';

const GUEST_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const BROADCAST_MAC = new Uint8Array(6).fill(0xff);
const GUEST = parseIp('10.0.2.15')!;
const IPS = ['10.0.2.2', '10.0.2.3', '10.0.2.15', '10.0.2.99', '255.255.255.255', '0.0.0.0', '127.0.0.1'].map((s) => parseIp(s)!);
const PORTS = [53, 67, 68, 9, 0, 1, 65535];
const MAX_FRAMES = 16;

interface State {
  net: Promise<UserNetwork>;
  out: Uint8Array[];
}

let live: Promise<UserNetwork> | undefined;

function create(): State {
  void live?.then((n) => n.close());
  const out: Uint8Array[] = [];
  const net = UserNetwork.create(parseNetSpec('user') as UserNetSpec, { guestMac: GUEST_MAC, dnsUpstream: { address: '127.0.0.1', port: 9 }, initialRtoMs: 50 })
    .then((n) => {
      // No host socket to any destination: the NAT paths answer locally.
      n.hostAddress = () => undefined;
      n.onFrame((f) => out.push(f));
      return n;
    });
  live = net;
  return { net, out };
}

function bytes(r: InputReader, max: number): Uint8Array {
  const n = r.u8() % (max + 1);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.u8();
  return b;
}

/** One guest frame decoded from the input: raw, or a structured packet possibly damaged. */
function frame(r: InputReader): Uint8Array {
  const kind = r.u8() % 8;
  const pick = <T>(xs: readonly T[]): T => xs[r.u8() % xs.length];
  const dst = r.u8() & 3 ? pick(IPS) : r.u32();
  const src = r.u8() & 7 ? GUEST : r.u32();
  const dstMac = r.u8() & 3 ? GATEWAY_MAC : BROADCAST_MAC;
  let f: Uint8Array;
  switch (kind) {
    case 0: return bytes(r, 255);
    case 1:
      f = buildEthernet(dstMac, GUEST_MAC, ETHERTYPE_ARP, buildArp({ op: r.u8() & 1 ? ARP_REQUEST : r.u16(), senderMac: GUEST_MAC, senderIp: src, targetMac: new Uint8Array(6), targetIp: dst }));
      break;
    case 2: {
      // DHCP request-shaped: BOOTP fixed part, magic cookie, random options.
      const body = new Uint8Array(240 + 64);
      body.set([1, 1, 6], 0);
      body.set(GUEST_MAC, 28);
      body.set([0x63, 0x82, 0x53, 0x63], 236);
      body.set(bytes(r, 64), 240);
      if (r.u8() & 1) body.set([53, 1, 1 + (r.u8() % 8)], 240);
      f = buildEthernet(dstMac, GUEST_MAC, ETHERTYPE_IPV4, buildIpv4(src, dst, PROTO_UDP, buildUdp(src, dst, 68, 67, body)));
      break;
    }
    case 3: {
      const icmp = new Uint8Array(8 + (r.u8() % 64));
      icmp[0] = r.u8() & 3 ? 8 : r.u8();
      writeU16(icmp, 2, internetChecksum(icmp));
      f = buildEthernet(dstMac, GUEST_MAC, ETHERTYPE_IPV4, buildIpv4(src, dst, PROTO_ICMP, icmp));
      break;
    }
    case 4: case 5: {
      const sport = r.u16(), dport = r.u8() & 1 ? pick(PORTS) : r.u16();
      f = buildEthernet(dstMac, GUEST_MAC, ETHERTYPE_IPV4, buildIpv4(src, dst, PROTO_UDP, buildUdp(src, dst, sport, dport, bytes(r, 255))));
      break;
    }
    default: {
      const seg = { seq: r.u32(), ack: r.u32(), flags: r.u8() & 0x3f, window: r.u16(), payload: bytes(r, 128) };
      f = buildEthernet(dstMac, GUEST_MAC, ETHERTYPE_IPV4, buildIpv4(src, dst, PROTO_TCP, buildTcp(src, dst, 1024 + (r.u8() % 8), r.u8() & 1 ? 80 : r.u16(), seg)));
    }
  }
  // Damage: flip a bit, or cut the frame short.
  const dmg = r.u8();
  if (dmg % 5 === 1 && f.length) f[r.u16() % f.length] ^= 1 << (r.u8() % 8);
  else if (dmg % 5 === 2) f = f.subarray(0, r.u16() % (f.length + 1));
  return f;
}

function checkOutput(f: Uint8Array): void {
  if (f.length > MAX_FRAME) throw new FuzzInvariantError(`emitted a ${f.length}-byte frame`);
  const e = parseEthernet(f);
  if (!e) throw new FuzzInvariantError('emitted a frame without an Ethernet header');
  if (e.type === ETHERTYPE_ARP) {
    if (!parseArp(e.payload)) throw new FuzzInvariantError('emitted a malformed ARP packet');
    return;
  }
  if (e.type !== ETHERTYPE_IPV4) throw new FuzzInvariantError(`emitted ethertype 0x${e.type.toString(16)}`);
  const ip = parseIpv4(e.payload);
  if (typeof ip !== 'object') throw new FuzzInvariantError(`emitted a bad IPv4 packet (${ip})`);
  if (ip.protocol === PROTO_UDP && typeof parseUdp(ip.src, ip.dst, ip.payload) !== 'object') throw new FuzzInvariantError('emitted a bad UDP datagram');
  if (ip.protocol === PROTO_TCP && typeof parseTcp(ip.src, ip.dst, ip.payload) !== 'object') throw new FuzzInvariantError('emitted a bad TCP segment');
  if (ip.protocol === PROTO_ICMP && internetChecksum(ip.payload) !== 0) throw new FuzzInvariantError('emitted a bad ICMP checksum');
}

export const netStackTarget: FuzzTarget = {
  name: 'net-stack',
  setup: create,
  async run(input, state) {
    const st = state as State;
    const net = await st.net;
    st.out.length = 0;
    const r = new InputReader(input);
    for (let i = 0; i < MAX_FRAMES && !r.done; i++) {
      const segmentation: TxSegmentation | undefined = r.u8() % 4 === 0 ? { protocol: r.u8() & 1 ? 'tcpv4' : 'tcpv6', segmentSize: 1 + r.u16() } : undefined;
      net.send(frame(r), segmentation);
    }
    await new Promise<void>((res) => setImmediate(res));
    for (const f of st.out) checkOutput(f);
    if (net.stats.dropped.internal) throw new FuzzInvariantError(`internal drops: ${net.stats.dropped.internal}`);
  },
};
