// Test helper playing the guest's side of the user network: builds the Ethernet frames a guest
// would send and decodes what the stack sends back, using the stack's own builders only where
// the thing under test is the other direction.
import { parseIp } from '../../src/net/checksum.ts';
import { ETHERTYPE_IPV4, buildEthernet, parseEthernet } from '../../src/net/ethernet.ts';
import { PROTO_TCP, PROTO_UDP, buildIpv4, parseIpv4, type Ipv4Packet } from '../../src/net/ipv4.ts';
import { buildTcp, parseTcp, type OutSegment, type TcpSegment } from '../../src/net/tcp-segment.ts';
import { buildUdp, parseUdp, type UdpDatagram } from '../../src/net/udp.ts';
import { GATEWAY_MAC } from '../../src/net/user-net.ts';

export const GUEST_MAC = new Uint8Array([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
export const GUEST_IP = parseIp('10.0.2.15')!;
export const GATEWAY_IP = parseIp('10.0.2.2')!;
export const DNS_IP = parseIp('10.0.2.3')!;

export function ipFrame(src: number, dst: number, proto: number, payload: Uint8Array, dstMac = GATEWAY_MAC): Uint8Array {
  return buildEthernet(dstMac, GUEST_MAC, ETHERTYPE_IPV4, buildIpv4(src, dst, proto, payload));
}

export function udpFrame(dst: number, srcPort: number, dstPort: number, payload: Uint8Array, src = GUEST_IP): Uint8Array {
  return ipFrame(src, dst, PROTO_UDP, buildUdp(src, dst, srcPort, dstPort, payload));
}

export function tcpFrame(dst: number, srcPort: number, dstPort: number, seg: OutSegment): Uint8Array {
  return ipFrame(GUEST_IP, dst, PROTO_TCP, buildTcp(GUEST_IP, dst, srcPort, dstPort, seg));
}

export function ipOf(frame: Uint8Array): Ipv4Packet | undefined {
  const e = parseEthernet(frame);
  if (!e || e.type !== ETHERTYPE_IPV4) return undefined;
  const ip = parseIpv4(e.payload);
  return typeof ip === 'string' ? undefined : ip;
}

export function udpOf(frame: Uint8Array): (UdpDatagram & { src: number; dst: number }) | undefined {
  const ip = ipOf(frame);
  if (!ip || ip.protocol !== PROTO_UDP) return undefined;
  const u = parseUdp(ip.src, ip.dst, ip.payload);
  return typeof u === 'string' ? undefined : { ...u, src: ip.src, dst: ip.dst };
}

export function tcpOf(frame: Uint8Array): (TcpSegment & { src: number; dst: number }) | undefined {
  const ip = ipOf(frame);
  if (!ip || ip.protocol !== PROTO_TCP) return undefined;
  const t = parseTcp(ip.src, ip.dst, ip.payload);
  return typeof t === 'string' ? undefined : { ...t, src: ip.src, dst: ip.dst };
}

/** Collects frames the stack sends and waits for ones matching a predicate. */
export class FrameSink {
  readonly frames: Uint8Array[] = [];
  private waiters: { pred: (f: Uint8Array) => boolean; resolve: (f: Uint8Array) => void }[] = [];
  private cursor = 0;

  readonly receive = (f: Uint8Array): void => {
    this.frames.push(f);
    this.waiters = this.waiters.filter((w) => {
      if (w.pred(f)) {
        w.resolve(f);
        return false;
      }
      return true;
    });
  };

  /** The next frame (after those already consumed by `next`) matching `pred`. */
  next<T>(map: (f: Uint8Array) => T | undefined, timeoutMs = 3000): Promise<T> {
    for (; this.cursor < this.frames.length; this.cursor++) {
      const v = map(this.frames[this.cursor]);
      if (v !== undefined) {
        this.cursor++;
        return Promise.resolve(v);
      }
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no matching frame in time')), timeoutMs);
      this.waiters.push({
        pred: (f) => map(f) !== undefined,
        resolve: (f) => {
          clearTimeout(t);
          this.cursor = this.frames.length;
          resolve(map(f)!);
        },
      });
    });
  }
}

/** A DHCP client message as udhcpc sends it. */
export function dhcpRequest(type: number, xid: number, mac: Uint8Array, extra: number[] = []): Uint8Array {
  const p = new Uint8Array(300);
  p[0] = 1;
  p[1] = 1;
  p[2] = 6;
  new DataView(p.buffer).setUint32(4, xid);
  p.set(mac, 28);
  new DataView(p.buffer).setUint32(236, 0x63825363);
  const opts = [53, 1, type, ...extra, 255];
  p.set(opts, 240);
  return p;
}
