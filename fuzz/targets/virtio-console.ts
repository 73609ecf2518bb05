// virtio-console (multiport, hvc0 plus one named port) under hostile driver programs. Half the
// inputs are raw harness programs; the other half are compiled from structured guest activity
// into harness ops: a session with every queue set up, control receive and port receive
// buffers, then control messages (real and random events, port ids, values, trailing names,
// short and split headers), port output and more buffers, with the rest of the input appended
// as a raw hostile tail. Host data waits on both ports so receive paths run too. Beyond the
// harness invariants, an exception the device caught and logged ("queue N: ...") is a finding.
import { ConsolePorts } from '../../src/devices/virtio/console/port.ts';
import { VirtioConsole } from '../../src/devices/virtio/console/device.ts';
import type { DeviceLogger } from '../../src/devices/virtio/device.ts';
import type { FuzzTarget } from '../target.ts';
import { FuzzInvariantError, Op, runVirtioProgram, turns } from './virtio-harness.ts';
import { virtioSeeds } from './virtio-seeds.ts';

const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v: number): number[] => [...u16(v & 0xffff), ...u16(v >>> 16)];

/** Little-endian cursor over an input whose position is visible (for the raw tail). */
export class Cursor {
  off = 0;
  constructor(readonly b: Uint8Array) {}
  get done(): boolean {
    return this.off >= this.b.length;
  }
  u8(): number {
    return this.off < this.b.length ? this.b[this.off++] : 0;
  }
  u16(): number {
    return this.u8() | (this.u8() << 8);
  }
  u32(): number {
    return (this.u16() | (this.u16() << 16)) >>> 0;
  }
  bytes(n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(this.u8());
    return out;
  }
  rest(): Uint8Array {
    return this.b.subarray(Math.min(this.off, this.b.length));
  }
}

export interface Desc {
  /** Offset into the harness data area. */
  off: number;
  /** 0..2048 bytes. */
  len: number;
  writable: boolean;
}

/**
 * Emits harness program bytes (see virtio-harness.ts for the decoding): queue 0 and 1 in the
 * standard layout, queues 2+ of 16 entries in the data area, buffers in 512-byte slots above.
 */
export class ProgramBuilder {
  readonly out: number[] = [];
  steps = 0;
  private slot = 0;
  private readonly heads = new Map<number, number>();

  constructor(private readonly queues: number) {}

  private op(...b: number[]): void {
    this.out.push(...b);
    this.steps++;
  }
  /** Handshake with `mask` of the offered features, every queue set up, then DRIVER_OK. */
  session(mask: number): void {
    this.op(Op.Negotiate, ...u32(mask), 1, 0, 0);
    for (let q = 2; q < this.queues; q++) {
      const at = 0x400 * (q - 2);
      this.op(Op.SetupQueue, q, 5, 6, ...u16(at), 6, ...u16(at + 0x100), 6, ...u16(at + 0x200), 1);
    }
    this.op(Op.Status, 1, 4);
  }
  /** A fresh 512-byte buffer slot (offset in the data area), filled with `data` if given. */
  buffer(data?: number[]): number {
    const off = 0x2000 + 0x200 * (this.slot++ % 64);
    for (let i = 0; data && i < data.length; i += 255) {
      const part = data.slice(i, i + 255);
      this.op(Op.RawBytes, 6, ...u16(off + i), part.length, ...part);
    }
    return off;
  }
  /** A direct chain of up to 6 descriptors on queue `q` (heads allocated in order). */
  chain(q: number, descs: Desc[]): void {
    const size = q < 2 ? 256 : 16;
    const head = this.heads.get(q) ?? 0;
    this.heads.set(q, (head + descs.length) % size);
    const d = descs.slice(0, 6);
    const body = d.flatMap(({ off, len, writable }) => [writable ? 1 : 0, 6, ...u16(off), ...(len === 0 ? [0] : [5, ...u16(Math.min(len, 2048) - 1)])]);
    this.op(Op.Chain, q, 0, ...u16(head), d.length - 1, ...body, 1);
  }
  notify(q: number): void {
    this.op(Op.Notify, 1, q);
  }
  settle(): void {
    this.op(Op.Settle);
  }
  ackIrq(): void {
    this.op(Op.AckIrq, 1);
  }
  done(tail: Uint8Array): Uint8Array {
    return Uint8Array.from([...this.out, ...tail]);
  }
}

/** Warnings that mean the device caught an exception of its own. */
export function catchingLogger(prefix: string, caught: string[]): DeviceLogger {
  const re = new RegExp(`^${prefix}: queue \\d+: `);
  return { warn: (m) => void (re.test(m) && caught.push(m)), debug: () => undefined };
}

const CTRL_RX = 2, CTRL_TX = 3;
const PORT_RX = [0, 4], PORT_TX = [1, 5];
const STEP_BUDGET = 56;

function structured(c: Cursor, queues: number): Uint8Array {
  const p = new ProgramBuilder(queues);
  p.session(c.u8() % 4 === 0 ? c.u32() : 0xffff_ffff);
  for (let i = 0; i < 3; i++) p.chain(CTRL_RX, [{ off: p.buffer(), len: c.u8() % 8 === 0 ? c.u8() % 12 : 64, writable: true }]);
  for (const q of PORT_RX) p.chain(q, [{ off: p.buffer(), len: 256, writable: true }]);
  p.notify(CTRL_RX);
  while (p.steps < STEP_BUDGET && !c.done) {
    const kind = c.u8() % 6;
    if (kind <= 2) {
      // A control message: mostly real events for real ports, sometimes anything at all.
      const id = c.u8() & 3 ? c.u8() % 3 : c.u32();
      const event = c.u8() & 7 ? c.u8() % 8 : c.u16();
      const value = c.u8() & 3 ? c.u8() & 1 : c.u16();
      const name = c.bytes(c.u8() % 8 === 0 ? c.u8() % 40 : 0);
      const msg = [...u32(id), ...u16(event), ...u16(value), ...name];
      const off = p.buffer(msg);
      const split = c.u8() % 4;
      const len = c.u8() & 3 ? msg.length : c.u8() % 16;
      if (split === 0 && len > 1) p.chain(CTRL_TX, [{ off, len: 3, writable: false }, { off: off + 3, len: len - 3, writable: false }]);
      else p.chain(CTRL_TX, [{ off, len, writable: split === 1 && (c.u8() & 1) === 1 }]);
      p.notify(CTRL_TX);
    } else if (kind === 3) {
      const port = c.u8() & 1;
      const data = c.bytes(c.u8() % 64);
      p.chain(PORT_TX[port], [{ off: p.buffer(data), len: data.length, writable: false }]);
      p.notify(PORT_TX[port]);
    } else if (kind === 4) {
      const q = [CTRL_RX, ...PORT_RX][c.u8() % 3];
      p.chain(q, [{ off: p.buffer(), len: 1 + (c.u8() % 128), writable: true }]);
      p.notify(q);
    } else {
      p.settle();
      p.ackIrq();
    }
  }
  p.settle();
  return p.done(c.rest());
}

/** Structured sessions: DEVICE_READY, both ports ready and opened, output, more buffers. */
function consoleSeeds(): Uint8Array[] {
  const msg = (id: number, event: number, value: number): number[] => [0, 1, id, 1, event, 1, value, 1, 2, 1];
  const open = [...msg(0, 0, 1), ...msg(0, 3, 1), ...msg(1, 3, 1), 5, ...msg(1, 6, 1)];
  return [
    Uint8Array.from([0x80, 1, 1, 1, 1, ...open, 3, 1, 5, 104, 105, 33, 10, 0, 4, 1, 100, 5]),
    Uint8Array.from([0x80, 1, 1, 1, 1, ...open, ...msg(1, 6, 0), ...msg(1, 2, 1), ...msg(0, 5, 1), 5, 3, 0, 3, 111, 107, 10]),
  ];
}

export const virtioConsoleTarget: FuzzTarget = {
  name: 'virtio-console',
  seeds: () => [...virtioSeeds(), ...consoleSeeds()],
  async run(input) {
    const caught: string[] = [];
    const ports = new ConsolePorts(['org.nodevisor.fuzz']);
    for (const port of ports.list) {
      port.resume(); // the host reads whatever the guest sends
      port.write(Buffer.from('host data for the guest\n'));
    }
    const device = new VirtioConsole({ ports, log: catchingLogger('virtio-console', caught), size: { cols: 80, rows: 24 } });
    const c = new Cursor(input);
    const program = c.u8() & 0x80 ? structured(c, device.queueMaxSizes.length) : input;
    await runVirtioProgram(program, { device, settle: () => turns(2) });
    for (const port of ports.list) port.destroy();
    if (caught.length) throw new FuzzInvariantError(`device caught: ${caught[0]}`);
  },
};
