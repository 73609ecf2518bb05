// virtio-vsock under hostile driver programs. Half the inputs are raw harness programs; the
// other half are compiled from structured guest packets (random and real ops, CIDs, ports,
// lengths, flags, credit fields; header and payload split across descriptors or cut short)
// with receive and event buffers posted, and the rest of the input as a raw hostile tail.
// Host side, all in a temp dir: port 1024 maps to a local echo server on a Unix socket (so
// connections get established and carry data both ways), port 1025 to a socket path nobody
// serves; no listen sockets. Beyond the harness invariants, an exception the device caught
// and logged ("queue N: ...") is a finding.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtioVsock } from '../../src/devices/virtio/vsock/device.ts';
import { HDR_SIZE } from '../../src/devices/virtio/vsock/packet.ts';
import { InputReader, type FuzzTarget } from '../target.ts';
import { FuzzInvariantError, runVirtioProgram, turns } from './virtio-harness.ts';
import { virtioSeeds } from './virtio-seeds.ts';
import { ProgramBuilder, catchingLogger } from './virtio-program.ts';

const SERVED = 1024;
const UNSERVED = 1025;
const GUEST_CID = 3;
const STEP_BUDGET = 56;

let host: Promise<Map<number, string>> | undefined;
function hostPorts(): Promise<Map<number, string>> {
  host ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodevisor-fuzz-vsock-'));
    const served = join(dir, 'echo.sock');
    const server: Server = createServer({ allowHalfOpen: true }, (s) => {
      s.on('error', () => undefined);
      s.pipe(s);
    });
    await new Promise<void>((r) => server.listen(served, r));
    server.unref();
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    return new Map([[SERVED, served], [UNSERVED, join(dir, 'nobody.sock')]]);
  })();
  return host;
}

const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
const u32 = (v: number): number[] => [...u16(v & 0xffff), ...u16(v >>> 16)];
const u64 = (v: number): number[] => [...u32(v >>> 0), ...u32(Math.floor(v / 0x1_0000_0000))];

function packet(c: InputReader): number[] {
  const sel = <T>(xs: readonly T[], raw: () => T): T => (c.u8() & 7 ? xs[c.u8() % xs.length] : raw());
  const payload = c.bytes(c.u8() % 8 === 0 ? c.u8() : c.u8() % 16);
  const hdr = [
    ...u64(sel([GUEST_CID], () => c.u32())),
    ...u64(sel([2], () => c.u32())),
    ...u32(sel([5000, 5001], () => c.u32())),
    ...u32(sel([SERVED, UNSERVED, 9], () => c.u32())),
    ...u32(c.u8() & 3 ? payload.length : c.u32()),
    ...u16(sel([1], () => c.u16())),
    ...u16(sel([1, 5, 5, 5, 2, 3, 4, 6, 7], () => c.u16())),
    ...u32(sel([0, 1, 2, 3], () => c.u32())),
    ...u32(sel([65536, 0, 4096], () => c.u32())),
    ...u32(sel([0, 1024], () => c.u32())),
  ];
  return [...hdr, ...payload];
}

function structured(c: InputReader, queues: number): Uint8Array {
  const p = new ProgramBuilder(queues);
  p.session(c.u8() % 4 === 0 ? c.u32() : 0xffff_ffff);
  for (let i = 0; i < 4; i++) p.chain(0, [{ off: p.buffer(), len: c.u8() % 8 === 0 ? c.u8() % 64 : 512, writable: true }]);
  p.chain(2, [{ off: p.buffer(), len: 8, writable: true }]);
  p.notify(0);
  while (p.steps < STEP_BUDGET && !c.done) {
    const kind = c.u8() % 6;
    if (kind <= 3) {
      const pkt = packet(c);
      const off = p.buffer(pkt);
      const how = c.u8() % 6;
      if (how === 0) p.chain(1, [{ off, len: HDR_SIZE, writable: false }, { off: off + HDR_SIZE, len: pkt.length - HDR_SIZE, writable: false }]);
      else if (how === 1) {
        const cut = c.u8() % HDR_SIZE;
        p.chain(1, [{ off, len: cut, writable: false }, { off: off + cut, len: pkt.length - cut, writable: false }]);
      } else if (how === 2) p.chain(1, [{ off, len: c.u8() % (pkt.length + 1), writable: false }]);
      else p.chain(1, [{ off, len: pkt.length, writable: false }]);
      p.notify(1);
    } else if (kind === 4) {
      p.chain(0, [{ off: p.buffer(), len: c.u8() & 1 ? 512 : 1 + (c.u8() % 64), writable: true }]);
      p.notify(0);
    } else {
      p.settle();
      p.ackIrq();
    }
  }
  p.settle();
  return p.done(c.rest());
}

/** Structured sessions: connect to the echo server, send data, ask for credit, shut down. */
function vsockSeeds(): Uint8Array[] {
  // kind 0, packet with all-default selectors: payload len, cids, ports, type, op, flags, credit.
  // Selector indices: dstPort 0 SERVED, 1 UNSERVED, 2 nobody; op as in packet(); flags 3 = both.
  const pkt = (dstPort: number, op: number, data: number[] = [], flags = 0): number[] =>
    [0, 1, data.length, ...data, 1, 0, 1, 0, 1, 0, 1, dstPort, 1, 1, 0, 1, op, 1, flags, 1, 0, 1, 0, 3];
  const op = { REQUEST: 0, RW: 1, RESPONSE: 4, RST: 5, SHUTDOWN: 6, CREDIT_UPDATE: 7, CREDIT_REQUEST: 8 };
  return [
    Uint8Array.from([0x80, 1, 1, 1, 1, 1, ...pkt(0, op.REQUEST), 5, 5, ...pkt(0, op.RW, [104, 105]), 5, ...pkt(0, op.CREDIT_REQUEST), 5, ...pkt(0, op.SHUTDOWN, [], 3), 5]),
    Uint8Array.from([0x80, 1, 1, 1, 1, 1, ...pkt(1, op.REQUEST), 5, ...pkt(2, op.REQUEST), 5, ...pkt(0, op.REQUEST), ...pkt(0, op.REQUEST), 5, ...pkt(0, op.RST)]),
  ];
}

export const virtioVsockTarget: FuzzTarget = {
  name: 'virtio-vsock',
  seeds: () => [...virtioSeeds(), ...vsockSeeds()],
  async run(input) {
    const caught: string[] = [];
    const device = await VirtioVsock.open({ guestCid: GUEST_CID, ports: await hostPorts(), log: catchingLogger('virtio-vsock', caught) });
    const c = new InputReader(input);
    const program = c.u8() & 0x80 ? structured(c, device.queueMaxSizes.length) : input;
    await runVirtioProgram(program, { device, settle: () => turns(4), dispose: () => device.close() });
    if (caught.length) throw new FuzzInvariantError(`device caught: ${caught[0]}`);
  },
};
