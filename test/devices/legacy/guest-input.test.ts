import { expect } from 'chai';
import fc from 'fast-check';
import { Pl011 } from '../../../src/devices/legacy/pl011.ts';
import { Pl031 } from '../../../src/devices/legacy/pl031.ts';
import { BootTimer } from '../../../src/devices/legacy/boot-timer.ts';
import { SerialPort } from '../../../src/devices/serial-backend.ts';
import { RecordingLine } from '../../../src/devices/interrupt.ts';
import type { MmioDevice } from '../../../src/bus/mmio-bus.ts';

const access = fc.record({
  off: fc.integer({ min: 0, max: 0xff8 }),
  size: fc.constantFrom(1, 2, 4, 8),
  value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  write: fc.boolean(),
  input: fc.option(fc.uint8Array({ maxLength: 40 })),
});

describe('legacy devices under arbitrary guest input', () => {
  it('never throw and keep their interrupt line equal to MIS != 0', () => {
    fc.assert(fc.property(fc.array(access, { maxLength: 80 }), (ops) => {
      const port = new SerialPort({ inputCapacity: 64 });
      const uartIrq = new RecordingLine();
      const rtcIrq = new RecordingLine();
      const uart = new Pl011({ port, irq: uartIrq });
      const rtc = new Pl031({ irq: rtcIrq, clock: { nowMs: () => 5_000, setTimer: () => () => {} } });
      const timer = new BootTimer({ onBoot: () => {} });
      const devices: MmioDevice[] = [uart, rtc, timer];
      for (const o of ops) {
        if (o.input) port.sendInput(o.input);
        for (const d of devices) {
          if (o.write) d.write(o.off, o.size, o.size === 8 ? o.value : Number(o.value & 0xffff_ffffn), 0);
          else d.read(o.off, o.size, 0);
        }
      }
      expect(uartIrq.level).to.equal(uart.read(0x40, 4) !== 0);
      expect(rtcIrq.level).to.equal(rtc.read(0x18, 4) !== 0);
    }), { numRuns: 300 });
  });
});
