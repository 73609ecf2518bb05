// ARM PrimeCell UART (PL011 r1p5, ARM DDI 0183) as Linux's amba-pl011 driver and its
// earlycon use it. A 4 KiB MmioDevice: map it at layout.PL011_BASE and wire its line to
// SPI layout.PL011_SPI:
//
//   const port = new SerialPort();            // src/devices/serial-backend.ts
//   const uart = new Pl011({ port, irq: spiLine(gic, spi(PL011_SPI)), logger });
//   bus.insert(uart, PL011_BASE, PL011_SIZE);
//
// Transmission is instantaneous (TXFE = 1, TXFF = BUSY = 0): each DR write goes to the port
// and raises TXIS, as the TX FIFO has drained through its trigger level. Reception pulls
// bytes from the port while the RX FIFO (32 entries with LCR_H.FEN, else 1) has room and
// UARTEN and RXE are set; bytes the FIFO cannot take wait in the port, so none is lost.
// RXIS follows the FIFO level against IFLS; RTIS (receive timeout) is raised as soon as a
// burst of input ends with the FIFO below that level, since no more data is coming.
import type { MmioDevice } from '../../bus/mmio-bus.ts';
import type { InterruptLine } from '../interrupt.ts';
import type { SerialPort } from '../serial-backend.ts';
import { isPrimeCellId, primeCellId, silentLogger, toU32, wordAccess, type DeviceLogger } from './amba.ts';

export const PL011_PERIPH_ID = 0x00341011;
export const PL011_FIFO_DEPTH = 32;

export const UART = {
  DR: 0x000,
  RSR_ECR: 0x004,
  FR: 0x018,
  ILPR: 0x020,
  IBRD: 0x024,
  FBRD: 0x028,
  LCR_H: 0x02c,
  CR: 0x030,
  IFLS: 0x034,
  IMSC: 0x038,
  RIS: 0x03c,
  MIS: 0x040,
  ICR: 0x044,
  DMACR: 0x048,
} as const;

export const FR_BUSY = 1 << 3;
export const FR_RXFE = 1 << 4;
export const FR_TXFF = 1 << 5;
export const FR_RXFF = 1 << 6;
export const FR_TXFE = 1 << 7;

export const LCR_H_FEN = 1 << 4;
export const CR_UARTEN = 1 << 0;
export const CR_LBE = 1 << 7;
export const CR_TXE = 1 << 8;
export const CR_RXE = 1 << 9;

/** Interrupt bits of IMSC/RIS/MIS/ICR. */
export const INT_RX = 1 << 4;
export const INT_TX = 1 << 5;
export const INT_RT = 1 << 6;
export const INT_OE = 1 << 10;
const INT_ALL = 0x7ff;

/** DR read bit: overrun (the loopback path is the only way to overrun). */
const DR_OE = 1 << 11;

/** IFLS RX trigger: 1/8, 1/4, 1/2, 3/4, 7/8 of the FIFO. */
const RX_TRIGGER_EIGHTHS = [1, 2, 4, 6, 7];

export interface Pl011Options {
  port: SerialPort;
  irq: InterruptLine;
  logger?: DeviceLogger;
}

export class Pl011 implements MmioDevice {
  readonly name = 'pl011';
  private readonly port: SerialPort;
  private readonly irq: InterruptLine;
  private readonly log: DeviceLogger;

  private readonly rx = new Uint16Array(PL011_FIFO_DEPTH);
  private rxHead = 0;
  private rxCount = 0;
  private rsr = 0;
  private ilpr = 0;
  private ibrd = 0;
  private fbrd = 0;
  private lcrh = 0;
  private cr = CR_TXE | CR_RXE;
  private ifls = 0x12;
  private imsc = 0;
  private ris = 0;
  private dmacr = 0;

  constructor(options: Pl011Options) {
    this.port = options.port;
    this.irq = options.irq;
    this.log = options.logger ?? silentLogger;
    this.port.attachDevice(() => this.receive());
    this.updateIrq();
  }

  /** Power-on state; bytes already in the RX FIFO are discarded, the port keeps its own. */
  reset(): void {
    this.rxHead = this.rxCount = 0;
    this.rsr = this.ilpr = this.ibrd = this.fbrd = this.lcrh = this.imsc = this.ris = this.dmacr = 0;
    this.cr = CR_TXE | CR_RXE;
    this.ifls = 0x12;
    this.updateIrq();
  }

  read(offset: number, size: number): number {
    const a = wordAccess(offset, size);
    if (!a) return this.bad('read', offset, size);
    const value = this.readRegister(a.reg);
    if (value === undefined) return this.bad('read', offset, size);
    return size === 4 ? value >>> 0 : (value >>> a.shift) & ((1 << (8 * size)) - 1);
  }

  write(offset: number, size: number, value: number | bigint): void {
    const a = wordAccess(offset, size);
    if (!a || a.shift !== 0) {
      this.bad('write', offset, size);
      return;
    }
    const v = toU32(value) & (size === 4 ? 0xffff_ffff : (1 << (8 * size)) - 1);
    if (!this.writeRegister(a.reg, v)) this.bad('write', offset, size);
  }

  private readRegister(reg: number): number | undefined {
    if (isPrimeCellId(reg)) return primeCellId(PL011_PERIPH_ID, reg);
    switch (reg) {
      case UART.DR: return this.readData();
      case UART.RSR_ECR: return this.rsr;
      case UART.FR: {
        let fr = FR_TXFE;
        if (this.rxCount === 0) fr |= FR_RXFE;
        if (this.rxCount >= this.rxCapacity) fr |= FR_RXFF;
        return fr;
      }
      case UART.ILPR: return this.ilpr;
      case UART.IBRD: return this.ibrd;
      case UART.FBRD: return this.fbrd;
      case UART.LCR_H: return this.lcrh;
      case UART.CR: return this.cr;
      case UART.IFLS: return this.ifls;
      case UART.IMSC: return this.imsc;
      case UART.RIS: return this.ris;
      case UART.MIS: return this.ris & this.imsc;
      case UART.ICR: return 0;
      case UART.DMACR: return this.dmacr;
    }
    return undefined;
  }

  private writeRegister(reg: number, v: number): boolean {
    switch (reg) {
      case UART.DR: this.transmit(v & 0xff); return true;
      case UART.RSR_ECR: this.rsr = 0; return true;
      case UART.ILPR: this.ilpr = v & 0xff; return true;
      case UART.IBRD: this.ibrd = v & 0xffff; return true;
      case UART.FBRD: this.fbrd = v & 0x3f; return true;
      case UART.LCR_H: this.lcrh = v & 0xff; this.receive(); return true;
      case UART.CR: this.cr = v & 0xffff; this.receive(); return true;
      case UART.IFLS: this.ifls = v & 0x3f; this.receive(); return true;
      case UART.IMSC: this.imsc = v & INT_ALL; this.updateIrq(); return true;
      case UART.ICR: this.ris &= ~v; this.updateIrq(); return true;
      case UART.DMACR: this.dmacr = v & 0x7; return true;
      case UART.FR: case UART.RIS: case UART.MIS: return true; // read-only, writes ignored
    }
    if (isPrimeCellId(reg)) return true;
    return false;
  }

  private get rxCapacity(): number {
    return this.lcrh & LCR_H_FEN ? PL011_FIFO_DEPTH : 1;
  }

  private get rxTrigger(): number {
    if (!(this.lcrh & LCR_H_FEN)) return 1;
    const eighths = RX_TRIGGER_EIGHTHS[(this.ifls >> 3) & 7] ?? 4;
    return (PL011_FIFO_DEPTH * eighths) / 8;
  }

  private get receiving(): boolean {
    return (this.cr & (CR_UARTEN | CR_RXE)) === (CR_UARTEN | CR_RXE);
  }

  private transmit(byte: number): void {
    this.ris |= INT_TX;
    if (this.cr & CR_LBE) {
      if (!this.receiving) return this.updateIrq();
      this.pushRx(byte);
      this.updateRxInterrupts(true);
    } else {
      this.port.emitOutput(byte);
      this.updateIrq();
    }
  }

  private pushRx(byte: number): void {
    if (this.rxCount >= this.rxCapacity) {
      // Only loopback can overrun: host input waits in the port instead.
      this.rx[(this.rxHead + this.rxCount - 1) % PL011_FIFO_DEPTH] |= DR_OE;
      this.ris |= INT_OE;
      return;
    }
    this.rx[(this.rxHead + this.rxCount) % PL011_FIFO_DEPTH] = byte;
    this.rxCount++;
  }

  /** Move host input into the RX FIFO while it has room. */
  private receive(): void {
    let added = false;
    if (this.receiving && this.rxCount < this.rxCapacity) {
      const bytes = this.port.takeInput(this.rxCapacity - this.rxCount);
      for (const b of bytes) this.pushRx(b);
      added = bytes.length > 0;
    }
    this.updateRxInterrupts(added);
  }

  private readData(): number {
    if (this.rxCount === 0) {
      this.receive();
      return 0;
    }
    const entry = this.rx[this.rxHead];
    this.rxHead = (this.rxHead + 1) % PL011_FIFO_DEPTH;
    this.rxCount--;
    this.rsr = (entry >> 8) & 0xf;
    this.receive();
    return entry;
  }

  /** RXIS tracks the trigger level; RTIS is raised after new data, cleared when empty. */
  private updateRxInterrupts(newData: boolean): void {
    if (this.rxCount >= this.rxTrigger) {
      if (newData) this.ris |= INT_RX;
    } else {
      this.ris &= ~INT_RX;
    }
    if (this.rxCount === 0) this.ris &= ~INT_RT;
    else if (newData) this.ris |= INT_RT;
    this.updateIrq();
  }

  private updateIrq(): void {
    this.irq.setLevel((this.ris & this.imsc) !== 0);
  }

  private bad(kind: 'read' | 'write', offset: number, size: number): 0 {
    this.log.warn(`pl011: unhandled ${kind} at 0x${offset.toString(16)} size ${size}`);
    return 0;
  }
}
