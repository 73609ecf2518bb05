// --net tap against a real Linux tap device. Creating one needs CAP_NET_ADMIN, so the
// device tests run only where TUNSETIFF works and are skipped, saying why, elsewhere. The
// far side of the tap is an AF_PACKET socket on the interface (python3), which sees what the
// backend writes and injects what the backend must read.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { RxOffload } from '../../src/net/backend.ts';
import { finishChecksum, onesSum, parseIp, pseudoHeaderSum, writeU16 } from '../../src/net/checksum.ts';
import { buildEthernet, parseMac } from '../../src/net/ethernet.ts';
import { PROTO_TCP, buildIpv4, parseIpv4 } from '../../src/net/ipv4.ts';
import { ACK, buildTcp, parseTcp } from '../../src/net/tcp-segment.ts';
import { openTap, type TapBackend } from '../../src/net/tap-backend.ts';
import type { FramePortBackend } from '../../src/net/frame-port-backend.ts';
import { errnoName, loadNetdev, type NativeErrnoError, type NativeNetdev } from '../../src/net/netdev-native.ts';
import { PeerProcess } from './peer-process.ts';

// IEEE 802 local experimental EtherType: nothing on the host sends it, so the kernel's own
// traffic on the new interface (IPv6 router solicitations...) never matches.
const ETHERTYPE = 0x88b5;

// Binds AF_PACKET to the interface for ETHERTYPE only; prints "recv HEX" per frame and sends
// "send HEX" lines out of the interface (which the tap's reader receives).
const SNIFFER = `
import socket, sys, threading
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(${ETHERTYPE}))
s.bind((sys.argv[1], ${ETHERTYPE}))
def reader():
    while True:
        print("recv", s.recv(65536).hex(), flush=True)
threading.Thread(target=reader, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    s.send(bytes.fromhex(line.split()[1]))
    print("ok", flush=True)
`;

// The same for IPv4 with PACKET_VNET_HDR: the kernel hands over (and takes) a virtio_net_hdr
// with each frame, so a large segment shows as one, with its gso_type and gso_size. Prints
// "recv GSO_TYPE GSO_SIZE LENGTH SHA256-OF-TCP-PAYLOAD"; "send HDRHEX FRAMEHEX" transmits.
const VNET_SNIFFER = `
import hashlib, socket, struct, sys, threading
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.setsockopt(263, 15, 1)  # SOL_PACKET, PACKET_VNET_HDR
s.bind((sys.argv[1], 0x0800))
def reader():
    while True:
        d = s.recv(1 << 17)
        flags, gso, hdr_len, gso_size, cs, co = struct.unpack("<BBHHHH", d[:10])
        f = d[10:]
        print("recv", gso, gso_size, len(f), hashlib.sha256(f[54:]).hexdigest(), flush=True)
threading.Thread(target=reader, daemon=True).start()
print("ready", flush=True)
for line in sys.stdin:
    _, h, f = line.split()
    s.send(bytes.fromhex(h) + bytes.fromhex(f))
    print("ok", flush=True)
`;

const hasIp = spawnSync('ip', ['-V']).status === 0;

const HOST_SIDE = parseIp('10.91.0.1')!;
const GUEST_SIDE = parseIp('10.91.0.2')!;
const GUEST_MAC = new Uint8Array([0x52, 0x54, 0, 0x12, 0x34, 0x56]);

/** A complete TCP/IPv4 frame (valid checksums), as the device hands a validated TSO frame over. */
function tcpFrame(dstMac: Uint8Array, src: number, dst: number, payload: Uint8Array): Uint8Array {
  const tcp = buildTcp(src, dst, 40000, 5001, { seq: 1, ack: 1, flags: ACK, window: 65535, payload });
  return buildEthernet(dstMac, GUEST_MAC, 0x0800, buildIpv4(src, dst, PROTO_TCP, tcp));
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Why the device tests cannot run here, or '' when they can. */
function tapUnavailable(native: NativeNetdev | undefined, loadError: string): string {
  if (process.platform !== 'linux') return `tap devices exist only on Linux (this is ${process.platform})`;
  if (!native) return `the netdev addon is not loadable: ${loadError}`;
  if (!hasIp) return 'the ip command (iproute2) is missing, so the tap cannot be brought up';
  try {
    const probe = native.openTap(`nvprobe${randomBytes(2).toString('hex')}`);
    native.closeFd(probe.fd);
    return '';
  } catch (e) {
    return `TUNSETIFF fails: ${(e as Error).message} (${errnoName((e as NativeErrnoError).errno)}); creating a tap needs CAP_NET_ADMIN`;
  }
}

const log = (): { warn: (m: string) => void; debug: () => void; warnings: string[] } => {
  const warnings: string[] = [];
  return { warn: (m) => warnings.push(m), debug: () => undefined, warnings };
};

function frame(payload: number): Buffer {
  const f = Buffer.alloc(60);
  Buffer.from('ffffffffffff525400123456', 'hex').copy(f, 0);
  f.writeUInt16BE(ETHERTYPE, 12);
  f.writeUInt32BE(payload, 14);
  return f;
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('tap backend (--net tap,ifname=NAME)', function () {
  let native: NativeNetdev | undefined;
  let loadError = '';
  try {
    native = loadNetdev();
  } catch (e) {
    loadError = (e as Error).message;
  }

  describe('with a real tap device', function () {
    let ifname = '';
    let sniffer: PeerProcess | undefined;

    before(function () {
      const reason = tapUnavailable(native, loadError);
      if (reason) {
        console.error(`  skipping the tap device tests: ${reason}`);
        this.skip();
      }
    });
    beforeEach(() => {
      ifname = `nvtap${randomBytes(3).toString('hex')}`;
    });
    afterEach(() => {
      sniffer?.kill();
      sniffer = undefined;
    });

    it('creates the tap and moves frames both ways through the host interface', async () => {
      const l = log();
      const be = (await openTap(ifname, l)) as FramePortBackend;
      const got: Buffer[] = [];
      be.onFrame((f) => {
        if (Buffer.from(f).readUInt16BE(12) === ETHERTYPE) got.push(Buffer.from(f));
      });
      try {
        execFileSync('ip', ['link', 'set', ifname, 'up']);
        sniffer = new PeerProcess('python3', ['-c', SNIFFER, ifname]);
        await sniffer.waitFor(/^ready$/);
        // Guest to host: the backend's write arrives on the interface.
        be.send(frame(0xc0ffee01));
        expect(await sniffer.waitFor(/^recv /)).to.equal(`recv ${frame(0xc0ffee01).toString('hex')}`);
        // Host to guest: a frame sent out of the interface is read from the tap.
        sniffer.command(`send ${frame(0xc0ffee02).toString('hex')}`);
        await until(() => got.length === 1, 'the injected frame');
        expect(got[0].toString('hex')).to.equal(frame(0xc0ffee02).toString('hex'));
        const s = be.stats();
        expect(s.txFrames).to.equal(1);
        expect(s.rxFrames).to.be.at.least(1);
        expect(l.warnings).to.deep.equal([]);
      } finally {
        await be.close();
      }
      // Not persistent: the interface goes away with the fd.
      expect(spawnSync('ip', ['link', 'show', ifname]).status).to.not.equal(0);
    });

    it('says how to bring a tap up when frames are sent while it is down', async () => {
      const l = log();
      const be = (await openTap(ifname, l)) as FramePortBackend;
      try {
        be.send(frame(1));
        be.send(frame(2));
        expect(be.stats().txDropped).to.equal(2);
        expect(l.warnings).to.deep.equal([`--net tap,ifname=${ifname}: frames to the host are dropped: EIO (the interface is down: \`ip link set ${ifname} up\`)`]);
      } finally {
        await be.close();
      }
    });

    it('hands a guest TSO segment to the kernel as one GSO packet (IFF_VNET_HDR)', async () => {
      const l = log();
      const be = (await openTap(ifname, l)) as TapBackend;
      try {
        execFileSync('ip', ['link', 'set', ifname, 'up']);
        sniffer = new PeerProcess('python3', ['-c', VNET_SNIFFER, ifname]);
        await sniffer.waitFor(/^ready$/);
        const hostMac = parseMac(readFileSync(`/sys/class/net/${ifname}/address`, 'utf8').trim())!;
        const payload = Uint8Array.from({ length: 30000 }, (_, i) => (i * 7) & 0xff);
        const f = tcpFrame(hostMac, GUEST_SIDE, HOST_SIDE, payload);
        be.send(f, { protocol: 'tcpv4', segmentSize: 1448 });
        expect(await sniffer.waitFor(/^recv /)).to.equal(`recv 1 1448 ${f.length} ${sha256(payload)}`);
        // An ordinary frame still goes as it is.
        const small = tcpFrame(hostMac, GUEST_SIDE, HOST_SIDE, payload.subarray(0, 100));
        be.send(small);
        expect(await sniffer.waitFor(/^recv 0 /, 5000, sniffer.lines.length)).to.equal(`recv 0 0 ${small.length} ${sha256(payload.subarray(0, 100))}`);
        expect(be.stats().txDropped).to.equal(0);
        expect(l.warnings).to.deep.equal([]);
      } finally {
        await be.close();
      }
    });

    it('receives large segments from the kernel only once the guest accepts TSO, segmented before', async () => {
      const l = log();
      const be = (await openTap(ifname, l)) as TapBackend;
      const got: { frame: Uint8Array; offload?: RxOffload }[] = [];
      be.onFrame((frame, offload) => {
        if (frame.length > 14 && frame[12] === 0x08 && frame[13] === 0) got.push({ frame: frame.slice(), offload });
      });
      try {
        execFileSync('ip', ['link', 'set', ifname, 'up']);
        sniffer = new PeerProcess('python3', ['-c', VNET_SNIFFER, ifname]);
        await sniffer.waitFor(/^ready$/);
        const payload = Uint8Array.from({ length: 20000 }, (_, i) => (i * 11) & 0xff);
        // A GSO packet as a host TCP stack would queue it: partial checksum, gso_size 1400.
        const f = tcpFrame(GUEST_MAC, HOST_SIDE, GUEST_SIDE, payload);
        writeU16(f, 50, ~finishChecksum(pseudoHeaderSum(HOST_SIDE, GUEST_SIDE, PROTO_TCP, f.length - 34)) & 0xffff);
        const hdr = Buffer.from([1, 1, 54, 0, 0x78, 0x05, 34, 0, 16, 0]); // NEEDS_CSUM, TCPV4, hdr_len 54, gso_size 1400
        const inject = async (): Promise<void> => {
          const from = sniffer!.lines.length;
          sniffer!.command(`send ${hdr.toString('hex')} ${Buffer.from(f).toString('hex')}`);
          await sniffer!.waitFor(/^ok$/, 5000, from);
        };
        // The guest has not said what it takes: the kernel segments and checksums for it.
        await inject();
        await until(() => got.reduce((n, g) => n + g.frame.length - 54, 0) >= payload.length, 'the segmented packet');
        expect(got.every((g) => g.offload === undefined && g.frame.length <= 54 + 1400)).to.equal(true);
        const rebuilt = Buffer.concat(got.map((g) => {
          const ip = parseIpv4(g.frame.subarray(14));
          const t = typeof ip === 'string' ? ip : parseTcp(ip.src, ip.dst, ip.payload);
          if (typeof t === 'string') throw new Error(`bad segment from the kernel: ${t}`);
          return t.payload;
        }));
        expect(sha256(rebuilt)).to.equal(sha256(payload));
        // The guest acked TSO4 with GUEST_CSUM: one frame, described for the guest as is.
        got.length = 0;
        be.setGuestOffloads({ csum: true, tcpv4: true, tcpv6: true });
        await inject();
        await until(() => got.length >= 1, 'the large segment');
        expect(got).to.have.length(1);
        expect(got[0].frame.length).to.equal(f.length);
        expect(got[0].offload).to.deep.equal({ csumStart: 34, csumOffset: 16, gso: { protocol: 'tcpv4', segmentSize: 1400, headerLength: 54 } });
        // Completed as the guest would (from csum_start over the seed), the segment verifies.
        const big = got[0].frame;
        writeU16(big, 50, finishChecksum(onesSum(big, 34, big.length)));
        expect(parseTcp(HOST_SIDE, GUEST_SIDE, big.subarray(34))).to.not.be.a('string');
        expect(sha256(got[0].frame.subarray(54))).to.equal(sha256(payload));
        expect(l.warnings).to.deep.equal([]);
      } finally {
        await be.close();
      }
    });

    it('reports a tap another process holds in one line with a hint', async () => {
      const first = await openTap(ifname, log());
      try {
        const err = await openTap(ifname, log()).catch((e: Error) => e);
        expect((err as Error).message).to.match(new RegExp(`^--net tap,ifname=${ifname}: TUNSETIFF ${ifname}: .*\\(EBUSY\\): another process has the device open$`));
      } finally {
        await first.close();
      }
    });
  });
});
