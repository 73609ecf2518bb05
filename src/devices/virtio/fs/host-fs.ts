// The host side of a shared folder: an inode table (nodeid -> path inside the share, host
// dev/ino, lookup count), a file-handle table, and every operation, made through a ShareAccess.
//
// Confinement: the guest names things only by (nodeid, name). Names are checked (no '/',
// '.', '..', NUL, empty, > 255 bytes). A node is known by its place, the parent directory below
// the root and its own name, and every host call that takes a name goes through the share's
// ShareAccess: with the nodevisor_hostfs addon (share-beneath.ts) the parent is opened beneath
// the root's fd with no symlink followed and the call acts on that fd, so no host process can
// race a call outside the share; without it (share-paths.ts) the parent is realpath-checked
// first, which leaves the window docs/security.md describes. The last component is never
// followed. Opens of existing nodes are re-checked by fstat against the dev/ino recorded at
// lookup; chmod and truncate go through such a descriptor. Open files are plain fds.
// Extended attributes go through the addon on an fd proven to be the node (regular files,
// directories) or, for other types and files the VMM may not open, by name without following it.
import { constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as io from './fd-calls.ts';
import { E, FuseError, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, FATTR, XATTR, XATTR_NAME_MAX, XATTR_SIZE_MAX, type Attr } from './wire.ts';
import { tryLoadHostfs, type NativeHostfs, type XattrTarget } from '../../../host/hostfs-native.ts';
import { ROOT_PLACE, placeOf, type HostStat, type Place, type ShareAccess, type TimeArg } from './share-access.ts';
import { BeneathShare } from './share-beneath.ts';
import { PathShare } from './share-paths.ts';

export const ROOT_ID = 1n;
export const DEFAULT_MAX_INODES = 1 << 18;
export const DEFAULT_MAX_HANDLES = 1024;
/** Directory entries a single OPENDIR snapshots at most. */
export const MAX_DIR_ENTRIES = 1 << 17;
export const NAME_MAX = 255;

// Linux open(2) flag values as the guest sends them.
const L_O_ACCMODE = 3;
const L_O_CREAT = 0o100;
const L_O_EXCL = 0o200;
const L_O_TRUNC = 0o1000;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const S_IFIFO = 0o010000;

interface Inode {
  readonly id: bigint;
  /** Path below the root as the guest named it ('' for the root); null once unlinked. */
  rel: string | null;
  readonly key: string;
  nlookup: bigint;
}

export interface FileHandleEntry { kind: 'file'; node: Inode; fd: number }
export interface DirEntry { name: string; type: number }
export interface DirHandleEntry { kind: 'dir'; node: Inode; entries: DirEntry[] }
type Handle = FileHandleEntry | DirHandleEntry;

export interface HostFsOptions {
  readonly?: boolean;
  maxInodes?: number;
  maxHandles?: number;
  /** The xattr backend (default: the nodevisor_hostfs addon if it loads); false: none (ENOSYS). */
  xattrs?: NativeHostfs | false;
  /**
   * The addon whose calls confine every name beneath the root's fd (default: nodevisor_hostfs
   * if it loads); false: Node's path calls after a realpath check, which a host process can race.
   */
  beneath?: NativeHostfs | false;
}

// The file type is part of the key: a host may reuse an inode number for a different kind of file.
const keyOf = (st: HostStat): string => `${st.dev}:${st.ino}:${st.mode & 0o170000n}`;

export function toAttr(st: HostStat): Attr {
  return {
    ino: st.ino, size: st.size, blocks: st.blocks, atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs,
    mode: Number(st.mode), nlink: Number(st.nlink), uid: Number(st.uid), gid: Number(st.gid),
    rdev: Number(st.rdev & 0xffffffffn), blksize: Number(st.blksize),
  };
}

/** Reject names that could step outside a directory or that the host cannot represent. */
export function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..') throw new FuseError(E.INVAL, `bad name '${name}'`);
  if (name.includes('/') || name.includes('\0')) throw new FuseError(E.INVAL, 'name contains / or NUL');
  if (Buffer.byteLength(name) > NAME_MAX) throw new FuseError(E.NAMETOOLONG, 'name too long');
  if (name.includes('\ufffd')) throw new FuseError(E.INVAL, 'name is not UTF-8');
}

export interface SetattrIn {
  valid: number; fh: bigint; size: number; atime: bigint; mtime: bigint; atimensec: number; mtimensec: number;
  mode: number; uid: number; gid: number;
}

export class HostFs {
  readonly readonly: boolean;
  private readonly maxInodes: number;
  private readonly maxHandles: number;
  private readonly nodes = new Map<bigint, Inode>();
  private readonly byKey = new Map<string, Inode>();
  private readonly handles = new Map<bigint, Handle>();
  private nextId = 2n;
  private nextFh = 1n;
  /** Bumped by destroy(): a request that started before must not add to the fresh tables. */
  private generation = 0;
  /** undefined: not loaded yet; null: unavailable. */
  private xattrBackend: NativeHostfs | null | undefined;

  private constructor(readonly root: string, private readonly share: ShareAccess, rootKey: string, opts: HostFsOptions) {
    this.readonly = opts.readonly === true;
    if (opts.xattrs !== undefined) this.xattrBackend = opts.xattrs === false ? null : opts.xattrs;
    this.maxInodes = opts.maxInodes ?? DEFAULT_MAX_INODES;
    this.maxHandles = opts.maxHandles ?? DEFAULT_MAX_HANDLES;
    const r: Inode = { id: ROOT_ID, rel: '', key: rootKey, nlookup: 1n };
    this.nodes.set(ROOT_ID, r);
    this.byKey.set(rootKey, r);
  }

  static async open(hostPath: string, opts: HostFsOptions = {}): Promise<HostFs> {
    const root = await fsp.realpath(hostPath);
    const st = await fsp.lstat(root, { bigint: true });
    if (!st.isDirectory()) throw new Error(`${hostPath} is not a directory`);
    const api = opts.beneath ?? (opts.beneath === false ? undefined : tryLoadHostfs().addon);
    const share = api ? await BeneathShare.open(api, root) : new PathShare(root);
    try {
      // The fd must be the directory realpath named (not something swapped in since).
      if (keyOf(await share.stat(ROOT_PLACE)) !== keyOf(st)) throw new Error(`${hostPath} changed while it was opened`);
    } catch (e) {
      await share.close();
      throw e;
    }
    return new HostFs(root, share, keyOf(st), opts);
  }

  /** False when names are confined by path checks that a host process can race (the addon is not loaded). */
  get raceFree(): boolean {
    return this.share.raceFree;
  }

  get inodeCount(): number {
    return this.nodes.size;
  }
  get handleCount(): number {
    return this.handles.size;
  }

  // ---- confinement ----

  private node(id: bigint): Inode {
    const n = this.nodes.get(id);
    if (!n) throw new FuseError(E.STALE, `unknown nodeid ${id}`);
    return n;
  }

  /** Where a node is: its parent below the root and its own name (the root: the root itself). */
  private placeOf(n: Inode): Place {
    if (n.rel === null) throw new FuseError(E.NOENT, `nodeid ${n.id} was unlinked`);
    return placeOf(n.rel);
  }

  /** `name` in a directory node, and the guest-visible child path. */
  private childOf(parent: bigint, name: string): { place: Place; rel: string } {
    checkName(name);
    const p = this.node(parent);
    if (p.rel === null) throw new FuseError(E.NOENT, 'parent was unlinked');
    return { place: { dir: p.rel, name }, rel: p.rel === '' ? name : `${p.rel}/${name}` };
  }

  private mutating(): void {
    if (this.readonly) throw new FuseError(E.ROFS, 'read-only share');
  }

  private async lstatNode(n: Inode): Promise<HostStat> {
    const st = await this.share.stat(this.placeOf(n));
    if (keyOf(st) !== n.key) throw new FuseError(E.STALE, `nodeid ${n.id} was replaced on the host`);
    return st;
  }

  /** Take one lookup reference on the inode at `rel`, creating the table entry if needed. */
  private remember(rel: string, st: HostStat, gen: number): Inode {
    if (gen !== this.generation) throw new FuseError(E.STALE, 'filesystem was reset');
    const key = keyOf(st);
    let n = this.byKey.get(key);
    if (n) {
      n.rel = rel; // a hard link or re-lookup: the latest name is as good as any
      n.nlookup++;
      return n;
    }
    if (this.nodes.size >= this.maxInodes) throw new FuseError(E.NFILE, 'inode table full');
    n = { id: this.nextId++, rel, key, nlookup: 1n };
    this.nodes.set(n.id, n);
    this.byKey.set(key, n);
    return n;
  }

  private drop(n: Inode): void {
    if (n.id === ROOT_ID) return;
    this.nodes.delete(n.id);
    if (this.byKey.get(n.key) === n) this.byKey.delete(n.key);
  }

  /** Forget nodes named `rel` (after unlink / replacement) so a stale path is never reused. */
  private unlinkRel(rel: string): void {
    for (const n of this.nodes.values()) if (n.rel === rel) n.rel = null;
  }

  private renameRel(from: string, to: string): void {
    for (const n of this.nodes.values()) {
      if (n.rel === null) continue;
      if (n.rel === from) n.rel = to;
      else if (n.rel.startsWith(from + '/')) n.rel = to + n.rel.slice(from.length);
    }
  }

  private addHandle(h: Handle, gen: number): bigint {
    if (gen !== this.generation) throw new FuseError(E.STALE, 'filesystem was reset');
    if (this.handles.size >= this.maxHandles) throw new FuseError(E.MFILE, 'too many open handles');
    const id = this.nextFh++;
    this.handles.set(id, h);
    return id;
  }

  fileHandle(fh: bigint): FileHandleEntry {
    const h = this.handles.get(fh);
    if (!h || h.kind !== 'file') throw new FuseError(E.BADF, `bad file handle ${fh}`);
    return h;
  }

  dirHandle(fh: bigint): DirHandleEntry {
    const h = this.handles.get(fh);
    if (!h || h.kind !== 'dir') throw new FuseError(E.BADF, `bad dir handle ${fh}`);
    return h;
  }

  // ---- operations ----

  async lookup(parent: bigint, name: string): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    const { place, rel } = this.childOf(parent, name);
    const st = await this.share.stat(place);
    const n = this.remember(rel, st, gen);
    return { id: n.id, attr: toAttr(st) };
  }

  /** An entry for '.'/'..' style lookups of an existing child without taking a reference. */
  async peek(parent: bigint, name: string): Promise<Attr> {
    return toAttr(await this.share.stat(this.childOf(parent, name).place));
  }

  forget(id: bigint, count: bigint): void {
    const n = this.nodes.get(id);
    if (!n || n.id === ROOT_ID) return;
    n.nlookup -= count;
    if (n.nlookup <= 0n) this.drop(n);
  }

  async getattr(id: bigint, fh?: bigint): Promise<Attr> {
    if (fh !== undefined) {
      const h = this.handles.get(fh);
      if (h?.kind === 'file' && h.node.id === id) return toAttr(await io.fstat(h.fd));
    }
    return toAttr(await this.lstatNode(this.node(id)));
  }

  async setattr(id: bigint, a: SetattrIn): Promise<Attr> {
    this.mutating();
    const n = this.node(id);
    const st = await this.lstatNode(n);
    const place = this.placeOf(n);
    const isLink = (Number(st.mode) & S_IFMT) === S_IFLNK;
    const viaHandle = (a.valid & FATTR.FH) !== 0 ? this.handles.get(a.fh) : undefined;
    const fileFd = viaHandle?.kind === 'file' && viaHandle.node === n ? viaHandle.fd : undefined;
    if (a.valid & FATTR.MODE) {
      if (isLink) throw new FuseError(E.OPNOTSUPP, 'cannot chmod a symlink');
      await this.withMetaFd(n, place, fileFd, (fd) => io.fchmod(fd, a.mode & 0o7777));
    }
    if (a.valid & (FATTR.UID | FATTR.GID)) {
      const uid = a.valid & FATTR.UID ? a.uid : -1;
      const gid = a.valid & FATTR.GID ? a.gid : -1;
      await this.share.chown(place, uid, gid);
    }
    if (a.valid & FATTR.SIZE) {
      if ((Number(st.mode) & S_IFMT) !== S_IFREG) throw new FuseError((Number(st.mode) & S_IFMT) === S_IFDIR ? E.ISDIR : E.INVAL, 'truncate of a non-file');
      if (fileFd !== undefined) await io.ftruncate(fileFd, a.size);
      else await this.withOpen(n, place, C.O_WRONLY, (fd) => io.ftruncate(fd, a.size));
    }
    if (a.valid & (FATTR.ATIME | FATTR.MTIME | FATTR.ATIME_NOW | FATTR.MTIME_NOW)) {
      const time = (now: number, set: number, s: bigint, ns: number): TimeArg =>
        a.valid & now ? 'now' : a.valid & set ? s * 1_000_000_000n + BigInt(ns % 1_000_000_000) : null;
      await this.share.utimes(place, time(FATTR.ATIME_NOW, FATTR.ATIME, a.atime, a.atimensec), time(FATTR.MTIME_NOW, FATTR.MTIME, a.mtime, a.mtimensec));
    }
    return toAttr(await this.lstatNode(n));
  }

  /** Open an existing node (never following it) and prove it is the inode we looked up. */
  private async openChecked(n: Inode, place: Place, flags: number): Promise<number> {
    const fd = await this.share.open(place, flags | C.O_NONBLOCK);
    try {
      const st = await io.fstat(fd);
      if (keyOf(st) !== n.key) throw new FuseError(E.STALE, `nodeid ${n.id} changed under us`);
      return fd;
    } catch (e) {
      await io.close(fd).catch(() => undefined);
      throw e;
    }
  }

  private async withOpen(n: Inode, place: Place, flags: number, f: (fd: number) => Promise<void>): Promise<void> {
    const fd = await this.openChecked(n, place, flags);
    try {
      await f(fd);
    } finally {
      await io.close(fd);
    }
  }

  /** chmod through a descriptor proven to be the node (never a name that could be swapped for a symlink). */
  private async withMetaFd(n: Inode, place: Place, open: number | undefined, f: (fd: number) => Promise<void>): Promise<void> {
    if (open !== undefined) return f(open);
    try {
      await this.withOpen(n, place, C.O_RDONLY, f);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
      await this.withOpen(n, place, C.O_WRONLY, f); // a write-only file
    }
  }

  async readlink(id: bigint): Promise<Uint8Array> {
    const n = this.node(id);
    if ((Number((await this.lstatNode(n)).mode) & S_IFMT) !== S_IFLNK) throw new FuseError(E.INVAL, 'not a symlink'); // as readlink(2)
    return this.share.readlink(this.placeOf(n));
  }

  private async created(rel: string, place: Place, gen: number): Promise<{ id: bigint; attr: Attr }> {
    const st = await this.share.stat(place);
    return { id: this.remember(rel, st, gen).id, attr: toAttr(st) };
  }

  async symlink(parent: bigint, name: string, target: string): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    this.mutating();
    if (target === '' || target.includes('\0') || Buffer.byteLength(target) > 4095) throw new FuseError(E.INVAL, 'bad symlink target');
    const { place, rel } = this.childOf(parent, name);
    // The target is stored, never resolved by the VMM.
    await this.share.symlink(target, place);
    return this.created(rel, place, gen);
  }

  async mkdir(parent: bigint, name: string, mode: number): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    this.mutating();
    const { place, rel } = this.childOf(parent, name);
    await this.share.mkdir(place, mode & 0o7777);
    const r = await this.created(rel, place, gen);
    await this.withMetaFd(this.node(r.id), place, undefined, (fd) => io.fchmod(fd, mode & 0o7777)); // host umask aside
    return { id: r.id, attr: await this.getattr(r.id) };
  }

  async mknod(parent: bigint, name: string, mode: number): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    this.mutating();
    const type = mode & S_IFMT;
    const { place, rel } = this.childOf(parent, name);
    if (type === S_IFREG || type === 0) {
      const fd = await this.share.open(place, C.O_WRONLY | C.O_CREAT | C.O_EXCL, mode & 0o7777);
      await io.fchmod(fd, mode & 0o7777).finally(() => io.close(fd));
    } else if (type === S_IFIFO) {
      await this.share.mkfifo(place, mode & 0o777);
      const r = await this.created(rel, place, gen);
      await this.withMetaFd(this.node(r.id), place, undefined, (fd) => io.fchmod(fd, mode & 0o777)); // host umask aside
      return { id: r.id, attr: await this.getattr(r.id) };
    } else throw new FuseError(E.PERM, 'device nodes and sockets are not created on the host');
    return this.created(rel, place, gen);
  }

  async unlink(parent: bigint, name: string, dir: boolean): Promise<void> {
    this.mutating();
    const { place, rel } = this.childOf(parent, name);
    if (!dir && (Number((await this.share.stat(place)).mode) & S_IFMT) === S_IFDIR) throw new FuseError(E.ISDIR, 'unlink of a directory');
    await this.share.unlink(place, dir);
    this.unlinkRel(rel);
  }

  async rename(oldParent: bigint, oldName: string, newParent: bigint, newName: string, flags: number): Promise<void> {
    this.mutating();
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) throw new FuseError(E.INVAL, `rename flags ${flags}`);
    // The inode table follows renames by name; an exchange would need both names swapped in it. Whiteouts are overlayfs's.
    if (flags & (RENAME_EXCHANGE | RENAME_WHITEOUT)) throw new FuseError(E.INVAL, 'RENAME_EXCHANGE/WHITEOUT unsupported');
    const from = this.childOf(oldParent, oldName);
    const to = this.childOf(newParent, newName);
    await this.share.rename(from.place, to.place, (flags & RENAME_NOREPLACE) !== 0);
    if (from.rel === to.rel) return;
    this.unlinkRel(to.rel);
    this.renameRel(from.rel, to.rel);
  }

  async link(id: bigint, newParent: bigint, newName: string): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    this.mutating();
    const n = this.node(id);
    const st = await this.lstatNode(n);
    // link(2) follows a symlink on macOS; Linux's does not. Never follow one on the host.
    if ((Number(st.mode) & S_IFMT) === S_IFLNK && process.platform !== 'linux') throw new FuseError(E.PERM, 'hard link to a symlink');
    if ((Number(st.mode) & S_IFMT) === S_IFDIR) throw new FuseError(E.PERM, 'hard link to a directory');
    const { place } = this.childOf(newParent, newName);
    await this.share.link(this.placeOf(n), place);
    const after = await this.share.stat(place);
    if (gen !== this.generation) throw new FuseError(E.STALE, 'filesystem was reset');
    n.nlookup++;
    return { id: n.id, attr: toAttr(after) };
  }

  private hostOpenFlags(linuxFlags: number): number {
    const acc = linuxFlags & L_O_ACCMODE;
    let f = acc === 1 ? C.O_WRONLY : acc === 2 ? C.O_RDWR : C.O_RDONLY;
    if (linuxFlags & L_O_TRUNC) f |= C.O_TRUNC;
    return f;
  }

  private writesWith(linuxFlags: number): boolean {
    return (linuxFlags & L_O_ACCMODE) !== 0 || (linuxFlags & L_O_TRUNC) !== 0;
  }

  async open(id: bigint, linuxFlags: number): Promise<bigint> {
    const gen = this.generation;
    if (this.writesWith(linuxFlags)) this.mutating();
    if (this.handles.size >= this.maxHandles) throw new FuseError(E.MFILE, 'too many open handles');
    const n = this.node(id);
    const st = await this.lstatNode(n);
    const type = Number(st.mode) & S_IFMT;
    if (type === S_IFLNK) throw new FuseError(E.LOOP, 'open of a symlink');
    if (type === S_IFDIR) throw new FuseError(E.ISDIR, 'open of a directory');
    const fd = await this.openChecked(n, this.placeOf(n), this.hostOpenFlags(linuxFlags));
    try {
      return this.addHandle({ kind: 'file', node: n, fd }, gen);
    } catch (e) {
      await io.close(fd);
      throw e;
    }
  }

  async create(parent: bigint, name: string, linuxFlags: number, mode: number): Promise<{ id: bigint; attr: Attr; fh: bigint }> {
    const gen = this.generation;
    this.mutating();
    if (this.handles.size >= this.maxHandles) throw new FuseError(E.MFILE, 'too many open handles');
    const { place, rel } = this.childOf(parent, name);
    let flags = this.hostOpenFlags(linuxFlags) | C.O_CREAT;
    if (linuxFlags & L_O_EXCL) flags |= C.O_EXCL;
    const fd = await this.share.open(place, flags, mode & 0o7777);
    try {
      const st = await io.fstat(fd);
      if ((linuxFlags & L_O_EXCL) || st.size === 0n) await io.fchmod(fd, mode & 0o7777).catch(() => undefined);
      const n = this.remember(rel, st, gen);
      const id = this.addHandle({ kind: 'file', node: n, fd }, gen);
      return { id: n.id, attr: toAttr(await io.fstat(fd)), fh: id };
    } catch (e) {
      await io.close(fd);
      throw e;
    }
  }

  async read(fh: bigint, offset: number, size: number): Promise<Uint8Array> {
    const h = this.fileHandle(fh);
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const bytesRead = await io.read(h.fd, buf, done, size - done, offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  }

  async write(fh: bigint, offset: number, data: Uint8Array): Promise<number> {
    this.mutating();
    const h = this.fileHandle(fh);
    let done = 0;
    while (done < data.length) {
      const bytesWritten = await io.write(h.fd, data, done, data.length - done, offset + done);
      if (bytesWritten === 0) break;
      done += bytesWritten;
    }
    return done;
  }

  async fsync(fh: bigint, dataOnly: boolean): Promise<void> {
    const h = this.fileHandle(fh);
    if (this.readonly) return;
    await (dataOnly ? io.fdatasync(h.fd) : io.fsync(h.fd));
  }

  async release(fh: bigint): Promise<void> {
    const h = this.handles.get(fh);
    if (!h) throw new FuseError(E.BADF, `bad handle ${fh}`);
    this.handles.delete(fh);
    if (h.kind === 'file') await io.close(h.fd);
  }

  async opendir(id: bigint): Promise<bigint> {
    const gen = this.generation;
    if (this.handles.size >= this.maxHandles) throw new FuseError(E.MFILE, 'too many open handles');
    const n = this.node(id);
    const st = await this.lstatNode(n);
    if ((Number(st.mode) & S_IFMT) !== S_IFDIR) throw new FuseError(E.NOTDIR, 'not a directory');
    if (n.rel === null) throw new FuseError(E.NOENT, 'unlinked');
    const list = await this.share.readdir(this.placeOf(n), MAX_DIR_ENTRIES);
    const entries: DirEntry[] = [{ name: '.', type: 4 }, { name: '..', type: 4 }, ...list];
    return this.addHandle({ kind: 'dir', node: n, entries }, gen);
  }

  /** lstat of an entry of an open directory (for READDIR inode numbers and READDIRPLUS). */
  async entryStat(h: DirHandleEntry, name: string): Promise<HostStat> {
    const rel = h.node.rel;
    if (rel === null) throw new FuseError(E.NOENT, 'unlinked');
    if (name === '.') return this.share.stat(placeOf(rel));
    if (name === '..') return this.share.stat(placeOf(rel === '' ? '' : placeOf(rel).dir));
    return this.share.stat(this.childOf(h.node.id, name).place);
  }

  /** A READDIRPLUS entry: takes a lookup reference like LOOKUP does. */
  async entryLookup(h: DirHandleEntry, name: string): Promise<{ id: bigint; attr: Attr }> {
    return this.lookup(h.node.id, name);
  }

  async statfs(id: bigint): Promise<{ blocks: number; bfree: number; bavail: number; files: number; ffree: number; bsize: number }> {
    const n = this.node(id);
    if (n.rel === null) throw new FuseError(E.NOENT, 'unlinked');
    const st = await this.lstatNode(n);
    const s = await this.share.statfs((Number(st.mode) & S_IFMT) === S_IFDIR ? this.placeOf(n) : ROOT_PLACE);
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize };
  }

  async access(id: bigint, mask: number): Promise<void> {
    const n = this.node(id);
    const st = await this.lstatNode(n);
    if ((mask & 2) && this.readonly) throw new FuseError(E.ROFS, 'read-only share');
    if ((Number(st.mode) & S_IFMT) === S_IFLNK) return; // never follow; the guest resolves links itself
    await this.share.access(this.placeOf(n), mask & 7);
  }

  async lseek(fh: bigint, offset: number, whence: number): Promise<number> {
    const h = this.fileHandle(fh);
    const size = Number((await io.fstat(h.fd)).size);
    switch (whence) {
      case 0: return offset; // SEEK_SET
      case 3: if (offset >= size) throw new FuseError(E.NXIO, 'past end'); return offset; // SEEK_DATA: no holes known
      case 4: if (offset > size) throw new FuseError(E.NXIO, 'past end'); return size; // SEEK_HOLE: only the one at EOF
      default: throw new FuseError(E.INVAL, `whence ${whence}`);
    }
  }

  async fallocate(fh: bigint, offset: number, length: number, mode: number): Promise<void> {
    this.mutating();
    const h = this.fileHandle(fh);
    if (mode !== 0) throw new FuseError(E.OPNOTSUPP, `fallocate mode ${mode}`);
    const end = offset + length;
    if (!Number.isSafeInteger(end)) throw new FuseError(E.FBIG, 'too large');
    const size = Number((await io.fstat(h.fd)).size);
    if (end > size) await io.ftruncate(h.fd, end); // extends (sparsely); Node cannot reserve blocks
  }

  // ---- extended attributes ----

  /** The addon, loaded on first use; ENOSYS without it (the guest kernel then stops asking and reports ENOTSUP). */
  private xattrApi(): NativeHostfs {
    if (this.xattrBackend === undefined) this.xattrBackend = tryLoadHostfs().addon ?? null;
    if (!this.xattrBackend) throw new FuseError(E.NOSYS, 'no xattr support: the nodevisor_hostfs addon is not loaded');
    return this.xattrBackend;
  }

  get xattrsAvailable(): boolean {
    try {
      this.xattrApi();
      return true;
    } catch {
      return false;
    }
  }

  /** Linux's own limits: a non-empty name of at most 255 bytes. */
  private static xattrName(name: Uint8Array): Buffer {
    if (name.length === 0 || name.length > XATTR_NAME_MAX) throw new FuseError(E.RANGE, `xattr name of ${name.length} bytes`);
    return Buffer.from(name);
  }

  /**
   * Runs `f` on a host target for node `id`. Changes (`viaFd`) go to an fd opened
   * O_RDONLY|O_NOFOLLOW and proven (dev/ino) to be the node, for files and directories; reads,
   * and other types or files the VMM may not open, go by name (never followed by the addon), as
   * READLINK does. Reads go by name because the guest kernel asks for security.capability
   * before every write(2) on FUSE: an open/close pair each time would more than double the host
   * cost of a small write.
   */
  private async onXattrTarget<T>(id: bigint, viaFd: boolean, f: (api: NativeHostfs, target: XattrTarget) => Promise<T>): Promise<T> {
    const api = this.xattrApi();
    const n = this.node(id);
    const place = this.placeOf(n);
    const st = await this.lstatNode(n);
    const type = Number(st.mode) & S_IFMT;
    if (viaFd && (type === S_IFREG || type === S_IFDIR)) {
      let fd: number | undefined;
      try {
        fd = await this.openChecked(n, place, C.O_RDONLY);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EACCES' && code !== 'EPERM') throw e;
      }
      if (fd !== undefined) {
        try {
          return await f(api, fd);
        } finally {
          await io.close(fd);
        }
      }
    }
    return this.share.byName(place, (target) => f(api, target));
  }

  /** size 0: the value's length; else the value, ERANGE when it is longer than `size`. */
  async getxattr(id: bigint, name: Uint8Array, size: number): Promise<number | Uint8Array> {
    const key = HostFs.xattrName(name);
    const r = await this.onXattrTarget(id, false, (api, t) => api.getxattr(t, key, Math.min(size, XATTR_SIZE_MAX)));
    if (typeof r === 'number' && r > XATTR_SIZE_MAX) throw new FuseError(E.TOOBIG, `xattr value of ${r} bytes`);
    return r;
  }

  async listxattr(id: bigint, size: number): Promise<number | Uint8Array> {
    const r = await this.onXattrTarget(id, false, (api, t) => api.listxattr(t, Math.min(size, XATTR_SIZE_MAX)));
    if (typeof r === 'number' && r > XATTR_SIZE_MAX) throw new FuseError(E.TOOBIG, `xattr list of ${r} bytes`);
    return r;
  }

  async setxattr(id: bigint, name: Uint8Array, value: Uint8Array, flags: number): Promise<void> {
    this.mutating();
    const key = HostFs.xattrName(name);
    if (flags & ~(XATTR.CREATE | XATTR.REPLACE)) throw new FuseError(E.INVAL, `setxattr flags ${flags}`);
    if (value.length > XATTR_SIZE_MAX) throw new FuseError(E.TOOBIG, `xattr value of ${value.length} bytes`);
    const v = Buffer.from(value);
    await this.onXattrTarget(id, true, (api, t) => api.setxattr(t, key, v, flags));
  }

  async removexattr(id: bigint, name: Uint8Array): Promise<void> {
    this.mutating();
    const key = HostFs.xattrName(name);
    await this.onXattrTarget(id, true, (api, t) => api.removexattr(t, key));
  }

  /** FUSE_DESTROY / device reset: close every handle and forget every inode but the root. */
  async destroy(): Promise<void> {
    this.generation++;
    const open = [...this.handles.values()];
    this.handles.clear();
    for (const n of [...this.nodes.values()]) this.drop(n);
    await Promise.allSettled(open.map((h) => (h.kind === 'file' ? io.close(h.fd) : undefined)));
  }

  /** destroy(), then release the share itself (the root fd): the HostFs is unusable afterwards. */
  async close(): Promise<void> {
    await this.destroy();
    await this.share.close();
  }
}
