// Minimal ELF64 little-endian AArch64 executable parser: PT_LOAD segments and the entry
// point, with every offset and size bounds-checked against the file.

export class ElfError extends Error {
  override readonly name = 'ElfError';
}

export interface ElfSegment {
  /** Virtual address (with the MMU off the same as the physical address). */
  vaddr: number;
  paddr: number;
  /** Bytes present in the file; memSize - fileData.length trailing bytes are zero (bss). */
  fileData: Uint8Array;
  memSize: number;
  flags: number;
}

export interface ElfImage {
  entry: number;
  segments: ElfSegment[];
}

const PT_LOAD = 1;
const EM_AARCH64 = 183;
const ET_EXEC = 2;
/** Executables here live below 4 GiB; larger addresses are not used by the tests. */
const MAX_ADDRESS = 2 ** 32;

function toSafe(v: bigint, what: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`${what} out of range: 0x${v.toString(16)}`);
  return Number(v);
}

export function parseElf(bytes: Uint8Array): ElfImage {
  if (bytes.length < 64) throw new ElfError('file shorter than an ELF64 header');
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) throw new ElfError('bad ELF magic');
  if (bytes[4] !== 2) throw new ElfError('not ELFCLASS64');
  if (bytes[5] !== 1) throw new ElfError('not little-endian');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = dv.getUint16(16, true);
  const machine = dv.getUint16(18, true);
  if (machine !== EM_AARCH64) throw new ElfError(`e_machine ${machine} is not AArch64`);
  if (type !== ET_EXEC) throw new ElfError(`e_type ${type} is not ET_EXEC (static, non-PIE expected)`);
  const entry = toSafe(dv.getBigUint64(24, true), 'e_entry');
  const phoff = toSafe(dv.getBigUint64(32, true), 'e_phoff');
  const phentsize = dv.getUint16(54, true);
  const phnum = dv.getUint16(56, true);
  if (phentsize < 56) throw new ElfError(`e_phentsize ${phentsize} too small`);
  if (phoff + phnum * phentsize > bytes.length) throw new ElfError('program headers run past the end of the file');

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (dv.getUint32(off, true) !== PT_LOAD) continue;
    const flags = dv.getUint32(off + 4, true);
    const fileOffset = toSafe(dv.getBigUint64(off + 8, true), 'p_offset');
    const vaddr = toSafe(dv.getBigUint64(off + 16, true), 'p_vaddr');
    const paddr = toSafe(dv.getBigUint64(off + 24, true), 'p_paddr');
    const fileSize = toSafe(dv.getBigUint64(off + 32, true), 'p_filesz');
    const memSize = toSafe(dv.getBigUint64(off + 40, true), 'p_memsz');
    if (fileSize > memSize) throw new ElfError(`segment ${i}: p_filesz > p_memsz`);
    if (fileOffset + fileSize > bytes.length) throw new ElfError(`segment ${i}: file data past the end of the file`);
    if (vaddr + memSize > MAX_ADDRESS) throw new ElfError(`segment ${i}: ends above 4 GiB`);
    segments.push({ vaddr, paddr, fileData: bytes.subarray(fileOffset, fileOffset + fileSize), memSize, flags });
  }
  if (segments.length === 0) throw new ElfError('no PT_LOAD segments');
  if (!segments.some((s) => entry >= s.vaddr && entry < s.vaddr + s.memSize)) {
    throw new ElfError(`entry 0x${entry.toString(16)} is outside every loadable segment`);
  }
  return { entry, segments };
}

/** Lowest and highest (exclusive) address the loadable segments occupy. */
export function elfExtent(image: ElfImage): { start: number; end: number } {
  let start = Infinity;
  let end = 0;
  for (const s of image.segments) {
    start = Math.min(start, s.vaddr);
    end = Math.max(end, s.vaddr + s.memSize);
  }
  return { start, end };
}

/** Copy the segments into `ram`, which is mapped at guest address `base`; bss is zeroed. */
export function loadElf(image: ElfImage, ram: Uint8Array, base: number): void {
  for (const s of image.segments) {
    const off = s.vaddr - base;
    if (off < 0 || off + s.memSize > ram.length) {
      throw new ElfError(`segment at 0x${s.vaddr.toString(16)} (+0x${s.memSize.toString(16)}) is outside RAM`);
    }
    ram.set(s.fileData, off);
    ram.fill(0, off + s.fileData.length, off + s.memSize);
  }
}
