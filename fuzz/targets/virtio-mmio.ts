// The virtio-mmio transport and split virtqueue with a generic device (the test echo device:
// pops every chain and fills its writable bytes) under hostile driver programs.
import { EchoDevice } from '../../test/helpers/virtio-echo-device.ts';
import type { FuzzTarget } from '../target.ts';
import { runVirtioProgram } from './virtio-harness.ts';
import { virtioSeeds } from './virtio-seeds.ts';

export const virtioMmioTarget: FuzzTarget = {
  name: 'virtio-mmio-queue',
  seeds: virtioSeeds,
  async run(input) {
    await runVirtioProgram(input, { device: new EchoDevice(), settle: async () => undefined });
  },
};
