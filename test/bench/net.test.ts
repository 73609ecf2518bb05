// The network bench's guest tool and rate arithmetic: tcpblast is built with the cross
// compiler and run under qemu-aarch64 against host sockets (the bench itself boots guests).
import { expect } from 'chai';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { megabitsPerSecond } from '../../bench/net.ts';
import { findToolchain } from '../helpers/aarch64-toolchain.ts';

const SOURCE = fileURLToPath(new URL('../../bench/guest/tcpblast.c', import.meta.url));
const run = promisify(execFile);
const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

describe('bench net', () => {
  it('turns bytes over a span of milliseconds into Mbit/s', () => {
    expect(megabitsPerSecond(8 << 20, { start: 1000, end: 3000 })).to.be.closeTo((8 * 8 * 1048576) / 2 / 1e6, 1e-9);
  });

  it('has no rate for a transfer that never finished or took no time', () => {
    expect(megabitsPerSecond(100, undefined)).to.equal(undefined);
    expect(megabitsPerSecond(100, { start: 5, end: 5 })).to.equal(undefined);
  });

  it('tcpblast receives to EOF and sends exactly the bytes asked for', async function () {
    this.timeout(60000);
    const { toolchain } = findToolchain();
    if (!toolchain) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'nodevisor-tcpblast-test-'));
    const bytes = 300_000; // not a multiple of the tool's 64 KiB chunk
    let received = 0;
    const source = createServer((s) => s.end(Buffer.alloc(bytes, 1)));
    const sink = createServer((s) => {
      s.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= bytes) s.end();
      });
    });
    try {
      const bin = join(dir, 'tcpblast');
      execFileSync(toolchain!.gcc, ['-static', '-O2', '-o', bin, SOURCE]);
      const down = await run(toolchain!.qemu, [bin, 'recv', '127.0.0.1', String(await listen(source)), String(bytes)]);
      expect(down.stdout).to.match(new RegExp(`^tcpblast recv bytes=${bytes} usec=\\d+\\n$`));
      const up = await run(toolchain!.qemu, [bin, 'send', '127.0.0.1', String(await listen(sink)), String(bytes)]);
      expect(up.stdout).to.match(new RegExp(`^tcpblast send bytes=${bytes} usec=\\d+\\n$`));
      expect(received).to.equal(bytes);
    } finally {
      source.close();
      sink.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
