// A DHCP server (RFC 2131/2132) for the one guest of the user network: DISCOVER gets an
// OFFER, REQUEST for our address gets an ACK (anything else a NAK), RELEASE/INFORM/DECLINE
// are ignored. Replies are broadcast, as the client has no address yet.
import { parseIp, readU32, writeU16, writeU32 } from './checksum.ts';

export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;
const MAGIC = 0x63825363;
const BOOTP_FIXED = 236;

export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPACK = 5;
export const DHCPNAK = 6;

const OPT_SUBNET = 1;
const OPT_ROUTER = 3;
const OPT_DNS = 6;
const OPT_REQUESTED_IP = 50;
const OPT_LEASE = 51;
const OPT_MSG_TYPE = 53;
const OPT_SERVER_ID = 54;
const OPT_END = 255;
const OPT_PAD = 0;

export interface DhcpMessage {
  op: number;
  xid: number;
  flags: number;
  ciaddr: number;
  chaddr: Uint8Array;
  type: number;
  requestedIp?: number;
  serverId?: number;
}

/** Parse a BOOTREQUEST with its options; undefined when malformed. */
export function parseDhcp(p: Uint8Array): DhcpMessage | undefined {
  if (p.length < BOOTP_FIXED + 4 || p[0] !== 1 || p[1] !== 1 || p[2] !== 6) return undefined;
  if (readU32(p, BOOTP_FIXED) !== MAGIC) return undefined;
  const m: DhcpMessage = { op: p[0], xid: readU32(p, 4), flags: (p[10] << 8) | p[11], ciaddr: readU32(p, 12), chaddr: p.slice(28, 34), type: 0 };
  for (let i = BOOTP_FIXED + 4; i < p.length;) {
    const code = p[i];
    if (code === OPT_END) break;
    if (code === OPT_PAD) {
      i++;
      continue;
    }
    if (i + 1 >= p.length) return undefined;
    const len = p[i + 1];
    const v = i + 2;
    if (v + len > p.length) return undefined;
    if (code === OPT_MSG_TYPE && len === 1) m.type = p[v];
    else if (code === OPT_REQUESTED_IP && len === 4) m.requestedIp = readU32(p, v);
    else if (code === OPT_SERVER_ID && len === 4) m.serverId = readU32(p, v);
    i = v + len;
  }
  return m.type === 0 ? undefined : m;
}

export interface DhcpConfig {
  guest: number;
  router: number;
  dns: number;
  netmask: number;
  leaseSeconds: number;
}

/** The reply to one client message (BOOTREPLY payload), or undefined when none is due. */
export function dhcpReply(m: DhcpMessage, cfg: DhcpConfig): Uint8Array | undefined {
  let type: number;
  if (m.type === DHCPDISCOVER) type = DHCPOFFER;
  else if (m.type === DHCPREQUEST) {
    if (m.serverId !== undefined && m.serverId !== cfg.router) return undefined; // chose another server
    const wanted = m.requestedIp ?? m.ciaddr;
    type = wanted === cfg.guest ? DHCPACK : DHCPNAK;
  } else return undefined;
  const p = new Uint8Array(BOOTP_FIXED + 4 + 64);
  p[0] = 2;
  p[1] = 1;
  p[2] = 6;
  writeU32(p, 4, m.xid);
  writeU16(p, 10, m.flags);
  if (type !== DHCPNAK) writeU32(p, 16, cfg.guest); // yiaddr
  writeU32(p, 20, cfg.router); // siaddr
  p.set(m.chaddr.subarray(0, 6), 28);
  writeU32(p, BOOTP_FIXED, MAGIC);
  let i = BOOTP_FIXED + 4;
  const opt = (code: number, bytes: number[]): void => {
    p[i++] = code;
    p[i++] = bytes.length;
    for (const b of bytes) p[i++] = b;
  };
  const ip = (v: number): number[] => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  opt(OPT_MSG_TYPE, [type]);
  opt(OPT_SERVER_ID, ip(cfg.router));
  if (type !== DHCPNAK) {
    opt(OPT_LEASE, ip(cfg.leaseSeconds));
    opt(OPT_SUBNET, ip(cfg.netmask));
    opt(OPT_ROUTER, ip(cfg.router));
    opt(OPT_DNS, ip(cfg.dns));
  }
  p[i++] = OPT_END;
  return p.subarray(0, Math.max(i, 300 - 28)); // BOOTP minimum message size (RFC 1542)
}

export const LIMITED_BROADCAST = parseIp('255.255.255.255')!;
