// The nodevisor_hostfs addon (native/hostfs/): extended attributes for virtio-fs and hole
// punching for virtio-blk, which Node's fs lacks. Every call runs on the libuv threadpool and
// returns a Promise. Loaded lazily on first use; when it cannot be loaded the error names every
// path tried and why, and callers fall back (virtio-fs: no xattrs; virtio-blk: DISCARD is a no-op).
import { addonCandidatePaths, errnoName, loadAddon, type AddonLoadOptions, type AddonSpec } from './native-addon.ts';

export const HOSTFS_ADDON_NAME = 'nodevisor_hostfs';
/** native/hostfs/addon.cc kAbiVersion; other versions are refused. */
export const HOSTFS_ABI_VERSION = 1;
/** Flags of setxattr as Linux spells them (the addon translates for macOS). */
export const XATTR_CREATE = 1;
export const XATTR_REPLACE = 2;

/**
 * A target is an open fd (f*xattr) or a host path whose last component is never followed
 * (l*xattr, XATTR_NOFOLLOW); the caller confines the path. Errors carry the host errno, its
 * name as `code` (so fs-style errno mapping works) and the syscall. macOS ENOATTR is ENODATA.
 */
export interface NativeHostfs {
  abiVersion: number;
  /** Largest size / value the addon accepts (64 KiB). */
  maxBuffer: number;
  /** size 0: the value's length; else the value (ERANGE when longer than size). */
  getxattr(target: number | string, name: Buffer, size: number): Promise<number | Buffer>;
  setxattr(target: number | string, name: Buffer, value: Buffer, flags: number): Promise<void>;
  /** NUL-separated names; size 0: the list's length. */
  listxattr(target: number | string, size: number): Promise<number | Buffer>;
  removexattr(target: number | string, name: Buffer): Promise<void>;
  /** Deallocates a range, keeping the size; resolves with the range actually punched (macOS: block-aligned inward). */
  punchHole(fd: number, offset: number, length: number): Promise<{ offset: number; length: number }>;
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

/** Wraps each call so a rejection carries `code` (ENOENT...) next to the numeric errno. */
function withCodes(m: NativeHostfs): NativeHostfs {
  const named = (e: unknown): never => {
    const x = e as Partial<HostfsErrnoError>;
    if (typeof x?.errno === 'number' && !x.code) x.code = errnoName(x.errno);
    throw e;
  };
  return {
    abiVersion: m.abiVersion,
    maxBuffer: m.maxBuffer,
    getxattr: (t, n, s) => m.getxattr(t, n, s).catch(named),
    setxattr: (t, n, v, f) => m.setxattr(t, n, v, f).catch(named),
    listxattr: (t, s) => m.listxattr(t, s).catch(named),
    removexattr: (t, n) => m.removexattr(t, n).catch(named),
    punchHole: (fd, o, l) => m.punchHole(fd, o, l).catch(named),
  };
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
