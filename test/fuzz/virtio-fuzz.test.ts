import { expect } from 'chai';
import { EchoDevice } from '../helpers/virtio-echo-device.ts';
import { FuzzInvariantError, RAM_BASE, runVirtioProgram } from '../../fuzz/targets/virtio-harness.ts';
import { virtioSeeds } from '../../fuzz/targets/virtio-seeds.ts';
import { virtioMmioTarget } from '../../fuzz/targets/virtio-mmio.ts';
import { virtioBlkTarget } from '../../fuzz/targets/virtio-blk.ts';
import { virtioRngTarget } from '../../fuzz/targets/virtio-rng.ts';
import { runInputs } from './run-inputs.ts';
import type { DeviceSignals } from '../../src/devices/virtio/device.ts';
import type { GuestMemoryAccess } from '../../src/memory/guest-memory.ts';
import type { Virtqueue } from '../../src/devices/virtio/queue.ts';

const noSettle = async (): Promise<void> => undefined;

/** Echo device that also scribbles one byte the driver never offered. */
class StrayWriter extends EchoDevice {
  override queueNotify(index: number): void {
    super.queueNotify(index);
    this.mem?.writeU8(RAM_BASE + 0xfff0, 0x99);
  }
}

/** Returns every chain with one byte more than its writable length. */
class OverReporter extends EchoDevice {
  override queueNotify(index: number): void {
    const q = this.queues[index];
    for (let c = q.pop(); c; c = q.pop()) q.addUsed(c.head, c.writableLength + 1);
  }
}

/** Completes requests on a later turn, ignoring resets in between (what the block device must not do). */
class LateCompleter extends EchoDevice {
  private saved?: { mem: GuestMemoryAccess; q: Virtqueue };
  override activate(mem: GuestMemoryAccess, queues: readonly Virtqueue[], acked: bigint, signals: DeviceSignals): void {
    super.activate(mem, queues, acked, signals);
    this.saved = { mem, q: queues[0] };
  }
  override queueNotify(index: number): void {
    const s = this.saved;
    const c = s?.q.pop();
    if (!s || !c) return;
    setImmediate(() => c.writeBytes(s.mem, 0, new Uint8Array(c.writableLength).fill(0x77)));
  }
}

describe('virtio fuzz harness', () => {
  const [plainSession] = virtioSeeds();

  it('runs the seed sessions against the echo device without findings, and they reach the device', async () => {
    for (const seed of virtioSeeds()) {
      const dev = new EchoDevice();
      await runVirtioProgram(seed, { device: dev, settle: noSettle });
      expect(dev.activations).to.equal(1);
      expect(dev.chains.length).to.be.greaterThan(0);
      expect(dev.chains.some((c) => c.segments.some((s) => s.writable && s.len > 0))).to.equal(true);
    }
  });

  it('reports a device write outside the writable buffers and used rings', async () => {
    const err = await runVirtioProgram(plainSession, { device: new StrayWriter(), settle: noSettle }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(FuzzInvariantError);
    expect((err as Error).message).to.match(/wrote guest RAM at 0x4000fff0/);
  });

  it('reports a used length above the chain writable length', async () => {
    const err = await runVirtioProgram(plainSession, { device: new OverReporter(), settle: noSettle }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(FuzzInvariantError);
    expect((err as Error).message).to.match(/used length 513 for head 0/);
  });

  it('reports a completion that writes guest memory after a reset', async () => {
    // The seed queues two chains and notifies once; the final reset comes before the write.
    // The program's own Settle step lets nothing run; only the settle after the final reset does.
    let settles = 0;
    const settle = (): Promise<void> => (settles++ === 0 ? noSettle() : new Promise((r) => setImmediate(r)));
    const err = await runVirtioProgram(plainSession, { device: new LateCompleter(), settle }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(FuzzInvariantError);
    expect((err as Error).message).to.match(/final reset: device wrote guest RAM/);
  });

  for (const target of [virtioMmioTarget, virtioRngTarget, virtioBlkTarget]) {
    it(`${target.name}: 300 deterministic inputs, no findings`, async function () {
      this.timeout(60_000);
      expect(await runInputs(target, 300, 1234)).to.deep.equal([]);
    });
  }
});
