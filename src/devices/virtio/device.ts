// The contract between the virtio-mmio transport and a device model. The transport owns
// registers, feature negotiation, status and queue setup; the device owns its config space
// and what its queues mean. A device sees guest memory only once activated (DRIVER_OK).
import type { GuestMemoryAccess } from '../../memory/guest-memory.ts';
import type { Virtqueue } from './queue.ts';

/** Virtio device IDs (virtio 1.2, section 5). */
export const VIRTIO_ID_NET = 1;
export const VIRTIO_ID_BLOCK = 2;
export const VIRTIO_ID_CONSOLE = 3;
export const VIRTIO_ID_RNG = 4;
export const VIRTIO_ID_VSOCK = 19;
export const VIRTIO_ID_FS = 26;

/** Transport-level feature bits. */
export const VIRTIO_F_INDIRECT_DESC = 28;
export const VIRTIO_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;

export const bit = (n: number): bigint => 1n << BigInt(n);

export interface DeviceLogger {
  warn(message: string): void;
  debug(message: string): void;
}

export const silentLogger: DeviceLogger = { warn: () => undefined, debug: () => undefined };

/** How a device tells the transport it put buffers in a used ring, or that it is broken. */
export interface DeviceSignals {
  /** Raise the used-buffer interrupt (the queue decides whether the driver wants it). */
  usedBuffers(queueIndex: number): void;
  /** The device hit an unrecoverable error: set DEVICE_NEEDS_RESET and raise a config interrupt. */
  needsReset(reason: string): void;
}

export interface VirtioDevice {
  /** For logs. */
  readonly name: string;
  readonly deviceType: number;
  /** Every feature the device offers, VERSION_1 included. */
  readonly features: bigint;
  /** Maximum size of each queue; the array length is the number of queues. */
  readonly queueMaxSizes: readonly number[];
  /** Config space length in bytes. */
  readonly configSize: number;
  readConfig(offset: number, size: number): number;
  writeConfig(offset: number, size: number, value: number): void;
  /** Called at DRIVER_OK with the negotiated features and the ready queues. */
  activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], ackedFeatures: bigint, signals: DeviceSignals): void;
  /** Drop all device state back to before activation; in-flight work must not touch memory after this. */
  reset(): void;
  /** The driver notified queue `index`. */
  queueNotify(index: number): void;
}

/** Read `size` little-endian bytes at `offset` of a config buffer; 0 past its end. */
export function readConfigBytes(config: Uint8Array, offset: number, size: number): number {
  let v = 0;
  for (let i = 0; i < size; i++) {
    const b = offset + i < config.length ? config[offset + i] : 0;
    v |= b << (8 * i);
  }
  return v >>> 0;
}
