import { expect } from 'chai';
import { BootTimer, type BootTimeReport } from '../../../src/devices/legacy/boot-timer.ts';
import { MmioBus } from '../../../src/bus/mmio-bus.ts';
import { BOOT_TIMER_BASE, BOOT_TIMER_SIZE } from '../../../src/arch/arm64/layout.ts';

describe('boot timer', () => {
  it('reports the time since start when the guest writes 123 at offset 0', () => {
    let now = 1000;
    let cpu = { user: 500, system: 100 };
    const reports: BootTimeReport[] = [];
    const timer = new BootTimer({ onBoot: (r) => reports.push(r), now: () => now, cpuUsage: () => cpu });
    const bus = new MmioBus();
    bus.insert(timer, BOOT_TIMER_BASE, BOOT_TIMER_SIZE);
    now = 1125.5;
    cpu = { user: 90_500, system: 10_100 };
    bus.write(BOOT_TIMER_BASE + 4, 1, 123); // wrong offset
    bus.write(BOOT_TIMER_BASE, 1, 122); // wrong value
    expect(reports).to.deep.equal([]);
    bus.write(BOOT_TIMER_BASE, 1, 123);
    expect(reports).to.deep.equal([{ elapsedMs: 125.5, cpuUserUs: 90_000, cpuSystemUs: 10_000 }]);
    expect(bus.read(BOOT_TIMER_BASE, 4)).to.deep.equal({ handled: true, value: 0 });
  });

  it('measures from markStart and accepts the magic byte in a wider write', () => {
    let now = 0;
    const reports: BootTimeReport[] = [];
    const timer = new BootTimer({ onBoot: (r) => reports.push(r), now: () => now });
    now = 40;
    timer.markStart();
    now = 50;
    timer.write(0, 4, 123n);
    expect(reports[0].elapsedMs).to.equal(10);
    expect(reports[0].cpuUserUs).to.be.a('number');
  });
});
