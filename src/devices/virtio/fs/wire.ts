// FUSE wire format as the Linux virtiofs client speaks it (include/uapi/linux/fuse.h, 7.31+):
// opcodes, flags, struct sizes, a bounds-checked little-endian reader for requests and a
// writer for replies. Nothing here touches the host; a short or garbled body throws FuseError.

export class FuseError extends Error {
  override readonly name = 'FuseError';
  /** A Linux errno (positive) for the reply. */
  constructor(readonly errno: number, detail: string) {
    super(detail);
  }
}

export const OP = {
  LOOKUP: 1, FORGET: 2, GETATTR: 3, SETATTR: 4, READLINK: 5, SYMLINK: 6, MKNOD: 8, MKDIR: 9, UNLINK: 10,
  RMDIR: 11, RENAME: 12, LINK: 13, OPEN: 14, READ: 15, WRITE: 16, STATFS: 17, RELEASE: 18, FSYNC: 20,
  SETXATTR: 21, GETXATTR: 22, LISTXATTR: 23, REMOVEXATTR: 24, FLUSH: 25, INIT: 26, OPENDIR: 27, READDIR: 28,
  RELEASEDIR: 29, FSYNCDIR: 30, GETLK: 31, SETLK: 32, SETLKW: 33, ACCESS: 34, CREATE: 35, INTERRUPT: 36,
  BMAP: 37, DESTROY: 38, IOCTL: 39, POLL: 40, BATCH_FORGET: 42, FALLOCATE: 43, READDIRPLUS: 44, RENAME2: 45,
  LSEEK: 46, COPY_FILE_RANGE: 47, SYNCFS: 50,
} as const;

/** Linux errno values (the guest is Linux whatever the host is). */
export const E = {
  PERM: 1, NOENT: 2, IO: 5, BADF: 9, AGAIN: 11, NOMEM: 12, ACCES: 13, BUSY: 16, EXIST: 17, XDEV: 18,
  NODEV: 19, NOTDIR: 20, ISDIR: 21, INVAL: 22, NFILE: 23, MFILE: 24, FBIG: 27, NOSPC: 28, SPIPE: 29,
  ROFS: 30, MLINK: 31, RANGE: 34, NAMETOOLONG: 36, NOSYS: 38, NOTEMPTY: 39, LOOP: 40, NODATA: 61,
  OVERFLOW: 75, OPNOTSUPP: 95, STALE: 116, DQUOT: 122, NXIO: 6, TXTBSY: 26, TOOBIG: 7,
} as const;

const CODE_TO_ERRNO: Record<string, number> = {
  EPERM: E.PERM, ENOENT: E.NOENT, EIO: E.IO, EBADF: E.BADF, EAGAIN: E.AGAIN, ENOMEM: E.NOMEM, EACCES: E.ACCES,
  EBUSY: E.BUSY, EEXIST: E.EXIST, EXDEV: E.XDEV, ENODEV: E.NODEV, ENOTDIR: E.NOTDIR, EISDIR: E.ISDIR,
  EINVAL: E.INVAL, ENFILE: E.NFILE, EMFILE: E.MFILE, EFBIG: E.FBIG, ENOSPC: E.NOSPC, ESPIPE: E.SPIPE,
  EROFS: E.ROFS, EMLINK: E.MLINK, ERANGE: E.RANGE, ENAMETOOLONG: E.NAMETOOLONG, ENOSYS: E.NOSYS,
  ENOTEMPTY: E.NOTEMPTY, ELOOP: E.LOOP, ENODATA: E.NODATA, EOVERFLOW: E.OVERFLOW, ENOTSUP: E.OPNOTSUPP,
  EOPNOTSUPP: E.OPNOTSUPP, ESTALE: E.STALE, EDQUOT: E.DQUOT, ENXIO: E.NXIO, ETXTBSY: E.TXTBSY, E2BIG: E.TOOBIG,
};

/** The Linux errno for a Node fs error (by its code, so macOS hosts map correctly); EIO if unknown. */
export function errnoOf(e: unknown): number {
  if (e instanceof FuseError) return e.errno;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return (code && CODE_TO_ERRNO[code]) || E.IO;
}

export const IN_HEADER_BYTES = 40;
export const OUT_HEADER_BYTES = 16;
export const ATTR_BYTES = 88;
export const ENTRY_OUT_BYTES = 40 + ATTR_BYTES;
export const ATTR_OUT_BYTES = 16 + ATTR_BYTES;
export const OPEN_OUT_BYTES = 16;
export const INIT_OUT_BYTES = 64;
export const STATFS_OUT_BYTES = 80;
export const DIRENT_BYTES = 24;
/** fuse_getxattr_out (the length answer to a size-0 GETXATTR / LISTXATTR). */
export const GETXATTR_OUT_BYTES = 8;
/** fuse_setxattr_in without FUSE_SETXATTR_EXT (never advertised): size, flags. */
export const SETXATTR_IN_BYTES = 8;
/** Linux XATTR_NAME_MAX and XATTR_SIZE_MAX: caps on one name and one value. */
export const XATTR_NAME_MAX = 255;
export const XATTR_SIZE_MAX = 65536;
/** setxattr flags as the guest sends them. */
export const XATTR = { CREATE: 1, REPLACE: 2 } as const;

export const FUSE_KERNEL_VERSION = 7;
/** The minor we speak: 7.31 has everything Linux 6.1 needs from a passthrough server without DAX. */
export const FUSE_KERNEL_MINOR = 31;

export const INIT = {
  ASYNC_READ: 1 << 0, ATOMIC_O_TRUNC: 1 << 3, BIG_WRITES: 1 << 5, DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14, PARALLEL_DIROPS: 1 << 18, MAX_PAGES: 1 << 22, CACHE_SYMLINKS: 1 << 23,
} as const;

export const FATTR = {
  MODE: 1 << 0, UID: 1 << 1, GID: 1 << 2, SIZE: 1 << 3, ATIME: 1 << 4, MTIME: 1 << 5, FH: 1 << 6,
  ATIME_NOW: 1 << 7, MTIME_NOW: 1 << 8, LOCKOWNER: 1 << 9, CTIME: 1 << 10, KILL_SUIDGID: 1 << 11,
} as const;

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;
export const RENAME_WHITEOUT = 4;

export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
}

/** Sequential reader over one request body; every read is bounds-checked. */
export class Reader {
  private readonly view: DataView;
  pos = 0;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get remaining(): number {
    return this.bytes.length - this.pos;
  }
  private need(n: number): void {
    if (this.remaining < n) throw new FuseError(E.INVAL, `request body truncated (need ${n} more bytes, have ${this.remaining})`);
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** A u64 that must fit a JS safe integer (offsets, sizes); larger values are EINVAL. */
  safe64(): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new FuseError(E.INVAL, `value ${v} out of range`);
    return Number(v);
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  bytesN(n: number): Uint8Array {
    this.need(n);
    const b = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  /** A NUL-terminated string (the terminator is required). */
  cstring(): string {
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) throw new FuseError(E.INVAL, 'string without terminator');
    const s = Buffer.from(this.bytes.subarray(this.pos, end)).toString('utf8');
    this.pos = end + 1;
    return s;
  }
  /** A NUL-terminated name as raw bytes (names need not be UTF-8). */
  cbytes(): Uint8Array {
    const end = this.bytes.indexOf(0, this.pos);
    if (end < 0) throw new FuseError(E.INVAL, 'name without terminator');
    const s = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return s;
  }
}

export function parseInHeader(b: Uint8Array): InHeader | undefined {
  if (b.length < IN_HEADER_BYTES) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, IN_HEADER_BYTES);
  return {
    len: v.getUint32(0, true), opcode: v.getUint32(4, true), unique: v.getBigUint64(8, true),
    nodeid: v.getBigUint64(16, true), uid: v.getUint32(24, true), gid: v.getUint32(28, true), pid: v.getUint32(32, true),
  };
}

/** Growable little-endian writer for reply bodies. */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  len = 0;
  constructor(initial = 128) {
    this.buf = new Uint8Array(initial);
    this.view = new DataView(this.buf.buffer);
  }
  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u32(v: number): this {
    this.ensure(4);
    this.view.setUint32(this.len, v >>> 0, true);
    this.len += 4;
    return this;
  }
  u16(v: number): this {
    this.ensure(2);
    this.view.setUint16(this.len, v & 0xffff, true);
    this.len += 2;
    return this;
  }
  u64(v: bigint | number): this {
    this.ensure(8);
    this.view.setBigUint64(this.len, BigInt.asUintN(64, BigInt(v)), true);
    this.len += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }
  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }
  pad8(): this {
    return this.zeros((8 - (this.len % 8)) % 8);
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** What a host stat gives for fuse_attr (BigIntStats from Node carry every field exactly). */
export interface Attr {
  ino: bigint;
  size: bigint;
  blocks: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  rdev: number;
  blksize: number;
}

const NS = 1_000_000_000n;

export function writeAttr(w: Writer, a: Attr): void {
  const sec = (t: bigint): bigint => (t >= 0n ? t / NS : (t - NS + 1n) / NS);
  const nsec = (t: bigint): number => Number(t - sec(t) * NS);
  w.u64(a.ino).u64(a.size).u64(a.blocks).u64(sec(a.atimeNs)).u64(sec(a.mtimeNs)).u64(sec(a.ctimeNs));
  w.u32(nsec(a.atimeNs)).u32(nsec(a.mtimeNs)).u32(nsec(a.ctimeNs));
  w.u32(a.mode).u32(Math.min(a.nlink, 0xffffffff)).u32(a.uid).u32(a.gid).u32(a.rdev).u32(a.blksize).u32(0);
}

/** fuse_entry_out: nodeid 0 means "negative entry" for LOOKUP and "no lookup taken" in READDIRPLUS. */
export function writeEntry(w: Writer, nodeid: bigint, a: Attr, validSec: number): void {
  w.u64(nodeid).u64(0).u64(validSec).u64(validSec).u32(0).u32(0);
  writeAttr(w, a);
}

/** Linux DT_* from a mode's S_IFMT. */
export function direntType(mode: number): number {
  return (mode >>> 12) & 0xf;
}
