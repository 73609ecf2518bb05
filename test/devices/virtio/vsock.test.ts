import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { VirtioVsock } from '../../../src/devices/virtio/vsock/device.ts';
import { CONN_BUF_ALLOC } from '../../../src/devices/virtio/vsock/connection.ts';
import { decodeHeader, encodeHeader, HDR_SIZE, HOST_CID, OP, SHUTDOWN_RCV, SHUTDOWN_SEND, TYPE_STREAM, type VsockHeader } from '../../../src/devices/virtio/vsock/packet.ts';
import { VIRTIO_ID_VSOCK } from '../../../src/devices/virtio/device.ts';
import { REG } from '../../../src/devices/virtio/mmio-transport.ts';
import { MockVirtioDriver, CapturingLogger } from '../../helpers/virtio-driver.ts';

const GUEST = 3n;

function pkt(h: Partial<VsockHeader> & { op: number }, data = new Uint8Array(0)): Uint8Array {
  const hdr = encodeHeader({
    srcCid: GUEST, dstCid: BigInt(HOST_CID), srcPort: 5000, dstPort: 1234, len: data.length, type: TYPE_STREAM,
    flags: 0, bufAlloc: 65536, fwdCnt: 0, ...h,
  });
  const out = new Uint8Array(HDR_SIZE + data.length);
  out.set(hdr);
  out.set(data, HDR_SIZE);
  return out;
}

interface Received { hdr: VsockHeader; data: Buffer }

class Guest {
  readonly d: MockVirtioDriver;
  constructor(readonly dev: VirtioVsock, readonly log = new CapturingLogger()) {
    this.d = new MockVirtioDriver(dev, { ramBytes: 16 << 20, log: this.log });
    this.d.init();
  }
  send(p: Uint8Array, split = true): void {
    const tx = this.d.queues[1];
    // Linux puts the header and the payload in separate descriptors.
    tx.add(split && p.length > HDR_SIZE ? [{ data: p.subarray(0, HDR_SIZE) }, { data: p.subarray(HDR_SIZE) }] : [{ data: p }]);
    tx.notify();
    tx.takeUsed();
  }
  offer(n: number, size = 4096 + HDR_SIZE): void {
    const rx = this.d.queues[0];
    for (let i = 0; i < n; i++) rx.add([{ writable: HDR_SIZE }, { writable: size - HDR_SIZE }]);
    rx.notify();
  }
  async recv(n: number): Promise<Received[]> {
    const used = await this.d.queues[0].waitUsed(n);
    return used.map((u) => {
      const hdr = decodeHeader(u.written.subarray(0, HDR_SIZE));
      return { hdr, data: Buffer.from(u.written.subarray(HDR_SIZE, HDR_SIZE + hdr.len)) };
    });
  }
}

const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('virtio-vsock', () => {
  let dir: string;
  const servers: Server[] = [];
  const devices: VirtioVsock[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-vsock-'));
  });
  afterEach(async () => {
    await Promise.all(devices.splice(0).map((d) => d.close()));
    for (const s of servers.splice(0)) s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(ports: [number, string][] = [], listen: string[] = []): Promise<Guest> {
    const log = new CapturingLogger();
    const dev = await VirtioVsock.open({ ports: new Map(ports), listen, log });
    devices.push(dev);
    return new Guest(dev, log);
  }

  function hostServer(path: string): Promise<Socket> {
    return new Promise((resolve) => {
      const s = createServer((sock) => resolve(sock));
      s.listen(path);
      servers.push(s);
    });
  }

  it('reports its CID in config space', async () => {
    const g = await open();
    expect(g.d.reg(REG.DeviceId)).to.equal(VIRTIO_ID_VSOCK);
    expect(g.d.config(0, 4)).to.equal(3);
    expect(g.d.config(4, 4)).to.equal(0);
  });

  it('guest -> host: REQUEST to a mapped port connects the Unix socket, data both ways, then shutdown', async () => {
    const path = join(dir, 'srv_1234');
    const accepted = hostServer(path);
    const g = await open([[1234, path]]);
    g.offer(8);
    g.send(pkt({ op: OP.REQUEST }));
    const sock = await accepted;
    const [resp] = await g.recv(1);
    expect(resp.hdr.op).to.equal(OP.RESPONSE);
    expect([resp.hdr.srcPort, resp.hdr.dstPort, Number(resp.hdr.dstCid)]).to.deep.equal([1234, 5000, 3]);
    expect(resp.hdr.bufAlloc).to.equal(CONN_BUF_ALLOC);
    const got = new Promise<Buffer>((r) => sock.once('data', r));
    g.send(pkt({ op: OP.RW }, new TextEncoder().encode('ping')));
    expect((await got).toString()).to.equal('ping');
    sock.write('pong');
    const [rw] = await g.recv(1);
    expect([rw.hdr.op, rw.data.toString()]).to.deep.equal([OP.RW, 'pong']);
    expect(rw.hdr.fwdCnt).to.equal(4);
    const ended = new Promise((r) => sock.once('end', r));
    g.send(pkt({ op: OP.SHUTDOWN, flags: SHUTDOWN_RCV | SHUTDOWN_SEND }));
    await ended;
    const [rst] = await g.recv(1);
    expect(rst.hdr.op).to.equal(OP.RST);
    expect(g.dev.conns.size).to.equal(0);
  });

  it('guest -> host: an unmapped port or an absent socket gets RST', async () => {
    const g = await open([[7, join(dir, 'nobody')]]);
    g.offer(4);
    g.send(pkt({ op: OP.REQUEST, dstPort: 99 }));
    g.send(pkt({ op: OP.REQUEST, dstPort: 7 }));
    const got = await g.recv(2);
    expect(got.map((p) => [p.hdr.op, p.hdr.srcPort])).to.deep.equal([[OP.RST, 99], [OP.RST, 7]]);
    expect(g.dev.conns.size).to.equal(0);
  });

  it('host -> guest: CONNECT through the hybrid socket, OK <port>, data, and host close as SHUTDOWN', async () => {
    const path = join(dir, 'v.sock');
    const g = await open([], [path]);
    g.offer(8);
    const sock = createConnection(path);
    await new Promise((r) => sock.once('connect', r));
    sock.write('CONNECT 52\nearly');
    const [req] = await g.recv(1);
    expect(req.hdr.op).to.equal(OP.REQUEST);
    expect(req.hdr.dstPort).to.equal(52);
    const hostPort = req.hdr.srcPort;
    const ok = new Promise<Buffer>((r) => sock.once('data', r));
    g.send(pkt({ op: OP.RESPONSE, srcPort: 52, dstPort: hostPort }));
    expect((await ok).toString()).to.equal(`OK ${hostPort}\n`);
    const [early] = await g.recv(1);
    expect([early.hdr.op, early.data.toString()]).to.deep.equal([OP.RW, 'early']);
    const got = new Promise<Buffer>((r) => sock.once('data', r));
    g.send(pkt({ op: OP.RW, srcPort: 52, dstPort: hostPort }, new TextEncoder().encode('hi host')));
    expect((await got).toString()).to.equal('hi host');
    sock.end(); // half-close: the guest may still send
    const [sd] = await g.recv(1);
    expect([sd.hdr.op, sd.hdr.flags]).to.deep.equal([OP.SHUTDOWN, SHUTDOWN_SEND]);
    const late = new Promise<Buffer>((r) => sock.once('data', r));
    g.send(pkt({ op: OP.RW, srcPort: 52, dstPort: hostPort }, new TextEncoder().encode('after')));
    expect((await late).toString()).to.equal('after');
    const closed = new Promise((r) => sock.once('close', r));
    g.send(pkt({ op: OP.SHUTDOWN, srcPort: 52, dstPort: hostPort, flags: SHUTDOWN_RCV | SHUTDOWN_SEND }));
    const [rst] = await g.recv(1);
    expect(rst.hdr.op).to.equal(OP.RST);
    await closed;
    expect(g.dev.conns.size).to.equal(0);
  });

  it('host -> guest: a guest RST refuses the connection and closes the host socket; a bad line gets ERR', async () => {
    const path = join(dir, 'v.sock');
    const g = await open([], [path]);
    g.offer(4);
    const sock = createConnection(path);
    sock.write('CONNECT 9\n');
    const [req] = await g.recv(1);
    const closed = new Promise((r) => sock.once('close', r));
    sock.resume();
    g.send(pkt({ op: OP.RST, srcPort: 9, dstPort: req.hdr.srcPort }));
    await closed;
    const bad = createConnection(path);
    bad.write('HELLO\n');
    const reply = await new Promise<Buffer>((r) => bad.once('data', r));
    expect(reply.toString()).to.equal('ERR\n');
  });

  it('honours the guest credit and resumes on CREDIT_UPDATE', async () => {
    const path = join(dir, 'srv');
    const accepted = hostServer(path);
    const g = await open([[1234, path]]);
    g.offer(16);
    g.send(pkt({ op: OP.REQUEST, bufAlloc: 10 }));
    const sock = await accepted;
    await g.recv(1);
    sock.write('0123456789abcdef');
    const first = await g.recv(2);
    expect(first[0].data.toString()).to.equal('0123456789');
    expect(first[1].hdr.op).to.equal(OP.CREDIT_REQUEST);
    await tick();
    expect(g.d.queues[0].takeUsed()).to.have.length(0);
    g.send(pkt({ op: OP.CREDIT_UPDATE, bufAlloc: 10, fwdCnt: 10 }));
    const [rest] = await g.recv(1);
    expect(rest.data.toString()).to.equal('abcdef');
    g.send(pkt({ op: OP.CREDIT_REQUEST, bufAlloc: 10, fwdCnt: 16 }));
    const [upd] = await g.recv(1);
    expect(upd.hdr.op).to.equal(OP.CREDIT_UPDATE);
  });

  it('resets a guest that sends past the credit it was given', async () => {
    const path = join(dir, 'srv');
    const accepted = hostServer(path);
    const g = await open([[1234, path]]);
    g.offer(8);
    g.send(pkt({ op: OP.REQUEST }));
    const sock = await accepted;
    sock.pause(); // host stops reading: writes pile up
    await g.recv(1);
    const chunk = new Uint8Array(60 * 1024);
    for (let i = 0; i < 3; i++) g.send(pkt({ op: OP.RW }, chunk));
    const [rst] = await g.recv(1);
    expect(rst.hdr.op).to.equal(OP.RST);
    expect(g.dev.conns.size).to.equal(0);
  });

  it('drops malformed packets and answers unknown ops and unknown connections with RST', async () => {
    const g = await open();
    g.offer(8);
    g.send(new Uint8Array(10), false); // no header
    g.send(pkt({ op: OP.RW, srcCid: 7n })); // wrong source CID
    g.send(pkt({ op: OP.RW, dstCid: 9n })); // not to the host
    const lying = pkt({ op: OP.RW }, new Uint8Array(8));
    new DataView(lying.buffer).setUint32(24, 1 << 20, true); // len beyond the chain
    g.send(lying, false);
    expect(g.dev.dropped).to.equal(4);
    g.send(pkt({ op: 42 }));
    g.send(pkt({ op: OP.RW }, new Uint8Array(3)));
    g.send(pkt({ op: OP.REQUEST, type: 2 }));
    g.send(pkt({ op: OP.RST })); // never answered
    const got = await g.recv(3);
    expect(got.map((p) => p.hdr.op)).to.deep.equal([OP.RST, OP.RST, OP.RST]);
    await tick();
    expect(g.d.queues[0].takeUsed()).to.have.length(0);
  });

  it('caps the connection table', async () => {
    const path = join(dir, 'srv');
    const srv = createServer(() => undefined);
    srv.listen(path);
    servers.push(srv);
    const dev = await VirtioVsock.open({ ports: new Map([[1, path]]), maxConnections: 2 });
    devices.push(dev);
    const g = new Guest(dev);
    g.offer(8);
    for (let p = 0; p < 3; p++) g.send(pkt({ op: OP.REQUEST, dstPort: 1, srcPort: 100 + p }));
    const got = await g.recv(3);
    expect(got.map((p) => [p.hdr.op, p.hdr.dstPort]).sort()).to.deep.equal([[OP.RESPONSE, 100], [OP.RESPONSE, 101], [OP.RST, 102]].sort());
  });

  it('drops every connection on device reset and can post TRANSPORT_RESET', async () => {
    const path = join(dir, 'srv');
    const accepted = hostServer(path);
    const g = await open([[1234, path]]);
    g.offer(4);
    g.send(pkt({ op: OP.REQUEST }));
    const sock = await accepted;
    await g.recv(1);
    const closed = new Promise((r) => sock.once('close', r));
    sock.resume();
    g.d.queues[2].add([{ writable: 4 }]);
    g.dev.transportReset();
    const [ev] = g.d.queues[2].takeUsed();
    expect([ev.len, new DataView(ev.written.buffer, ev.written.byteOffset).getUint32(0, true)]).to.deep.equal([4, 0]);
    await closed;
    expect(g.dev.conns.size).to.equal(0);
  });
});
