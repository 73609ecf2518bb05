// The DNS relay: queries the guest sends to the virtual DNS address are forwarded over UDP to
// the host's resolver (the first nameserver of /etc/resolv.conf) and the answers relayed back.
// Queries in flight are capped and time out, so a silent resolver holds no sockets for long.
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export const DNS_PORT = 53;
export const MAX_DNS_IN_FLIGHT = 64;
const DNS_TIMEOUT_MS = 5000;
const MAX_DNS_MESSAGE = 4096;

export interface Upstream {
  address: string;
  port: number;
}

/** The first usable nameserver of a resolv.conf text (an IPv6 zone suffix is kept). */
export function nameserverFromResolvConf(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m && isIP(m[1].split('%')[0])) return m[1];
  }
  return undefined;
}

export function hostUpstream(path = '/etc/resolv.conf'): Upstream | undefined {
  try {
    const ns = nameserverFromResolvConf(readFileSync(path, 'utf8'));
    return ns ? { address: ns, port: DNS_PORT } : undefined;
  } catch {
    return undefined;
  }
}

export class DnsRelay {
  private inFlight = 0;
  private readonly sockets = new Set<Socket>();
  private closed = false;
  /** Queries dropped because too many were in flight or no resolver is known. */
  dropped = 0;

  constructor(private readonly upstream: () => Upstream | undefined) {}

  /** Forward one query; `reply` gets the resolver's answer, if any, before the timeout. */
  query(message: Uint8Array, reply: (answer: Uint8Array) => void): void {
    const up = this.upstream();
    if (this.closed || !up || this.inFlight >= MAX_DNS_IN_FLIGHT || message.length < 12 || message.length > MAX_DNS_MESSAGE) {
      this.dropped++;
      return;
    }
    // One socket per query: a fresh source port keeps answers from being confused.
    const sock = createSocket(isIP(up.address.split('%')[0]) === 6 ? 'udp6' : 'udp4');
    this.inFlight++;
    this.sockets.add(sock);
    const done = (): void => {
      clearTimeout(timer);
      if (!this.sockets.delete(sock)) return;
      this.inFlight--;
      sock.close();
    };
    const timer = setTimeout(done, DNS_TIMEOUT_MS);
    timer.unref();
    sock.on('error', done);
    sock.on('message', (msg) => {
      // Only an answer to this query (same ID) from the resolver counts.
      if (msg.length >= 12 && msg[0] === message[0] && msg[1] === message[1]) {
        done();
        reply(new Uint8Array(msg));
      }
    });
    sock.send(message, up.port, up.address, (err) => {
      if (err) done();
    });
  }

  close(): void {
    this.closed = true;
    for (const s of this.sockets) s.close();
    this.sockets.clear();
    this.inFlight = 0;
  }
}
