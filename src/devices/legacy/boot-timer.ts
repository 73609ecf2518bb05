// Boot-time pseudo device (Firecracker's boot timer): the guest writes the byte 123 at
// offset 0, typically from its init, and the device reports how long the VM took to get
// there. A 4 KiB MmioDevice: map it at layout.BOOT_TIMER_BASE.
//
//   const timer = new BootTimer({ onBoot: (r) => log.info(`boot ${r.elapsedMs} ms`) });
//   timer.markStart();                 // when the VM starts (default: construction)
//   bus.insert(timer, BOOT_TIMER_BASE, BOOT_TIMER_SIZE);
//
// Guest side: `busybox devmem 0x9020000 8 123`. Reads return 0.
import type { MmioDevice } from '../../bus/mmio-bus.ts';
import { silentLogger, type DeviceLogger } from './amba.ts';

export const BOOT_COMPLETE_MAGIC = 123;

export interface BootTimeReport {
  /** Wall-clock milliseconds since markStart(). */
  elapsedMs: number;
  /** CPU time this process spent since markStart(), in microseconds. */
  cpuUserUs: number;
  cpuSystemUs: number;
}

export interface BootTimerOptions {
  onBoot: (report: BootTimeReport) => void;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
  /** Process CPU usage; default process.cpuUsage. */
  cpuUsage?: () => { user: number; system: number };
  logger?: DeviceLogger;
}

export class BootTimer implements MmioDevice {
  readonly name = 'boot-timer';
  private readonly onBoot: (report: BootTimeReport) => void;
  private readonly now: () => number;
  private readonly cpuUsage: () => { user: number; system: number };
  private readonly log: DeviceLogger;
  private startMs = 0;
  private startCpu = { user: 0, system: 0 };

  constructor(options: BootTimerOptions) {
    this.onBoot = options.onBoot;
    this.now = options.now ?? (() => performance.now());
    this.cpuUsage = options.cpuUsage ?? (() => process.cpuUsage());
    this.log = options.logger ?? silentLogger;
    this.markStart();
  }

  /** Start of the measured interval: call when the VM starts running. */
  markStart(): void {
    this.startMs = this.now();
    this.startCpu = this.cpuUsage();
  }

  read(): number {
    return 0;
  }

  write(offset: number, size: number, value: number | bigint): void {
    const low = typeof value === 'bigint' ? Number(value & 0xffn) : value & 0xff;
    if (offset !== 0 || low !== BOOT_COMPLETE_MAGIC) {
      this.log.debug?.(`boot-timer: ignored write of ${value} at 0x${offset.toString(16)} size ${size}`);
      return;
    }
    const cpu = this.cpuUsage();
    this.onBoot({
      elapsedMs: this.now() - this.startMs,
      cpuUserUs: cpu.user - this.startCpu.user,
      cpuSystemUs: cpu.system - this.startCpu.system,
    });
  }
}
