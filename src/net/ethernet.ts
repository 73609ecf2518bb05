// Ethernet II framing and ARP (RFC 826) for IPv4 over Ethernet. Parsers return undefined
// for anything malformed; the caller counts and drops it.
import { readU16, readU32, writeU16, writeU32 } from './checksum.ts';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETH_HEADER = 14;
export const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** Largest frame the stack handles (1500-byte MTU plus header, room for a VLAN tag). */
export const MAX_FRAME = 1518;

export interface EthernetFrame {
  dst: Uint8Array;
  src: Uint8Array;
  type: number;
  payload: Uint8Array;
}

export function parseEthernet(frame: Uint8Array): EthernetFrame | undefined {
  if (frame.length < ETH_HEADER) return undefined;
  return { dst: frame.subarray(0, 6), src: frame.subarray(6, 12), type: readU16(frame, 12), payload: frame.subarray(ETH_HEADER) };
}

export function buildEthernet(dst: Uint8Array, src: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(ETH_HEADER + payload.length);
  f.set(dst.subarray(0, 6), 0);
  f.set(src.subarray(0, 6), 6);
  writeU16(f, 12, type);
  f.set(payload, ETH_HEADER);
  return f;
}

export const macEquals = (a: Uint8Array, b: Uint8Array): boolean => a.length >= 6 && b.length >= 6 && a.every((v, i) => i >= 6 || v === b[i]);
export const isMulticastMac = (m: Uint8Array): boolean => (m[0] & 1) === 1;

export function parseMac(text: string): Uint8Array | undefined {
  const m = /^([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2}):([0-9a-f]{2})$/i.exec(text);
  return m ? new Uint8Array(m.slice(1).map((h) => parseInt(h, 16))) : undefined;
}

export const formatMac = (m: Uint8Array): string => [...m.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
const ARP_LEN = 28;

export interface ArpPacket {
  op: number;
  senderMac: Uint8Array;
  senderIp: number;
  targetMac: Uint8Array;
  targetIp: number;
}

/** ARP for Ethernet/IPv4 only (htype 1, ptype 0x0800, hlen 6, plen 4). */
export function parseArp(p: Uint8Array): ArpPacket | undefined {
  if (p.length < ARP_LEN) return undefined;
  if (readU16(p, 0) !== 1 || readU16(p, 2) !== ETHERTYPE_IPV4 || p[4] !== 6 || p[5] !== 4) return undefined;
  return { op: readU16(p, 6), senderMac: p.slice(8, 14), senderIp: readU32(p, 14), targetMac: p.slice(18, 24), targetIp: readU32(p, 24) };
}

export function buildArp(a: ArpPacket): Uint8Array {
  const p = new Uint8Array(ARP_LEN);
  writeU16(p, 0, 1);
  writeU16(p, 2, ETHERTYPE_IPV4);
  p[4] = 6;
  p[5] = 4;
  writeU16(p, 6, a.op);
  p.set(a.senderMac.subarray(0, 6), 8);
  writeU32(p, 14, a.senderIp);
  p.set(a.targetMac.subarray(0, 6), 18);
  writeU32(p, 24, a.targetIp);
  return p;
}
