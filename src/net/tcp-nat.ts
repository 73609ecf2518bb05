// TCP NAT: the guest's TCP is terminated by TcpConnection and its byte stream spliced to a
// node:net socket, both for connections the guest opens (host socket connects to the mapped
// destination) and for port forwards (a host connection opens a guest-side connection).
// Backpressure both ways: our advertised window is what the host socket has not yet taken,
// and the host socket is paused while the guest has too much unacknowledged data. Both bounds
// shrink as connections multiply, so all of them together buffer about HOST_BUFFER_BUDGET.
import { connect, type Socket } from 'node:net';
import { formatIp } from './checksum.ts';
import { PROTO_TCP } from './ipv4.ts';
import type { GuestLink } from './link.ts';
import { TcpConnection, type CloseReason, type TcpOptions } from './tcp.ts';
import { ACK, RST, SYN, buildTcp, tcpHeaderLength, type OutSegment, type TcpSegment } from './tcp-segment.ts';

export const MAX_TCP_CONNECTIONS = 512;
/** What all connections together should buffer in each direction; each gets an equal share,
 *  kept between the MIN and MAX below. */
const HOST_BUFFER_BUDGET = 16 << 20;
/** Bytes one host socket may hold unwritten; our receive window is what is left. */
const HOST_WRITE_BUFFER_MAX = 1 << 20;
const HOST_WRITE_BUFFER_MIN = 64 * 1024;
/** Host data queued for the guest above which the host socket is paused. */
const GUEST_SEND_HIGH_WATER_MAX = 1 << 20;
const GUEST_SEND_HIGH_WATER_MIN = 256 * 1024;
const CONNECT_TIMEOUT_MS = 20_000;

interface Entry {
  conn: TcpConnection;
  socket?: Socket;
}

export interface TcpNatOptions {
  initialRtoMs?: number;
}

export class TcpNat {
  private readonly conns = new Map<string, Entry>();
  private nextForwardPort = 40000;
  /** Segments answered with RST or dropped for want of a connection. */
  rejected = 0;

  constructor(private readonly link: GuestLink, private readonly opts: TcpNatOptions = {}) {}

  get connectionCount(): number {
    return this.conns.size;
  }

  /** One connection's share of the budget, between min and max. */
  private share(min: number, max: number): number {
    return Math.max(min, Math.min(max, Math.floor(HOST_BUFFER_BUDGET / Math.max(1, this.conns.size))));
  }

  private guestSendHighWater(): number {
    return this.share(GUEST_SEND_HIGH_WATER_MIN, GUEST_SEND_HIGH_WATER_MAX);
  }

  /** A segment from the guest (already checksum-verified). */
  input(src: number, dst: number, seg: TcpSegment): void {
    const key = `${formatIp(src)}:${seg.srcPort}>${formatIp(dst)}:${seg.dstPort}`;
    const e = this.conns.get(key);
    if (e) {
      e.conn.input(seg);
      return;
    }
    if ((seg.flags & (SYN | ACK | RST)) !== SYN) {
      this.rejected++;
      if (!(seg.flags & RST)) this.resetFor(src, dst, seg);
      return;
    }
    const host = this.link.hostAddress(dst);
    if (host === undefined || this.conns.size >= MAX_TCP_CONNECTIONS) {
      this.rejected++;
      this.resetFor(src, dst, seg);
      return;
    }
    const entry: Entry = { conn: undefined as unknown as TcpConnection };
    const conn = TcpConnection.fromSyn(seg, this.callbacks(key, entry, dst, seg.dstPort, src, seg.srcPort), this.tcpOptions(entry));
    entry.conn = conn;
    this.conns.set(key, entry);
    const socket = connect({ host, port: seg.dstPort, allowHalfOpen: true });
    entry.socket = socket;
    socket.setTimeout(CONNECT_TIMEOUT_MS);
    socket.once('timeout', () => socket.destroy(new Error('connect timeout')));
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.setNoDelay(true);
      conn.accept();
    });
    this.wire(entry, socket);
  }

  /** A port forward accepted `socket`: open a connection to the guest's `guestPort`. */
  openToGuest(socket: Socket, guestIp: number, guestPort: number): void {
    if (this.conns.size >= MAX_TCP_CONNECTIONS) {
      socket.destroy();
      return;
    }
    let port = 0;
    for (let i = 0; i < 25000 && port === 0; i++) {
      const p = this.nextForwardPort;
      this.nextForwardPort = p >= 64999 ? 40000 : p + 1;
      if (!this.conns.has(`${formatIp(guestIp)}:${guestPort}>${formatIp(this.link.gatewayIp)}:${p}`)) port = p;
    }
    if (port === 0) {
      socket.destroy();
      return;
    }
    const key = `${formatIp(guestIp)}:${guestPort}>${formatIp(this.link.gatewayIp)}:${port}`;
    const entry: Entry = { conn: undefined as unknown as TcpConnection, socket };
    entry.conn = new TcpConnection(this.callbacks(key, entry, this.link.gatewayIp, port, guestIp, guestPort), this.tcpOptions(entry));
    this.conns.set(key, entry);
    socket.pause(); // until the guest accepts
    socket.setNoDelay(true);
    this.wire(entry, socket);
    entry.conn.connect();
  }

  private tcpOptions(entry: Entry): TcpOptions {
    return {
      receiveWindow: () => this.share(HOST_WRITE_BUFFER_MIN, HOST_WRITE_BUFFER_MAX) - (entry.socket?.writableLength ?? 0),
      maxReceiveWindow: HOST_WRITE_BUFFER_MAX,
      segmentLimit: () => this.link.tcpSegmentLimit(),
      initialRtoMs: this.opts.initialRtoMs,
    };
  }

  private callbacks(key: string, entry: Entry, ourIp: number, ourPort: number, guestIp: number, guestPort: number) {
    return {
      output: (s: OutSegment) => {
        // A large segment leaves its checksum to the guest (TSO implies GUEST_CSUM).
        const large = s.segmentSize !== undefined;
        const tcp = buildTcp(ourIp, guestIp, ourPort, guestPort, s, large);
        this.link.sendIp(ourIp, guestIp, PROTO_TCP, tcp, large ? { segmentSize: s.segmentSize!, tcpHeader: tcpHeaderLength(tcp) } : undefined);
      },
      data: (bytes: Uint8Array) => {
        const s = entry.socket;
        if (s && !s.destroyed && s.writable) s.write(Buffer.from(bytes));
      },
      established: () => entry.socket?.resume(),
      peerFin: () => entry.socket?.end(),
      acked: () => {
        if (entry.socket && entry.conn.buffered < this.guestSendHighWater()) entry.socket.resume();
      },
      closed: (reason: CloseReason) => {
        this.conns.delete(key);
        const s = entry.socket;
        if (s && !s.destroyed) {
          if (reason === 'done') s.end();
          else s.destroy();
        }
      },
    };
  }

  private wire(entry: Entry, socket: Socket): void {
    socket.on('data', (chunk: Buffer) => {
      entry.conn.write(chunk);
      if (entry.conn.buffered >= this.guestSendHighWater()) socket.pause();
    });
    socket.on('drain', () => entry.conn.windowUpdate());
    socket.on('end', () => entry.conn.end());
    socket.on('error', (e) => this.link.log.debug(`tcp nat: ${e.message}`));
    socket.on('close', (hadError) => {
      if (entry.conn.state === 'pending') entry.conn.refuse();
      else if (hadError) entry.conn.abort();
      else entry.conn.end();
    });
  }

  /** RST for a segment that belongs to no connection (RFC 9293, 3.10.7.1). */
  private resetFor(src: number, dst: number, seg: TcpSegment): void {
    const len = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & 0x01 ? 1 : 0);
    const out: OutSegment = seg.flags & ACK
      ? { seq: seg.ack, ack: 0, flags: RST, window: 0 }
      : { seq: 0, ack: (seg.seq + len) >>> 0, flags: RST | ACK, window: 0 };
    this.link.sendIp(dst, src, PROTO_TCP, buildTcp(dst, src, seg.dstPort, seg.srcPort, out));
  }

  close(): void {
    for (const e of this.conns.values()) e.socket?.destroy();
    this.conns.clear();
  }
}
