// virtio-blk over a temporary 64 KiB image under hostile driver programs. Requests are real
// async file I/O; the harness settles them between steps, and a request that does not
// complete within SETTLE_MS is a finding (a guest request must never hang).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtioBlock } from '../../src/devices/virtio/block/device.ts';
import type { FuzzTarget } from '../target.ts';
import { FuzzInvariantError, runVirtioProgram } from './virtio-harness.ts';
import { virtioSeeds } from './virtio-seeds.ts';

const IMAGE_BYTES = 64 * 1024;
const SETTLE_MS = 1000;

let image: Promise<FileHandle> | undefined;
function openImage(): Promise<FileHandle> {
  if (!image) {
    const dir = mkdtempSync(join(tmpdir(), 'nodevisor-fuzz-blk-'));
    const path = join(dir, 'disk.img');
    writeFileSync(path, new Uint8Array(IMAGE_BYTES));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    image = open(path, 'r+');
  }
  return image;
}

async function settle(dev: VirtioBlock): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FuzzInvariantError(`block requests still in flight after ${SETTLE_MS} ms`)), SETTLE_MS);
  });
  try {
    await Promise.race([dev.idle(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export const virtioBlkTarget: FuzzTarget = {
  name: 'virtio-blk',
  seeds: virtioSeeds,
  async run(input) {
    const fh = await openImage();
    // The last input byte picks a read-only disk half of the time (without consuming program bytes).
    const readonly = input.length > 0 && (input[input.length - 1] & 1) === 1;
    const device = new VirtioBlock(fh, IMAGE_BYTES, 'fuzz-blk', { readonly });
    await runVirtioProgram(input, { device, settle: () => settle(device) });
  },
};
