// The user-mode network end to end with crafted guest frames; every host-side peer listens on
// 127.0.0.1 (tests never send traffic anywhere else).
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { parseIp } from '../../src/net/checksum.ts';
import { ARP_REPLY, ARP_REQUEST, BROADCAST_MAC, ETHERTYPE_ARP, buildArp, buildEthernet, parseArp, parseEthernet } from '../../src/net/ethernet.ts';
import { PROTO_ICMP, buildIpv4 } from '../../src/net/ipv4.ts';
import { internetChecksum, writeU16 } from '../../src/net/checksum.ts';
import { parseNetSpec, type UserNetSpec } from '../../src/net/spec.ts';
import { ACK, FIN, RST, SYN } from '../../src/net/tcp-segment.ts';
import { GATEWAY_MAC, UserNetwork } from '../../src/net/user-net.ts';
import { DHCPACK, DHCPDISCOVER, DHCPOFFER, DHCPREQUEST } from '../../src/net/dhcp.ts';
import { DNS_IP, FrameSink, dhcpRequest, GATEWAY_IP, GUEST_IP, GUEST_MAC, ipFrame, ipOf, tcpFrame, tcpOf, udpFrame, udpOf } from './guest-frames.ts';

async function network(spec = 'user', dnsPort?: number): Promise<{ net: UserNetwork; sink: FrameSink }> {
  const net = await UserNetwork.create(parseNetSpec(spec) as UserNetSpec, {
    guestMac: GUEST_MAC,
    dnsUpstream: dnsPort ? { address: '127.0.0.1', port: dnsPort } : { address: '127.0.0.1', port: 9 },
    initialRtoMs: 50,
  });
  const sink = new FrameSink();
  net.onFrame(sink.receive);
  return { net, sink };
}

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

describe('user-mode network', () => {
  let net: UserNetwork;
  let sink: FrameSink;
  afterEach(async () => {
    await net?.close();
  });

  it('answers ARP for the gateway and DNS addresses only', async () => {
    ({ net, sink } = await network());
    const ask = (ip: number): void => net.send(buildEthernet(BROADCAST_MAC, GUEST_MAC, ETHERTYPE_ARP, buildArp({ op: ARP_REQUEST, senderMac: GUEST_MAC, senderIp: GUEST_IP, targetMac: new Uint8Array(6), targetIp: ip })));
    ask(GATEWAY_IP);
    ask(parseIp('10.0.2.99')!);
    ask(DNS_IP);
    expect(sink.frames).to.have.length(2);
    const replies = sink.frames.map((f) => parseArp(parseEthernet(f)!.payload)!);
    expect(replies.map((r) => [r.op, r.senderIp, [...r.senderMac]])).to.deep.equal([
      [ARP_REPLY, GATEWAY_IP, [...GATEWAY_MAC]],
      [ARP_REPLY, DNS_IP, [...GATEWAY_MAC]],
    ]);
    expect([...parseEthernet(sink.frames[0])!.dst]).to.deep.equal([...GUEST_MAC]);
  });

  it('leases 10.0.2.15 by DHCP with router, DNS and lease time', async () => {
    ({ net, sink } = await network());
    const zero = 0;
    const bcast = parseIp('255.255.255.255')!;
    net.send(udpFrame(bcast, 68, 67, dhcpRequest(DHCPDISCOVER, 42, GUEST_MAC), zero));
    const offer = await sink.next(udpOf);
    expect([offer.srcPort, offer.dstPort, offer.src, offer.dst]).to.deep.equal([67, 68, GATEWAY_IP, bcast]);
    expect(offer.payload[242]).to.equal(DHCPOFFER);
    expect(new DataView(offer.payload.buffer, offer.payload.byteOffset).getUint32(16)).to.equal(GUEST_IP);
    net.send(udpFrame(bcast, 68, 67, dhcpRequest(DHCPREQUEST, 42, GUEST_MAC, [50, 4, 10, 0, 2, 15, 54, 4, 10, 0, 2, 2]), zero));
    const ack = await sink.next(udpOf);
    expect(ack.payload[242]).to.equal(DHCPACK);
  });

  it('answers pings to the gateway locally and drops those elsewhere', async () => {
    ({ net, sink } = await network());
    const echo = new Uint8Array([8, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3]);
    writeU16(echo, 2, internetChecksum(echo));
    net.send(ipFrame(GUEST_IP, GATEWAY_IP, PROTO_ICMP, echo));
    net.send(ipFrame(GUEST_IP, parseIp('127.0.0.1')!, PROTO_ICMP, echo));
    const r = await sink.next(ipOf);
    expect([r.src, r.dst, r.protocol, r.payload[0]]).to.deep.equal([GATEWAY_IP, GUEST_IP, PROTO_ICMP, 0]);
    expect(sink.frames).to.have.length(1);
  });

  it('relays DNS to the configured resolver and the answer back', async () => {
    const resolver = createSocket('udp4');
    await new Promise<void>((r) => resolver.bind(0, '127.0.0.1', () => r()));
    resolver.on('message', (msg, rinfo) => resolver.send(Buffer.concat([msg, Buffer.from('answer')]), rinfo.port, rinfo.address));
    try {
      ({ net, sink } = await network('user', resolver.address().port));
      const query = new Uint8Array([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 120, 0, 0, 1, 0, 1]);
      net.send(udpFrame(DNS_IP, 33333, 53, query));
      const a = await sink.next(udpOf);
      expect([a.src, a.srcPort, a.dstPort]).to.deep.equal([DNS_IP, 53, 33333]);
      expect(Buffer.from(a.payload).toString('latin1').endsWith('answer')).to.equal(true);
      expect([...a.payload.subarray(0, 2)]).to.deep.equal([0xab, 0xcd]);
    } finally {
      resolver.close();
    }
  });

  it('NATs UDP to the host through the gateway address', async () => {
    const server = createSocket('udp4');
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()));
    server.on('message', (msg, rinfo) => server.send(Buffer.from(`echo:${msg}`), rinfo.port, rinfo.address));
    try {
      ({ net, sink } = await network());
      net.send(udpFrame(GATEWAY_IP, 4444, server.address().port, new TextEncoder().encode('ping')));
      const r = await sink.next(udpOf);
      expect([r.src, r.srcPort, r.dst, r.dstPort]).to.deep.equal([GATEWAY_IP, server.address().port, GUEST_IP, 4444]);
      expect(Buffer.from(r.payload).toString()).to.equal('echo:ping');
      expect(net.udp.flowCount).to.equal(1);
    } finally {
      server.close();
    }
  });

  it('NATs a guest TCP connection to a host server: handshake, data both ways, FIN both ways', async () => {
    let serverSide: Socket | undefined;
    const received: Buffer[] = [];
    const server = createServer({ allowHalfOpen: true }, (s) => {
      serverSide = s;
      s.on('data', (d) => received.push(d));
      s.on('end', () => s.end('bye'));
      s.write('hello guest');
    });
    const port = await listen(server);
    try {
      ({ net, sink } = await network());
      const gseq = 5000;
      net.send(tcpFrame(GATEWAY_IP, 40001, port, { seq: gseq, ack: 0, flags: SYN, window: 65535, mss: 1460 }));
      const synAck = await sink.next(tcpOf);
      expect(synAck.flags).to.equal(SYN | ACK);
      expect([synAck.src, synAck.srcPort, synAck.ack, synAck.mss]).to.deep.equal([GATEWAY_IP, port, gseq + 1, 1460]);
      const hseq = synAck.seq + 1;
      net.send(tcpFrame(GATEWAY_IP, 40001, port, { seq: gseq + 1, ack: hseq, flags: ACK, window: 65535 }));
      const hello = await sink.next((f) => { const t = tcpOf(f); return t && t.payload.length > 0 ? t : undefined; });
      expect(Buffer.from(hello.payload).toString()).to.equal('hello guest');
      expect(hello.seq).to.equal(hseq);
      const data = new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');
      net.send(tcpFrame(GATEWAY_IP, 40001, port, { seq: gseq + 1, ack: hseq + 11, flags: ACK | FIN, window: 65535, payload: data }));
      const bye = await sink.next((f) => { const t = tcpOf(f); return t && t.payload.length > 0 ? t : undefined; });
      expect(Buffer.from(bye.payload).toString()).to.equal('bye');
      expect(Buffer.concat(received).toString()).to.equal('GET / HTTP/1.0\r\n\r\n');
      const fin = await sink.next((f) => { const t = tcpOf(f); return t && t.flags & FIN ? t : undefined; });
      expect(fin.ack).to.equal(gseq + 1 + data.length + 1);
      net.send(tcpFrame(GATEWAY_IP, 40001, port, { seq: fin.ack, ack: fin.seq + 1, flags: ACK, window: 65535 }));
      await new Promise((r) => setTimeout(r, 20));
      expect(net.tcp.connectionCount).to.equal(0);
      expect(serverSide).to.not.equal(undefined);
    } finally {
      server.close();
    }
  });

  it('scales the windows both ways when the guest SYN offers it: more than 64 KiB in flight each way', async () => {
    const fromHost = Buffer.alloc(500_000, 0x33);
    let toHost = 0;
    const server = createServer((s) => {
      s.on('data', (d) => (toHost += d.length));
      s.write(fromHost);
    });
    const port = await listen(server);
    try {
      ({ net, sink } = await network());
      const gseq = 7000;
      net.send(tcpFrame(GATEWAY_IP, 40011, port, { seq: gseq, ack: 0, flags: SYN, window: 65535, mss: 1460, windowScale: 7 }));
      const synAck = await sink.next(tcpOf);
      expect([synAck.flags, synAck.windowScale, synAck.window]).to.deep.equal([SYN | ACK, 5, 65535]);
      const hseq = synAck.seq + 1;
      // 4096 << 7 = 512 KiB: the host's 500 000 bytes all leave before the guest ACKs any.
      net.send(tcpFrame(GATEWAY_IP, 40011, port, { seq: gseq + 1, ack: hseq, flags: ACK, window: 4096 }));
      const towardGuest = (): number => sink.frames.map(tcpOf).reduce((n, t) => n + (t?.payload.length ?? 0), 0);
      const deadline = Date.now() + 3000;
      while (towardGuest() < fromHost.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(towardGuest()).to.equal(fromHost.length);
      // The guest sends 300 000 bytes without waiting for an ACK: the scaled window takes them all.
      const chunk = 1460;
      for (let off = 0; off < 300_000; off += chunk) {
        const n = Math.min(chunk, 300_000 - off);
        net.send(tcpFrame(GATEWAY_IP, 40011, port, { seq: gseq + 1 + off, ack: hseq + fromHost.length, flags: ACK, window: 4096, payload: new Uint8Array(n) }));
      }
      while (toHost < 300_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(toHost).to.equal(300_000);
      const lastAck = sink.frames.map(tcpOf).filter((t) => t && t.payload.length === 0).at(-1)!;
      expect(lastAck.ack).to.equal(gseq + 1 + 300_000);
      expect(lastAck.window << 5).to.be.greaterThan(65535);
    } finally {
      server.close();
    }
  });

  it('resets a guest connection to a closed host port and stray segments', async () => {
    const probe = createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    ({ net, sink } = await network());
    net.send(tcpFrame(GATEWAY_IP, 40002, port, { seq: 1, ack: 0, flags: SYN, window: 65535 }));
    const rst = await sink.next(tcpOf);
    expect(rst.flags).to.equal(RST | ACK);
    expect(rst.ack).to.equal(2);
    net.send(tcpFrame(GATEWAY_IP, 40003, port, { seq: 1, ack: 99, flags: ACK, window: 65535 }));
    const rst2 = await sink.next(tcpOf);
    expect([rst2.flags, rst2.seq]).to.deep.equal([RST, 99]);
    // Other addresses of the virtual network are unreachable: RST too.
    net.send(tcpFrame(parseIp('10.0.2.77')!, 40004, 80, { seq: 1, ack: 0, flags: SYN, window: 65535 }));
    expect((await sink.next(tcpOf)).flags & RST).to.equal(RST);
    expect(net.tcp.connectionCount).to.equal(0);
  });

  it('forwards a host TCP port to the guest (hostfwd)', async () => {
    ({ net, sink } = await network('user,hostfwd=tcp:127.0.0.1:0-:8080'));
    const [hostPort] = net.forwards.boundTcpPorts;
    const client = connect({ host: '127.0.0.1', port: hostPort, allowHalfOpen: true });
    const got: Buffer[] = [];
    client.on('data', (d) => got.push(d));
    const syn = await sink.next(tcpOf);
    expect([syn.flags, syn.dst, syn.dstPort, syn.src]).to.deep.equal([SYN, GUEST_IP, 8080, GATEWAY_IP]);
    expect(syn.windowScale, 'the forward offers window scaling').to.equal(5);
    const gseq = 900;
    net.send(tcpFrame(GATEWAY_IP, 8080, syn.srcPort, { seq: gseq, ack: syn.seq + 1, flags: SYN | ACK, window: 65535, mss: 1460 }));
    const ack = await sink.next(tcpOf);
    expect([ack.flags, ack.ack]).to.deep.equal([ACK, gseq + 1]);
    client.write('from host');
    const d = await sink.next((f) => { const t = tcpOf(f); return t && t.payload.length > 0 ? t : undefined; });
    expect(Buffer.from(d.payload).toString()).to.equal('from host');
    net.send(tcpFrame(GATEWAY_IP, 8080, syn.srcPort, { seq: gseq + 1, ack: d.seq + d.payload.length, flags: ACK | FIN, window: 65535, payload: new TextEncoder().encode('from guest') }));
    await new Promise<void>((r) => client.on('end', () => r()));
    expect(Buffer.concat(got).toString()).to.equal('from guest');
    client.destroy();
  });

  it('forwards a host UDP port to the guest and the guest reply back', async () => {
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const port = probe.address().port;
    probe.close();
    ({ net, sink } = await network(`user,hostfwd=udp:127.0.0.1:${port}-:5353`));
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    try {
      const reply = new Promise<string>((r) => client.once('message', (m) => r(m.toString())));
      client.send('q', port, '127.0.0.1');
      const q = await sink.next(udpOf);
      expect([q.dst, q.dstPort, q.src, q.srcPort]).to.deep.equal([GUEST_IP, 5353, GATEWAY_IP, client.address().port]);
      net.send(udpFrame(GATEWAY_IP, 5353, q.srcPort, new TextEncoder().encode('a')));
      expect(await reply).to.equal('a');
    } finally {
      client.close();
    }
  });

  it('fails with one line when a hostfwd port is taken', async () => {
    const s = createServer();
    const port = await listen(s);
    try {
      let err: Error | undefined;
      await UserNetwork.create(parseNetSpec(`user,hostfwd=tcp:127.0.0.1:${port}-:80`) as UserNetSpec, { guestMac: GUEST_MAC }).catch((e: Error) => { err = e; });
      expect(err?.message).to.match(new RegExp(`hostfwd tcp:127.0.0.1:${port}: .*EADDRINUSE`));
    } finally {
      s.close();
    }
  });

  it('counts and drops malformed frames without answering', async () => {
    ({ net, sink } = await network());
    net.send(new Uint8Array(5));
    net.send(buildEthernet(GATEWAY_MAC, GUEST_MAC, 0x86dd, new Uint8Array(40)));
    const ip = buildIpv4(GUEST_IP, GATEWAY_IP, 6, new Uint8Array(20));
    ip[10] ^= 0xff;
    net.send(buildEthernet(GATEWAY_MAC, GUEST_MAC, 0x0800, ip));
    net.send(tcpFrame(GATEWAY_IP, 1, 2, { seq: 0, ack: 0, flags: SYN, window: 0 }).map((b, i, a) => (i === a.length - 1 ? b ^ 1 : b)));
    net.send(buildEthernet(new Uint8Array([2, 0, 0, 0, 0, 1]), GUEST_MAC, 0x0800, ip));
    expect(sink.frames).to.deep.equal([]);
    expect(Object.keys(net.stats.dropped).sort()).to.deep.equal(['ethernet', 'ethertype', 'ipv4-checksum', 'not-for-us', 'tcp-checksum']);
  });

  it('takes an oversized frame only as an IPv4 TCP segment the device marked for segmentation', async () => {
    ({ net, sink } = await network());
    const big = new Uint8Array(20000);
    net.send(udpFrame(GATEWAY_IP, 1000, 2000, big));
    net.send(udpFrame(GATEWAY_IP, 1000, 2000, big), { protocol: 'tcpv4', segmentSize: 1448 });
    net.send(tcpFrame(GATEWAY_IP, 40009, 9, { seq: 1, ack: 0, flags: ACK, window: 0, payload: big }), { protocol: 'tcpv6', segmentSize: 1448 });
    expect(net.stats.dropped).to.deep.equal({ 'oversized': 1, 'gso-not-tcp': 1, 'gso-protocol': 1 });
    // A marked TCP segment is processed: no connection, so it is answered with RST.
    net.send(tcpFrame(GATEWAY_IP, 40009, 9, { seq: 1, ack: 5, flags: ACK, window: 0, payload: big }), { protocol: 'tcpv4', segmentSize: 1448 });
    expect((await sink.next(tcpOf)).flags & RST).to.equal(RST);
  });
});

describe('user-mode network bulk TCP', () => {
  it('moves 2 MiB host -> guest intact under the guest window, with the host socket paused and resumed', async () => {
    const blob = Buffer.alloc(2 << 20);
    for (let i = 0; i < blob.length; i++) blob[i] = (i * 31) & 0xff;
    const server = createServer((s) => s.end(blob));
    const port = await listen(server);
    const { net, sink } = await network();
    try {
      const gseq = 1;
      let got = 0;
      let ok = true;
      let finSeen = false;
      let hseq = 0;
      const done = new Promise<void>((resolve) => {
        net.onFrame((f) => {
          const t = tcpOf(f);
          if (!t) return;
          if (t.flags & SYN) {
            hseq = t.seq + 1;
            net.send(tcpFrame(GATEWAY_IP, 40100, port, { seq: gseq + 1, ack: hseq, flags: ACK, window: 32768 }));
            return;
          }
          if (t.payload.length > 0 && t.seq === ((hseq + got) >>> 0)) {
            for (let i = 0; i < t.payload.length; i++) if (t.payload[i] !== blob[got + i]) ok = false;
            got += t.payload.length;
          }
          if (t.flags & FIN && t.seq === ((hseq + got) >>> 0)) finSeen = true;
          // ACK everything in order (a guest with a 32 KiB window), after a turn of the loop.
          setImmediate(() => net.send(tcpFrame(GATEWAY_IP, 40100, port, { seq: gseq + 1, ack: (hseq + got + (finSeen ? 1 : 0)) >>> 0, flags: ACK, window: 32768 })));
          if (finSeen) resolve();
        });
      });
      const t0 = performance.now();
      net.send(tcpFrame(GATEWAY_IP, 40100, port, { seq: gseq, ack: 0, flags: SYN, window: 32768, mss: 1460 }));
      await done;
      const ms = performance.now() - t0;
      expect(got).to.equal(blob.length);
      expect(ok).to.equal(true);
      console.log(`      stack alone: ${((blob.length * 8) / (ms / 1000) / 1e6).toFixed(0)} Mbit/s host -> guest`);
      void sink;
    } finally {
      await net.close();
      server.close();
    }
  });
});
