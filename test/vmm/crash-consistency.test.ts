// @boot: block crash consistency. The VMM runs as `nodevisor run` in a child process; the guest
// writes sequence-numbered sectors to the raw disk, each followed by an fsync of the device
// (a virtio-blk FLUSH), and prints the number once that fsync returned. The test SIGKILLs the
// VMM mid-run and checks that every record the guest reported as flushed is on the image.
import { DEVICE_TEST_APPEND } from '../helpers/boot-cmdline.ts';
import { expect } from 'chai';
import { requireDefaultGuest } from '../helpers/default-guest.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDefaultGuest } from '../../src/guest/cache.ts';
import { vmmNodeOptions } from '../../src/host/v8-pool.ts';

const SECTOR = 512;
const RECORDS = 2000;
/** Kill after this many records were reported (or when the time budget runs out). */
const KILL_AFTER = 40;
const record = (i: number): Buffer => {
  const b = Buffer.alloc(SECTOR);
  b.write(`NODEVISOR-REC ${String(i).padStart(8, '0')}\n`, 'latin1');
  return b;
};

describe('block crash consistency under SIGKILL @boot', function () {
  this.timeout(20 * 60_000);
  let dir: string;

  before(function () {
    requireDefaultGuest(this);
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-crash-'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every record the guest saw flushed when the VMM is killed', async () => {
    const img = join(dir, 'raw.img');
    writeFileSync(img, new Uint8Array(0));
    truncateSync(img, (RECORDS + 8) * SECTOR);
    // Sector i holds record i; `conv=sync` pads it to a sector, `conv=fsync` flushes the device.
    const script = [
      'i=1',
      `while [ $i -le ${RECORDS} ]; do`,
      `  printf 'NODEVISOR-REC %08d\\n' $i | dd of=/dev/vda bs=${SECTOR} seek=$i conv=sync,fsync 2>/dev/null || { echo "DD-FAILED $i"; exit 3; }`,
      '  echo "FLUSHED $i"',
      '  i=$((i+1))',
      'done',
    ].join('\n');
    // With its worker pool given, the CLI runs the VMM itself (src/host/v8-pool.ts): SIGKILL hits the VMM, not a launcher.
    const child = spawn(process.execPath, [...vmmNodeOptions(), 'bin/nodevisor.js', 'run', '--accel', 'emu', '--append', DEVICE_TEST_APPEND, '--memory', '256M', '--disk', img, '--', 'sh', '-c', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let flushed = 0;
    const started = Date.now();
    let firstRecordAt: number | undefined;
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const killed = new Promise<void>((resolve) => {
      const deadline = setTimeout(() => {
        child.kill('SIGKILL');
        resolve();
      }, 15 * 60_000);
      child.stderr.on('data', (d: Buffer) => (err += d.toString('latin1')));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString('latin1');
        // Only complete lines count: a half-printed number was not reported.
        for (const m of out.matchAll(/^FLUSHED (\d+)\n/gm)) flushed = Math.max(flushed, Number(m[1]));
        if (flushed > 0 && firstRecordAt === undefined) firstRecordAt = Date.now();
        if (flushed >= KILL_AFTER) {
          clearTimeout(deadline);
          child.kill('SIGKILL');
          resolve();
        }
      });
      void ended.then(() => {
        clearTimeout(deadline);
        resolve();
      });
    });
    await killed;
    const end = await ended;
    const seconds = (t: number | undefined) => (t === undefined ? '-' : ((t - started) / 1000).toFixed(1));
    console.log(`      first record after ${seconds(firstRecordAt)} s, killed after ${seconds(Date.now())} s with ${flushed} records reported`);
    expect(end.signal, `the VMM ended by itself (${end.code}):\n${out.slice(-2000)}\n${err.slice(-2000)}`).to.equal('SIGKILL');
    expect(out).to.not.match(/DD-FAILED/);
    expect(flushed, `no record was reported:\n${out.slice(-2000)}\n${err.slice(-2000)}`).to.be.greaterThan(0);

    const image = readFileSync(img);
    const missing: number[] = [];
    for (let i = 1; i <= flushed; i++) {
      if (!image.subarray(i * SECTOR, (i + 1) * SECTOR).equals(record(i))) missing.push(i);
    }
    expect(missing, 'records reported as flushed but not on the image').to.deep.equal([]);
    // Past the last report there is at most the record in flight, complete or absent.
    for (let i = flushed + 1; i <= RECORDS; i++) {
      const s = image.subarray(i * SECTOR, (i + 1) * SECTOR);
      if (s.equals(record(i))) continue;
      expect([...new Set(s)], `sector ${i} is neither record ${i} nor empty`).to.deep.equal([0]);
    }
  });
});
