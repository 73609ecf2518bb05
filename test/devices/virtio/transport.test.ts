import { expect } from 'chai';
import { bit, VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_F_VERSION_1 } from '../../../src/devices/virtio/device.ts';
import { INT_CONFIG_CHANGE, INT_USED_BUFFER, MMIO_MAGIC_VALUE, MMIO_VENDOR_ID, REG, STATUS } from '../../../src/devices/virtio/mmio-transport.ts';
import { MockVirtioDriver, TEST_RAM_BASE } from '../../helpers/virtio-driver.ts';
import { ECHO_DEVICE_ID, EchoDevice } from '../../helpers/virtio-echo-device.ts';

const { ACKNOWLEDGE: ACK, DRIVER, FEATURES_OK, DRIVER_OK, FAILED, DEVICE_NEEDS_RESET } = STATUS;
const RAM = 4 << 20;

function setup(device = new EchoDevice()): { d: MockVirtioDriver; dev: EchoDevice } {
  return { d: new MockVirtioDriver(device), dev: device };
}

/** Point queue `sel`'s registers at the given addresses and size, then try to make it ready. */
function configureQueue(d: MockVirtioDriver, sel: number, size: number, desc: number, avail: number, used: number): boolean {
  d.setReg(REG.QueueSel, sel);
  d.setReg(REG.QueueNum, size);
  const split = (v: number) => [v % 2 ** 32, Math.floor(v / 2 ** 32)];
  const [dl, dh] = split(desc);
  const [al, ah] = split(avail);
  const [ul, uh] = split(used);
  d.setReg(REG.QueueDescLow, dl);
  d.setReg(REG.QueueDescHigh, dh);
  d.setReg(REG.QueueDriverLow, al);
  d.setReg(REG.QueueDriverHigh, ah);
  d.setReg(REG.QueueDeviceLow, ul);
  d.setReg(REG.QueueDeviceHigh, uh);
  d.setReg(REG.QueueReady, 1);
  return d.reg(REG.QueueReady) === 1;
}

describe('virtio-mmio transport', () => {
  describe('register map', () => {
    it('identifies a version 2 device with its id and vendor', () => {
      const { d } = setup();
      expect(d.reg(REG.MagicValue)).to.equal(MMIO_MAGIC_VALUE);
      expect(d.reg(REG.MagicValue)).to.equal(0x74726976); // "virt" little-endian
      expect(d.reg(REG.Version)).to.equal(2);
      expect(d.reg(REG.DeviceId)).to.equal(ECHO_DEVICE_ID);
      expect(d.reg(REG.VendorId)).to.equal(MMIO_VENDOR_ID);
      expect(d.reg(REG.Status)).to.equal(0);
      expect(d.reg(REG.InterruptStatus)).to.equal(0);
    });

    it('reports each queue\'s maximum through QueueSel, 0 for queues that do not exist', () => {
      const { d } = setup(new EchoDevice(undefined, [256, 16]));
      d.setReg(REG.QueueSel, 0);
      expect([d.reg(REG.QueueNumMax), d.reg(REG.QueueNum), d.reg(REG.QueueReady)]).to.deep.equal([256, 256, 0]);
      d.setReg(REG.QueueSel, 1);
      expect(d.reg(REG.QueueNumMax)).to.equal(16);
      d.setReg(REG.QueueSel, 2);
      expect([d.reg(REG.QueueNumMax), d.reg(REG.QueueNum), d.reg(REG.QueueReady), d.reg(REG.QueueDescLow)]).to.deep.equal([0, 0, 0, 0]);
      d.setReg(REG.QueueNum, 8);
      d.setReg(REG.QueueReady, 1);
      expect(d.reg(REG.QueueReady)).to.equal(0);
      expect(d.log.warnings.some((w) => /nonexistent queue 2/.test(w))).to.equal(true);
    });

    it('has no shared memory regions: ShmLen reads as all ones', () => {
      const { d } = setup();
      expect(d.reg(REG.ShmLenLow)).to.equal(0xffffffff);
      expect(d.reg(REG.ShmLenHigh)).to.equal(0xffffffff);
    });

    it('reads and forwards config space at 1, 2 and 4 bytes; refuses other widths and overruns', () => {
      const { d, dev } = setup();
      expect(d.config(0, 1)).to.equal(1);
      expect(d.config(2, 2)).to.equal(0x0403);
      expect(d.config(4, 4)).to.equal(0x08070605);
      expect(Number(d.transport.read(REG.Config + 6, 4))).to.equal(0); // past the 8-byte config
      expect(Number(d.transport.read(REG.Config, 8))).to.equal(0);
      d.setConfig(1, 2, 0xbeef);
      d.transport.write(REG.Config + 7, 4, 1);
      expect(dev.configWrites).to.deep.equal([[1, 2, 0xbeef]]);
    });

    it('ignores unaligned or narrow register accesses and unknown offsets', () => {
      const { d } = setup();
      expect(Number(d.transport.read(REG.MagicValue, 2))).to.equal(0);
      expect(Number(d.transport.read(REG.MagicValue + 1, 4))).to.equal(0);
      expect(Number(d.transport.read(0x0e0, 4))).to.equal(0);
      d.transport.write(REG.Status, 1, ACK);
      expect(d.reg(REG.Status)).to.equal(0);
      expect(d.log.warnings.length).to.be.greaterThan(0);
    });
  });

  describe('feature negotiation', () => {
    const offered = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_INDIRECT_DESC) | bit(3) | bit(40);

    it('offers the features in 32-bit pages selected by DeviceFeaturesSel', () => {
      const { d } = setup(new EchoDevice(offered));
      d.setReg(REG.DeviceFeaturesSel, 0);
      expect(d.reg(REG.DeviceFeatures)).to.equal((1 << VIRTIO_F_INDIRECT_DESC) | (1 << 3));
      d.setReg(REG.DeviceFeaturesSel, 1);
      expect(d.reg(REG.DeviceFeatures)).to.equal(1 | (1 << 8));
      d.setReg(REG.DeviceFeaturesSel, 2);
      expect(d.reg(REG.DeviceFeatures)).to.equal(0);
    });

    it('takes the driver\'s pages, masks bits that were not offered, passes the result to the device', () => {
      const { d, dev } = setup(new EchoDevice(offered));
      d.setReg(REG.Status, ACK);
      d.setReg(REG.Status, ACK | DRIVER);
      d.setReg(REG.DriverFeaturesSel, 0);
      d.setReg(REG.DriverFeatures, 0xffffffff);
      d.setReg(REG.DriverFeaturesSel, 1);
      d.setReg(REG.DriverFeatures, 0xffffffff);
      d.setReg(REG.DriverFeaturesSel, 2);
      d.setReg(REG.DriverFeatures, 0xffffffff);
      expect(d.transport.ackedFeatures).to.equal(offered);
      expect(d.log.warnings.some((w) => /unoffered/.test(w))).to.equal(true);
      // Rewriting page 0 replaces it and leaves page 1.
      d.setReg(REG.DriverFeaturesSel, 0);
      d.setReg(REG.DriverFeatures, 1 << 3);
      expect(d.transport.ackedFeatures).to.equal(bit(3) | bit(VIRTIO_F_VERSION_1) | bit(40));
      d.setReg(REG.Status, ACK | DRIVER | FEATURES_OK);
      expect(d.reg(REG.Status)).to.equal(ACK | DRIVER | FEATURES_OK);
      d.setupQueue(0);
      d.driverOk();
      expect(dev.ackedFeatures).to.equal(bit(3) | bit(VIRTIO_F_VERSION_1) | bit(40));
    });

    it('refuses FEATURES_OK without VERSION_1', () => {
      const { d } = setup(new EchoDevice(offered));
      d.setReg(REG.Status, ACK);
      d.setReg(REG.Status, ACK | DRIVER);
      d.setReg(REG.DriverFeaturesSel, 0);
      d.setReg(REG.DriverFeatures, 1 << 3);
      d.setReg(REG.Status, ACK | DRIVER | FEATURES_OK);
      expect(d.reg(REG.Status)).to.equal(ACK | DRIVER);
      expect(() => d.negotiate(bit(3))).to.throw(/refused FEATURES_OK/);
      expect(d.negotiate(bit(VIRTIO_F_VERSION_1))).to.equal(bit(VIRTIO_F_VERSION_1));
    });

    it('ignores DriverFeatures before DRIVER and after FEATURES_OK', () => {
      const { d } = setup(new EchoDevice(offered));
      d.setReg(REG.Status, ACK);
      d.setReg(REG.DriverFeatures, 1 << 3);
      expect(d.transport.ackedFeatures).to.equal(0n);
      d.negotiate(bit(VIRTIO_F_VERSION_1));
      d.setReg(REG.DriverFeaturesSel, 0);
      d.setReg(REG.DriverFeatures, 1 << 3);
      expect(d.transport.ackedFeatures).to.equal(bit(VIRTIO_F_VERSION_1));
    });
  });

  describe('device status', () => {
    it('follows ACKNOWLEDGE -> DRIVER -> FEATURES_OK -> DRIVER_OK and ignores other transitions', () => {
      const { d, dev } = setup();
      const st = () => d.reg(REG.Status);
      d.setReg(REG.Status, DRIVER); // ACK skipped
      expect(st()).to.equal(0);
      d.setReg(REG.Status, ACK);
      d.setReg(REG.Status, ACK | FEATURES_OK); // DRIVER skipped
      expect(st()).to.equal(ACK);
      d.setReg(REG.Status, ACK | DRIVER);
      d.setReg(REG.Status, ACK | DRIVER | DRIVER_OK); // FEATURES_OK skipped
      expect(st()).to.equal(ACK | DRIVER);
      expect(dev.activations).to.equal(0);
      d.setReg(REG.DriverFeaturesSel, 1);
      d.setReg(REG.DriverFeatures, 1);
      d.setReg(REG.Status, ACK | DRIVER | FEATURES_OK);
      d.setReg(REG.Status, ACK); // clearing bits is not a transition either
      expect(st()).to.equal(ACK | DRIVER | FEATURES_OK);
      d.setReg(REG.Status, ACK | DRIVER | FEATURES_OK); // rewriting the same value is harmless
      d.setupQueue(0);
      d.setReg(REG.Status, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
      expect(st()).to.equal(ACK | DRIVER | FEATURES_OK | DRIVER_OK);
      expect(dev.activations).to.equal(1);
      expect(d.transport.activated).to.equal(true);
      d.setReg(REG.Status, ACK | DRIVER | FEATURES_OK | DRIVER_OK);
      expect(dev.activations).to.equal(1);
    });

    it('matches the transition table for every state and every value written', () => {
      const chain = [0, ACK, ACK | DRIVER, ACK | DRIVER | FEATURES_OK, ACK | DRIVER | FEATURES_OK | DRIVER_OK];
      const expected = (s: number, v: number): number => {
        const w = v & ~DEVICE_NEEDS_RESET; // the driver cannot set it
        if (w & FAILED) return s | FAILED;
        const i = chain.indexOf(s);
        return i + 1 < chain.length && w === chain[i + 1] ? w : s;
      };
      const { d } = setup();
      const reach = (i: number) => {
        d.reset();
        for (let k = 1; k <= i; k++) {
          d.setReg(REG.Status, chain[k]);
          if (chain[k] === (ACK | DRIVER)) {
            d.setReg(REG.DriverFeaturesSel, 1);
            d.setReg(REG.DriverFeatures, 1); // VERSION_1, so FEATURES_OK is acceptable
          }
        }
        expect(d.reg(REG.Status)).to.equal(chain[i]);
      };
      let checked = 0;
      chain.forEach((s, i) => {
        for (let v = 1; v < 256; v++) {
          reach(i);
          d.setReg(REG.Status, v);
          expect(d.reg(REG.Status), `0x${s.toString(16)} <- 0x${v.toString(16)}`).to.equal(expected(s, v));
          checked++;
        }
      });
      expect(checked).to.equal(5 * 255);
    });

    it('records FAILED and then accepts nothing but a reset', () => {
      const { d } = setup();
      d.setReg(REG.Status, ACK);
      d.setReg(REG.Status, ACK | DRIVER);
      d.setReg(REG.Status, ACK | DRIVER | FAILED);
      expect(d.reg(REG.Status)).to.equal(ACK | DRIVER | FAILED);
      d.setReg(REG.DriverFeaturesSel, 1);
      d.setReg(REG.DriverFeatures, 1);
      d.setReg(REG.Status, ACK | DRIVER | FAILED | FEATURES_OK);
      d.setReg(REG.Status, ACK | DRIVER | FEATURES_OK);
      expect(d.reg(REG.Status)).to.equal(ACK | DRIVER | FAILED);
      d.reset();
      expect(d.reg(REG.Status)).to.equal(0);
      d.init();
      expect(d.transport.activated).to.equal(true);
    });

    it('never lets the driver set DEVICE_NEEDS_RESET, and takes the rest of such a write', () => {
      const { d } = setup();
      d.setReg(REG.Status, ACK | DEVICE_NEEDS_RESET);
      expect(d.reg(REG.Status)).to.equal(ACK);
    });

    it('reset clears features, queues and interrupts, and the device stops touching memory', () => {
      const { d, dev } = setup();
      d.init();
      const q = d.queues[0];
      q.add([{ writable: 8 }]);
      q.notify();
      expect(q.takeUsed()).to.have.length(1);
      const notified = dev.notifies.length;
      expect(d.irq.level).to.equal(true);
      d.setReg(REG.QueueSel, 1);
      d.reset();
      expect(dev.resets).to.equal(1);
      expect(d.transport.activated).to.equal(false);
      expect(d.reg(REG.Status)).to.equal(0);
      expect(d.transport.ackedFeatures).to.equal(0n);
      expect(d.reg(REG.InterruptStatus)).to.equal(0);
      expect(d.irq.level).to.equal(false);
      for (const sel of [0, 1]) {
        d.setReg(REG.QueueSel, sel);
        const regs = [REG.QueueReady, REG.QueueDescLow, REG.QueueDriverLow, REG.QueueDeviceLow].map((r) => d.reg(r));
        expect(regs).to.deep.equal([0, 0, 0, 0]);
        expect(d.reg(REG.QueueNum)).to.equal(d.reg(REG.QueueNumMax));
      }
      // Buffers made available after the reset are never consumed, nothing in RAM changes.
      q.add([{ writable: 8 }]);
      const before = Buffer.from(d.mem.slice(TEST_RAM_BASE, RAM));
      q.notify();
      expect(dev.notifies.length, 'notify reached the reset device').to.equal(notified);
      expect(Buffer.from(d.mem.slice(TEST_RAM_BASE, RAM)).equals(before)).to.equal(true);
      expect(d.irq.level).to.equal(false);
      // Resetting an inactive device does not reset the model again.
      d.reset();
      expect(dev.resets).to.equal(1);
    });
  });

  describe('queue setup', () => {
    const base = TEST_RAM_BASE + 0x10000;
    const rings = { desc: base, avail: base + 0x1000, used: base + 0x2000 };

    function negotiated(): MockVirtioDriver {
      const d = new MockVirtioDriver(new EchoDevice());
      d.negotiate();
      return d;
    }

    it('accepts a power-of-two size up to the maximum with aligned rings in RAM', () => {
      const d = negotiated();
      expect(configureQueue(d, 0, 256, rings.desc, rings.avail, rings.used)).to.equal(true);
      expect([d.reg(REG.QueueNum), d.reg(REG.QueueDescLow), d.reg(REG.QueueDriverLow), d.reg(REG.QueueDeviceLow)]).to.deep.equal([256, rings.desc, rings.avail, rings.used]);
      expect(configureQueue(negotiated(), 0, 1, rings.desc, rings.avail + 2, rings.used + 4)).to.equal(true);
    });

    for (const [what, size, desc, avail, used] of [
      ['size 0', 0, rings.desc, rings.avail, rings.used],
      ['a size that is not a power of two', 48, rings.desc, rings.avail, rings.used],
      ['a size above QueueNumMax', 512, rings.desc, rings.avail, rings.used],
      ['a misaligned descriptor table', 16, rings.desc + 8, rings.avail, rings.used],
      ['a misaligned avail ring', 16, rings.desc, rings.avail + 1, rings.used],
      ['a misaligned used ring', 16, rings.desc, rings.avail, rings.used + 2],
      ['a descriptor table below RAM', 16, 0x1000, rings.avail, rings.used],
      ['an avail ring running past the end of RAM', 16, rings.desc, TEST_RAM_BASE + RAM - 16, rings.used],
      ['a used ring running past the end of RAM', 16, rings.desc, rings.avail, TEST_RAM_BASE + RAM - 64],
      ['a ring above 2^53', 16, rings.desc, rings.avail, 2 ** 60],
    ] as const) {
      it(`refuses QueueReady with ${what}`, () => {
        const d = negotiated();
        expect(configureQueue(d, 0, size, desc, avail, used)).to.equal(false);
        expect(d.log.warnings.some((w) => /not made ready/.test(w))).to.equal(true);
        // The driver can correct it.
        expect(configureQueue(d, 0, 16, rings.desc, rings.avail, rings.used)).to.equal(true);
      });
    }

    it('ignores queue register writes while the queue is ready or the device is live', () => {
      const d = negotiated();
      expect(configureQueue(d, 0, 16, rings.desc, rings.avail, rings.used)).to.equal(true);
      d.setReg(REG.QueueNum, 8);
      d.setReg(REG.QueueDescLow, rings.desc + 0x100);
      expect([d.reg(REG.QueueNum), d.reg(REG.QueueDescLow)]).to.deep.equal([16, rings.desc]);
      d.driverOk();
      d.setReg(REG.QueueSel, 1);
      d.setReg(REG.QueueNum, 8);
      expect(d.reg(REG.QueueNum)).to.equal(16);
      expect(d.log.warnings.filter((w) => /while queue . is live/.test(w))).to.have.length(3);
    });

    it('hands only the ready queues to the device', () => {
      const d = negotiated();
      const dev = d.device as EchoDevice;
      configureQueue(d, 1, 16, rings.desc, rings.avail, rings.used);
      d.driverOk();
      expect(dev.queues.map((q) => q.active)).to.deep.equal([false, true]);
    });
  });

  describe('interrupts', () => {
    it('raises the used-buffer interrupt, keeps the line high until acknowledged', () => {
      const { d } = setup(new EchoDevice(bit(VIRTIO_F_VERSION_1)));
      d.init();
      const q = d.queues[0];
      q.add([{ writable: 4 }]);
      q.notify();
      expect(d.reg(REG.InterruptStatus)).to.equal(INT_USED_BUFFER);
      expect(d.irq.level).to.equal(true);
      d.setReg(REG.InterruptAck, INT_CONFIG_CHANGE); // acking a bit that is not set changes nothing
      expect(d.irq.level).to.equal(true);
      d.setReg(REG.InterruptAck, INT_USED_BUFFER);
      expect(d.reg(REG.InterruptStatus)).to.equal(0);
      expect(d.irq.level).to.equal(false);
    });

    it('bumps the config generation on a config change and raises the config interrupt', () => {
      const { d } = setup();
      d.init();
      const gen = d.reg(REG.ConfigGeneration);
      d.transport.configChanged();
      expect(d.reg(REG.ConfigGeneration)).to.equal(gen + 1);
      expect(d.reg(REG.InterruptStatus)).to.equal(INT_CONFIG_CHANGE);
      expect(d.irq.level).to.equal(true);
      const q = d.queues[0];
      q.add([{ writable: 4 }]);
      q.notify();
      expect(d.reg(REG.InterruptStatus)).to.equal(INT_CONFIG_CHANGE | INT_USED_BUFFER);
      d.setReg(REG.InterruptAck, INT_CONFIG_CHANGE);
      expect(d.reg(REG.InterruptStatus)).to.equal(INT_USED_BUFFER);
      expect(d.irq.level).to.equal(true);
      d.ackInterrupt();
      expect(d.irq.level).to.equal(false);
    });

    it('sets DEVICE_NEEDS_RESET with a config interrupt when a ring is corrupt, until reset', () => {
      const { d, dev } = setup();
      d.init();
      const q = d.queues[0];
      q.setAvailIndex(q.size + 1); // more pending than the ring holds
      q.notify();
      expect(d.reg(REG.Status) & DEVICE_NEEDS_RESET).to.equal(DEVICE_NEEDS_RESET);
      expect(d.reg(REG.InterruptStatus) & INT_CONFIG_CHANGE).to.equal(INT_CONFIG_CHANGE);
      expect(d.irq.level).to.equal(true);
      expect(dev.queues[0].broken?.kind).to.equal('AvailIndexInvalid');
      // The broken queue consumes nothing more; a second problem raises nothing new.
      const gen = d.reg(REG.ConfigGeneration);
      d.ackInterrupt();
      q.notify();
      expect(q.usedIndex).to.equal(0);
      expect(d.reg(REG.ConfigGeneration)).to.equal(gen);
      expect(d.irq.level).to.equal(false);
      // Linux's read-modify-write of FAILED keeps working with the bit set.
      d.setReg(REG.Status, d.reg(REG.Status) | FAILED);
      expect(d.reg(REG.Status) & FAILED).to.equal(FAILED);
      d.reset();
      expect(d.reg(REG.Status)).to.equal(0);
      d.init();
      d.queues[0].add([{ writable: 4 }]);
      d.queues[0].notify();
      expect(d.queues[0].takeUsed().map((u) => u.len)).to.deep.equal([4]);
    });

    it('ignores notifications for queues that do not exist', () => {
      const { d, dev } = setup();
      d.init();
      expect(dev.notifies, 'activation polls each ready queue').to.deep.equal([0, 1]);
      d.setReg(REG.QueueNotify, 7);
      expect(dev.notifies).to.deep.equal([0, 1]);
      expect(d.log.warnings.some((w) => /nonexistent queue 7/.test(w))).to.equal(true);
    });
  });

  it('negotiates EVENT_IDX and INDIRECT_DESC only when offered', () => {
    const { d } = setup(new EchoDevice(bit(VIRTIO_F_VERSION_1)));
    expect(d.negotiate(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_EVENT_IDX) | bit(VIRTIO_F_INDIRECT_DESC))).to.equal(bit(VIRTIO_F_VERSION_1));
  });
});
