// The virtio_net_hdr (virtio 1.2, 5.1.6) both ways: on transmit, checking what the guest asks
// of the device (a partial checksum to complete, a TCP segment to treat as TSO) against the
// frame itself, since every field is guest-controlled; on receive, describing a frame's
// partial checksum and segmentation to the guest. Reasons for refusal are short strings the
// device counts and logs. The tap backend speaks the same header to the kernel (IFF_VNET_HDR)
// and reuses the encoding here.
import type { GsoProtocol, RxOffload, TxSegmentation } from '../../../net/backend.ts';
import { finishChecksum, framePseudoHeaderSum, onesSum, readU16, writeU16 } from '../../../net/checksum.ts';
import { ETH_HEADER, ETHERTYPE_IPV4 } from '../../../net/ethernet.ts';
import { PROTO_TCP, PROTO_UDP } from '../../../net/ipv4.ts';
import { TCP_CHECKSUM_OFFSET, TCP_HEADER } from '../../../net/tcp-segment.ts';

/** virtio_net_hdr with num_buffers: always 12 bytes under VERSION_1. */
export const NET_HDR_BYTES = 12;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

const ETHERTYPE_IPV6 = 0x86dd;
const IPV6_HEADER = 40;

/** What the driver negotiated that bears on transmit headers. */
export interface TxOffloads {
  csum: boolean;
  tcpv4: boolean;
  tcpv6: boolean;
}

export interface PreparedTx {
  frame: Uint8Array;
  segmentation?: TxSegmentation;
}

export interface NetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** The fields of a virtio_net_hdr at the start of b (at least 10 bytes). */
export function readNetHeader(b: Uint8Array): NetHeader {
  const le16 = (at: number): number => b[at] | (b[at + 1] << 8);
  return { flags: b[0], gsoType: b[1], hdrLen: le16(2), gsoSize: le16(4), csumStart: le16(6), csumOffset: le16(8) };
}

/** Strip the header from a transmitted chain's bytes and carry out its requests; a string
 *  names why the frame must be dropped. The frame is modified in place. */
export function prepareTx(bytes: Uint8Array, negotiated: TxOffloads): PreparedTx | string {
  const h = readNetHeader(bytes);
  const frame = bytes.subarray(NET_HDR_BYTES);
  if (h.gsoType !== VIRTIO_NET_HDR_GSO_NONE) return prepareSegment(frame, h, negotiated);
  if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
    if (!negotiated.csum) return 'csum-not-negotiated';
    if (h.csumStart + h.csumOffset + 2 > frame.length) return 'csum-position';
    // The driver seeded the field with the pseudo-header sum; fold in everything from start.
    let c = finishChecksum(onesSum(frame, h.csumStart, frame.length));
    // UDP over IPv4 sends a computed zero as 0xffff (zero means "no checksum", RFC 768).
    if (c === 0 && frame.length > 23 && readU16(frame, 12) === ETHERTYPE_IPV4 && frame[23] === PROTO_UDP) c = 0xffff;
    writeU16(frame, h.csumStart + h.csumOffset, c);
  }
  return { frame };
}

/** A TSO request: one TCP segment over IPv4 or IPv6 (no options/extension headers before
 *  TCP for IPv6), lengths consistent with the frame, the checksum where TCP's is. Both
 *  checksums are computed afresh so the backend gets a frame that is valid as it stands. */
function prepareSegment(frame: Uint8Array, h: NetHeader, negotiated: TxOffloads): PreparedTx | string {
  let protocol: GsoProtocol;
  if (h.gsoType === VIRTIO_NET_HDR_GSO_TCPV4 && negotiated.tcpv4) protocol = 'tcpv4';
  else if (h.gsoType === VIRTIO_NET_HDR_GSO_TCPV6 && negotiated.tcpv6) protocol = 'tcpv6';
  else return `gso-type-${h.gsoType}`; // UDP, ECN and anything not negotiated
  if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return 'gso-without-csum';
  if (h.gsoSize === 0) return 'gso-size';
  if (h.hdrLen > frame.length) return 'gso-hdr-len';
  if (frame.length < ETH_HEADER + 1) return 'gso-truncated';
  const ip = ETH_HEADER;
  let l4: number;
  if (protocol === 'tcpv4') {
    if (readU16(frame, 12) !== ETHERTYPE_IPV4 || frame.length < ip + 20 || frame[ip] >> 4 !== 4) return 'gso-not-ipv4';
    const ihl = (frame[ip] & 0x0f) * 4;
    if (ihl < 20 || ip + ihl > frame.length) return 'gso-ip-header';
    if (readU16(frame, ip + 2) !== frame.length - ip) return 'gso-ip-length';
    if ((readU16(frame, ip + 6) & 0x3fff) !== 0) return 'gso-fragment';
    if (frame[ip + 9] !== PROTO_TCP) return 'gso-not-tcp';
    l4 = ip + ihl;
  } else {
    if (readU16(frame, 12) !== ETHERTYPE_IPV6 || frame.length < ip + IPV6_HEADER || frame[ip] >> 4 !== 6) return 'gso-not-ipv6';
    if (readU16(frame, ip + 4) !== frame.length - ip - IPV6_HEADER) return 'gso-ip-length';
    if (frame[ip + 6] !== PROTO_TCP) return 'gso-not-tcp';
    l4 = ip + IPV6_HEADER;
  }
  if (h.csumStart !== l4 || h.csumOffset !== TCP_CHECKSUM_OFFSET) return 'gso-csum-position';
  if (l4 + TCP_HEADER > frame.length) return 'gso-tcp-header';
  const doff = (frame[l4 + 12] >> 4) * 4;
  if (doff < TCP_HEADER || l4 + doff >= frame.length) return 'gso-tcp-header'; // no payload: nothing to segment
  if (protocol === 'tcpv4') {
    writeU16(frame, ip + 10, 0);
    writeU16(frame, ip + 10, finishChecksum(onesSum(frame, ip, l4)));
  }
  const pseudo = framePseudoHeaderSum(frame, protocol === 'tcpv6', l4, PROTO_TCP);
  writeU16(frame, l4 + TCP_CHECKSUM_OFFSET, 0);
  writeU16(frame, l4 + TCP_CHECKSUM_OFFSET, finishChecksum(onesSum(frame, l4, frame.length, pseudo)));
  return { frame, segmentation: { protocol, segmentSize: h.gsoSize } };
}

/** The first 10 header bytes for a received frame (num_buffers is the caller's). */
export function rxHeader(offload: RxOffload | undefined, dataValid: boolean): Uint8Array {
  const h = new Uint8Array(NET_HDR_BYTES);
  const le16 = (at: number, v: number): void => {
    h[at] = v & 0xff;
    h[at + 1] = v >> 8;
  };
  if (!offload) {
    h[0] = dataValid ? VIRTIO_NET_HDR_F_DATA_VALID : 0;
    return h;
  }
  h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  le16(6, offload.csumStart);
  le16(8, offload.csumOffset);
  if (offload.gso) {
    h[1] = offload.gso.protocol === 'tcpv4' ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    le16(2, offload.gso.headerLength);
    le16(4, offload.gso.segmentSize);
  }
  return h;
}

/** Complete a partial checksum the guest did not agree to complete itself. */
export function completeChecksum(frame: Uint8Array, offload: RxOffload): boolean {
  const at = offload.csumStart + offload.csumOffset;
  if (at + 2 > frame.length) return false;
  writeU16(frame, at, finishChecksum(onesSum(frame, offload.csumStart, frame.length)));
  return true;
}
