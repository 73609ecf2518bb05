// A tiny FUSE client for virtio-fs device tests: builds requests by hand into the mock driver's
// request queue (queue 1) and decodes the replies, as Linux's virtiofs driver would.
import { MockVirtioDriver } from './virtio-driver.ts';
import { VirtioFs } from '../../src/devices/virtio/fs/device.ts';
import { HostFs, type HostFsOptions } from '../../src/devices/virtio/fs/host-fs.ts';
import { OP, Writer } from '../../src/devices/virtio/fs/wire.ts';

export interface FuseReply { error: number; body: Uint8Array; len: number; unique: bigint; usedLen: number }

export const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s + '\0'));

export class FuseClient {
  unique = 1n;
  constructor(readonly driver: MockVirtioDriver, readonly device: VirtioFs) {}

  static async start(dir: string, opts: HostFsOptions = {}): Promise<FuseClient> {
    const fs = await HostFs.open(dir, opts);
    const device = new VirtioFs(fs, { tag: 'share' });
    const driver = new MockVirtioDriver(device, { ramBytes: 16 << 20 });
    driver.init();
    const c = new FuseClient(driver, device);
    const init = await c.call(OP.INIT, 0n, new Writer().u32(7).u32(36).u32(0x20000).u32(0xffffffff).u32(0).zeros(44).done());
    if (init.error) throw new Error(`INIT failed: ${init.error}`);
    return c;
  }

  /** Raw request bytes: header + body. */
  request(opcode: number, nodeid: bigint, body: Uint8Array = new Uint8Array(0), unique = this.unique++): Uint8Array {
    const w = new Writer();
    w.u32(40 + body.length).u32(opcode).u64(unique).u64(nodeid).u32(0).u32(0).u32(1).u32(0);
    return w.bytes(body).done();
  }

  /** Queue one chain (request bytes readable, `out` bytes writable) without waiting. */
  post(req: Uint8Array, out = 256 * 1024, queue = 1): void {
    const bufs = out > 0 ? [{ data: req }, { writable: out }] : [{ data: req }];
    this.driver.queues[queue].add(bufs);
    this.driver.queues[queue].notify();
  }

  async call(opcode: number, nodeid: bigint, body?: Uint8Array, out = 256 * 1024): Promise<FuseReply> {
    const req = this.request(opcode, nodeid, body);
    this.post(req, out);
    const [u] = await this.driver.queues[1].waitUsed(1);
    return decodeReply(u.written, u.len);
  }

  /** A raw chain's used length and written bytes. */
  async raw(req: Uint8Array, out = 4096, queue = 1): Promise<{ len: number; written: Uint8Array }> {
    this.post(req, out, queue);
    const [u] = await this.driver.queues[queue].waitUsed(1);
    return u;
  }

  async ok(opcode: number, nodeid: bigint, body?: Uint8Array, out?: number): Promise<Uint8Array> {
    const r = await this.call(opcode, nodeid, body, out);
    if (r.error) throw new Error(`opcode ${opcode} failed with errno ${r.error}`);
    return r.body;
  }

  async lookup(parent: bigint, name: string): Promise<{ nodeid: bigint; mode: number; size: bigint; ino: bigint }> {
    const b = await this.ok(OP.LOOKUP, parent, enc(name));
    return entryOf(b);
  }

  async openFile(nodeid: bigint, flags: number): Promise<bigint> {
    const b = await this.ok(OP.OPEN, nodeid, new Writer().u32(flags).u32(0).done());
    return new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
  }

  async create(parent: bigint, name: string, mode = 0o644, flags = 0o101): Promise<{ nodeid: bigint; fh: bigint }> {
    const b = await this.ok(OP.CREATE, parent, new Writer().u32(flags).u32(0o100000 | mode).u32(0).u32(0).bytes(enc(name)).done());
    return { nodeid: entryOf(b).nodeid, fh: new DataView(b.buffer, b.byteOffset).getBigUint64(128, true) };
  }

  async write(nodeid: bigint, fh: bigint, offset: number, data: Uint8Array): Promise<number> {
    const body = new Writer().u64(fh).u64(offset).u32(data.length).u32(0).u64(0).u32(0).u32(0).bytes(data).done();
    const b = await this.ok(OP.WRITE, nodeid, body);
    return new DataView(b.buffer, b.byteOffset).getUint32(0, true);
  }

  async read(nodeid: bigint, fh: bigint, offset: number, size: number): Promise<Uint8Array> {
    return this.ok(OP.READ, nodeid, readIn(fh, offset, size));
  }

  async release(nodeid: bigint, fh: bigint, dir = false): Promise<void> {
    await this.ok(dir ? OP.RELEASEDIR : OP.RELEASE, nodeid, new Writer().u64(fh).u32(0).u32(0).u64(0).done());
  }
}

export function readIn(fh: bigint, offset: number, size: number): Uint8Array {
  return new Writer().u64(fh).u64(offset).u32(size).u32(0).u64(0).u32(0).u32(0).done();
}

export function decodeReply(written: Uint8Array, usedLen: number): FuseReply {
  const v = new DataView(written.buffer, written.byteOffset, written.byteLength);
  const len = v.getUint32(0, true);
  return { len, error: -v.getInt32(4, true), unique: v.getBigUint64(8, true), body: written.slice(16, len), usedLen };
}

export function entryOf(b: Uint8Array): { nodeid: bigint; mode: number; size: bigint; ino: bigint } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { nodeid: v.getBigUint64(0, true), ino: v.getBigUint64(40, true), size: v.getBigUint64(48, true), mode: v.getUint32(40 + 60, true) };
}

/** fuse_attr_out -> the attr fields tests look at. */
export function attrOf(b: Uint8Array): { ino: bigint; size: bigint; mode: number; mtime: bigint; mtimensec: number; uid: number } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const a = 16;
  return { ino: v.getBigUint64(a, true), size: v.getBigUint64(a + 8, true), mtime: v.getBigUint64(a + 32, true), mtimensec: v.getUint32(a + 52, true), mode: v.getUint32(a + 60, true), uid: v.getUint32(a + 68, true) };
}

/** Parse READDIR (or READDIRPLUS with plus) output into names, offsets and nodeids. */
export function direntsOf(b: Uint8Array, plus: boolean): { name: string; off: bigint; type: number; nodeid: bigint; ino: bigint }[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = [];
  let p = 0;
  while (p < b.length) {
    const nodeid = plus ? v.getBigUint64(p, true) : 0n;
    if (plus) p += 128;
    const ino = v.getBigUint64(p, true);
    const off = v.getBigUint64(p + 8, true);
    const namelen = v.getUint32(p + 16, true);
    const type = v.getUint32(p + 20, true);
    const name = Buffer.from(b.subarray(p + 24, p + 24 + namelen)).toString();
    out.push({ name, off, type, nodeid, ino });
    p += 24 + ((namelen + 7) & ~7);
  }
  return out;
}
