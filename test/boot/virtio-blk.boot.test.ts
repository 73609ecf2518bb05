// @boot: virtio-blk under the Debian kernel on the software CPU. One boot: ext4 on /dev/vda is
// mounted, read and written, a read-only /dev/vdb refuses writes, the guest powers off; the
// host then checks the images with e2fsprogs. Needs the default guest and mke2fs/e2fsck/debugfs.
import { DEVICE_TEST_CMDLINE } from '../helpers/boot-cmdline.ts';
import { expect } from 'chai';
import { requireDefaultGuest } from '../helpers/default-guest.ts';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDefaultGuest } from '../../src/guest/cache.ts';
import { RunStatusFilter, buildRunCmdline } from '../../src/cli/run-protocol.ts';
import { runMachine } from '../../src/vmm/machine.ts';
import { SerialPort } from '../../src/devices/serial-backend.ts';

function tool(name: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(name, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** An ext4 image of `mib` MiB holding the files of `files`. */
function makeExt4(dir: string, name: string, mib: number, files: Record<string, string>): string {
  const src = join(dir, `${name}.d`);
  mkdirSync(src);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(src, f), text);
  const img = join(dir, `${name}.img`);
  const r = tool('mke2fs', ['-t', 'ext4', '-F', '-q', '-d', src, img, `${mib}M`]);
  expect(r.status, `mke2fs: ${r.stderr}`).to.equal(0);
  return img;
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('virtio-blk with ext4 on the software CPU @boot', function () {
  this.timeout(20 * 60_000);
  let guest: { kernel: string; initrd: string };
  let dir: string;

  before(async function () {
    const g = requireDefaultGuest(this);
    for (const t of ['mke2fs', 'e2fsck', 'debugfs']) {
      if (spawnSync(t, ['-V'], { stdio: 'ignore' }).error) {
        console.log(`      skipped: ${t} is not installed`);
        this.skip();
      }
    }
    guest = g!;
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-blk-boot-'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('mounts, reads and writes ext4 on vda, refuses writes to a read-only vdb, leaves a clean image', async () => {
    const hello = `hello from the host ${randomBytes(6).toString('hex')}\n`;
    const token = `written by the guest ${randomBytes(6).toString('hex')}`;
    const rw = makeExt4(dir, 'rw', 32, { 'hello.txt': hello });
    const ro = makeExt4(dir, 'ro', 16, { 'ro.txt': 'read-only data\n' });
    const roHash = sha256(ro);

    const script = [
      'mkdir -p /mnt/a /mnt/b',
      'mount -t ext4 /dev/vda /mnt/a || exit 10',
      'echo "HELLO:$(cat /mnt/a/hello.txt)"',
      `echo '${token}' > /mnt/a/newfile || exit 11`,
      'sync',
      'umount /mnt/a || exit 12',
      'echo "VDB-RO:$(cat /sys/block/vdb/ro)"',
      'mount -t ext4 -o ro /dev/vdb /mnt/b || exit 13',
      'echo "RO:$(cat /mnt/b/ro.txt)"',
      'if echo x > /mnt/b/x 2>/dev/null; then echo FS-WRITE:ok; else echo FS-WRITE:refused; fi',
      'umount /mnt/b',
      'if dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then echo RAW-WRITE:ok; else echo RAW-WRITE:refused; fi',
      'echo DONE',
    ].join('\n');
    const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', script] }, DEVICE_TEST_CMDLINE);
    const filter = new RunStatusFilter(nonce);
    const port = new SerialPort();
    let stdout = '';
    port.onOutput((b) => (stdout += Buffer.from(filter.push(b)).toString('latin1')));
    const started = Date.now();
    const exit = await runMachine({
      kernel: guest.kernel, initrd: guest.initrd, cmdline, memoryBytes: 256 << 20, cpus: 1, accel: 'emu', console: port, noReboot: true,
      disks: [{ path: rw, readonly: false }, { path: ro, readonly: true }],
    });
    port.flush();
    console.log(`      boot + ext4 script + power-off: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(exit.reason, `machine ended with ${exit.reason}: ${exit.error?.message ?? ''}\n${filter.bootLog.slice(-3000)}\n${stdout}`).to.equal('poweroff');
    expect(filter.status, stdout).to.equal(0);
    const lines = stdout.split('\n');
    expect(lines).to.include(`HELLO:${hello.trimEnd()}`);
    expect(lines).to.include('VDB-RO:1');
    expect(lines).to.include('RO:read-only data');
    expect(lines).to.include('FS-WRITE:refused');
    expect(lines).to.include('RAW-WRITE:refused');
    expect(lines).to.include('DONE');

    // The guest's writes reached the image and left the filesystem consistent.
    const fsck = tool('e2fsck', ['-fn', rw]);
    expect(fsck.status, `e2fsck: ${fsck.stdout}${fsck.stderr}`).to.equal(0);
    const cat = tool('debugfs', ['-R', 'cat /newfile', rw]);
    expect(cat.stdout).to.equal(`${token}\n`);
    expect(sha256(ro), 'the read-only image changed').to.equal(roHash);
    expect(tool('e2fsck', ['-fn', ro]).status).to.equal(0);
  });
});
