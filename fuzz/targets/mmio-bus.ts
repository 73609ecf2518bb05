// Random inserts, removals and accesses: the bus never throws on accesses and never lets
// two ranges overlap.
import { BusError, MmioBus, type MmioDevice } from '../../src/bus/mmio-bus.ts';
import { InputReader, type FuzzTarget } from '../target.ts';

class Probe implements MmioDevice {
  constructor(readonly name: string, readonly size: number) {}
  read(offset: number, size: number): number {
    if (offset < 0 || offset + size > this.size) throw new Error(`${this.name}: access beyond its range at ${offset}+${size}`);
    return 0;
  }
  write(offset: number, size: number): void {
    this.read(offset, size);
  }
}

export const mmioBusTarget: FuzzTarget = {
  name: 'mmio-bus',
  isExpectedError: (e) => e instanceof BusError,
  run(input) {
    const r = new InputReader(input);
    const bus = new MmioBus();
    let n = 0;
    while (!r.done) {
      const op = r.u8() % 4;
      const base = r.u32() % 0x10000;
      const size = r.u16() % 0x400;
      if (op === 0) {
        try {
          bus.insert(new Probe(`p${n++}`, size), base, size);
        } catch (e) {
          if (!(e instanceof BusError)) throw e;
        }
      } else if (op === 1) {
        bus.read(base, [1, 2, 4, 8][size & 3]);
      } else if (op === 2) {
        bus.write(base, [1, 2, 4, 8][size & 3], r.u32());
      } else if (bus.entries.length) {
        bus.remove(bus.entries[r.u8() % bus.entries.length].device);
      }
      const e = bus.entries;
      for (let i = 1; i < e.length; i++) {
        if (e[i].base < e[i - 1].base + e[i - 1].size) throw new Error('bus holds overlapping ranges');
      }
    }
  },
};
