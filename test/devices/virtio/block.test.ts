import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  VirtioBlock, BlockError, MAX_BYTES_IN_FLIGHT, MAX_IN_FLIGHT, MAX_TRANSFER_BYTES, MAX_WRITE_ZEROES_SECTORS, SECTOR_SIZE, SEG_MAX,
  VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_RO, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK,
  VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
} from '../../../src/devices/virtio/block/device.ts';
import { bit, VIRTIO_ID_BLOCK, type DeviceLogger } from '../../../src/devices/virtio/device.ts';
import { REG } from '../../../src/devices/virtio/mmio-transport.ts';
import { MmioBus } from '../../../src/bus/mmio-bus.ts';
import { GuestMemory } from '../../../src/memory/guest-memory.ts';
import { virtioMmioSlotBase } from '../../../src/arch/arm64/layout.ts';
import { attachVirtioDevices } from '../../../src/vmm/virtio-devices.ts';
import { tryLoadHostfs } from '../../../src/host/hostfs-native.ts';
import { CapturingLogger, MockVirtioDriver, TEST_RAM_BASE, type BufferSpec, type MockQueue, type UsedElement } from '../../helpers/virtio-driver.ts';

/** A gate: calls wait until released (to hold file operations in flight). */
class Gate {
  private waiters: (() => void)[] = [];
  open = true;
  async pass(): Promise<void> {
    if (this.open) return;
    await new Promise<void>((r) => this.waiters.push(r));
  }
  close(): void {
    this.open = false;
  }
  release(): void {
    this.open = true;
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
  /** Let only the most recent waiter through; the gate stays closed. */
  releaseLast(): void {
    this.waiters.pop()?.();
  }
  get waiting(): number {
    return this.waiters.length;
  }
}

/** Wraps a real FileHandle: counts syncs and concurrent operations, can hold them at a gate. */
class TracedFile {
  syncs = 0;
  active = 0;
  maxActive = 0;
  readonly gate = new Gate();
  readonly syncGate = new Gate();
  /** Order of events, e.g. 'write' (finished), 'sync' (finished). */
  readonly events: string[] = [];
  readonly handle: FileHandle;

  constructor(readonly fh: FileHandle) {
    const traced = (name: 'read' | 'write') => async (...args: unknown[]) => {
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      try {
        await this.gate.pass();
        return await (fh[name] as (...a: unknown[]) => Promise<unknown>).apply(fh, args);
      } finally {
        this.active--;
        this.events.push(name);
      }
    };
    const read = traced('read');
    const write = traced('write');
    const sync = async () => {
      await this.syncGate.pass();
      await fh.sync();
      this.syncs++;
      this.events.push('sync');
    };
    this.handle = new Proxy(fh, {
      get: (t, p) => {
        if (p === 'read') return read;
        if (p === 'write') return write;
        if (p === 'sync') return sync;
        const v = Reflect.get(t, p) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
  }
}

function header(type: number, sector: number | bigint): Uint8Array {
  const h = new Uint8Array(16);
  const v = new DataView(h.buffer);
  v.setUint32(0, type, true);
  v.setBigUint64(8, BigInt(sector), true);
  return h;
}

function segment(sector: number | bigint, count: number, flags = 0): Uint8Array {
  const s = new Uint8Array(16);
  const v = new DataView(s.buffer);
  v.setBigUint64(0, BigInt(sector), true);
  v.setUint32(8, count, true);
  v.setUint32(12, flags, true);
  return s;
}

function pattern(bytes: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 7 + seed) & 0xff);
}

const status = (u: UsedElement): number => u.written[u.written.length - 1];

describe('virtio-blk', () => {
  let dir: string;
  let img: string;
  const disks: VirtioBlock[] = [];
  const traced: TracedFile[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-blk-'));
    img = join(dir, 'disk.img');
    const initial = new Uint8Array(64 * SECTOR_SIZE);
    for (let s = 0; s < 64; s++) initial.fill(s, s * SECTOR_SIZE, (s + 1) * SECTOR_SIZE); // sector n holds n
    writeFileSync(img, initial);
  });

  afterEach(async () => {
    for (const f of traced.splice(0)) {
      f.gate.release();
      f.syncGate.release();
    }
    for (const d of disks.splice(0)) await d.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  async function openDisk(opts: { readonly?: boolean; id?: string; log?: DeviceLogger } = {}): Promise<VirtioBlock> {
    const d = await VirtioBlock.open(img, opts);
    disks.push(d);
    return d;
  }

  async function tracedDisk(opts: { readonly?: boolean } = {}): Promise<{ disk: VirtioBlock; file: TracedFile }> {
    const fh = await open(img, opts.readonly ? 'r' : 'r+');
    const file = new TracedFile(fh);
    traced.push(file);
    const size = (await fh.stat()).size;
    const disk = new VirtioBlock(file.handle, size, 'traced', opts);
    disks.push(disk);
    return { disk, file };
  }

  function ready(disk: VirtioBlock, queueSize?: number, ramBytes?: number): { d: MockVirtioDriver; q: MockQueue } {
    const d = new MockVirtioDriver(disk, { ramBytes });
    d.init({ queueSizes: queueSize ? [queueSize] : undefined });
    return { d, q: d.queues[0] };
  }

  async function request(q: MockQueue, buffers: BufferSpec[], opts: { indirect?: boolean } = {}): Promise<UsedElement> {
    q.add(buffers, opts);
    q.notify();
    const [u] = await q.waitUsed(1);
    return u;
  }

  const read = (q: MockQueue, sector: number | bigint, bytes: number) =>
    request(q, [{ data: header(VIRTIO_BLK_T_IN, sector) }, { writable: bytes }, { writable: 1 }]);
  const write = (q: MockQueue, sector: number | bigint, data: Uint8Array) =>
    request(q, [{ data: header(VIRTIO_BLK_T_OUT, sector) }, { data }, { writable: 1 }]);
  const fileBytes = (offset: number, len: number) => readFileSync(img).subarray(offset, offset + len);

  it('describes the image in its config space and features', async () => {
    const disk = await openDisk();
    const d = new MockVirtioDriver(disk);
    expect(d.reg(REG.DeviceId)).to.equal(VIRTIO_ID_BLOCK);
    expect(d.config(0, 4)).to.equal(64); // capacity in sectors, low half
    expect(d.config(4, 4)).to.equal(0);
    expect(d.config(12, 4)).to.equal(SEG_MAX);
    expect(d.config(20, 4)).to.equal(SECTOR_SIZE);
    const f = d.deviceFeatures;
    expect(f & bit(VIRTIO_BLK_F_FLUSH)).to.not.equal(0n);
    expect(f & bit(VIRTIO_BLK_F_DISCARD)).to.not.equal(0n);
    expect(f & bit(VIRTIO_BLK_F_WRITE_ZEROES)).to.not.equal(0n);
    expect(f & bit(VIRTIO_BLK_F_RO)).to.equal(0n);
  });

  it('refuses a missing image with a BlockError', async () => {
    let err: unknown;
    await VirtioBlock.open(join(dir, 'nope.img')).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(BlockError);
    expect((err as Error).message).to.match(/no such file/);
    err = undefined;
    await VirtioBlock.open(dir, { readonly: true }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(BlockError);
    expect((err as Error).message).to.match(/not a regular file/);
  });

  it('reads and writes at sector offsets', async () => {
    const { q } = ready(await openDisk());
    const r = await read(q, 5, 2 * SECTOR_SIZE);
    expect(r.len).to.equal(2 * SECTOR_SIZE + 1);
    expect(status(r)).to.equal(VIRTIO_BLK_S_OK);
    expect([...new Set(r.written.subarray(0, SECTOR_SIZE))]).to.deep.equal([5]);
    expect([...new Set(r.written.subarray(SECTOR_SIZE, 2 * SECTOR_SIZE))]).to.deep.equal([6]);

    const data = pattern(3 * SECTOR_SIZE, 1);
    const w = await write(q, 10, data);
    expect(w.len).to.equal(1);
    expect(status(w)).to.equal(VIRTIO_BLK_S_OK);
    expect(Buffer.from(fileBytes(10 * SECTOR_SIZE, data.length)).equals(data)).to.equal(true);
    expect(fileBytes(9 * SECTOR_SIZE, SECTOR_SIZE)[SECTOR_SIZE - 1]).to.equal(9);
    expect(fileBytes(13 * SECTOR_SIZE, 1)[0]).to.equal(13);
    const back = await read(q, 10, data.length);
    expect(Buffer.from(back.written.subarray(0, data.length)).equals(data)).to.equal(true);
  });

  it('scatters and gathers multi-segment requests, direct and indirect', async () => {
    const { q } = ready(await openDisk());
    const a = pattern(SECTOR_SIZE, 3);
    const b = pattern(2 * SECTOR_SIZE, 4);
    // Header split over two buffers, data over two, status after a data buffer.
    const w = await request(q, [{ data: header(VIRTIO_BLK_T_OUT, 20).subarray(0, 4) }, { data: header(VIRTIO_BLK_T_OUT, 20).subarray(4) }, { data: a }, { data: b }, { writable: 1 }], { indirect: true });
    expect(status(w)).to.equal(VIRTIO_BLK_S_OK);
    expect(Buffer.from(fileBytes(20 * SECTOR_SIZE, 3 * SECTOR_SIZE)).equals(Buffer.concat([a, b]))).to.equal(true);

    const r = await request(q, [{ data: header(VIRTIO_BLK_T_IN, 20) }, { writable: 100 }, { writable: 3 * SECTOR_SIZE - 100 }, { writable: 1 }]);
    expect(r.len).to.equal(3 * SECTOR_SIZE + 1);
    expect(Buffer.from(r.written.subarray(0, 3 * SECTOR_SIZE)).equals(Buffer.concat([a, b]))).to.equal(true);
    // Status sharing the last data buffer.
    const r2 = await request(q, [{ data: header(VIRTIO_BLK_T_IN, 2) }, { writable: SECTOR_SIZE + 1 }], { indirect: true });
    expect(r2.written[0]).to.equal(2);
    expect(status(r2)).to.equal(VIRTIO_BLK_S_OK);
  });

  it('answers out-of-range and partial-sector requests with IOERR and leaves the image alone', async () => {
    const { q } = ready(await openDisk());
    const before = readFileSync(img);
    expect(status(await read(q, 63, 2 * SECTOR_SIZE))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await read(q, 64, SECTOR_SIZE))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await read(q, 2n ** 64n - 1n, SECTOR_SIZE))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await read(q, 0, 100))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await write(q, 63, new Uint8Array(2 * SECTOR_SIZE)))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await write(q, 2n ** 63n, new Uint8Array(SECTOR_SIZE)))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await write(q, 0, new Uint8Array(3)))).to.equal(VIRTIO_BLK_S_IOERR);
    const last = await read(q, 63, SECTOR_SIZE);
    expect(status(last)).to.equal(VIRTIO_BLK_S_OK);
    expect(last.written[0]).to.equal(63);
    expect(readFileSync(img).equals(before)).to.equal(true);
  });

  it('on a read-only disk: offers RO, reads, refuses OUT, DISCARD and WRITE_ZEROES', async () => {
    const disk = await openDisk({ readonly: true });
    const { d, q } = ready(disk);
    const f = d.deviceFeatures;
    expect(f & bit(VIRTIO_BLK_F_RO)).to.not.equal(0n);
    expect(f & (bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES))).to.equal(0n);
    const before = readFileSync(img);
    expect(status(await write(q, 0, new Uint8Array(SECTOR_SIZE)))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_DISCARD, 0) }, { data: segment(0, 4) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_WRITE_ZEROES, 0) }, { data: segment(0, 4) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_IOERR);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_FLUSH, 0) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_OK);
    const r = await read(q, 7, SECTOR_SIZE);
    expect(status(r)).to.equal(VIRTIO_BLK_S_OK);
    expect(r.written[0]).to.equal(7);
    await disk.close();
    expect(readFileSync(img).equals(before)).to.equal(true);
  });

  it('completes FLUSH only after the image was synced', async () => {
    const { disk, file } = await tracedDisk();
    const { q } = ready(disk);
    expect(status(await write(q, 1, pattern(SECTOR_SIZE, 9)))).to.equal(VIRTIO_BLK_S_OK);
    file.syncGate.close();
    q.add([{ data: header(VIRTIO_BLK_T_FLUSH, 0) }, { writable: 1 }]);
    q.notify();
    await new Promise((r) => setTimeout(r, 20));
    expect(q.usedIndex, 'FLUSH completed before sync').to.equal(1);
    expect(file.syncs).to.equal(0);
    file.syncGate.release();
    const [u] = await q.waitUsed(1);
    expect(status(u)).to.equal(VIRTIO_BLK_S_OK);
    expect(file.syncs).to.equal(1);
    expect(file.events).to.deep.equal(['write', 'sync']);
  });

  it('discards, and writes zeroes that read back as zero', async () => {
    writeFileSync(img, new Uint8Array(0));
    truncateSync(img, 64 << 20); // 64 MiB, sparse
    const { q } = ready(await openDisk());
    expect(status(await write(q, 100, pattern(8 * SECTOR_SIZE, 5)))).to.equal(VIRTIO_BLK_S_OK);
    const z = await request(q, [{ data: header(VIRTIO_BLK_T_WRITE_ZEROES, 0) }, { data: segment(102, 4, 1) }, { writable: 1 }]);
    expect(z.len).to.equal(1);
    expect(status(z)).to.equal(VIRTIO_BLK_S_OK);
    const r = await read(q, 100, 8 * SECTOR_SIZE);
    const expected = pattern(8 * SECTOR_SIZE, 5);
    expected.fill(0, 2 * SECTOR_SIZE, 6 * SECTOR_SIZE);
    expect(Buffer.from(r.written.subarray(0, 8 * SECTOR_SIZE)).equals(expected)).to.equal(true);
    // Extents larger than one data transfer are fine for both.
    const big = MAX_WRITE_ZEROES_SECTORS; // 32 MiB
    expect(big * SECTOR_SIZE).to.be.greaterThan(MAX_TRANSFER_BYTES);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_WRITE_ZEROES, 0) }, { data: segment(0, big) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_OK);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_DISCARD, 0) }, { data: segment(0, 128 * 1024) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_OK);
    expect([...new Set(fileBytes(100 * SECTOR_SIZE, 8 * SECTOR_SIZE))]).to.deep.equal([0]);
    // Beyond the cap, with flags it does not know, or past the end of the disk.
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_WRITE_ZEROES, 0) }, { data: segment(0, big + 1) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_UNSUPP);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_DISCARD, 0) }, { data: segment(0, 8, 1) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_UNSUPP);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_DISCARD, 0) }, { data: Buffer.concat([segment(0, 8), segment(16, 8)]) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_UNSUPP);
    expect(status(await request(q, [{ data: header(VIRTIO_BLK_T_WRITE_ZEROES, 0) }, { data: segment((64 << 11) - 2, 4) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_IOERR);
  });

  describe('hole punching', () => {
    const hostfs = tryLoadHostfs();
    const MiB = 1 << 20;
    const SPS = MiB / SECTOR_SIZE; // sectors per MiB
    let data: Uint8Array;
    const discard = (q: MockQueue, sector: number, count: number) =>
      request(q, [{ data: header(VIRTIO_BLK_T_DISCARD, 0) }, { data: segment(sector, count) }, { writable: 1 }]);
    const zeroes = (q: MockQueue, sector: number, count: number, flags: number) =>
      request(q, [{ data: header(VIRTIO_BLK_T_WRITE_ZEROES, 0) }, { data: segment(sector, count, flags) }, { writable: 1 }]);
    const blocks = (): number => statSync(img).blocks;

    beforeEach(function () {
      data = pattern(8 * MiB, 3);
      writeFileSync(img, data); // fully allocated
    });

    function needsPunch(this: Mocha.Context): void {
      if (!hostfs.addon) {
        this.test!.title += ` (skipped: ${hostfs.error})`;
        this.skip();
      }
    }

    it('DISCARD deallocates a non-sparse range, reads zeroes there and leaves the rest intact', async function () {
      needsPunch.call(this);
      const disk = await openDisk();
      const { d, q } = ready(disk);
      expect(d.config(56, 1)).to.equal(1); // write_zeroes_may_unmap
      const before = blocks();
      expect(status(await discard(q, 2 * SPS, 3 * SPS))).to.equal(VIRTIO_BLK_S_OK); // MiB 2..5
      const after = blocks();
      if (before - after === 0) {
        this.test!.title += ' (skipped: the host filesystem does not punch holes)';
        this.skip();
      }
      expect(before - after).to.be.at.least(3 * SPS * 0.9); // st_blocks are 512-byte units
      const file = readFileSync(img);
      expect(file.length).to.equal(8 * MiB);
      expect(file.subarray(0, 2 * MiB).equals(data.subarray(0, 2 * MiB))).to.equal(true);
      expect(file.subarray(5 * MiB).equals(data.subarray(5 * MiB))).to.equal(true);
      expect([...new Set(file.subarray(2 * MiB, 5 * MiB))]).to.deep.equal([0]);
      const r = await read(q, 2 * SPS - 1, 2 * SECTOR_SIZE);
      expect(Buffer.from(r.written.subarray(0, SECTOR_SIZE)).equals(data.subarray(2 * MiB - SECTOR_SIZE, 2 * MiB))).to.equal(true);
      expect([...new Set(r.written.subarray(SECTOR_SIZE, 2 * SECTOR_SIZE))]).to.deep.equal([0]);
    });

    it('DISCARD of sectors inside one host block keeps its neighbours', async function () {
      needsPunch.call(this);
      const { q } = ready(await openDisk());
      expect(status(await discard(q, 3, 3))).to.equal(VIRTIO_BLK_S_OK); // bytes 1536..3071 of the first 4 KiB
      const file = readFileSync(img);
      expect(file.subarray(0, 3 * SECTOR_SIZE).equals(data.subarray(0, 3 * SECTOR_SIZE))).to.equal(true);
      expect(file.subarray(6 * SECTOR_SIZE).equals(data.subarray(6 * SECTOR_SIZE))).to.equal(true);
      expect(status(await discard(q, 8, 0))).to.equal(VIRTIO_BLK_S_OK);
      expect(status(await discard(q, 16 * SPS - 1, 2))).to.equal(VIRTIO_BLK_S_IOERR); // past the end
      expect(readFileSync(img).subarray(6 * SECTOR_SIZE).equals(data.subarray(6 * SECTOR_SIZE))).to.equal(true);
    });

    it('WRITE_ZEROES with UNMAP punches, without it stays allocated; both read back zeroes', async function () {
      needsPunch.call(this);
      const { q } = ready(await openDisk());
      const start = blocks();
      expect(status(await zeroes(q, 1 * SPS, SPS / 2, 0))).to.equal(VIRTIO_BLK_S_OK);
      expect(blocks()).to.be.at.least(start);
      expect(status(await zeroes(q, 4 * SPS, SPS, 1))).to.equal(VIRTIO_BLK_S_OK);
      expect(start - blocks()).to.be.at.least(SPS * 0.9);
      const file = readFileSync(img);
      expect([...new Set(file.subarray(MiB, MiB + MiB / 2))]).to.deep.equal([0]);
      expect([...new Set(file.subarray(4 * MiB, 5 * MiB))]).to.deep.equal([0]);
      expect(file.subarray(MiB + MiB / 2, 4 * MiB).equals(data.subarray(MiB + MiB / 2, 4 * MiB))).to.equal(true);
      expect(file.subarray(5 * MiB).equals(data.subarray(5 * MiB))).to.equal(true);
    });

    it('without hole punching: one debug line, DISCARD leaves the data, WRITE_ZEROES+UNMAP writes zeroes', async () => {
      const log = new CapturingLogger();
      const disk = await VirtioBlock.open(img, { punchHole: false, log });
      disks.push(disk);
      const { d, q } = ready(disk);
      expect(d.config(56, 1)).to.equal(0);
      expect(status(await discard(q, 0, SPS))).to.equal(VIRTIO_BLK_S_OK);
      expect(readFileSync(img).equals(data)).to.equal(true);
      expect(status(await zeroes(q, 0, 8, 1))).to.equal(VIRTIO_BLK_S_OK);
      expect([...new Set(fileBytes(0, 8 * SECTOR_SIZE))]).to.deep.equal([0]);
      expect(fileBytes(8 * SECTOR_SIZE, MiB).equals(data.subarray(8 * SECTOR_SIZE, 8 * SECTOR_SIZE + MiB))).to.equal(true);
      expect(log.debugs.filter((m) => /DISCARD frees no space/.test(m))).to.have.length(1);
      expect(log.warnings).to.deep.equal([]);
    });

    it('a host fs that cannot punch: falls back for good with one debug line; other errors are IOERR', async () => {
      const log = new CapturingLogger();
      let calls = 0;
      const refuse = async (): Promise<{ offset: number; length: number }> => {
        calls++;
        throw Object.assign(new Error('punchhole: Operation not supported'), { errno: 95, code: 'EOPNOTSUPP', syscall: 'punchhole' });
      };
      const disk = await VirtioBlock.open(img, { punchHole: refuse, log });
      disks.push(disk);
      const { q } = ready(disk);
      expect(status(await zeroes(q, 0, 8, 1))).to.equal(VIRTIO_BLK_S_OK);
      expect(status(await discard(q, 8, 8))).to.equal(VIRTIO_BLK_S_OK);
      expect(calls).to.equal(1);
      expect(log.debugs.filter((m) => /cannot punch holes \(EOPNOTSUPP\)/.test(m))).to.have.length(1);
      expect([...new Set(fileBytes(0, 8 * SECTOR_SIZE))]).to.deep.equal([0]);
      expect(fileBytes(8 * SECTOR_SIZE, 8 * SECTOR_SIZE).equals(data.subarray(8 * SECTOR_SIZE, 16 * SECTOR_SIZE))).to.equal(true);
      const failing = await VirtioBlock.open(img, { punchHole: async () => { throw Object.assign(new Error('EIO'), { code: 'EIO' }); } });
      disks.push(failing);
      expect(status(await discard(ready(failing).q, 0, 8))).to.equal(VIRTIO_BLK_S_IOERR);
    });
  });

  it('returns the device id for GET_ID, and UNSUPP for unknown types', async () => {
    const { q } = ready(await openDisk({ id: 'disk-serial-1' }));
    const u = await request(q, [{ data: header(VIRTIO_BLK_T_GET_ID, 0) }, { writable: 20 }, { writable: 1 }]);
    expect(status(u)).to.equal(VIRTIO_BLK_S_OK);
    expect(u.len).to.equal(21);
    expect(Buffer.from(u.written.subarray(0, 20)).toString('latin1')).to.equal('disk-serial-1'.padEnd(20, '\0'));
    const long = await request(q, [{ data: header(VIRTIO_BLK_T_GET_ID, 0) }, { writable: 64 }, { writable: 1 }]);
    expect(long.len).to.equal(21);
    expect(status(await request(q, [{ data: header(99, 0) }, { writable: 1 }]))).to.equal(VIRTIO_BLK_S_UNSUPP);
  });

  it('keeps several requests in flight at the file level and completes them out of order', async () => {
    const { disk, file } = await tracedDisk();
    const { q } = ready(disk);
    file.gate.close();
    const heads = [3, 4, 5].map((s) => q.add([{ data: header(VIRTIO_BLK_T_IN, s) }, { writable: SECTOR_SIZE }, { writable: 1 }]));
    q.notify();
    expect(file.active).to.equal(3);
    expect(disk.requestsInFlight).to.equal(3);
    // One at a time, last first: the file I/O finishes in reverse order, and so do completions.
    const used: UsedElement[] = [];
    for (let i = 0; i < 3; i++) {
      file.gate.releaseLast();
      used.push(...(await q.waitUsed(1)));
      expect(file.active).to.equal(2 - i);
    }
    file.gate.release();
    expect(used.map((u) => u.head)).to.deep.equal([...heads].reverse());
    for (const [i, u] of used.entries()) {
      expect(status(u)).to.equal(VIRTIO_BLK_S_OK);
      expect(u.written[0]).to.equal(5 - i);
    }
    expect(disk.requestsInFlight).to.equal(0);
  });

  it(`caps requests in flight at ${MAX_IN_FLIGHT} and serves the rest as they complete`, async () => {
    const { disk, file } = await tracedDisk();
    const { q } = ready(disk, 256);
    file.gate.close();
    const n = MAX_IN_FLIGHT + 40;
    // Indirect: one ring descriptor per request, so all of them fit the ring at once.
    for (let i = 0; i < n; i++) q.add([{ data: header(VIRTIO_BLK_T_IN, i % 64) }, { writable: SECTOR_SIZE }, { writable: 1 }], { indirect: true });
    q.notify();
    expect(file.active).to.equal(MAX_IN_FLIGHT);
    expect(disk.requestsInFlight).to.equal(MAX_IN_FLIGHT);
    expect(file.maxActive).to.equal(MAX_IN_FLIGHT);
    file.gate.release();
    const used = await q.waitUsed(n);
    expect(used.every((u) => status(u) === VIRTIO_BLK_S_OK)).to.equal(true);
    expect(file.maxActive).to.equal(MAX_IN_FLIGHT);
  });

  it('caps one transfer at MAX_TRANSFER_BYTES and the bytes held in flight', async function () {
    this.timeout(30_000);
    truncateSync(img, 2 * MAX_TRANSFER_BYTES);
    const { disk, file } = await tracedDisk();
    // The mock driver never frees: room for every buffer this test allocates.
    const { q } = ready(disk, 16, MAX_BYTES_IN_FLIGHT + 4 * MAX_TRANSFER_BYTES);
    expect(status(await read(q, 0, MAX_TRANSFER_BYTES + SECTOR_SIZE))).to.equal(VIRTIO_BLK_S_IOERR);
    file.gate.close();
    const perRequest = MAX_TRANSFER_BYTES / 2;
    const n = MAX_BYTES_IN_FLIGHT / perRequest + 2;
    for (let i = 0; i < n; i++) q.add([{ data: header(VIRTIO_BLK_T_IN, 0) }, { writable: perRequest }, { writable: 1 }], { indirect: true });
    q.notify();
    expect(disk.requestsInFlight).to.equal(MAX_BYTES_IN_FLIGHT / perRequest);
    file.gate.release();
    const used = await q.waitUsed(n, 20_000);
    expect(used.map(status)).to.deep.equal(new Array(n).fill(VIRTIO_BLK_S_OK));
    expect(status(await read(q, 0, MAX_TRANSFER_BYTES))).to.equal(VIRTIO_BLK_S_OK);
  });

  it('answers malformed requests with length 0 and keeps working', async () => {
    const log = new CapturingLogger();
    const { d, q } = ready(await openDisk({ log }));
    const before = readFileSync(img);
    // Header shorter than 16 bytes.
    q.add([{ data: header(VIRTIO_BLK_T_OUT, 0).subarray(0, 8) }, { writable: 1 }]);
    // No status byte: nothing writable.
    q.add([{ data: header(VIRTIO_BLK_T_OUT, 0) }, { data: new Uint8Array(SECTOR_SIZE) }]);
    // Status in a read-only buffer.
    q.add([{ data: header(VIRTIO_BLK_T_IN, 0) }, { data: new Uint8Array(1) }]);
    // A zero-length status buffer.
    q.add([{ data: header(VIRTIO_BLK_T_IN, 0) }, { writable: 0 }]);
    q.notify();
    const bad = q.takeUsed();
    expect(bad.map((u) => u.len)).to.deep.equal([0, 0, 0, 0]);
    expect(d.irq.level).to.equal(true);
    expect(log.warnings.filter((w) => /malformed/.test(w))).to.have.length(4);
    const ok = await read(q, 1, SECTOR_SIZE);
    expect(status(ok)).to.equal(VIRTIO_BLK_S_OK);
    expect(readFileSync(img).equals(before)).to.equal(true);
  });

  it('drops completions that arrive after a reset: guest memory is not touched', async () => {
    const { disk, file } = await tracedDisk();
    const { d, q } = ready(disk);
    file.gate.close();
    q.add([{ data: header(VIRTIO_BLK_T_IN, 9) }, { writable: 4 * SECTOR_SIZE }, { writable: 1 }]);
    q.add([{ data: header(VIRTIO_BLK_T_OUT, 9) }, { data: pattern(SECTOR_SIZE, 1) }, { writable: 1 }]);
    q.notify();
    expect(file.active).to.equal(2);
    d.reset();
    const ram = Buffer.from(d.mem.slice(TEST_RAM_BASE, 4 << 20));
    file.gate.release();
    await disk.idle();
    expect(Buffer.from(d.mem.slice(TEST_RAM_BASE, 4 << 20)).equals(ram)).to.equal(true);
    expect(disk.requestsInFlight).to.equal(0);
    // The device works again after re-initialisation.
    d.init();
    const r = await read(d.queues[0], 9, SECTOR_SIZE);
    expect(status(r)).to.equal(VIRTIO_BLK_S_OK);
  });

  it('close() waits for in-flight I/O, then syncs and closes the image', async () => {
    const { disk, file } = await tracedDisk();
    const { q } = ready(disk);
    file.gate.close();
    q.add([{ data: header(VIRTIO_BLK_T_OUT, 30) }, { data: pattern(SECTOR_SIZE, 2) }, { writable: 1 }]);
    q.notify();
    let closed = false;
    const closing = disk.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).to.equal(false);
    expect(file.syncs).to.equal(0);
    file.gate.release();
    await closing;
    expect(file.events).to.deep.equal(['write', 'sync']);
    expect(file.fh.fd).to.equal(-1);
    expect(Buffer.from(fileBytes(30 * SECTOR_SIZE, SECTOR_SIZE)).equals(pattern(SECTOR_SIZE, 2))).to.equal(true);
    // A closed disk ignores notifications.
    q.add([{ data: header(VIRTIO_BLK_T_IN, 0) }, { writable: SECTOR_SIZE }, { writable: 1 }]);
    q.notify();
    expect(q.takeUsed()).to.deep.equal([]);
  });

  describe('attached to a machine', () => {
    const log = { warn: () => undefined, debug: () => undefined, info: () => undefined };

    it('puts several disks in consecutive slots before the entropy device and the console', () => {
      const plan = attachVirtioDevices.describe({ disks: [{ path: 'a.img', readonly: false }, { path: 'b.img', readonly: true }] });
      expect(plan).to.deep.equal([{ slot: 0, kind: 'block' }, { slot: 1, kind: 'block' }, { slot: 2, kind: 'rng' }, { slot: 3, kind: 'console' }]);
    });

    it('attaches each disk at its slot on the bus with its own image', async () => {
      const b = join(dir, 'b.img');
      writeFileSync(b, new Uint8Array(128 * SECTOR_SIZE));
      const bus = new MmioBus();
      const mem = new GuestMemory([{ gpa: TEST_RAM_BASE, bytes: new Uint8Array(1 << 20) }]);
      const spis: [number, boolean][] = [];
      const attached = await attachVirtioDevices(bus, mem, { setSpi: (i, l) => spis.push([i, l]) }, { disks: [{ path: img, readonly: false }, { path: b, readonly: true }] }, log);
      try {
        expect(attached.slots).to.deep.equal([{ slot: 0, kind: 'block' }, { slot: 1, kind: 'block' }, { slot: 2, kind: 'rng' }, { slot: 3, kind: 'console' }]);
        const reg = (slot: number, off: number) => {
          const r = bus.read(virtioMmioSlotBase(slot) + off, 4);
          return r.handled ? Number(r.value) : undefined;
        };
        expect([0, 1, 2].map((s) => reg(s, REG.MagicValue))).to.deep.equal([0x74726976, 0x74726976, 0x74726976]);
        expect([0, 1, 2].map((s) => reg(s, REG.DeviceId))).to.deep.equal([VIRTIO_ID_BLOCK, VIRTIO_ID_BLOCK, 4]);
        expect([0, 1].map((s) => reg(s, REG.Config))).to.deep.equal([64, 128]);
        const roBit = (slot: number) => {
          bus.write(virtioMmioSlotBase(slot) + REG.DeviceFeaturesSel, 4, 0);
          return (reg(slot, REG.DeviceFeatures)! >>> VIRTIO_BLK_F_RO) & 1;
        };
        expect([roBit(0), roBit(1)]).to.deep.equal([0, 1]);
      } finally {
        await attached.close();
      }
      const devs = attached.devices.map((a) => a.device);
      expect(devs[0]).to.be.instanceOf(VirtioBlock);
      expect(devs[0].name).to.equal(img);
    });

    it('closes the disks it opened when a later one fails', async () => {
      let err: unknown;
      await attachVirtioDevices(new MmioBus(), new GuestMemory([{ gpa: TEST_RAM_BASE, bytes: new Uint8Array(4096) }]), { setSpi: () => undefined },
        { disks: [{ path: img, readonly: false }, { path: join(dir, 'missing.img'), readonly: false }] }, log).catch((e: unknown) => (err = e));
      expect(err).to.be.instanceOf(BlockError);
    });
  });
});
