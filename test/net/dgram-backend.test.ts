// The datagram backend against a real unix datagram peer (python3, as gvproxy or
// vmnet-helper would be), through the netdev addon `npm install` builds; and, with a fake
// addon, the receive-side outage report that only macOS gives.
import { expect } from 'chai';
import { existsSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBackend } from '../../src/net/backends.ts';
import { openDgram, type ReconnectingDgram } from '../../src/net/dgram-backend.ts';
import type { FramePortBackend } from '../../src/net/frame-port-backend.ts';
import { loadNetdev, type NativeErrnoError, type NativeNetdev } from '../../src/net/netdev-native.ts';
import { parseNetSpec, type DgramSocketNetSpec } from '../../src/net/spec.ts';
import { PeerProcess } from './peer-process.ts';

const PEER = fileURLToPath(new URL('./dgram-peer.py', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const WATCH_MS = 100;
const osErrno = constants.errno;

let native: NativeNetdev | undefined;
let unavailable = '';
try {
  native = loadNetdev();
} catch (e) {
  unavailable = (e as Error).message;
}

function collectingLog(): { warn: (m: string) => void; debug: (m: string) => void; warnings: string[] } {
  const warnings: string[] = [];
  return { warn: (m) => warnings.push(m), debug: () => undefined, warnings };
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('unix datagram backend (--net socket,type=dgram)', function () {
  let dir: string;
  let peer: PeerProcess | undefined;

  before(function () {
    if (unavailable) {
      console.error(`  skipping: the netdev addon is not loadable here: ${unavailable}`);
      this.skip();
    }
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nv-dg-'));
  });
  afterEach(() => {
    peer?.kill();
    peer = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function startPeer(...flags: string[]): Promise<string> {
    const path = join(dir, 'peer.sock');
    peer = new PeerProcess('python3', [PEER, path, ...flags]);
    await peer.waitFor(/^ready$/);
    return path;
  }

  /** A path= backend whose peer watch runs every WATCH_MS. */
  async function openWatched(path: string, local: string, log: ReturnType<typeof collectingLog>): Promise<ReconnectingDgram> {
    return (await openDgram(parseNetSpec(`socket,type=dgram,path=${path},local=${local}`) as DgramSocketNetSpec, log, loadNetdev, { watchMs: WATCH_MS })) as ReconnectingDgram;
  }

  it('binds its own socket, sends the VFKT handshake, then exchanges whole frames both ways', async () => {
    const path = await startPeer();
    const local = join(dir, 'me.sock');
    const log = collectingLog();
    const be = (await openBackend(parseNetSpec(`socket,type=dgram,path=${path},local=${local}`), new Uint8Array(6), log)) as FramePortBackend;
    const got: Uint8Array[] = [];
    be.onFrame((f) => got.push(f));
    try {
      // The peer learns our address from the handshake, as gvproxy's AcceptVfkit does.
      expect(await peer!.waitFor(/^recv /)).to.equal(`recv 56464b54 ${local}`);
      const frame = Buffer.alloc(1514);
      for (let i = 0; i < frame.length; i++) frame[i] = i & 0xff;
      be.send(frame);
      expect(await peer!.waitFor(/^recv (?!56464b54)/)).to.equal(`recv ${frame.toString('hex')} ${local}`);
      peer!.command('send 0102030405060708090a0b0c0d0e');
      await until(() => got.length === 1, 'a frame from the peer');
      expect(Buffer.from(got[0]).toString('hex')).to.equal('0102030405060708090a0b0c0d0e');
      const s = be.stats();
      expect([s.txFrames, s.rxFrames, s.rxOversize, s.txDropped]).to.deep.equal([2, 1, 0, 0]); // handshake + frame
      expect(log.warnings).to.deep.equal([]);
    } finally {
      await be.close();
    }
    expect(existsSync(local), 'the bound socket is removed on close').to.equal(false);
  });

  it('drops frames over the link maximum both ways and counts them', async () => {
    const path = await startPeer();
    const log = collectingLog();
    const be = (await openBackend(parseNetSpec(`socket,type=dgram,path=${path}`), new Uint8Array(6), log)) as FramePortBackend;
    const got: number[] = [];
    be.onFrame((f) => got.push(f.length));
    try {
      await peer!.waitFor(/^recv 56464b54 /);
      // mtu 1500: at most 1518 bytes (header and a VLAN tag). 70000 exceeds even the
      // receive buffer, so the kernel truncates it and MSG_TRUNC reveals that.
      for (const n of [1519, 70000, 1518, 60]) {
        peer!.command(`sendlen ${n}`);
        await peer!.waitFor(/^(ok|error) sendlen/, 5000, peer!.lines.length);
      }
      await until(() => got.length === 2, 'the two frames that fit');
      expect(got).to.deep.equal([1518, 60]);
      be.send(new Uint8Array(1519));
      be.send(new Uint8Array(1518));
      await peer!.waitFor(new RegExp(`^recv ${'00'.repeat(1518)} `));
      const s = be.stats();
      expect([s.rxOversize, s.rxFrames, s.txOversize, s.txFrames]).to.deep.equal([2, 2, 1, 2]);
    } finally {
      await be.close();
    }
  });

  it('queues frames while the peer is not reading and delivers them in order once it reads', async () => {
    const path = await startPeer();
    const log = collectingLog();
    const be = (await openBackend(parseNetSpec(`socket,type=dgram,path=${path}`), new Uint8Array(6), log)) as FramePortBackend;
    try {
      await peer!.waitFor(/^recv 56464b54 /);
      peer!.command('pause');
      await peer!.waitFor(/^ok pause$/);
      const from = peer!.lines.length;
      const burst = 200;
      for (let i = 0; i < burst; i++) {
        const f = Buffer.alloc(60);
        f.writeUInt16BE(i, 0);
        be.send(f);
      }
      let s = be.stats();
      // The kernel holds only a few datagrams for a peer that does not read (Linux:
      // net.unix.max_dgram_qlen, 10 by default); the rest wait in the addon's queue.
      expect(s.txPending, 'frames waiting in the addon').to.be.greaterThan(0);
      expect(s.txQueueFull).to.equal(0);
      peer!.command('resume');
      await until(() => peer!.lines.slice(from).filter((l) => l.startsWith('recv ')).length >= burst, `${burst} frames at the peer`, 10000).catch((e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify(be.stats())}, ${peer!.lines.slice(from).filter((l) => l.startsWith('recv ')).length} arrived`);
      });
      const order = peer!.lines.slice(from).filter((l) => l.startsWith('recv ')).map((l) => parseInt(l.slice(5, 9), 16));
      expect(order).to.deep.equal([...Array(burst).keys()]);
      s = be.stats();
      expect([s.txPending, s.txDropped, s.txQueueLost]).to.deep.equal([0, 0, 0]);
      expect(s.txQueued).to.be.greaterThan(0);
    } finally {
      await be.close();
    }
  });

  it('drops frames beyond the transmit queue bound and counts them', async () => {
    const path = await startPeer();
    const be = (await openBackend(parseNetSpec(`socket,type=dgram,path=${path}`), new Uint8Array(6), collectingLog())) as FramePortBackend;
    try {
      await peer!.waitFor(/^recv 56464b54 /);
      peer!.command('pause');
      await peer!.waitFor(/^ok pause$/);
      for (let i = 0; i < 1000; i++) be.send(new Uint8Array(60));
      const s = be.stats();
      // 1000 = what the kernel holds (and a read that was already in progress) + the
      // 256-frame queue + drops.
      expect(s.txPending).to.equal(256);
      expect(s.txQueueFull).to.be.greaterThan(0);
      expect(s.txDropped).to.equal(s.txQueueFull);
      expect(s.txFrames + s.txDropped).to.equal(1001); // with the handshake
    } finally {
      await be.close();
    }
  });

  it('counts frames sent after the peer is gone and reports the outage once', async () => {
    const path = await startPeer();
    const log = collectingLog();
    const be = (await openBackend(parseNetSpec(`socket,type=dgram,path=${path}`), new Uint8Array(6), log)) as ReconnectingDgram;
    try {
      await peer!.waitFor(/^recv 56464b54 /);
      peer!.command('close');
      await peer!.waitFor(/^closed$/);
      await peer!.exited();
      for (let i = 0; i < 5; i++) be.send(new Uint8Array(60));
      await sleep(350); // a few reconnection attempts fail meanwhile (ENOENT)
      for (let i = 0; i < 5; i++) be.send(new Uint8Array(60));
      const s = be.stats();
      expect(s.txDropped).to.equal(10);
      expect([s.connected, s.reconnects, s.txDisconnected]).to.deep.equal([false, 0, 9]);
      expect(log.warnings, log.warnings.join('\n')).to.have.length(1);
      expect(log.warnings[0]).to.match(/^--net socket,type=dgram,path=.*: the peer is gone \((ECONNREFUSED|ENOTCONN|ECONNRESET)\); dropping frames and reconnecting$/);
    } finally {
      await be.close();
    }
  });

  it('reconnects when the peer restarts: VFKT again, then frames flow both ways', async () => {
    const path = await startPeer();
    const local = join(dir, 'me.sock');
    const log = collectingLog();
    const be = (await openBackend(parseNetSpec(`socket,type=dgram,path=${path},local=${local}`), new Uint8Array(6), log)) as ReconnectingDgram;
    const got: string[] = [];
    be.onFrame((f) => got.push(Buffer.from(f).toString('hex')));
    try {
      await peer!.waitFor(/^recv 56464b54 /);
      peer!.command('close');
      await peer!.exited();
      be.send(new Uint8Array(60)); // finds the peer gone
      be.send(new Uint8Array(60)); // dropped while disconnected
      await sleep(250);
      await startPeer(); // the same path, a new socket: gvproxy restarted
      expect(await peer!.waitFor(/^recv /, 8000)).to.equal(`recv 56464b54 ${local}`);
      const frame = Buffer.alloc(200, 0x42);
      be.send(frame);
      expect(await peer!.waitFor(/^recv 4242/)).to.equal(`recv ${frame.toString('hex')} ${local}`);
      peer!.command('send 0102030405060708090a0b0c0d0e');
      await until(() => got.length === 1, 'a frame from the restarted peer');
      expect(got[0]).to.equal('0102030405060708090a0b0c0d0e');
      const s = be.stats();
      expect([s.connected, s.reconnects, s.txDisconnected, s.rxFrames]).to.deep.equal([true, 1, 1, 1]);
      expect(s.txFrames).to.equal(3); // two handshakes and the frame
      expect(log.warnings.map((w) => w.replace(/^.*?: /, ''))).to.deep.equal([
        `the peer is gone (${/\((\w+)\)/.exec(log.warnings[0])![1]}); dropping frames and reconnecting`,
        'reconnected (1 frames dropped while disconnected so far)',
      ]);
    } finally {
      await be.close();
    }
    expect(existsSync(local)).to.equal(false);
  });

  it('fails in one line naming the errno when nothing is bound at the path, leaving no socket behind', async () => {
    const local = join(dir, 'me.sock');
    const err = await openBackend(parseNetSpec(`socket,type=dgram,path=${join(dir, 'absent.sock')},local=${local}`), new Uint8Array(6), collectingLog()).catch((e: Error) => e);
    expect((err as Error).name).to.equal('NetBackendError');
    expect((err as Error).message).to.match(/^--net socket,type=dgram,path=\S+absent\.sock: connect \S+absent\.sock: .*\(ENOENT\)$/);
    expect(existsSync(local)).to.equal(false);
  });

  it('refuses a local path that is already in use and a path longer than sun_path', async () => {
    const path = await startPeer();
    const err = await openBackend(parseNetSpec(`socket,type=dgram,path=${path},local=${path}x`), new Uint8Array(6), collectingLog())
      .then(async (be) => {
        const again = await openBackend(parseNetSpec(`socket,type=dgram,path=${path},local=${path}x`), new Uint8Array(6), collectingLog()).catch((e: Error) => e);
        await be.close();
        return again;
      });
    expect((err as Error).message).to.match(/bind .*\(EADDRINUSE\)$/);
    const long = await openBackend(parseNetSpec(`socket,type=dgram,path=/tmp/${'x'.repeat(120)}`), new Uint8Array(6), collectingLog()).catch((e: Error) => e);
    expect((long as Error).message).to.match(/connect \/tmp\/x+: .*\(ENAMETOOLONG\)$/);
  });

  it('uses an inherited datagram socket given by fd= without a handshake', async () => {
    const path = await startPeer();
    // The fd a launcher (vmnet-run) would pass: here one this process opened itself.
    const fd = native!.openDgram(join(dir, 'inherited.sock'), path);
    const spec = parseNetSpec(`socket,type=dgram,fd=${fd}`) as DgramSocketNetSpec;
    const be = (await openDgram(spec, collectingLog())) as FramePortBackend;
    const got: Uint8Array[] = [];
    be.onFrame((f) => got.push(f));
    try {
      be.send(Buffer.from('aabbccddeeff00112233445566778899', 'hex'));
      expect(await peer!.waitFor(/^recv /)).to.match(/^recv aabbccddeeff00112233445566778899 \S+inherited\.sock$/);
      peer!.command('send ffffffffffff001122334455');
      await until(() => got.length === 1, 'a frame on the inherited socket');
    } finally {
      await be.close();
    }
  });

  it('refuses fd= when the descriptor is not a datagram socket', async () => {
    const devnull = openSync('/dev/null', 'r');
    try {
      const err = await openDgram(parseNetSpec(`socket,type=dgram,fd=${devnull}`) as DgramSocketNetSpec, collectingLog()).catch((e: Error) => e);
      expect((err as Error).message).to.match(new RegExp(`^--net socket,type=dgram,fd=${devnull}: getsockopt fd ${devnull}: .*\\(ENOTSOCK\\)$`));
    } finally {
      closeSync(devnull);
    }
    // A connected stream socket (libuv's fd of a net.Socket) is a socket, but the wrong kind.
    const server = createServer();
    const spath = join(dir, 'stream.sock');
    await new Promise<void>((r) => server.listen(spath, () => r()));
    const client = connect(spath);
    try {
      await new Promise<void>((r) => client.once('connect', () => r()));
      const fd = (client as unknown as { _handle: { fd: number } })._handle.fd;
      const err = await openDgram(parseNetSpec(`socket,type=dgram,fd=${fd}`) as DgramSocketNetSpec, collectingLog()).catch((e: Error) => e);
      expect((err as Error).message).to.match(/not a datagram socket.*\(EPROTOTYPE\)$/);
    } finally {
      client.destroy();
      server.close();
    }
  });

  it('a stream --net socket pointed at a datagram socket says to use type=dgram', async () => {
    const path = await startPeer();
    const err = await openBackend(parseNetSpec(`socket,path=${path}`), new Uint8Array(6), collectingLog()).catch((e: Error) => e);
    expect((err as Error).message).to.match(/EPROTOTYPE.*use --net socket,type=dgram,path=PATH/);
  });

  describe('noticing outages while the guest is silent', () => {
    it('a peer restarted at the same path: reconnects and sends VFKT to the new one with no guest frame', async () => {
      const path = await startPeer();
      const local = join(dir, 'me.sock');
      const log = collectingLog();
      const be = await openWatched(path, local, log);
      const got: string[] = [];
      be.onFrame((f) => got.push(Buffer.from(f).toString('hex')));
      try {
        await peer!.waitFor(/^recv 56464b54 /);
        peer!.command('close');
        await peer!.exited();
        await sleep(3 * WATCH_MS); // the path is gone: no outage by itself
        expect(log.warnings).to.deep.equal([]);
        await startPeer();
        expect(await peer!.waitFor(/^recv /, 3000)).to.equal(`recv 56464b54 ${local}`);
        peer!.command('send 0102030405060708090a0b0c0d0e');
        await until(() => got.length === 1, 'a frame from the new peer');
        const s = be.stats();
        expect([s.connected, s.reconnects, s.txDisconnected]).to.deep.equal([true, 1, 0]);
        expect(log.warnings.map((w) => w.replace(/^.*?: /, ''))).to.deep.equal([
          `a new peer is bound at ${path}; reconnecting`,
          'reconnected (0 frames dropped while disconnected so far)',
        ]);
      } finally {
        await be.close();
      }
    });

    it('a killed peer (its socket file left behind): reports the outage once, then reconnects when a new peer binds', async () => {
      const path = await startPeer();
      const log = collectingLog();
      const be = await openWatched(path, join(dir, 'me.sock'), log);
      try {
        await peer!.waitFor(/^recv 56464b54 /);
        peer!.kill(); // SIGTERM: python exits without removing the file
        await peer!.exited();
        expect(existsSync(path)).to.equal(true);
        await until(() => !be.stats().connected, 'the outage to be noticed');
        await sleep(5 * WATCH_MS); // the stale file is probed again and again: one warning
        expect(log.warnings, log.warnings.join('\n')).to.deep.equal([
          `--net socket,type=dgram,path=${path}: the peer is gone (ECONNREFUSED: nobody holds its socket); dropping frames and reconnecting`,
        ]);
        await startPeer(); // removes the stale file and binds anew: picked up without waiting out the backoff
        await peer!.waitFor(/^recv 56464b54 /, 3000);
        expect(be.stats()).to.deep.include({ connected: true, reconnects: 1 });
      } finally {
        await be.close();
      }
    });

    it('keeps a live peer that unlinked its path: frames still flow, nothing is logged', async () => {
      const path = await startPeer();
      const log = collectingLog();
      const be = await openWatched(path, join(dir, 'me.sock'), log);
      const got: string[] = [];
      be.onFrame((f) => got.push(Buffer.from(f).toString('hex')));
      try {
        await peer!.waitFor(/^recv 56464b54 /);
        peer!.command('unlink');
        await peer!.waitFor(/^ok unlink$/);
        await sleep(4 * WATCH_MS);
        be.send(Buffer.alloc(60, 0x11));
        await peer!.waitFor(/^recv 1111/);
        peer!.command('send 0102030405060708090a0b0c0d0e');
        await until(() => got.length === 1, 'a frame from the unlinked peer');
        expect(be.stats()).to.deep.include({ connected: true, reconnects: 0 });
        expect(log.warnings).to.deep.equal([]);
      } finally {
        await be.close();
      }
    });
  });

  describe('against a peer that behaves as vmnet-helper --socket', () => {
    it('its first datagram is our VFKT, which it consumes; it serves our address; runt frames never reach it', async () => {
      const path = await startPeer('--vmnet-helper');
      const local = join(dir, 'me.sock');
      const log = collectingLog();
      const be = await openWatched(path, local, log);
      const got: string[] = [];
      be.onFrame((f) => got.push(Buffer.from(f).toString('hex')));
      try {
        expect(await peer!.waitFor(/^client /)).to.equal(`client ${local}`);
        // An empty or sub-header frame would make vmnet-helper exit: the backend drops them.
        be.send(new Uint8Array(0));
        be.send(new Uint8Array(13));
        const frame = Buffer.alloc(1514, 0x5c);
        be.send(frame);
        // The first thing it forwards is the full frame: the handshake was not forwarded.
        expect(await peer!.waitFor(/^(recv|exit) /)).to.equal(`recv ${frame.toString('hex')} ${local}`);
        peer!.command('send 0102030405060708090a0b0c0d0e');
        await until(() => got.length === 1, 'a frame from the helper');
        const s = be.stats();
        expect([s.txRunt, s.txFrames, s.rxFrames]).to.deep.equal([2, 2, 1]); // VFKT and the frame
        expect(log.warnings).to.deep.equal([]);
      } finally {
        await be.close();
      }
    });

    it('a restarted helper learns our address from a fresh VFKT while the guest sends nothing', async () => {
      const path = await startPeer('--vmnet-helper');
      const local = join(dir, 'me.sock');
      const be = await openWatched(path, local, collectingLog());
      const got: string[] = [];
      be.onFrame((f) => got.push(Buffer.from(f).toString('hex')));
      try {
        await peer!.waitFor(/^client /);
        peer!.kill(); // SIGTERM: it removes its socket, as vmnet-helper's atexit does
        await peer!.waitFor(/^exit sigterm$/);
        await peer!.exited();
        await startPeer('--vmnet-helper');
        expect(await peer!.waitFor(/^client /, 3000)).to.equal(`client ${local}`);
        peer!.command('send 0102030405060708090a0b0c0d0e');
        await until(() => got.length === 1, 'a frame from the restarted helper');
        expect(be.stats()).to.deep.include({ connected: true, reconnects: 1, txFrames: 2 }); // two handshakes
      } finally {
        await be.close();
      }
    });
  });
});

describe('datagram backend: a peer reported gone on the receive side (as macOS does)', () => {
  it('reconnects after a non-fatal ECONNRESET from the port, once; fatal errors are only logged', async () => {
    const ports: { onError: (e: NativeErrnoError) => void; closed: boolean }[] = [];
    let fds = 100;
    const fake = {
      abiVersion: 0,
      openDgram: () => fds++,
      probeDgram: () => 0,
      adoptDgram: (fd: number) => fd,
      closeFd: () => undefined,
      openTap: () => ({ fd: -1, ifname: '' }),
      setTapOffload: () => undefined,
      FramePort: class {
        closed = false;
        constructor(_fd: number, _max: number, _onFrame: unknown, readonly onError: (e: NativeErrnoError) => void) {
          ports.push(this);
        }
        send(): number {
          return 0;
        }
        close(): void {
          this.closed = true;
        }
        stats() {
          return { rxFrames: 0, rxOversize: 0, rxErrors: 0, txQueued: 0, txQueueFull: 0, txQueueLost: 0, txPending: 0 };
        }
      },
    } as unknown as NativeNetdev;
    const log = collectingLog();
    const spec = parseNetSpec(`socket,type=dgram,path=${join(tmpdir(), 'nv-absent-peer.sock')},local=${join(tmpdir(), 'nv-absent-me.sock')}`) as DgramSocketNetSpec;
    const be = (await openDgram(spec, log, () => fake)) as ReconnectingDgram;
    try {
      const reset = (fatal: boolean): NativeErrnoError => Object.assign(new Error('recvmsg: Connection reset by peer'), { errno: osErrno.ECONNRESET, syscall: 'recvmsg', fatal });
      ports[0].onError(reset(false));
      ports[0].onError(reset(false));
      expect(ports[0].closed).to.equal(true);
      expect(log.warnings).to.have.length(1);
      expect(log.warnings[0]).to.match(/the peer is gone \(ECONNRESET\); dropping frames and reconnecting$/);
      await until(() => ports.length === 2, 'a new connection');
      expect(be.stats()).to.deep.include({ connected: true, reconnects: 1 });
      ports[1].onError(reset(true));
      expect(be.stats().connected, 'a fatal error is not taken for an outage').to.equal(true);
      expect(log.warnings.at(-1)).to.match(/no more frames will be received$/);
    } finally {
      await be.close();
    }
  });
});
