// A NetBackend over an fd that carries one Ethernet frame per read and write: a tap device or
// a unix datagram socket, polled by the netdev addon's FramePort. Frames over the link's
// maximum (MTU + Ethernet header + VLAN tag) are dropped both ways and counted, and so are
// guest frames under minFrame (vmnet-helper stops on an empty datagram); send errors
// drop the frame (a network loses packets) and are logged once per kind, not per frame; a
// kernel that is only full for now gets the frame later from the addon's transmit queue.
import type { NetBackend } from './backend.ts';
import { errnoName, type FramePortStats, type NativeErrnoError, type NativeFramePort, type NativeNetdev } from './netdev-native.ts';

/** Send errors that all mean "the peer is gone" (Linux gives ECONNREFUSED once, then ENOTCONN). */
const PEER_GONE = new Set(['ECONNREFUSED', 'ENOTCONN', 'ECONNRESET', 'EPIPE']);

export interface FramePortLog {
  warn(m: string): void;
  debug(m: string): void;
}

export interface FramePortBackendStats extends FramePortStats {
  txFrames: number;
  /** Guest frames longer than maxFrame. */
  txOversize: number;
  /** Guest frames shorter than minFrame. */
  txRunt: number;
  /** Guest frames the kernel refused (peer gone, buffers full, link down). */
  txDropped: number;
}

export interface FramePortBackendOptions {
  /** How log lines name the link, e.g. `--net tap,ifname=tap0`. */
  label: string;
  maxFrame: number;
  /** Guest frames shorter than this are dropped (0: none are). */
  minFrame?: number;
  log: FramePortLog;
  /** Extra words for a send errno, e.g. how to bring a tap up on EIO. */
  hint?: (errno: string) => string | undefined;
  /** Runs after the fd is closed (removing a bound socket path). */
  onClose?: () => void;
  /** Called once, instead of the warning, the first time a send or receive finds the peer gone. */
  onPeerGone?: (errno: string) => void;
}

export class FramePortBackend implements NetBackend {
  readonly checksumsTrusted = false;
  private receiver: (frame: Uint8Array) => void = () => undefined;
  private readonly port: NativeFramePort;
  private readonly tx = { txFrames: 0, txOversize: 0, txRunt: 0, txDropped: 0 };
  private lastSendError = '';
  private lastRecvError = '';
  private peerGoneReported = false;
  private closed = false;

  /** Takes over fd (closed by close(), or at once if the port cannot be created). */
  constructor(native: NativeNetdev, fd: number, private readonly opts: FramePortBackendOptions) {
    this.port = new native.FramePort(fd, opts.maxFrame, (f) => this.receiver(f), (e) => this.portError(e));
  }

  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  send(frame: Uint8Array): void {
    if (this.closed) {
      this.tx.txDropped++;
      return;
    }
    if (frame.length > this.opts.maxFrame) {
      this.tx.txOversize++;
      this.opts.log.debug(`${this.opts.label}: dropping a ${frame.length}-byte frame from the guest (link maximum ${this.opts.maxFrame})`);
      return;
    }
    if (frame.length < (this.opts.minFrame ?? 0)) {
      this.tx.txRunt++;
      this.opts.log.debug(`${this.opts.label}: dropping a ${frame.length}-byte frame from the guest (link minimum ${this.opts.minFrame})`);
      return;
    }
    this.transmit(frame);
  }

  /** A datagram of the link's own protocol (a handshake), exempt from the frame-size checks. */
  sendControl(datagram: Uint8Array): void {
    if (this.closed) this.tx.txDropped++;
    else this.transmit(datagram);
  }

  private transmit(frame: Uint8Array): void {
    const err = this.port.send(frame);
    if (err === 0) {
      this.tx.txFrames++;
      if (this.lastSendError) {
        this.opts.log.warn(`${this.opts.label}: sending works again`);
        this.lastSendError = '';
      }
      return;
    }
    this.tx.txDropped++;
    const name = errnoName(err);
    if (name === 'EAGAIN' || name === 'EWOULDBLOCK' || name === 'ENOBUFS') return; // full for now: routine
    const kind = PEER_GONE.has(name) ? 'peer-gone' : name;
    if (kind === 'peer-gone' && this.opts.onPeerGone) {
      this.reportPeerGone(name);
      return;
    }
    if (kind !== this.lastSendError) {
      this.lastSendError = kind;
      const hint = this.opts.hint?.(name);
      this.opts.log.warn(`${this.opts.label}: frames to the host are dropped: ${name}${hint ? ` (${hint})` : ''}`);
    }
  }

  stats(): FramePortBackendStats {
    return { ...this.tx, ...this.port.stats() };
  }

  private reportPeerGone(errno: string): void {
    if (this.peerGoneReported) return;
    this.peerGoneReported = true;
    this.opts.onPeerGone!(errno);
  }

  private portError(e: NativeErrnoError): void {
    const name = errnoName(e.errno);
    // macOS reports a vanished datagram peer on the receive side (ECONNRESET) without any send.
    if (PEER_GONE.has(name) && this.opts.onPeerGone && !e.fatal) {
      this.reportPeerGone(name);
      return;
    }
    const repeat = name === this.lastRecvError && !e.fatal;
    this.lastRecvError = name;
    (repeat ? this.opts.log.debug : this.opts.log.warn).call(this.opts.log, `${this.opts.label}: ${e.message} (${name})${e.fatal ? '; no more frames will be received' : ''}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.port.close();
    this.opts.onClose?.();
  }
}
