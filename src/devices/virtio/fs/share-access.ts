// How HostFs reaches the files of a share: every host call that takes a name goes through a
// ShareAccess, given the node's place (its parent directory below the root and its own name),
// never a host path. Two implementations: share-beneath.ts (the nodevisor_hostfs addon: each
// call is made relative to a directory fd opened beneath the root's fd, so no host process can
// race it out of the share) and share-paths.ts (Node's path calls after a realpath check; used
// when the addon is not built, with the race window docs/security.md describes).
import type { HostDirent, HostStat, HostStatfs, TimeArg, XattrTarget } from '../../../host/hostfs-native.ts';

export type { HostDirent, HostStat, HostStatfs, TimeArg };

/**
 * A name in the share: `dir` is its parent's path below the root ('' for the root; components
 * the guest named, joined by '/'), `name` one component, or '.' for `dir` itself (only for
 * calls on an existing node: never to make, remove or rename a name).
 */
export interface Place {
  readonly dir: string;
  readonly name: string;
}

/** The root directory itself. */
export const ROOT_PLACE: Place = { dir: '', name: '.' };

/** The place of the node at `rel` below the root ('' is the root). */
export function placeOf(rel: string): Place {
  if (rel === '') return ROOT_PLACE;
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? { dir: '', name: rel } : { dir: rel.slice(0, slash), name: rel.slice(slash + 1) };
}

/**
 * The host calls of one share. The last component is never followed. Rejections are Node-style
 * errors (`code`) or a FuseError (EACCES when the parent directory leads outside the share).
 */
export interface ShareAccess {
  /** True when a host process cannot race a call outside the share. */
  readonly raceFree: boolean;
  stat(p: Place): Promise<HostStat>;
  /** A plain fd for Node's fd calls; `flags` are the host's O_* (O_NOFOLLOW is added). */
  open(p: Place, flags: number, mode?: number): Promise<number>;
  mkdir(p: Place, mode: number): Promise<void>;
  mkfifo(p: Place, mode: number): Promise<void>;
  /** The target is stored, never resolved. */
  symlink(target: string, p: Place): Promise<void>;
  readlink(p: Place): Promise<Buffer>;
  link(from: Place, to: Place): Promise<void>;
  unlink(p: Place, directory: boolean): Promise<void>;
  rename(from: Place, to: Place, noReplace: boolean): Promise<void>;
  /** -1 leaves the id. */
  chown(p: Place, uid: number, gid: number): Promise<void>;
  utimes(p: Place, atime: TimeArg, mtime: TimeArg): Promise<void>;
  /** access(2)'s mode (R 4, W 2, X 1) for a node that is not a symlink. */
  access(p: Place, mode: number): Promise<void>;
  statfs(p: Place): Promise<HostStatfs>;
  /** At most `max` entries, without '.' and '..'. */
  readdir(p: Place, max: number): Promise<HostDirent[]>;
  /** Runs an addon xattr call on this node by name (a target it never follows), errors mapped like the others'. */
  byName<T>(p: Place, call: (target: XattrTarget) => Promise<T>): Promise<T>;
  /** Releases the share (the root fd); no call may follow. */
  close(): Promise<void>;
}
