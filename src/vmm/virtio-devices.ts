// Attaching virtio-mmio devices: one slot of the virtio-mmio window per device, in a fixed
// order so the device tree and the bus agree: block devices, then entropy, console, vsock,
// shared folders and network interfaces. `describe` (for `nodevisor dtb`) and `attach` walk
// the same plan, so the two can never disagree.
import type { VirtioDeviceKind, VirtioMmioDevice } from '../arch/arm64/fdt.ts';
import { VIRTIO_MMIO_SLOTS, VIRTIO_MMIO_SLOT_SIZE, spi, virtioMmioSlotBase, virtioMmioSlotSpi } from '../arch/arm64/layout.ts';
import type { MmioBus } from '../bus/mmio-bus.ts';
import { spiLine, type SpiSink } from '../devices/interrupt.ts';
import type { DeviceLogger, VirtioDevice } from '../devices/virtio/device.ts';
import { VirtioMmioTransport } from '../devices/virtio/mmio-transport.ts';
import { VirtioBlock } from '../devices/virtio/block/device.ts';
import { VirtioRng } from '../devices/virtio/rng/device.ts';
import { VirtioConsole } from '../devices/virtio/console/device.ts';
import { ConsolePorts } from '../devices/virtio/console/port.ts';
import { VirtioVsock, hybridVsockOptions } from '../devices/virtio/vsock/device.ts';
import { VirtioFs } from '../devices/virtio/fs/device.ts';
import { openNetDevice } from '../devices/virtio/net/open.ts';
import { parseNetSpec } from '../net/spec.ts';
import type { GuestMemoryAccess } from '../memory/guest-memory.ts';

export interface DiskConfig { path: string; readonly: boolean }
export interface ShareConfig { hostPath: string; tag: string; readonly: boolean }
export interface VsockConfig { port: number; path: string }

export interface VirtioConfig {
  disks?: DiskConfig[];
  shares?: ShareConfig[];
  vsock?: VsockConfig[];
  net?: string[];
  /** Attach virtio-rng (default true). */
  rng?: boolean;
  /** Named virtio-console ports besides hvc0 (guest: /dev/vport0p1...). */
  consolePorts?: string[];
  /** Host ends of the console ports, kept across guest resets; built from consolePorts when absent. */
  consoleHost?: ConsolePorts;
}

export class VirtioConfigError extends Error {
  override readonly name = 'VirtioConfigError';
}

/** A device that holds host resources (files, sockets) releases them here. */
export interface ClosableDevice extends VirtioDevice {
  close?(): Promise<void>;
}

export interface AttachedDevice {
  readonly slot: number;
  readonly kind: VirtioDeviceKind;
  readonly device: ClosableDevice;
  readonly transport: VirtioMmioTransport;
}

export interface AttachedVirtio {
  readonly slots: VirtioMmioDevice[];
  readonly devices: readonly AttachedDevice[];
  close(): Promise<void>;
}

interface Logger { warn(m: string): void; debug(m: string): void; info(m: string): void; child?(category: string): Logger }

/** One planned device: its kind, a log category, and how to open it. */
interface PlannedDevice {
  readonly kind: VirtioDeviceKind;
  readonly category: string;
  create(log: DeviceLogger): Promise<ClosableDevice>;
}

function plan(opts: VirtioConfig): PlannedDevice[] {
  const out: PlannedDevice[] = [];
  (opts.disks ?? []).forEach((d, i) => out.push({
    kind: 'block',
    category: 'virtio-blk',
    create: (log) => VirtioBlock.open(d.path, { readonly: d.readonly, id: `nodevisor-disk${i}`, log }),
  }));
  if (opts.rng !== false) out.push({ kind: 'rng', category: 'virtio-rng', create: async (log) => new VirtioRng({ log }) });
  // Always present, so every guest has hvc0; hvc0 output is also logged at debug.
  const consoleHost = opts.consoleHost ?? new ConsolePorts(opts.consolePorts ?? []);
  out.push({ kind: 'console', category: 'virtio-console', create: async (log) => new VirtioConsole({ ports: consoleHost, log }) });
  if (opts.vsock?.length) {
    const vsock = hybridVsockOptions(opts.vsock);
    out.push({ kind: 'vsock', category: 'virtio-vsock', create: (log) => VirtioVsock.open({ ...vsock, log }) });
  }
  (opts.shares ?? []).forEach((sh) => out.push({
    kind: 'fs',
    category: 'virtio-fs',
    create: (log) => VirtioFs.open(sh.hostPath, { tag: sh.tag, readonly: sh.readonly, log }),
  }));
  // Specs are parsed here, so describe (dtb) and attach reject a bad --net before anything boots.
  (opts.net ?? []).map(parseNetSpec).forEach((spec, i) => out.push({ kind: 'net', category: 'virtio-net', create: (log) => openNetDevice(spec, i, log) }));
  if (out.length > VIRTIO_MMIO_SLOTS) throw new VirtioConfigError(`${out.length} virtio devices requested; the machine has ${VIRTIO_MMIO_SLOTS} slots`);
  return out;
}

function describe(opts: VirtioConfig): VirtioMmioDevice[] {
  return plan(opts).map((p, slot) => ({ slot, kind: p.kind }));
}

function childLogger(log: Logger, category: string): Logger {
  return log.child ? log.child(category) : log;
}

async function attach(bus: MmioBus, mem: GuestMemoryAccess, gic: SpiSink, opts: VirtioConfig, log: Logger): Promise<AttachedVirtio> {
  const attached: AttachedDevice[] = [];
  const close = async (): Promise<void> => {
    const results = await Promise.allSettled(attached.map((a) => a.device.close?.()));
    for (const r of results) if (r.status === 'rejected') log.warn(`closing a virtio device failed: ${(r.reason as Error).message}`);
  };
  try {
    for (const [slot, p] of plan(opts).entries()) {
      const devLog = childLogger(log, p.category);
      const device = await p.create(devLog);
      const transport = new VirtioMmioTransport(device, mem, spiLine(gic, spi(virtioMmioSlotSpi(slot))), devLog);
      bus.insert(transport, virtioMmioSlotBase(slot), VIRTIO_MMIO_SLOT_SIZE);
      attached.push({ slot, kind: p.kind, device, transport });
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { slots: attached.map(({ slot, kind }) => ({ slot, kind })), devices: attached, close };
}

export const attachVirtioDevices = Object.assign(attach, { describe });
