// ShareAccess on the nodevisor_hostfs addon: the root is opened once as a directory fd; every
// call resolves the parent directory beneath it atomically (openat2 RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS, or an openat(O_NOFOLLOW) walk) and acts on one unfollowed component of
// that directory fd, so a host process swapping directories for symlinks cannot lead a call
// outside the share: it fails instead.
import { E, FuseError } from './wire.ts';
import { close } from './fd-calls.ts';
import { RENAME_NOREPLACE, RESOLVE_SYSCALL, type Beneath, type NativeHostfs, type XattrTarget } from '../../../host/hostfs-native.ts';
import type { HostDirent, HostStat, HostStatfs, Place, ShareAccess, TimeArg } from './share-access.ts';

/** A symlink on the way to the parent (ELOOP) or a way out (EXDEV) is the share's boundary: EACCES, as the path fallback answers. */
function confined<T>(p: Promise<T>): Promise<T> {
  return p.catch((e: NodeJS.ErrnoException) => {
    if (e?.syscall === RESOLVE_SYSCALL && (e.code === 'ELOOP' || e.code === 'EXDEV')) throw new FuseError(E.ACCES, `a directory on the way leads outside the share (${e.code})`);
    throw e;
  });
}

export class BeneathShare implements ShareAccess {
  readonly raceFree = true;

  private constructor(private readonly api: NativeHostfs, private readonly root: number) {}

  /** `root` is the share's real path (realpath'd by the caller). */
  static async open(api: NativeHostfs, root: string): Promise<BeneathShare> {
    return new BeneathShare(api, await api.openRoot(root));
  }

  private at(p: Place): Beneath {
    return { root: this.root, dir: p.dir, name: p.name };
  }

  stat(p: Place): Promise<HostStat> {
    return confined(this.api.stat(this.at(p)));
  }

  open(p: Place, flags: number, mode = 0): Promise<number> {
    return confined(this.api.open(this.at(p), flags, mode & 0o7777));
  }

  mkdir(p: Place, mode: number): Promise<void> {
    return confined(this.api.mkdir(this.at(p), mode & 0o7777));
  }

  mkfifo(p: Place, mode: number): Promise<void> {
    return confined(this.api.mkfifo(this.at(p), mode & 0o7777));
  }

  symlink(target: string, p: Place): Promise<void> {
    return confined(this.api.symlink(target, this.at(p)));
  }

  readlink(p: Place): Promise<Buffer> {
    return confined(this.api.readlink(this.at(p)));
  }

  link(from: Place, to: Place): Promise<void> {
    return confined(this.api.link(this.at(from), this.at(to)));
  }

  unlink(p: Place, directory: boolean): Promise<void> {
    return confined(this.api.unlink(this.at(p), directory));
  }

  rename(from: Place, to: Place, noReplace: boolean): Promise<void> {
    return confined(this.api.rename(this.at(from), this.at(to), noReplace ? RENAME_NOREPLACE : 0));
  }

  chown(p: Place, uid: number, gid: number): Promise<void> {
    return confined(this.api.chown(this.at(p), uid, gid));
  }

  utimes(p: Place, atime: TimeArg, mtime: TimeArg): Promise<void> {
    return confined(this.api.utimens(this.at(p), atime, mtime));
  }

  access(p: Place, mode: number): Promise<void> {
    return confined(this.api.access(this.at(p), mode));
  }

  statfs(p: Place): Promise<HostStatfs> {
    return confined(this.api.statfs(this.at(p)));
  }

  readdir(p: Place, max: number): Promise<HostDirent[]> {
    return confined(this.api.readdir(this.at(p), max));
  }

  byName<T>(p: Place, call: (target: XattrTarget) => Promise<T>): Promise<T> {
    return confined(call(this.at(p)));
  }

  close(): Promise<void> {
    return close(this.root);
  }
}
