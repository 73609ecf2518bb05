// A host Unix socket for one virtio-console port (`--console-port NAME:SOCKET_PATH`): the VMM
// listens, one client at a time is joined to the port in both directions, and a second client
// is turned away. While nobody is connected, guest output waits in the port's bounded buffer
// and is delivered to the next client, as with a serial line nobody is reading.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { lstatSync, unlinkSync } from 'node:fs';
import type { ConsolePort } from './port.ts';
import { silentLogger, type DeviceLogger } from '../device.ts';

export class ConsoleSocketError extends Error {
  override readonly name = 'ConsoleSocketError';
}

/** True when something answers on the socket at `path`. */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Refuses to replace anything but a stale socket: a regular file or a live socket at the path
 * is the user's, not ours.
 */
async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new ConsoleSocketError(`console port socket ${path}: the path exists and is not a socket`);
  if (await socketAnswers(path)) throw new ConsoleSocketError(`console port socket ${path}: another process is listening there`);
  unlinkSync(path);
}

export class ConsolePortSocket {
  private client: Socket | undefined;
  private closed = false;

  private constructor(readonly path: string, private readonly port: ConsolePort, private readonly server: Server, private readonly log: DeviceLogger) {
    server.on('connection', (s) => this.accept(s));
  }

  static async listen(path: string, port: ConsolePort, log: DeviceLogger = silentLogger): Promise<ConsolePortSocket> {
    await clearStaleSocket(path);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new ConsoleSocketError(`console port socket ${path}: ${e.code ?? e.message}`)));
      server.listen(path, () => resolve());
    });
    server.on('error', (e) => log.warn(`console port socket ${path}: ${e.message}`));
    return new ConsolePortSocket(path, port, server, log);
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  private accept(s: Socket): void {
    if (this.client || this.closed) {
      this.log.warn(`console port ${this.port.portName}: a client is already connected; refusing another`);
      s.destroy();
      return;
    }
    this.client = s;
    const toGuest = (d: Buffer): void => {
      this.port.write(d);
    };
    s.on('data', toGuest);
    this.port.pipe(s, { end: false });
    const detach = (): void => {
      if (this.client !== s) return;
      this.port.unpipe(s);
      s.off('data', toGuest);
      this.client = undefined;
    };
    s.once('close', detach);
    s.on('error', (e) => {
      this.log.debug(`console port ${this.port.portName}: client error ${e.message}`);
      detach();
    });
  }

  /** Stops listening, drops the client and removes the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.client?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
