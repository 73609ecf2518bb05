// virtio-vsock (virtio 1.2, 5.10) with Firecracker's hybrid host side: the guest (CID 3 by
// default) talks vsock; the host talks Unix sockets.
//  - host -> guest: a host process connects to a listening socket the VMM owns and writes
//    "CONNECT <guest port>\n"; once the guest accepts, the VMM answers "OK <host port>\n"
//    and the socket carries the stream.
//  - guest -> host: a guest connect() to CID 2 port P is forwarded to the Unix socket mapped
//    for P (a host process listens there); unmapped ports are refused with RST.
// Queues: rx 0 (device -> guest), tx 1, event 2. The guest is untrusted: packets are checked
// (CIDs, type, length, op, state), the connection table and every buffer are capped, and a
// guest sending beyond the credit we gave it is reset.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { lstatSync, unlinkSync } from 'node:fs';
import type { GuestMemoryAccess } from '../../../memory/guest-memory.ts';
import {
  bit, readConfigBytes, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_ID_VSOCK,
  type DeviceLogger, type DeviceSignals, type VirtioDevice,
} from '../device.ts';
import type { Virtqueue } from '../queue.ts';
import { decodeHeader, encodeHeader, EVENT_TRANSPORT_RESET, HDR_SIZE, HOST_CID, OP, SHUTDOWN_RCV, SHUTDOWN_SEND, TYPE_STREAM } from './packet.ts';
import { CONN_BUF_ALLOC, connKey, VsockConnection } from './connection.ts';

export const VSOCK_QUEUE_SIZE = 128;
export const DEFAULT_GUEST_CID = 3;
/** Open connections at most (each holds at most CONN_BUF_ALLOC + PENDING_CAP bytes). */
export const MAX_CONNECTIONS = 128;
/** Largest payload accepted in one guest packet. */
export const MAX_PKT_PAYLOAD = 64 * 1024;
/** Control packets (RESPONSE, RST, credit, ...) waiting for rx buffers at most. */
const MAX_PENDING_CONTROL = 1024;
const MAX_CHAINS_PER_TURN = 64;
/** The "CONNECT <port>\n" line: longest accepted, and how long a host client may take. */
const MAX_CONNECT_LINE = 32;
const CONNECT_TIMEOUT_MS = 5000;
/** How long a connection waits for the guest's RST after our SHUTDOWN. */
const CLOSE_TIMEOUT_MS = 2000;
/** Host ports assigned to host-initiated connections start here. */
const FIRST_HOST_PORT = 1 << 30;

export class VsockError extends Error {
  override readonly name = 'VsockError';
}

export interface VsockOptions {
  guestCid?: number;
  /** Unix sockets the VMM listens on for host-initiated connections (CONNECT protocol). */
  listen?: readonly string[];
  /** Guest -> host: host port -> Unix socket path a host process listens on. */
  ports?: ReadonlyMap<number, string>;
  log?: DeviceLogger;
  maxConnections?: number;
}

type Active = { kind: 'activated'; mem: GuestMemoryAccess; queues: readonly Virtqueue[]; signals: DeviceSignals };
type State = Active | { kind: 'inactive' };

interface Reply {
  hostPort: number;
  guestPort: number;
  op: number;
  flags?: number;
  fwdCnt?: number;
}

export class VirtioVsock implements VirtioDevice {
  readonly name = 'virtio-vsock';
  readonly deviceType = VIRTIO_ID_VSOCK;
  readonly features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX);
  readonly queueMaxSizes = [VSOCK_QUEUE_SIZE, VSOCK_QUEUE_SIZE, 16];
  readonly configSize = 8;
  readonly guestCid: number;
  readonly conns = new Map<string, VsockConnection>();
  private readonly config = new Uint8Array(8);
  private readonly log: DeviceLogger;
  private readonly ports: ReadonlyMap<number, string>;
  private readonly maxConnections: number;
  private readonly servers: Server[] = [];
  private state: State = { kind: 'inactive' };
  private control: Reply[] = [];
  private nextHostPort = FIRST_HOST_PORT;
  private scheduled = false;
  /** Malformed guest packets dropped (for tests and stats). */
  dropped = 0;

  private constructor(opts: VsockOptions) {
    this.guestCid = opts.guestCid ?? DEFAULT_GUEST_CID;
    if (!Number.isInteger(this.guestCid) || this.guestCid < 3 || this.guestCid > 0xffff_fffe) throw new VsockError(`invalid guest CID ${this.guestCid}`);
    new DataView(this.config.buffer).setBigUint64(0, BigInt(this.guestCid), true);
    this.log = opts.log ?? silentLogger;
    this.ports = opts.ports ?? new Map();
    this.maxConnections = opts.maxConnections ?? MAX_CONNECTIONS;
  }

  /** Create the device and start listening on its host sockets. */
  static async open(opts: VsockOptions = {}): Promise<VirtioVsock> {
    const dev = new VirtioVsock(opts);
    try {
      for (const path of new Set(opts.listen ?? [])) await dev.listen(path);
    } catch (e) {
      await dev.close();
      throw e;
    }
    return dev;
  }

  private async listen(path: string): Promise<void> {
    removeStaleSocket(path);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.hostConnected(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new VsockError(`cannot listen on ${path}: ${e.message}`)));
      server.listen(path, () => resolve());
    });
    server.on('error', (e) => this.log.warn(`virtio-vsock: listener ${path}: ${e.message}`));
    this.servers.push(server);
  }

  async close(): Promise<void> {
    this.dropAll();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }

  readConfig(offset: number, size: number): number {
    return readConfigBytes(this.config, offset, size);
  }

  writeConfig(offset: number, size: number): void {
    this.log.warn(`virtio-vsock: ignoring ${size}-byte config write at ${offset}`);
  }

  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], _features: bigint, signals: DeviceSignals): void {
    this.state = { kind: 'activated', mem, queues, signals };
  }

  reset(): void {
    this.state = { kind: 'inactive' };
    this.dropAll();
  }

  /** Drop every connection and tell the guest (VIRTIO_VSOCK_EVENT_TRANSPORT_RESET). */
  transportReset(): void {
    this.dropAll();
    const st = this.state;
    if (st.kind !== 'activated') return;
    const q = st.queues[2];
    const chain = q?.active ? q.pop() : undefined;
    if (!chain) {
      this.log.warn('virtio-vsock: no event buffer for TRANSPORT_RESET');
      return;
    }
    const ev = new Uint8Array(4);
    new DataView(ev.buffer).setUint32(0, EVENT_TRANSPORT_RESET, true);
    q.addUsed(chain.head, chain.writeBytes(st.mem, 0, ev));
    st.signals.usedBuffers(2);
  }

  private dropAll(): void {
    for (const c of this.conns.values()) c.dispose();
    this.conns.clear();
    this.control = [];
  }

  queueNotify(index: number): void {
    try {
      if (index === 0) this.fillRx();
      else if (index === 1) this.drainTx();
      // Event buffers are only consumed by transportReset().
    } catch (e) {
      this.log.warn(`virtio-vsock: queue ${index}: ${(e as Error).message}`);
    }
  }

  private later(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.queueNotify(1);
      this.queueNotify(0);
    });
  }

  // ---- guest -> device

  private drainTx(): void {
    const st = this.state;
    if (st.kind !== 'activated') return;
    const q = st.queues[1];
    if (!q?.active) return;
    let n = 0;
    for (; n < MAX_CHAINS_PER_TURN; n++) {
      const chain = q.pop();
      if (!chain) break;
      const hdrBytes = chain.readBytes(st.mem, 0, HDR_SIZE);
      let payload: Uint8Array | undefined;
      let hdr;
      if (hdrBytes.length === HDR_SIZE) {
        hdr = decodeHeader(hdrBytes);
        if (hdr.len <= MAX_PKT_PAYLOAD && hdr.len <= chain.readableLength - HDR_SIZE) payload = chain.readBytes(st.mem, HDR_SIZE, hdr.len);
      }
      q.addUsed(chain.head, 0);
      if (!hdr || !payload) {
        this.drop(`packet of ${chain.readableLength} bytes with${hdr ? ` len ${hdr.len}` : 'out a header'}`);
        continue;
      }
      this.handle(hdr, payload);
    }
    if (n > 0) st.signals.usedBuffers(1);
    if (n === MAX_CHAINS_PER_TURN) this.later();
    this.fillRx();
  }

  private drop(why: string): void {
    this.dropped++;
    this.log.warn(`virtio-vsock: dropping malformed packet: ${why}`);
  }

  private handle(h: ReturnType<typeof decodeHeader>, payload: Uint8Array): void {
    if (h.srcCid !== BigInt(this.guestCid) || h.dstCid !== BigInt(HOST_CID)) {
      this.drop(`cid ${h.srcCid} -> ${h.dstCid}`);
      return;
    }
    const hostPort = h.dstPort;
    const guestPort = h.srcPort;
    const c = this.conns.get(connKey(hostPort, guestPort));
    const rst = (): void => this.reply({ hostPort, guestPort, op: OP.RST });
    if (h.type !== TYPE_STREAM) {
      if (h.op !== OP.RST) rst();
      return;
    }
    if (c) {
      c.peerBufAlloc = h.bufAlloc;
      c.peerFwdCnt = h.fwdCnt;
    }
    switch (h.op) {
      case OP.REQUEST:
        if (c) {
          this.log.warn(`virtio-vsock: duplicate REQUEST ${guestPort} -> ${hostPort}`);
          this.closeConn(c, true);
          return;
        }
        this.guestConnect(hostPort, guestPort, h.bufAlloc, h.fwdCnt);
        return;
      case OP.RST:
        if (c) this.removeConn(c);
        return;
      case OP.RESPONSE:
        if (!c || c.state !== 'requesting') {
          if (c) this.closeConn(c, true);
          else rst();
          return;
        }
        c.state = 'established';
        c.socket.write(`OK ${hostPort}\n`);
        if (c.pendingBytes === 0) c.socket.resume();
        return;
      case OP.RW:
        if (!c || c.state !== 'established') {
          if (c) this.closeConn(c, true);
          else rst();
          return;
        }
        this.guestData(c, payload);
        return;
      case OP.SHUTDOWN:
        if (!c) return rst();
        c.peerShutdown |= h.flags & (SHUTDOWN_RCV | SHUTDOWN_SEND);
        if ((c.peerShutdown & (SHUTDOWN_RCV | SHUTDOWN_SEND)) === (SHUTDOWN_RCV | SHUTDOWN_SEND)) {
          // Both directions done: acknowledge with RST and let the socket finish its writes.
          this.reply({ hostPort, guestPort, op: OP.RST });
          this.conns.delete(c.key);
          clearTimeout(c.closeTimer);
          c.socket.end();
          return;
        }
        if (c.peerShutdown & SHUTDOWN_SEND) c.socket.end();
        if (c.peerShutdown & SHUTDOWN_RCV) c.socket.pause();
        return;
      case OP.CREDIT_UPDATE:
        if (!c) return rst();
        c.creditRequested = false;
        return;
      case OP.CREDIT_REQUEST:
        if (!c) return rst();
        this.reply({ hostPort, guestPort, op: OP.CREDIT_UPDATE, fwdCnt: c.fwdCnt });
        c.advertisedFwd = c.fwdCnt;
        return;
      default:
        this.log.warn(`virtio-vsock: unknown op ${h.op}`);
        if (c) this.closeConn(c, true);
        else rst();
    }
  }

  private guestData(c: VsockConnection, payload: Uint8Array): void {
    if (payload.length === 0) return;
    if (c.inFlight + payload.length > CONN_BUF_ALLOC) {
      this.log.warn(`virtio-vsock: guest port ${c.guestPort} overran its credit; resetting`);
      this.closeConn(c, true);
      return;
    }
    if (c.peerShutdown & SHUTDOWN_SEND) return;
    c.rxCnt += payload.length;
    const len = payload.length;
    c.socket.write(payload, (err) => {
      if (err) return;
      c.fwdCnt += len;
      // Tell the guest about freed space once a quarter of the buffer is free again.
      if (this.conns.get(c.key) === c && c.fwdCnt - c.advertisedFwd >= CONN_BUF_ALLOC / 4) {
        c.advertisedFwd = c.fwdCnt;
        this.reply({ hostPort: c.hostPort, guestPort: c.guestPort, op: OP.CREDIT_UPDATE, fwdCnt: c.fwdCnt });
        this.fillRx();
      }
    });
  }

  private guestConnect(hostPort: number, guestPort: number, bufAlloc: number, fwdCnt: number): void {
    const path = this.ports.get(hostPort);
    if (!path || this.conns.size >= this.maxConnections) {
      if (path) this.log.warn(`virtio-vsock: connection table full (${this.maxConnections}); refusing guest port ${guestPort}`);
      this.reply({ hostPort, guestPort, op: OP.RST });
      return;
    }
    const socket = createConnection({ path, allowHalfOpen: true });
    socket.pause();
    const c = new VsockConnection(hostPort, guestPort, socket, 'connecting');
    c.peerBufAlloc = bufAlloc;
    c.peerFwdCnt = fwdCnt;
    this.conns.set(c.key, c);
    socket.once('connect', () => {
      if (this.conns.get(c.key) !== c) return;
      c.state = 'established';
      this.reply({ hostPort, guestPort, op: OP.RESPONSE });
      socket.resume();
      this.fillRx();
    });
    this.wireSocket(c);
  }

  // ---- host sockets

  private hostConnected(socket: Socket): void {
    if (this.state.kind !== 'activated' || this.conns.size >= this.maxConnections) {
      this.log.warn('virtio-vsock: refusing host connection (guest driver not ready or table full)');
      socket.destroy();
      return;
    }
    let line = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), CONNECT_TIMEOUT_MS);
    const onData = (b: Buffer): void => {
      line = Buffer.concat([line, b]);
      const nl = line.indexOf(0x0a);
      if (nl < 0 && line.length < MAX_CONNECT_LINE) return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      const m = nl >= 0 ? /^CONNECT (\d{1,10})$/.exec(line.subarray(0, nl).toString('latin1')) : null;
      const port = m ? Number(m[1]) : NaN;
      if (!m || port > 0xffff_ffff || this.state.kind !== 'activated' || this.conns.size >= this.maxConnections) {
        socket.end('ERR\n');
        return;
      }
      const c = new VsockConnection(this.allocHostPort(port), port, socket, 'requesting');
      this.conns.set(c.key, c);
      const rest = line.subarray(nl + 1);
      if (rest.length > 0) c.queueFromHost(rest);
      this.wireSocket(c);
      socket.pause();
      this.reply({ hostPort: c.hostPort, guestPort: port, op: OP.REQUEST });
      this.fillRx();
    };
    socket.on('data', onData);
    socket.on('error', () => clearTimeout(timer));
    socket.resume();
  }

  private allocHostPort(guestPort: number): number {
    for (;;) {
      const p = this.nextHostPort;
      this.nextHostPort = this.nextHostPort >= 0xffff_fffe ? FIRST_HOST_PORT : this.nextHostPort + 1;
      if (!this.conns.has(connKey(p, guestPort))) return p;
    }
  }

  private wireSocket(c: VsockConnection): void {
    const s = c.socket;
    s.on('data', (b: Buffer) => {
      if (this.conns.get(c.key) !== c) return;
      c.queueFromHost(b);
      this.fillRx();
    });
    s.on('end', () => {
      if (this.conns.get(c.key) !== c) return;
      c.hostEnded = true;
      this.fillRx();
    });
    s.on('error', (e) => {
      if (this.conns.get(c.key) !== c) return;
      this.log.debug(`virtio-vsock: socket for guest port ${c.guestPort}: ${e.message}`);
      this.closeConn(c, true);
    });
    s.on('close', () => {
      if (this.conns.get(c.key) !== c) return;
      if (c.state === 'established') {
        c.hostEnded = c.hostClosed = true;
        this.fillRx();
      } else this.closeConn(c, true);
    });
  }

  /** Reset (RST now) or shut down after pending data (SHUTDOWN, then wait for the guest's RST). */
  private closeConn(c: VsockConnection, reset: boolean): void {
    if (reset) {
      this.reply({ hostPort: c.hostPort, guestPort: c.guestPort, op: OP.RST });
      this.removeConn(c);
      this.fillRx();
    }
  }

  private removeConn(c: VsockConnection): void {
    if (this.conns.get(c.key) === c) this.conns.delete(c.key);
    c.dispose();
  }

  // ---- device -> guest

  private reply(r: Reply): void {
    if (this.control.length >= MAX_PENDING_CONTROL) {
      this.log.warn(`virtio-vsock: control backlog full, dropping op ${r.op}`);
      return;
    }
    this.control.push(r);
  }

  private header(hostPort: number, guestPort: number, op: number, len: number, flags: number, fwdCnt: number): Uint8Array {
    return encodeHeader({
      srcCid: BigInt(HOST_CID), dstCid: BigInt(this.guestCid), srcPort: hostPort, dstPort: guestPort,
      len, type: TYPE_STREAM, op, flags, bufAlloc: CONN_BUF_ALLOC, fwdCnt: fwdCnt >>> 0,
    });
  }

  /** The next packet for the guest: control first, then data from connections with credit. */
  private nextPacket(room: number): Uint8Array | undefined {
    const r = this.control.shift();
    if (r) {
      const c = this.conns.get(connKey(r.hostPort, r.guestPort));
      return this.header(r.hostPort, r.guestPort, r.op, 0, r.flags ?? 0, r.fwdCnt ?? c?.fwdCnt ?? 0);
    }
    for (const c of this.conns.values()) {
      if (c.state !== 'established') continue;
      if (c.pendingBytes > 0 && !(c.peerShutdown & SHUTDOWN_RCV)) {
        const credit = c.peerCredit;
        if (credit === 0) {
          if (!c.creditRequested) {
            c.creditRequested = true;
            return this.header(c.hostPort, c.guestPort, OP.CREDIT_REQUEST, 0, 0, c.fwdCnt);
          }
          continue;
        }
        const data = c.take(Math.min(credit, room - HDR_SIZE, MAX_PKT_PAYLOAD));
        if (!data) continue;
        c.advertisedFwd = c.fwdCnt;
        // Move it to the back so connections take turns.
        this.conns.delete(c.key);
        this.conns.set(c.key, c);
        const pkt = new Uint8Array(HDR_SIZE + data.length);
        pkt.set(this.header(c.hostPort, c.guestPort, OP.RW, data.length, 0, c.fwdCnt));
        pkt.set(data, HDR_SIZE);
        return pkt;
      }
      const want = shutdownWanted(c);
      if (want !== 0) {
        // A half-close (SEND) keeps the guest's direction open; a full close ends both.
        c.shutdownSent |= want;
        if (c.shutdownSent === (SHUTDOWN_RCV | SHUTDOWN_SEND)) {
          c.state = 'closing';
          c.closeTimer = setTimeout(() => this.closeConn(c, true), CLOSE_TIMEOUT_MS);
        }
        return this.header(c.hostPort, c.guestPort, OP.SHUTDOWN, 0, c.shutdownSent, c.fwdCnt);
      }
    }
    return undefined;
  }

  private hasWork(): boolean {
    if (this.control.length > 0) return true;
    for (const c of this.conns.values()) {
      if (c.state !== 'established') continue;
      if (c.pendingBytes > 0 && !(c.peerShutdown & SHUTDOWN_RCV) && (c.peerCredit > 0 || !c.creditRequested)) return true;
      if (shutdownWanted(c) !== 0) return true;
    }
    return false;
  }

  private fillRx(): void {
    const st = this.state;
    if (st.kind !== 'activated') return;
    const q = st.queues[0];
    if (!q?.active) return;
    let n = 0;
    for (; n < MAX_CHAINS_PER_TURN && this.hasWork(); n++) {
      const chain = q.pop();
      if (!chain) break;
      if (chain.writableLength < HDR_SIZE) {
        this.log.warn(`virtio-vsock: rx buffer of ${chain.writableLength} bytes is too small`);
        q.addUsed(chain.head, 0);
        continue;
      }
      const pkt = this.nextPacket(chain.writableLength);
      q.addUsed(chain.head, pkt ? chain.writeBytes(st.mem, 0, pkt) : 0);
    }
    if (n > 0) st.signals.usedBuffers(0);
    if (n === MAX_CHAINS_PER_TURN) this.later();
  }
}

/** SHUTDOWN flags due to the guest and not yet sent (only once host data is all out). */
function shutdownWanted(c: VsockConnection): number {
  if (c.pendingBytes > 0) return 0;
  const want = (c.hostEnded ? SHUTDOWN_SEND : 0) | (c.hostClosed ? SHUTDOWN_RCV : 0);
  return want & ~c.shutdownSent;
}

/** A socket file left by an earlier run would make listen() fail; anything else is kept. */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // absent: nothing to do
  }
}

/**
 * The `--vsock PORT:PATH` entries as device options, Firecracker's hybrid convention: the VMM
 * listens on PATH for host-initiated connections (CONNECT <port>), and guest connections to
 * host port PORT go to the Unix socket `PATH_PORT`. Entries sharing a PATH share a listener.
 */
export function hybridVsockOptions(entries: readonly { port: number; path: string }[]): Pick<VsockOptions, 'listen' | 'ports'> {
  const ports = new Map<number, string>();
  for (const e of entries) {
    if (ports.has(e.port)) throw new VsockError(`--vsock port ${e.port} given twice`);
    ports.set(e.port, `${e.path}_${e.port}`);
  }
  return { listen: [...new Set(entries.map((e) => e.path))], ports };
}
