// Guest-facing register interfaces of the legacy devices and the GIC: any sequence of
// reads and writes at any offset and size is handled without throwing.
import { GicV3 } from '../../src/devices/gic/gicv3.ts';
import { Pl011 } from '../../src/devices/legacy/pl011.ts';
import { Pl031 } from '../../src/devices/legacy/pl031.ts';
import { BootTimer } from '../../src/devices/legacy/boot-timer.ts';
import { SerialPort } from '../../src/devices/serial-backend.ts';
import { RecordingLine } from '../../src/devices/interrupt.ts';
import type { MmioDevice } from '../../src/bus/mmio-bus.ts';
import { GIC_DIST_SIZE, GIC_REDIST_SIZE_PER_CPU } from '../../src/arch/arm64/layout.ts';
import { sysRegId } from '../../src/accel/sysregs.ts';
import { InputReader, type FuzzTarget } from '../target.ts';

const SIZES = [1, 2, 4, 8];
const quiet = { warn: () => undefined, debug: () => undefined };

function driveRegisters(dev: MmioDevice, span: number, input: Uint8Array, extra?: (r: InputReader) => void): void {
  const r = new InputReader(input);
  while (!r.done) {
    const op = r.u8();
    const offset = r.u32() % span;
    const size = SIZES[op & 3];
    if (op & 0x80) {
      const v = dev.read(offset, size, (op >> 2) & 1);
      if (typeof v === 'number' && (!Number.isInteger(v) || v < 0)) throw new Error(`${dev.name}: read returned ${v}`);
    } else {
      dev.write(offset, size, size === 8 ? r.u64() : r.u32(), (op >> 2) & 1);
    }
    extra?.(r);
  }
}

export const pl011Target: FuzzTarget = {
  name: 'pl011-registers',
  run(input) {
    const port = new SerialPort({ inputCapacity: 64 });
    port.onOutput(() => undefined);
    const uart = new Pl011({ port, irq: new RecordingLine(), logger: quiet });
    driveRegisters(uart, 0x1000, input, (r) => {
      if (r.u8() < 16) port.sendInput(Uint8Array.of(r.u8(), r.u8()));
    });
  },
};

export const pl031Target: FuzzTarget = {
  name: 'pl031-registers',
  run(input) {
    const rtc = new Pl031({ irq: new RecordingLine(), logger: quiet, clock: { nowMs: () => 1_700_000_000_000, setTimer: () => () => undefined } });
    driveRegisters(rtc, 0x1000, input);
  },
};

export const bootTimerTarget: FuzzTarget = {
  name: 'boot-timer-registers',
  run(input) {
    driveRegisters(new BootTimer({ onBoot: () => undefined, logger: quiet }), 0x1000, input);
  },
};

export const gicTarget: FuzzTarget = {
  name: 'gicv3-registers',
  run(input) {
    const gic = new GicV3({ vcpuCount: 2, logger: quiet });
    const r = new InputReader(input);
    while (!r.done) {
      const op = r.u8() % 6;
      const cpu = r.u8() & 1;
      if (op === 0) driveRegisters(gic.distributor, GIC_DIST_SIZE, input.subarray(0, 16));
      else if (op === 1) driveRegisters(gic.redistributors, 2 * GIC_REDIST_SIZE_PER_CPU, input.subarray(0, 16));
      else if (op === 2) gic.setSpi(32 + (r.u8() % 96), (r.u8() & 1) === 1);
      else if (op === 3) gic.setPpi(cpu, 16 + (r.u8() % 16), (r.u8() & 1) === 1);
      else {
        // ICC system registers: op0=3, op1=0, CRn=12 (and PMR at CRn=4).
        const id = r.u8() & 1 ? sysRegId(3, 0, 12, r.u8() & 15, r.u8() & 7) : sysRegId(3, 0, 4, 6, 0);
        const ic = gic.cpuInterface(cpu);
        if (op === 4) ic.readSysReg(id);
        else ic.writeSysReg(id, r.u64());
      }
      const iar = gic.irqPending(cpu);
      if (typeof iar !== 'boolean') throw new Error('irqPending is not a boolean');
    }
  },
};
