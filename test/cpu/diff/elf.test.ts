// The test ELF loader: real toolchain output parses; malformed headers are rejected.
import { expect } from 'chai';
import { buildElf, findToolchain } from '../../helpers/aarch64-toolchain.ts';
import { ElfError, elfExtent, loadElf, parseElf } from '../../helpers/elf.ts';

describe('test ELF loader', function () {
  let elf: Uint8Array;

  before(function () {
    const found = findToolchain();
    if (!found.toolchain) {
      console.warn(`skipping: ${found.reason}`);
      this.skip();
    }
    elf = buildElf(found.toolchain!, { source: 'int main(void) { static int x = 5; return x; }', language: 'c' }).bytes;
  });

  it('parses a static executable: entry inside a segment, bss zeroed on load', () => {
    const image = parseElf(elf);
    const { start, end } = elfExtent(image);
    expect(image.entry).to.be.within(start, end - 1);
    expect(start).to.equal(0x400000);
    const ram = new Uint8Array(end - start).fill(0xaa);
    loadElf(image, ram, start);
    for (const s of image.segments) {
      const off = s.vaddr - start;
      expect(ram.subarray(off, off + s.fileData.length)).to.deep.equal(s.fileData);
      expect(ram.subarray(off + s.fileData.length, off + s.memSize).every((b) => b === 0)).to.equal(true);
    }
  });

  it('rejects truncated files, bad magic, wrong machine and out-of-range segments', () => {
    expect(() => parseElf(elf.subarray(0, 40))).to.throw(ElfError);
    const bad = elf.slice();
    bad[1] = 0;
    expect(() => parseElf(bad)).to.throw(ElfError, /magic/);
    const x86 = elf.slice();
    new DataView(x86.buffer).setUint16(18, 62, true);
    expect(() => parseElf(x86)).to.throw(ElfError, /AArch64/);
    const dv = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
    const phoff = Number(dv.getBigUint64(32, true));
    const huge = elf.slice();
    new DataView(huge.buffer).setBigUint64(phoff + 32, 1n << 40n, true); // p_filesz of the first header
    expect(() => parseElf(huge)).to.throw(ElfError);
    const image = parseElf(elf);
    expect(() => loadElf(image, new Uint8Array(16), 0x400000)).to.throw(ElfError, /outside RAM/);
  });
});
