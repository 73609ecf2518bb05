// The host end of one virtio-console port: a Node Duplex. Reading yields what the guest
// wrote to the port; writing queues bytes for the guest's receive buffers. Both directions
// are bounded: past the cap, bytes are dropped with a (rate-limited) warning, so neither a
// guest nobody reads nor a host writing into a port nobody opened can grow VMM memory.
// The ports outlive one Machine: a guest reset rebuilds the device around the same streams.
import { Duplex } from 'node:stream';
import { silentLogger, type DeviceLogger } from '../device.ts';

/** Bytes buffered per direction per port before dropping. */
export const PORT_BUFFER_CAP = 1 << 20;
/** The key under which port 0 (the guest's hvc0) is found. */
export const CONSOLE_PORT_KEY = 'hvc0';
/** Named ports at most (each costs two virtqueues). */
export const MAX_NAMED_PORTS = 30;
const NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export class ConsolePortError extends Error {
  override readonly name = 'ConsolePortError';
}

export class ConsolePort extends Duplex {
  /** Bytes dropped because a buffer was full, per direction (for stats and tests). */
  droppedFromGuest = 0;
  droppedToGuest = 0;
  /** Whether the guest has the port open (PORT_OPEN from the driver; always true for hvc0). */
  guestOpen = false;
  /** Set by the device: called when host bytes are waiting for the guest. */
  onHostData: () => void = () => undefined;
  log: DeviceLogger = silentLogger;
  private toGuest: Buffer[] = [];
  private toGuestBytes = 0;
  private fromGuest: Buffer[] = [];
  private fromGuestBytes = 0;
  private reading = false;

  constructor(readonly portName: string, readonly cap = PORT_BUFFER_CAP) {
    super({ allowHalfOpen: true });
  }

  get pendingToGuest(): number {
    return this.toGuestBytes;
  }

  /** Device side: up to `max` host bytes for the guest, consumed. */
  takeToGuest(max: number): Buffer | undefined {
    if (this.toGuestBytes === 0 || max <= 0) return undefined;
    const head = this.toGuest[0];
    if (head.length <= max) {
      this.toGuest.shift();
      this.toGuestBytes -= head.length;
      return head;
    }
    this.toGuest[0] = head.subarray(max);
    this.toGuestBytes -= max;
    return head.subarray(0, max);
  }

  /** Device side: bytes the guest wrote. */
  fromGuestData(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const b = Buffer.from(bytes);
    if (this.reading && this.fromGuestBytes === 0) {
      this.reading = this.push(b);
      return;
    }
    const room = this.cap - this.fromGuestBytes;
    if (room < b.length) {
      this.droppedFromGuest += b.length - Math.max(0, room);
      this.log.warn(`console port ${this.portName}: host not reading, dropped ${b.length - Math.max(0, room)} guest bytes`);
    }
    if (room > 0) {
      const kept = b.subarray(0, room);
      this.fromGuest.push(kept);
      this.fromGuestBytes += kept.length;
    }
  }

  /** Drop queued host input (the guest closed the port, or the device was reset). */
  discardToGuest(): void {
    this.toGuest = [];
    this.toGuestBytes = 0;
  }

  override _read(): void {
    this.reading = true;
    while (this.reading && this.fromGuest.length > 0) {
      const b = this.fromGuest.shift()!;
      this.fromGuestBytes -= b.length;
      this.reading = this.push(b);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    const room = this.cap - this.toGuestBytes;
    if (room < chunk.length) {
      this.droppedToGuest += chunk.length - Math.max(0, room);
      this.log.warn(`console port ${this.portName}: guest not receiving, dropped ${chunk.length - Math.max(0, room)} host bytes`);
    }
    if (room > 0) {
      const kept = chunk.subarray(0, room);
      this.toGuest.push(kept);
      this.toGuestBytes += kept.length;
      this.onHostData();
    }
    done();
  }
}

/** Port 0 (hvc0) and the named ports, in guest port-id order. */
export class ConsolePorts {
  readonly list: readonly ConsolePort[];

  constructor(names: readonly string[] = [], cap = PORT_BUFFER_CAP) {
    if (names.length > MAX_NAMED_PORTS) throw new ConsolePortError(`${names.length} console ports requested; at most ${MAX_NAMED_PORTS}`);
    const seen = new Set<string>([CONSOLE_PORT_KEY]);
    for (const n of names) {
      if (!NAME_RE.test(n)) throw new ConsolePortError(`invalid console port name '${n}': 1-64 letters, digits, '_', '.', ':', '-'`);
      if (seen.has(n)) throw new ConsolePortError(`console port name '${n}' is reserved or repeated`);
      seen.add(n);
    }
    this.list = [new ConsolePort(CONSOLE_PORT_KEY, cap), ...names.map((n) => new ConsolePort(n, cap))];
  }

  get console(): ConsolePort {
    return this.list[0];
  }

  /** The port named `name` ('hvc0' is port 0), or undefined. */
  get(name: string): ConsolePort | undefined {
    return this.list.find((p) => p.portName === name);
  }

  get names(): string[] {
    return this.list.slice(1).map((p) => p.portName);
  }
}
