// `--net socket,path=PATH`: raw Ethernet frames over a Unix stream socket, each prefixed by
// its length as a 4-byte big-endian number: QEMU's `-netdev stream` (and `-netdev socket`)
// framing, so nodevisor can join a QEMU guest's stream netdev server or passt. vfkit's
// datagram protocol (gvproxy, vmnet-helper) is dgram-backend.ts.
import { connect, type Socket } from 'node:net';
import { NetBackendError, type NetBackend } from './backend.ts';

/** Frames larger than this (a 64 KiB TSO frame plus headers) mean a broken peer. */
export const MAX_STREAM_FRAME = 65550;
/** Frames buffered towards the peer before new ones are dropped (the socket is slow). */
const MAX_PENDING_BYTES = 4 << 20;

/** Splits a length-prefixed byte stream into frames; throws-free, reports a bad length. */
export class FrameDecoder {
  private buf = Buffer.alloc(0);

  /** Feed bytes; returns the complete frames, or 'bad-length' when the stream is corrupt. */
  push(chunk: Uint8Array): Uint8Array[] | 'bad-length' {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Uint8Array[] = [];
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0);
      if (len === 0 || len > MAX_STREAM_FRAME) return 'bad-length';
      if (this.buf.length < 4 + len) break;
      out.push(new Uint8Array(this.buf.subarray(4, 4 + len)));
      this.buf = this.buf.subarray(4 + len);
    }
    return out;
  }
}

export function encodeFrame(frame: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(4 + frame.length);
  b.writeUInt32BE(frame.length, 0);
  b.set(frame, 4);
  return b;
}

export class StreamBackend implements NetBackend {
  readonly checksumsTrusted = false;
  private receiver: (frame: Uint8Array) => void = () => undefined;
  private readonly decoder = new FrameDecoder();
  /** Frames dropped because the peer was not reading. */
  dropped = 0;

  private constructor(private readonly socket: Socket, private readonly log: { warn(m: string): void }) {
    socket.on('data', (chunk: Buffer) => {
      const frames = this.decoder.push(chunk);
      if (frames === 'bad-length') {
        this.log.warn('net socket: peer sent a frame length out of range; disconnecting');
        socket.destroy();
        return;
      }
      for (const f of frames) this.receiver(f);
    });
    socket.on('error', (e) => this.log.warn(`net socket: ${e.message}`));
    socket.on('close', () => this.log.warn('net socket: peer closed the connection; the link is down'));
  }

  static open(path: string, log: { warn(m: string): void }): Promise<StreamBackend> {
    return new Promise((resolve, reject) => {
      const s = connect({ path });
      s.once('error', (e) => {
        // Connecting a stream socket to a datagram one fails with EPROTOTYPE: say which flag fits.
        const hint = (e as NodeJS.ErrnoException).code === 'EPROTOTYPE' ? ' (a datagram socket: use --net socket,type=dgram,path=PATH)' : '';
        reject(new NetBackendError(`--net socket,path=${path}: ${e.message}${hint}`));
      });
      s.once('connect', () => {
        s.removeAllListeners('error');
        resolve(new StreamBackend(s, log));
      });
    });
  }

  onFrame(receiver: (frame: Uint8Array) => void): void {
    this.receiver = receiver;
  }

  send(frame: Uint8Array): void {
    if (this.socket.destroyed || this.socket.writableLength > MAX_PENDING_BYTES || frame.length > MAX_STREAM_FRAME) {
      this.dropped++;
      return;
    }
    this.socket.write(encodeFrame(frame));
  }

  async close(): Promise<void> {
    this.socket.destroy();
  }
}
