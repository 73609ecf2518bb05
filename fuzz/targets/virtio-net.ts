// virtio-net under hostile driver programs. Half the inputs are raw harness programs; the other
// half are compiled from structured guest activity: receive buffers of random sizes (so frames
// span several mergeable buffers, or do not fit), transmit chains whose 12-byte virtio header
// carries random flags, GSO types and checksum start/offset, with header and frame split across
// descriptors or cut short, and the rest of the input as a raw hostile tail. The backend is a
// loopback that also injects frames of random sizes up to and past the largest MTU, so the
// receive path (backlog, merging, dropping) runs as much as the transmit path. Half the time
// the backend takes TSO (the device offers HOST_TSO4/6): then some transmit chains are
// well-formed TCP segments with a TSO header, one or two bytes of header or frame mutated, and
// some injected frames claim a partial checksum or a large segment.
// Beyond the harness invariants: the backend never sees a frame longer than MAX_TX_FRAME, every
// frame it is handed as a TSO segment is a consistent IPv4/IPv6 TCP segment with valid
// checksums, and the device's counters agree with what the backend sent and delivered.
import type { NetBackend, RxOffload, TxSegmentation } from '../../src/net/backend.ts';
import { finishChecksum, onesSum, readU16, writeU16 } from '../../src/net/checksum.ts';
import { MAX_TX_FRAME, NET_HDR_BYTES, VirtioNet } from '../../src/devices/virtio/net/device.ts';
import { InputReader, type FuzzTarget } from '../target.ts';
import { FuzzInvariantError, runVirtioProgram, turns } from './virtio-harness.ts';
import { virtioSeeds } from './virtio-seeds.ts';
import { ProgramBuilder, u16 } from './virtio-program.ts';

const STEP_BUDGET = 56;
const RX = 0, TX = 1;

class LoopbackBackend implements NetBackend {
  readonly checksumsTrusted: boolean;
  readonly acceptsSegmentation?: { tcpv4: boolean; tcpv6: boolean };
  readonly producesSegmentation?: { tcpv4: boolean; tcpv6: boolean };
  sent: Uint8Array[] = [];
  segments: { frame: Uint8Array; segmentation: TxSegmentation }[] = [];
  delivered = 0;
  private receiver: (frame: Uint8Array, offload?: RxOffload) => void = () => undefined;
  constructor(trusted: boolean, tso: boolean) {
    this.checksumsTrusted = trusted;
    if (tso) this.acceptsSegmentation = this.producesSegmentation = { tcpv4: true, tcpv6: true };
  }
  send(frame: Uint8Array, segmentation?: TxSegmentation): void {
    this.sent.push(frame);
    if (segmentation) this.segments.push({ frame: frame.slice(), segmentation });
    this.inject(frame.slice());
  }
  onFrame(receiver: (frame: Uint8Array, offload?: RxOffload) => void): void {
    this.receiver = receiver;
  }
  inject(frame: Uint8Array, offload?: RxOffload): void {
    this.delivered++;
    this.receiver(frame, offload);
  }
  async close(): Promise<void> {}
}

function txChain(p: ProgramBuilder, c: InputReader): void {
  const flags = c.u8() & 3 ? c.u8() & 3 : c.u8();
  const gso = c.u8() & 7 ? 0 : c.u8();
  const frameLen = c.u8() & 3 ? 14 + (c.u8() % 160) : c.u8();
  const hdr = [flags, gso, ...u16(c.u16()), ...u16(c.u16()), ...u16(c.u8() % 64), ...u16(c.u8() % 64), ...u16(c.u16())];
  const bytes = [...hdr, ...c.bytes(Math.min(frameLen, 200))];
  const off = p.buffer(bytes);
  const how = c.u8() % 5;
  const len = bytes.length;
  if (how === 0) p.chain(TX, [{ off, len: NET_HDR_BYTES, writable: false }, { off: off + NET_HDR_BYTES, len: len - NET_HDR_BYTES, writable: false }]);
  else if (how === 1) {
    const cut = c.u8() % NET_HDR_BYTES;
    p.chain(TX, [{ off, len: cut, writable: false }, { off: off + cut, len: len - cut, writable: false }]);
  } else if (how === 2) p.chain(TX, [{ off, len: c.u8() % (len + 1), writable: false }]);
  else if (how === 3) p.chain(TX, [{ off, len, writable: false }, { off: p.buffer(), len: 64, writable: true }]);
  else p.chain(TX, [{ off, len, writable: false }]);
  p.notify(TX);
}

/** A TCP segment with a TSO header as Linux builds it (IPv4 or IPv6), then one or two bytes of
 *  header or frame set to input values. */
function tsoChain(p: ProgramBuilder, c: InputReader): void {
  const v6 = (c.u8() & 1) === 1;
  const l4 = v6 ? 54 : 34;
  const payload = 1 + (c.u8() % 200) + (c.u8() % 200);
  const f = new Uint8Array(l4 + 20 + payload);
  writeU16(f, 12, v6 ? 0x86dd : 0x0800);
  if (v6) {
    f[14] = 0x60;
    writeU16(f, 18, 20 + payload);
    f[20] = 6;
  } else {
    f[14] = 0x45;
    writeU16(f, 16, f.length - 14);
    f[23] = 6;
  }
  f[l4 + 12] = 0x50;
  f[l4 + 13] = 0x10;
  const h = [1, v6 ? 4 : 1, ...u16(l4 + 20), ...u16(1 + c.u16() % 1500), ...u16(l4), ...u16(16), 0, 0];
  const bytes = [...h, ...f];
  for (let n = c.u8() % 3; n > 0; n--) bytes[c.u16() % bytes.length] = c.u8();
  p.chain(TX, [{ off: p.buffer(bytes), len: bytes.length, writable: false }]);
  p.notify(TX);
}

/** A frame for the guest, with the offload it claims (if any). */
interface Injection { length: number; offload?: RxOffload }

/** Whether a frame handed over as a TSO segment is one, lengths and checksums included. */
function validSegment(f: Uint8Array, seg: TxSegmentation): boolean {
  const v6 = seg.protocol === 'tcpv6';
  const l4 = v6 ? 54 : 14 + (f[14] & 0x0f) * 4;
  if (f.length < l4 + 20 || readU16(f, 12) !== (v6 ? 0x86dd : 0x0800)) return false;
  if (v6 ? readU16(f, 18) !== f.length - 54 : readU16(f, 16) !== f.length - 14 || finishChecksum(onesSum(f, 14, l4)) !== 0) return false;
  const pseudo = (v6 ? onesSum(f, 22, 54) : onesSum(f, 26, 34)) + 6 + (f.length - l4);
  return finishChecksum(onesSum(f, l4, f.length, pseudo)) === 0 && seg.segmentSize > 0;
}

function structured(c: InputReader, queues: number, tso: boolean): { program: Uint8Array; injections: Injection[] } {
  const p = new ProgramBuilder(queues);
  const injections: Injection[] = [];
  p.session(c.u8() % 4 === 0 ? c.u32() : 0xffff_ffff);
  while (p.steps < STEP_BUDGET && !c.done) {
    const kind = c.u8() % 7;
    if (kind <= 2) {
      if (tso && c.u8() & 1) tsoChain(p, c);
      else txChain(p, c);
    }
    else if (kind <= 4) {
      const n = 1 + (c.u8() % 3);
      for (let i = 0; i < n; i++) {
        const len = c.u8() & 1 ? 512 : c.u8() % 40;
        p.chain(RX, [{ off: p.buffer(), len, writable: true }]);
      }
      p.notify(RX);
    } else if (kind === 5) {
      const length = c.u8() & 3 ? 14 + c.u16() % 1600 : c.u16() * 2;
      const claim = tso ? c.u8() % 4 : 0;
      const offload: RxOffload | undefined = claim === 0 ? undefined : {
        csumStart: c.u16() % 80, csumOffset: c.u8() % 24,
        gso: claim === 3 ? { protocol: c.u8() & 1 ? 'tcpv6' : 'tcpv4', segmentSize: c.u16(), headerLength: c.u8() } : undefined,
      };
      injections.push({ length, offload });
      p.settle();
    } else {
      p.settle();
      p.ackIrq();
    }
  }
  p.settle();
  return { program: p.done(c.rest()), injections };
}

export const virtioNetTarget: FuzzTarget = {
  name: 'virtio-net',
  seeds: virtioSeeds,
  async run(input) {
    const c = new InputReader(input);
    const tso = ((input[1] ?? 0) & 2) !== 0;
    const backend = new LoopbackBackend((input[1] ?? 0) % 2 === 0, tso);
    const device = new VirtioNet({ mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56), backend, log: { warn: () => undefined, debug: () => undefined } });
    const { program, injections } = c.u8() & 0x80 ? structured(c, device.queueMaxSizes.length, tso) : { program: input, injections: [4000, 60, 70000].map((length): Injection => ({ length })) };
    let next = 0;
    await runVirtioProgram(program, {
      device,
      settle: async () => {
        // Frames from the outside world arrive between driver actions.
        if (next < injections.length) {
          const { length, offload } = injections[next++];
          backend.inject(new Uint8Array(length).fill(0xab), offload);
        }
        await turns(3);
      },
    });
    for (const f of backend.sent) {
      if (f.length > MAX_TX_FRAME) throw new FuzzInvariantError(`backend got a ${f.length}-byte frame (cap ${MAX_TX_FRAME})`);
    }
    for (const { frame, segmentation } of backend.segments) {
      if (!validSegment(frame, segmentation)) throw new FuzzInvariantError(`backend got an invalid ${segmentation.protocol} TSO segment of ${frame.length} bytes`);
    }
    const s = device.stats;
    if (s.txFrames !== backend.sent.length) throw new FuzzInvariantError(`txFrames ${s.txFrames} but the backend got ${backend.sent.length}`);
    if (s.rxFrames + s.rxDropped > backend.delivered) throw new FuzzInvariantError(`rx ${s.rxFrames} + dropped ${s.rxDropped} exceeds the ${backend.delivered} frames delivered`);
  },
};
