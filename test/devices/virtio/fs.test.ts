import { expect } from 'chai';
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, symlinkSync, existsSync, lstatSync, statSync, rmSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtioFs, TAG_BYTES } from '../../../src/devices/virtio/fs/device.ts';
import { HostFs, type HostFsOptions } from '../../../src/devices/virtio/fs/host-fs.ts';
import { VIRTIO_ID_FS } from '../../../src/devices/virtio/device.ts';
import { REG } from '../../../src/devices/virtio/mmio-transport.ts';
import { E, FATTR, OP, RENAME_EXCHANGE, RENAME_NOREPLACE, Writer } from '../../../src/devices/virtio/fs/wire.ts';
import { MockVirtioDriver } from '../../helpers/virtio-driver.ts';
import { FuseClient, attrOf, decodeReply, direntsOf, enc, entryOf, readIn } from '../../helpers/fuse-client.ts';

const ROOT = 1n;
const O_RDONLY = 0;
const O_WRONLY = 1;
const O_RDWR = 2;

function tempShare(): { base: string; share: string; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'nodevisor-fs-'));
  const share = join(base, 'share');
  const outside = join(base, 'outside');
  mkdirSync(share);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'host secret');
  writeFileSync(join(share, 'hello.txt'), 'hello from the host\n');
  mkdirSync(join(share, 'sub'));
  writeFileSync(join(share, 'sub', 'inner'), 'inner');
  return { base, share, outside };
}

const nameBody = (...names: string[]): Uint8Array => new Uint8Array(Buffer.concat(names.map((n) => Buffer.from(n + '\0'))));
const renameIn = (newdir: bigint, from: string, to: string): Uint8Array => new Writer().u64(newdir).bytes(nameBody(from, to)).done();
const rename2In = (newdir: bigint, flags: number, from: string, to: string): Uint8Array => new Writer().u64(newdir).u32(flags).u32(0).bytes(nameBody(from, to)).done();
const mkdirIn = (name: string, mode = 0o755): Uint8Array => new Writer().u32(mode).u32(0).bytes(enc(name)).done();
const mknodIn = (name: string, mode: number): Uint8Array => new Writer().u32(mode).u32(0).u32(0).u32(0).bytes(enc(name)).done();
function setattrIn(valid: number, f: { size?: number; mode?: number; mtime?: number; atime?: number; fh?: bigint } = {}): Uint8Array {
  return new Writer().u32(valid).u32(0).u64(f.fh ?? 0n).u64(f.size ?? 0).u64(0).u64(f.atime ?? 0).u64(f.mtime ?? 0).u64(0)
    .u32(0).u32(0).u32(0).u32(f.mode ?? 0).u32(0).u32(0).u32(0).u32(0).done();
}
const getattrIn = (): Uint8Array => new Writer().u32(0).u32(0).u64(0).done();

// Every test runs on both ways of reaching the share: the addon's calls beneath the root fd
// (when it is built) and the path-checked fallback.
const ACCESS_MODES: { label: string; base: HostFsOptions }[] = [
  { label: 'calls beneath the root fd', base: {} },
  { label: 'path fallback', base: { beneath: false } },
];

for (const { label, base } of ACCESS_MODES) describe(`virtio-fs (${label})`, () => {
  let t: ReturnType<typeof tempShare>;
  let c: FuseClient;
  beforeEach(async () => {
    t = tempShare();
    c = await FuseClient.start(t.share, base);
  });
  afterEach(async () => {
    await c.device.close();
    rmSync(t.base, { recursive: true, force: true });
  });

  describe('device', () => {
    it('identifies as device 26 with the tag and one request queue in config space', async () => {
      const dev = new VirtioFs(await HostFs.open(t.share, base), { tag: 'mytag' });
      const d = new MockVirtioDriver(dev);
      expect(d.reg(REG.DeviceId)).to.equal(VIRTIO_ID_FS);
      const tag = [...Array(TAG_BYTES).keys()].map((i) => d.config(i, 1));
      expect(Buffer.from(tag.slice(0, 5)).toString()).to.equal('mytag');
      expect(tag.slice(5).every((b) => b === 0)).to.equal(true);
      expect(d.config(TAG_BYTES, 4)).to.equal(1);
      expect(dev.queueMaxSizes.length).to.equal(2);
      expect(() => new VirtioFs(dev.hostFs, { tag: 'x'.repeat(37) })).to.throw(/1-36 bytes/);
    });

    it('negotiates FUSE_INIT: 7.31, the flags it supports, max_write', async () => {
      const fs = await HostFs.open(t.share, base);
      const dev = new VirtioFs(fs, { tag: 't' });
      const d = new MockVirtioDriver(dev);
      d.init();
      const client = new FuseClient(d, dev);
      const before = await client.call(OP.GETATTR, ROOT, getattrIn());
      expect(before.error).to.equal(E.IO);
      const r = await client.call(OP.INIT, 0n, new Writer().u32(7).u32(36).u32(65536).u32(0xffffffff).u32(0).zeros(44).done());
      expect(r.error).to.equal(0);
      const v = new DataView(r.body.buffer, r.body.byteOffset);
      expect(r.body.length).to.equal(64);
      expect([v.getUint32(0, true), v.getUint32(4, true), v.getUint32(8, true)]).to.deep.equal([7, 31, 65536]);
      const flags = v.getUint32(12, true);
      expect(flags & (1 << 13)).to.not.equal(0); // DO_READDIRPLUS
      expect(flags & (1 << 16)).to.equal(0); // no writeback cache
      expect(v.getUint32(20, true)).to.equal(128 * 1024); // max_write
      await dev.close();
    });

    it('runs several requests concurrently and answers each with its own unique', async () => {
      const reqs = [1, 2, 3, 4, 5, 6].map(() => c.request(OP.LOOKUP, ROOT, enc('hello.txt')));
      for (const r of reqs) c.post(r);
      expect(c.device.requestsInFlight).to.be.greaterThan(1);
      const used = await c.driver.queues[1].waitUsed(6);
      const uniques = used.map((u) => decodeReply(u.written, u.len)).map((r) => (expect(r.error).to.equal(0), r.unique));
      expect(uniques.sort()).to.deep.equal(reqs.map((r) => new DataView(r.buffer).getBigUint64(8, true)).sort());
    });

    it('a reset drops in-flight replies: nothing is written to guest memory afterwards', async () => {
      const q = c.driver.queues[1];
      c.post(c.request(OP.LOOKUP, ROOT, enc('hello.txt')));
      expect(c.device.requestsInFlight).to.equal(1);
      const usedBefore = q.usedIndex;
      c.driver.reset();
      await c.device.idle();
      expect(c.driver.mem.readU16(q.used + 2)).to.equal(usedBefore);
      expect(c.device.hostFs.inodeCount).to.equal(1);
    });

    it('FORGET and BATCH_FORGET on the hiprio queue get no reply and release inodes', async () => {
      const a = await c.lookup(ROOT, 'hello.txt');
      await c.lookup(ROOT, 'hello.txt');
      const b = await c.lookup(ROOT, 'sub');
      expect(c.device.hostFs.inodeCount).to.equal(3);
      const u1 = await c.raw(c.request(OP.FORGET, a.nodeid, new Writer().u64(1).done()), 0, 0);
      expect(u1.len).to.equal(0);
      expect(c.device.hostFs.inodeCount).to.equal(3); // one lookup left
      const batch = new Writer().u32(2).u32(0).u64(a.nodeid).u64(1).u64(b.nodeid).u64(1).done();
      expect((await c.raw(c.request(OP.BATCH_FORGET, 0n, batch), 0, 0)).len).to.equal(0);
      expect(c.device.hostFs.inodeCount).to.equal(1);
      expect((await c.call(OP.GETATTR, a.nodeid, getattrIn())).error).to.equal(E.STALE);
    });
  });

  describe('operations', () => {
    it('LOOKUP, GETATTR, OPEN, READ, FLUSH, RELEASE a host file', async () => {
      const f = await c.lookup(ROOT, 'hello.txt');
      expect(f.size).to.equal(20n);
      expect(f.mode & 0o170000).to.equal(0o100000);
      expect(f.ino).to.equal(BigInt(lstatSync(join(t.share, 'hello.txt')).ino));
      const a = attrOf(await c.ok(OP.GETATTR, f.nodeid, getattrIn()));
      expect(a.size).to.equal(20n);
      const fh = await c.openFile(f.nodeid, O_RDONLY);
      expect(Buffer.from(await c.read(f.nodeid, fh, 0, 4096)).toString()).to.equal('hello from the host\n');
      expect(Buffer.from(await c.read(f.nodeid, fh, 6, 4)).toString()).to.equal('from');
      expect((await c.read(f.nodeid, fh, 100, 10)).length).to.equal(0);
      await c.ok(OP.FLUSH, f.nodeid, new Writer().u64(fh).u32(0).u32(0).u64(0).done());
      await c.release(f.nodeid, fh);
      expect((await c.call(OP.READ, f.nodeid, readIn(fh, 0, 10))).error).to.equal(E.BADF);
      expect((await c.call(OP.LOOKUP, ROOT, enc('missing'))).error).to.equal(E.NOENT);
    });

    it('CREATE, WRITE, FSYNC and the file is on the host with the requested mode', async () => {
      const { nodeid, fh } = await c.create(ROOT, 'new.txt', 0o640);
      expect(await c.write(nodeid, fh, 0, new Uint8Array(Buffer.from('written by the guest')))).to.equal(20);
      expect(await c.write(nodeid, fh, 8, new Uint8Array(Buffer.from('BY')))).to.equal(2);
      await c.ok(OP.FSYNC, nodeid, new Writer().u64(fh).u32(0).u32(0).done());
      await c.release(nodeid, fh);
      expect(readFileSync(join(t.share, 'new.txt'), 'utf8')).to.equal('written BY the guest');
      expect(statSync(join(t.share, 'new.txt')).mode & 0o777).to.equal(0o640);
      // O_EXCL on an existing name
      const r = await c.call(OP.CREATE, ROOT, new Writer().u32(0o301).u32(0o100644).u32(0).u32(0).bytes(enc('new.txt')).done());
      expect(r.error).to.equal(E.EXIST);
    });

    it('SETATTR: mode, size (path and handle), times', async () => {
      const f = await c.lookup(ROOT, 'hello.txt');
      let a = attrOf(await c.ok(OP.SETATTR, f.nodeid, setattrIn(FATTR.MODE, { mode: 0o600 })));
      expect(a.mode & 0o777).to.equal(0o600);
      expect(statSync(join(t.share, 'hello.txt')).mode & 0o777).to.equal(0o600);
      a = attrOf(await c.ok(OP.SETATTR, f.nodeid, setattrIn(FATTR.SIZE, { size: 5 })));
      expect(a.size).to.equal(5n);
      expect(readFileSync(join(t.share, 'hello.txt'), 'utf8')).to.equal('hello');
      const fh = await c.openFile(f.nodeid, O_RDWR);
      a = attrOf(await c.ok(OP.SETATTR, f.nodeid, setattrIn(FATTR.SIZE | FATTR.FH, { size: 2, fh })));
      expect(a.size).to.equal(2n);
      await c.release(f.nodeid, fh);
      a = attrOf(await c.ok(OP.SETATTR, f.nodeid, setattrIn(FATTR.MTIME | FATTR.ATIME, { mtime: 1_000_000_000, atime: 1_000_000_000 })));
      expect(a.mtime).to.equal(1_000_000_000n);
      expect(statSync(join(t.share, 'hello.txt')).mtimeMs).to.equal(1e12);
      const d = await c.lookup(ROOT, 'sub');
      expect((await c.call(OP.SETATTR, d.nodeid, setattrIn(FATTR.SIZE, { size: 0 }))).error).to.equal(E.ISDIR);
    });

    it('MKDIR, RMDIR, UNLINK, RENAME, RENAME2 flags', async () => {
      const d = entryOf(await c.ok(OP.MKDIR, ROOT, mkdirIn('dir', 0o750)));
      expect(lstatSync(join(t.share, 'dir')).isDirectory()).to.equal(true);
      expect(statSync(join(t.share, 'dir')).mode & 0o777).to.equal(0o750);
      const { nodeid, fh } = await c.create(d.nodeid, 'f');
      await c.release(nodeid, fh);
      expect((await c.call(OP.RMDIR, ROOT, enc('dir'))).error).to.equal(E.NOTEMPTY);
      await c.ok(OP.RENAME, d.nodeid, renameIn(ROOT, 'f', 'g'));
      expect(existsSync(join(t.share, 'g'))).to.equal(true);
      // the moved node keeps working under its new name
      expect(attrOf(await c.ok(OP.GETATTR, nodeid, getattrIn())).size).to.equal(0n);
      expect((await c.call(OP.RENAME2, ROOT, rename2In(ROOT, RENAME_NOREPLACE, 'g', 'hello.txt'))).error).to.equal(E.EXIST);
      expect((await c.call(OP.RENAME2, ROOT, rename2In(ROOT, RENAME_EXCHANGE, 'g', 'hello.txt'))).error).to.equal(E.INVAL);
      expect((await c.call(OP.RENAME2, ROOT, rename2In(ROOT, 0x80, 'g', 'h'))).error).to.equal(E.INVAL);
      await c.ok(OP.RENAME2, ROOT, rename2In(d.nodeid, RENAME_NOREPLACE, 'g', 'back'));
      expect(existsSync(join(t.share, 'dir', 'back'))).to.equal(true);
      // renaming a directory moves the nodes below it
      const sub = await c.lookup(ROOT, 'sub');
      const inner = await c.lookup(sub.nodeid, 'inner');
      await c.ok(OP.RENAME, ROOT, renameIn(d.nodeid, 'sub', 'moved'));
      const ifh = await c.openFile(inner.nodeid, O_RDONLY);
      expect(Buffer.from(await c.read(inner.nodeid, ifh, 0, 10)).toString()).to.equal('inner');
      await c.release(inner.nodeid, ifh);
      await c.ok(OP.UNLINK, d.nodeid, enc('back'));
      expect((await c.call(OP.UNLINK, d.nodeid, enc('moved'))).error).to.equal(E.ISDIR);
      await c.ok(OP.UNLINK, sub.nodeid, enc('inner'));
      await c.ok(OP.RMDIR, d.nodeid, enc('moved'));
      await c.ok(OP.RMDIR, ROOT, enc('dir'));
      expect(readdirSync(t.share).sort()).to.deep.equal(['hello.txt']);
    });

    it('SYMLINK, READLINK, LINK, MKNOD (regular, fifo; devices refused)', async () => {
      const s = entryOf(await c.ok(OP.SYMLINK, ROOT, nameBody('ln', 'hello.txt')));
      expect(s.mode & 0o170000).to.equal(0o120000);
      expect(Buffer.from(await c.ok(OP.READLINK, s.nodeid)).toString()).to.equal('hello.txt');
      expect((await c.call(OP.READLINK, ROOT)).error).to.equal(E.INVAL); // the root (and any non-symlink), as readlink(2)
      expect(readlinkSync(join(t.share, 'ln'))).to.equal('hello.txt');
      const f = await c.lookup(ROOT, 'hello.txt');
      const l = entryOf(await c.ok(OP.LINK, ROOT, new Writer().u64(f.nodeid).bytes(enc('hard')).done()));
      expect(l.nodeid).to.equal(f.nodeid);
      expect(statSync(join(t.share, 'hard')).nlink).to.equal(2);
      const r = entryOf(await c.ok(OP.MKNOD, ROOT, mknodIn('reg', 0o100600)));
      expect(r.mode & 0o170000).to.equal(0o100000);
      const fifo = await c.call(OP.MKNOD, ROOT, mknodIn('pipe', 0o010644));
      if (fifo.error === 0) expect(lstatSync(join(t.share, 'pipe')).isFIFO()).to.equal(true);
      else expect(fifo.error).to.equal(E.PERM); // host without mkfifo(1)
      expect((await c.call(OP.MKNOD, ROOT, mknodIn('dev', 0o020644))).error).to.equal(E.PERM);
      expect(existsSync(join(t.share, 'dev'))).to.equal(false);
    });

    it('OPENDIR, READDIR with offsets, READDIRPLUS taking lookups (not for . and ..), RELEASEDIR', async () => {
      const fhBody = await c.ok(OP.OPENDIR, ROOT, new Writer().u32(0).u32(0).done());
      const fh = new DataView(fhBody.buffer, fhBody.byteOffset).getBigUint64(0, true);
      const all = direntsOf(await c.ok(OP.READDIR, ROOT, readIn(fh, 0, 4096)), false);
      expect(all.map((e) => e.name).sort()).to.deep.equal(['.', '..', 'hello.txt', 'sub']);
      expect(all.find((e) => e.name === 'sub')!.type).to.equal(4);
      expect(all.find((e) => e.name === 'hello.txt')!.ino).to.equal(BigInt(lstatSync(join(t.share, 'hello.txt')).ino));
      const rest = direntsOf(await c.ok(OP.READDIR, ROOT, readIn(fh, Number(all[1].off), 4096)), false);
      expect(rest.map((e) => e.name)).to.deep.equal(all.slice(2).map((e) => e.name));
      const small = direntsOf(await c.ok(OP.READDIR, ROOT, readIn(fh, 0, 40)), false);
      expect(small.length).to.equal(1);
      const plus = direntsOf(await c.ok(OP.READDIRPLUS, ROOT, readIn(fh, 0, 8192)), true);
      expect(plus.length).to.equal(4);
      for (const e of plus) expect(e.nodeid === 0n).to.equal(e.name === '.' || e.name === '..');
      expect(c.device.hostFs.inodeCount).to.equal(3);
      await c.ok(OP.FSYNCDIR, ROOT, new Writer().u64(fh).u32(0).u32(0).done());
      await c.release(ROOT, fh, true);
      expect(c.device.hostFs.handleCount).to.equal(0);
      const f = await c.lookup(ROOT, 'hello.txt');
      expect((await c.call(OP.OPENDIR, f.nodeid, new Writer().u32(0).u32(0).done())).error).to.equal(E.NOTDIR);
    });

    it('STATFS, ACCESS, LSEEK, FALLOCATE, unknown opcodes, INTERRUPT, DESTROY', async () => {
      const st = await c.ok(OP.STATFS, ROOT);
      expect(st.length).to.equal(80);
      const sv = new DataView(st.buffer, st.byteOffset);
      expect(Number(sv.getBigUint64(0, true))).to.be.greaterThan(0);
      expect(sv.getUint32(44, true)).to.equal(255);
      const f = await c.lookup(ROOT, 'hello.txt');
      await c.ok(OP.ACCESS, f.nodeid, new Writer().u32(4).u32(0).done());
      const fh = await c.openFile(f.nodeid, O_RDWR);
      const seek = (off: number, whence: number) => c.call(OP.LSEEK, f.nodeid, new Writer().u64(fh).u64(off).u32(whence).u32(0).done());
      const data = await seek(3, 3);
      expect(new DataView(data.body.buffer, data.body.byteOffset).getBigUint64(0, true)).to.equal(3n);
      const hole = await seek(3, 4);
      expect(new DataView(hole.body.buffer, hole.body.byteOffset).getBigUint64(0, true)).to.equal(20n);
      expect((await seek(50, 3)).error).to.equal(E.NXIO);
      await c.ok(OP.FALLOCATE, f.nodeid, new Writer().u64(fh).u64(0).u64(100).u32(0).u32(0).done());
      expect(statSync(join(t.share, 'hello.txt')).size).to.equal(100);
      expect((await c.call(OP.FALLOCATE, f.nodeid, new Writer().u64(fh).u64(0).u64(1).u32(3).u32(0).done())).error).to.equal(E.OPNOTSUPP);
      await c.release(f.nodeid, fh);
      // xattrs: test/devices/virtio/fs-xattr.test.ts
      expect((await c.call(999, ROOT)).error).to.equal(E.NOSYS);
      expect((await c.call(OP.GETLK, ROOT)).error).to.equal(E.NOSYS);
      expect((await c.raw(c.request(OP.INTERRUPT, 0n, new Writer().u64(5).done()), 0)).len).to.equal(0);
      const fh2 = await c.openFile(f.nodeid, O_RDONLY);
      await c.ok(OP.DESTROY, 0n);
      expect(c.device.hostFs.handleCount).to.equal(0);
      expect(c.device.hostFs.inodeCount).to.equal(1);
      void fh2;
    });
  });

  describe('confinement', () => {
    it('refuses names with "/", ".", ".." and empty names', async () => {
      for (const name of ['..', '.', '../outside', 'sub/inner', '']) {
        const r = await c.call(OP.LOOKUP, ROOT, enc(name));
        expect(r.error, name).to.equal(E.INVAL);
      }
      expect((await c.call(OP.LOOKUP, ROOT, enc('x'.repeat(256)))).error).to.equal(E.NAMETOOLONG);
      for (const [op, body] of [
        [OP.MKDIR, mkdirIn('../evil')], [OP.CREATE, new Writer().u32(0o101).u32(0o100644).u32(0).u32(0).bytes(enc('../evil')).done()],
        [OP.SYMLINK, nameBody('../evil', '/etc')], [OP.RENAME, renameIn(ROOT, 'hello.txt', '../outside/evil')],
        [OP.MKNOD, mknodIn('../evil', 0o100644)], [OP.UNLINK, enc('../outside/secret')], [OP.RMDIR, enc('..')],
      ] as const) {
        expect((await c.call(op, ROOT, body)).error, `op ${op}`).to.equal(E.INVAL);
      }
      expect(readdirSync(t.base).sort()).to.deep.equal(['outside', 'share']);
      expect(readdirSync(t.outside)).to.deep.equal(['secret']);
    });

    it('a symlink to /etc or outside is a symlink; the VMM never follows it', async () => {
      symlinkSync('/etc', join(t.share, 'etc'));
      symlinkSync(t.outside, join(t.share, 'out'));
      symlinkSync(join(t.outside, 'secret'), join(t.share, 'secretlink'));
      const etc = await c.lookup(ROOT, 'etc');
      expect(etc.mode & 0o170000).to.equal(0o120000);
      expect(Buffer.from(await c.ok(OP.READLINK, etc.nodeid)).toString()).to.equal('/etc');
      expect((await c.call(OP.LOOKUP, etc.nodeid, enc('passwd'))).error).to.equal(E.ACCES);
      const out = await c.lookup(ROOT, 'out');
      expect((await c.call(OP.LOOKUP, out.nodeid, enc('secret'))).error).to.equal(E.ACCES);
      expect((await c.call(OP.OPENDIR, out.nodeid, new Writer().u32(0).u32(0).done())).error).to.equal(E.NOTDIR);
      expect((await c.call(OP.MKDIR, out.nodeid, mkdirIn('evil'))).error).to.equal(E.ACCES);
      expect((await c.call(OP.CREATE, out.nodeid, new Writer().u32(0o101).u32(0o100644).u32(0).u32(0).bytes(enc('evil')).done())).error).to.equal(E.ACCES);
      expect((await c.call(OP.RENAME, ROOT, renameIn(out.nodeid, 'hello.txt', 'stolen'))).error).to.equal(E.ACCES);
      expect((await c.call(OP.LINK, out.nodeid, new Writer().u64((await c.lookup(ROOT, 'hello.txt')).nodeid).bytes(enc('l')).done())).error).to.equal(E.ACCES);
      const sl = await c.lookup(ROOT, 'secretlink');
      expect((await c.call(OP.OPEN, sl.nodeid, new Writer().u32(O_RDONLY).u32(0).done())).error).to.equal(E.LOOP);
      expect((await c.call(OP.SETATTR, sl.nodeid, setattrIn(FATTR.SIZE, { size: 0 }))).error).to.equal(E.INVAL);
      expect((await c.call(OP.SETATTR, sl.nodeid, setattrIn(FATTR.MODE, { mode: 0o777 }))).error).to.equal(E.OPNOTSUPP);
      expect(readFileSync(join(t.outside, 'secret'), 'utf8')).to.equal('host secret');
      expect(statSync(join(t.outside, 'secret')).mode & 0o777).to.not.equal(0o777);
      expect(readdirSync(t.outside)).to.deep.equal(['secret']);
    });

    it('symlink loops and a directory swapped for a symlink on the host', async () => {
      symlinkSync('loop2', join(t.share, 'loop1'));
      symlinkSync('loop1', join(t.share, 'loop2'));
      const l = await c.lookup(ROOT, 'loop1');
      expect((await c.call(OP.LOOKUP, l.nodeid, enc('x'))).error).to.be.oneOf([E.LOOP, E.ACCES]);
      const sub = await c.lookup(ROOT, 'sub');
      const inner = await c.lookup(sub.nodeid, 'inner');
      // A host process replaces sub/ with a symlink to the outside folder.
      rmSync(join(t.share, 'sub'), { recursive: true });
      symlinkSync(t.outside, join(t.share, 'sub'));
      writeFileSync(join(t.outside, 'inner'), 'outside inner');
      expect((await c.call(OP.LOOKUP, sub.nodeid, enc('secret'))).error).to.equal(E.ACCES);
      expect((await c.call(OP.OPEN, inner.nodeid, new Writer().u32(O_RDONLY).u32(0).done())).error).to.equal(E.ACCES);
      expect((await c.call(OP.GETATTR, sub.nodeid, getattrIn())).error).to.equal(E.STALE);
      expect((await c.call(OP.CREATE, sub.nodeid, new Writer().u32(0o101).u32(0o100644).u32(0).u32(0).bytes(enc('evil')).done())).error).to.equal(E.ACCES);
      expect(readdirSync(t.outside).sort()).to.deep.equal(['inner', 'secret']);
    });

    it('a read-only share answers EROFS to every mutation and still reads', async () => {
      await c.device.close();
      c = await FuseClient.start(t.share, { ...base, readonly: true });
      const f = await c.lookup(ROOT, 'hello.txt');
      const mutations: [number, bigint, Uint8Array][] = [
        [OP.SETATTR, f.nodeid, setattrIn(FATTR.MODE, { mode: 0o777 })], [OP.SYMLINK, ROOT, nameBody('s', 't')],
        [OP.MKNOD, ROOT, mknodIn('n', 0o100644)], [OP.MKDIR, ROOT, mkdirIn('d')], [OP.UNLINK, ROOT, enc('hello.txt')],
        [OP.RMDIR, ROOT, enc('sub')], [OP.RENAME, ROOT, renameIn(ROOT, 'hello.txt', 'x')],
        [OP.RENAME2, ROOT, rename2In(ROOT, 0, 'hello.txt', 'x')], [OP.LINK, ROOT, new Writer().u64(f.nodeid).bytes(enc('h')).done()],
        [OP.CREATE, ROOT, new Writer().u32(0o101).u32(0o100644).u32(0).u32(0).bytes(enc('c')).done()],
        [OP.OPEN, f.nodeid, new Writer().u32(O_WRONLY).u32(0).done()], [OP.OPEN, f.nodeid, new Writer().u32(0o1000).u32(0).done()],
        [OP.SETXATTR, f.nodeid, new Writer().u32(1).u32(0).u32(0).u32(0).bytes(enc('user.x')).u32(0).done()],
        [OP.REMOVEXATTR, f.nodeid, enc('user.x')], [OP.ACCESS, f.nodeid, new Writer().u32(2).u32(0).done()],
      ];
      for (const [op, node, body] of mutations) expect((await c.call(op, node, body)).error, `op ${op}`).to.equal(E.ROFS);
      const fh = await c.openFile(f.nodeid, O_RDONLY);
      expect((await c.call(OP.WRITE, f.nodeid, new Writer().u64(fh).u64(0).u32(1).u32(0).u64(0).u32(0).u32(0).zeros(1).done())).error).to.equal(E.ROFS);
      expect((await c.call(OP.FALLOCATE, f.nodeid, new Writer().u64(fh).u64(0).u64(100).u32(0).u32(0).done())).error).to.equal(E.ROFS);
      expect(Buffer.from(await c.read(f.nodeid, fh, 0, 5)).toString()).to.equal('hello');
      expect(readdirSync(t.share).sort()).to.deep.equal(['hello.txt', 'sub']);
      expect(readFileSync(join(t.share, 'hello.txt'), 'utf8')).to.equal('hello from the host\n');
    });
  });

  describe('limits and malformed requests', () => {
    it('caps open handles (EMFILE) and inodes (ENFILE)', async () => {
      await c.device.close();
      c = await FuseClient.start(t.share, { ...base, maxHandles: 3, maxInodes: 3 });
      const f = await c.lookup(ROOT, 'hello.txt');
      const fhs = [await c.openFile(f.nodeid, O_RDONLY), await c.openFile(f.nodeid, O_RDONLY), await c.openFile(f.nodeid, O_RDONLY)];
      expect((await c.call(OP.OPEN, f.nodeid, new Writer().u32(0).u32(0).done())).error).to.equal(E.MFILE);
      expect((await c.call(OP.OPENDIR, ROOT, new Writer().u32(0).u32(0).done())).error).to.equal(E.MFILE);
      await c.release(f.nodeid, fhs[0]);
      await c.openFile(f.nodeid, O_RDONLY);
      await c.lookup(ROOT, 'sub');
      expect((await c.call(OP.LOOKUP, ROOT, enc('hello.txt'))).error).to.equal(0); // existing inode: no new slot
      writeFileSync(join(t.share, 'third'), '');
      expect((await c.call(OP.LOOKUP, ROOT, enc('third'))).error).to.equal(E.NFILE);
    });

    it('caps READ and WRITE sizes', async () => {
      const { nodeid, fh } = await c.create(ROOT, 'big', 0o644, 0o102);
      const huge = new Writer().u64(fh).u64(0).u32(1 << 20).u32(0).u64(0).u32(0).u32(0).zeros(16).done();
      expect((await c.call(OP.WRITE, nodeid, huge)).error).to.equal(E.INVAL);
      await c.write(nodeid, fh, 0, new Uint8Array(128 * 1024).fill(7));
      await c.write(nodeid, fh, 128 * 1024, new Uint8Array(128 * 1024).fill(8));
      expect((await c.read(nodeid, fh, 0, 1 << 20)).length).to.equal(128 * 1024);
      // reply buffer smaller than the READ: capped to what fits
      expect((await c.call(OP.READ, nodeid, readIn(fh, 0, 4096), 16 + 100)).body.length).to.equal(100);
      // a request bigger than the cap is dropped with used length 0
      const req = c.request(OP.WRITE, nodeid, new Uint8Array(200 * 1024));
      expect((await c.raw(req, 64)).len).to.equal(0);
    });

    it('malformed headers and truncated bodies get error replies or a dropped chain, never a crash', async () => {
      // shorter than a header: dropped
      expect((await c.raw(new Uint8Array(10))).len).to.equal(0);
      // no room for a reply: dropped
      expect((await c.raw(c.request(OP.GETATTR, ROOT, getattrIn()), 8)).len).to.equal(0);
      // header len beyond the buffer, or below the header size
      const bad = c.request(OP.GETATTR, ROOT, getattrIn());
      new DataView(bad.buffer).setUint32(0, 9999, true);
      expect(decodeReply((await c.raw(bad)).written, 0).error).to.equal(E.INVAL);
      new DataView(bad.buffer).setUint32(0, 3, true);
      expect(decodeReply((await c.raw(bad)).written, 0).error).to.equal(E.INVAL);
      // truncated bodies
      for (const op of [OP.GETATTR, OP.SETATTR, OP.READ, OP.WRITE, OP.OPEN, OP.CREATE, OP.RENAME, OP.RENAME2, OP.LINK, OP.MKDIR, OP.MKNOD, OP.LSEEK, OP.FALLOCATE, OP.RELEASE]) {
        expect((await c.call(op, ROOT, new Uint8Array(3))).error, `op ${op}`).to.equal(E.INVAL);
      }
      // names without NUL
      expect((await c.call(OP.LOOKUP, ROOT, new Uint8Array(Buffer.from('hello.txt')))).error).to.equal(E.INVAL);
      expect((await c.call(OP.SYMLINK, ROOT, new Uint8Array(Buffer.from('a\0b')))).error).to.equal(E.INVAL);
      // unknown nodeids and handles
      expect((await c.call(OP.GETATTR, 12345n, getattrIn())).error).to.equal(E.STALE);
      expect((await c.call(OP.READ, ROOT, readIn(777n, 0, 10))).error).to.equal(E.BADF);
      // offsets beyond 2^53
      expect((await c.call(OP.READ, ROOT, new Writer().u64(1).u64(2n ** 63n).u32(1).u32(0).u64(0).u32(0).u32(0).done())).error).to.equal(E.INVAL);
      // a forget for a stranger and a truncated batch forget: ignored
      expect((await c.raw(c.request(OP.FORGET, 999n, new Uint8Array(2)), 0, 0)).len).to.equal(0);
      expect((await c.raw(c.request(OP.BATCH_FORGET, 0n, new Writer().u32(1000000).u32(0).u64(1).done()), 0, 0)).len).to.equal(0);
      // still healthy
      expect((await c.lookup(ROOT, 'hello.txt')).size).to.equal(20n);
      expect(c.device.hostFs.inodeCount).to.be.at.most(2);
    });
  });
});
