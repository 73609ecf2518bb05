// @boot: virtio-net and the user-mode network under the Debian kernel on the software CPU. One
// boot: the guest gets 10.0.2.15 from our DHCP server with busybox udhcpc, fetches a file (HTTP
// over nc, and with wget) from a server the test runs on 127.0.0.1 (reached as 10.0.2.2), pings
// the gateway, then answers a connection the test opens through a hostfwd port on 127.0.0.1.
// A 2 MiB transfer each way counts the guest's packets: with TSO negotiated both ways (the
// Linux driver is the client) far fewer than one per MSS (test/helpers/guest-bulk.ts).
import { DEVICE_TEST_CMDLINE } from '../helpers/boot-cmdline.ts';
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { requireDefaultGuest } from '../helpers/default-guest.ts';
import { bulkScript, expectBulk, serveBulk } from '../helpers/guest-bulk.ts';
import { talkToGuest } from '../helpers/guest-tcp.ts';
import { RunStatusFilter, buildRunCmdline } from '../../src/cli/run-protocol.ts';
import { runMachine } from '../../src/vmm/machine.ts';
import { SerialPort } from '../../src/devices/serial-backend.ts';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('virtio-net with the user network on the software CPU @boot', function () {
  this.timeout(20 * 60_000);

  it('leases an address by DHCP, fetches from the host over TCP NAT, answers through hostfwd', async function () {
    const guest = requireDefaultGuest(this);
    const body = `file from the host ${randomBytes(6).toString('hex')}`;
    const http = createHttpServer((req, res) => {
      if (req.url === '/hello.txt') res.end(body);
      else if (!serveBulk(req, res)) res.writeHead(404).end();
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const httpPort = (http.address() as AddressInfo).port;
    const fwdPort = await freePort();
    const fromHost = `hello from the host ${randomBytes(4).toString('hex')}`;
    const fromGuest = `reply from the guest ${randomBytes(4).toString('hex')}`;

    const script = [
      "cat > /tmp/dhcp.sh <<'EOF'",
      '#!/bin/sh',
      'case "$1" in',
      '  bound|renew) ifconfig "$interface" "$ip" netmask "$subnet" && route add default gw "$router" && echo "DHCP:$ip:$router:$dns" > /tmp/dhcp.out ;;',
      'esac',
      'EOF',
      'chmod +x /tmp/dhcp.sh',
      'ip link set eth0 up || exit 10',
      'echo "MAC:$(cat /sys/class/net/eth0/address)"',
      'udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 5 -T 3 >/dev/null 2>&1 || exit 11',
      'cat /tmp/dhcp.out',
      // HTTP by hand over nc (guest -> host TCP NAT), then busybox wget. Debian's busybox is
      // built without wget's -T: its option parser stores the value through a NULL pointer and
      // segfaults (under qemu-aarch64 too), so the time limit comes from `timeout`.
      `echo "FETCH:$(printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' | nc 10.0.2.2 ${httpPort} | tail -n 1)"`,
      `echo "WGET:$(timeout 60 wget -q -O - http://10.0.2.2:${httpPort}/hello.txt 2>&1)"`,
      ...bulkScript(`http://10.0.2.2:${httpPort}`),
      'if ping -c 1 -W 20 10.0.2.2 >/dev/null 2>&1; then echo PING:ok; else echo PING:failed; fi',
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
      if (!talk && stdout.includes('NC-READY')) talk = talkToGuest('127.0.0.1', fwdPort, fromHost, Date.now() + 5 * 60_000, 'through the port forward');
    });
    const started = Date.now();
    try {
      const exit = await runMachine({
        kernel: guest.kernel, initrd: guest.initrd, cmdline, memoryBytes: 256 << 20, cpus: 1, accel: 'emu', console: port, noReboot: true,
        net: [`user,hostfwd=tcp:127.0.0.1:${fwdPort}-:8080`],
      });
      port.flush();
      console.log(`      boot + dhcp + wget + ping + hostfwd + power-off: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(exit.reason, `machine ended with ${exit.reason}: ${exit.error?.message ?? ''}\n${filter.bootLog.slice(-3000)}\n${stdout}`).to.equal('poweroff');
      expect(filter.status, stdout).to.equal(0);
      const lines = stdout.split('\n').map((l) => l.trimEnd());
      console.log(`      guest output: ${JSON.stringify(lines)}`);
      expect(lines).to.include('MAC:52:54:00:12:34:56');
      expect(lines).to.include('DHCP:10.0.2.15:10.0.2.2:10.0.2.3');
      expect(lines).to.include(`FETCH:${body}`);
      expect(lines).to.include(`WGET:${body}`);
      expect(lines).to.include('PING:ok');
      // Under the ~1436 MSS-sized packets either way, as on tap: with a scaled window nothing
      // holds back busybox wget's small writes, so the guest's upload count varies (290-730 seen).
      expectBulk(lines, 1000);
      expect(lines).to.include(`NC:${fromHost}`);
      expect(lines).to.include('DONE');
      expect((await talk)?.trim()).to.equal(fromGuest);
    } finally {
      http.close();
    }
  });
});
