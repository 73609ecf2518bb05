import { expect } from 'chai';
import { Pl031, type RtcClock } from '../../../src/devices/legacy/pl031.ts';
import { RecordingLine } from '../../../src/devices/interrupt.ts';

const DR = 0x0, MR = 0x4, LR = 0x8, CR = 0xc, IMSC = 0x10, RIS = 0x14, MIS = 0x18, ICR = 0x1c;

/** A clock whose time only moves when the test says so, with timers that fire on advance. */
class FakeClock implements RtcClock {
  ms = 1_700_000_000_250;
  private timers: { at: number; fire: () => void; live: boolean }[] = [];
  nowMs() { return this.ms; }
  setTimer(delayMs: number, fire: () => void) {
    const t = { at: this.ms + delayMs, fire, live: true };
    this.timers.push(t);
    return () => { t.live = false; };
  }
  get armed() { return this.timers.filter((t) => t.live).length; }
  advance(ms: number) {
    const end = this.ms + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.ms = next.at;
      next.live = false;
      next.fire();
    }
    this.ms = end;
  }
}

function rtc() {
  const clock = new FakeClock();
  const irq = new RecordingLine();
  const warnings: string[] = [];
  const dev = new Pl031({ irq, clock, logger: { warn: (m) => warnings.push(m) } });
  return { clock, irq, dev, warnings, r: (o: number) => dev.read(o, 4), w: (o: number, v: number) => dev.write(o, 4, v) };
}

describe('PL031 RTC', () => {
  it('identifies itself (periphid 0x00041031, cellid 0xb105f00d)', () => {
    const { r } = rtc();
    const word = (base: number) => [0, 1, 2, 3].reduce((v, i) => v | (r(base + 4 * i) << (8 * i)), 0) >>> 0;
    expect(word(0xfe0)).to.equal(0x00041031);
    expect(word(0xff0)).to.equal(0xb105f00d);
  });

  it('counts host seconds from the injected clock', () => {
    const { r, clock } = rtc();
    expect(r(DR)).to.equal(1_700_000_000);
    clock.advance(749);
    expect(r(DR)).to.equal(1_700_000_000);
    clock.advance(1);
    expect(r(DR)).to.equal(1_700_000_001);
    clock.advance(60_000);
    expect(r(DR)).to.equal(1_700_000_061);
    expect(r(CR)).to.equal(1);
  });

  it('sets the time through LR, keeps counting from there, and reads LR back', () => {
    const { r, w, clock } = rtc();
    w(LR, 1000);
    expect(r(DR)).to.equal(1000);
    expect(r(LR)).to.equal(1000);
    clock.advance(5000);
    expect(r(DR)).to.equal(1005);
    w(LR, 0xffff_fffe);
    clock.advance(3000);
    expect(r(DR), 'wraps at 2^32').to.equal(1);
  });

  it('raises the alarm when DR reaches MR, masked by IMSC, cleared by ICR', () => {
    const { r, w, clock, irq } = rtc();
    w(LR, 100);
    w(IMSC, 1);
    w(MR, 103);
    expect(r(MR)).to.equal(103);
    clock.advance(2000);
    expect(r(RIS)).to.equal(0);
    expect(irq.level).to.equal(false);
    clock.advance(1000);
    expect(r(DR)).to.equal(103);
    expect(r(RIS)).to.equal(1);
    expect(r(MIS)).to.equal(1);
    expect(irq.level).to.equal(true);
    w(IMSC, 0);
    expect(irq.level).to.equal(false);
    expect(r(MIS)).to.equal(0);
    w(IMSC, 1);
    w(ICR, 1);
    expect(r(RIS)).to.equal(0);
    expect(irq.level).to.equal(false);
    expect(clock.armed, 'one-shot').to.equal(0);
  });

  it('fires at once when MR equals DR, re-arms when the time changes, and cancels on dispose', () => {
    const { r, w, clock, dev } = rtc();
    w(LR, 50);
    w(MR, 50);
    expect(r(RIS)).to.equal(1);
    w(ICR, 1);
    w(MR, 60);
    w(LR, 58); // the alarm is now 2 s away instead of 10
    clock.advance(2000);
    expect(r(RIS)).to.equal(1);
    w(ICR, 1);
    w(MR, 1000);
    expect(clock.armed).to.equal(1);
    dev.dispose();
    expect(clock.armed).to.equal(0);
  });

  it('warns about unknown registers and ignores writes to read-only ones', () => {
    const { r, w, warnings } = rtc();
    const before = r(DR);
    w(DR, 5);
    expect(r(DR)).to.equal(before);
    expect(r(0x20)).to.equal(0);
    w(0x20, 1);
    expect(r(0x2)).to.equal(0);
    expect(warnings.length).to.equal(3);
  });
});
