// ARM PrimeCell RTC (PL031, ARM DDI 0224) as Linux's rtc-pl031 driver uses it. A 4 KiB
// MmioDevice: map it at layout.PL031_BASE and wire its line to SPI layout.PL031_SPI:
//
//   const rtc = new Pl031({ irq: spiLine(gic, spi(PL031_SPI)) });   // host wall clock
//   bus.insert(rtc, PL031_BASE, PL031_SIZE);
//   ... rtc.dispose() on VM teardown (cancels a pending alarm timer)
//
// DR counts host seconds plus an offset that LR writes set (LR reads back what was last
// written). When DR reaches MR the alarm sets RIS; the line is RIS & IMSC. The counter is
// always running (CR.RTCStart reads 1). The clock and timer are injectable for tests.
import type { MmioDevice } from '../../bus/mmio-bus.ts';
import type { InterruptLine } from '../interrupt.ts';
import { isPrimeCellId, primeCellId, silentLogger, toU32, wordAccess, type DeviceLogger } from './amba.ts';

export const PL031_PERIPH_ID = 0x00041031;

export const RTC = {
  DR: 0x00,
  MR: 0x04,
  LR: 0x08,
  CR: 0x0c,
  IMSC: 0x10,
  RIS: 0x14,
  MIS: 0x18,
  ICR: 0x1c,
} as const;

/** Wall-clock time and one-shot timers; the default is Date.now and unref'd setTimeout. */
export interface RtcClock {
  nowMs(): number;
  /** Call `fire` after about `delayMs`; returns a cancel function. */
  setTimer(delayMs: number, fire: () => void): () => void;
}

export const hostClock: RtcClock = {
  nowMs: () => Date.now(),
  setTimer(delayMs, fire) {
    const t = setTimeout(fire, delayMs);
    t.unref?.();
    return () => clearTimeout(t);
  },
};

/** setTimeout's longest delay; longer alarms re-arm on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface Pl031Options {
  irq: InterruptLine;
  clock?: RtcClock;
  logger?: DeviceLogger;
}

export class Pl031 implements MmioDevice {
  readonly name = 'pl031';
  private readonly irq: InterruptLine;
  private readonly clock: RtcClock;
  private readonly log: DeviceLogger;
  /** DR - host seconds, modulo 2^32. */
  private offset = 0;
  private mr = 0;
  private lr = 0;
  private imsc = 0;
  private ris = 0;
  private cancelAlarm?: () => void;

  constructor(options: Pl031Options) {
    this.irq = options.irq;
    this.clock = options.clock ?? hostClock;
    this.log = options.logger ?? silentLogger;
    this.updateIrq();
  }

  /** DR: the guest's current RTC seconds. */
  get seconds(): number {
    return (Math.floor(this.clock.nowMs() / 1000) + this.offset) >>> 0;
  }

  reset(): void {
    this.offset = this.mr = this.lr = this.imsc = this.ris = 0;
    this.disarm();
    this.updateIrq();
  }

  dispose(): void {
    this.disarm();
  }

  read(offset: number, size: number): number {
    const a = wordAccess(offset, size);
    const value = a && this.readRegister(a.reg);
    if (a === undefined || value === undefined) {
      this.log.warn(`pl031: unhandled read at 0x${offset.toString(16)} size ${size}`);
      return 0;
    }
    return size === 4 ? value >>> 0 : (value >>> a.shift) & ((1 << (8 * size)) - 1);
  }

  write(offset: number, size: number, value: number | bigint): void {
    const a = wordAccess(offset, size);
    if (!a || a.shift !== 0 || !this.writeRegister(a.reg, toU32(value))) {
      this.log.warn(`pl031: unhandled write at 0x${offset.toString(16)} size ${size}`);
    }
  }

  private readRegister(reg: number): number | undefined {
    if (isPrimeCellId(reg)) return primeCellId(PL031_PERIPH_ID, reg);
    switch (reg) {
      case RTC.DR: return this.seconds;
      case RTC.MR: return this.mr;
      case RTC.LR: return this.lr;
      case RTC.CR: return 1;
      case RTC.IMSC: return this.imsc;
      case RTC.RIS: return this.ris;
      case RTC.MIS: return this.ris & this.imsc;
      case RTC.ICR: return 0;
    }
    return undefined;
  }

  private writeRegister(reg: number, v: number): boolean {
    switch (reg) {
      case RTC.MR: this.mr = v; this.arm(); return true;
      case RTC.LR:
        this.lr = v;
        this.offset = (v - Math.floor(this.clock.nowMs() / 1000)) >>> 0;
        this.arm();
        return true;
      case RTC.IMSC: this.imsc = v & 1; this.updateIrq(); return true;
      case RTC.ICR: this.ris &= ~(v & 1); this.updateIrq(); return true;
      case RTC.CR: return true; // RTCStart: once running, writes have no effect
      case RTC.DR: case RTC.RIS: case RTC.MIS: return true; // read-only
    }
    return isPrimeCellId(reg);
  }

  private disarm(): void {
    this.cancelAlarm?.();
    this.cancelAlarm = undefined;
  }

  /** Schedule the match interrupt for the moment DR equals MR (now if it already does). */
  private arm(): void {
    this.disarm();
    const now = this.clock.nowMs();
    const dr = (Math.floor(now / 1000) + this.offset) >>> 0;
    const secondsAhead = (this.mr - dr) >>> 0;
    if (secondsAhead === 0) {
      this.ris |= 1;
      this.updateIrq();
      return;
    }
    const delay = Math.min(secondsAhead * 1000 - (((now % 1000) + 1000) % 1000), MAX_TIMER_MS);
    this.cancelAlarm = this.clock.setTimer(delay, () => {
      this.cancelAlarm = undefined;
      this.arm();
    });
  }

  private updateIrq(): void {
    this.irq.setLevel((this.ris & this.imsc) !== 0);
  }
}
