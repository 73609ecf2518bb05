// One vsock stream between a guest port and a host Unix socket, with the credit accounting of
// virtio 1.2, 5.10.6.3 in both directions. Guest->host bytes are bounded by the buf_alloc we
// advertise (a guest sending past it is reset); host->guest bytes are bounded by the guest's
// credit and by PENDING_CAP, past which the socket is paused.
import type { Socket } from 'node:net';

/** Receive buffer we advertise to the guest per connection. */
export const CONN_BUF_ALLOC = 128 * 1024;
/** Host bytes read from the socket and not yet sent to the guest, before pausing the socket. */
export const PENDING_CAP = 64 * 1024;

export type ConnState =
  /** Host connected through the hybrid socket; REQUEST sent, waiting for the guest's RESPONSE. */
  | 'requesting'
  /** Guest sent REQUEST; connecting the Unix socket. */
  | 'connecting'
  | 'established'
  /** We sent SHUTDOWN (both) and wait for the guest's RST. */
  | 'closing';

export class VsockConnection {
  state: ConnState;
  /** The guest's credit, from the last header it sent. */
  peerBufAlloc = 0;
  peerFwdCnt = 0;
  /** Bytes sent to the guest. */
  txCnt = 0;
  /** Bytes received from the guest, and of those written out to the socket. */
  rxCnt = 0;
  fwdCnt = 0;
  /** fwd_cnt we last told the guest. */
  advertisedFwd = 0;
  private pending: Buffer[] = [];
  pendingBytes = 0;
  /** Guest said it will send no more / receive no more. */
  peerShutdown = 0;
  /** Host end stopped sending (half-close) / closed fully: SHUTDOWN once pending data is out. */
  hostEnded = false;
  hostClosed = false;
  /** SHUTDOWN flags already sent to the guest. */
  shutdownSent = 0;
  creditRequested = false;
  closeTimer?: NodeJS.Timeout;

  constructor(readonly hostPort: number, readonly guestPort: number, readonly socket: Socket, state: ConnState) {
    this.state = state;
  }

  get key(): string {
    return connKey(this.hostPort, this.guestPort);
  }

  /** Bytes the guest can still take. */
  get peerCredit(): number {
    return Math.max(0, this.peerBufAlloc - ((this.txCnt - this.peerFwdCnt) >>> 0));
  }

  /** Guest->host bytes not yet written out. */
  get inFlight(): number {
    return this.rxCnt - this.fwdCnt;
  }

  queueFromHost(b: Buffer): void {
    this.pending.push(b);
    this.pendingBytes += b.length;
    if (this.pendingBytes >= PENDING_CAP) this.socket.pause();
  }

  /** Up to `max` host bytes for the guest, consumed. */
  take(max: number): Buffer | undefined {
    if (this.pendingBytes === 0 || max <= 0) return undefined;
    const head = this.pending[0];
    let out: Buffer;
    if (head.length <= max) {
      this.pending.shift();
      out = head;
    } else {
      this.pending[0] = head.subarray(max);
      out = head.subarray(0, max);
    }
    this.pendingBytes -= out.length;
    this.txCnt = (this.txCnt + out.length) >>> 0;
    if (this.pendingBytes < PENDING_CAP && this.state === 'established' && !this.hostEnded) this.socket.resume();
    return out;
  }

  dispose(): void {
    clearTimeout(this.closeTimer);
    this.pending = [];
    this.pendingBytes = 0;
    this.socket.destroy();
  }
}

export const connKey = (hostPort: number, guestPort: number): string => `${hostPort}:${guestPort}`;
