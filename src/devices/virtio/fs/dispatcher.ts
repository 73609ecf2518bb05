// Decodes one FUSE request, runs it on the HostFs and encodes the reply. Every failure becomes
// an error reply (or, for requests that take none, nothing): nothing thrown escapes dispatch().
import type { HostFs } from './host-fs.ts';
import {
  DIRENT_BYTES, E, ENTRY_OUT_BYTES, GETXATTR_OUT_BYTES, errnoOf, FuseError, FUSE_KERNEL_MINOR, FUSE_KERNEL_VERSION,
  IN_HEADER_BYTES, INIT, OP, OUT_HEADER_BYTES, parseInHeader, Reader, Writer, writeAttr, writeEntry, direntType, XATTR_SIZE_MAX,
  type InHeader,
} from './wire.ts';
import { toAttr } from './host-fs.ts';

/** Largest WRITE payload and READ size we accept (advertised as max_write; max_pages stays 32). */
export const MAX_IO_BYTES = 128 * 1024;
/** Largest request the dispatcher reads from guest memory (a WRITE header plus its data). */
export const MAX_REQUEST_BYTES = IN_HEADER_BYTES + 64 + MAX_IO_BYTES;
/** Largest reply body (READDIR buffers are bounded by this too). */
export const MAX_REPLY_BYTES = MAX_IO_BYTES + 4096;
/** Attribute / entry cache lifetime given to the guest, seconds. */
export const CACHE_SECONDS = 1;
const MAX_BATCH_FORGET = 4096;

/** The outcome of one request: reply bytes for the out buffers, or nothing (FORGET & co). */
export type Reply = Uint8Array | undefined;

export class FuseDispatcher {
  initialized = false;
  constructor(private readonly fs: HostFs, private readonly log: { debug(m: string): void; warn(m: string): void }) {}

  /** Run one request given its readable bytes; `outCapacity` is the size of its writable buffers. */
  async dispatch(req: Uint8Array, outCapacity: number): Promise<Reply> {
    const h = parseInHeader(req);
    if (!h) {
      this.log.warn(`virtio-fs: request of ${req.length} bytes has no FUSE header`);
      return undefined;
    }
    if (h.opcode === OP.FORGET || h.opcode === OP.BATCH_FORGET || h.opcode === OP.INTERRUPT) {
      try {
        this.noReply(h, new Reader(req.subarray(IN_HEADER_BYTES, Math.min(req.length, Math.max(IN_HEADER_BYTES, h.len)))));
      } catch (e) {
        this.log.debug(`virtio-fs: ${h.opcode}: ${(e as Error).message}`);
      }
      return undefined;
    }
    if (outCapacity < OUT_HEADER_BYTES) {
      this.log.warn(`virtio-fs: opcode ${h.opcode} without room for a reply`);
      return undefined;
    }
    let body: Uint8Array;
    let error = 0;
    try {
      if (h.len < IN_HEADER_BYTES || h.len > req.length) throw new FuseError(E.INVAL, `header len ${h.len} vs ${req.length} bytes`);
      body = await this.run(h, new Reader(req.subarray(IN_HEADER_BYTES, h.len)), outCapacity - OUT_HEADER_BYTES);
      if (body.length > outCapacity - OUT_HEADER_BYTES) throw new FuseError(E.RANGE, 'reply larger than the buffer');
    } catch (e) {
      error = errnoOf(e);
      if (!(e instanceof FuseError) && !(e as NodeJS.ErrnoException).code) this.log.warn(`virtio-fs: opcode ${h.opcode}: ${(e as Error).message}`);
      body = new Uint8Array(0);
    }
    const w = new Writer(OUT_HEADER_BYTES + body.length);
    w.u32(OUT_HEADER_BYTES + body.length).u32(-error | 0).u64(h.unique).bytes(body);
    return w.done();
  }

  private noReply(h: InHeader, r: Reader): void {
    if (h.opcode === OP.FORGET) this.fs.forget(h.nodeid, r.u64());
    else if (h.opcode === OP.BATCH_FORGET) {
      const count = Math.min(r.u32(), MAX_BATCH_FORGET);
      r.u32();
      for (let i = 0; i < count && r.remaining >= 16; i++) this.fs.forget(r.u64(), r.u64());
    }
    // INTERRUPT: requests are not cancellable on Node's fs; they finish and reply normally.
  }

  private async run(h: InHeader, r: Reader, room: number): Promise<Uint8Array> {
    const fs = this.fs;
    const w = new Writer();
    const entry = (x: { id: bigint; attr: ReturnType<typeof toAttr> }): Uint8Array => {
      writeEntry(w, x.id, x.attr, CACHE_SECONDS);
      return w.done();
    };
    const attrOut = (a: ReturnType<typeof toAttr>): Uint8Array => {
      w.u64(CACHE_SECONDS).u32(0).u32(0);
      writeAttr(w, a);
      return w.done();
    };
    if (!this.initialized && h.opcode !== OP.INIT) throw new FuseError(E.IO, 'request before FUSE_INIT');
    switch (h.opcode) {
      case OP.INIT: return this.init(r, w);
      case OP.DESTROY:
        await fs.destroy();
        this.initialized = false;
        return w.done();
      case OP.LOOKUP: return entry(await fs.lookup(h.nodeid, r.cstring()));
      case OP.GETATTR: {
        const flags = r.u32();
        r.u32();
        const fh = r.u64();
        return attrOut(await fs.getattr(h.nodeid, flags & 1 ? fh : undefined));
      }
      case OP.SETATTR: {
        const valid = r.u32();
        r.u32();
        const fh = r.u64();
        const size = r.safe64();
        r.u64(); // lock_owner
        const atime = r.u64();
        const mtime = r.u64();
        r.u64(); // ctime
        const atimensec = r.u32();
        const mtimensec = r.u32();
        r.u32();
        const mode = r.u32();
        r.u32();
        const uid = r.u32();
        const gid = r.u32();
        return attrOut(await fs.setattr(h.nodeid, { valid, fh, size, atime, mtime, atimensec, mtimensec, mode, uid, gid }));
      }
      case OP.READLINK: return fs.readlink(h.nodeid);
      case OP.SYMLINK: {
        const name = r.cstring();
        const target = r.cstring();
        return entry(await fs.symlink(h.nodeid, name, target));
      }
      case OP.MKNOD: {
        const mode = r.u32();
        r.u32(); // rdev
        const umask = r.u32();
        r.u32();
        return entry(await fs.mknod(h.nodeid, r.cstring(), mode & ~umask));
      }
      case OP.MKDIR: {
        const mode = r.u32();
        const umask = r.u32();
        return entry(await fs.mkdir(h.nodeid, r.cstring(), mode & ~umask));
      }
      case OP.UNLINK: await fs.unlink(h.nodeid, r.cstring(), false); return w.done();
      case OP.RMDIR: await fs.unlink(h.nodeid, r.cstring(), true); return w.done();
      case OP.RENAME: {
        const newdir = r.u64();
        const from = r.cstring();
        await fs.rename(h.nodeid, from, newdir, r.cstring(), 0);
        return w.done();
      }
      case OP.RENAME2: {
        const newdir = r.u64();
        const flags = r.u32();
        r.u32();
        const from = r.cstring();
        await fs.rename(h.nodeid, from, newdir, r.cstring(), flags);
        return w.done();
      }
      case OP.LINK: {
        const old = r.u64();
        return entry(await fs.link(old, h.nodeid, r.cstring()));
      }
      case OP.OPEN: {
        const flags = r.u32();
        const fh = await fs.open(h.nodeid, flags);
        return w.u64(fh).u32(0).u32(0).done();
      }
      case OP.CREATE: {
        const flags = r.u32();
        const mode = r.u32();
        const umask = r.u32();
        r.u32();
        const c = await fs.create(h.nodeid, r.cstring(), flags, mode & ~umask);
        writeEntry(w, c.id, c.attr, CACHE_SECONDS);
        return w.u64(c.fh).u32(0).u32(0).done();
      }
      case OP.READ: {
        const fh = r.u64();
        const offset = r.safe64();
        const size = Math.min(r.u32(), MAX_IO_BYTES, room);
        return fs.read(fh, offset, size);
      }
      case OP.WRITE: {
        const fh = r.u64();
        const offset = r.safe64();
        const size = r.u32();
        r.skip(4 + 8 + 4 + 4);
        if (size > MAX_IO_BYTES) throw new FuseError(E.INVAL, `write of ${size} bytes`);
        const n = await fs.write(fh, offset, r.bytesN(size));
        return w.u32(n).u32(0).done();
      }
      case OP.FLUSH: fs.fileHandle(r.u64()); return w.done(); // nothing is buffered in the VMM
      case OP.FSYNC: {
        const fh = r.u64();
        await fs.fsync(fh, (r.u32() & 1) !== 0);
        return w.done();
      }
      case OP.RELEASE: case OP.RELEASEDIR: await fs.release(r.u64()); return w.done();
      case OP.OPENDIR: {
        const fh = await fs.opendir(h.nodeid);
        return w.u64(fh).u32(0).u32(0).done();
      }
      case OP.READDIR: case OP.READDIRPLUS: {
        const fh = r.u64();
        const offset = r.safe64();
        const size = Math.min(r.u32(), room, MAX_REPLY_BYTES);
        return this.readdir(fh, offset, size, h.opcode === OP.READDIRPLUS);
      }
      case OP.FSYNCDIR: fs.dirHandle(r.u64()); return w.done();
      case OP.STATFS: {
        const s = await fs.statfs(h.nodeid);
        w.u64(s.blocks).u64(s.bfree).u64(s.bavail).u64(s.files).u64(s.ffree).u32(s.bsize).u32(255).u32(s.bsize).u32(0);
        return w.zeros(24).done();
      }
      case OP.ACCESS: await fs.access(h.nodeid, r.u32()); return w.done();
      case OP.LSEEK: {
        const fh = r.u64();
        const offset = r.safe64();
        return w.u64(await fs.lseek(fh, offset, r.u32())).done();
      }
      case OP.FALLOCATE: {
        const fh = r.u64();
        const offset = r.safe64();
        const length = r.safe64();
        await fs.fallocate(fh, offset, length, r.u32());
        return w.done();
      }
      case OP.SETXATTR: {
        if (fs.readonly) throw new FuseError(E.ROFS, 'read-only share');
        // fuse_setxattr_in as 7.31 has it (size, flags): FUSE_SETXATTR_EXT is never advertised.
        const size = r.u32();
        const flags = r.u32();
        const name = r.cbytes();
        if (size > XATTR_SIZE_MAX) throw new FuseError(E.TOOBIG, `xattr value of ${size} bytes`);
        await fs.setxattr(h.nodeid, name, r.bytesN(size), flags);
        return w.done();
      }
      case OP.REMOVEXATTR:
        if (fs.readonly) throw new FuseError(E.ROFS, 'read-only share');
        await fs.removexattr(h.nodeid, r.cbytes());
        return w.done();
      case OP.GETXATTR: case OP.LISTXATTR: {
        const size = r.u32();
        r.u32();
        // A size-0 request asks for the length (fuse_getxattr_out); otherwise the bytes, ERANGE if they do not fit.
        const want = size === 0 ? 0 : Math.min(size, room);
        if (size !== 0 && want === 0) throw new FuseError(E.RANGE, 'no room for the value');
        const got = h.opcode === OP.GETXATTR ? await fs.getxattr(h.nodeid, r.cbytes(), want) : await fs.listxattr(h.nodeid, want);
        if (typeof got === 'number') {
          if (room < GETXATTR_OUT_BYTES) throw new FuseError(E.RANGE, 'no room for fuse_getxattr_out');
          return w.u32(got).u32(0).done();
        }
        return got;
      }
      default:
        throw new FuseError(E.NOSYS, `opcode ${h.opcode}`);
    }
  }

  private init(r: Reader, w: Writer): Uint8Array {
    const major = r.u32();
    const minor = r.u32();
    const maxReadahead = r.u32();
    const flags = r.u32();
    if (major !== FUSE_KERNEL_VERSION) {
      // Tell a newer/older major what we speak; the kernel then retries or gives up.
      this.log.warn(`virtio-fs: guest speaks FUSE ${major}.${minor}`);
      return w.u32(FUSE_KERNEL_VERSION).u32(FUSE_KERNEL_MINOR).zeros(56).done();
    }
    const want = INIT.ASYNC_READ | INIT.BIG_WRITES | INIT.DO_READDIRPLUS | INIT.READDIRPLUS_AUTO | INIT.PARALLEL_DIROPS;
    this.initialized = true;
    w.u32(FUSE_KERNEL_VERSION).u32(Math.min(minor, FUSE_KERNEL_MINOR)).u32(maxReadahead).u32(flags & want);
    w.u16(16).u16(12); // max_background, congestion_threshold
    w.u32(MAX_IO_BYTES).u32(1); // max_write, time_gran (ns)
    w.u16(0).u16(0).u32(0); // max_pages (unused without MAX_PAGES), map_alignment, flags2
    return w.zeros(28).done();
  }

  private async readdir(fh: bigint, offset: number, size: number, plus: boolean): Promise<Uint8Array> {
    const h = this.fs.dirHandle(fh);
    const w = new Writer(Math.min(size, 4096));
    for (let i = offset; i < h.entries.length; i++) {
      const e = h.entries[i];
      const nameBytes = Buffer.from(e.name);
      const recLen = (plus ? ENTRY_OUT_BYTES : 0) + DIRENT_BYTES + ((nameBytes.length + 7) & ~7);
      if (w.len + recLen > size) break;
      let ino: bigint;
      let type = e.type;
      if (plus) {
        const dot = e.name === '.' || e.name === '..';
        let got: { id: bigint; attr: ReturnType<typeof toAttr> };
        try {
          // '.' and '..' never take a lookup (the kernel does not count them); others do.
          got = dot ? { id: 0n, attr: toAttr(await this.fs.entryStat(h, e.name)) } : await this.fs.entryLookup(h, e.name);
        } catch (err) {
          if (w.len === 0 && errnoOf(err) === E.NFILE) throw err;
          if (errnoOf(err) === E.NFILE) break;
          continue; // vanished since OPENDIR
        }
        writeEntry(w, got.id, got.attr, CACHE_SECONDS);
        ino = got.attr.ino;
        type = direntType(got.attr.mode);
      } else {
        try {
          ino = (await this.fs.entryStat(h, e.name)).ino;
        } catch {
          continue;
        }
      }
      w.u64(ino).u64(i + 1).u32(nameBytes.length).u32(type).bytes(nameBytes).pad8();
    }
    return w.done();
  }
}
