// Port forwards (hostfwd=tcp|udp:HOSTADDR:HOSTPORT-[GUESTADDR]:GUESTPORT): the host listens,
// and each TCP connection becomes a guest-side connection to GUESTPORT; each UDP peer's
// datagrams reach the guest from the gateway address with the peer's port as source port,
// and the guest's replies to that port go back to the peer.
import { createSocket, type RemoteInfo, type Socket as DgramSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { formatIp } from './checksum.ts';
import { PROTO_UDP } from './ipv4.ts';
import type { GuestLink } from './link.ts';
import { NetBackendError } from './backend.ts';
import type { HostForward } from './spec.ts';
import type { TcpNat } from './tcp-nat.ts';
import { buildUdp } from './udp.ts';

const MAX_UDP_PEERS = 256;

interface UdpForward {
  fwd: HostForward;
  socket: DgramSocket;
  /** Peer by the source port the guest sees. */
  peers: Map<number, RemoteInfo>;
}

export class PortForwards {
  private readonly servers: Server[] = [];
  private readonly udp: UdpForward[] = [];

  constructor(private readonly link: GuestLink, private readonly tcp: TcpNat) {}

  /** Start listening on every forward; rejects with one line if a host port is taken. */
  async listen(fwds: readonly HostForward[]): Promise<void> {
    for (const f of fwds) {
      const what = `hostfwd ${f.protocol}:${f.hostAddr}:${f.hostPort}`;
      if (f.protocol === 'tcp') {
        const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (s) => this.tcp.openToGuest(s, f.guestAddr, f.guestPort));
        await new Promise<void>((resolve, reject) => {
          server.once('error', (e) => reject(new NetBackendError(`${what}: ${e.message}`)));
          server.listen(f.hostPort, f.hostAddr, () => resolve());
        });
        server.on('error', (e) => this.link.log.warn(`${what}: ${e.message}`));
        this.servers.push(server);
      } else {
        const socket = createSocket('udp4');
        await new Promise<void>((resolve, reject) => {
          socket.once('error', (e) => reject(new NetBackendError(`${what}: ${e.message}`)));
          socket.bind(f.hostPort, f.hostAddr, () => resolve());
        });
        const u: UdpForward = { fwd: f, socket, peers: new Map() };
        socket.on('error', (e) => this.link.log.warn(`${what}: ${e.message}`));
        socket.on('message', (msg, rinfo) => {
          if (!u.peers.has(rinfo.port) && u.peers.size >= MAX_UDP_PEERS) u.peers.delete(u.peers.keys().next().value!);
          u.peers.set(rinfo.port, rinfo);
          const gw = this.link.gatewayIp;
          this.link.sendIp(gw, f.guestAddr, PROTO_UDP, buildUdp(gw, f.guestAddr, rinfo.port, f.guestPort, new Uint8Array(msg)));
        });
        this.udp.push(u);
      }
    }
  }

  /** The TCP ports the forwards listen on (port 0 in a spec picks a free one; tests use it). */
  get boundTcpPorts(): number[] {
    return this.servers.map((s) => {
      const a = s.address();
      return typeof a === 'object' && a ? a.port : 0;
    });
  }

  /** A guest datagram from `srcPort` to the gateway's `dstPort`: a reply to a forwarded peer? */
  guestReply(src: number, srcPort: number, dstPort: number, payload: Uint8Array): boolean {
    for (const u of this.udp) {
      if (u.fwd.guestPort !== srcPort || u.fwd.guestAddr !== src) continue;
      const peer = u.peers.get(dstPort);
      if (!peer) continue;
      u.socket.send(payload, peer.port, peer.address);
      return true;
    }
    return false;
  }

  async close(): Promise<void> {
    for (const u of this.udp) u.socket.close();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.link.log.debug(`port forwards to ${formatIp(this.link.guestIp)} closed`);
  }
}
