// UDP NAT: each (guest port, destination) flow gets its own host dgram socket; replies on it
// go back to the guest as coming from the destination it addressed. Flows expire when idle and
// their number is capped (the oldest is evicted).
import { createSocket, type Socket } from 'node:dgram';
import { PROTO_UDP } from './ipv4.ts';
import type { GuestLink } from './link.ts';
import { buildUdp, type UdpDatagram } from './udp.ts';

export const MAX_UDP_FLOWS = 256;
const UDP_IDLE_MS = 60_000;

interface Flow {
  socket: Socket;
  timer: NodeJS.Timeout;
}

export class UdpNat {
  private readonly flows = new Map<string, Flow>();
  /** Datagrams dropped (no host mapping, send errors). */
  dropped = 0;

  constructor(private readonly link: GuestLink) {}

  get flowCount(): number {
    return this.flows.size;
  }

  input(dst: number, d: UdpDatagram): void {
    const host = this.link.hostAddress(dst);
    if (host === undefined) {
      this.dropped++;
      return;
    }
    const key = `${d.srcPort}>${dst}:${d.dstPort}`;
    let flow = this.flows.get(key);
    if (!flow) {
      if (this.flows.size >= MAX_UDP_FLOWS) this.expire(this.flows.keys().next().value!);
      const socket = createSocket('udp4');
      const guestIp = this.link.guestIp;
      socket.on('message', (msg) => {
        this.touch(key);
        this.link.sendIp(dst, guestIp, PROTO_UDP, buildUdp(dst, guestIp, d.dstPort, d.srcPort, new Uint8Array(msg)));
      });
      socket.on('error', (e) => {
        this.link.log.debug(`udp flow ${key}: ${e.message}`);
        this.expire(key);
      });
      flow = { socket, timer: this.idleTimer(key) };
      this.flows.set(key, flow);
    } else this.touch(key);
    flow.socket.send(d.payload, d.dstPort, host, (err) => {
      if (err) this.dropped++;
    });
  }

  private idleTimer(key: string): NodeJS.Timeout {
    const t = setTimeout(() => this.expire(key), UDP_IDLE_MS);
    t.unref();
    return t;
  }

  private touch(key: string): void {
    const f = this.flows.get(key);
    if (!f) return;
    clearTimeout(f.timer);
    f.timer = this.idleTimer(key);
    // Re-insert so Map order stays least-recently-used first.
    this.flows.delete(key);
    this.flows.set(key, f);
  }

  private expire(key: string): void {
    const f = this.flows.get(key);
    if (!f) return;
    this.flows.delete(key);
    clearTimeout(f.timer);
    try {
      f.socket.close();
    } catch {
      // already closed
    }
  }

  close(): void {
    for (const k of [...this.flows.keys()]) this.expire(k);
  }
}
