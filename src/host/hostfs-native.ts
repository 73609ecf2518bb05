// The nodevisor_hostfs addon (native/hostfs/): for virtio-fs, extended attributes and calls on
// names beneath a share root that a host process cannot race out of the share; for virtio-blk,
// hole punching. Node's fs has none of them. Every call runs on the libuv threadpool and
// returns a Promise. Loaded lazily on first use; when it cannot be loaded the error names every
// path tried and why, and callers fall back (virtio-fs: path-based confinement without race
// protection and no xattrs; virtio-blk: DISCARD is a no-op).
import { addonCandidatePaths, errnoName, loadAddon, type AddonLoadOptions, type AddonSpec } from './native-addon.ts';

export const HOSTFS_ADDON_NAME = 'nodevisor_hostfs';
/** native/hostfs/addon.cc kAbiVersion; other versions are refused. */
export const HOSTFS_ABI_VERSION = 2;
/** Flags of setxattr as Linux spells them (the addon translates for macOS). */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;
/** rename flags as Linux's renameat2 spells them (the addon translates for macOS). */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
/** The `syscall` of a rejection that came from resolving the parent directory, not from the call itself. */
export const RESOLVE_SYSCALL = 'resolve';

/**
 * A name beneath a share root: `root` an fd from openRoot, `dir` '' (the root) or relative
 * components joined by '/' (none empty, '.' or '..'), `name` one component. The parent is
 * opened with no symlink followed and no way out of the root (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS on Linux, else a walk of openat(O_NOFOLLOW)): a symlink on the way
 * rejects with ELOOP, syscall 'resolve'. The name itself is never followed. Calls that act on
 * an existing node also take name '.' for `dir` itself. Malformed arguments throw TypeError.
 */
export interface Beneath {
  root: number;
  dir: string;
  name: string;
}

/** fstatat(AT_SYMLINK_NOFOLLOW), with the field names and types of Node's BigIntStats. */
export interface HostStat {
  dev: bigint; ino: bigint; mode: bigint; nlink: bigint; uid: bigint; gid: bigint; rdev: bigint;
  size: bigint; blksize: bigint; blocks: bigint; atimeNs: bigint; mtimeNs: bigint; ctimeNs: bigint;
}

export interface HostStatfs { bsize: number; blocks: number; bfree: number; bavail: number; files: number; ffree: number }
/** A directory entry; type is the DT_* value (0 when unknown). */
export interface HostDirent { name: string; type: number }
/** A time for utimens: nanoseconds since the epoch, 'now', or null to leave it. */
export type TimeArg = bigint | 'now' | null;

/**
 * An xattr target: an open fd (f*xattr), a host path whose last component is never followed
 * (l*xattr, XATTR_NOFOLLOW; the caller confines the path), or a name beneath a root. Errors carry
 * the host errno, its name as `code` (so fs-style errno mapping works) and the syscall. macOS
 * ENOATTR is ENODATA.
 */
export type XattrTarget = number | string | Beneath;

export interface NativeHostfs {
  abiVersion: number;
  /** Largest size / value the addon accepts (64 KiB). */
  maxBuffer: number;
  /** size 0: the value's length; else the value (ERANGE when longer than size). */
  getxattr(target: XattrTarget, name: Buffer, size: number): Promise<number | Buffer>;
  setxattr(target: XattrTarget, name: Buffer, value: Buffer, flags: number): Promise<void>;
  /** NUL-separated names; size 0: the list's length. */
  listxattr(target: XattrTarget, size: number): Promise<number | Buffer>;
  removexattr(target: XattrTarget, name: Buffer): Promise<void>;
  /** Deallocates a range, keeping the size; resolves with the range actually punched (macOS: block-aligned inward). */
  punchHole(fd: number, offset: number, length: number): Promise<{ offset: number; length: number }>;

  /** A share root's directory fd (the path is the caller's own and may contain symlinks); close it with fs.close. */
  openRoot(path: string): Promise<number>;
  /** openat with O_NOFOLLOW|O_CLOEXEC added to the host `flags`; an fd for Node's fd calls. */
  open(at: Beneath, flags: number, mode: number): Promise<number>;
  stat(at: Beneath): Promise<HostStat>;
  mkdir(at: Beneath, mode: number): Promise<void>;
  mkfifo(at: Beneath, mode: number): Promise<void>;
  /** The target is stored, never resolved. */
  symlink(target: string, at: Beneath): Promise<void>;
  readlink(at: Beneath): Promise<Buffer>;
  /** A symlink is linked itself (no AT_SYMLINK_FOLLOW). */
  link(from: Beneath, to: Beneath): Promise<void>;
  unlink(at: Beneath, directory: boolean): Promise<void>;
  /** flags: 0, RENAME_NOREPLACE (atomic where the filesystem has it) or RENAME_EXCHANGE. */
  rename(from: Beneath, to: Beneath, flags: number): Promise<void>;
  /** -1 leaves the id; a symlink's own owner is changed. */
  chown(at: Beneath, uid: number, gid: number): Promise<void>;
  /** A symlink's own times are set. */
  utimens(at: Beneath, atime: TimeArg, mtime: TimeArg): Promise<void>;
  /** faccessat(AT_SYMLINK_NOFOLLOW), mode as access(2)'s (R 4, W 2, X 1). */
  access(at: Beneath, mode: number): Promise<void>;
  statfs(at: Beneath): Promise<HostStatfs>;
  /** At most `max` entries, without '.' and '..'. */
  readdir(at: Beneath, max: number): Promise<HostDirent[]>;
  /** 'openat2' or 'walk': how parents are resolved now. */
  resolver(): string;
  /** Tests: resolve by the openat(O_NOFOLLOW) walk even where openat2 exists. */
  forceWalk(on: boolean): void;
}

export interface HostfsErrnoError extends Error {
  errno: number;
  code: string;
  syscall: string;
}

export class HostfsUnavailableError extends Error {
  override readonly name = 'HostfsUnavailableError';
  constructor(readonly tried: string[]) {
    super(`needs the ${HOSTFS_ADDON_NAME} native addon, which \`npm install\` builds on Linux and macOS with python3, make and a C++ compiler (retry: \`npm rebuild nodevisor\` or \`npm run build:hostfs\`); tried ${tried.join('; ')}`);
  }
}

export type HostfsLoadOptions = AddonLoadOptions;

const HOSTFS: AddonSpec<NativeHostfs> = {
  name: HOSTFS_ADDON_NAME,
  dir: 'hostfs',
  envVar: 'NODEVISOR_HOSTFS_ADDON',
  abiVersion: HOSTFS_ABI_VERSION,
  isAddon: (m): m is NativeHostfs => {
    const x = m as Partial<NativeHostfs> | null;
    return !!x && typeof x.getxattr === 'function' && typeof x.punchHole === 'function' && typeof x.abiVersion === 'number';
  },
  unavailable: (tried) => new HostfsUnavailableError(tried),
};

/** NODEVISOR_HOSTFS_ADDON, then native/hostfs's own build (scripts/install.cjs), then the package build/. */
export function hostfsCandidatePaths(root: string, env: Record<string, string | undefined> = process.env): string[] {
  return addonCandidatePaths(HOSTFS, root, env);
}

/** Wraps each async call so a rejection carries `code` (ENOENT...) next to the numeric errno. */
function withCodes(m: NativeHostfs): NativeHostfs {
  const named = (e: unknown): never => {
    const x = e as Partial<HostfsErrnoError>;
    if (typeof x?.errno === 'number' && !x.code) x.code = errnoName(x.errno);
    throw e;
  };
  const sync = new Set<string>(['resolver', 'forceWalk']);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(m)) {
    out[key] = typeof value !== 'function' || sync.has(key)
      ? value
      : (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>)(...args).catch(named);
  }
  return out as unknown as NativeHostfs;
}

let cached: { addon: NativeHostfs } | { error: HostfsUnavailableError } | undefined;

/** Loads the addon or throws HostfsUnavailableError listing each path and why it failed. */
export function loadHostfs(opts: HostfsLoadOptions = {}): NativeHostfs {
  const usingDefaults = Object.keys(opts).length === 0;
  if (usingDefaults && cached) {
    if ('addon' in cached) return cached.addon;
    throw cached.error;
  }
  try {
    const addon = loadUncached(opts);
    if (usingDefaults) cached = { addon };
    return addon;
  } catch (e) {
    if (usingDefaults && e instanceof HostfsUnavailableError) cached = { error: e };
    throw e;
  }
}

/** The addon, or undefined with the reason (for callers that fall back). */
export function tryLoadHostfs(opts: HostfsLoadOptions = {}): { addon: NativeHostfs; error?: undefined } | { addon?: undefined; error: string } {
  try {
    return { addon: loadHostfs(opts) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

function loadUncached(opts: HostfsLoadOptions): NativeHostfs {
  return withCodes(loadAddon(HOSTFS, opts));
}
