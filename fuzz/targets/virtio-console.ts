// virtio-console (multiport, hvc0 plus one named port) under hostile driver programs. Half the
// inputs are raw harness programs; the other half are compiled from structured guest activity
// into harness ops: a session with every queue set up, control receive and port receive
// buffers, then control messages (real and random events, port ids, values, trailing names,
// short and split headers), port output and more buffers, with the rest of the input appended
// as a raw hostile tail. Host data waits on both ports so receive paths run too. Beyond the
// harness invariants, an exception the device caught and logged ("queue N: ...") is a finding.
import { ConsolePorts } from '../../src/devices/virtio/console/port.ts';
import { VirtioConsole } from '../../src/devices/virtio/console/device.ts';
import { InputReader, type FuzzTarget } from '../target.ts';
import { FuzzInvariantError, runVirtioProgram, turns } from './virtio-harness.ts';
import { ProgramBuilder, catchingLogger, u16, u32, type Desc } from './virtio-program.ts';
import { virtioSeeds } from './virtio-seeds.ts';

const CTRL_RX = 2, CTRL_TX = 3;
const PORT_RX = [0, 4], PORT_TX = [1, 5];
const STEP_BUDGET = 56;

function structured(c: InputReader, queues: number): Uint8Array {
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
    const c = new InputReader(input);
    const program = c.u8() & 0x80 ? structured(c, device.queueMaxSizes.length) : input;
    await runVirtioProgram(program, { device, settle: () => turns(2) });
    for (const port of ports.list) port.destroy();
    if (caught.length) throw new FuzzInvariantError(`device caught: ${caught[0]}`);
  },
};
