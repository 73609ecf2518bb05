// The I/O bench's guest tool and its report parser: the tool is built with the cross
// compiler and run under qemu-aarch64 on a scratch file, and its real output is parsed.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { headline, iops, IO_PHASES, megabytesPerSecond, parseIoBench } from '../../bench/io-report.ts';
import { findToolchain } from '../helpers/aarch64-toolchain.ts';

const SOURCE = fileURLToPath(new URL('../../bench/guest/iobench.c', import.meta.url));

describe('bench I/O report', () => {
  it('parses result lines among console noise, the last line of a phase winning', () => {
    const out = [
      '[    1.0] virtio_blk virtio1: [vdb] 65536 512-byte logical blocks',
      'iobench seq-write bytes=1000 ops=1 usec=10 direct=1',
      'iobench seq-write bytes=33554432 ops=32 usec=1000000 direct=1\r',
      'iobench rand-read bytes=40960 ops=10 usec=500000 direct=0',
      'iobench rand-read bytes=12 ops=x usec=1 direct=1',
      'iobench bogus bytes=1 ops=1 usec=1 direct=1',
    ].join('\n');
    const r = parseIoBench(out);
    expect([...r.keys()]).to.deep.equal(['seq-write', 'rand-read']);
    expect(r.get('seq-write')).to.deep.equal({ phase: 'seq-write', bytes: 33554432, ops: 32, usec: 1000000, direct: true });
    expect(megabytesPerSecond(r.get('seq-write')!)).to.be.closeTo(33.554432, 1e-9);
    expect(iops(r.get('rand-read')!)).to.equal(20);
    expect(r.get('rand-read')!.direct).to.equal(false);
    expect(headline(r.get('seq-write')!).unit).to.equal('MB/s');
    expect(headline(r.get('rand-read')!)).to.deep.equal({ value: 20, unit: 'IOPS' });
  });

  it('reports no rate for a phase that took no time', () => {
    const r = parseIoBench('iobench seq-read bytes=0 ops=0 usec=0 direct=1').get('seq-read')!;
    expect(megabytesPerSecond(r)).to.equal(undefined);
    expect(iops(r)).to.equal(undefined);
  });

  it('the guest tool runs every phase on a file, direct and buffered, and prints what it did', function () {
    this.timeout(60000);
    const { toolchain } = findToolchain();
    if (!toolchain) this.skip();
    const dir = mkdtempSync(join(tmpdir(), 'nodevisor-iobench-test-'));
    try {
      const bin = join(dir, 'iobench');
      execFileSync(toolchain!.gcc, ['-static', '-O2', '-o', bin, SOURCE]);
      const file = join(dir, 'data');
      // Under qemu-user the tool's /proc is the host's: keep it from dropping the host's caches.
      const env = { ...process.env, IOBENCH_KEEP_CACHES: '1' };
      for (const mode of [[], ['buffered']]) {
        const out = execFileSync(toolchain!.qemu, [bin, file, '2', '64', '5', ...mode], { encoding: 'utf8', env });
        const r = parseIoBench(out);
        expect([...r.keys()]).to.deep.equal([...IO_PHASES]);
        expect(r.get('seq-write')).to.include({ bytes: 2 << 20, ops: 2 });
        expect(r.get('seq-read')).to.include({ bytes: 2 << 20, ops: 2 });
        expect(r.get('rand-write')).to.include({ bytes: 64 * 4096, ops: 64 });
        expect(r.get('rand-read')).to.include({ bytes: 64 * 4096, ops: 64 });
        if (mode.length) for (const p of IO_PHASES) expect(r.get(p)!.direct, p).to.equal(false);
        expect(statSync(file).size).to.equal(2 << 20);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
