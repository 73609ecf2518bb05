// The user-mode network (like QEMU's slirp): a virtual gateway on the guest's Ethernet that
// answers ARP for its addresses, serves DHCP, relays DNS, answers pings, and NATs UDP and TCP
// to host sockets; the gateway address is the host's 127.0.0.1. Every frame from the guest is
// parsed defensively: anything malformed is counted and dropped, never thrown. TCP over IPv4
// takes segmentation offload both ways: a guest's TSO frame (validated by the device) is one
// segment for the TCP code, and a guest that acked TSO4 is sent segments of up to 64 KiB.
import type { DeviceLogger } from '../devices/virtio/device.ts';
import { silentLogger } from '../devices/virtio/device.ts';
import { formatIp } from './checksum.ts';
import { dhcpReply, parseDhcp, DHCP_CLIENT_PORT, DHCP_SERVER_PORT, LIMITED_BROADCAST } from './dhcp.ts';
import { DnsRelay, DNS_PORT, hostUpstream, type Upstream } from './dns.ts';
import {
  ARP_REPLY, ARP_REQUEST, BROADCAST_MAC, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER, MAX_FRAME, buildArp, buildEthernet, isMulticastMac,
  macEquals, parseArp, parseEthernet,
} from './ethernet.ts';
import { PortForwards } from './hostfwd.ts';
import { echoReply } from './icmp.ts';
import { IPV4_HEADER, PROTO_ICMP, PROTO_TCP, PROTO_UDP, buildIpv4, parseIpv4 } from './ipv4.ts';
import type { GuestLink } from './link.ts';
import { NO_GUEST_OFFLOADS, type GuestOffloads, type NetBackend, type RxOffload, type TxSegmentation } from './backend.ts';
import { netmaskOf, type UserNetSpec } from './spec.ts';
import { TcpNat } from './tcp-nat.ts';
import { TCP_CHECKSUM_OFFSET, TCP_HEADER, parseTcp } from './tcp-segment.ts';
import { buildUdp, parseUdp } from './udp.ts';
import { UdpNat } from './udp-nat.ts';

/** The gateway's MAC (the one slirp uses). */
export const GATEWAY_MAC = new Uint8Array([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]);
const LEASE_SECONDS = 86400;
/** Largest IPv4 packet, the bound on a TCP segment sent or taken with segmentation offload. */
const MAX_IP_PACKET = 65535;
/** TCP payload of the largest segment sent to a guest that takes TSO. */
export const MAX_TCP_SEGMENT_PAYLOAD = MAX_IP_PACKET - IPV4_HEADER - TCP_HEADER;

export interface UserNetOptions {
  /** The guest's MAC (the device's), used until the guest's own frames show it. */
  guestMac: Uint8Array;
  log?: DeviceLogger;
  /** Where DNS queries go; the host's resolv.conf nameserver by default. */
  dnsUpstream?: Upstream;
  /** TCP retransmission timeout towards the guest (tests shorten it). */
  initialRtoMs?: number;
}

export interface UserNetStats {
  framesIn: number;
  framesOut: number;
  dropped: Record<string, number>;
}

export class UserNetwork implements NetBackend, GuestLink {
  readonly checksumsTrusted = true;
  readonly acceptsSegmentation = { tcpv4: true, tcpv6: false }; // the stack has no IPv6
  readonly producesSegmentation = { tcpv4: true, tcpv6: false };
  readonly guestIp: number;
  readonly gatewayIp: number;
  readonly log: DeviceLogger;
  readonly stats: UserNetStats = { framesIn: 0, framesOut: 0, dropped: {} };
  readonly tcp: TcpNat;
  readonly udp: UdpNat;
  readonly forwards: PortForwards;
  private readonly dns: DnsRelay;
  private readonly dnsIp: number;
  private readonly mask: number;
  private guestMac: Uint8Array;
  private receiver: (frame: Uint8Array, offload?: RxOffload) => void = () => undefined;
  private guestOffloads: GuestOffloads = NO_GUEST_OFFLOADS;
  private closed = false;

  private constructor(private readonly spec: UserNetSpec, opts: UserNetOptions) {
    this.guestIp = spec.guest;
    this.gatewayIp = spec.host;
    this.dnsIp = spec.dns;
    this.mask = netmaskOf(spec.prefix);
    this.guestMac = opts.guestMac.slice(0, 6);
    this.log = opts.log ?? silentLogger;
    let upstream: Upstream | undefined | null = opts.dnsUpstream ?? null;
    this.dns = new DnsRelay(() => {
      if (upstream === null) upstream = hostUpstream();
      return upstream;
    });
    this.tcp = new TcpNat(this, { initialRtoMs: opts.initialRtoMs });
    this.udp = new UdpNat(this);
    this.forwards = new PortForwards(this, this.tcp);
  }

  /** Create the network and start its port forwards. */
  static async create(spec: UserNetSpec, opts: UserNetOptions): Promise<UserNetwork> {
    const n = new UserNetwork(spec, opts);
    await n.forwards.listen(spec.hostfwd);
    return n;
  }

  onFrame(receiver: (frame: Uint8Array, offload?: RxOffload) => void): void {
    this.receiver = receiver;
  }

  setGuestOffloads(offloads: GuestOffloads): void {
    this.guestOffloads = offloads;
  }

  tcpSegmentLimit(): number {
    return this.guestOffloads.tcpv4 ? MAX_TCP_SEGMENT_PAYLOAD : 0;
  }

  private drop(reason: string): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
    this.log.debug(`user net: dropped frame (${reason})`);
  }

  /** Where a guest destination goes on the host: the gateway is loopback, the rest as is. */
  hostAddress(ip: number): string | undefined {
    if (ip === this.gatewayIp) return '127.0.0.1';
    if (((ip & this.mask) >>> 0) === ((this.guestIp & this.mask) >>> 0)) return undefined; // nothing else lives here
    if (ip === 0 || ip >>> 24 === 127 || ip >>> 28 >= 14) return undefined; // 0/8, the guest's own loopback, multicast, reserved
    return formatIp(ip);
  }

  sendIp(src: number, dst: number, protocol: number, payload: Uint8Array, segment?: { segmentSize: number; tcpHeader: number }): void {
    const transport = ETH_HEADER + IPV4_HEADER;
    const offload: RxOffload | undefined = segment && {
      csumStart: transport,
      csumOffset: TCP_CHECKSUM_OFFSET,
      gso: { protocol: 'tcpv4', segmentSize: segment.segmentSize, headerLength: transport + segment.tcpHeader },
    };
    this.output(dst === LIMITED_BROADCAST ? BROADCAST_MAC : this.guestMac, ETHERTYPE_IPV4, buildIpv4(src, dst, protocol, payload), offload);
  }

  private output(dstMac: Uint8Array, type: number, payload: Uint8Array, offload?: RxOffload): void {
    if (this.closed) return;
    this.stats.framesOut++;
    this.receiver(buildEthernet(dstMac, GATEWAY_MAC, type, payload), offload);
  }

  send(frame: Uint8Array, segmentation?: TxSegmentation): void {
    if (this.closed) return;
    this.stats.framesIn++;
    try {
      this.input(frame, segmentation);
    } catch (e) {
      // A parser bug must not take the VMM down: count it and carry on.
      this.drop('internal');
      this.log.warn(`user net: ${(e as Error).message}`);
    }
  }

  private input(frame: Uint8Array, segmentation?: TxSegmentation): void {
    if (segmentation && segmentation.protocol !== 'tcpv4') return this.drop('gso-protocol');
    // A TSO frame is one TCP segment of up to a full IP packet; everything else fits the MTU.
    if (frame.length > (segmentation ? ETH_HEADER + MAX_IP_PACKET : MAX_FRAME + 4)) return this.drop('oversized');
    const eth = parseEthernet(frame);
    if (!eth) return this.drop('ethernet');
    if (!isMulticastMac(eth.dst) && !macEquals(eth.dst, GATEWAY_MAC)) return this.drop('not-for-us');
    if (isMulticastMac(eth.src)) return this.drop('multicast-source');
    if (eth.type === ETHERTYPE_ARP) return this.arp(eth.payload);
    if (eth.type !== ETHERTYPE_IPV4) return this.drop('ethertype');
    const ip = parseIpv4(eth.payload);
    if (typeof ip === 'string') return this.drop(`ipv4-${ip}`);
    this.guestMac = eth.src.slice();
    if (segmentation && ip.protocol !== PROTO_TCP) return this.drop('gso-not-tcp');
    switch (ip.protocol) {
      case PROTO_UDP: {
        const u = parseUdp(ip.src, ip.dst, ip.payload);
        if (typeof u === 'string') return this.drop(`udp-${u}`);
        if (u.dstPort === DHCP_SERVER_PORT && (ip.dst === LIMITED_BROADCAST || ip.dst === this.gatewayIp)) {
          const m = parseDhcp(u.payload);
          if (!m) return this.drop('dhcp');
          const r = dhcpReply(m, { guest: this.guestIp, router: this.gatewayIp, dns: this.dnsIp, netmask: this.mask, leaseSeconds: LEASE_SECONDS });
          if (r) this.sendIp(this.gatewayIp, LIMITED_BROADCAST, PROTO_UDP, buildUdp(this.gatewayIp, LIMITED_BROADCAST, DHCP_SERVER_PORT, DHCP_CLIENT_PORT, r));
          return;
        }
        if (ip.src !== this.guestIp) return this.drop('source-address');
        if (ip.dst === this.dnsIp) {
          if (u.dstPort !== DNS_PORT) return this.drop('dns-port');
          const { srcPort } = u;
          this.dns.query(u.payload.slice(), (answer) => this.sendIp(this.dnsIp, this.guestIp, PROTO_UDP, buildUdp(this.dnsIp, this.guestIp, DNS_PORT, srcPort, answer)));
          return;
        }
        if (ip.dst === this.gatewayIp && this.forwards.guestReply(ip.src, u.srcPort, u.dstPort, u.payload)) return;
        this.udp.input(ip.dst, { ...u, payload: u.payload.slice() });
        return;
      }
      case PROTO_TCP: {
        if (ip.src !== this.guestIp) return this.drop('source-address');
        const t = parseTcp(ip.src, ip.dst, ip.payload);
        if (typeof t === 'string') return this.drop(`tcp-${t}`);
        this.tcp.input(ip.src, ip.dst, t);
        return;
      }
      case PROTO_ICMP: {
        if (ip.dst !== this.gatewayIp && ip.dst !== this.dnsIp) return this.drop('icmp-unreachable');
        const r = echoReply(ip.payload);
        if (!r) return this.drop('icmp');
        this.sendIp(ip.dst, ip.src, PROTO_ICMP, r);
        return;
      }
      default:
        return this.drop('protocol');
    }
  }

  private arp(p: Uint8Array): void {
    const a = parseArp(p);
    if (!a) return this.drop('arp');
    if (a.op !== ARP_REQUEST) return; // replies and announcements need no answer
    const ours = a.targetIp === this.gatewayIp || a.targetIp === this.dnsIp;
    if (!ours) return;
    this.guestMac = a.senderMac.slice();
    this.output(a.senderMac, ETHERTYPE_ARP, buildArp({ op: ARP_REPLY, senderMac: GATEWAY_MAC, senderIp: a.targetIp, targetMac: a.senderMac, targetIp: a.senderIp }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.tcp.close();
    this.udp.close();
    this.dns.close();
    await this.forwards.close();
  }

  describe(): string {
    return `user network ${formatIp(this.spec.net)}/${this.spec.prefix}: guest ${formatIp(this.guestIp)}, gateway ${formatIp(this.gatewayIp)}, dns ${formatIp(this.dnsIp)}`;
  }
}
