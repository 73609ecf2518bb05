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

  constructor(passive: boolean, opts: { rto?: number; retries?: number; segmentLimit?: number } = {}) {
    const cb = {
      output: (s: OutSegment) => this.out.push(s),
      data: (b: Uint8Array) => this.data.push(...b),
      established: () => this.events.push('established'),
      peerFin: () => this.events.push('fin'),
      acked: () => this.events.push('acked'),
      closed: (r: CloseReason) => {
        this.closed = r;
      },
    };
    const o = { receiveWindow: () => this.window, iss: ISS, initialRtoMs: opts.rto ?? 20, maxRetries: opts.retries ?? 3, timeWaitMs: 10, segmentLimit: () => opts.segmentLimit ?? 0 };
    this.conn = passive ? TcpConnection.fromSyn(seg({ seq: GUEST_ISS, flags: SYN, mss: 100 }), cb, o) : new TcpConnection(cb, o);
  }

  take(): OutSegment[] {
    return this.out.splice(0);
  }

  /** Passive open to ESTABLISHED. */
  establish(): void {
    this.conn.accept();
    const [synAck] = this.take();
    expect(synAck).to.deep.include({ seq: ISS, ack: (GUEST_ISS + 1) >>> 0, flags: SYN | ACK, mss: 1460 });
    this.conn.input(seg({ seq: GUEST_ISS + 1, ack: ISS + 1, flags: ACK }));
    expect(this.conn.state).to.equal('established');
  }
}

function seg(s: Partial<TcpSegment> & { payload?: Uint8Array }): TcpSegment {
  return { srcPort: 5000, dstPort: 80, seq: (s.seq ?? 0) >>> 0, ack: (s.ack ?? 0) >>> 0, flags: s.flags ?? ACK, window: s.window ?? 65535, mss: s.mss, payload: s.payload ?? new Uint8Array(0) };
}

const bytes = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
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
    expect(h.take()).to.deep.equal([{ seq: ISS, ack: 0, flags: SYN, window: 65535, mss: 1460 }]);
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
