import { expect } from 'chai';
import { VirtioRng, MAX_RNG_BYTES_PER_REQUEST } from '../../../src/devices/virtio/rng/device.ts';
import { VIRTIO_ID_RNG } from '../../../src/devices/virtio/device.ts';
import { REG } from '../../../src/devices/virtio/mmio-transport.ts';
import { MockVirtioDriver } from '../../helpers/virtio-driver.ts';

describe('virtio-rng', () => {
  it('identifies itself as an entropy device through the transport', () => {
    const d = new MockVirtioDriver(new VirtioRng());
    expect(d.reg(REG.DeviceId)).to.equal(VIRTIO_ID_RNG);
  });

  it('fills each writable buffer from the source and raises the used interrupt', () => {
    let counter = 0;
    const d = new MockVirtioDriver(new VirtioRng({ fill: (b) => b.forEach((_, i) => (b[i] = counter++ & 0xff)) }));
    d.init();
    const q = d.queues[0];
    q.add([{ writable: 16 }]);
    q.add([{ writable: 8 }, { writable: 8 }], { indirect: true });
    q.notify();
    const used = q.takeUsed();
    expect(used.map((u) => u.len)).to.deep.equal([16, 16]);
    expect([...used[0].written]).to.deep.equal([...Array(16).keys()]);
    expect([...used[1].written]).to.deep.equal([...Array(16).keys()].map((i) => i + 16));
    expect(d.irq.level).to.equal(true);
    d.ackInterrupt();
    expect(d.irq.level).to.equal(false);
  });

  it('uses the host CSPRNG by default: two requests differ', () => {
    const d = new MockVirtioDriver(new VirtioRng());
    d.init();
    const q = d.queues[0];
    q.add([{ writable: 32 }]);
    q.add([{ writable: 32 }]);
    q.notify();
    const [a, b] = q.takeUsed();
    expect(Buffer.from(a.written).equals(Buffer.from(b.written))).to.equal(false);
  });

  it('caps a single request and answers read-only chains with length 0', () => {
    const d = new MockVirtioDriver(new VirtioRng(), { ramBytes: 8 << 20 });
    d.init();
    const q = d.queues[0];
    q.add([{ writable: MAX_RNG_BYTES_PER_REQUEST * 2 }]);
    q.add([{ data: new Uint8Array(4) }]);
    q.notify();
    const used = q.takeUsed();
    expect(used.map((u) => u.len)).to.deep.equal([MAX_RNG_BYTES_PER_REQUEST, 0]);
  });

  it('does nothing before DRIVER_OK and serves what was queued at activation', () => {
    const d = new MockVirtioDriver(new VirtioRng());
    d.negotiate();
    const q = d.setupQueue(0);
    q.add([{ writable: 4 }]);
    q.notify();
    expect(q.usedIndex).to.equal(0);
    d.driverOk();
    expect(q.takeUsed().map((u) => u.len)).to.deep.equal([4]);
  });

  it('survives a descriptor pointing outside guest memory', () => {
    const d = new MockVirtioDriver(new VirtioRng());
    d.init();
    const q = d.queues[0];
    q.writeDescriptor(0, 0x10, 64, 2, 0);
    q.publish(0);
    q.notify();
    expect(q.takeUsed().map((u) => u.len)).to.deep.equal([0]);
    q.add([{ writable: 4 }]);
    q.notify();
    expect(q.takeUsed().map((u) => u.len)).to.deep.equal([4]);
  });
});
