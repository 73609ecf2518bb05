// virtio-console with VIRTIO_CONSOLE_F_MULTIPORT (virtio 1.2, 5.3). Port 0 is the console
// (hvc0 in a Linux guest); ports 1..n carry names (/dev/vportXpN with X the virtio device
// index, and /sys/class/virtio-ports/vportXpN/name). Queues: port 0 rx/tx = 0/1, control rx/tx = 2/3,
// port N rx/tx = 2N+2 / 2N+3. The control handshake follows Linux's virtio_console:
// driver DEVICE_READY -> device PORT_ADD per port -> driver PORT_READY -> device
// CONSOLE_PORT (port 0) or PORT_NAME, then PORT_OPEN (the host end is always connected);
// the driver reports guest open/close with PORT_OPEN. Host bytes for a named port wait until
// the guest opens it (Linux discards data arriving at a closed port).
import type { GuestMemoryAccess } from '../../../memory/guest-memory.ts';
import {
  bit, readConfigBytes, silentLogger, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1, VIRTIO_ID_CONSOLE,
  type DeviceLogger, type DeviceSignals, type VirtioDevice,
} from '../device.ts';
import type { DescriptorChain, Virtqueue } from '../queue.ts';
import { ConsolePorts, type ConsolePort } from './port.ts';

export const VIRTIO_CONSOLE_F_SIZE = 0;
export const VIRTIO_CONSOLE_F_MULTIPORT = 1;

export const CTRL = {
  DEVICE_READY: 0,
  PORT_ADD: 1,
  PORT_REMOVE: 2,
  PORT_READY: 3,
  CONSOLE_PORT: 4,
  RESIZE: 5,
  PORT_OPEN: 6,
  PORT_NAME: 7,
} as const;

export const CONSOLE_QUEUE_SIZE = 64;
/** Size of struct virtio_console_control (id u32, event u16, value u16). */
export const CONTROL_HEADER = 8;
/** Bytes taken from one guest transmit chain at most (Linux sends at most 32 KiB). */
const MAX_TX_CHAIN_BYTES = 64 * 1024;
/** Chains served per queue per turn; the rest on the next turn of the event loop. */
const MAX_CHAINS_PER_TURN = 64;
/** Control messages waiting for control receive buffers at most. */
const MAX_PENDING_CONTROL = 256;
/** Longest line of hvc0 output logged at debug. */
const MAX_LOG_LINE = 256;

export const rxQueueOf = (port: number): number => (port === 0 ? 0 : 2 * port + 2);
export const txQueueOf = (port: number): number => rxQueueOf(port) + 1;
const CTRL_RX = 2;
const CTRL_TX = 3;

export interface ConsoleOptions {
  /** The host ends; a fresh set with only hvc0 when omitted. */
  ports?: ConsolePorts;
  log?: DeviceLogger;
  /** Columns and rows reported in config space (VIRTIO_CONSOLE_F_SIZE). */
  size?: { cols: number; rows: number };
}

type State = {
  kind: 'activated';
  mem: GuestMemoryAccess;
  queues: readonly Virtqueue[];
  signals: DeviceSignals;
  multiport: boolean;
  /** Driver sent PORT_READY(1) for port id. */
  ready: Set<number>;
  control: Uint8Array[];
} | { kind: 'inactive' };

export class VirtioConsole implements VirtioDevice {
  readonly name = 'virtio-console';
  readonly deviceType = VIRTIO_ID_CONSOLE;
  readonly features: bigint;
  readonly queueMaxSizes: readonly number[];
  readonly configSize = 12;
  readonly ports: ConsolePorts;
  private readonly log: DeviceLogger;
  private readonly config = new Uint8Array(12);
  private state: State = { kind: 'inactive' };
  private scheduled = false;
  private logLine = '';

  constructor(opts: ConsoleOptions = {}) {
    this.ports = opts.ports ?? new ConsolePorts();
    this.log = opts.log ?? silentLogger;
    const maxPorts = this.ports.list.length;
    // Two queues per port plus the control pair; Linux sizes its queue array from max_nr_ports.
    this.queueMaxSizes = new Array<number>(2 * (maxPorts + 1)).fill(CONSOLE_QUEUE_SIZE);
    const view = new DataView(this.config.buffer);
    view.setUint16(0, opts.size?.cols ?? 80, true);
    view.setUint16(2, opts.size?.rows ?? 25, true);
    view.setUint32(4, maxPorts, true);
    this.features = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX) |
      bit(VIRTIO_CONSOLE_F_MULTIPORT) | (opts.size ? bit(VIRTIO_CONSOLE_F_SIZE) : 0n);
    this.ports.list.forEach((p, id) => {
      p.log = this.log;
      p.onHostData = () => this.kick(rxQueueOf(id));
    });
  }

  readConfig(offset: number, size: number): number {
    return readConfigBytes(this.config, offset, size);
  }

  writeConfig(offset: number, size: number, value: number): void {
    // emerg_wr (offset 8): only meaningful with F_EMERG_WRITE, which is not offered.
    this.log.warn(`virtio-console: ignoring ${size}-byte config write 0x${value.toString(16)} at ${offset}`);
  }

  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], features: bigint, signals: DeviceSignals): void {
    const multiport = (features & bit(VIRTIO_CONSOLE_F_MULTIPORT)) !== 0n;
    this.state = { kind: 'activated', mem, queues, signals, multiport, ready: new Set(), control: [] };
    // Without multiport the only port is the console, and it is open from the start.
    this.ports.console.guestOpen = !multiport;
  }

  reset(): void {
    this.state = { kind: 'inactive' };
    for (const p of this.ports.list) p.guestOpen = false;
  }

  queueNotify(index: number): void {
    if (index >= this.queueMaxSizes.length) return;
    this.service(index);
  }

  private kick(index: number): void {
    if (this.state.kind === 'activated') this.service(index);
  }

  private service(index: number): void {
    const st = this.state;
    if (st.kind !== 'activated') return;
    try {
      if (index === CTRL_RX) this.flushControl(st);
      else if (index === CTRL_TX) this.readControl(st);
      else {
        const port = index === 0 || index === 1 ? 0 : (index >> 1) - 1;
        if (port >= this.ports.list.length || (port > 0 && !st.multiport)) {
          this.log.warn(`virtio-console: notify for queue ${index} of no port`);
          return;
        }
        if (index % 2 === 0) this.fillRx(st, port);
        else this.drainTx(st, port);
      }
    } catch (e) {
      // Guest memory vanished under a chain, or similar: the guest's problem, not the VMM's.
      this.log.warn(`virtio-console: queue ${index}: ${(e as Error).message}`);
    }
  }

  /** Defer work past the per-turn budget so a busy guest cannot starve the event loop. */
  private later(index: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.service(index);
    });
  }

  private fillRx(st: Extract<State, { kind: 'activated' }>, id: number): void {
    const port = this.ports.list[id];
    const q = st.queues[rxQueueOf(id)];
    if (!q?.active || !port.guestOpen) return;
    let n = 0;
    for (; n < MAX_CHAINS_PER_TURN && port.pendingToGuest > 0; n++) {
      const chain = q.pop();
      if (!chain) break;
      const data = port.takeToGuest(chain.writableLength);
      const written = data ? chain.writeBytes(st.mem, 0, data) : 0;
      q.addUsed(chain.head, written);
    }
    if (n > 0) st.signals.usedBuffers(rxQueueOf(id));
    if (n === MAX_CHAINS_PER_TURN) this.later(rxQueueOf(id));
  }

  private drainTx(st: Extract<State, { kind: 'activated' }>, id: number): void {
    const port = this.ports.list[id];
    const q = st.queues[txQueueOf(id)];
    if (!q?.active) return;
    let n = 0;
    for (; n < MAX_CHAINS_PER_TURN; n++) {
      const chain = q.pop();
      if (!chain) break;
      const bytes = chain.readBytes(st.mem, 0, MAX_TX_CHAIN_BYTES);
      if (chain.readableLength > MAX_TX_CHAIN_BYTES) this.log.warn(`virtio-console: port ${id} chain of ${chain.readableLength} bytes truncated`);
      q.addUsed(chain.head, 0);
      if (id === 0) this.mirror(bytes);
      port.fromGuestData(bytes);
    }
    if (n > 0) st.signals.usedBuffers(txQueueOf(id));
    if (n === MAX_CHAINS_PER_TURN) this.later(txQueueOf(id));
  }

  /** hvc0 output goes to the debug log line by line, in case nobody reads port 0. */
  private mirror(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (b === 0x0a || this.logLine.length >= MAX_LOG_LINE) {
        this.log.debug(`hvc0: ${this.logLine}`);
        this.logLine = '';
        if (b === 0x0a) continue;
      }
      if (b !== 0x0d) this.logLine += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
    }
  }

  private sendControl(st: Extract<State, { kind: 'activated' }>, id: number, event: number, value: number, extra?: Uint8Array): void {
    if (st.control.length >= MAX_PENDING_CONTROL) {
      this.log.warn(`virtio-console: control queue full, dropping event ${event} for port ${id}`);
      return;
    }
    const msg = new Uint8Array(CONTROL_HEADER + (extra?.length ?? 0));
    const v = new DataView(msg.buffer);
    v.setUint32(0, id, true);
    v.setUint16(4, event, true);
    v.setUint16(6, value, true);
    if (extra) msg.set(extra, CONTROL_HEADER);
    st.control.push(msg);
  }

  private flushControl(st: Extract<State, { kind: 'activated' }>): void {
    const q = st.queues[CTRL_RX];
    if (!q?.active) return;
    let n = 0;
    while (st.control.length > 0) {
      const chain: DescriptorChain | undefined = q.pop();
      if (!chain) break;
      const msg = st.control.shift()!;
      if (chain.writableLength < msg.length) this.log.warn(`virtio-console: control buffer of ${chain.writableLength} bytes truncates a ${msg.length}-byte message`);
      q.addUsed(chain.head, chain.writeBytes(st.mem, 0, msg));
      n++;
    }
    if (n > 0) st.signals.usedBuffers(CTRL_RX);
  }

  private readControl(st: Extract<State, { kind: 'activated' }>): void {
    const q = st.queues[CTRL_TX];
    if (!q?.active) return;
    let n = 0;
    for (; n < MAX_CHAINS_PER_TURN; n++) {
      const chain = q.pop();
      if (!chain) break;
      const msg = chain.readBytes(st.mem, 0, CONTROL_HEADER);
      q.addUsed(chain.head, 0);
      if (msg.length < CONTROL_HEADER) {
        this.log.warn(`virtio-console: short control message (${msg.length} bytes)`);
        continue;
      }
      const v = new DataView(msg.buffer, msg.byteOffset);
      this.control(st, v.getUint32(0, true), v.getUint16(4, true), v.getUint16(6, true));
    }
    if (n > 0) st.signals.usedBuffers(CTRL_TX);
    if (n === MAX_CHAINS_PER_TURN) this.later(CTRL_TX);
    this.flushControl(st);
  }

  private control(st: Extract<State, { kind: 'activated' }>, id: number, event: number, value: number): void {
    if (!st.multiport) {
      this.log.warn('virtio-console: control message without MULTIPORT negotiated');
      return;
    }
    if (event === CTRL.DEVICE_READY) {
      if (value !== 1) {
        this.log.warn('virtio-console: driver reports it failed to initialise');
        return;
      }
      this.ports.list.forEach((_, i) => this.sendControl(st, i, CTRL.PORT_ADD, 1));
      return;
    }
    const port = this.ports.list[id];
    if (!port) {
      this.log.warn(`virtio-console: control event ${event} for unknown port ${id}`);
      return;
    }
    switch (event) {
      case CTRL.PORT_READY:
        if (value !== 1) {
          this.log.warn(`virtio-console: driver failed to add port ${id}`);
          return;
        }
        if (st.ready.has(id)) return;
        st.ready.add(id);
        if (id === 0) {
          this.sendControl(st, 0, CTRL.CONSOLE_PORT, 1);
          port.guestOpen = true; // Linux treats a console port as open by the guest
        } else this.sendControl(st, id, CTRL.PORT_NAME, 1, new TextEncoder().encode(port.portName));
        this.sendControl(st, id, CTRL.PORT_OPEN, 1);
        return;
      case CTRL.PORT_OPEN: {
        const open = value === 1;
        if (!st.ready.has(id)) {
          this.log.warn(`virtio-console: PORT_OPEN for port ${id} before PORT_READY`);
          return;
        }
        const was = port.guestOpen;
        port.guestOpen = open || id === 0;
        if (open && !was) {
          port.emit('guest-open');
          this.fillRx(st, id);
        } else if (!open && was && id !== 0) port.emit('guest-close');
        return;
      }
      default:
        this.log.warn(`virtio-console: unexpected control event ${event} for port ${id}`);
    }
  }
}
