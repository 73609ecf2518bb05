import { expect } from 'chai';
import { bit, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from '../../../src/devices/virtio/device.ts';
import { INT_USED_BUFFER, REG, STATUS } from '../../../src/devices/virtio/mmio-transport.ts';
import {
  DescriptorChain, MAX_CHAIN_DESCRIPTORS, VIRTQ_AVAIL_F_NO_INTERRUPT, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
  type QueueErrorKind,
} from '../../../src/devices/virtio/queue.ts';
import { MockVirtioDriver, TEST_RAM_BASE, type MockQueue } from '../../helpers/virtio-driver.ts';
import { EchoDevice } from '../../helpers/virtio-echo-device.ts';

const ALL = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(VIRTIO_F_EVENT_IDX);
const { NEXT, WRITE, INDIRECT } = { NEXT: VIRTQ_DESC_F_NEXT, WRITE: VIRTQ_DESC_F_WRITE, INDIRECT: VIRTQ_DESC_F_INDIRECT };

function ready(opts: { offered?: bigint; accepted?: bigint; maxSize?: number; size?: number; ramBytes?: number } = {}) {
  const dev = new EchoDevice(opts.offered ?? ALL, [opts.maxSize ?? 256]);
  const d = new MockVirtioDriver(dev, { ramBytes: opts.ramBytes });
  d.init({ features: opts.accepted, queueSizes: opts.size ? [opts.size] : undefined });
  return { d, dev, q: d.queues[0], vq: dev.queues[0] };
}

/** Publish head, notify, and report what came back. */
function submit(d: MockVirtioDriver, q: MockQueue, head: number) {
  d.ackInterrupt();
  q.publish(head);
  q.notify();
  return { used: q.takeUsed(), irq: (d.reg(REG.InterruptStatus) & INT_USED_BUFFER) !== 0 };
}

function expectDropped(d: MockVirtioDriver, dev: EchoDevice, q: MockQueue, head: number, kind: QueueErrorKind): void {
  const before = dev.chains.length;
  q.setUsedEvent(q.usedIndex); // with EVENT_IDX: interrupt me for the next used buffer
  const r = submit(d, q, head);
  expect(r.used.map((u) => [u.head, u.len])).to.deep.equal([[head, 0]]);
  expect(dev.chains.length, 'the device saw the malformed chain').to.equal(before);
  expect(dev.queues[0].badChains).to.be.greaterThan(0);
  expect(d.log.warnings.some((w) => w.includes(kind)), `no ${kind} warning in ${JSON.stringify(d.log.warnings)}`).to.equal(true);
  expect(r.irq, 'the driver was not told about the returned chain').to.equal(true);
  expect(d.reg(REG.Status) & STATUS.DEVICE_NEEDS_RESET).to.equal(0);
  // The queue keeps working.
  q.add([{ writable: 3 }]);
  q.notify();
  expect(q.takeUsed().map((u) => u.len)).to.deep.equal([3]);
}

describe('split virtqueue', () => {
  it('walks a direct chain into readable and writable segments', () => {
    const { d, dev, q } = ready();
    q.add([{ data: Uint8Array.of(1, 2, 3) }, { data: Uint8Array.of(4) }, { writable: 5 }, { writable: 2 }]);
    q.notify();
    const [u] = q.takeUsed();
    expect(u.len).to.equal(7);
    expect([...u.written]).to.deep.equal(new Array(7).fill(0xab));
    const segs = dev.chains[0].segments;
    expect(segs.map((s) => [s.len, s.writable])).to.deep.equal([[3, false], [1, false], [5, true], [2, true]]);
    const chain = new DescriptorChain(u.head, segs);
    expect([...chain.readBytes(d.mem, 1, 10)]).to.deep.equal([2, 3, 4]);
    expect([...chain.readBytes(d.mem, 0, 2)]).to.deep.equal([1, 2]);
    expect(chain.readBytes(d.mem, 9, 10).length).to.equal(0);
    expect(chain.writeBytes(d.mem, 4, Uint8Array.of(9, 8, 7, 6, 5))).to.equal(3);
    expect([...d.mem.slice(segs[2].addr, 5)].slice(4)).to.deep.equal([9]);
    expect([...d.mem.slice(segs[3].addr, 2)]).to.deep.equal([8, 7]);
  });

  describe('indirect descriptors', () => {
    it('reads the chain from the indirect table when negotiated', () => {
      const { dev, q } = ready();
      const head = q.add([{ data: Uint8Array.of(1) }, { writable: 6 }, { writable: 10 }], { indirect: true });
      q.notify();
      expect(q.takeUsed().map((u) => [u.head, u.len])).to.deep.equal([[head, 16]]);
      expect(dev.chains[0].segments.map((s) => [s.len, s.writable])).to.deep.equal([[1, false], [6, true], [10, true]]);
    });

    it('rejects an indirect descriptor when INDIRECT_DESC was not negotiated', () => {
      const { d, dev, q } = ready({ accepted: bit(VIRTIO_F_VERSION_1) });
      const table = d.alloc(16);
      q.writeDescriptor(0, d.alloc(8), 8, WRITE, 0, table);
      q.writeDescriptor(0, table, 16, INDIRECT, 0);
      expectDropped(d, dev, q, 0, 'IndirectNotNegotiated');
    });

    function withTable(entries: [number, number, number, number][], ringLen?: number, ringFlags = INDIRECT) {
      const r = ready();
      const table = r.d.alloc(16 * Math.max(1, entries.length));
      entries.forEach(([addr, len, flags, next], i) => r.q.writeDescriptor(i, addr, len, flags, next, table));
      r.q.writeDescriptor(0, table, ringLen ?? 16 * entries.length, ringFlags, 1);
      return { ...r, table };
    }

    it('rejects INDIRECT together with NEXT', () => {
      const t = withTable([[TEST_RAM_BASE + 0x1000, 8, WRITE, 0]], undefined, INDIRECT | NEXT);
      expectDropped(t.d, t.dev, t.q, 0, 'IndirectWithNext');
    });

    it('rejects an indirect table of length 0 or not a multiple of 16', () => {
      const t = withTable([[TEST_RAM_BASE, 8, WRITE, 0]], 0);
      expectDropped(t.d, t.dev, t.q, 0, 'IndirectTableInvalid');
      const u = withTable([[TEST_RAM_BASE, 8, WRITE, 0]], 24);
      expectDropped(u.d, u.dev, u.q, 0, 'IndirectTableInvalid');
    });

    it('rejects an indirect table outside guest memory', () => {
      const r = ready();
      r.q.writeDescriptor(0, TEST_RAM_BASE - 16, 32, INDIRECT, 0);
      expectDropped(r.d, r.dev, r.q, 0, 'BufferOutOfMemory');
    });

    it('rejects nested indirect tables', () => {
      const t = withTable([[TEST_RAM_BASE + 0x1000, 16, INDIRECT, 0]]);
      expectDropped(t.d, t.dev, t.q, 0, 'NestedIndirect');
    });

    it('rejects loops and out-of-range next inside the table', () => {
      const a = TEST_RAM_BASE + 0x1000;
      const loop = withTable([[a, 4, NEXT, 1], [a, 4, NEXT, 0]]);
      expectDropped(loop.d, loop.dev, loop.q, 0, 'DescriptorLoop');
      const far = withTable([[a, 4, NEXT, 2], [a, 4, 0, 0]]);
      expectDropped(far.d, far.dev, far.q, 0, 'NextOutOfRange');
    });

    it(`rejects a table of more than ${MAX_CHAIN_DESCRIPTORS} entries and takes one of exactly that many`, () => {
      const a = TEST_RAM_BASE + 0x100;
      const mk = (n: number): [number, number, number, number][] => Array.from({ length: n }, (_, i) => [a, 1, WRITE | (i + 1 < n ? NEXT : 0), i + 1]);
      const big = withTable(mk(MAX_CHAIN_DESCRIPTORS + 1));
      expectDropped(big.d, big.dev, big.q, 0, 'ChainTooLong');
      const max = withTable(mk(MAX_CHAIN_DESCRIPTORS));
      const r = submit(max.d, max.q, 0);
      expect(r.used.map((u) => u.len)).to.deep.equal([MAX_CHAIN_DESCRIPTORS]);
    });
  });

  describe('malformed direct chains', () => {
    it('rejects a loop and a self-loop', () => {
      const { d, dev, q } = ready();
      const a = d.alloc(16);
      q.writeDescriptor(5, a, 4, NEXT, 6);
      q.writeDescriptor(6, a, 4, NEXT, 5);
      expectDropped(d, dev, q, 5, 'DescriptorLoop');
      q.writeDescriptor(7, a, 4, NEXT, 7);
      expectDropped(d, dev, q, 7, 'DescriptorLoop');
    });

    it('rejects next out of range', () => {
      const { d, dev, q } = ready({ size: 16 });
      q.writeDescriptor(3, d.alloc(4), 4, NEXT, 16);
      expectDropped(d, dev, q, 3, 'NextOutOfRange');
    });

    it('rejects buffers outside guest memory or above 2^53', () => {
      const { d, dev, q } = ready();
      q.writeDescriptor(1, TEST_RAM_BASE + (4 << 20) - 4, 8, WRITE, 0);
      expectDropped(d, dev, q, 1, 'BufferOutOfMemory');
      q.writeDescriptor(2, 0x1000, 8, 0, 0);
      expectDropped(d, dev, q, 2, 'BufferOutOfMemory');
      q.writeDescriptor(3, 2 ** 60, 8, 0, 0);
      expectDropped(d, dev, q, 3, 'BufferOutOfMemory');
      // A zero-length buffer carries no address.
      q.writeDescriptor(4, 0x10, 0, WRITE, 0);
      expect(submit(d, q, 4).used.map((u) => u.len)).to.deep.equal([0]);
      expect(dev.chains.at(-1)?.segments).to.deep.equal([{ addr: 0x10, len: 0, writable: true }]);
    });

    it(`rejects a chain of more than ${MAX_CHAIN_DESCRIPTORS} descriptors in a large ring`, () => {
      const { d, dev, q } = ready({ maxSize: 4096, size: 2048, ramBytes: 8 << 20 });
      const a = d.alloc(16);
      const chain = (from: number, n: number) => {
        for (let i = 0; i < n; i++) q.writeDescriptor(from + i, a, 1, WRITE | (i + 1 < n ? NEXT : 0), from + i + 1);
      };
      chain(0, MAX_CHAIN_DESCRIPTORS + 1);
      expectDropped(d, dev, q, 0, 'ChainTooLong');
      chain(0, MAX_CHAIN_DESCRIPTORS);
      expect(submit(d, q, 0).used.map((u) => u.len)).to.deep.equal([MAX_CHAIN_DESCRIPTORS]);
    });

    it('marks the queue broken on a head out of range (it cannot be returned)', () => {
      const { d, vq, q } = ready({ size: 16 });
      const r = submit(d, q, 16);
      expect(r.used).to.deep.equal([]);
      expect(vq.broken?.kind).to.equal('HeadOutOfRange');
      expect(d.reg(REG.Status) & STATUS.DEVICE_NEEDS_RESET).to.equal(STATUS.DEVICE_NEEDS_RESET);
      q.add([{ writable: 1 }]);
      q.notify();
      expect(q.takeUsed()).to.deep.equal([]);
    });

    it('marks the queue broken when the avail index runs ahead of the ring, not when it is exactly full', () => {
      const full = ready({ size: 8 });
      for (let i = 0; i < 8; i++) full.q.add([{ writable: 1 }]);
      full.q.notify();
      expect(full.q.takeUsed()).to.have.length(8);
      expect(full.vq.broken).to.equal(undefined);
      const { d, vq, q } = ready({ size: 8 });
      q.add([{ writable: 1 }]);
      q.setAvailIndex(9);
      q.notify();
      expect(q.takeUsed()).to.deep.equal([]);
      expect(vq.broken?.kind).to.equal('AvailIndexInvalid');
      expect(d.reg(REG.Status) & STATUS.DEVICE_NEEDS_RESET).to.equal(STATUS.DEVICE_NEEDS_RESET);
    });
  });

  describe('notification suppression', () => {
    it('honours VIRTQ_AVAIL_F_NO_INTERRUPT without EVENT_IDX', () => {
      const { d, q } = ready({ accepted: bit(VIRTIO_F_VERSION_1) });
      q.setAvailFlags(VIRTQ_AVAIL_F_NO_INTERRUPT);
      q.add([{ writable: 1 }]);
      d.ackInterrupt();
      q.notify();
      expect(q.takeUsed()).to.have.length(1);
      expect(d.reg(REG.InterruptStatus)).to.equal(0);
      q.setAvailFlags(0);
      q.add([{ writable: 1 }]);
      q.notify();
      expect(d.reg(REG.InterruptStatus)).to.equal(INT_USED_BUFFER);
    });

    it('publishes avail_event with EVENT_IDX', () => {
      const { q } = ready();
      expect(q.availEvent).to.equal(0);
      q.add([{ writable: 1 }]);
      q.add([{ writable: 1 }]);
      q.notify();
      expect(q.availEvent).to.equal(2);
      q.notify(); // nothing pending
      expect(q.availEvent).to.equal(2);
    });

    it('does not touch avail_event without EVENT_IDX', () => {
      const { d, q } = ready({ accepted: bit(VIRTIO_F_VERSION_1) });
      d.mem.writeU16(q.used + 4 + 8 * q.size, 0x1234);
      q.add([{ writable: 1 }]);
      q.notify();
      expect(q.availEvent).to.equal(0x1234);
    });

    it('interrupts only when the used index passes used_event', () => {
      const { d, q } = ready({ size: 8 });
      const a = d.alloc(4);
      q.writeDescriptor(0, a, 4, WRITE, 0);
      q.setUsedEvent(2);
      // used idx 1 and 2 do not pass used_event 2; 3 does.
      expect([submit(d, q, 0).irq, submit(d, q, 0).irq, submit(d, q, 0).irq, submit(d, q, 0).irq]).to.deep.equal([false, false, true, false]);
      // Several completions in one batch that cross used_event interrupt once.
      q.setUsedEvent(5);
      d.ackInterrupt();
      q.writeDescriptor(1, a, 4, WRITE, 0);
      q.writeDescriptor(2, a, 4, WRITE, 0);
      q.publish(0);
      q.publish(1);
      q.publish(2);
      q.notify();
      expect(q.takeUsed()).to.have.length(3);
      expect(d.reg(REG.InterruptStatus)).to.equal(INT_USED_BUFFER);
    });

    it('wraps the 16-bit indices: used_event, avail_event and the rings across 65535 -> 0', function () {
      this.timeout(60_000);
      const { d, vq, q } = ready({ size: 4 });
      const a = d.alloc(4);
      q.writeDescriptor(0, a, 4, WRITE, 0);
      for (let i = 0; i < 65534; i++) {
        q.publish(0);
        q.notify();
      }
      expect([q.usedIndex, q.availEvent]).to.deep.equal([65534, 65534]);
      q.takeUsed();
      q.setUsedEvent(1);
      // Used idx goes 65535, 0, 1, 2: only 2 passes used_event 1.
      const irqs = [0, 1, 2, 3].map(() => submit(d, q, 0).irq);
      expect(irqs).to.deep.equal([false, false, false, true]);
      expect([q.usedIndex, q.availEvent]).to.deep.equal([2, 2]);
      // used_event just behind the wrap.
      q.setUsedEvent(65535);
      const more = Array.from({ length: 65535 }, () => submit(d, q, 0).irq);
      expect(more.flatMap((x, i) => (x ? [i] : []))).to.deep.equal([65533]); // used idx 65535 -> 0
      expect(q.usedIndex).to.equal(1);
      expect(vq.broken).to.equal(undefined);
      expect(vq.badChains).to.equal(0);
    });
  });

  it('uses the rings up to their last byte: a size-1 queue at the very end of RAM', () => {
    const ram = 1 << 16;
    const end = TEST_RAM_BASE + ram;
    const [desc, used, avail] = [end - 64, end - 32, end - 8]; // avail ends with used_event at end - 2
    const dev = new EchoDevice(ALL, [1]);
    const d = new MockVirtioDriver(dev, { ramBytes: ram });
    d.negotiate();
    d.setReg(REG.QueueSel, 0);
    d.setReg(REG.QueueNum, 1);
    d.setReg(REG.QueueDescLow, desc);
    d.setReg(REG.QueueDriverLow, avail);
    d.setReg(REG.QueueDeviceLow, used);
    d.setReg(REG.QueueReady, 1);
    expect(d.reg(REG.QueueReady)).to.equal(1);
    d.driverOk();
    d.mem.writeU64(desc, BigInt(TEST_RAM_BASE));
    d.mem.writeU32(desc + 8, 4);
    d.mem.writeU16(desc + 12, WRITE);
    d.mem.writeU16(avail + 2, 1); // avail idx; ring[0] = head 0
    d.mem.writeU16(end - 2, 0); // used_event
    d.setReg(REG.QueueNotify, 0);
    expect(d.mem.readU16(used + 2)).to.equal(1); // used idx
    expect([d.mem.readU32(used + 4), d.mem.readU32(used + 8)]).to.deep.equal([0, 4]);
    expect(d.mem.readU16(used + 12)).to.equal(1); // avail_event
    expect(d.reg(REG.InterruptStatus)).to.equal(INT_USED_BUFFER);
    expect(dev.queues[0].broken).to.equal(undefined);
  });
});
