// `--net socket,type=dgram,...`: one Ethernet frame per unix datagram, vfkit's protocol, so
// nodevisor can use gvproxy (`--listen-vfkit unixgram://PATH`) and vmnet-helper (vmnet on
// macOS, `--socket PATH` or `--fd N`). With path=, nodevisor binds its own socket (local=, or
// a fresh one in the temp directory, removed on close), connects to PATH and sends the 4-byte
// "VFKT" datagram first: such peers learn our address from the first datagram they receive
// (gvproxy drops that magic, vmnet-helper any first datagram under 64 bytes; for another peer
// it is a runt frame, which is discarded). Guest frames shorter than an Ethernet header are
// dropped here: vmnet-helper exits on an empty datagram and on a frame vmnet refuses.
// When such a peer goes away (gvproxy restarting: a send fails with ECONNREFUSED/ENOTCONN),
// nodevisor reconnects to PATH with a bounded backoff and sends VFKT again; guest frames in
// the meantime are dropped and counted, and the outage is logged once, not per frame.
// A silent guest must not hide an outage (vmnet-helper learns our address only from our first
// datagram, so a restarted helper would never reach the guest): once a second the path is
// checked. Another socket file there means the peer was replaced: reconnect at once. The same
// file with nobody behind it (the peer was killed) is found by connecting a throwaway socket,
// which sends nothing. No file at all is not an outage by itself (a live peer may unlink its
// path); the link stays until a new peer binds the path. A needless reconnect would cost the
// link: vmnet-helper serves the first client address it saw for as long as it runs.
// With fd=, an inherited datagram socket (one end of vmnet-run's socketpair) is used as is:
// nothing to reconnect to.
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetBackendError, type NetBackend } from './backend.ts';
import { FramePortBackend, type FramePortBackendStats, type FramePortLog } from './frame-port-backend.ts';
import { describeNativeError, errnoName, loadNetdev, type NativeErrnoError, type NativeNetdev } from './netdev-native.ts';
import { ETH_HEADER } from './ethernet.ts';
import { FRAME_OVERHEAD, type DgramSocketNetSpec } from './spec.ts';

/** The first datagram a vfkit-protocol client sends. */
export const VFKIT_MAGIC = new Uint8Array([0x56, 0x46, 0x4b, 0x54]); // "VFKT"
/** Reconnection delays: doubling from the first to the cap, then retrying at the cap. */
export const RECONNECT_FIRST_MS = 100;
export const RECONNECT_MAX_MS = 5000;
/** How often the peer's path is checked while the guest may be silent. */
export const PEER_WATCH_MS = 1000;

/** Which socket file is at path, or undefined when there is none. Inode numbers are reused at
 *  once (ext4), so the file's birth time tells a rebound socket apart; where the filesystem
 *  keeps none, the change time does (a peer's chmod right after its bind also moves that). */
function fileIdentity(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true, throwIfNoEntry: false });
    return st ? `${st.dev}:${st.ino}:${st.birthtimeNs || st.ctimeNs}` : undefined;
  } catch {
    return undefined;
  }
}

export function dgramLabel(spec: DgramSocketNetSpec): string {
  return spec.fd !== undefined ? `--net socket,type=dgram,fd=${spec.fd}` : `--net socket,type=dgram,path=${spec.path}`;
}

/** A socket path of our own, short enough for sun_path (104 bytes on macOS). */
export function defaultLocalPath(): string {
  return join(tmpdir(), `nodevisor-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
}

export interface DgramOptions {
  /** PEER_WATCH_MS unless set (tests shorten it). */
  watchMs?: number;
}

export async function openDgram(spec: DgramSocketNetSpec, log: FramePortLog, load: () => NativeNetdev = loadNetdev, opts: DgramOptions = {}): Promise<NetBackend> {
  const label = dgramLabel(spec);
  let addon: NativeNetdev;
  try {
    addon = load();
  } catch (e) {
    throw new NetBackendError(`${label}: ${(e as Error).message}`);
  }
  const maxFrame = spec.mtu + FRAME_OVERHEAD;
  if (spec.fd !== undefined) {
    let fd: number;
    try {
      fd = addon.adoptDgram(spec.fd);
    } catch (e) {
      throw new NetBackendError(`${label}: ${describeNativeError(e)}`);
    }
    return new FramePortBackend(addon, fd, { label, maxFrame, minFrame: ETH_HEADER, log });
  }
  const local = spec.local ?? defaultLocalPath();
  const peer = spec.path!;
  const connectOnce = (): number => addon.openDgram(local, peer);
  // Which socket file we connect to, taken before connecting: if the peer is replaced in
  // between, the next check sees a different file and reconnects.
  const identity = fileIdentity(peer);
  let fd: number;
  try {
    fd = connectOnce();
  } catch (e) {
    throw new NetBackendError(`${label}: ${describeNativeError(e)}`);
  }
  return new ReconnectingDgram(addon, fd, identity, { label, maxFrame, log, local, peer, connect: connectOnce, watchMs: opts.watchMs ?? PEER_WATCH_MS });
}

export interface ReconnectingDgramStats extends FramePortBackendStats {
  /** Times the peer was found gone and a new connection made. */
  reconnects: number;
  /** Guest frames dropped while there was no connection. */
  txDisconnected: number;
  connected: boolean;
}

interface ReconnectOptions {
  label: string;
  maxFrame: number;
  log: FramePortLog;
  /** Our bound socket path (removed whenever its socket is closed). */
  local: string;
  /** The peer's socket path. */
  peer: string;
  /** A fresh socket bound at local and connected to the peer; throws as openDgram does. */
  connect: () => number;
  watchMs: number;
}

/** The path= flavour: a FramePortBackend per connection, replaced when the peer restarts. */
export class ReconnectingDgram implements NetBackend {
  readonly checksumsTrusted = false;
  private receiver: (frame: Uint8Array) => void = () => undefined;
  private port: FramePortBackend | undefined;
  /** Totals of the connections already replaced. */
  private retired: FramePortBackendStats = { txFrames: 0, txOversize: 0, txRunt: 0, txDropped: 0, rxFrames: 0, rxOversize: 0, rxErrors: 0, txQueued: 0, txQueueFull: 0, txQueueLost: 0, txPending: 0 };
  private reconnects = 0;
  private txDisconnected = 0;
  private delay = RECONNECT_FIRST_MS;
  private timer: NodeJS.Timeout | undefined;
  private readonly watch: NodeJS.Timeout;
  /** The socket file the current connection went to (undefined: none was there). */
  private peerFile: string | undefined;
  /** While disconnected: the file the last failed attempt found. */
  private failedFile: string | undefined;
  private pathGoneNoted = false;
  private closed = false;

  constructor(private readonly addon: NativeNetdev, fd: number, identity: string | undefined, private readonly opts: ReconnectOptions) {
    this.attach(fd, identity);
    this.watch = setInterval(() => this.checkPeer(), opts.watchMs);
    this.watch.unref?.();
  }

  private attach(fd: number, identity: string | undefined): void {
    const port = new FramePortBackend(this.addon, fd, {
      label: this.opts.label,
      maxFrame: this.opts.maxFrame,
      minFrame: ETH_HEADER,
      log: this.opts.log,
      onPeerGone: (errno) => this.peerGone(port, errno),
      onClose: () => rmSync(this.opts.local, { force: true }),
    });
    port.onFrame((f) => this.receiver(f));
    this.port = port;
    this.peerFile = identity;
    this.pathGoneNoted = false;
    port.sendControl(VFKIT_MAGIC);
  }

  /** The timer's look at the peer, so an outage shows even when the guest sends nothing. */
  private checkPeer(): void {
    if (this.closed) return;
    const now = fileIdentity(this.opts.peer);
    if (!this.port) {
      // Waiting to reconnect: a new socket file is worth trying at once, not after the backoff.
      if (now !== undefined && now !== this.failedFile && this.timer) {
        clearTimeout(this.timer);
        this.retry();
      }
      return;
    }
    if (now === undefined) {
      if (!this.pathGoneNoted) this.opts.log.debug(`${this.opts.label}: ${this.opts.peer} is gone; keeping the link until a peer binds it again`);
      this.pathGoneNoted = true;
      return;
    }
    if (this.peerFile !== undefined && now !== this.peerFile) {
      this.opts.log.warn(`${this.opts.label}: a new peer is bound at ${this.opts.peer}; reconnecting`);
      this.retire();
      this.delay = RECONNECT_FIRST_MS;
      this.retry();
      return;
    }
    this.peerFile = now;
    const errno = this.addon.probeDgram(this.opts.peer);
    if (errnoName(errno) === 'ECONNREFUSED') this.peerGone(this.port, 'ECONNREFUSED: nobody holds its socket');
  }

  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  send(frame: Uint8Array): void {
    if (this.port) this.port.send(frame);
    else this.txDisconnected++;
  }

  private peerGone(port: FramePortBackend, errno: string): void {
    if (this.port !== port || this.closed) return;
    this.opts.log.warn(`${this.opts.label}: the peer is gone (${errno}); dropping frames and reconnecting`);
    this.retire();
    this.delay = RECONNECT_FIRST_MS;
    this.schedule();
  }

  private retire(): void {
    const p = this.port;
    if (!p) return;
    this.port = undefined;
    const s = p.stats();
    for (const k of Object.keys(this.retired) as (keyof FramePortBackendStats)[]) if (k !== 'txPending') this.retired[k] += s[k];
    void p.close();
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.retry(), this.delay);
    this.timer.unref?.();
  }

  private retry(): void {
    this.timer = undefined;
    if (this.closed) return;
    const identity = fileIdentity(this.opts.peer);
    let fd: number;
    try {
      fd = this.opts.connect();
    } catch (e) {
      this.failedFile = identity;
      const errno = typeof (e as NativeErrnoError).errno === 'number' ? errnoName((e as NativeErrnoError).errno) : '';
      this.opts.log.debug(`${this.opts.label}: reconnecting: ${describeNativeError(e)}`);
      // ENOENT/ECONNREFUSED: the peer is not back yet; anything else will not get better by waiting less.
      this.delay = Math.min(RECONNECT_MAX_MS, this.delay * (errno === 'ENOENT' || errno === 'ECONNREFUSED' ? 2 : 4));
      this.schedule();
      return;
    }
    this.reconnects++;
    this.attach(fd, identity);
    this.opts.log.warn(`${this.opts.label}: reconnected (${this.txDisconnected} frames dropped while disconnected so far)`);
  }

  stats(): ReconnectingDgramStats {
    const now = this.port?.stats();
    const sum = { ...this.retired };
    for (const k of Object.keys(sum) as (keyof FramePortBackendStats)[]) sum[k] = (k === 'txPending' ? 0 : sum[k]) + (now?.[k] ?? 0);
    return { ...sum, txDropped: sum.txDropped + this.txDisconnected, reconnects: this.reconnects, txDisconnected: this.txDisconnected, connected: !!this.port };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watch);
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.port;
    this.port = undefined;
    await p?.close();
  }
}
