// The host side of a serial device: a small two-ended port (the v86 message-bus shape).
// The device end emits output bytes and pulls input bytes as its FIFO has room; the host
// end (the CLI's stdin/stdout, an API user, an Electron window over IPC) subscribes to
// output and pushes input. The device never learns what is on the other end.
//
//   const port = new SerialPort();
//   const off = port.onOutput((bytes) => process.stdout.write(bytes));
//   let accepted = port.sendInput(chunk);           // < chunk.length: buffer full,
//   port.onDrain(() => retry(chunk.subarray(accepted))); // wait for drain, then send the rest
//
// Input is buffered up to `inputCapacity` bytes; past it sendInput() accepts only what fits
// and the host must wait for onDrain, so no byte is ever dropped silently. Output is
// coalesced and delivered on a microtask (or at once when `outputFlushBytes` accumulate),
// so a guest writing one byte per MMIO exit does not cost one host write per byte.

export const DEFAULT_INPUT_CAPACITY = 64 * 1024;
export const DEFAULT_OUTPUT_FLUSH_BYTES = 4096;

export interface SerialPortOptions {
  inputCapacity?: number;
  outputFlushBytes?: number;
}

type Unsubscribe = () => void;

export class SerialPort {
  readonly inputCapacity: number;
  private readonly outputFlushBytes: number;
  private input: Uint8Array;
  private inputHead = 0;
  private inputCount = 0;
  private inputWasRefused = false;
  private drainScheduled = false;
  private output: Uint8Array;
  private outputCount = 0;
  private flushScheduled = false;
  private readonly outputListeners = new Set<(bytes: Uint8Array) => void>();
  private readonly drainListeners = new Set<() => void>();
  private inputListener?: () => void;

  constructor(options: SerialPortOptions = {}) {
    this.inputCapacity = options.inputCapacity ?? DEFAULT_INPUT_CAPACITY;
    this.outputFlushBytes = options.outputFlushBytes ?? DEFAULT_OUTPUT_FLUSH_BYTES;
    if (!Number.isInteger(this.inputCapacity) || this.inputCapacity < 1) throw new RangeError('inputCapacity must be a positive integer');
    if (!Number.isInteger(this.outputFlushBytes) || this.outputFlushBytes < 1) throw new RangeError('outputFlushBytes must be a positive integer');
    this.input = new Uint8Array(this.inputCapacity);
    this.output = new Uint8Array(this.outputFlushBytes);
  }

  // ---- host end ----

  /** Receive the guest's output. Returns a function that unsubscribes. */
  onOutput(listener: (bytes: Uint8Array) => void): Unsubscribe {
    this.outputListeners.add(listener);
    return () => this.outputListeners.delete(listener);
  }

  /**
   * Queue input for the guest. Returns how many bytes were accepted; fewer than offered
   * means the buffer is full: wait for onDrain and send the rest.
   */
  sendInput(data: Uint8Array | string): number {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    let accepted = 0;
    // The device may take bytes as soon as it is told, freeing room for more.
    while (accepted < bytes.length) {
      const n = Math.min(bytes.length - accepted, this.inputCapacity - this.inputCount);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        this.input[(this.inputHead + this.inputCount + i) % this.inputCapacity] = bytes[accepted + i];
      }
      this.inputCount += n;
      accepted += n;
      this.inputListener?.();
    }
    if (accepted < bytes.length) this.inputWasRefused = true;
    return accepted;
  }

  /** Called (on a microtask) when input space frees up after sendInput refused bytes. */
  onDrain(listener: () => void): Unsubscribe {
    this.drainListeners.add(listener);
    return () => this.drainListeners.delete(listener);
  }

  /** Bytes queued for the guest and not yet taken by the device. */
  get pendingInput(): number {
    return this.inputCount;
  }

  /** Deliver coalesced output now. */
  flush(): void {
    this.flushScheduled = false;
    if (this.outputCount === 0) return;
    const bytes = this.output.slice(0, this.outputCount);
    this.outputCount = 0;
    for (const l of this.outputListeners) l(bytes);
  }

  // ---- device end ----

  /** The device's hook for "input arrived"; one device per port. */
  attachDevice(onInput: () => void): void {
    this.inputListener = onInput;
  }

  /** Take up to `max` input bytes for the device. */
  takeInput(max: number): Uint8Array {
    const n = Math.max(0, Math.min(max, this.inputCount));
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.input[(this.inputHead + i) % this.inputCapacity];
    this.inputHead = (this.inputHead + n) % this.inputCapacity;
    this.inputCount -= n;
    if (n > 0 && this.inputWasRefused && !this.drainScheduled) {
      this.drainScheduled = true;
      queueMicrotask(() => {
        this.drainScheduled = false;
        this.inputWasRefused = false;
        for (const l of this.drainListeners) l();
      });
    }
    return out;
  }

  /** Emit one output byte from the device. */
  emitOutput(byte: number): void {
    this.output[this.outputCount++] = byte & 0xff;
    if (this.outputCount === this.outputFlushBytes) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }
}
