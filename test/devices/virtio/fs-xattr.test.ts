// virtio-fs extended attributes (GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR) over a temp share,
// through the nodevisor_hostfs addon. Skipped, with the reason, when the addon is not built or
// the temp filesystem has no user.* xattrs.
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, OP, Writer, XATTR, XATTR_SIZE_MAX } from '../../../src/devices/virtio/fs/wire.ts';
import { tryLoadHostfs, type NativeHostfs } from '../../../src/host/hostfs-native.ts';
import { FuseClient, enc } from '../../helpers/fuse-client.ts';

const ROOT = 1n;
const getxIn = (size: number, name: string): Uint8Array => new Writer().u32(size).u32(0).bytes(enc(name)).done();
const listxIn = (size: number): Uint8Array => new Writer().u32(size).u32(0).done();
const setxIn = (name: string, value: Uint8Array | string, flags = 0): Uint8Array => {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  return new Writer().u32(v.length).u32(flags).bytes(enc(name)).bytes(v).done();
};
const u32 = (b: Uint8Array, at = 0): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
const names = (b: Uint8Array): string[] => Buffer.from(b).toString('latin1').split('\0').filter((s) => s !== '');

/** Why xattr tests cannot run here, or undefined. */
async function unsupportedReason(api: NativeHostfs | undefined, loadError: string | undefined): Promise<string | undefined> {
  if (!api) return `the nodevisor_hostfs addon is not loaded: ${loadError}`;
  const dir = mkdtempSync(join(tmpdir(), 'nodevisor-xattr-probe-'));
  try {
    writeFileSync(join(dir, 'f'), '');
    await api.setxattr(join(dir, 'f'), Buffer.from('user.probe'), Buffer.from('1'), 0);
    return undefined;
  } catch (e) {
    return `${tmpdir()} does not take user.* xattrs (${(e as NodeJS.ErrnoException).code})`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('virtio-fs xattrs', () => {
  const loaded = tryLoadHostfs();
  const api = loaded.addon;
  let base: string;
  let share: string;
  let outside: string;
  let c: FuseClient;

  before(async function () {
    const why = await unsupportedReason(api, loaded.error);
    if (why) {
      this.test!.parent!.title += ` (skipped: ${why})`;
      this.skip();
    }
  });

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'nodevisor-fsx-'));
    share = join(base, 'share');
    outside = join(base, 'outside');
    mkdirSync(share);
    mkdirSync(outside);
    writeFileSync(join(share, 'f'), 'data');
    mkdirSync(join(share, 'd'));
    writeFileSync(join(share, 'd', 'inner'), 'inner');
    writeFileSync(join(outside, 'secret'), 'secret');
    await api!.setxattr(join(outside, 'secret'), Buffer.from('user.secret'), Buffer.from('outside value'), 0);
    c = await FuseClient.start(share);
  });
  afterEach(async () => {
    await c?.device.close();
    rmSync(base, { recursive: true, force: true });
  });

  const hostGet = async (path: string, name: string): Promise<string> => String(await api!.getxattr(path, Buffer.from(name), XATTR_SIZE_MAX));

  it('SETXATTR, GETXATTR (length query and value), LISTXATTR, REMOVEXATTR on a file and a directory', async () => {
    for (const [name, host] of [['f', join(share, 'f')], ['d', join(share, 'd')]] as const) {
      const n = (await c.lookup(ROOT, name)).nodeid;
      await c.ok(OP.SETXATTR, n, setxIn('user.colour', 'blue'));
      await c.ok(OP.SETXATTR, n, setxIn('user.empty', ''));
      expect(await hostGet(host, 'user.colour')).to.equal('blue');
      expect(u32(await c.ok(OP.GETXATTR, n, getxIn(0, 'user.colour')))).to.equal(4);
      expect(Buffer.from(await c.ok(OP.GETXATTR, n, getxIn(64, 'user.colour'))).toString()).to.equal('blue');
      expect((await c.ok(OP.GETXATTR, n, getxIn(64, 'user.empty'))).length).to.equal(0);
      const len = u32(await c.ok(OP.LISTXATTR, n, listxIn(0)));
      const list = await c.ok(OP.LISTXATTR, n, listxIn(len));
      expect(list.length).to.equal(len);
      expect(names(list)).to.include.members(['user.colour', 'user.empty']);
      await c.ok(OP.REMOVEXATTR, n, enc('user.colour'));
      expect((await c.call(OP.GETXATTR, n, getxIn(64, 'user.colour'))).error).to.equal(E.NODATA);
      expect(names(await c.ok(OP.LISTXATTR, n, listxIn(4096)))).to.not.include('user.colour');
    }
  });

  it('answers ERANGE to a buffer too small, EEXIST / ENODATA to CREATE / REPLACE, ENODATA to a missing name', async () => {
    const n = (await c.lookup(ROOT, 'f')).nodeid;
    await c.ok(OP.SETXATTR, n, setxIn('user.a', 'hello', XATTR.CREATE));
    expect((await c.call(OP.GETXATTR, n, getxIn(4, 'user.a'))).error).to.equal(E.RANGE);
    expect((await c.call(OP.LISTXATTR, n, listxIn(3))).error).to.equal(E.RANGE);
    expect((await c.call(OP.SETXATTR, n, setxIn('user.a', 'again', XATTR.CREATE))).error).to.equal(E.EXIST);
    expect((await c.call(OP.SETXATTR, n, setxIn('user.none', 'x', XATTR.REPLACE))).error).to.equal(E.NODATA);
    await c.ok(OP.SETXATTR, n, setxIn('user.a', 'replaced', XATTR.REPLACE));
    expect(await hostGet(join(share, 'f'), 'user.a')).to.equal('replaced');
    expect((await c.call(OP.GETXATTR, n, getxIn(0, 'user.none'))).error).to.equal(E.NODATA);
    expect((await c.call(OP.REMOVEXATTR, n, enc('user.none'))).error).to.equal(E.NODATA);
    // A reply buffer too small for the value is ERANGE too, whatever size the guest claimed.
    const big = await c.call(OP.GETXATTR, n, getxIn(4096, 'user.a'), 16 + 3);
    expect(big.error).to.equal(E.RANGE);
  });

  it('caps names at 255 bytes and values at 64 KiB, refuses unknown flags and truncated bodies', async () => {
    const n = (await c.lookup(ROOT, 'f')).nodeid;
    const long = 'user.' + 'x'.repeat(251);
    expect((await c.call(OP.SETXATTR, n, setxIn(long, 'v'))).error).to.equal(E.RANGE);
    expect((await c.call(OP.GETXATTR, n, getxIn(0, long))).error).to.equal(E.RANGE);
    expect((await c.call(OP.REMOVEXATTR, n, enc(long))).error).to.equal(E.RANGE);
    expect((await c.call(OP.SETXATTR, n, setxIn('', 'v'))).error).to.equal(E.RANGE);
    const ok255 = 'user.' + 'y'.repeat(250);
    const r = await c.call(OP.SETXATTR, n, setxIn(ok255, 'v'));
    expect(r.error).to.equal(0);
    expect(await hostGet(join(share, 'f'), ok255)).to.equal('v');
    expect((await c.call(OP.SETXATTR, n, setxIn('user.big', new Uint8Array(XATTR_SIZE_MAX + 1)))).error).to.equal(E.TOOBIG);
    expect((await c.call(OP.SETXATTR, n, setxIn('user.flags', 'v', 4))).error).to.equal(E.INVAL);
    // size claims more value bytes than the body carries
    expect((await c.call(OP.SETXATTR, n, new Writer().u32(100).u32(0).bytes(enc('user.t')).bytes(Buffer.from('short')).done())).error).to.equal(E.INVAL);
    expect((await c.call(OP.GETXATTR, n, new Writer().u32(0).u32(0).bytes(Buffer.from('user.noterm')).done())).error).to.equal(E.INVAL);
    expect((await c.call(OP.GETXATTR, 999n, getxIn(0, 'user.a'))).error).to.equal(E.STALE);
  });

  it('a read-only share reads xattrs and answers EROFS to SETXATTR and REMOVEXATTR', async () => {
    await api!.setxattr(join(share, 'f'), Buffer.from('user.keep'), Buffer.from('kept'), 0);
    await c.device.close();
    c = await FuseClient.start(share, { readonly: true });
    const n = (await c.lookup(ROOT, 'f')).nodeid;
    expect(Buffer.from(await c.ok(OP.GETXATTR, n, getxIn(64, 'user.keep'))).toString()).to.equal('kept');
    expect(names(await c.ok(OP.LISTXATTR, n, listxIn(4096)))).to.include('user.keep');
    expect((await c.call(OP.SETXATTR, n, setxIn('user.keep', 'changed'))).error).to.equal(E.ROFS);
    expect((await c.call(OP.SETXATTR, n, setxIn('user.new', 'x'))).error).to.equal(E.ROFS);
    expect((await c.call(OP.REMOVEXATTR, n, enc('user.keep'))).error).to.equal(E.ROFS);
    expect(await hostGet(join(share, 'f'), 'user.keep')).to.equal('kept');
    expect(names(await api!.listxattr(join(share, 'f'), 4096) as Buffer)).to.deep.equal(['user.keep']);
  });

  it('a symlink to an outside file never reads or writes that file\'s xattrs', async () => {
    symlinkSync(join(outside, 'secret'), join(share, 'link'));
    symlinkSync(outside, join(share, 'outdir'));
    const link = (await c.lookup(ROOT, 'link')).nodeid;
    // The attributes are those of the link itself (none; Linux refuses user.* on symlinks).
    expect((await c.call(OP.GETXATTR, link, getxIn(64, 'user.secret'))).error).to.equal(E.NODATA);
    expect(names(await c.ok(OP.LISTXATTR, link, listxIn(4096)))).to.not.include('user.secret');
    const set = await c.call(OP.SETXATTR, link, setxIn('user.secret', 'overwritten'));
    expect(set.error).to.be.oneOf(process.platform === 'linux' ? [E.PERM] : [0, E.PERM]);
    expect((await c.call(OP.REMOVEXATTR, link, enc('user.secret'))).error).to.be.oneOf([E.NODATA, E.PERM]);
    const outdir = (await c.lookup(ROOT, 'outdir')).nodeid;
    expect((await c.call(OP.LOOKUP, outdir, enc('secret'))).error).to.equal(E.ACCES);
    expect(await hostGet(join(outside, 'secret'), 'user.secret')).to.equal('outside value');
    expect(readFileSync(join(outside, 'secret'), 'utf8')).to.equal('secret');
  });

  it('a directory swapped for a symlink to the outside on the host: its children are refused', async () => {
    const d = (await c.lookup(ROOT, 'd')).nodeid;
    const inner = (await c.lookup(d, 'inner')).nodeid;
    rmSync(join(share, 'd'), { recursive: true });
    symlinkSync(outside, join(share, 'd'));
    writeFileSync(join(outside, 'inner'), 'outside inner');
    await api!.setxattr(join(outside, 'inner'), Buffer.from('user.secret'), Buffer.from('outside value'), 0);
    expect((await c.call(OP.GETXATTR, inner, getxIn(64, 'user.secret'))).error).to.equal(E.ACCES);
    expect((await c.call(OP.LISTXATTR, inner, listxIn(4096))).error).to.equal(E.ACCES);
    expect((await c.call(OP.SETXATTR, inner, setxIn('user.secret', 'overwritten'))).error).to.equal(E.ACCES);
    expect((await c.call(OP.REMOVEXATTR, inner, enc('user.secret'))).error).to.equal(E.ACCES);
    expect((await c.call(OP.GETXATTR, d, getxIn(64, 'user.secret'))).error).to.equal(E.STALE);
    expect(await hostGet(join(outside, 'inner'), 'user.secret')).to.equal('outside value');
  });

  it('without the addon every xattr request is ENOSYS (the guest kernel stops asking, programs see ENOTSUP)', async () => {
    await c.device.close();
    c = await FuseClient.start(share, { xattrs: false });
    const n = (await c.lookup(ROOT, 'f')).nodeid;
    expect(c.device.hostFs.xattrsAvailable).to.equal(false);
    expect((await c.call(OP.GETXATTR, n, getxIn(0, 'user.x'))).error).to.equal(E.NOSYS);
    expect((await c.call(OP.LISTXATTR, n, listxIn(0))).error).to.equal(E.NOSYS);
    expect((await c.call(OP.SETXATTR, n, setxIn('user.x', 'v'))).error).to.equal(E.NOSYS);
    expect((await c.call(OP.REMOVEXATTR, n, enc('user.x'))).error).to.equal(E.NOSYS);
  });
});
