import { expect } from 'chai';
import { MmioBus, BusError, type MmioDevice } from '../../src/bus/mmio-bus.ts';

class Scratch implements MmioDevice {
  readonly log: string[] = [];
  constructor(readonly name: string) {}
  read(offset: number, size: number): number {
    this.log.push(`r${offset}/${size}`);
    return offset + 0x100;
  }
  write(offset: number, size: number, value: number | bigint): void {
    this.log.push(`w${offset}/${size}=${value}`);
  }
}

describe('MMIO bus', () => {
  it('gives devices offsets, never absolute addresses', () => {
    const bus = new MmioBus();
    const a = new Scratch('a');
    bus.insert(a, 0x0900_0000, 0x1000);
    expect(bus.read(0x0900_0010, 4)).to.deep.equal({ handled: true, value: 0x110 });
    expect(bus.write(0x0900_0ffc, 4, 7)).to.equal(true);
    expect(a.log).to.deep.equal(['r16/4', 'w4092/4=7']);
  });

  it('reports unclaimed addresses and accesses that straddle a range end', () => {
    const bus = new MmioBus();
    bus.insert(new Scratch('a'), 0x1000, 0x100);
    expect(bus.read(0x0fff, 1)).to.deep.equal({ handled: false });
    expect(bus.read(0x10fe, 4)).to.deep.equal({ handled: false });
    expect(bus.write(0x2000, 4, 1)).to.equal(false);
  });

  it('rejects overlapping, empty and invalid ranges', () => {
    const bus = new MmioBus();
    bus.insert(new Scratch('a'), 0x1000, 0x100);
    expect(() => bus.insert(new Scratch('b'), 0x10ff, 0x10)).to.throw(BusError, /overlaps a/);
    expect(() => bus.insert(new Scratch('c'), 0x0f00, 0x101)).to.throw(BusError, /overlaps/);
    expect(() => bus.insert(new Scratch('d'), 0x3000, 0)).to.throw(BusError, /empty/);
    expect(() => bus.insert(new Scratch('e'), -1, 4)).to.throw(BusError);
    expect(() => bus.insert(new Scratch('f'), 2 ** 53, 4)).to.throw(BusError);
    bus.insert(new Scratch('g'), 0x1100, 0x100); // adjacent is fine
    expect(bus.entries.map((e) => e.device.name)).to.deep.equal(['a', 'g']);
  });

  it('finds the right device among many', () => {
    const bus = new MmioBus();
    const devs = Array.from({ length: 32 }, (_, i) => new Scratch(`d${i}`));
    devs.forEach((d, i) => bus.insert(d, 0x0a00_0000 + i * 0x200, 0x200));
    for (let i = 0; i < 32; i++) expect(bus.find(0x0a00_0000 + i * 0x200 + 0x1ff)?.device.name).to.equal(`d${i}`);
  });
});
