// virtio-net under hostile driver programs. Half the inputs are raw harness programs; the other
// half are compiled from structured guest activity: receive buffers of random sizes (so frames
// span several mergeable buffers, or do not fit), transmit chains whose 12-byte virtio header
// carries random flags, GSO types and checksum start/offset, with header and frame split across
// descriptors or cut short, and the rest of the input as a raw hostile tail. The backend is a
// loopback that also injects frames of random sizes up to and past the largest MTU, so the
// receive path (backlog, merging, dropping) runs as much as the transmit path.
// Beyond the harness invariants: the backend never sees a frame longer than MAX_TX_FRAME, and
// the device's counters agree with what the backend sent and delivered.
import type { NetBackend } from '../../src/net/backend.ts';
import { MAX_TX_FRAME, NET_HDR_BYTES, VirtioNet } from '../../src/devices/virtio/net/device.ts';
import { InputReader, type FuzzTarget } from '../target.ts';
import { FuzzInvariantError, runVirtioProgram, turns } from './virtio-harness.ts';
import { virtioSeeds } from './virtio-seeds.ts';
import { ProgramBuilder, u16 } from './virtio-program.ts';

const STEP_BUDGET = 56;
const RX = 0, TX = 1;

class LoopbackBackend implements NetBackend {
  readonly checksumsTrusted: boolean;
  sent: Uint8Array[] = [];
  delivered = 0;
  private receiver: (frame: Uint8Array) => void = () => undefined;
  constructor(trusted: boolean) {
    this.checksumsTrusted = trusted;
  }
  send(frame: Uint8Array): void {
    this.sent.push(frame);
    this.inject(frame.slice());
  }
  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.receiver = receiver;
  }
  inject(frame: Uint8Array): void {
    this.delivered++;
    this.receiver(frame);
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

function structured(c: InputReader, queues: number): { program: Uint8Array; injections: number[] } {
  const p = new ProgramBuilder(queues);
  const injections: number[] = [];
  p.session(c.u8() % 4 === 0 ? c.u32() : 0xffff_ffff);
  while (p.steps < STEP_BUDGET && !c.done) {
    const kind = c.u8() % 7;
    if (kind <= 2) txChain(p, c);
    else if (kind <= 4) {
      const n = 1 + (c.u8() % 3);
      for (let i = 0; i < n; i++) {
        const len = c.u8() & 1 ? 512 : c.u8() % 40;
        p.chain(RX, [{ off: p.buffer(), len, writable: true }]);
      }
      p.notify(RX);
    } else if (kind === 5) {
      injections.push(c.u8() & 3 ? 14 + c.u16() % 1600 : c.u16() * 2);
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
    const backend = new LoopbackBackend((input[1] ?? 0) % 2 === 0);
    const device = new VirtioNet({ mac: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56), backend, log: { warn: () => undefined, debug: () => undefined } });
    const { program, injections } = c.u8() & 0x80 ? structured(c, device.queueMaxSizes.length) : { program: input, injections: [4000, 60, 70000] };
    let next = 0;
    await runVirtioProgram(program, {
      device,
      settle: async () => {
        // Frames from the outside world arrive between driver actions.
        if (next < injections.length) backend.inject(new Uint8Array(injections[next++]).fill(0xab));
        await turns(3);
      },
    });
    for (const f of backend.sent) {
      if (f.length > MAX_TX_FRAME) throw new FuzzInvariantError(`backend got a ${f.length}-byte frame (cap ${MAX_TX_FRAME})`);
    }
    const s = device.stats;
    if (s.txFrames !== backend.sent.length) throw new FuzzInvariantError(`txFrames ${s.txFrames} but the backend got ${backend.sent.length}`);
    if (s.rxFrames + s.rxDropped > backend.delivered) throw new FuzzInvariantError(`rx ${s.rxFrames} + dropped ${s.rxDropped} exceeds the ${backend.delivered} frames delivered`);
  },
};
