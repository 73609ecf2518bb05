import { expect } from 'chai';
import { VirtioConsole, CTRL, VIRTIO_CONSOLE_F_MULTIPORT, rxQueueOf, txQueueOf } from '../../../src/devices/virtio/console/device.ts';
import { ConsolePorts, ConsolePortError } from '../../../src/devices/virtio/console/port.ts';
import { bit, VIRTIO_ID_CONSOLE } from '../../../src/devices/virtio/device.ts';
import { REG } from '../../../src/devices/virtio/mmio-transport.ts';
import { MockVirtioDriver, BASE_FEATURES, CapturingLogger, type MockQueue } from '../../helpers/virtio-driver.ts';

const ctrl = (id: number, event: number, value: number): Uint8Array => {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, id, true);
  v.setUint16(4, event, true);
  v.setUint16(6, value, true);
  return b;
};

const parse = (w: Uint8Array, len: number) => {
  const v = new DataView(w.buffer, w.byteOffset);
  return { id: v.getUint32(0, true), event: v.getUint16(4, true), value: v.getUint16(6, true), extra: new TextDecoder().decode(w.subarray(8, len)) };
};

/** Control messages the device sent, after offering `n` control buffers. */
function controlIn(q: MockQueue): ReturnType<typeof parse>[] {
  return q.takeUsed().map((u) => parse(u.written, u.len));
}

function offerControl(q: MockQueue, n: number): void {
  for (let i = 0; i < n; i++) q.add([{ writable: 256 }]);
  q.notify();
}

/** The Linux driver's bring-up: DEVICE_READY, PORT_READY for each PORT_ADD. */
function handshake(names: string[]) {
  const ports = new ConsolePorts(names);
  const log = new CapturingLogger();
  const dev = new VirtioConsole({ ports, log });
  const d = new MockVirtioDriver(dev, { ramBytes: 8 << 20, log });
  d.init();
  const cin = d.queues[2];
  const cout = d.queues[3];
  offerControl(cin, 16);
  cout.add([{ data: ctrl(0, CTRL.DEVICE_READY, 1) }]);
  cout.notify();
  const adds = controlIn(cin);
  for (const a of adds) cout.add([{ data: ctrl(a.id, CTRL.PORT_READY, 1) }]);
  cout.notify();
  const after = controlIn(cin);
  return { d, dev, ports, cin, cout, adds, after };
}

const read = (s: NodeJS.ReadableStream): Promise<Buffer> => new Promise((r) => s.once('data', (b: Buffer) => r(b)));

describe('virtio-console', () => {
  it('offers MULTIPORT with max_nr_ports and two queues per port plus control', () => {
    const dev = new VirtioConsole({ ports: new ConsolePorts(['a', 'b']) });
    const d = new MockVirtioDriver(dev);
    expect(d.reg(REG.DeviceId)).to.equal(VIRTIO_ID_CONSOLE);
    expect(d.deviceFeatures & bit(VIRTIO_CONSOLE_F_MULTIPORT)).to.not.equal(0n);
    expect(d.config(4, 4)).to.equal(3);
    expect(dev.queueMaxSizes.length).to.equal(8);
    expect(rxQueueOf(0)).to.equal(0);
    expect(rxQueueOf(1)).to.equal(4);
    expect(txQueueOf(2)).to.equal(7);
  });

  it('runs the Linux control handshake: PORT_ADD, CONSOLE_PORT for port 0, PORT_NAME and PORT_OPEN', () => {
    const { adds, after } = handshake(['org.test.a', 'b']);
    expect(adds.map((a) => [a.id, a.event, a.value])).to.deep.equal([[0, CTRL.PORT_ADD, 1], [1, CTRL.PORT_ADD, 1], [2, CTRL.PORT_ADD, 1]]);
    expect(after.map((a) => [a.id, a.event, a.extra])).to.deep.equal([
      [0, CTRL.CONSOLE_PORT, ''], [0, CTRL.PORT_OPEN, ''],
      [1, CTRL.PORT_NAME, 'org.test.a'], [1, CTRL.PORT_OPEN, ''],
      [2, CTRL.PORT_NAME, 'b'], [2, CTRL.PORT_OPEN, ''],
    ]);
  });

  it('carries hvc0 output to the host end of port 0 and host input to the guest', async () => {
    const { d, ports } = handshake([]);
    const tx = d.queues[1];
    const got = read(ports.console);
    tx.add([{ data: new TextEncoder().encode('hello ') }, { data: new TextEncoder().encode('hvc0\n') }]);
    tx.notify();
    expect(tx.takeUsed().length).to.equal(1);
    expect((await got).toString()).to.equal('hello hvc0\n');
    const rx = d.queues[0];
    ports.console.write('typed');
    await new Promise((r) => setImmediate(r));
    expect(rx.usedIndex).to.equal(0); // no buffer yet: the bytes wait
    rx.add([{ writable: 3 }]);
    rx.add([{ writable: 64 }]);
    rx.notify();
    const used = rx.takeUsed();
    expect(used.map((u) => Buffer.from(u.written.subarray(0, u.len)).toString())).to.deep.equal(['typ', 'ed']);
  });

  it('holds host data for a named port until the guest opens it, then delivers it', async () => {
    const { d, ports, cout } = handshake(['p']);
    const port = ports.get('p')!;
    const rx = d.queues[rxQueueOf(1)];
    rx.add([{ writable: 64 }]);
    rx.notify();
    port.write('early');
    await new Promise((r) => setImmediate(r));
    expect(rx.usedIndex).to.equal(0);
    const opened = new Promise((r) => port.once('guest-open', r));
    cout.add([{ data: ctrl(1, CTRL.PORT_OPEN, 1) }]);
    cout.notify();
    await opened;
    const [u] = rx.takeUsed();
    expect(Buffer.from(u.written.subarray(0, u.len)).toString()).to.equal('early');
    const tx = d.queues[txQueueOf(1)];
    const got = read(port);
    tx.add([{ data: new TextEncoder().encode('from guest') }]);
    tx.notify();
    expect((await got).toString()).to.equal('from guest');
    const closed = new Promise((r) => port.once('guest-close', r));
    cout.add([{ data: ctrl(1, CTRL.PORT_OPEN, 0) }]);
    cout.notify();
    await closed;
    expect(port.guestOpen).to.equal(false);
  });

  it('caps both directions and drops past the cap', async () => {
    const ports = new ConsolePorts([], 16);
    const log = new CapturingLogger();
    const d = new MockVirtioDriver(new VirtioConsole({ ports, log }), { log });
    d.init({ features: BASE_FEATURES }); // no MULTIPORT: port 0 alone, open from the start
    const tx = d.queues[1];
    tx.add([{ data: new Uint8Array(40).fill(0x41) }]);
    tx.notify();
    expect(ports.console.droppedFromGuest).to.equal(24);
    ports.console.write(Buffer.alloc(20, 0x42));
    await new Promise((r) => setImmediate(r));
    expect(ports.console.droppedToGuest).to.equal(4);
    expect(d.log.warnings.some((w) => w.includes('dropped'))).to.equal(true);
    const got = read(ports.console);
    expect((await got).length).to.equal(16);
  });

  it('ignores malformed control messages and unknown ports', () => {
    const { d, cin, cout } = handshake(['p']);
    offerControl(cin, 4);
    cout.add([{ data: new Uint8Array(3) }]);
    cout.add([{ data: ctrl(99, CTRL.PORT_READY, 1) }]);
    cout.add([{ data: ctrl(1, 0x4242, 1) }]);
    cout.add([{ data: ctrl(1, CTRL.PORT_READY, 1) }]); // repeated: no second PORT_NAME
    cout.notify();
    expect(cout.takeUsed().length).to.be.greaterThan(3);
    expect(controlIn(cin)).to.deep.equal([]);
    expect(d.log.warnings.filter((w) => /short control|unknown port|unexpected control/.test(w)).length).to.equal(3);
    // Still works afterwards.
    cout.add([{ data: ctrl(1, CTRL.PORT_OPEN, 1) }]);
    cout.notify();
    expect(d.device instanceof VirtioConsole && d.device.ports.get('p')!.guestOpen).to.equal(true);
  });

  it('rejects bad port names', () => {
    expect(() => new ConsolePorts(['hvc0'])).to.throw(ConsolePortError);
    expect(() => new ConsolePorts(['a b'])).to.throw(ConsolePortError);
    expect(() => new ConsolePorts(['x', 'x'])).to.throw(ConsolePortError);
  });

  it('forgets the guest side on reset and serves a new handshake', () => {
    const first = handshake(['p']);
    first.d.reset();
    expect(first.ports.get('p')!.guestOpen).to.equal(false);
    const d = new MockVirtioDriver(first.dev, { ramBytes: 8 << 20 });
    d.init();
    offerControl(d.queues[2], 4);
    d.queues[3].add([{ data: ctrl(0, CTRL.DEVICE_READY, 1) }]);
    d.queues[3].notify();
    expect(controlIn(d.queues[2]).map((m) => m.event)).to.deep.equal([CTRL.PORT_ADD, CTRL.PORT_ADD]);
  });
});
