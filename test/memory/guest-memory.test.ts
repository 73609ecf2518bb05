import { expect } from 'chai';
import { GuestMemory, GuestMemoryError } from '../../src/memory/guest-memory.ts';
import { allocateRam, ramRegion, RamError } from '../../src/memory/ram.ts';

describe('guest memory', () => {
  const mem = () => new GuestMemory([
    { gpa: 0x4000_0000, bytes: new Uint8Array(0x1000) },
    { gpa: 0x8000_0000, bytes: new Uint8Array(0x1000) },
  ]);

  it('reads and writes little-endian values in every region', () => {
    const m = mem();
    m.writeU32(0x4000_0010, 0xdeadbeef);
    expect(m.readU8(0x4000_0010)).to.equal(0xef);
    expect(m.readU16(0x4000_0012)).to.equal(0xdead);
    m.writeU64(0x8000_0ff8, 0x0102_0304_0506_0708n);
    expect(m.readU64(0x8000_0ff8)).to.equal(0x0102_0304_0506_0708n);
    expect(m.readU32(0x8000_0ffc)).to.equal(0x0102_0304);
  });

  it('rejects accesses outside RAM, across region ends and with bad numbers', () => {
    const m = mem();
    expect(() => m.readU8(0x3fff_ffff)).to.throw(GuestMemoryError);
    expect(() => m.readU32(0x4000_0ffe)).to.throw(GuestMemoryError, /outside guest RAM/);
    expect(() => m.slice(0x4000_0000, 0x1001)).to.throw(GuestMemoryError);
    expect(() => m.slice(0x4000_0000, -1)).to.throw(GuestMemoryError);
    expect(() => m.readU8(Number.NaN)).to.throw(GuestMemoryError);
    expect(() => m.readU8(2 ** 64)).to.throw(GuestMemoryError);
    expect(m.checkRange(0x4000_0000, 0x1000)).to.equal(true);
    expect(m.checkRange(0x4000_0001, 0x1000)).to.equal(false);
  });

  it('hands out zero-copy slices and copies with read/write', () => {
    const m = mem();
    m.write(0x4000_0100, Uint8Array.of(1, 2, 3));
    const view = m.slice(0x4000_0100, 3);
    view[0] = 9;
    const out = new Uint8Array(3);
    m.read(0x4000_0100, out);
    expect([...out]).to.deep.equal([9, 2, 3]);
  });

  it('refuses overlapping regions', () => {
    expect(() => new GuestMemory([
      { gpa: 0, bytes: new Uint8Array(0x2000) },
      { gpa: 0x1000, bytes: new Uint8Array(0x1000) },
    ])).to.throw(RangeError, /overlap/);
  });

  it('allocates zeroed RAM in 16 KiB multiples only', () => {
    const ram = allocateRam(64 * 1024);
    expect(ram.length).to.equal(65536);
    expect(ram.every((b) => b === 0)).to.equal(true);
    expect(() => allocateRam(4096)).to.throw(RamError, /multiple of 16384/);
    expect(() => allocateRam(0)).to.throw(RamError);
    expect(() => ramRegion(0x1000, 0x4000)).to.throw(RamError, /aligned/);
    expect(ramRegion(0x4000_0000, 0x4000).bytes.length).to.equal(0x4000);
  });
});
