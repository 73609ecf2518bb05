// `npm run bench -- --only net`: TCP throughput between the guest and the host over the user
// network (virtio-net + the TypeScript stack), on the software CPU. One boot: the guest leases
// an address, downloads BYTES from a host HTTP server (host -> guest), then streams BYTES into
// a host TCP sink with dd | nc (guest -> host). Both are timed on the host, from the first
// request byte to the last payload byte; the guest's CPU speed dominates both figures.
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { buildRunCmdline, RunStatusFilter } from '../src/cli/run-protocol.ts';
import { SerialPort } from '../src/devices/serial-backend.ts';
import { runMachine } from '../src/vmm/machine.ts';

const BYTES = 4 << 20;

export async function benchNet(guest: { kernel: string; initrd: string }, cpus: number): Promise<void> {
  const blob = Buffer.alloc(BYTES, 0x5a);
  let down: { start: number; end: number } | undefined;
  const http = createHttpServer((req, res) => {
    const start = performance.now();
    res.on('close', () => (down = { start, end: performance.now() }));
    res.writeHead(200, { 'content-length': String(blob.length) }).end(blob);
  });
  let up: { start: number; end: number; bytes: number } | undefined;
  const sink = createServer((s) => {
    let bytes = 0;
    let start = 0;
    s.on('data', (d) => {
      if (bytes === 0) start = performance.now();
      bytes += d.length;
      if (bytes >= BYTES && !up) {
        up = { start, end: performance.now(), bytes };
        s.end();
      }
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  const httpPort = (http.address() as AddressInfo).port;
  const sinkPort = (sink.address() as AddressInfo).port;
  const script = [
    "printf '#!/bin/sh\\n[ \"$1\" = bound ] && ifconfig $interface $ip netmask $subnet && route add default gw $router\\n' > /tmp/d.sh",
    'chmod +x /tmp/d.sh; ip link set eth0 up; udhcpc -i eth0 -s /tmp/d.sh -q -n >/dev/null 2>&1 || exit 11',
    `wget -q -O /dev/null http://10.0.2.2:${httpPort}/blob || exit 12`,
    `dd if=/dev/zero bs=16384 count=${BYTES / 16384} 2>/dev/null | nc 10.0.2.2 ${sinkPort}`,
    'true',
  ].join('\n');
  const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', script] }, 'console=ttyAMA0');
  const filter = new RunStatusFilter(nonce);
  const port = new SerialPort();
  let out = '';
  port.onOutput((b) => (out += Buffer.from(filter.push(b)).toString('latin1')));
  try {
    const exit = await runMachine({ kernel: guest.kernel, initrd: guest.initrd, cmdline, memoryBytes: 256 << 20, cpus, accel: 'emu', console: port, noReboot: true, net: ['user'] });
    if (exit.reason !== 'poweroff' || filter.status !== 0) throw new Error(`bench net: guest ended with ${exit.reason}, status ${filter.status}: ${out}`);
  } finally {
    http.close();
    sink.close();
  }
  const mbps = (bytes: number, r?: { start: number; end: number }): string => (r ? ((bytes * 8) / ((r.end - r.start) / 1000) / 1e6).toFixed(1) : 'n/a');
  console.log(`bench net: ${BYTES >> 20} MiB each way over --net user on the software CPU (${cpus} vCPU)`);
  console.log(`  host -> guest (wget): ${mbps(BYTES, down)} Mbit/s`);
  console.log(`  guest -> host (dd | nc): ${mbps(up?.bytes ?? 0, up)} Mbit/s`);
}
