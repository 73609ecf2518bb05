// `npm run bench -- --only net`: TCP throughput between the guest and the host over the user
// network: nodevisor's virtio-net + TypeScript stack (`--net user`) beside QEMU TCG's slirp
// (`-netdev user`). One boot each: the guest leases an address by DHCP, fetches tcpblast
// (bench/guest/tcpblast.c, built static here) from a host HTTP server, reads BYTES from a host
// TCP source (host -> guest) and writes BYTES into a host TCP sink (guest -> host), 64 KiB at
// a time. Both are timed on the host, from the connection to the last byte; the guest's CPU
// speed dominates both figures.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNodevisor, runQemu, type Guest, type RunOptions, type Sample } from './runners.ts';

const BYTES = 8 << 20;
const APPEND = 'console=ttyAMA0 cryptomgr.notests';
const SOURCE = fileURLToPath(new URL('./guest/tcpblast.c', import.meta.url));

interface Span { start: number; end: number }
interface NetResult { down?: Span; up?: Span }

/** Mbit/s for BYTES over a span of milliseconds, or undefined when the transfer never completed. */
export function megabitsPerSecond(bytes: number, span?: Span): number | undefined {
  return span && span.end > span.start ? (bytes * 8) / ((span.end - span.start) / 1000) / 1e6 : undefined;
}

function buildTool(): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'nodevisor-bench-net-'));
  try {
    execFileSync('aarch64-linux-gnu-gcc', ['-static', '-O2', '-o', join(dir, 'tcpblast'), SOURCE], { stdio: ['ignore', 'ignore', 'inherit'] });
    return readFileSync(join(dir, 'tcpblast'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function guestScript(httpPort: number, sourcePort: number, sinkPort: number): string {
  return [
    "cat > /tmp/dhcp.sh <<'EOF'",
    '#!/bin/sh',
    'case "$1" in bound|renew) ifconfig "$interface" "$ip" netmask "$subnet" && route add default gw "$router" ;; esac',
    'EOF',
    'chmod +x /tmp/dhcp.sh; ip link set eth0 up || exit 10',
    'udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 5 -T 3 >/dev/null 2>&1 || exit 11',
    `timeout 300 wget -q -O /tmp/tcpblast http://10.0.2.2:${httpPort}/tcpblast && chmod +x /tmp/tcpblast || exit 12`,
    `timeout 300 /tmp/tcpblast recv 10.0.2.2 ${sourcePort} ${BYTES} || exit 13`,
    `timeout 300 /tmp/tcpblast send 10.0.2.2 ${sinkPort} ${BYTES} || exit 14`,
  ].join('\n');
}

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));

async function measure(tool: Buffer, run: (script: string) => Promise<Sample>, side: string): Promise<NetResult> {
  const blob = Buffer.alloc(BYTES, 0x5a);
  const result: NetResult = {};
  const http = createHttpServer((req, res) => res.writeHead(200, { 'content-length': String(tool.length) }).end(tool));
  // host -> guest: the span ends when the guest, having read to EOF, closes its end; the
  // loopback socket's buffers would make the write side finish long before that.
  const source = createServer((s) => {
    const start = performance.now();
    s.on('close', () => (result.down ??= { start, end: performance.now() }));
    s.on('error', () => undefined);
    s.end(blob);
  });
  const sink = createServer((s) => {
    const start = performance.now();
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      bytes += d.length;
      if (bytes >= BYTES && !result.up) {
        result.up = { start, end: performance.now() };
        s.end();
      }
    });
    s.on('error', () => undefined);
  });
  const ports = [await listen(http), await listen(source), await listen(sink)] as const;
  try {
    const s = await run(guestScript(...ports));
    if (s.status !== 0) throw new Error(`bench net ${side}: guest status ${s.status}: ${s.output}`);
  } finally {
    http.close();
    source.close();
    sink.close();
  }
  return result;
}

export async function benchNet(guest: Guest, cpus: number): Promise<void> {
  const base: RunOptions = { append: APPEND, memoryMiB: 256, qemuTimeoutSeconds: 900 };
  // QEMU first: it is quick, so a broken setup shows before the long software-CPU boot.
  const tool = buildTool();
  const theirs = await measure(tool, (script) => runQemu(guest, cpus, script, {
    ...base, qemuHasNic: true, qemuArgs: ['-global', 'virtio-mmio.force-legacy=false', '-netdev', 'user,id=n0', '-device', 'virtio-net-device,netdev=n0'],
  }), 'qemu');
  const ours = await measure(tool, (script) => runNodevisor(guest, cpus, script, { ...base, devices: { net: ['user'] } }), 'nodevisor');
  console.log(`bench net: ${BYTES >> 20} MiB each way over TCP, nodevisor --net user vs QEMU -netdev user (slirp), ${cpus} vCPU(s)`);
  const rows = [['direction', 'nodevisor Mbit/s', 'qemu Mbit/s', 'ratio (qemu / nodevisor)']];
  for (const [name, key] of [['host -> guest', 'down'], ['guest -> host', 'up']] as const) {
    const a = megabitsPerSecond(BYTES, ours[key]);
    const b = megabitsPerSecond(BYTES, theirs[key]);
    rows.push([name, a?.toFixed(1) ?? 'n/a', b?.toFixed(1) ?? 'n/a', a && b ? (b / a).toFixed(1) : '']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) console.log('  ' + r.map((c, i) => c.padEnd(widths[i])).join('  '));
}
