// @boot: virtio-net on a Linux tap device (--net tap) under the Debian kernel on the software
// CPU. The host side of the tap gets 10.77.0.1/24, the guest 10.77.0.15: the guest pings the
// host, moves 2 MiB each way over HTTP with a host server on 10.77.0.1 (TSO both ways through
// the tap's virtio-net header: far fewer packets than MSS-sized segments would take), then the
// host opens a TCP connection to a listener in the guest, so both kernels' own stacks talk
// through the netdev addon. Needs CAP_NET_ADMIN and iproute2; skipped otherwise.
import { DEVICE_TEST_CMDLINE } from '../helpers/boot-cmdline.ts';
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { requireDefaultGuest } from '../helpers/default-guest.ts';
import { bulkScript, expectBulk, serveBulk } from '../helpers/guest-bulk.ts';
import { talkToGuest } from '../helpers/guest-tcp.ts';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { RunStatusFilter, buildRunCmdline } from '../../src/cli/run-protocol.ts';
import { runMachine } from '../../src/vmm/machine.ts';
import { SerialPort } from '../../src/devices/serial-backend.ts';
import { loadNetdev } from '../../src/net/netdev-native.ts';

/** Why a tap cannot be used here, or ''. */
function tapUnavailable(): string {
  if (process.platform !== 'linux') return 'tap devices exist only on Linux';
  if (spawnSync('ip', ['-V']).status !== 0) return 'the ip command (iproute2) is missing';
  try {
    const native = loadNetdev();
    native.closeFd(native.openTap(`nvprobe${randomBytes(2).toString('hex')}`).fd);
    return '';
  } catch (e) {
    return `cannot create a tap device: ${(e as Error).message}`;
  }
}

describe('virtio-net on a tap device on the software CPU @boot', function () {
  this.timeout(20 * 60_000);

  it('pings the host through the tap and answers a TCP connection from the host', async function () {
    const guest = requireDefaultGuest(this);
    const reason = tapUnavailable();
    if (reason) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    const ifname = `nvtap${randomBytes(3).toString('hex')}`;
    const fromHost = `hello over the tap ${randomBytes(4).toString('hex')}`;
    const fromGuest = `reply over the tap ${randomBytes(4).toString('hex')}`;
    // A port free on the host now; the server binds it on 10.77.0.1 once the tap has that address.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const httpPort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const http = createHttpServer((req, res) => {
      if (!serveBulk(req, res)) res.writeHead(404).end();
    });
    const script = [
      'ifconfig eth0 10.77.0.15 netmask 255.255.255.0 up || exit 10',
      'if ping -c 2 -W 30 10.77.0.1 >/dev/null 2>&1; then echo PING:ok; else echo PING:failed; fi',
      ...bulkScript(`http://10.77.0.1:${httpPort}`),
      'echo NC-READY',
      `echo '${fromGuest}' | nc -l -p 8080 > /tmp/nc.out`,
      'echo "NC:$(cat /tmp/nc.out)"',
      'echo DONE',
    ].join('\n');
    const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', script] }, DEVICE_TEST_CMDLINE);
    const filter = new RunStatusFilter(nonce);
    const port = new SerialPort();
    let stdout = '';
    let talk: Promise<string> | undefined;
    port.onOutput((b) => {
      stdout += Buffer.from(filter.push(b)).toString('latin1');
      if (!talk && stdout.includes('NC-READY')) talk = talkToGuest('10.77.0.15', 8080, fromHost, Date.now() + 5 * 60_000, 'on the tap link');
    });
    // The device opens (and so creates the tap) during boot; configure the host side as soon
    // as it exists, before the guest's script runs.
    let configured = false;
    const configure = setInterval(() => {
      if (configured || spawnSync('ip', ['link', 'show', ifname]).status !== 0) return;
      execFileSync('ip', ['addr', 'add', '10.77.0.1/24', 'dev', ifname]);
      execFileSync('ip', ['link', 'set', ifname, 'up']);
      http.listen(httpPort, '10.77.0.1');
      configured = true;
    }, 20);
    const started = Date.now();
    try {
      const exit = await runMachine({
        kernel: guest.kernel, initrd: guest.initrd, cmdline, memoryBytes: 256 << 20, cpus: 1, accel: 'emu', console: port, noReboot: true,
        net: [`tap,ifname=${ifname}`],
      });
      port.flush();
      console.log(`      boot + ping + tcp over tap + power-off: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(configured, 'the tap appeared on the host').to.equal(true);
      expect(exit.reason, `machine ended with ${exit.reason}: ${exit.error?.message ?? ''}\n${filter.bootLog.slice(-3000)}\n${stdout}`).to.equal('poweroff');
      const lines = stdout.split('\n').map((l) => l.trimEnd());
      console.log(`      guest output: ${JSON.stringify(lines)}`);
      expect(filter.status, stdout).to.equal(0);
      expect(lines).to.include('PING:ok');
      // The host kernel sizes its TSO bursts by pacing rate (at least two MSS each), and the
      // guest is slow: fewer packets than without TSO, but not as few as the user network's.
      expectBulk(lines, 1000);
      expect(lines).to.include(`NC:${fromHost}`);
      expect(lines).to.include('DONE');
      expect((await talk)?.trim()).to.equal(fromGuest);
      expect(spawnSync('ip', ['link', 'show', ifname]).status, 'the tap is gone after the VM').to.not.equal(0);
    } finally {
      clearInterval(configure);
      http.close();
    }
  });
});
