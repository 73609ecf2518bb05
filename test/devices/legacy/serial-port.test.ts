import { expect } from 'chai';
import { SerialPort } from '../../../src/devices/serial-backend.ts';

describe('serial port (host side of a UART)', () => {
  it('buffers input up to its capacity and hands it to the device in order', () => {
    const port = new SerialPort({ inputCapacity: 4 });
    let told = 0;
    port.attachDevice(() => told++);
    expect(port.sendInput('abcdef')).to.equal(4);
    expect(told).to.equal(1);
    expect([...port.takeInput(3)]).to.deep.equal([0x61, 0x62, 0x63]);
    expect(port.sendInput('ef')).to.equal(2); // wraps around the ring
    expect(Buffer.from(port.takeInput(10)).toString()).to.equal('def');
    expect(port.pendingInput).to.equal(0);
  });

  it('signals drain once after refusing input, on a microtask', async () => {
    const port = new SerialPort({ inputCapacity: 2 });
    let drains = 0;
    port.onDrain(() => drains++);
    port.sendInput('ab');
    port.takeInput(1);
    await Promise.resolve();
    expect(drains, 'nothing was refused').to.equal(0);
    expect(port.sendInput('xyz')).to.equal(1);
    port.takeInput(1);
    port.takeInput(1);
    await Promise.resolve();
    expect(drains).to.equal(1);
  });

  it('coalesces output, flushes at the size limit, and unsubscribes', () => {
    const port = new SerialPort({ outputFlushBytes: 3 });
    const chunks: number[][] = [];
    const off = port.onOutput((b) => chunks.push([...b]));
    for (const b of [1, 2, 3, 4]) port.emitOutput(b);
    expect(chunks).to.deep.equal([[1, 2, 3]]);
    port.flush();
    expect(chunks).to.deep.equal([[1, 2, 3], [4]]);
    off();
    port.emitOutput(5);
    port.flush();
    expect(chunks.length).to.equal(2);
  });
});
