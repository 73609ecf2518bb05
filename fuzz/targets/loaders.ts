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
