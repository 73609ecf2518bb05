// ICMP echo (RFC 792): the gateway and DNS addresses answer pings locally; nothing else is
// reachable by ICMP from the user network (that would need raw sockets on the host).
import { internetChecksum, writeU16 } from './checksum.ts';

export const ICMP_ECHO_REPLY = 0;
export const ICMP_ECHO_REQUEST = 8;
/** Largest echo answered (a full-MTU ping). */
export const MAX_ECHO = 1480;

/** The echo reply for an echo request, or undefined for anything else or anything malformed. */
export function echoReply(p: Uint8Array): Uint8Array | undefined {
  if (p.length < 8 || p.length > MAX_ECHO || p[0] !== ICMP_ECHO_REQUEST || p[1] !== 0) return undefined;
  if (internetChecksum(p) !== 0) return undefined;
  const r = p.slice();
  r[0] = ICMP_ECHO_REPLY;
  writeU16(r, 2, 0);
  writeU16(r, 2, internetChecksum(r));
  return r;
}
