// virtio-rng under hostile driver programs (entropy from a cheap deterministic fill).
import { VirtioRng } from '../../src/devices/virtio/rng/device.ts';
import type { FuzzTarget } from '../target.ts';
import { runVirtioProgram, turns } from './virtio-harness.ts';
import { virtioSeeds } from './virtio-seeds.ts';

export const virtioRngTarget: FuzzTarget = {
  name: 'virtio-rng',
  seeds: virtioSeeds,
  async run(input) {
    // Two turns: the device continues a full batch on the next immediate.
    const device = new VirtioRng({ fill: (b) => b.fill(0x5a) });
    await runVirtioProgram(input, { device, settle: () => turns(2) });
  },
};
