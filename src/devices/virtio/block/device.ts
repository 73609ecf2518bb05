// virtio-blk over a raw image file (virtio 1.2, 5.2). Requests run as async file I/O, up to
// MAX_IN_FLIGHT at once and MAX_BYTES_IN_FLIGHT of host buffers, and may complete out of order.
// Guest data is copied in at pop time (writes) or out at completion (reads), and a completion
// that arrives after a reset is dropped so no stale I/O touches guest memory. A write completes
// once the host write returned; FLUSH completes only after FileHandle.sync(). DISCARD punches a
// hole in the image (the nodevisor_hostfs addon: fallocate PUNCH_HOLE / F_PUNCHHOLE), as does
// WRITE_ZEROES with the unmap flag; without the addon, or on a host fs that cannot punch,
// DISCARD leaves the data in place (it is a hint) and WRITE_ZEROES writes zeroes.
import { open, type FileHandle } from 'node:fs/promises';
import { tryLoadHostfs, type NativeHostfs } from '../../../host/hostfs-native.ts';
import type { GuestMemoryAccess } from '../../../memory/guest-memory.ts';
import {
  bit, readConfigBytes, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_ID_BLOCK,
  type DeviceLogger, type DeviceSignals, type VirtioDevice,
} from '../device.ts';
import type { DescriptorChain, Virtqueue } from '../queue.ts';

export const VIRTIO_BLK_F_SEG_MAX = 2;
export const VIRTIO_BLK_F_RO = 5;
export const VIRTIO_BLK_F_BLK_SIZE = 6;
export const VIRTIO_BLK_F_FLUSH = 9;
export const VIRTIO_BLK_F_DISCARD = 13;
export const VIRTIO_BLK_F_WRITE_ZEROES = 14;

export const VIRTIO_BLK_T_IN = 0;
export const VIRTIO_BLK_T_OUT = 1;
export const VIRTIO_BLK_T_FLUSH = 4;
export const VIRTIO_BLK_T_GET_ID = 8;
export const VIRTIO_BLK_T_DISCARD = 11;
export const VIRTIO_BLK_T_WRITE_ZEROES = 13;

export const VIRTIO_BLK_S_OK = 0;
export const VIRTIO_BLK_S_IOERR = 1;
export const VIRTIO_BLK_S_UNSUPP = 2;
export const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP = 1;

export const SECTOR_SIZE = 512;
export const QUEUE_SIZE = 256;
export const SEG_MAX = QUEUE_SIZE - 2;
export const MAX_IN_FLIGHT = 64;
export const VIRTIO_BLK_ID_BYTES = 20;
/** Per-request caps on discard / write-zeroes extents, in sectors (advertised in config). */
export const MAX_DISCARD_SECTORS = 1 << 22;
export const MAX_WRITE_ZEROES_SECTORS = 1 << 16;
/** Largest data transfer of one IN/OUT request. */
export const MAX_TRANSFER_BYTES = 16 * 1024 * 1024;
/** Host buffer bytes held by requests in flight; no more chains are taken past this. */
export const MAX_BYTES_IN_FLIGHT = 64 * 1024 * 1024;
const HEADER_BYTES = 16;
const CONFIG_BYTES = 60;
const ZERO_CHUNK = 1024 * 1024;

export class BlockError extends Error {
  override readonly name = 'BlockError';
}

export interface BlockOptions {
  readonly?: boolean;
  /** Reported by GET_ID (at most 20 bytes). */
  id?: string;
  log?: DeviceLogger;
  /** Hole punching (default: the nodevisor_hostfs addon's, if it loads); false: never punch. */
  punchHole?: NativeHostfs['punchHole'] | false;
}

type PunchHole = NativeHostfs['punchHole'];

type Active = { kind: 'activated'; mem: GuestMemoryAccess; queue: Virtqueue; signals: DeviceSignals; epoch: number };

export class VirtioBlock implements VirtioDevice {
  readonly deviceType = VIRTIO_ID_BLOCK;
  readonly queueMaxSizes = [QUEUE_SIZE];
  readonly configSize = CONFIG_BYTES;
  readonly features: bigint;
  readonly capacitySectors: number;
  private readonly config = new Uint8Array(CONFIG_BYTES);
  private state: { kind: 'inactive' } | Active = { kind: 'inactive' };
  private epoch = 0;
  private inFlight = 0;
  private bytesInFlight = 0;
  private readonly pending = new Set<Promise<void>>();
  private closed = false;
  /** null once known unavailable (no addon, or the host fs refused). */
  private punch: PunchHole | null = null;

  static async open(path: string, options: BlockOptions = {}): Promise<VirtioBlock> {
    let fh: FileHandle;
    try {
      fh = await open(path, options.readonly ? 'r' : 'r+');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new BlockError(`cannot open disk image ${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
    const st = await fh.stat();
    // Node cannot ask a host block device its size (stat says 0), so only image files work.
    if (!st.isFile()) {
      await fh.close();
      throw new BlockError(`disk image ${path} is not a regular file${st.isBlockDevice() ? ' (host block devices are not supported)' : ''}`);
    }
    return new VirtioBlock(fh, st.size, path, options);
  }

  constructor(private readonly file: FileHandle, sizeBytes: number, readonly name: string, private readonly options: BlockOptions = {}) {
    this.capacitySectors = Math.floor(sizeBytes / SECTOR_SIZE);
    if (sizeBytes % SECTOR_SIZE !== 0) this.log.warn(`${name}: size is not a multiple of 512; the tail is not visible`);
    let f = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX)
      | bit(VIRTIO_BLK_F_SEG_MAX) | bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH);
    f |= options.readonly ? bit(VIRTIO_BLK_F_RO) : bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES);
    this.features = f;
    if (!options.readonly) {
      const loaded = options.punchHole === false ? { error: 'hole punching is off' } : options.punchHole ? { addon: { punchHole: options.punchHole } } : tryLoadHostfs();
      if (loaded.addon) this.punch = loaded.addon.punchHole;
      else this.log.debug(`${name}: DISCARD frees no space and WRITE_ZEROES writes zeroes: ${loaded.error}`);
    }
    const v = new DataView(this.config.buffer);
    v.setBigUint64(0, BigInt(this.capacitySectors), true);
    v.setUint32(12, SEG_MAX, true);
    v.setUint32(20, SECTOR_SIZE, true);
    v.setUint16(34, 1, true); // num_queues
    v.setUint32(36, MAX_DISCARD_SECTORS, true);
    v.setUint32(40, 1, true); // max_discard_seg
    v.setUint32(44, 1, true); // discard_sector_alignment
    v.setUint32(48, MAX_WRITE_ZEROES_SECTORS, true);
    v.setUint32(52, 1, true); // max_write_zeroes_seg
    v.setUint8(56, this.punch ? 1 : 0); // write_zeroes_may_unmap
  }

  private get log(): DeviceLogger {
    return this.options.log ?? silentLogger;
  }

  get requestsInFlight(): number {
    return this.inFlight;
  }

  readConfig(offset: number, size: number): number {
    return readConfigBytes(this.config, offset, size);
  }

  writeConfig(offset: number, size: number): void {
    this.log.warn(`${this.name}: ignoring ${size}-byte config write at ${offset}`);
  }

  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], _features: bigint, signals: DeviceSignals): void {
    this.state = { kind: 'activated', mem, queue: queues[0], signals, epoch: ++this.epoch };
  }

  reset(): void {
    this.epoch++;
    this.state = { kind: 'inactive' };
  }

  queueNotify(index: number): void {
    if (index === 0) this.process();
  }

  /** Wait for in-flight requests, sync and close the image. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reset();
    await Promise.allSettled([...this.pending]);
    if (!this.options.readonly) await this.file.sync().catch(() => undefined);
    await this.file.close();
  }

  /** Resolves once every request started so far has completed (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  private process(): void {
    const s = this.state;
    if (s.kind !== 'activated' || this.closed) return;
    while (this.inFlight < MAX_IN_FLIGHT && this.bytesInFlight < MAX_BYTES_IN_FLIGHT) {
      const chain = s.queue.pop();
      if (!chain) break;
      this.start(s, chain);
    }
  }

  private start(s: Active, chain: DescriptorChain): void {
    const w = chain.writable;
    const statusSeg = w[w.length - 1];
    if (!statusSeg || statusSeg.len < 1 || chain.readableLength < HEADER_BYTES) {
      this.log.warn(`${this.name}: malformed request (no header or status byte)`);
      s.queue.addUsed(chain.head, 0);
      s.signals.usedBuffers(0);
      return;
    }
    // The host buffer a request may hold: its data in (reads) or out (writes), capped by extent().
    const bytes = Math.min(MAX_TRANSFER_BYTES, Math.max(chain.readableLength, chain.writableLength));
    this.inFlight++;
    this.bytesInFlight += bytes;
    const p = this.execute(s.mem, chain)
      .catch((e: unknown) => {
        this.log.warn(`${this.name}: I/O error: ${(e as Error).message}`);
        return { status: VIRTIO_BLK_S_IOERR, data: undefined as Uint8Array | undefined };
      })
      .then((r) => {
        this.inFlight--;
        this.bytesInFlight -= bytes;
        if (this.state.kind !== 'activated' || this.state.epoch !== s.epoch) return; // reset meanwhile
        try {
          let written = 0;
          if (r.status === VIRTIO_BLK_S_OK && r.data) written = chain.writeBytes(s.mem, 0, r.data);
          s.mem.writeU8(statusSeg.addr + statusSeg.len - 1, r.status);
          s.queue.addUsed(chain.head, written + 1);
          s.signals.usedBuffers(0);
        } catch (e) {
          // Segments were checked at pop time; never let a surprise become an unhandled rejection.
          this.log.warn(`${this.name}: completing request ${chain.head} failed: ${(e as Error).message}`);
        }
        this.process();
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Runs one request; resolves with its status and, for reads, the bytes to return. */
  private async execute(mem: GuestMemoryAccess, chain: DescriptorChain): Promise<{ status: number; data?: Uint8Array }> {
    const header = chain.readBytes(mem, 0, HEADER_BYTES);
    const hv = new DataView(header.buffer);
    const type = hv.getUint32(0, true);
    const sector = hv.getBigUint64(8, true);
    const dataInBytes = chain.writableLength - 1; // the last writable byte is the status
    const ro = this.options.readonly === true;
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        const offset = this.extent(sector, dataInBytes, MAX_TRANSFER_BYTES);
        if (offset === undefined) return { status: VIRTIO_BLK_S_IOERR };
        const buf = new Uint8Array(dataInBytes);
        let done = 0;
        while (done < buf.length) {
          const { bytesRead } = await this.file.read(buf, done, buf.length - done, offset + done);
          if (bytesRead === 0) return { status: VIRTIO_BLK_S_IOERR };
          done += bytesRead;
        }
        return { status: VIRTIO_BLK_S_OK, data: buf };
      }
      case VIRTIO_BLK_T_OUT: {
        const len = chain.readableLength - HEADER_BYTES;
        if (ro) return { status: VIRTIO_BLK_S_IOERR };
        const offset = this.extent(sector, len, MAX_TRANSFER_BYTES);
        if (offset === undefined) return { status: VIRTIO_BLK_S_IOERR };
        const data = chain.readBytes(mem, HEADER_BYTES, len);
        await this.writeFully(data, offset);
        return { status: VIRTIO_BLK_S_OK };
      }
      case VIRTIO_BLK_T_FLUSH:
        if (!ro) await this.file.sync();
        return { status: VIRTIO_BLK_S_OK };
      case VIRTIO_BLK_T_GET_ID: {
        const id = new TextEncoder().encode(this.options.id ?? 'nodevisor').subarray(0, VIRTIO_BLK_ID_BYTES);
        const out = new Uint8Array(Math.min(VIRTIO_BLK_ID_BYTES, dataInBytes));
        out.set(id.subarray(0, out.length));
        return { status: VIRTIO_BLK_S_OK, data: out };
      }
      case VIRTIO_BLK_T_DISCARD:
      case VIRTIO_BLK_T_WRITE_ZEROES: {
        if (ro) return { status: VIRTIO_BLK_S_IOERR };
        const segBytes = chain.readableLength - HEADER_BYTES;
        if (segBytes !== 16) return { status: VIRTIO_BLK_S_UNSUPP }; // max_*_seg is 1
        const seg = new DataView(chain.readBytes(mem, HEADER_BYTES, 16).buffer);
        const start = seg.getBigUint64(0, true);
        const count = seg.getUint32(8, true);
        const flags = seg.getUint32(12, true);
        const isDiscard = type === VIRTIO_BLK_T_DISCARD;
        const cap = isDiscard ? MAX_DISCARD_SECTORS : MAX_WRITE_ZEROES_SECTORS;
        // Discard takes no flags; write-zeroes only the unmap hint (bit 0).
        if (count > cap || (isDiscard ? flags !== 0 : (flags & ~1) !== 0)) return { status: VIRTIO_BLK_S_UNSUPP };
        const offset = this.extent(start, count * SECTOR_SIZE, cap * SECTOR_SIZE);
        if (offset === undefined) return { status: VIRTIO_BLK_S_IOERR };
        const bytes = count * SECTOR_SIZE;
        if (bytes === 0) return { status: VIRTIO_BLK_S_OK };
        if (isDiscard || flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) {
          const punched = await this.punchHole(offset, bytes);
          // Discard is a hint (reads after it are unspecified): unpunched bytes may stay as they are.
          if (!isDiscard) {
            if (!punched) await this.writeZeroes(offset, bytes);
            else {
              // macOS punches whole blocks only: zero the edges it left.
              await this.writeZeroes(offset, punched.offset - offset);
              const end = punched.offset + punched.length;
              await this.writeZeroes(end, offset + bytes - end);
            }
          }
        } else await this.writeZeroes(offset, bytes);
        return { status: VIRTIO_BLK_S_OK };
      }
      default:
        return { status: VIRTIO_BLK_S_UNSUPP };
    }
  }

  /** The byte offset of [sector, +bytes) when it is whole sectors inside the disk and at most `max` bytes. */
  private extent(sector: bigint, bytes: number, max: number): number | undefined {
    if (bytes < 0 || bytes % SECTOR_SIZE !== 0 || bytes > max) return undefined;
    if (sector + BigInt(bytes / SECTOR_SIZE) > BigInt(this.capacitySectors)) return undefined;
    return Number(sector) * SECTOR_SIZE;
  }

  private async writeFully(data: Uint8Array, offset: number): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.file.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
  }

  /**
   * Deallocates [offset, +bytes) keeping the image size; resolves with the range actually
   * punched, or undefined when punching is unavailable (then it never is tried again).
   */
  private async punchHole(offset: number, bytes: number): Promise<{ offset: number; length: number } | undefined> {
    if (!this.punch) return undefined;
    try {
      const r = await this.punch(this.file.fd, offset, bytes);
      return r.length > 0 ? r : { offset, length: 0 };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw e;
      this.punch = null;
      this.log.debug(`${this.name}: the host filesystem cannot punch holes (${code}); DISCARD frees no space from now on`);
      return undefined;
    }
  }

  private async writeZeroes(offset: number, bytes: number): Promise<void> {
    if (bytes <= 0) return;
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK, bytes));
    for (let done = 0; done < bytes; done += zeros.length) {
      await this.writeFully(zeros.subarray(0, Math.min(zeros.length, bytes - done)), offset + done);
    }
  }
}
