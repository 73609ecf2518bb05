// The host side of a shared folder: an inode table (nodeid -> path inside the share, host
// dev/ino, lookup count), a file-handle table, and every operation on Node's async fs.
//
// Confinement: the guest names things only by (nodeid, name). Names are checked (no '/',
// '.', '..', NUL, empty, > 255 bytes). Before each use a node's parent directory is resolved
// with realpath and must lie under the share's root (itself realpath'd once), so no symlink
// can lead the VMM outside; the last component is then touched only with no-follow calls
// (lstat, lchown, lutimes, O_NOFOLLOW opens, readlink, unlink, rename). Opens of existing
// nodes are re-checked by fstat against the dev/ino recorded at lookup. Node offers no
// openat(), so a host process racing renames between the check and the call can still win;
// docs/security.md describes that window. Extended attributes go through the nodevisor_hostfs
// addon on an fd proven to be the node (regular files, directories) or, for other types and
// files the VMM may not open, the confined path with no-follow l*xattr calls.
import { constants as C } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { execFile } from 'node:child_process';
import { E, FuseError, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, FATTR, XATTR, XATTR_NAME_MAX, XATTR_SIZE_MAX, type Attr } from './wire.ts';
import { tryLoadHostfs, type NativeHostfs } from '../../../host/hostfs-native.ts';

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

export interface FileHandleEntry { kind: 'file'; node: Inode; fh: fsp.FileHandle }
export interface DirEntry { name: string; type: number }
export interface DirHandleEntry { kind: 'dir'; node: Inode; entries: DirEntry[] }
type Handle = FileHandleEntry | DirHandleEntry;

export interface HostFsOptions {
  readonly?: boolean;
  maxInodes?: number;
  maxHandles?: number;
  /** The xattr backend (default: the nodevisor_hostfs addon if it loads); false: none (ENOSYS). */
  xattrs?: NativeHostfs | false;
}

// The file type is part of the key: a host may reuse an inode number for a different kind of file.
const keyOf = (st: BigIntStats): string => `${st.dev}:${st.ino}:${st.mode & 0o170000n}`;

export function toAttr(st: BigIntStats): Attr {
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

  private constructor(readonly root: string, rootKey: string, opts: HostFsOptions) {
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
    return new HostFs(root, keyOf(st), opts);
  }

  get inodeCount(): number {
    return this.nodes.size;
  }
  get handleCount(): number {
    return this.handles.size;
  }

  // ---- confinement ----

  private within(real: string): boolean {
    return real === this.root || real.startsWith(this.root === '/' ? '/' : this.root + '/');
  }

  /** A directory's real host path, proven to lie under the root. */
  private async realDir(rel: string): Promise<string> {
    const real = await fsp.realpath(rel === '' ? this.root : `${this.root}/${rel}`);
    if (!this.within(real)) throw new FuseError(E.ACCES, `path '${rel}' resolves outside the share`);
    return real;
  }

  private node(id: bigint): Inode {
    const n = this.nodes.get(id);
    if (!n) throw new FuseError(E.STALE, `unknown nodeid ${id}`);
    return n;
  }

  /** The host path of a node: its parent resolved and confined, its own name never followed. */
  private async pathOf(n: Inode): Promise<string> {
    if (n.rel === null) throw new FuseError(E.NOENT, `nodeid ${n.id} was unlinked`);
    if (n.rel === '') return this.realDir('');
    const slash = n.rel.lastIndexOf('/');
    const dir = await this.realDir(slash < 0 ? '' : n.rel.slice(0, slash));
    return `${dir}/${n.rel.slice(slash + 1)}`;
  }

  /** A directory node's path for creating `name` in it, and the guest-visible child path. */
  private async childOf(parent: bigint, name: string): Promise<{ path: string; rel: string }> {
    checkName(name);
    const p = this.node(parent);
    if (p.rel === null) throw new FuseError(E.NOENT, 'parent was unlinked');
    const dir = await this.realDir(p.rel);
    return { path: `${dir}/${name}`, rel: p.rel === '' ? name : `${p.rel}/${name}` };
  }

  private mutating(): void {
    if (this.readonly) throw new FuseError(E.ROFS, 'read-only share');
  }

  private async lstatNode(n: Inode): Promise<BigIntStats> {
    const st = await fsp.lstat(await this.pathOf(n), { bigint: true });
    if (keyOf(st) !== n.key) throw new FuseError(E.STALE, `nodeid ${n.id} was replaced on the host`);
    return st;
  }

  /** Take one lookup reference on the inode at `rel`, creating the table entry if needed. */
  private remember(rel: string, st: BigIntStats, gen: number): Inode {
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
    const { path, rel } = await this.childOf(parent, name);
    const st = await fsp.lstat(path, { bigint: true });
    const n = this.remember(rel, st, gen);
    return { id: n.id, attr: toAttr(st) };
  }

  /** An entry for '.'/'..' style lookups of an existing child without taking a reference. */
  async peek(parent: bigint, name: string): Promise<Attr> {
    const { path } = await this.childOf(parent, name);
    return toAttr(await fsp.lstat(path, { bigint: true }));
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
      if (h?.kind === 'file' && h.node.id === id) return toAttr(await h.fh.stat({ bigint: true }));
    }
    return toAttr(await this.lstatNode(this.node(id)));
  }

  async setattr(id: bigint, a: SetattrIn): Promise<Attr> {
    this.mutating();
    const n = this.node(id);
    const st = await this.lstatNode(n);
    const path = await this.pathOf(n);
    const isLink = (Number(st.mode) & S_IFMT) === S_IFLNK;
    const viaHandle = (a.valid & FATTR.FH) !== 0 ? this.handles.get(a.fh) : undefined;
    const fileHandle = viaHandle?.kind === 'file' && viaHandle.node === n ? viaHandle.fh : undefined;
    if (a.valid & FATTR.MODE) {
      if (isLink) throw new FuseError(E.OPNOTSUPP, 'cannot chmod a symlink');
      await this.withMetaHandle(n, path, fileHandle, (h) => h.chmod(a.mode & 0o7777));
    }
    if (a.valid & (FATTR.UID | FATTR.GID)) {
      const uid = a.valid & FATTR.UID ? a.uid : -1;
      const gid = a.valid & FATTR.GID ? a.gid : -1;
      await fsp.lchown(path, uid, gid);
    }
    if (a.valid & FATTR.SIZE) {
      if ((Number(st.mode) & S_IFMT) !== S_IFREG) throw new FuseError((Number(st.mode) & S_IFMT) === S_IFDIR ? E.ISDIR : E.INVAL, 'truncate of a non-file');
      if (fileHandle) await fileHandle.truncate(a.size);
      else await this.withOpen(n, path, C.O_WRONLY, (h) => h.truncate(a.size));
    }
    if (a.valid & (FATTR.ATIME | FATTR.MTIME | FATTR.ATIME_NOW | FATTR.MTIME_NOW)) {
      const now = Date.now() / 1000;
      const secs = (s: bigint, ns: number): number => Number(s) + ns / 1e9;
      const at = a.valid & FATTR.ATIME_NOW ? now : a.valid & FATTR.ATIME ? secs(a.atime, a.atimensec) : Number(st.atimeNs) / 1e9;
      const mt = a.valid & FATTR.MTIME_NOW ? now : a.valid & FATTR.MTIME ? secs(a.mtime, a.mtimensec) : Number(st.mtimeNs) / 1e9;
      await fsp.lutimes(path, at, mt);
    }
    return toAttr(await this.lstatNode(n));
  }

  /** Open an existing node with O_NOFOLLOW and prove it is the inode we looked up. */
  private async openChecked(n: Inode, path: string, flags: number, mode?: number): Promise<fsp.FileHandle> {
    const fh = await fsp.open(path, flags | C.O_NOFOLLOW | C.O_NONBLOCK, mode);
    try {
      const st = await fh.stat({ bigint: true });
      if (keyOf(st) !== n.key) throw new FuseError(E.STALE, `nodeid ${n.id} changed under us`);
      return fh;
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }

  private async withOpen(n: Inode, path: string, flags: number, f: (h: fsp.FileHandle) => Promise<void>): Promise<void> {
    const h = await this.openChecked(n, path, flags);
    try {
      await f(h);
    } finally {
      await h.close();
    }
  }

  /** chmod through a descriptor (never a path that could be swapped for a symlink). */
  private async withMetaHandle(n: Inode, path: string, open: fsp.FileHandle | undefined, f: (h: fsp.FileHandle) => Promise<void>): Promise<void> {
    if (open) return f(open);
    try {
      await this.withOpen(n, path, C.O_RDONLY, f);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
      await this.withOpen(n, path, C.O_WRONLY, f); // a write-only file
    }
  }

  async readlink(id: bigint): Promise<Uint8Array> {
    const n = this.node(id);
    await this.lstatNode(n);
    return fsp.readlink(await this.pathOf(n), { encoding: 'buffer' });
  }

  private async created(rel: string, path: string, gen: number): Promise<{ id: bigint; attr: Attr }> {
    const st = await fsp.lstat(path, { bigint: true });
    return { id: this.remember(rel, st, gen).id, attr: toAttr(st) };
  }

  async symlink(parent: bigint, name: string, target: string): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    this.mutating();
    if (target === '' || target.includes('\0') || Buffer.byteLength(target) > 4095) throw new FuseError(E.INVAL, 'bad symlink target');
    const { path, rel } = await this.childOf(parent, name);
    // The target is stored, never resolved by the VMM.
    await fsp.symlink(target, path);
    return this.created(rel, path, gen);
  }

  async mkdir(parent: bigint, name: string, mode: number): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    this.mutating();
    const { path, rel } = await this.childOf(parent, name);
    await fsp.mkdir(path, { mode: mode & 0o7777 });
    const r = await this.created(rel, path, gen);
    await this.withMetaHandle(this.node(r.id), path, undefined, (h) => h.chmod(mode & 0o7777)); // host umask aside
    return { id: r.id, attr: await this.getattr(r.id) };
  }

  async mknod(parent: bigint, name: string, mode: number): Promise<{ id: bigint; attr: Attr }> {
    const gen = this.generation;
    this.mutating();
    const type = mode & S_IFMT;
    const { path, rel } = await this.childOf(parent, name);
    if (type === S_IFREG || type === 0) {
      const h = await fsp.open(path, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, mode & 0o7777);
      await h.chmod(mode & 0o7777).finally(() => h.close());
    } else if (type === S_IFIFO) {
      // Node has no mkfifo(); the host's mkfifo(1) makes one at the confined path.
      await new Promise<void>((res, rej) => execFile('mkfifo', ['-m', (mode & 0o777).toString(8), '--', path], (err) => (err ? rej(new FuseError(E.PERM, 'mkfifo failed')) : res())));
    } else throw new FuseError(E.PERM, 'device nodes and sockets are not created on the host');
    return this.created(rel, path, gen);
  }

  async unlink(parent: bigint, name: string, dir: boolean): Promise<void> {
    this.mutating();
    const { path, rel } = await this.childOf(parent, name);
    if (dir) await fsp.rmdir(path);
    else {
      const st = await fsp.lstat(path);
      if (st.isDirectory()) throw new FuseError(E.ISDIR, 'unlink of a directory');
      await fsp.unlink(path);
    }
    this.unlinkRel(rel);
  }

  async rename(oldParent: bigint, oldName: string, newParent: bigint, newName: string, flags: number): Promise<void> {
    this.mutating();
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) throw new FuseError(E.INVAL, `rename flags ${flags}`);
    // Node has no renameat2(): exchange and whiteout cannot be done atomically, so refuse them.
    if (flags & (RENAME_EXCHANGE | RENAME_WHITEOUT)) throw new FuseError(E.INVAL, 'RENAME_EXCHANGE/WHITEOUT unsupported');
    const from = await this.childOf(oldParent, oldName);
    const to = await this.childOf(newParent, newName);
    await fsp.lstat(from.path);
    if (flags & RENAME_NOREPLACE) {
      const exists = await fsp.lstat(to.path).then(() => true, (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        throw e;
      });
      if (exists) throw new FuseError(E.EXIST, 'target exists');
    }
    await fsp.rename(from.path, to.path);
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
    const src = await this.pathOf(n);
    const { path } = await this.childOf(newParent, newName);
    await fsp.link(src, path);
    const after = await fsp.lstat(path, { bigint: true });
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
    const fh = await this.openChecked(n, await this.pathOf(n), this.hostOpenFlags(linuxFlags));
    try {
      return this.addHandle({ kind: 'file', node: n, fh }, gen);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async create(parent: bigint, name: string, linuxFlags: number, mode: number): Promise<{ id: bigint; attr: Attr; fh: bigint }> {
    const gen = this.generation;
    this.mutating();
    if (this.handles.size >= this.maxHandles) throw new FuseError(E.MFILE, 'too many open handles');
    const { path, rel } = await this.childOf(parent, name);
    let flags = this.hostOpenFlags(linuxFlags) | C.O_CREAT | C.O_NOFOLLOW;
    if (linuxFlags & L_O_EXCL) flags |= C.O_EXCL;
    const fh = await fsp.open(path, flags, mode & 0o7777);
    try {
      const st = await fh.stat({ bigint: true });
      if ((linuxFlags & L_O_EXCL) || st.size === 0n) await fh.chmod(mode & 0o7777).catch(() => undefined);
      const n = this.remember(rel, st, gen);
      const id = this.addHandle({ kind: 'file', node: n, fh }, gen);
      return { id: n.id, attr: toAttr(await fh.stat({ bigint: true })), fh: id };
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async read(fh: bigint, offset: number, size: number): Promise<Uint8Array> {
    const h = this.fileHandle(fh);
    const buf = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await h.fh.read(buf, done, size - done, offset + done);
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
      const { bytesWritten } = await h.fh.write(data, done, data.length - done, offset + done);
      if (bytesWritten === 0) break;
      done += bytesWritten;
    }
    return done;
  }

  async fsync(fh: bigint, dataOnly: boolean): Promise<void> {
    const h = this.fileHandle(fh);
    if (this.readonly) return;
    await (dataOnly ? h.fh.datasync() : h.fh.sync());
  }

  async release(fh: bigint): Promise<void> {
    const h = this.handles.get(fh);
    if (!h) throw new FuseError(E.BADF, `bad handle ${fh}`);
    this.handles.delete(fh);
    if (h.kind === 'file') await h.fh.close();
  }

  async opendir(id: bigint): Promise<bigint> {
    const gen = this.generation;
    if (this.handles.size >= this.maxHandles) throw new FuseError(E.MFILE, 'too many open handles');
    const n = this.node(id);
    const st = await this.lstatNode(n);
    if (!st.isDirectory()) throw new FuseError(E.NOTDIR, 'not a directory');
    if (n.rel === null) throw new FuseError(E.NOENT, 'unlinked');
    const dir = await this.realDir(n.rel);
    const list = await fsp.readdir(dir, { withFileTypes: true });
    const entries: DirEntry[] = [{ name: '.', type: 4 }, { name: '..', type: 4 }];
    for (const d of list.slice(0, MAX_DIR_ENTRIES)) {
      const type = d.isFile() ? 8 : d.isDirectory() ? 4 : d.isSymbolicLink() ? 10 : d.isFIFO() ? 1 : d.isSocket() ? 12 : d.isCharacterDevice() ? 2 : d.isBlockDevice() ? 6 : 0;
      entries.push({ name: d.name, type });
    }
    return this.addHandle({ kind: 'dir', node: n, entries }, gen);
  }

  /** lstat of an entry of an open directory (for READDIR inode numbers and READDIRPLUS). */
  async entryStat(h: DirHandleEntry, name: string): Promise<BigIntStats> {
    if (h.node.rel === null) throw new FuseError(E.NOENT, 'unlinked');
    if (name === '.') return fsp.lstat(await this.realDir(h.node.rel), { bigint: true });
    if (name === '..') return fsp.lstat(h.node.rel === '' ? this.root : `${await this.realDir(h.node.rel)}/..`, { bigint: true });
    const { path } = await this.childOf(h.node.id, name);
    return fsp.lstat(path, { bigint: true });
  }

  /** A READDIRPLUS entry: takes a lookup reference like LOOKUP does. */
  async entryLookup(h: DirHandleEntry, name: string): Promise<{ id: bigint; attr: Attr }> {
    return this.lookup(h.node.id, name);
  }

  async statfs(id: bigint): Promise<{ blocks: number; bfree: number; bavail: number; files: number; ffree: number; bsize: number }> {
    const n = this.node(id);
    if (n.rel === null) throw new FuseError(E.NOENT, 'unlinked');
    const st = await this.lstatNode(n);
    const dir = st.isDirectory() ? await this.realDir(n.rel) : this.root;
    const s = await fsp.statfs(dir);
    return { blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree, bsize: s.bsize };
  }

  async access(id: bigint, mask: number): Promise<void> {
    const n = this.node(id);
    const st = await this.lstatNode(n);
    if ((mask & 2) && this.readonly) throw new FuseError(E.ROFS, 'read-only share');
    if ((Number(st.mode) & S_IFMT) === S_IFLNK) return; // never follow; the guest resolves links itself
    await fsp.access(await this.pathOf(n), mask & 7);
  }

  async lseek(fh: bigint, offset: number, whence: number): Promise<number> {
    const h = this.fileHandle(fh);
    const size = Number((await h.fh.stat({ bigint: true })).size);
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
    const size = Number((await h.fh.stat({ bigint: true })).size);
    if (end > size) await h.fh.truncate(end); // extends (sparsely); Node cannot reserve blocks
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
   * and other types or files the VMM may not open, use the confined path (never followed by the
   * addon), as READLINK does. Reads are path-based because the guest kernel asks
   * for security.capability before every write(2) on FUSE: an open/close pair each time would
   * more than double the host cost of a small write.
   */
  private async onXattrTarget<T>(id: bigint, viaFd: boolean, f: (api: NativeHostfs, target: number | string) => Promise<T>): Promise<T> {
    const api = this.xattrApi();
    const n = this.node(id);
    const path = await this.pathOf(n);
    const st = await fsp.lstat(path, { bigint: true });
    if (keyOf(st) !== n.key) throw new FuseError(E.STALE, `nodeid ${n.id} was replaced on the host`);
    const type = Number(st.mode) & S_IFMT;
    if (viaFd && (type === S_IFREG || type === S_IFDIR)) {
      let h: fsp.FileHandle | undefined;
      try {
        h = await this.openChecked(n, path, C.O_RDONLY);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'EACCES' && code !== 'EPERM') throw e;
      }
      if (h) {
        try {
          return await f(api, h.fd);
        } finally {
          await h.close();
        }
      }
    }
    return f(api, path);
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
    await Promise.allSettled(open.map((h) => (h.kind === 'file' ? h.fh.close() : undefined)));
  }
}
