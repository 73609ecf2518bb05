// Seed programs for the virtio targets: well-behaved driver sessions that the mutator turns
// into hostile ones. The bytes follow the harness's decoding (Op numbering, field order).
import { Op } from './virtio-harness.ts';

const u16 = (v: number): number[] => [v & 0xff, v >> 8];
/** An address in the harness's data area (addr kind 6), offset `off` into it. */
const dataAddr = (off: number): number[] => [6, ...u16(off)];

/** Negotiate everything offered, set up the standard queues (size 256 capped), DRIVER_OK. */
const SESSION = [Op.Negotiate, 0xff, 0xff, 0xff, 0xff, 1, 0, 1];
const KICK = [Op.Notify, 1, 0, Op.Settle, Op.Read, 0x60, 0, 2, Op.AckIrq, 1];

/** A plain chain: one readable 64-byte buffer, one writable 512-byte buffer. */
function plainChain(head: number, at: number): number[] {
  return [Op.Chain, 0, 0, ...u16(head), 1, 0, ...dataAddr(at), 5, ...u16(63), 1, ...dataAddr(at + 0x100), 5, ...u16(511), 1];
}

/** A request-shaped chain (header, one 512-byte data buffer, status byte) of block type `type`. */
function requestChain(head: number, at: number, type: number, dataWritable: boolean): number[] {
  const typeSel = [0, 1, 4, 8, 11, 13].indexOf(type);
  return [Op.Chain, 0, 6, ...u16(head), 1, ...u16(at), typeSel, 1, 3, dataWritable ? 1 : 0, 1, 1, ...dataAddr(at + 0x200), ...dataAddr(at + 0x1000), 1];
}

/** An indirect chain of 3 entries (no nesting). */
function indirectChain(head: number, at: number): number[] {
  const entries: number[] = [];
  for (let i = 0; i < 3; i++) entries.push(...dataAddr(at + 0x100 * (i + 1)), 5, ...u16(127), i === 0 ? 0 : 1);
  // kind 2, head, n, table in the data area at `at`, 3 entries, len 48, flags INDIRECT, next 0;
  // entries: addr, len, flags (the last one also its next field).
  return [Op.Chain, 0, 2, ...u16(head), 0, 1, ...u16(at), 2, 1, 1, 0, 0, ...entries, 0, 0, 1];
}

export function virtioSeeds(): Uint8Array[] {
  const s = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
  return [
    s(SESSION, plainChain(0, 0), plainChain(4, 0x2000), KICK),
    s(SESSION, requestChain(0, 0, 0, true), requestChain(8, 0x2000, 1, false), KICK),
    s(SESSION, requestChain(0, 0, 8, true), requestChain(8, 0x3000, 4, false), KICK, [Op.Reset], KICK),
    s(SESSION, indirectChain(0, 0x4000), KICK),
    s(SESSION, plainChain(0, 0), KICK, plainChain(4, 0x800), KICK, [Op.AvailJump, 0, 0, 3], KICK),
    // Reset while requests are in flight, then let them finish: nothing may reach guest memory.
    s(SESSION, requestChain(0, 0, 0, true), requestChain(8, 0x2000, 0, true), [Op.Notify, 1, 0, Op.Reset, Op.Settle]),
  ];
}
