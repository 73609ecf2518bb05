// The nodevisor_hostfs calls on names beneath a share root (native/hostfs/at_ops.cc), each with
// both resolvers: openat2 (where the kernel has it) and the openat(O_NOFOLLOW) walk used on
// macOS and older kernels. A temp folder holds the share and, beside it, an "outside" folder
// that symlinks in the share point at; nothing there may ever be touched.
import { expect } from 'chai';
import {
  constants as C, closeSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync,
  rmSync, statSync, symlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, RESOLVE_SYSCALL, tryLoadHostfs, type Beneath, type NativeHostfs } from '../../src/host/hostfs-native.ts';

type Errno = NodeJS.ErrnoException;
const failure = (p: Promise<unknown>): Promise<Errno> => p.then(() => { throw new Error('expected a rejection'); }, (e: Errno) => e);

describe('nodevisor_hostfs calls beneath a root', () => {
  const loaded = tryLoadHostfs();
  const api = loaded.addon as NativeHostfs;

  before(function () {
    if (!loaded.addon) {
      this.test!.parent!.title += ` (skipped: ${loaded.error})`;
      this.skip();
    }
  });

  for (const resolver of process.platform === 'linux' ? ['openat2', 'walk'] : ['walk']) {
    describe(`resolving by ${resolver}`, () => {
      let base: string;
      let share: string;
      let outside: string;
      let root: number;
      const at = (dir: string, name: string): Beneath => ({ root, dir, name });
      /** Fails unless the rejection came from resolving the parent (a symlink on the way). */
      const expectRefusedOnTheWay = async (p: Promise<unknown>): Promise<void> => {
        const e = await failure(p);
        expect(e.code).to.equal('ELOOP');
        expect(e.syscall).to.equal(RESOLVE_SYSCALL);
      };

      before(() => api.forceWalk(resolver === 'walk'));
      after(() => api.forceWalk(false));

      beforeEach(async () => {
        base = mkdtempSync(join(tmpdir(), 'nodevisor-beneath-'));
        share = join(base, 'share');
        outside = join(base, 'outside');
        mkdirSync(join(share, 'd', 'e'), { recursive: true });
        mkdirSync(outside);
        writeFileSync(join(share, 'f'), 'data');
        writeFileSync(join(share, 'd', 'g'), 'g');
        writeFileSync(join(outside, 'secret'), 'secret');
        symlinkSync(outside, join(share, 'out')); // a directory leading outside
        symlinkSync('d', join(share, 'ind')); // a directory link that stays inside
        symlinkSync(join(outside, 'secret'), join(share, 'secretlink'));
        root = await api.openRoot(share);
        expect(api.resolver()).to.equal(resolver);
      });

      afterEach(() => {
        closeSync(root);
        expect(readdirSync(outside)).to.deep.equal(['secret']);
        expect(readFileSync(join(outside, 'secret'), 'utf8')).to.equal('secret');
        rmSync(base, { recursive: true, force: true });
      });

      it('openRoot: a directory fd; ENOENT and ENOTDIR otherwise', async () => {
        expect(fstatSync(root).isDirectory()).to.equal(true);
        expect((await failure(api.openRoot(join(base, 'missing')))).code).to.equal('ENOENT');
        expect((await failure(api.openRoot(join(share, 'f')))).code).to.equal('ENOTDIR');
        expect(() => api.openRoot('')).to.throw(TypeError);
      });

      it('refuses absolute, dotted and slashed names as TypeErrors before any call', () => {
        const bad: Beneath[] = [
          at('/etc', 'passwd'), at('', '/etc'), at('d', 'a/b'), at('..', 'x'), at('d/..', 'x'), at('d', '..'), at('./d', 'g'),
          at('d//e', 'x'), at('d/', 'g'), at('', ''), at('d', 'a\0b'), at('d\0', 'g'), { root: -1, dir: '', name: 'f' },
          at('', 'x'.repeat(256)),
        ];
        for (const b of bad) {
          expect(() => api.stat(b), JSON.stringify(b)).to.throw(TypeError);
          expect(() => api.open(b, C.O_RDONLY, 0), JSON.stringify(b)).to.throw(TypeError);
          expect(() => api.mkdir(b, 0o755), JSON.stringify(b)).to.throw(TypeError);
          expect(() => api.unlink(b, false), JSON.stringify(b)).to.throw(TypeError);
          expect(() => api.rename(b, at('', 'z'), 0), JSON.stringify(b)).to.throw(TypeError);
          expect(() => api.getxattr(b, Buffer.from('user.a'), 0), JSON.stringify(b)).to.throw(TypeError);
        }
        // '.' names the directory itself for calls on an existing node, never for ones that make or remove names.
        for (const f of [() => api.mkdir(at('d', '.'), 0o755), () => api.unlink(at('d', '.'), true), () => api.symlink('x', at('', '.')),
          () => api.link(at('', 'f'), at('d', '.')), () => api.rename(at('d', '.'), at('', 'z'), 0), () => api.mkfifo(at('', '.'), 0o600),
          () => api.readlink(at('', '.'))]) expect(f).to.throw(TypeError);
        expect(() => api.rename(at('', 'f'), at('', 'z'), RENAME_NOREPLACE | RENAME_EXCHANGE)).to.throw(TypeError);
        expect(() => api.utimens(at('', 'f'), 1 as unknown as bigint, null)).to.throw(TypeError);
        expect(() => api.symlink('', at('', 'l'))).to.throw(TypeError);
      });

      it('every call under a missing directory, or through a symlinked one, fails in the resolution (ENOENT, ELOOP)', async () => {
        const calls = (dir: string): [string, () => Promise<unknown>][] => [
          ['open', () => api.open(at(dir, 'x'), C.O_RDONLY, 0)], ['stat', () => api.stat(at(dir, 'x'))],
          ['mkdir', () => api.mkdir(at(dir, 'x'), 0o755)], ['mkfifo', () => api.mkfifo(at(dir, 'x'), 0o600)],
          ['symlink', () => api.symlink('t', at(dir, 'x'))], ['readlink', () => api.readlink(at(dir, 'x'))],
          ['link', () => api.link(at(dir, 'x'), at('', 'y'))], ['link to', () => api.link(at('', 'f'), at(dir, 'x'))],
          ['unlink', () => api.unlink(at(dir, 'x'), false)], ['rename', () => api.rename(at(dir, 'x'), at('', 'y'), 0)],
          ['rename to', () => api.rename(at('', 'f'), at(dir, 'x'), 0)], ['chown', () => api.chown(at(dir, 'x'), -1, -1)],
          ['utimens', () => api.utimens(at(dir, 'x'), 'now', 'now')], ['access', () => api.access(at(dir, 'x'), 0)],
          ['statfs', () => api.statfs(at(dir, 'x'))], ['readdir', () => api.readdir(at(dir, 'x'), 10)],
          ['getxattr', () => api.getxattr(at(dir, 'x'), Buffer.from('user.a'), 0)], ['listxattr', () => api.listxattr(at(dir, 'x'), 0)],
          ['setxattr', () => api.setxattr(at(dir, 'x'), Buffer.from('user.a'), Buffer.from('v'), 0)],
          ['removexattr', () => api.removexattr(at(dir, 'x'), Buffer.from('user.a'))],
        ];
        for (const [dir, code] of [['nope', 'ENOENT'], ['d/nope', 'ENOENT'], ['out', 'ELOOP'], ['d/e/gone/x', 'ENOENT']]) {
          for (const [name, call] of calls(dir)) {
            const e = await failure(call());
            expect([e.code, e.syscall], `${name} under ${dir}`).to.deep.equal([code, RESOLVE_SYSCALL]);
          }
        }
        expect(readFileSync(join(share, 'f'), 'utf8')).to.equal('data');
      });

      it('stat: no-follow, the same numbers as lstat; ENOENT; ELOOP through a symlink on the way, even one that stays inside', async () => {
        const st = await api.stat(at('d', 'g'));
        const want = lstatSync(join(share, 'd', 'g'), { bigint: true });
        for (const k of ['dev', 'ino', 'mode', 'nlink', 'uid', 'gid', 'size', 'blocks', 'mtimeNs', 'ctimeNs'] as const) expect(st[k], k).to.equal(want[k]);
        expect(Number((await api.stat(at('', 'secretlink'))).mode) & 0o170000).to.equal(0o120000);
        expect((await api.stat(at('', '.'))).ino).to.equal(lstatSync(share, { bigint: true }).ino);
        expect((await api.stat(at('d/e', '.'))).ino).to.equal(lstatSync(join(share, 'd', 'e'), { bigint: true }).ino);
        const missing = await failure(api.stat(at('d', 'nope')));
        expect([missing.code, missing.syscall]).to.deep.equal(['ENOENT', 'fstatat']);
        expect((await failure(api.stat(at('nope', 'x')))).syscall).to.equal(RESOLVE_SYSCALL);
        await expectRefusedOnTheWay(api.stat(at('out', 'secret')));
        await expectRefusedOnTheWay(api.stat(at('ind', 'g')));
        expect((await failure(api.stat(at('f', 'x')))).code).to.equal('ENOTDIR');
      });

      it('open: never follows the name; creates only beneath; an fd Node can use', async () => {
        expect((await failure(api.open(at('', 'secretlink'), C.O_RDONLY, 0))).code).to.equal('ELOOP');
        expect((await failure(api.open(at('', 'secretlink'), C.O_WRONLY | C.O_CREAT, 0o644))).code).to.equal('ELOOP');
        await expectRefusedOnTheWay(api.open(at('out', 'new'), C.O_WRONLY | C.O_CREAT, 0o644));
        await expectRefusedOnTheWay(api.open(at('out', 'secret'), C.O_RDWR | C.O_TRUNC, 0));
        const fd = await api.open(at('d', 'made'), C.O_RDWR | C.O_CREAT | C.O_EXCL, 0o600);
        writeSync(fd, 'hello');
        closeSync(fd);
        expect(readFileSync(join(share, 'd', 'made'), 'utf8')).to.equal('hello');
        expect((await failure(api.open(at('d', 'made'), C.O_WRONLY | C.O_CREAT | C.O_EXCL, 0o600))).code).to.equal('EEXIST');
        const dfd = await api.open(at('d', '.'), C.O_RDONLY | C.O_DIRECTORY, 0);
        expect(fstatSync(dfd).ino).to.equal(statSync(join(share, 'd')).ino);
        closeSync(dfd);
        expect((await failure(api.open(at('', 'missing'), C.O_RDONLY, 0))).code).to.equal('ENOENT');
      });

      it('mkdir, mkfifo, symlink, readlink', async () => {
        await api.mkdir(at('d', 'm'), 0o750);
        expect(lstatSync(join(share, 'd', 'm')).isDirectory()).to.equal(true);
        expect((await failure(api.mkdir(at('d', 'm'), 0o750))).code).to.equal('EEXIST');
        expect((await failure(api.mkdir(at('', 'secretlink'), 0o750))).code).to.equal('EEXIST'); // never through a symlink
        await expectRefusedOnTheWay(api.mkdir(at('out', 'evil'), 0o755));
        await api.mkfifo(at('d', 'fifo'), 0o600);
        expect(lstatSync(join(share, 'd', 'fifo')).isFIFO()).to.equal(true);
        await expectRefusedOnTheWay(api.mkfifo(at('out', 'fifo'), 0o600));
        await api.symlink('/etc/passwd', at('d', 'l'));
        expect(readlinkSync(join(share, 'd', 'l'))).to.equal('/etc/passwd');
        expect((await api.readlink(at('d', 'l'))).toString()).to.equal('/etc/passwd');
        expect((await failure(api.readlink(at('d', 'g')))).code).to.equal('EINVAL');
        await expectRefusedOnTheWay(api.symlink('x', at('out', 'l')));
        await expectRefusedOnTheWay(api.readlink(at('out', 'secret')));
      });

      it('link: the symlink itself, never its target; unlink and rmdir', async () => {
        await api.link(at('', 'f'), at('d', 'f2'));
        expect(statSync(join(share, 'd', 'f2')).ino).to.equal(statSync(join(share, 'f')).ino);
        if (process.platform === 'linux') {
          await api.link(at('', 'secretlink'), at('d', 'l2'));
          expect(lstatSync(join(share, 'd', 'l2')).isSymbolicLink()).to.equal(true);
        }
        await expectRefusedOnTheWay(api.link(at('out', 'secret'), at('', 'stolen')));
        await expectRefusedOnTheWay(api.link(at('', 'f'), at('out', 'planted')));
        await api.unlink(at('d', 'f2'), false);
        expect(readdirSync(join(share, 'd'))).to.not.include('f2');
        expect((await failure(api.unlink(at('', 'd'), true))).code).to.equal('ENOTEMPTY');
        await api.unlink(at('d', 'e'), true);
        expect((await failure(api.unlink(at('d', 'e'), true))).code).to.equal('ENOENT');
        await api.unlink(at('', 'out'), false); // removes the link, not what it points at
        expect(lstatSync(outside).isDirectory()).to.equal(true);
        symlinkSync(outside, join(share, 'out'));
        await expectRefusedOnTheWay(api.unlink(at('out', 'secret'), false));
      });

      it('rename: plain, RENAME_NOREPLACE (EEXIST), RENAME_EXCHANGE; never out of or into a symlinked directory', async () => {
        await api.rename(at('', 'f'), at('d', 'f'), 0);
        expect(readFileSync(join(share, 'd', 'f'), 'utf8')).to.equal('data');
        expect((await failure(api.rename(at('d', 'f'), at('d', 'g'), RENAME_NOREPLACE))).code).to.equal('EEXIST');
        expect(readFileSync(join(share, 'd', 'g'), 'utf8')).to.equal('g');
        await api.rename(at('d', 'f'), at('', 'f'), RENAME_NOREPLACE);
        await api.rename(at('', 'f'), at('d', 'g'), RENAME_EXCHANGE);
        expect(readFileSync(join(share, 'f'), 'utf8')).to.equal('g');
        expect(readFileSync(join(share, 'd', 'g'), 'utf8')).to.equal('data');
        await expectRefusedOnTheWay(api.rename(at('out', 'secret'), at('', 'stolen'), 0));
        await expectRefusedOnTheWay(api.rename(at('', 'f'), at('out', 'planted'), 0));
        await api.rename(at('', 'secretlink'), at('d', 'moved'), 0); // the link moves, not its target
        expect(readlinkSync(join(share, 'd', 'moved'))).to.equal(join(outside, 'secret'));
      });

      it('chown, utimens and access act on the name itself, never a symlink\'s target', async () => {
        const before = lstatSync(join(outside, 'secret'), { bigint: true });
        const uid = process.getuid!();
        const gid = process.getgid!();
        await api.chown(at('', 'f'), uid, gid);
        await api.chown(at('', 'secretlink'), -1, -1);
        await api.chown(at('', 'secretlink'), uid, gid);
        await expectRefusedOnTheWay(api.chown(at('out', 'secret'), uid, gid));
        await api.utimens(at('', 'f'), 1_000_000_123_456_789n, 2_000_000_987_654_321n);
        const st = lstatSync(join(share, 'f'), { bigint: true });
        expect([st.atimeNs, st.mtimeNs]).to.deep.equal([1_000_000_123_456_789n, 2_000_000_987_654_321n]);
        await api.utimens(at('', 'f'), null, 'now');
        const st2 = lstatSync(join(share, 'f'), { bigint: true });
        expect(st2.atimeNs).to.equal(1_000_000_123_456_789n);
        expect(st2.mtimeNs > 2_000_000_987_654_321n).to.equal(true);
        await api.utimens(at('', 'secretlink'), 5_000_000_000n, 5_000_000_000n);
        expect(lstatSync(join(share, 'secretlink'), { bigint: true }).mtimeNs).to.equal(5_000_000_000n);
        await api.utimens(at('', 'f'), -1_500_000_000n, 0n); // before the epoch: floor division
        expect(lstatSync(join(share, 'f'), { bigint: true }).atimeNs).to.equal(-1_500_000_000n);
        await expectRefusedOnTheWay(api.utimens(at('out', 'secret'), 'now', 'now'));
        await api.access(at('', 'f'), 4);
        await api.access(at('', 'd'), 7);
        expect((await failure(api.access(at('', 'nope'), 0))).code).to.equal('ENOENT');
        await expectRefusedOnTheWay(api.access(at('out', 'secret'), 4));
        const after = lstatSync(join(outside, 'secret'), { bigint: true });
        expect([after.mtimeNs, after.atimeNs, after.uid]).to.deep.equal([before.mtimeNs, before.atimeNs, before.uid]);
      });

      it('statfs and readdir', async () => {
        const s = await api.statfs(at('', '.'));
        expect(s.bsize).to.be.greaterThan(0);
        expect(s.blocks).to.be.greaterThan(0);
        expect((await api.statfs(at('', 'd'))).blocks).to.equal(s.blocks);
        await expectRefusedOnTheWay(api.statfs(at('out', 'secret')));
        const list = await api.readdir(at('', '.'), 1000);
        const byName = new Map(list.map((e) => [e.name, e.type]));
        expect([...byName.keys()].sort()).to.deep.equal(['d', 'f', 'ind', 'out', 'secretlink']);
        expect([byName.get('d'), byName.get('f'), byName.get('out')]).to.deep.equal([4, 8, 10]);
        expect((await api.readdir(at('d', '.'), 1000)).map((e) => e.name).sort()).to.deep.equal(['e', 'g']);
        expect(await api.readdir(at('', '.'), 2)).to.have.length(2);
        expect((await failure(api.readdir(at('', 'out'), 10))).code).to.be.oneOf(['ELOOP', 'ENOTDIR']); // the name is not followed
        expect((await failure(api.readdir(at('', 'f'), 10))).code).to.equal('ENOTDIR');
        await expectRefusedOnTheWay(api.readdir(at('out', '.'), 10));
      });

      it('xattrs on a name beneath the root: a symlink\'s own, never its target\'s', async function () {
        try {
          await api.setxattr(at('', 'f'), Buffer.from('user.k'), Buffer.from('v1'), 0);
        } catch {
          this.skip(); // a temp filesystem without user.* xattrs
        }
        expect((await api.getxattr(at('', 'f'), Buffer.from('user.k'), 64)).toString()).to.equal('v1');
        expect(await api.getxattr(at('', 'f'), Buffer.from('user.k'), 0)).to.equal(2);
        expect(Buffer.from((await api.listxattr(at('', 'f'), 4096)) as Buffer).toString()).to.contain('user.k');
        await api.setxattr(at('', '.'), Buffer.from('user.root'), Buffer.from('r'), 0);
        expect((await api.getxattr(share, Buffer.from('user.root'), 64)).toString()).to.equal('r');
        await api.setxattr(join(outside, 'secret'), Buffer.from('user.k'), Buffer.from('outside'), 0);
        expect((await failure(api.getxattr(at('', 'secretlink'), Buffer.from('user.k'), 64))).code).to.be.oneOf(['ENODATA', 'EPERM']);
        expect((await failure(api.setxattr(at('', 'secretlink'), Buffer.from('user.k'), Buffer.from('x'), 0))).code).to.be.oneOf(['EPERM', 'ENOTSUP']);
        await expectRefusedOnTheWay(api.getxattr(at('out', 'secret'), Buffer.from('user.k'), 64));
        await expectRefusedOnTheWay(api.setxattr(at('out', 'secret'), Buffer.from('user.k'), Buffer.from('x'), 0));
        await expectRefusedOnTheWay(api.removexattr(at('out', 'secret'), Buffer.from('user.k')));
        await api.removexattr(at('', 'f'), Buffer.from('user.k'));
        expect((await failure(api.getxattr(at('', 'f'), Buffer.from('user.k'), 64))).code).to.equal('ENODATA');
        expect((await api.getxattr(join(outside, 'secret'), Buffer.from('user.k'), 64)).toString()).to.equal('outside');
      });
    });
  }
});
