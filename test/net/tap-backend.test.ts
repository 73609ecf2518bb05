// --net tap against a real Linux tap device. Creating one needs CAP_NET_ADMIN, so the
// device tests run only where TUNSETIFF works and are skipped, saying why, elsewhere. The
// far side of the tap is an AF_PACKET socket on the interface (python3), which sees what the
// backend writes and injects what the backend must read.
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openTap } from '../../src/net/tap-backend.ts';
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

const hasIp = spawnSync('ip', ['-V']).status === 0;

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
