// The user network's packet parsers on raw bytes: each input picks a parser (first byte) and
// feeds it the rest. They return a drop reason or undefined for bad input and never throw;
// an accepted packet's fields must lie inside the input (no view past its end).
import { parseArp, parseEthernet } from '../../src/net/ethernet.ts';
import { parseIpv4 } from '../../src/net/ipv4.ts';
import { parseUdp } from '../../src/net/udp.ts';
import { parseTcp } from '../../src/net/tcp-segment.ts';
import { echoReply, MAX_ECHO } from '../../src/net/icmp.ts';
import { dhcpReply, parseDhcp } from '../../src/net/dhcp.ts';
import { nameserverFromResolvConf } from '../../src/net/dns.ts';
import { parseIp } from '../../src/net/checksum.ts';
import { FuzzInvariantError } from './virtio-harness.ts';
import type { FuzzTarget } from '../target.ts';

const GUEST = parseIp('10.0.2.15')!;
const GATEWAY = parseIp('10.0.2.2')!;
const DHCP_CFG = { guest: GUEST, router: GATEWAY, dns: parseIp('10.0.2.3')!, netmask: 0xffffff00, leaseSeconds: 86400 };

function within(view: Uint8Array, input: Uint8Array, what: string): void {
  if (view.buffer !== input.buffer || view.byteOffset < input.byteOffset || view.byteOffset + view.length > input.byteOffset + input.length) {
    throw new FuzzInvariantError(`${what}: payload view not inside the input`);
  }
}

export const netParsersTarget: FuzzTarget = {
  name: 'net-parsers',
  run(input) {
    if (input.length === 0) return;
    const p = input.subarray(1);
    switch (input[0] % 8) {
      case 0: {
        const e = parseEthernet(p);
        if (e) within(e.payload, p, 'ethernet');
        return;
      }
      case 1: {
        const a = parseArp(p);
        if (a && (a.senderMac.length !== 6 || a.targetMac.length !== 6)) throw new FuzzInvariantError('arp: MAC not 6 bytes');
        return;
      }
      case 2: {
        const ip = parseIpv4(p);
        if (typeof ip === 'object') within(ip.payload, p, 'ipv4');
        return;
      }
      case 3: {
        const u = parseUdp(GUEST, GATEWAY, p);
        if (typeof u === 'object') within(u.payload, p, 'udp');
        return;
      }
      case 4: {
        const t = parseTcp(GUEST, GATEWAY, p);
        if (typeof t === 'object') within(t.payload, p, 'tcp');
        return;
      }
      case 5: {
        const r = echoReply(p);
        if (r && (r.length !== p.length || r.length > MAX_ECHO)) throw new FuzzInvariantError(`icmp: reply of ${r?.length} bytes to ${p.length}`);
        return;
      }
      case 6: {
        // DHCP: the fixed BOOTP part is 236 bytes, so random inputs get a magic cookie spliced in.
        const b = p.length > 240 ? p : Uint8Array.from([1, 1, 6, ...new Uint8Array(233), 0x63, 0x82, 0x53, 0x63, ...p]);
        const m = parseDhcp(b);
        if (m) dhcpReply(m, DHCP_CFG);
        return;
      }
      default:
        nameserverFromResolvConf(new TextDecoder().decode(p));
    }
  },
};
