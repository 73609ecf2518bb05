// A writer for the "newc" cpio format, the one the Linux initramfs unpacker reads
// (Documentation/driver-api/early-userspace/buffer-format.rst).
// Each entry: a 110-byte ASCII header (magic "070701" and 13 fields of 8 hex digits),
// the NUL-terminated name, padding to 4 bytes, the data, padding to 4 bytes.
// The archive ends with an entry named "TRAILER!!!".

export class CpioError extends Error {
  override readonly name = 'CpioError';
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;

const MAGIC = '070701';
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';
const MAX_FIELD = 0xffff_ffff;

export interface CpioEntry {
  name: string;
  mode: number;
  data?: Uint8Array;
  uid?: number;
  gid?: number;
  mtime?: number;
  rdevMajor?: number;
  rdevMinor?: number;
}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

function hex8(n: number, field: string): string {
  if (!Number.isInteger(n) || n < 0 || n > MAX_FIELD) throw new CpioError(`cpio ${field} ${n} does not fit 32 bits`);
  return n.toString(16).padStart(8, '0');
}

export class CpioWriter {
  private readonly chunks: Uint8Array[] = [];
  private readonly names = new Set<string>();
  private nextIno = 1;
  private finished = false;

  /** Paths are stored without a leading '/', as the kernel and `cpio -i` expect. */
  private normalize(path: string): string {
    const name = path.replace(/^\/+/, '').replace(/\/+$/, '');
    if (!name || name.split('/').includes('..')) throw new CpioError(`bad cpio path '${path}'`);
    return name;
  }

  add(entry: CpioEntry): void {
    if (this.finished) throw new CpioError('cpio archive already finished');
    const name = this.normalize(entry.name);
    if (this.names.has(name)) throw new CpioError(`duplicate cpio entry '${name}'`);
    this.names.add(name);
    this.push(name, entry, this.nextIno++);
  }

  has(path: string): boolean {
    return this.names.has(this.normalize(path));
  }

  directory(path: string, perm = 0o755): void {
    this.add({ name: path, mode: S_IFDIR | perm });
  }

  /** Adds every missing parent directory of `path`. */
  parents(path: string): void {
    const parts = this.normalize(path).split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.names.has(dir)) this.directory(dir);
    }
  }

  file(path: string, data: Uint8Array, perm = 0o644): void {
    this.add({ name: path, mode: S_IFREG | perm, data });
  }

  symlink(path: string, target: string): void {
    this.add({ name: path, mode: S_IFLNK | 0o777, data: new TextEncoder().encode(target) });
  }

  charDevice(path: string, major: number, minor: number, perm = 0o600): void {
    this.add({ name: path, mode: S_IFCHR | perm, rdevMajor: major, rdevMinor: minor });
  }

  /** Appends the trailer and returns the whole archive. */
  finish(): Uint8Array {
    if (!this.finished) {
      this.push(TRAILER, { name: TRAILER, mode: 0 }, 0);
      this.finished = true;
    }
    return Buffer.concat(this.chunks);
  }

  private push(name: string, e: CpioEntry, ino: number): void {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const data = e.data ?? new Uint8Array(0);
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    const fields = [
      hex8(ino, 'inode'),
      hex8(e.mode, 'mode'),
      hex8(e.uid ?? 0, 'uid'),
      hex8(e.gid ?? 0, 'gid'),
      hex8(isDir ? 2 : 1, 'nlink'),
      hex8(e.mtime ?? 0, 'mtime'),
      hex8(data.length, 'filesize'),
      hex8(0, 'devmajor'),
      hex8(0, 'devminor'),
      hex8(e.rdevMajor ?? 0, 'rdevmajor'),
      hex8(e.rdevMinor ?? 0, 'rdevminor'),
      hex8(nameBytes.length, 'namesize'),
      hex8(0, 'check'),
    ];
    const header = Buffer.from(MAGIC + fields.join(''), 'ascii');
    if (header.length !== HEADER_SIZE) throw new CpioError('internal: bad cpio header size');
    this.chunks.push(header, nameBytes, new Uint8Array(pad4(HEADER_SIZE + nameBytes.length)), data, new Uint8Array(pad4(data.length)));
  }
}

/** Lists a newc archive's entries (names and modes); for tests and `guest list`. */
export function listCpio(archive: Uint8Array): { name: string; mode: number; size: number }[] {
  const buf = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  const out: { name: string; mode: number; size: number }[] = [];
  let off = 0;
  while (off + HEADER_SIZE <= buf.length) {
    if (buf.toString('ascii', off, off + 6) !== MAGIC) throw new CpioError(`bad cpio magic at ${off}`);
    const field = (i: number): number => parseInt(buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.toString('utf8', off + HEADER_SIZE, off + HEADER_SIZE + nameSize - 1);
    off += HEADER_SIZE + nameSize;
    off += pad4(off);
    off += size;
    off += pad4(off);
    if (name === TRAILER) return out;
    out.push({ name, mode, size });
  }
  throw new CpioError('cpio archive has no trailer');
}
