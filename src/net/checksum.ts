// The Internet checksum (RFC 1071) and IPv4 addresses as 32-bit numbers. Sums are kept
// unfolded in a plain number (well below 2^53 for any frame) and folded once at the end.

/** One's-complement sum of `data[start..end)` as 16-bit big-endian words, added to `initial`. */
export function onesSum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (data[i] << 8) | data[i + 1];
  if (i < end) sum += data[i] << 8;
  return sum;
}

/** Fold a sum to 16 bits and complement it: the value stored in a header. */
export function finishChecksum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

export function internetChecksum(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  return finishChecksum(onesSum(data, start, end, initial));
}

/** Sum of the IPv4 pseudo header used by TCP and UDP. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** The pseudo-header sum for the transport segment at l4 of an Ethernet frame whose IPv4 or
 *  (extension-free) IPv6 header starts at byte 14; the segment runs to the frame's end. */
export function framePseudoHeaderSum(frame: Uint8Array, ipv6: boolean, l4: number, protocol: number): number {
  const addresses = ipv6 ? onesSum(frame, 22, 54) : onesSum(frame, 26, 34);
  return addresses + protocol + (frame.length - l4);
}

/** Parse dotted-quad IPv4; undefined when malformed. */
export function parseIp(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

export function formatIp(ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}

export function readU16(b: Uint8Array, at: number): number {
  return (b[at] << 8) | b[at + 1];
}
export function readU32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
}
export function writeU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
export function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}
