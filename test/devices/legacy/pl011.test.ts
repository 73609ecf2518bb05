import { expect } from 'chai';
import { Pl011 } from '../../../src/devices/legacy/pl011.ts';
import { SerialPort } from '../../../src/devices/serial-backend.ts';
import { RecordingLine } from '../../../src/devices/interrupt.ts';

const DR = 0x0, RSR = 0x4, FR = 0x18, IBRD = 0x24, FBRD = 0x28, LCR_H = 0x2c, CR = 0x30, IFLS = 0x34,
  IMSC = 0x38, RIS = 0x3c, MIS = 0x40, ICR = 0x44, DMACR = 0x48;
const RXFE = 0x10, TXFF = 0x20, RXFF = 0x40, TXFE = 0x80, BUSY = 0x08;
const RXIM = 1 << 4, TXIM = 1 << 5, RTIM = 1 << 6;
const UARTEN = 1, TXE = 1 << 8, RXE = 1 << 9, LBE = 1 << 7, FEN = 1 << 4;

function uart(capacity?: number) {
  const port = new SerialPort({ inputCapacity: capacity });
  const irq = new RecordingLine();
  const warnings: string[] = [];
  const dev = new Pl011({ port, irq, logger: { warn: (m) => warnings.push(m) } });
  const out: number[] = [];
  port.onOutput((b) => out.push(...b));
  const r = (off: number, size = 4) => dev.read(off, size);
  const w = (off: number, v: number, size = 4) => dev.write(off, size, v);
  /** amba-pl011's startup: enable, FIFOs on, RX and RX-timeout interrupts unmasked. */
  const startup = () => {
    w(IBRD, 13); w(FBRD, 1);
    w(LCR_H, FEN | 0x60);
    w(CR, UARTEN | TXE | RXE);
    w(IMSC, RXIM | RTIM);
  };
  return { port, irq, dev, out, r, w, startup, warnings };
}

describe('PL011 UART', () => {
  it('identifies itself to the AMBA bus (periphid 0x00341011, cellid 0xb105f00d)', () => {
    const { r } = uart();
    const word = (base: number) => [0, 1, 2, 3].reduce((v, i) => v | (r(base + 4 * i) << (8 * i)), 0) >>> 0;
    expect(word(0xfe0)).to.equal(0x00341011);
    expect(word(0xff0)).to.equal(0xb105f00d);
  });

  it('sends TX bytes to the port, byte or word writes, even before the driver enables it (earlycon)', () => {
    const { w, r, out, port } = uart();
    expect(r(FR) & (TXFF | BUSY)).to.equal(0);
    for (const c of 'hi\n') w(DR, c.charCodeAt(0), 1);
    w(DR, 0x121, 4); // bits above 7 are not data
    port.flush();
    expect(Buffer.from(out).toString('latin1')).to.equal('hi\n!');
    expect(r(FR) & TXFE).to.equal(TXFE);
  });

  it('coalesces output and delivers it on a microtask', async () => {
    const { w, out } = uart();
    w(DR, 0x41);
    w(DR, 0x42);
    expect(out).to.deep.equal([]);
    await Promise.resolve();
    expect(out).to.deep.equal([0x41, 0x42]);
  });

  it('fills the RX FIFO from the port up to 32 entries, FR tracks it, the rest waits in the port', () => {
    const { w, r, port, startup } = uart();
    startup();
    expect(r(FR) & (RXFE | RXFF)).to.equal(RXFE);
    const data = Uint8Array.from({ length: 40 }, (_, i) => 0x30 + i);
    expect(port.sendInput(data)).to.equal(40);
    expect(r(FR) & (RXFE | RXFF)).to.equal(RXFF);
    expect(port.pendingInput).to.equal(8);
    const got: number[] = [];
    while (!(r(FR) & RXFE)) got.push(r(DR) & 0xff);
    expect(got).to.deep.equal([...data]);
    expect(r(RSR)).to.equal(0);
    w(DR, 0); // reading past empty is harmless
  });

  it('holds a single byte without FIFOs and waits for UARTEN and RXE before receiving', () => {
    const { w, r, port } = uart();
    port.sendInput('ab');
    expect(r(FR) & RXFE, 'disabled: nothing received').to.equal(RXFE);
    w(CR, UARTEN | TXE | RXE);
    expect(r(FR) & (RXFE | RXFF)).to.equal(RXFF);
    expect(r(DR)).to.equal(0x61);
    expect(r(DR)).to.equal(0x62);
    expect(r(FR) & RXFE).to.equal(RXFE);
  });

  it('raises RX at the IFLS trigger level and RX timeout for a short burst; reading clears them', () => {
    const { r, w, port, irq, startup } = uart();
    startup();
    w(IFLS, 2 << 3); // RX trigger 1/2: 16 bytes
    port.sendInput('abc');
    expect(r(RIS) & (RXIM | RTIM)).to.equal(RTIM);
    expect(irq.level).to.equal(true);
    r(DR); r(DR);
    expect(irq.level, 'timeout stays until the FIFO is empty').to.equal(true);
    r(DR);
    expect(r(RIS) & RTIM).to.equal(0);
    expect(irq.level).to.equal(false);
    port.sendInput(new Uint8Array(20).fill(0x7a));
    expect(r(MIS) & RXIM).to.equal(RXIM);
    for (let i = 0; i < 5; i++) r(DR);
    expect(r(MIS) & RXIM, '15 left, below the trigger').to.equal(0);
    expect(r(MIS) & RTIM).to.equal(RTIM);
  });

  it('masks with IMSC and clears with ICR; the line is MIS != 0', () => {
    const { r, w, irq, startup } = uart();
    startup();
    w(DR, 0x41);
    expect(r(RIS) & TXIM, 'TX drained through its level').to.equal(TXIM);
    expect(irq.level, 'TX masked').to.equal(false);
    w(IMSC, RXIM | RTIM | TXIM);
    expect(irq.level).to.equal(true);
    expect(r(MIS)).to.equal(TXIM);
    w(ICR, TXIM);
    expect(r(RIS) & TXIM).to.equal(0);
    expect(irq.level).to.equal(false);
    expect(r(IMSC)).to.equal(RXIM | RTIM | TXIM);
  });

  it('tells the host to wait when the input buffer is full and signals drain', async () => {
    const { port, r, startup } = uart(8);
    startup();
    let drained = 0;
    port.onDrain(() => drained++);
    // 32 go to the FIFO, 8 to the port buffer; the rest is refused, not dropped.
    expect(port.sendInput(new Uint8Array(50).fill(1))).to.equal(40);
    expect(port.sendInput(new Uint8Array([2]))).to.equal(0);
    r(DR);
    await Promise.resolve();
    expect(drained).to.equal(1);
    expect(port.sendInput(new Uint8Array([3]))).to.equal(1);
    const got: number[] = [];
    while (!(r(FR) & RXFE)) got.push(r(DR));
    expect(got.length).to.equal(40);
    expect(got.at(-1)).to.equal(3);
  });

  it('loops TX back into RX with CR.LBE', () => {
    const { r, w, out, port, startup } = uart();
    startup();
    w(CR, UARTEN | TXE | RXE | LBE);
    w(DR, 0x55);
    port.flush();
    expect(out).to.deep.equal([]);
    expect(r(DR)).to.equal(0x55);
  });

  it('keeps baud, line control and DMA registers, and ignores bad accesses with a warning', () => {
    const { r, w, warnings } = uart();
    w(IBRD, 0x1_0005);
    w(FBRD, 0xff);
    w(DMACR, 0);
    expect([r(IBRD), r(FBRD), r(DMACR), r(CR), r(IFLS)]).to.deep.equal([5, 0x3f, 0, TXE | RXE, 0x12]);
    expect(r(CR + 1, 1)).to.equal((TXE | RXE) >> 8);
    expect(r(0x800)).to.equal(0);
    w(0x800, 1);
    w(CR + 1, 1, 1);
    expect(r(0x2, 4)).to.equal(0);
    expect(warnings.length).to.equal(4);
  });

  it('resets to power-on state', () => {
    const { r, w, irq, dev, port, startup } = uart();
    startup();
    port.sendInput('x');
    expect(irq.level).to.equal(true);
    dev.reset();
    expect(irq.level).to.equal(false);
    expect([r(CR), r(LCR_H), r(IMSC), r(FR) & RXFE]).to.deep.equal([TXE | RXE, 0, 0, RXFE]);
  });
});
