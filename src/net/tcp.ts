// The guest-facing half of a NATed TCP connection (RFC 9293): the stack terminates the guest's
// TCP here and the NAT splices the byte stream to a host socket. Minimal but correct: three-way
// handshake in both directions, sequence/ack checks with the acceptability test of 3.10.7.4,
// the guest's receive window (plus zero-window probes), retransmission of everything we send
// (go-back-N from the oldest unacknowledged byte, exponential backoff, give up with RST),
// FIN in both directions, RST. Window scaling (RFC 7323, 2): offered on our SYN and, when the
// guest's SYN offered it, on our SYN-ACK; in use only when both SYNs carried it. Out-of-order
// data is dropped and re-ACKed; the guest retransmits it. No SACK or timestamps: the virtual
// link loses frames only when a ring overflows, where go-back-N costs little, and the RTO is not
// estimated from round trips. Segments are capped by the MSS, or by the link's segmentation
// offload when the guest takes large segments (not on retransmission: a large segment the
// guest could not take must not be lost over and over).
import { ACK, FIN, RST, SYN, seqAdd, seqDiff, type OutSegment, type TcpSegment } from './tcp-segment.ts';

export type TcpState =
  | 'pending' | 'syn-sent' | 'syn-received' | 'established' | 'fin-wait-1' | 'fin-wait-2'
  | 'close-wait' | 'closing' | 'last-ack' | 'time-wait' | 'closed';

export type CloseReason = 'done' | 'reset' | 'timeout' | 'refused';

export interface TcpCallbacks {
  /** A segment to send to the guest. */
  output(seg: OutSegment): void;
  /** In-order data from the guest. */
  data(bytes: Uint8Array): void;
  /** The handshake completed. */
  established(): void;
  /** The guest closed its sending side (FIN). */
  peerFin(): void;
  /** Bytes we sent were acknowledged; the send buffer has room. */
  acked(): void;
  /** The connection is gone; the NAT drops it. */
  closed(reason: CloseReason): void;
}

export interface TcpOptions {
  /** Receive window we advertise (space the host side can take now). */
  receiveWindow(): number;
  /** The most receiveWindow() returns; picks our window-scale shift (default 65535: shift 0). */
  maxReceiveWindow?: number;
  /** Our MSS towards the guest. */
  mss?: number;
  /** Largest payload one segment may carry when the link segments for us (0: the MSS rules). */
  segmentLimit?: () => number;
  initialRtoMs?: number;
  maxRetries?: number;
  timeWaitMs?: number;
  iss?: number;
}

export const DEFAULT_MSS = 1460;
/** Peer MSS when its SYN carries none (RFC 9293, 3.7.1). */
const DEFAULT_PEER_MSS = 536;
const MAX_RTO_MS = 8000;
/** RFC 7323, 2.3: a larger shift is taken as 14. */
export const MAX_WINDOW_SHIFT = 14;
const MAX_UNSCALED_WINDOW = 0xffff;

/** The smallest shift that lets a 16-bit window field say `max`. */
export function windowShiftFor(max: number): number {
  let shift = 0;
  while (shift < MAX_WINDOW_SHIFT && max > MAX_UNSCALED_WINDOW * 2 ** shift) shift++;
  return shift;
}

export class TcpConnection {
  state: TcpState;
  private iss: number;
  private sndUna: number;
  private sndNxt: number;
  /** Highest sequence number sent (sndNxt moves back on retransmission). */
  private sndMax: number;
  private sndWnd = 0;
  /** The guest's window-scale shift (applied to windows it sends) and ours (to windows we send). */
  private sndShift = 0;
  private rcvShift = 0;
  /** The shift we offer; used only if the guest's SYN or SYN-ACK offers one too. */
  private readonly offeredShift: number;
  /** Whether our SYN or SYN-ACK carries the window-scale option. */
  private offerScale = true;
  private rcvNxt = 0;
  private irs = 0;
  private peerMss = DEFAULT_PEER_MSS;
  private readonly ourMss: number;
  /** Unacknowledged and unsent data; buf[0] has sequence number dataStart. */
  private buf = Buffer.alloc(0);
  private dataStart: number;
  private finQueued = false;
  private finSent = false;
  private rto: number;
  private retries = 0;
  private timer: NodeJS.Timeout | undefined;
  private ackScheduled = false;
  /** The window last advertised, in bytes (the field times 2^rcvShift). */
  private lastWindow = 0;
  /** Segments dropped by the checks (for tests and stats). */
  dropped = 0;

  constructor(private readonly cb: TcpCallbacks, private readonly opts: TcpOptions) {
    this.iss = (opts.iss ?? Math.floor(Math.random() * 2 ** 32)) >>> 0;
    this.sndUna = this.sndNxt = this.sndMax = this.iss;
    this.dataStart = seqAdd(this.iss, 1);
    this.ourMss = opts.mss ?? DEFAULT_MSS;
    this.rto = opts.initialRtoMs ?? 1000;
    this.offeredShift = windowShiftFor(opts.maxReceiveWindow ?? MAX_UNSCALED_WINDOW);
    this.state = 'pending';
  }

  /** Passive open from the guest's SYN; accept() or refuse() follows once the host side answers. */
  static fromSyn(syn: TcpSegment, cb: TcpCallbacks, opts: TcpOptions): TcpConnection {
    const c = new TcpConnection(cb, opts);
    c.irs = syn.seq;
    c.rcvNxt = seqAdd(syn.seq, 1);
    c.sndWnd = syn.window; // never scaled on a SYN
    if (syn.mss !== undefined && syn.mss > 0) c.peerMss = syn.mss;
    // RFC 7323, 2.2: a SYN-ACK may carry the option only if the SYN did.
    c.offerScale = syn.windowScale !== undefined;
    c.takeScale(syn.windowScale);
    return c;
  }

  /** Active open towards the guest (port forwards). */
  connect(): void {
    if (this.state !== 'pending') return;
    this.state = 'syn-sent';
    this.sendSyn();
  }

  /** The host side connected: answer the guest's SYN. */
  accept(): void {
    if (this.state !== 'pending') return;
    this.state = 'syn-received';
    this.sendSyn();
  }

  /** The host side refused: reset the guest's attempt. */
  refuse(): void {
    if (this.state !== 'pending') return;
    this.cb.output({ seq: 0, ack: this.rcvNxt, flags: RST | ACK, window: 0 });
    this.finish('refused');
  }

  /** Queue host data for the guest. */
  write(bytes: Uint8Array): void {
    if (this.finQueued || this.state === 'closed' || bytes.length === 0) return;
    this.buf = this.buf.length === 0 ? Buffer.from(bytes) : Buffer.concat([this.buf, bytes]);
    this.flush();
  }

  /** Bytes queued for the guest and not yet acknowledged. */
  get buffered(): number {
    return this.buf.length;
  }

  /** The host side finished sending: FIN after the queued data. */
  end(): void {
    if (this.finQueued || this.state === 'closed') return;
    this.finQueued = true;
    if (this.state === 'pending' || this.state === 'syn-sent') {
      this.abort();
      return;
    }
    this.flush();
  }

  /** Reset the connection (host side failed). */
  abort(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'pending') this.cb.output({ seq: this.sndNxt, ack: this.rcvNxt, flags: RST | ACK, window: 0 });
    this.finish('reset');
  }

  /** Our receive window may have opened: tell the guest if it was closed, or under half the
   *  buffer and grown by two segments (or half the buffer), so it need not wait for a probe.
   *  A window that stayed large needs no extra ACK: the guest was not held back by it. */
  windowUpdate(): void {
    if (!this.synchronized()) return;
    const w = this.window();
    const half = (this.opts.maxReceiveWindow ?? MAX_UNSCALED_WINDOW) / 2;
    if (w > 0 && (this.lastWindow === 0 || (this.lastWindow < half && w - this.lastWindow >= Math.min(half, 2 * this.ourMss)))) this.sendAck();
  }

  /** Both SYNs are known: scaling holds both ways if the guest's carried the option. */
  private takeScale(guestShift: number | undefined): void {
    if (guestShift === undefined) {
      this.sndShift = this.rcvShift = 0;
      return;
    }
    this.sndShift = Math.min(guestShift, MAX_WINDOW_SHIFT);
    this.rcvShift = this.offeredShift;
  }

  private synchronized(): boolean {
    return this.state !== 'pending' && this.state !== 'syn-sent' && this.state !== 'syn-received' && this.state !== 'closed';
  }

  /** The window we can offer now, in bytes: a multiple of 2^rcvShift the field can carry. */
  private window(): number {
    const unit = 2 ** this.rcvShift;
    const bytes = Math.max(0, Math.min(MAX_UNSCALED_WINDOW * unit, Math.floor(this.opts.receiveWindow())));
    return bytes - (bytes % unit);
  }

  private emit(seg: Omit<OutSegment, 'window'>): void {
    // RFC 7323, 2.2: the window of a SYN is never scaled.
    const syn = (seg.flags & SYN) !== 0;
    const window = syn ? Math.min(MAX_UNSCALED_WINDOW, this.window()) : this.window();
    this.lastWindow = window;
    this.ackScheduled = false;
    this.cb.output({ ...seg, window: syn ? window : window / 2 ** this.rcvShift });
  }

  private sendSyn(): void {
    const flags = this.state === 'syn-received' ? SYN | ACK : SYN;
    const windowScale = this.offerScale ? this.offeredShift : undefined;
    this.emit({ seq: this.iss, ack: flags & ACK ? this.rcvNxt : 0, flags, mss: this.ourMss, windowScale });
    this.sndNxt = seqAdd(this.iss, 1);
    if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
    this.armTimer();
  }

  private sendAck(): void {
    this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: ACK });
  }

  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    // Coalesce: the ACK goes out after this batch of frames, or rides on data sent meanwhile.
    setImmediate(() => {
      if (this.ackScheduled && this.state !== 'closed') this.sendAck();
    });
  }

  private canSendData(): boolean {
    return this.state === 'established' || this.state === 'close-wait' || this.state === 'fin-wait-1' || this.state === 'closing' || this.state === 'last-ack';
  }

  private flush(probe = false): void {
    if (!this.canSendData()) return;
    const mss = Math.max(1, Math.min(this.peerMss, this.ourMss));
    const limit = this.retries > 0 ? mss : Math.max(mss, this.opts.segmentLimit?.() ?? 0);
    for (let guard = 0; guard < 1024; guard++) {
      const offset = seqDiff(this.sndNxt, this.dataStart);
      const unsent = this.buf.length - offset;
      const inFlight = seqDiff(this.sndNxt, this.sndUna);
      let room = this.sndWnd - inFlight;
      if (probe && room <= 0 && inFlight === 0) room = 1;
      const n = Math.min(unsent, room, limit);
      if (n <= 0) break;
      // With large segments, the last bit of queued data waits while a full segment is still
      // unacknowledged: more host data arrives before the ACK does, so a bulk transfer goes out
      // in full segments, not one per host read (each costs the guest an interrupt).
      if (n === unsent && n < limit && limit > mss && inFlight >= limit && !this.finQueued) break;
      const payload = this.buf.subarray(offset, offset + n);
      this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: ACK | (n === unsent ? 0x08 : 0), payload, segmentSize: n > mss ? mss : undefined });
      this.sndNxt = seqAdd(this.sndNxt, n);
      if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
      probe = false;
    }
    const allSent = seqDiff(this.sndNxt, this.dataStart) >= this.buf.length;
    if (this.finQueued && !this.finSent && allSent) {
      this.emit({ seq: this.sndNxt, ack: this.rcvNxt, flags: FIN | ACK });
      this.finSent = true;
      this.sndNxt = seqAdd(this.sndNxt, 1);
      if (seqDiff(this.sndNxt, this.sndMax) > 0) this.sndMax = this.sndNxt;
      if (this.state === 'established') this.state = 'fin-wait-1';
      else if (this.state === 'close-wait') this.state = 'last-ack';
    }
    this.armTimer();
  }

  private armTimer(): void {
    const outstanding = seqDiff(this.sndMax, this.sndUna) > 0;
    const zeroWindowPending = this.sndWnd === 0 && this.buf.length > seqDiff(this.sndNxt, this.dataStart);
    if (!outstanding && !zeroWindowPending) {
      this.stopTimer();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => this.onTimeout(), this.rto);
    this.timer.unref?.();
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onTimeout(): void {
    this.timer = undefined;
    if (this.state === 'closed') return;
    if (++this.retries > (this.opts.maxRetries ?? 8)) {
      this.cb.output({ seq: this.sndNxt, ack: this.rcvNxt, flags: RST | ACK, window: 0 });
      this.finish('timeout');
      return;
    }
    this.rto = Math.min(this.rto * 2, MAX_RTO_MS);
    if (this.state === 'syn-sent' || this.state === 'syn-received') {
      this.sendSyn();
      return;
    }
    // Go back to the oldest unacknowledged byte and send again.
    this.sndNxt = seqDiff(this.sndUna, this.dataStart) < 0 ? this.dataStart : this.sndUna;
    if (this.finSent) {
      this.finSent = false;
      if (this.state === 'fin-wait-1') this.state = 'established';
      else if (this.state === 'last-ack') this.state = 'close-wait';
      else if (this.state === 'closing') this.state = 'close-wait';
    }
    this.flush(true);
  }

  /** A segment from the guest for this connection. */
  input(seg: TcpSegment): void {
    switch (this.state) {
      case 'closed':
      case 'pending':
        return;
      case 'syn-sent':
        this.inputSynSent(seg);
        return;
      default:
        this.inputSynchronized(seg);
    }
  }

  private inputSynSent(seg: TcpSegment): void {
    const ackOk = (seg.flags & ACK) !== 0 && seg.ack === seqAdd(this.iss, 1);
    if (seg.flags & ACK && !ackOk) {
      this.dropped++;
      if (!(seg.flags & RST)) this.cb.output({ seq: seg.ack, ack: 0, flags: RST, window: 0 });
      return;
    }
    if (seg.flags & RST) {
      if (ackOk) this.finish('refused');
      else this.dropped++;
      return;
    }
    if (!(seg.flags & SYN) || !ackOk) {
      this.dropped++; // simultaneous open is not supported: the guest never initiates to our ports
      return;
    }
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.sndUna = seg.ack;
    this.sndWnd = seg.window; // never scaled on a SYN
    if (seg.mss !== undefined && seg.mss > 0) this.peerMss = seg.mss;
    this.takeScale(seg.windowScale);
    this.state = 'established';
    this.retries = 0;
    this.rto = this.opts.initialRtoMs ?? 1000;
    this.stopTimer();
    this.sendAck();
    this.cb.established();
    this.flush();
  }

  /** How far past rcvNxt the guest may send: what we last advertised, or more if it opened. */
  private receivable(): number {
    return Math.max(this.lastWindow, this.window());
  }

  private acceptable(seg: TcpSegment): boolean {
    const len = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
    const wnd = this.receivable();
    const inWindow = (s: number): boolean => seqDiff(s, this.rcvNxt) >= 0 && seqDiff(s, seqAdd(this.rcvNxt, wnd)) < 0;
    if (len === 0) return wnd === 0 ? seg.seq === this.rcvNxt : inWindow(seg.seq);
    if (wnd === 0) return false;
    return inWindow(seg.seq) || inWindow(seqAdd(seg.seq, len - 1));
  }

  private inputSynchronized(seg: TcpSegment): void {
    // A retransmitted SYN while our SYN-ACK is unacknowledged: answer it again.
    if (this.state === 'syn-received' && seg.flags & SYN && !(seg.flags & ACK) && seg.seq === this.irs) {
      this.sendSyn();
      return;
    }
    if (!this.acceptable(seg)) {
      // A zero-length probe or data already received: just re-ACK (never ACK a RST).
      this.dropped++;
      if (!(seg.flags & RST) && this.state !== 'syn-received') this.sendAck();
      return;
    }
    if (seg.flags & RST) {
      if (seg.seq === this.rcvNxt) this.finish('reset');
      else {
        this.dropped++;
        this.sendAck(); // challenge ACK (RFC 5961, 3.2)
      }
      return;
    }
    if (seg.flags & SYN) {
      this.dropped++;
      this.sendAck();
      return;
    }
    if (!(seg.flags & ACK)) {
      this.dropped++;
      return;
    }
    if (this.state === 'syn-received') {
      if (seqDiff(seg.ack, this.sndUna) <= 0 || seqDiff(seg.ack, this.sndMax) > 0) {
        this.dropped++;
        this.cb.output({ seq: seg.ack, ack: 0, flags: RST, window: 0 });
        return;
      }
      this.state = 'established';
      this.cb.established();
    }
    if (seqDiff(seg.ack, this.sndMax) > 0) {
      this.dropped++;
      this.sendAck(); // acknowledges something never sent
      return;
    }
    if (seqDiff(seg.ack, this.sndUna) >= 0) {
      const before = this.sndWnd;
      this.sndWnd = seg.window * 2 ** this.sndShift;
      if (seqDiff(seg.ack, this.sndUna) > 0) this.onAcked(seg.ack);
      else if (this.sndWnd > before && this.canSendData()) {
        // A window update: send into it now rather than when the persist timer fires.
        if (before === 0) this.resetBackoff();
        this.flush();
      } else if (this.sndWnd === 0) this.retries = 0; // the guest answers our probes: it lives
    }
    if (this.state === 'closed') return;

    let payload = seg.payload;

    const receiving = this.state === 'established' || this.state === 'fin-wait-1' || this.state === 'fin-wait-2';
    if (payload.length > 0 && receiving) {
      const skip = seqDiff(this.rcvNxt, seg.seq);
      if (skip < 0) {
        this.dropped++; // out of order: not buffered; the duplicate ACK makes the guest resend
        this.sendAck();
        return;
      }
      payload = payload.subarray(skip, Math.min(payload.length, skip + this.receivable()));

      if (payload.length > 0) {
        this.rcvNxt = seqAdd(this.rcvNxt, payload.length);
        this.cb.data(payload);
        if ((this.state as TcpState) === 'closed') return;
        this.scheduleAck();
      }
    }
    if (seg.flags & FIN) {
      const finSeq = seqAdd(seg.seq, seg.payload.length);
      if (finSeq === this.rcvNxt && receiving) {
        this.rcvNxt = seqAdd(this.rcvNxt, 1);
        this.sendAck();
        if (this.state === 'established') this.state = 'close-wait';
        else if (this.state === 'fin-wait-1') this.state = 'closing';
        else if (this.state === 'fin-wait-2') this.enterTimeWait();
        this.cb.peerFin();
      } else if (this.state === 'time-wait' || this.state === 'close-wait' || this.state === 'closing' || this.state === 'last-ack') {
        this.sendAck(); // retransmitted FIN
      }
    }
  }

  private onAcked(ack: number): void {
    // Bytes of data acknowledged (the SYN and FIN take one sequence number each, not in buf).
    const dataAcked = Math.max(0, Math.min(this.buf.length, seqDiff(ack, this.dataStart)));
    if (dataAcked > 0) {
      this.buf = this.buf.subarray(dataAcked);
      this.dataStart = seqAdd(this.dataStart, dataAcked);
    }
    this.sndUna = ack;
    if (seqDiff(this.sndNxt, ack) < 0) this.sndNxt = ack;
    this.resetBackoff();
    const finAcked = this.finSent && ack === this.sndMax;
    if (finAcked) {
      if (this.state === 'fin-wait-1') this.state = 'fin-wait-2';
      else if (this.state === 'closing') this.enterTimeWait();
      else if (this.state === 'last-ack') {
        this.finish('done');
        return;
      }
    }
    if (dataAcked > 0) this.cb.acked();
    if ((this.state as TcpState) !== 'closed') this.flush();
  }

  /** Progress: retransmission and probing start over from the initial timeout. */
  private resetBackoff(): void {
    this.retries = 0;
    this.rto = this.opts.initialRtoMs ?? 1000;
    this.stopTimer();
  }

  private enterTimeWait(): void {
    this.state = 'time-wait';
    this.stopTimer();
    // Short: the NAT only needs to re-ACK a lost final FIN, not guard a host port.
    const t = setTimeout(() => this.finish('done'), this.opts.timeWaitMs ?? 2000);
    t.unref?.();
    this.timer = t;
  }

  private finish(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopTimer();
    this.buf = Buffer.alloc(0);
    this.cb.closed(reason);
  }
}
