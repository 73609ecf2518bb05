// UDP datagrams (RFC 768) with the pseudo-header checksum; a zero checksum means "none".
import { finishChecksum, onesSum, pseudoHeaderSum, readU16, writeU16 } from './checksum.ts';
import { PROTO_UDP } from './ipv4.ts';

export const UDP_HEADER = 8;

export interface UdpDatagram {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

export type UdpDrop = 'truncated' | 'length' | 'checksum';

export function parseUdp(src: number, dst: number, p: Uint8Array): UdpDatagram | UdpDrop {
  if (p.length < UDP_HEADER) return 'truncated';
  const len = readU16(p, 4);
  if (len < UDP_HEADER || len > p.length) return 'length';
  if (readU16(p, 6) !== 0 && finishChecksum(onesSum(p, 0, len, pseudoHeaderSum(src, dst, PROTO_UDP, len))) !== 0) return 'checksum';
  return { srcPort: readU16(p, 0), dstPort: readU16(p, 2), payload: p.subarray(UDP_HEADER, len) };
}

export function buildUdp(src: number, dst: number, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(UDP_HEADER + payload.length);
  writeU16(p, 0, srcPort);
  writeU16(p, 2, dstPort);
  writeU16(p, 4, p.length);
  p.set(payload, UDP_HEADER);
  const c = finishChecksum(onesSum(p, 0, p.length, pseudoHeaderSum(src, dst, PROTO_UDP, p.length)));
  writeU16(p, 6, c === 0 ? 0xffff : c);
  return p;
}
