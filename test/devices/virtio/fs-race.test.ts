// A host process races the share: a child process keeps swapping a directory inside the share
// for a symlink to a sentinel directory outside it, while the VMM's HostFs works inside that
// directory (create, open, write, setattr, getattr, xattrs, rename, readdir, mkdir, symlink,
// link, mknod, unlink) on the same names the sentinel holds. With the nodevisor_hostfs addon no
// call may act outside: the sentinel's names, contents, xattrs and every timestamp (atime
// included: the times are set so that any read moves it) stay as they were. (The path-checked
// fallback, HostFsOptions.beneath = false, fails this test: the swapper wins within a few rounds.)
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync, type BigIntStats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostFs } from '../../../src/devices/virtio/fs/host-fs.ts';
import { FATTR, errnoOf } from '../../../src/devices/virtio/fs/wire.ts';
import { VirtioFs } from '../../../src/devices/virtio/fs/device.ts';
import { tryLoadHostfs } from '../../../src/host/hostfs-native.ts';

const ROOT = 1n;
const ITERATIONS = 2000;
const WORKERS = 2;
const L_O_RDWR = 2;
const L_O_CREAT = 0o100;
const L_O_TRUNC = 0o1000;

/** The swapper: victim/ <-> a symlink to the sentinel, by renames, in batches so SIGTERM is heard. It prints its swap count on exit. */
const SWAPPER = `
const fs = require('node:fs');
const [share, outside] = process.argv.slice(1);
process.chdir(share);
fs.symlinkSync(outside, 'victim.evil');
let swaps = 0;
process.on('SIGTERM', () => { process.stdout.write(String(swaps)); process.exit(0); });
const batch = () => {
  for (let i = 0; i < 50; i++) {
    try {
      fs.renameSync('victim', 'victim.real');
      fs.renameSync('victim.evil', 'victim');
      fs.renameSync('victim', 'victim.evil');
      fs.renameSync('victim.real', 'victim');
      swaps++;
    } catch {}
  }
  setImmediate(batch);
};
process.stdout.write('ready\\n');
batch();
`;

const SENTINEL_PATHS = ['', 'f', 'sub', 'sub/inner'];
type Snapshot = Record<string, Pick<BigIntStats, 'ino' | 'mode' | 'nlink' | 'uid' | 'gid' | 'size' | 'atimeNs' | 'mtimeNs' | 'ctimeNs'>>;

/** lstat only (no reads, no listings): what a later comparison needs, without moving any atime. */
function snapshot(outside: string): Snapshot {
  const out: Snapshot = {};
  for (const p of SENTINEL_PATHS) {
    const st = lstatSync(join(outside, p), { bigint: true });
    out[p] = { ino: st.ino, mode: st.mode, nlink: st.nlink, uid: st.uid, gid: st.gid, size: st.size, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
  }
  return out;
}

describe('virtio-fs against a host process racing the share', function () {
  this.timeout(300_000);
  const loaded = tryLoadHostfs();
  let base: string;
  let share: string;
  let outside: string;
  let swapper: ChildProcess | undefined;
  let xattrsOnHost = false;

  before(function () {
    if (!loaded.addon) {
      this.test!.parent!.title += ` (skipped: ${loaded.error})`;
      this.skip();
    }
  });

  beforeEach(async () => {
    base = mkdtempSync(join(tmpdir(), 'nodevisor-fsrace-'));
    share = join(base, 'share');
    outside = join(base, 'outside');
    mkdirSync(join(share, 'victim'), { recursive: true });
    writeFileSync(join(share, 'victim', 'f'), 'inside');
    mkdirSync(join(outside, 'sub'), { recursive: true });
    writeFileSync(join(outside, 'f'), 'sentinel f');
    writeFileSync(join(outside, 'sub', 'inner'), 'sentinel inner');
    try {
      await loaded.addon!.setxattr(join(outside, 'f'), Buffer.from('user.k'), Buffer.from('outside'), 0);
      xattrsOnHost = true;
    } catch {
      xattrsOnHost = false;
    }
    // atime before mtime: under relatime (and strictatime) any read of a file or listing of a directory moves its atime.
    for (const p of [...SENTINEL_PATHS].reverse()) utimesSync(join(outside, p), 1_000_000_000, 1_500_000_000);
  });

  afterEach(() => {
    if (swapper && swapper.exitCode === null) swapper.kill('SIGKILL');
    swapper = undefined;
    rmSync(base, { recursive: true, force: true });
  });

  /** Starts the swapper and resolves once it is looping; stop() resolves with its swap count. */
  async function startSwapper(): Promise<{ stop(): Promise<number> }> {
    const child = spawn(process.execPath, ['-e', SWAPPER, share, outside], { stdio: ['ignore', 'pipe', 'inherit'] });
    swapper = child;
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`swapper exited early (${code})`)));
      const check = (): void => (out.includes('ready\n') ? resolve() : void setTimeout(check, 5));
      check();
    });
    return {
      stop: () => new Promise<number>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve(Number(out.slice(out.indexOf('ready\n') + 6)) || 0));
        child.kill('SIGTERM');
      }),
    };
  }

  for (const resolver of process.platform === 'linux' ? ['openat2', 'walk'] : ['walk']) it(`${ITERATIONS} rounds of requests while the host swaps their directory for a symlink outside (${resolver}): nothing outside is created, changed, read or removed`, async () => {
    loaded.addon!.forceWalk(resolver === 'walk');
    expect(loaded.addon!.resolver()).to.equal(resolver);
    const before = snapshot(outside);
    const fs = await HostFs.open(share);
    expect(fs.raceFree).to.equal(true);
    const victim = (await fs.lookup(ROOT, 'victim')).id;
    const outcomes = new Map<string, number>();
    const count = (op: string, errno: number): void => {
      const k = `${op}:${errno}`;
      outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
    };
    /** Runs one request, counting how it ended; ids it returns are forgotten after the round. */
    const taken: bigint[] = [];
    const attempt = async <T>(op: string, f: () => Promise<T>): Promise<T | undefined> => {
      try {
        const r = await f();
        count(op, 0);
        const id = (r as { id?: bigint } | undefined)?.id;
        if (typeof id === 'bigint') taken.push(id);
        return r;
      } catch (e) {
        count(op, errnoOf(e));
        return undefined;
      }
    };
    const swaps = await startSwapper();
    const data = new Uint8Array(Buffer.from('written by the guest'));
    const round = async (w: number): Promise<void> => {
      const created = await attempt('create', () => fs.create(victim, 'f', L_O_RDWR | L_O_CREAT, 0o644));
      if (created) {
        await attempt('write', () => fs.write(created.fh, 0, data));
        await attempt('release', () => fs.release(created.fh));
      }
      const f = await attempt('lookup', () => fs.lookup(victim, 'f'));
      if (f) {
        const fh = await attempt('open', () => fs.open(f.id, L_O_RDWR | L_O_TRUNC));
        if (fh !== undefined) {
          await attempt('write', () => fs.write(fh, 0, data));
          await attempt('read', () => fs.read(fh, 0, 64));
          await attempt('release', () => fs.release(fh));
        }
        await attempt('setattr', () => fs.setattr(f.id, {
          valid: FATTR.MODE | FATTR.SIZE | FATTR.ATIME | FATTR.MTIME | FATTR.UID | FATTR.GID, fh: 0n, size: 3,
          atime: 42n, mtime: 43n, atimensec: 0, mtimensec: 0, mode: 0o600, uid: process.getuid!(), gid: process.getgid!(),
        }));
        await attempt('getattr', () => fs.getattr(f.id));
        await attempt('access', () => fs.access(f.id, 6));
        await attempt('readlink', () => fs.readlink(f.id));
        if (xattrsOnHost) {
          await attempt('setxattr', () => fs.setxattr(f.id, Buffer.from('user.k'), Buffer.from('guest'), 0));
          await attempt('getxattr', () => fs.getxattr(f.id, Buffer.from('user.k'), 64));
          await attempt('listxattr', () => fs.listxattr(f.id, 4096));
          await attempt('removexattr', () => fs.removexattr(f.id, Buffer.from('user.k')));
        }
        await attempt('link', () => fs.link(f.id, victim, `hl${w}`));
        await attempt('unlink', () => fs.unlink(victim, `hl${w}`, false));
      }
      await attempt('rename', () => fs.rename(victim, 'f', victim, 'g', 0));
      await attempt('rename', () => fs.rename(victim, 'g', victim, 'f', 0));
      await attempt('rename', () => fs.rename(victim, 'sub', victim, 'moved', 0));
      const dh = await attempt('opendir', () => fs.opendir(victim));
      if (dh !== undefined) {
        const h = fs.dirHandle(dh);
        for (const e of h.entries.slice(0, 6)) await attempt('readdir-stat', () => fs.entryStat(h, e.name));
        await attempt('releasedir', () => fs.release(dh));
      }
      await attempt('statfs', () => fs.statfs(victim));
      await attempt('mkdir', () => fs.mkdir(victim, `made${w}`, 0o755));
      await attempt('rmdir', () => fs.unlink(victim, `made${w}`, true));
      await attempt('rmdir', () => fs.unlink(victim, 'sub', true));
      await attempt('symlink', () => fs.symlink(victim, `ln${w}`, '/etc/passwd'));
      await attempt('unlink', () => fs.unlink(victim, `ln${w}`, false));
      await attempt('mknod', () => fs.mknod(victim, `node${w}`, 0o100644));
      await attempt('unlink', () => fs.unlink(victim, `node${w}`, false));
      await attempt('unlink', () => fs.unlink(victim, 'f', false));
    };
    try {
      for (let i = 0; i < ITERATIONS / WORKERS; i++) {
        await Promise.all([...Array(WORKERS).keys()].map((w) => round(w)));
        for (const id of taken.splice(0)) fs.forget(id, 1n);
      }
    } finally {
      loaded.addon!.forceWalk(false);
      const n = await swaps.stop();
      await fs.close();
      // The race was real: the swapper ran throughout and some requests met the symlink (EACCES) while others went through.
      const total = (errno: number): number => [...outcomes].filter(([k]) => k.endsWith(`:${errno}`)).reduce((a, [, v]) => a + v, 0);
      expect(n, 'swaps').to.be.greaterThan(100);
      expect(total(13), `EACCES outcomes in ${JSON.stringify([...outcomes])}`).to.be.greaterThan(20);
      expect(total(0), 'successes').to.be.greaterThan(100);
    }
    expect(snapshot(outside)).to.deep.equal(before);
    expect(readdirSync(outside).sort()).to.deep.equal(['f', 'sub']);
    expect(readdirSync(join(outside, 'sub'))).to.deep.equal(['inner']);
    expect(readFileSync(join(outside, 'f'), 'utf8')).to.equal('sentinel f');
    expect(readFileSync(join(outside, 'sub', 'inner'), 'utf8')).to.equal('sentinel inner');
    if (xattrsOnHost) expect((await loaded.addon!.getxattr(join(outside, 'f'), Buffer.from('user.k'), 64)).toString()).to.equal('outside');
  });

  it('without the addon the share still works, says once that it has no race protection, and reports raceFree false', async () => {
    const warnings: string[] = [];
    const log = { warn: (m: string) => warnings.push(m), debug: () => undefined, info: () => undefined, error: () => undefined };
    const a = new VirtioFs(await HostFs.open(share, { beneath: false }), { tag: 'a', log });
    // Once per process: an earlier test of this run may already have given it, and no later share repeats it.
    expect(warnings.filter((m) => /not loaded, so shares are confined by path checks that a host process .* can race/.test(m)).length).to.be.at.most(1);
    const given = warnings.length;
    const b = new VirtioFs(await HostFs.open(share, { beneath: false }), { tag: 'b', log });
    expect(warnings.length).to.equal(given);
    expect(a.hostFs.raceFree).to.equal(false);
    expect((await a.hostFs.lookup(ROOT, 'victim')).attr.mode & 0o170000).to.equal(0o040000);
    await a.close();
    await b.close();
  });
});
