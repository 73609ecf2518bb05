// Structured virtio driver programs for the fuzz harness: a builder that emits harness ops
// (negotiate, queue setup, chains, notifies) and a logger that flags exceptions a device
// caught. Shared by the console, vsock and net targets.
import type { DeviceLogger } from '../../src/devices/virtio/device.ts';
import { Op } from './virtio-harness.ts';

export const u16 = (v: number): number[] => [v & 0xff, (v >> 8) & 0xff];
export const u32 = (v: number): number[] => [...u16(v & 0xffff), ...u16(v >>> 16)];

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
