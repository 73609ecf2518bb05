// IPv4 headers (RFC 791). Options are skipped, fragments are dropped rather than reassembled
// (the guest sends with DF set and the stack never needs reassembly), so the stack keeps no
// per-fragment state a guest could grow.
import { internetChecksum, readU16, readU32, writeU16, writeU32 } from './checksum.ts';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const IPV4_HEADER = 20;

export interface Ipv4Packet {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  id: number;
  payload: Uint8Array;
}

export type Ipv4Drop = 'truncated' | 'version' | 'header-length' | 'total-length' | 'checksum' | 'fragment';

export function parseIpv4(p: Uint8Array): Ipv4Packet | Ipv4Drop {
  if (p.length < IPV4_HEADER) return 'truncated';
  if (p[0] >> 4 !== 4) return 'version';
  const ihl = (p[0] & 0x0f) * 4;
  if (ihl < IPV4_HEADER || ihl > p.length) return 'header-length';
  const total = readU16(p, 2);
  if (total < ihl || total > p.length) return 'total-length';
  if (internetChecksum(p, 0, ihl) !== 0) return 'checksum';
  const frag = readU16(p, 6);
  if ((frag & 0x2000) !== 0 || (frag & 0x1fff) !== 0) return 'fragment';
  return { src: readU32(p, 12), dst: readU32(p, 16), protocol: p[9], ttl: p[8], id: readU16(p, 4), payload: p.subarray(ihl, total) };
}

let nextId = 1;

export function buildIpv4(src: number, dst: number, protocol: number, payload: Uint8Array, ttl = 64): Uint8Array {
  const p = new Uint8Array(IPV4_HEADER + payload.length);
  p[0] = 0x45;
  writeU16(p, 2, p.length);
  writeU16(p, 4, nextId);
  nextId = (nextId + 1) & 0xffff;
  writeU16(p, 6, 0x4000); // DF
  p[8] = ttl;
  p[9] = protocol;
  writeU32(p, 12, src);
  writeU32(p, 16, dst);
  writeU16(p, 10, internetChecksum(p, 0, IPV4_HEADER));
  p.set(payload, IPV4_HEADER);
  return p;
}
