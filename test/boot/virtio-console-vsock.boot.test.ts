// @boot: the default guest on the software CPU with virtio-console ports and virtio-vsock.
// Busybox has no AF_VSOCK client, so a tiny static aarch64 tool is compiled here and appended
// to a copy of the initramfs as a second cpio archive (the kernel unpacks concatenated ones).
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createConnection, createServer } from 'node:net';
import { findDefaultGuest } from '../../src/guest/cache.ts';
import { CpioWriter, S_IFREG } from '../../src/guest/cpio.ts';
import { RunStatusFilter, buildRunCmdline } from '../../src/cli/run-protocol.ts';
import { runMachine } from '../../src/vmm/machine.ts';
import { SerialPort } from '../../src/devices/serial-backend.ts';
import { ConsolePorts } from '../../src/devices/virtio/console/port.ts';
import { DEVICE_TEST_CMDLINE } from '../helpers/boot-cmdline.ts';

const TOOL_C = String.raw`
#include <sys/socket.h>
#include <linux/vm_sockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void copy_all(int from, int to) { char b[4096]; ssize_t n; while ((n = read(from, b, sizeof b)) > 0) write(to, b, n); }
int main(int argc, char **argv) {
  int s = socket(AF_VSOCK, SOCK_STREAM, 0);
  if (s < 0) { perror("socket"); return 2; }
  struct sockaddr_vm a; memset(&a, 0, sizeof a); a.svm_family = AF_VSOCK;
  if (argc == 5 && !strcmp(argv[1], "connect")) {
    a.svm_cid = atoi(argv[2]); a.svm_port = atoi(argv[3]);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 3; }
    write(s, argv[4], strlen(argv[4])); shutdown(s, SHUT_WR); copy_all(s, 1); return 0;
  }
  if (argc == 3 && !strcmp(argv[1], "serve")) {
    a.svm_cid = VMADDR_CID_ANY; a.svm_port = atoi(argv[2]);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 1) < 0) { perror("bind"); return 4; }
    int c = accept(s, 0, 0); if (c < 0) { perror("accept"); return 5; }
    write(c, "served", 6); shutdown(c, SHUT_WR); copy_all(c, 1); return 0;
  }
  fprintf(stderr, "usage: vsock-tool connect CID PORT MSG | serve PORT\n"); return 1;
}
`;

const SCRIPT = [
  'test -c /dev/hvc0 && echo hvc0-exists',
  'echo hello-hvc0 > /dev/hvc0',
  // vportXpN: X is the virtio device index, which depends on probe order; find the port by name.
  'echo ports: $(ls /sys/class/virtio-ports)',
  'N=$(grep -l org.nodevisor.test /sys/class/virtio-ports/*/name); N=${N%/name}; N=${N##*/}',
  'echo name=$(cat /sys/class/virtio-ports/$N/name) dev=$(test -c /dev/$N && echo ok)',
  'exec 3<>/dev/$N',
  'echo guest-to-host >&3',
  'echo port-read=$(head -n 1 <&3)',
  'exec 3>&-',
  'echo vsock-out=$(vsock-tool connect 2 5000 ping-from-guest)',
  'echo vsock-in=$(vsock-tool serve 6000)',
].join('; ');

describe('virtio-console ports and vsock in the default guest @boot', function () {
  this.timeout(20 * 60_000);
  let dir: string;

  before(function () {
    if (!findDefaultGuest()) this.skip();
    if (spawnSync('aarch64-linux-gnu-gcc', ['--version'], { stdio: 'ignore' }).status !== 0) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-cv-'));
  });
  after(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('has hvc0, carries a named port both ways, and connects vsock guest->host and host->guest', async () => {
    const guest = findDefaultGuest()!;
    writeFileSync(join(dir, 'tool.c'), TOOL_C);
    const cc = spawnSync('aarch64-linux-gnu-gcc', ['-static', '-O2', '-o', join(dir, 'vsock-tool'), join(dir, 'tool.c')], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).to.equal(0);
    const extra = new CpioWriter();
    extra.add({ name: 'bin/vsock-tool', mode: S_IFREG | 0o755, data: readFileSync(join(dir, 'vsock-tool')) });
    const initrd = Buffer.concat([readFileSync(guest.initrd), gzipSync(extra.finish())]);

    const sock = join(dir, 'v.sock');
    // Guest -> host port 5000 lands on v.sock_5000.
    let fromGuest = '';
    const srv = createServer((c) => {
      c.on('data', (b) => (fromGuest += b.toString()));
      c.on('end', () => c.end(`pong:${fromGuest}`));
    });
    await new Promise<void>((r) => srv.listen(`${sock}_5000`, () => r()));

    const ports = new ConsolePorts(['org.nodevisor.test']);
    let hvc0 = '';
    ports.console.on('data', (b: Buffer) => (hvc0 += b.toString()));
    const named = ports.get('org.nodevisor.test')!;
    let namedIn = '';
    named.on('data', (b: Buffer) => {
      namedIn += b.toString();
      if (namedIn.includes('guest-to-host\n')) named.write('host-to-guest\n');
    });

    // Host -> guest port 6000 through the hybrid socket; retried until the guest listens.
    let hostGot = '';
    let done = false;
    let hostSideClosed!: () => void;
    const hostSideDone = new Promise<void>((r) => (hostSideClosed = r));
    const tryConnect = (): void => {
      if (done) return;
      const c = createConnection(sock);
      let buf = '';
      c.on('error', () => undefined);
      c.on('data', (b) => {
        buf += b.toString();
        if (buf.startsWith('OK ') && buf.includes('\n') && !c.writableEnded) c.end('hello-guest');
      });
      c.on('close', () => {
        if (buf.startsWith('OK ')) {
          done = true;
          hostGot = buf.slice(buf.indexOf('\n') + 1);
          hostSideClosed();
        } else setTimeout(tryConnect, 1000);
      });
      c.write('CONNECT 6000\n');
    };
    tryConnect();

    const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', SCRIPT] }, DEVICE_TEST_CMDLINE);
    const filter = new RunStatusFilter(nonce);
    const serial = new SerialPort();
    let stdout = '';
    serial.onOutput((b) => (stdout += Buffer.from(filter.push(b)).toString('latin1')));
    const started = Date.now();
    const exit = await runMachine({
      kernel: guest.kernel, initrd, cmdline, memoryBytes: 512 << 20, cpus: 1, accel: 'emu', console: serial, noReboot: true,
      consoleHost: ports, vsock: [{ port: 5000, path: sock }],
    });
    done = true;
    srv.close();
    serial.flush();
    console.log(stdout.split('\n').map((l) => `      | ${l}`).join('\n'));
    console.log(`      guest run took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(exit.reason, filter.bootLog.slice(-3000)).to.equal('poweroff');
    expect(filter.status, stdout + filter.bootLog.slice(-2000)).to.equal(0);
    expect(stdout).to.include('hvc0-exists');
    expect(hvc0).to.include('hello-hvc0');
    expect(stdout).to.include('name=org.nodevisor.test dev=ok');
    expect(namedIn).to.include('guest-to-host');
    expect(stdout).to.include('port-read=host-to-guest');
    expect(fromGuest).to.equal('ping-from-guest');
    expect(stdout).to.include('vsock-out=pong:ping-from-guest');
    expect(stdout).to.include('vsock-in=hello-guest');
    // The host end closes once both directions are shut down; give its events a moment.
    await Promise.race([hostSideDone, new Promise((r) => setTimeout(r, 10_000))]);
    expect(hostGot).to.equal('served');
  });
});
