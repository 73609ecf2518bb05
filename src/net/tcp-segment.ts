// TCP segment headers (RFC 9293, 3.1): parse with checksum and option checks, build with the
// MSS and window-scale (RFC 7323, 2) options on SYNs, and with only the pseudo-header sum in
// the checksum field for a segment the receiver completes itself (a large segment handed to the
// guest with NEEDS_CSUM). An option that overruns the header drops the segment; a known option
// with the wrong length is ignored, as if absent. Sequence arithmetic is modulo 2^32.
import { finishChecksum, onesSum, pseudoHeaderSum, readU16, readU32, writeU16, writeU32 } from './checksum.ts';
import { PROTO_TCP } from './ipv4.ts';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const TCP_HEADER = 20;
/** Where the checksum sits in the header (csum_offset of a partial checksum). */
export const TCP_CHECKSUM_OFFSET = 16;

export interface TcpSegment {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  /** MSS option, when present. */
  mss?: number;
  /** Window-scale option's shift count as sent (0-255; the receiver clamps it to 14). */
  windowScale?: number;
  payload: Uint8Array;
}

export type TcpDrop = 'truncated' | 'data-offset' | 'checksum' | 'options';

export function parseTcp(src: number, dst: number, p: Uint8Array): TcpSegment | TcpDrop {
  if (p.length < TCP_HEADER) return 'truncated';
  const off = (p[12] >> 4) * 4;
  if (off < TCP_HEADER || off > p.length) return 'data-offset';
  if (finishChecksum(onesSum(p, 0, p.length, pseudoHeaderSum(src, dst, PROTO_TCP, p.length))) !== 0) return 'checksum';
  let mss: number | undefined;
  let windowScale: number | undefined;
  for (let i = TCP_HEADER; i < off;) {
    const kind = p[i];
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= off) return 'options';
    const len = p[i + 1];
    if (len < 2 || i + len > off) return 'options';
    if (kind === 2 && len === 4) mss = readU16(p, i + 2);
    else if (kind === 3 && len === 3) windowScale = p[i + 2];
    i += len;
  }
  return {
    srcPort: readU16(p, 0), dstPort: readU16(p, 2), seq: readU32(p, 4), ack: readU32(p, 8),
    flags: p[13] & 0x3f, window: readU16(p, 14), mss, windowScale, payload: p.subarray(off),
  };
}

export interface OutSegment {
  seq: number;
  ack: number;
  flags: number;
  /** The header's window field (already scaled down by the sender). */
  window: number;
  mss?: number;
  /** Window-scale shift to offer (SYN segments only). */
  windowScale?: number;
  payload?: Uint8Array;
  /** Set on a segment carrying more than one MSS of payload (segmentation offload): the MSS. */
  segmentSize?: number;
}

export function buildTcp(src: number, dst: number, srcPort: number, dstPort: number, s: OutSegment, partialChecksum = false): Uint8Array {
  // MSS (4 bytes), then NOP and window scale (3 bytes) to keep the header a multiple of 4.
  const optLen = (s.mss !== undefined ? 4 : 0) + (s.windowScale !== undefined ? 4 : 0);
  const data = s.payload ?? new Uint8Array(0);
  const p = new Uint8Array(TCP_HEADER + optLen + data.length);
  writeU16(p, 0, srcPort);
  writeU16(p, 2, dstPort);
  writeU32(p, 4, s.seq >>> 0);
  writeU32(p, 8, s.ack >>> 0);
  p[12] = ((TCP_HEADER + optLen) / 4) << 4;
  p[13] = s.flags;
  writeU16(p, 14, Math.max(0, Math.min(0xffff, s.window)));
  let o = TCP_HEADER;
  if (s.mss !== undefined) {
    p.set([2, 4], o);
    writeU16(p, o + 2, s.mss);
    o += 4;
  }
  if (s.windowScale !== undefined) p.set([1, 3, 3, s.windowScale], o);
  p.set(data, TCP_HEADER + optLen);
  const pseudo = pseudoHeaderSum(src, dst, PROTO_TCP, p.length);
  // Partial: the folded, uncomplemented pseudo-header sum, as a checksum-offloading sender leaves it.
  writeU16(p, 16, partialChecksum ? ~finishChecksum(pseudo) & 0xffff : finishChecksum(onesSum(p, 0, p.length, pseudo)));
  return p;
}

/** The header length a built or parsed segment declares (its data offset). */
export const tcpHeaderLength = (p: Uint8Array): number => (p[12] >> 4) * 4;

/** a - b in sequence space, as a signed 32-bit distance. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;
export const seqAdd = (a: number, n: number): number => (a + n) >>> 0;
