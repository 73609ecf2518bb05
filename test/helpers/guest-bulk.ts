// A 2 MiB HTTP transfer each way between a booted guest and a host server, counting the
// guest's eth0 packets around each: with TSO negotiated both ways far fewer than one per MSS
// (~1436 for 2 MiB). busybox wget moves the data (nc's small buffer would set the segment
// sizes itself); the host side serves /bulk and counts what /upload receives.
import { expect } from 'chai';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const BULK_BYTES = 2 << 20;

/** Guest shell lines printing BULK-IN:<bytes>:<rx packets> and BULK-OUT:<reply>:<tx packets>. */
export function bulkScript(baseUrl: string): string[] {
  return [
    'pk() { cat /sys/class/net/eth0/statistics/$1_packets; }',
    `r0=$(pk rx); echo "BULK-IN:$(timeout 120 wget -q -O - ${baseUrl}/bulk | wc -c):$(( $(pk rx) - r0 ))"`,
    // Not zeros: busybox wget sizes a --post-file body with strlen.
    `yes 0123456789abcdef | head -c ${BULK_BYTES} > /tmp/up`,
    `t0=$(pk tx); echo "BULK-OUT:$(timeout 120 wget -q -O - --post-file=/tmp/up ${baseUrl}/upload):$(( $(pk tx) - t0 ))"`,
  ];
}

/** Answers /bulk and /upload for bulkScript; false for any other request. */
export function serveBulk(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.url === '/bulk') res.end(Buffer.alloc(BULK_BYTES, 0x5a));
  else if (req.url === '/upload') {
    let n = 0;
    req.on('data', (d: Buffer) => { n += d.length; });
    req.on('end', () => res.end(`got ${n}`));
  } else return false;
  return true;
}

/** Both transfers complete, each in fewer than maxPackets guest packets. */
export function expectBulk(lines: string[], maxPackets: number): void {
  const field = (tag: string, i: number): string | undefined => lines.find((l) => l.startsWith(tag))?.split(':')[i];
  expect(field('BULK-IN:', 1)).to.equal(String(BULK_BYTES));
  expect(field('BULK-OUT:', 1)).to.equal(`got ${BULK_BYTES}`);
  expect(Number(field('BULK-IN:', 2)), 'packets received for 2 MiB (GUEST_TSO4)').to.be.below(maxPackets);
  expect(Number(field('BULK-OUT:', 2)), 'packets sent for 2 MiB (HOST_TSO4)').to.be.below(maxPackets);
}
