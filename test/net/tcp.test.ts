import { expect } from 'chai';
import { TcpConnection, type CloseReason } from '../../src/net/tcp.ts';
import { ACK, FIN, RST, SYN, type OutSegment, type TcpSegment } from '../../src/net/tcp-segment.ts';

const ISS = 1000;
const GUEST_ISS = 0xfffffff0; // wraps past 2^32 during the tests

class Harness {
  readonly out: OutSegment[] = [];
  readonly data: number[] = [];
  events: string[] = [];
  closed?: CloseReason;
  window = 65535;
  readonly conn: TcpConnection;

  constructor(passive: boolean, opts: { rto?: number; retries?: number; segmentLimit?: number; maxWindow?: number; synScale?: number } = {}) {
    const cb = {
      output: (s: OutSegment) => this.out.push(s),
      data: (b: Uint8Array) => {
        for (const x of b) this.data.push(x);
      },
      established: () => this.events.push('established'),
      peerFin: () => this.events.push('fin'),
      acked: () => this.events.push('acked'),
      closed: (r: CloseReason) => {
        this.closed = r;
      },
    };
    const o = { receiveWindow: () => this.window, maxReceiveWindow: opts.maxWindow, iss: ISS, initialRtoMs: opts.rto ?? 20, maxRetries: opts.retries ?? 3, timeWaitMs: 10, segmentLimit: () => opts.segmentLimit ?? 0 };
    this.conn = passive ? TcpConnection.fromSyn(seg({ seq: GUEST_ISS, flags: SYN, mss: 100, windowScale: opts.synScale }), cb, o) : new TcpConnection(cb, o);
  }

  take(): OutSegment[] {
    return this.out.splice(0);
  }

  /** Passive open to ESTABLISHED; the SYN-ACK. */
  establish(window = 65535): OutSegment {
    this.conn.accept();
    const [synAck] = this.take();
    expect(synAck).to.deep.include({ seq: ISS, ack: (GUEST_ISS + 1) >>> 0, flags: SYN | ACK, mss: 1460 });
    this.conn.input(seg({ seq: GUEST_ISS + 1, ack: ISS + 1, flags: ACK, window }));
    expect(this.conn.state).to.equal('established');
    return synAck;
  }
}

function seg(s: Partial<TcpSegment> & { payload?: Uint8Array }): TcpSegment {
  return { srcPort: 5000, dstPort: 80, seq: (s.seq ?? 0) >>> 0, ack: (s.ack ?? 0) >>> 0, flags: s.flags ?? ACK, window: s.window ?? 65535, mss: s.mss, windowScale: s.windowScale, payload: s.payload ?? new Uint8Array(0) };
}

const bytes = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
// After the timeout, one more turn: ACKs coalesced with setImmediate have gone out by then.
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(() => setImmediate(r), ms));
const G = (n: number): number => (GUEST_ISS + 1 + n) >>> 0; // guest sequence after n data bytes

describe('TCP state machine', () => {
  it('completes a passive open and reports ESTABLISHED once', () => {
    const h = new Harness(true);
    h.establish();
    expect(h.events).to.deep.equal(['established']);
  });

  it('refuses with RST|ACK acknowledging the SYN', () => {
    const h = new Harness(true);
    h.conn.refuse();
    expect(h.take()).to.deep.equal([{ seq: 0, ack: (GUEST_ISS + 1) >>> 0, flags: RST | ACK, window: 0 }]);
    expect(h.closed).to.equal('refused');
  });

  it('answers a retransmitted SYN with the same SYN-ACK and rejects a bad handshake ACK with RST', () => {
    const h = new Harness(true);
    h.conn.accept();
    h.take();
    h.conn.input(seg({ seq: GUEST_ISS, flags: SYN }));
    expect(h.take()[0]).to.deep.include({ seq: ISS, flags: SYN | ACK });
    h.conn.input(seg({ seq: G(0), ack: ISS + 50, flags: ACK }));
    expect(h.take()).to.deep.equal([{ seq: ISS + 50, ack: 0, flags: RST, window: 0 }]);
    expect(h.conn.state).to.equal('syn-received');
  });

  it('delivers in-order data across the sequence wrap and acknowledges it (coalesced)', async () => {
    const h = new Harness(true);
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, payload: bytes(10) }));
    h.conn.input(seg({ seq: G(10), ack: ISS + 1, payload: bytes(10, 10) }));
    expect(h.data).to.deep.equal([...bytes(20)]);
    await tick();
    expect(h.take()).to.deep.equal([{ seq: ISS + 1, ack: G(20), flags: ACK, window: 65535 }]);
  });

  it('drops out-of-order, duplicate and out-of-window segments, re-ACKing, and never delivers twice', async () => {
    const h = new Harness(true);
    h.establish();
    h.window = 100;
    h.conn.input(seg({ seq: G(50), payload: bytes(10) })); // gap
    h.conn.input(seg({ seq: G(5000), payload: bytes(10) })); // beyond the window
    h.conn.input(seg({ seq: G(0) - 5000, payload: bytes(10) })); // long before
    expect(h.data).to.deep.equal([]);
    expect(h.take().every((s) => s.flags === ACK && s.ack === G(0))).to.equal(true);
    h.conn.input(seg({ seq: G(0), payload: bytes(10) }));
    h.conn.input(seg({ seq: G(5), payload: bytes(10, 5) })); // overlaps: only the new half is delivered
    expect(h.data).to.deep.equal([...bytes(15)]);
    expect(h.conn.dropped).to.be.greaterThan(2);
    // Data beyond the advertised window is trimmed to it.
    h.conn.input(seg({ seq: G(15), payload: bytes(500, 15) }));
    expect(h.data.length).to.equal(115);
  });

  it('ignores segments without ACK, challenges an in-window RST not at rcvNxt, and resets on an exact one', () => {
    const h = new Harness(true);
    h.establish();
    h.conn.input(seg({ seq: G(0), flags: 0, payload: bytes(3) }));
    expect(h.data).to.deep.equal([]);
    h.conn.input(seg({ seq: G(7), flags: RST }));
    expect(h.take()).to.have.length(1);
    expect(h.closed).to.equal(undefined);
    h.conn.input(seg({ seq: G(0) - 100000, flags: RST }));
    expect(h.closed).to.equal(undefined);
    expect(h.take()).to.deep.equal([]); // never ACK a RST
    h.conn.input(seg({ seq: G(0), flags: RST }));
    expect(h.closed).to.equal('reset');
  });

  it('ACKs an ACK for data never sent without moving, and sends within the peer window and MSS', () => {
    const h = new Harness(true);
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 999 }));
    expect(h.take()).to.deep.equal([{ seq: ISS + 1, ack: G(0), flags: ACK, window: 65535 }]);
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 250 }));
    h.conn.write(bytes(1000));
    const sent = h.take();
    expect(sent.map((s) => s.payload!.length)).to.deep.equal([100, 100, 50]); // peer MSS 100, window 250
    expect(sent.map((s) => s.seq)).to.deep.equal([ISS + 1, ISS + 101, ISS + 201]);
    h.conn.input(seg({ seq: G(0), ack: ISS + 251, window: 1000 }));
    expect(h.events).to.include('acked');
    expect(h.conn.buffered).to.equal(750);
    expect(h.take().reduce((n, s) => n + s.payload!.length, 0)).to.equal(750);
  });

  it('retransmits unacknowledged data from the oldest byte with backoff, then gives up with RST', async () => {
    const h = new Harness(true, { rto: 10, retries: 2 });
    h.establish();
    h.conn.write(bytes(150));
    const first = h.take();
    expect(first.map((s) => s.seq)).to.deep.equal([ISS + 1, ISS + 101]);
    h.conn.input(seg({ seq: G(0), ack: ISS + 101 }));
    await tick(20);
    const re = h.take();
    expect(re[0]).to.deep.include({ seq: ISS + 101 });
    expect(re[0].payload!.length).to.equal(50);
    await tick(120);
    const all = h.take();
    expect(all.at(-1)!.flags & RST).to.equal(RST);
    expect(h.closed).to.equal('timeout');
  });

  it('sends segments up to the link limit (marked with the MSS) under the window, and MSS-sized ones on retransmission', async () => {
    const h = new Harness(true, { rto: 10, retries: 3, segmentLimit: 1000 });
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 2400 }));
    h.conn.write(bytes(3000));
    const sent = h.take();
    expect(sent.map((s) => [s.payload!.length, s.segmentSize])).to.deep.equal([[1000, 100], [1000, 100], [400, 100]]);
    h.conn.input(seg({ seq: G(0), ack: ISS + 1 + 2400, window: 2400 }));
    expect(h.take().map((s) => [s.payload!.length, s.segmentSize])).to.deep.equal([[600, 100]]);
    await tick(20); // the last 600 bytes time out: resent in MSS-sized pieces, unmarked
    const re = h.take();
    expect(re.map((s) => [s.seq, s.payload!.length, s.segmentSize])).to.deep.equal(
      [0, 1, 2, 3, 4, 5].map((i) => [ISS + 1 + 2400 + 100 * i, 100, undefined]),
    );
    h.conn.abort();
  });

  it('with large segments, holds a partial one while a full one is unacknowledged, unless closing', () => {
    const h = new Harness(true, { rto: 5000, segmentLimit: 1000 });
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 60000 }));
    h.conn.write(bytes(1000));
    h.conn.write(bytes(300));
    expect(h.take().map((s) => s.payload!.length)).to.deep.equal([1000]);
    h.conn.write(bytes(700)); // the held 300 and these make a full segment
    expect(h.take().map((s) => s.payload!.length)).to.deep.equal([1000]);
    h.conn.write(bytes(200));
    expect(h.take()).to.deep.equal([]);
    h.conn.input(seg({ seq: G(0), ack: ISS + 1 + 1500, window: 60000 })); // 500 still in flight: under a segment
    expect(h.take().map((s) => s.payload!.length)).to.deep.equal([200]);
    h.conn.write(bytes(1500));
    h.conn.end(); // closing: nothing is held back
    expect(h.take().map((s) => [s.payload?.length ?? 0, s.flags & FIN])).to.deep.equal([[1000, 0], [500, 0], [0, FIN]]);
  });

  it('probes a zero window and resumes when it opens', async () => {
    const h = new Harness(true, { rto: 10, retries: 5 });
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 0 }));
    h.conn.write(bytes(10));
    expect(h.take()).to.deep.equal([]);
    await tick(25);
    const probe = h.take();
    expect(probe[0].payload!.length).to.equal(1);
    h.conn.input(seg({ seq: G(0), ack: ISS + 2, window: 1000 }));
    expect(h.take().map((s) => s.payload!.length)).to.deep.equal([9]);
  });

  it('sends into a reopened window at once, without waiting for the persist timer', () => {
    const h = new Harness(true, { rto: 5000 });
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 0 }));
    h.conn.write(bytes(300));
    expect(h.take()).to.deep.equal([]);
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 250 })); // a pure window update
    expect(h.take().map((s) => s.payload!.length)).to.deep.equal([100, 100, 50]);
    h.conn.abort();
  });

  it('keeps probing a zero window for as long as the guest answers the probes', async () => {
    const h = new Harness(true, { rto: 5, retries: 2 });
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 0 }));
    h.conn.write(bytes(10));
    let probes = 0;
    for (const end = Date.now() + 200; Date.now() < end && !h.closed;) {
      await tick(5);
      if (h.take().some((s) => s.payload?.length === 1)) {
        probes++;
        h.conn.input(seg({ seq: G(0), ack: ISS + 1, window: 0 })); // not taken, but answered
      }
    }
    expect(h.closed).to.equal(undefined);
    expect(probes).to.be.greaterThan(2); // more than maxRetries
    h.conn.abort();
  });

  it('closes both ways: guest FIN then ours (CLOSE-WAIT, LAST-ACK, closed)', () => {
    const h = new Harness(true);
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, flags: FIN | ACK, payload: bytes(2) }));
    expect(h.events).to.include('fin');
    expect(h.conn.state).to.equal('close-wait');
    expect(h.take().at(-1)).to.deep.include({ ack: G(3) });
    h.conn.write(bytes(5));
    h.conn.end();
    const out = h.take();
    expect(out.at(-1)).to.deep.include({ seq: ISS + 6, flags: FIN | ACK });
    expect(h.conn.state).to.equal('last-ack');
    h.conn.input(seg({ seq: G(3), ack: ISS + 7 }));
    expect(h.closed).to.equal('done');
  });

  it('closes our side first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, closed', async () => {
    const h = new Harness(true);
    h.establish();
    h.conn.end();
    expect(h.take()).to.deep.equal([{ seq: ISS + 1, ack: G(0), flags: FIN | ACK, window: 65535 }]);
    h.conn.input(seg({ seq: G(0), ack: ISS + 2 }));
    expect(h.conn.state).to.equal('fin-wait-2');
    h.conn.input(seg({ seq: G(0), ack: ISS + 2, payload: bytes(4) })); // half-closed: guest still sends
    expect(h.data).to.have.length(4);
    h.conn.input(seg({ seq: G(4), ack: ISS + 2, flags: FIN | ACK }));
    expect(h.conn.state).to.equal('time-wait');
    h.conn.input(seg({ seq: G(4), ack: ISS + 2, flags: FIN | ACK })); // lost ACK: FIN again
    expect(h.take().at(-1)).to.deep.include({ ack: G(5) });
    await tick(30);
    expect(h.closed).to.equal('done');
  });

  it('active open: SYN, SYN-ACK checked, ACK; a wrong ACK gets RST, a RST refuses', () => {
    const h = new Harness(false);
    h.conn.connect();
    expect(h.take()).to.deep.equal([{ seq: ISS, ack: 0, flags: SYN, window: 65535, mss: 1460, windowScale: 0 }]);
    h.conn.input(seg({ seq: 77, ack: ISS + 9, flags: SYN | ACK }));
    expect(h.take()).to.deep.equal([{ seq: ISS + 9, ack: 0, flags: RST, window: 0 }]);
    h.conn.input(seg({ seq: 77, ack: ISS + 1, flags: SYN | ACK, mss: 1000 }));
    expect(h.conn.state).to.equal('established');
    expect(h.take()).to.deep.equal([{ seq: ISS + 1, ack: 78, flags: ACK, window: 65535 }]);
    const r = new Harness(false);
    r.conn.connect();
    r.conn.input(seg({ seq: 0, ack: ISS + 1, flags: RST | ACK }));
    expect(r.closed).to.equal('refused');
  });

  it('retransmits an unanswered SYN', async () => {
    const h = new Harness(false, { rto: 10 });
    h.conn.connect();
    h.take();
    await tick(15);
    expect(h.take()[0]).to.deep.include({ seq: ISS, flags: SYN });
    h.conn.abort();
  });
});

describe('TCP window scaling (RFC 7323)', () => {
  const sentBytes = (out: OutSegment[]): number => out.reduce((n, s) => n + (s.payload?.length ?? 0), 0);

  it('answers a SYN offering a scale with our shift; scales both windows after the handshake', async () => {
    const h = new Harness(true, { rto: 5000, maxWindow: 1 << 20, synScale: 7 });
    h.window = 1 << 20;
    const synAck = h.establish(10); // the guest's first scaled window: 10 << 7 = 1280 bytes
    // 1 MiB needs shift 5 (65535 << 4 falls 16 bytes short); the SYN-ACK's own window is unscaled.
    expect(synAck).to.deep.include({ windowScale: 5, window: 65535 });
    h.conn.write(bytes(5000));
    expect(sentBytes(h.take())).to.equal(1280);
    // In-order data far past 64 KiB fits the scaled window and is taken whole.
    h.conn.input(seg({ seq: G(0), ack: ISS + 1281, window: 10, payload: bytes(200_000) }));
    expect(h.data.length).to.equal(200_000);
    await tick();
    const ack = h.take().find((s) => s.payload === undefined || s.payload.length === 0)!;
    expect(ack).to.deep.include({ ack: G(200_000), window: (1 << 20) >> 5 });
    h.conn.abort();
  });

  it('advertises a window rounded down to the scale unit, and reports it opening', async () => {
    const h = new Harness(true, { rto: 5000, maxWindow: 1 << 20, synScale: 0 });
    h.window = 1000;
    h.establish();
    h.conn.input(seg({ seq: G(0), ack: ISS + 1, payload: bytes(8) }));
    await tick();
    expect(h.take()).to.deep.equal([{ seq: ISS + 1, ack: G(8), flags: ACK, window: 31 }]); // 992 bytes
    // Data past what was advertised is trimmed to it.
    h.conn.input(seg({ seq: G(8), ack: ISS + 1, payload: bytes(2000) }));
    expect(h.data.length).to.equal(8 + 992);
    await tick();
    h.take();
    h.window = 8000;
    h.conn.windowUpdate(); // grew by more than two segments: the guest hears at once
    expect(h.take()).to.deep.equal([{ seq: ISS + 1, ack: G(1000), flags: ACK, window: 250 }]);
    h.conn.windowUpdate(); // no change: nothing to say
    expect(h.take()).to.deep.equal([]);
    h.window = 600_000;
    h.conn.windowUpdate();
    expect(h.take().map((s) => s.window)).to.deep.equal([18750]);
    h.window = 900_000; // grown again, but the guest was not held back by 600 000 bytes
    h.conn.windowUpdate();
    expect(h.take()).to.deep.equal([]);
    h.conn.abort();
  });

  it('does not scale when the guest SYN has no window-scale option, and caps our window at 65535', async () => {
    const h = new Harness(true, { rto: 5000, maxWindow: 1 << 20 });
    h.window = 1 << 20;
    const synAck = h.establish(1000);
    expect(synAck.windowScale).to.equal(undefined);
    h.conn.write(bytes(5000));
    expect(sentBytes(h.take())).to.equal(1000);
    h.conn.input(seg({ seq: G(0), ack: ISS + 1001, window: 1000, payload: bytes(100_000) }));
    expect(h.data.length).to.equal(65535);
    await tick();
    expect(h.take().at(-1)).to.deep.include({ ack: G(65535), window: 65535 });
    h.conn.abort();
  });

  it('takes a shift above 14 as 14', () => {
    const h = new Harness(true, { rto: 5000, synScale: 200 });
    h.establish(1); // 1 << 14
    h.conn.write(bytes(40_000));
    expect(sentBytes(h.take())).to.equal(16384);
    h.conn.abort();
  });

  it('active open (port forward): offers our shift and scales only if the SYN-ACK offers one too', () => {
    const scaled = new Harness(false, { rto: 5000, maxWindow: 1 << 20 });
    scaled.window = 1 << 20;
    scaled.conn.connect();
    expect(scaled.take()).to.deep.equal([{ seq: ISS, ack: 0, flags: SYN, window: 65535, mss: 1460, windowScale: 5 }]);
    scaled.conn.input(seg({ seq: 77, ack: ISS + 1, flags: SYN | ACK, mss: 1000, window: 2000, windowScale: 2 }));
    expect(scaled.take()).to.deep.equal([{ seq: ISS + 1, ack: 78, flags: ACK, window: (1 << 20) >> 5 }]);
    scaled.conn.input(seg({ seq: 78, ack: ISS + 1, window: 2000 })); // 8000 bytes now
    scaled.conn.write(bytes(10_000));
    expect(sentBytes(scaled.take())).to.equal(8000);
    scaled.conn.abort();

    const plain = new Harness(false, { rto: 5000, maxWindow: 1 << 20 });
    plain.window = 1 << 20;
    plain.conn.connect();
    plain.take();
    plain.conn.input(seg({ seq: 77, ack: ISS + 1, flags: SYN | ACK, mss: 1000, window: 2000 }));
    expect(plain.take()).to.deep.equal([{ seq: ISS + 1, ack: 78, flags: ACK, window: 65535 }]);
    plain.conn.write(bytes(10_000));
    expect(sentBytes(plain.take())).to.equal(2000);
    plain.conn.abort();
  });
});
