// ShareAccess on Node's path calls, for hosts without the nodevisor_hostfs addon. Before each
// call the parent directory is resolved with realpath and must lie under the root; the last
// component is then used only with calls that do not follow it (lstat, lchown, lutimes,
// O_NOFOLLOW opens, readlink, unlink, rename). The check and the call are two lookups, so a host
// process that swaps a directory for a symlink between them can win (docs/security.md).
import { constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { E, FuseError } from './wire.ts';
import { open } from './fd-calls.ts';
import type { XattrTarget } from '../../../host/hostfs-native.ts';
import type { HostDirent, HostStat, HostStatfs, Place, ShareAccess, TimeArg } from './share-access.ts';

const direntType = (d: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): number =>
  d.isFile() ? 8 : d.isDirectory() ? 4 : d.isSymbolicLink() ? 10 : d.isFIFO() ? 1 : d.isSocket() ? 12 : d.isCharacterDevice() ? 2 : d.isBlockDevice() ? 6 : 0;

export class PathShare implements ShareAccess {
  readonly raceFree = false;

  /** `root` is the share's real path. */
  constructor(private readonly root: string) {}

  private within(real: string): boolean {
    return real === this.root || real.startsWith(this.root === '/' ? '/' : this.root + '/');
  }

  /** A directory's real host path, proven to lie under the root. */
  private async realDir(rel: string): Promise<string> {
    const real = await fsp.realpath(rel === '' ? this.root : `${this.root}/${rel}`);
    if (!this.within(real)) throw new FuseError(E.ACCES, `path '${rel}' resolves outside the share`);
    return real;
  }

  private async path(p: Place): Promise<string> {
    const dir = await this.realDir(p.dir);
    return p.name === '.' ? dir : `${dir}/${p.name}`;
  }

  async stat(p: Place): Promise<HostStat> {
    return fsp.lstat(await this.path(p), { bigint: true });
  }

  async open(p: Place, flags: number, mode?: number): Promise<number> {
    return open(await this.path(p), flags | C.O_NOFOLLOW, mode);
  }

  async mkdir(p: Place, mode: number): Promise<void> {
    await fsp.mkdir(await this.path(p), { mode: mode & 0o7777 });
  }

  async mkfifo(p: Place, mode: number): Promise<void> {
    const path = await this.path(p);
    // Node has no mkfifo(); the host's mkfifo(1) makes one at the confined path.
    await new Promise<void>((res, rej) => execFile('mkfifo', ['-m', (mode & 0o777).toString(8), '--', path], (err) => (err ? rej(new FuseError(E.PERM, 'mkfifo failed')) : res())));
  }

  async symlink(target: string, p: Place): Promise<void> {
    await fsp.symlink(target, await this.path(p));
  }

  async readlink(p: Place): Promise<Buffer> {
    return fsp.readlink(await this.path(p), { encoding: 'buffer' });
  }

  async link(from: Place, to: Place): Promise<void> {
    await fsp.link(await this.path(from), await this.path(to));
  }

  async unlink(p: Place, directory: boolean): Promise<void> {
    const path = await this.path(p);
    await (directory ? fsp.rmdir(path) : fsp.unlink(path));
  }

  async rename(from: Place, to: Place, noReplace: boolean): Promise<void> {
    const src = await this.path(from);
    const dst = await this.path(to);
    await fsp.lstat(src);
    if (noReplace) {
      // Node has no renameat2(): check, then rename (a host process could slip a file in between).
      const exists = await fsp.lstat(dst).then(() => true, (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        throw e;
      });
      if (exists) throw new FuseError(E.EXIST, 'target exists');
    }
    await fsp.rename(src, dst);
  }

  async chown(p: Place, uid: number, gid: number): Promise<void> {
    await fsp.lchown(await this.path(p), uid, gid);
  }

  async utimes(p: Place, atime: TimeArg, mtime: TimeArg): Promise<void> {
    const path = await this.path(p);
    const now = Date.now() / 1000;
    const st = atime === null || mtime === null ? await fsp.lstat(path, { bigint: true }) : undefined;
    const secs = (t: TimeArg, kept: bigint | undefined): number => (t === 'now' ? now : Number(t ?? kept ?? 0n) / 1e9);
    await fsp.lutimes(path, secs(atime, st?.atimeNs), secs(mtime, st?.mtimeNs));
  }

  async access(p: Place, mode: number): Promise<void> {
    await fsp.access(await this.path(p), mode);
  }

  async statfs(p: Place): Promise<HostStatfs> {
    const s = await fsp.statfs(await this.path(p));
    return { bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree };
  }

  async readdir(p: Place, max: number): Promise<HostDirent[]> {
    const list = await fsp.readdir(await this.path(p), { withFileTypes: true });
    return list.slice(0, max).map((d) => ({ name: d.name, type: direntType(d) }));
  }

  async byName<T>(p: Place, call: (target: XattrTarget) => Promise<T>): Promise<T> {
    return call(await this.path(p));
  }

  async close(): Promise<void> {
    // nothing held
  }
}
