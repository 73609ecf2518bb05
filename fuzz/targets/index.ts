// Every fuzz target, in the order `npm run fuzz` runs them.
import type { FuzzTarget } from '../target.ts';
import { exitDecoderTarget } from './exit-decoder.ts';
import { mmioBusTarget } from './mmio-bus.ts';
import { guestMemoryTarget } from './guest-memory.ts';
import { pl011Target, pl031Target, bootTimerTarget, gicTarget } from './devices.ts';
import { kernelImageTarget, linuxBootLoaderTarget, fdtReaderTarget, fdtWriterTarget, configFileTarget } from './loaders.ts';
import { virtioMmioTarget } from './virtio-mmio.ts';
import { virtioBlkTarget } from './virtio-blk.ts';
import { virtioRngTarget } from './virtio-rng.ts';
import { cliTarget } from './cli.ts';
import { virtioConsoleTarget } from './virtio-console.ts';
import { virtioVsockTarget } from './virtio-vsock.ts';
import { virtioFsTarget } from './virtio-fs.ts';
import { netParsersTarget } from './net-parsers.ts';
import { netStackTarget } from './net-stack.ts';
import { virtioNetTarget } from './virtio-net.ts';

export const allTargets: FuzzTarget[] = [
  exitDecoderTarget, mmioBusTarget, guestMemoryTarget,
  pl011Target, pl031Target, bootTimerTarget, gicTarget,
  kernelImageTarget, linuxBootLoaderTarget, fdtReaderTarget, fdtWriterTarget, configFileTarget,
  virtioMmioTarget, virtioBlkTarget, virtioRngTarget, cliTarget,
  virtioConsoleTarget, virtioVsockTarget, virtioFsTarget, virtioNetTarget, netParsersTarget, netStackTarget,
];
