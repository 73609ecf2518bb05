import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsolePorts } from '../../../src/devices/virtio/console/port.ts';
import { ConsolePortSocket, ConsoleSocketError } from '../../../src/devices/virtio/console/socket-server.ts';

const connect = (path: string): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const s = createConnection(path, () => resolve(s));
    s.once('error', reject);
  });

const nextData = (s: Socket): Promise<string> => new Promise((resolve) => s.once('data', (d) => resolve(d.toString())));

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).to.equal(true);
}

describe('virtio-console port on a host Unix socket', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'nv-cport-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('joins one client to the port both ways and keeps guest output for a later client', async () => {
    const ports = new ConsolePorts(['agent']);
    const port = ports.get('agent')!;
    const path = join(dir, 'agent.sock');
    const server = await ConsolePortSocket.listen(path, port);
    try {
      port.fromGuestData(Buffer.from('before anyone connected\n'));
      const a = await connect(path);
      expect(await nextData(a)).to.equal('before anyone connected\n');
      a.write('to the guest');
      await until(() => port.pendingToGuest === 12);
      expect(port.takeToGuest(100)!.toString()).to.equal('to the guest');
      port.fromGuestData(Buffer.from('hello'));
      expect(await nextData(a)).to.equal('hello');

      // A second client is turned away while the first is connected.
      const b = await connect(path);
      await new Promise((resolve) => b.once('close', resolve));
      expect(server.connected).to.equal(true);

      a.destroy();
      await until(() => !server.connected);
      port.fromGuestData(Buffer.from('later'));
      const c = await connect(path);
      expect(await nextData(c)).to.equal('later');
      c.destroy();
    } finally {
      await server.close();
    }
    expect(existsSync(path)).to.equal(false);
  });

  it('replaces a stale socket but refuses a live one or a regular file', async () => {
    const port = new ConsolePorts(['p']).get('p')!;
    const live = join(dir, 'live.sock');
    const other = createServer();
    await new Promise<void>((r) => other.listen(live, r));
    try {
      await ConsolePortSocket.listen(live, port).then(
        () => expect.fail('listened over a live socket'),
        (e) => expect(e).to.be.instanceOf(ConsoleSocketError).with.property('message').match(/another process/),
      );
    } finally {
      await new Promise((r) => other.close(r));
    }

    const file = join(dir, 'file');
    writeFileSync(file, 'user data');
    await ConsolePortSocket.listen(file, port).then(
      () => expect.fail('replaced a regular file'),
      (e) => expect(e).to.be.instanceOf(ConsoleSocketError).with.property('message').match(/not a socket/),
    );

    // A socket file left by a killed VMM: nobody listens, so it is replaced.
    const stale = join(dir, 'stale.sock');
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(stale, r));
    (dead as unknown as { _handle: { close(): void } })._handle.close(); // close without unlinking, like a crash
    const s = await ConsolePortSocket.listen(stale, port);
    await s.close();
  });

  it('reports a path it cannot listen on in one line', async () => {
    const port = new ConsolePorts(['p']).get('p')!;
    await ConsolePortSocket.listen(join(dir, 'missing', 'x.sock'), port).then(
      () => expect.fail('listened in a missing folder'),
      (e) => expect(e).to.be.instanceOf(ConsoleSocketError).with.property('message').match(/^console port socket .*: (ENOENT|EACCES)$/),
    );
  });
});
