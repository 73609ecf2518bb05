// Host-side parsers of untrusted files and text: kernel Images (raw and gzip), DTBs read
// back, and the machine configuration file.
import { gzipSync } from 'node:zlib';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeKernelImage, IMAGE_MAGIC } from '../../src/boot/image.ts';
import { BootError } from '../../src/boot/error.ts';
import { parseFdt, FdtParseError } from '../../src/fdt/reader.ts';
import { FdtWriter, FdtError } from '../../src/fdt/writer.ts';
import { generateFdt } from '../../src/arch/arm64/fdt.ts';
import { loadConfigFile } from '../../src/config/machine-config.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadBootImages, prepareLinuxBoot } from '../../src/boot/loader.ts';
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { InputReader, type FuzzTarget } from '../target.ts';

function imageSeed(): Uint8Array {
  const b = new Uint8Array(4096);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x14000010, true); // b +0x40
  v.setBigUint64(16, 4096n, true); // image_size
  v.setBigUint64(24, 0xan, true); // flags
  v.setUint32(56, IMAGE_MAGIC, true);
  return b;
}

export const kernelImageTarget: FuzzTarget = {
  name: 'kernel-image-loader',
  seeds: () => [imageSeed(), gzipSync(imageSeed())],
  isExpectedError: (e) => e instanceof BootError,
  run(input) {
    decodeKernelImage(input, { maxSize: 1 << 20 });
  },
};

const MiB = 1 << 20;
const RAM_BASE = 0x4000_0000;
const RAM_SIZES = [4 * MiB, 6 * MiB, 8 * MiB, 34 * MiB];
const rams = new Map<number, Uint8Array>();

/**
 * The whole Linux loading path on small RAMs: an Image whose header fields (text_offset,
 * image_size, flags, magic) and length come from the input, gzip or raw, an initrd of any
 * size, a command line of arbitrary bytes, then planning and the copy into guest RAM. A bad
 * input must be a BootError; a good one must land inside RAM with kernel, initrd and DTB
 * intact and apart.
 */
export const linuxBootLoaderTarget: FuzzTarget = {
  name: 'linux-boot-loader',
  seeds: () => [Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0), Uint8Array.of(1, 0, 0x20, 0, 0, 1, 8, 2, 0, 16, 97, 98)],
  isExpectedError: (e) => e instanceof BootError,
  run(input) {
    const r = new InputReader(input);
    const ramSize = RAM_SIZES[r.u8() % RAM_SIZES.length];
    const image = imageSeed();
    const v = new DataView(image.buffer);
    const textOffset = [0, 0x80000, r.u32() & 0x1f_ffff, r.u32()][r.u8() & 3];
    v.setBigUint64(8, BigInt(textOffset), true);
    const imageSizeKiB = (r.u8() & 7) === 0 ? r.u16() : r.u16() % (ramSize >> 10);
    v.setBigUint64(16, BigInt(imageSizeKiB * 1024), true);
    const flags = r.u8();
    v.setBigUint64(24, BigInt((flags & 7) === 0 ? flags & 0xf : [0, 2, 0xa, 0xe][flags & 3]), true);
    if ((r.u8() & 15) === 0) v.setUint32(56, r.u32(), true);
    const length = Math.max(64, (r.u8() * 4096) % ramSize);
    const kernelBytes = new Uint8Array(length);
    kernelBytes.set(image.subarray(0, Math.min(64, length)));
    const kernel = (r.u8() & 3) === 0 ? gzipSync(kernelBytes) : kernelBytes;
    const initrdKind = r.u8() % 4;
    const initrd = initrdKind === 0 ? undefined : new Uint8Array(initrdKind === 1 ? 0 : (r.u16() * 64) % (ramSize + 4096)).fill(0x11);
    const cmdlineBytes = [];
    for (let n = r.u8() % 48; n > 0; n--) cmdlineBytes.push(r.u8());
    const cmdKind = r.u8() & 7;
    const cmdline = cmdKind === 7 ? Buffer.from(cmdlineBytes).toString('latin1') : cmdKind === 1 ? 'console=ttyAMA0 '.repeat(1 + (r.u16() % 160)) : `console=ttyAMA0 ${'x'.repeat(cmdlineBytes.length)}`;

    const boot = prepareLinuxBoot({ ram: { base: RAM_BASE, size: ramSize }, kernel, initrd, cmdline });
    let ram = rams.get(ramSize);
    if (!ram) rams.set(ramSize, (ram = new Uint8Array(ramSize)));
    const mem = new GuestMemory([{ gpa: RAM_BASE, bytes: ram }]);
    const dtb = new Uint8Array(Math.min(boot.plan.dtbMaxSize, 64 + (r.u16() % 4096))).fill(0xd7);
    loadBootImages(mem, boot.plan, boot.kernel.bytes, boot.initrd, dtb);

    const { plan } = boot;
    const inRam = (a: number, n: number): boolean => a >= RAM_BASE && a + n <= RAM_BASE + ramSize;
    const spans: [string, number, number][] = [['kernel', plan.kernelLoad, plan.kernelEnd], ['dtb', plan.dtbAddress, plan.dtbAddress + dtb.length]];
    if (plan.initrd) spans.push(['initrd', plan.initrd.start, plan.initrd.end]);
    for (const [what, a, b] of spans) if (!inRam(a, b - a)) throw new Error(`${what} planned outside RAM`);
    for (let i = 0; i < spans.length; i++) {
      for (let j = i + 1; j < spans.length; j++) {
        if (spans[i][1] < spans[j][2] && spans[j][1] < spans[i][2]) throw new Error(`${spans[i][0]} overlaps ${spans[j][0]}`);
      }
    }
    if (!Buffer.from(mem.slice(plan.kernelLoad, boot.kernel.bytes.length)).equals(boot.kernel.bytes)) throw new Error('kernel bytes not intact');
    if (plan.initrd && !mem.slice(plan.initrd.start, plan.initrd.end - plan.initrd.start).every((b) => b === 0x11)) throw new Error('initrd bytes not intact');
    if (!mem.slice(plan.dtbAddress, dtb.length).every((b) => b === 0xd7)) throw new Error('dtb bytes not intact');
  },
};

export const fdtReaderTarget: FuzzTarget = {
  name: 'fdt-reader',
  seeds: () => [generateFdt({ cpus: 2, memory: { base: 0x4000_0000, size: 1 << 28 }, cmdline: 'console=ttyAMA0', devices: [{ slot: 0, kind: 'block' }], entropy: (n) => new Uint8Array(n) })],
  isExpectedError: (e) => e instanceof FdtParseError,
  run(input) {
    parseFdt(input);
  },
};

const NAME_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789,._+-@#?\0/ ';
function name(r: InputReader): string {
  let s = '';
  const n = r.u8() % 12;
  for (let i = 0; i < n; i++) s += NAME_CHARS[r.u8() % NAME_CHARS.length];
  return s;
}

export const fdtWriterTarget: FuzzTarget = {
  name: 'fdt-writer',
  isExpectedError: (e) => e instanceof FdtError,
  run(input) {
    const r = new InputReader(input);
    const w = new FdtWriter();
    const open: unknown[] = [];
    while (!r.done) {
      switch (r.u8() % 7) {
        case 0: open.push(w.beginNode(open.length === 0 && r.u8() & 1 ? '' : name(r))); break;
        case 1: if (open.length) w.endNode(open.pop() as never); break;
        case 2: w.propertyU32(name(r), r.u32()); break;
        case 3: w.propertyString(name(r), name(r)); break;
        case 4: w.propertyPhandle(r.u32()); break;
        case 5: w.addMemoryReservation(r.u64(), r.u64()); break;
        default: w.propertyArrayU64(name(r), [r.u64(), r.u64()]);
      }
    }
    const blob = w.finish();
    parseFdt(blob); // what the writer accepts must read back
  },
};

const dir = mkdtempSync(join(tmpdir(), 'nodevisor-fuzz-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

export const configFileTarget: FuzzTarget = {
  name: 'config-file-parser',
  seeds: () => [Buffer.from(JSON.stringify({ memory: '512M', cpus: 2, disk: ['a.img,readonly'], accel: 'emu', append: 'console=ttyAMA0' }))],
  isExpectedError: (e) => e instanceof ConfigError,
  run(input) {
    const f = join(dir, 'config.json');
    writeFileSync(f, input);
    loadConfigFile(f);
  },
};
