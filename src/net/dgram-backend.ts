// `--net socket,type=dgram,...`: one Ethernet frame per unix datagram, vfkit's protocol, so
// nodevisor can use gvproxy (`--listen-vfkit unixgram://PATH`) and vmnet-helper (vmnet on
// macOS, `--socket PATH` or `--fd N`). With path=, nodevisor binds its own socket (local=, or
// a fresh one in the temp directory, removed on close), connects to PATH and sends the 4-byte
// "VFKT" datagram first: such peers learn our address from the first datagram they receive
// (gvproxy drops that magic; for any other peer it is a runt frame, which is discarded).
// When such a peer goes away (gvproxy restarting: a send fails with ECONNREFUSED/ENOTCONN),
// nodevisor reconnects to PATH with a bounded backoff and sends VFKT again; guest frames in
// the meantime are dropped and counted, and the outage is logged once, not per frame.
// With fd=, an inherited datagram socket (one end of vmnet-run's socketpair) is used as is:
// nothing to reconnect to.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetBackendError, type NetBackend } from './backend.ts';
import { FramePortBackend, type FramePortBackendStats, type FramePortLog } from './frame-port-backend.ts';
import { describeNativeError, errnoName, loadNetdev, type NativeErrnoError, type NativeNetdev } from './netdev-native.ts';
import { FRAME_OVERHEAD, type DgramSocketNetSpec } from './spec.ts';

/** The first datagram a vfkit-protocol client sends. */
export const VFKIT_MAGIC = new Uint8Array([0x56, 0x46, 0x4b, 0x54]); // "VFKT"
/** Reconnection delays: doubling from the first to the cap, then retrying at the cap. */
export const RECONNECT_FIRST_MS = 100;
export const RECONNECT_MAX_MS = 5000;

export function dgramLabel(spec: DgramSocketNetSpec): string {
  return spec.fd !== undefined ? `--net socket,type=dgram,fd=${spec.fd}` : `--net socket,type=dgram,path=${spec.path}`;
}

/** A socket path of our own, short enough for sun_path (104 bytes on macOS). */
export function defaultLocalPath(): string {
  return join(tmpdir(), `nodevisor-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
}

export async function openDgram(spec: DgramSocketNetSpec, log: FramePortLog, load: () => NativeNetdev = loadNetdev): Promise<NetBackend> {
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
    return new FramePortBackend(addon, fd, { label, maxFrame, log });
  }
  const local = spec.local ?? defaultLocalPath();
  const connectOnce = (): number => addon.openDgram(local, spec.path!);
  let fd: number;
  try {
    fd = connectOnce();
  } catch (e) {
    throw new NetBackendError(`${label}: ${describeNativeError(e)}`);
  }
  return new ReconnectingDgram(addon, fd, { label, maxFrame, log, local, connect: connectOnce });
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
  /** A fresh socket bound at local and connected to the peer; throws as openDgram does. */
  connect: () => number;
}

/** The path= flavour: a FramePortBackend per connection, replaced when the peer restarts. */
export class ReconnectingDgram implements NetBackend {
  readonly checksumsTrusted = false;
  private receiver: (frame: Uint8Array) => void = () => undefined;
  private port: FramePortBackend | undefined;
  /** Totals of the connections already replaced. */
  private retired: FramePortBackendStats = { txFrames: 0, txOversize: 0, txDropped: 0, rxFrames: 0, rxOversize: 0, rxErrors: 0, txQueued: 0, txQueueFull: 0, txQueueLost: 0, txPending: 0 };
  private reconnects = 0;
  private txDisconnected = 0;
  private delay = RECONNECT_FIRST_MS;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly addon: NativeNetdev, fd: number, private readonly opts: ReconnectOptions) {
    this.attach(fd);
  }

  private attach(fd: number): void {
    const port = new FramePortBackend(this.addon, fd, {
      label: this.opts.label,
      maxFrame: this.opts.maxFrame,
      log: this.opts.log,
      onPeerGone: (errno) => this.peerGone(port, errno),
      onClose: () => rmSync(this.opts.local, { force: true }),
    });
    port.onFrame((f) => this.receiver(f));
    this.port = port;
    port.send(VFKIT_MAGIC);
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
    let fd: number;
    try {
      fd = this.opts.connect();
    } catch (e) {
      const errno = typeof (e as NativeErrnoError).errno === 'number' ? errnoName((e as NativeErrnoError).errno) : '';
      this.opts.log.debug(`${this.opts.label}: reconnecting: ${describeNativeError(e)}`);
      // ENOENT/ECONNREFUSED: the peer is not back yet; anything else will not get better by waiting less.
      this.delay = Math.min(RECONNECT_MAX_MS, this.delay * (errno === 'ENOENT' || errno === 'ECONNREFUSED' ? 2 : 4));
      this.schedule();
      return;
    }
    this.reconnects++;
    this.attach(fd);
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
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const p = this.port;
    this.port = undefined;
    await p?.close();
  }
}
