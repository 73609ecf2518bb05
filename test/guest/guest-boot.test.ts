// @boot: the default guest's initramfs on a real Debian kernel, under QEMU (an independent
// reference machine, so this checks /init and the run protocol, not nodevisor's VMM).
// Skipped without qemu-system-aarch64 or without a built or buildable default guest.
import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunStatusFilter, buildRunCmdline } from '../../src/cli/run-protocol.ts';
import { buildDefaultGuest } from '../../src/guest/builder.ts';
import { findDefaultGuest, guestCacheDir } from '../../src/guest/cache.ts';

const QEMU = 'qemu-system-aarch64';

/** `input` is typed once the console shows `prompt`. */
function qemu(kernel: string, initrd: string, cmdline: string, input = '', prompt = '# '): Promise<{ out: Buffer; code: number | null }> {
  return new Promise((resolve, reject) => {
    const p = spawn(QEMU, ['-M', 'virt', '-cpu', 'cortex-a57', '-m', '512', '-nographic', '-nic', 'none', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', cmdline], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`QEMU timed out; console: ${Buffer.concat(chunks).toString().slice(-2000)}`));
    }, 110000);
    p.stdout.on('data', (d: Buffer) => {
      chunks.push(d);
      if (input && Buffer.concat(chunks).toString('latin1').includes(prompt)) {
        p.stdin.write(input);
        input = '';
      }
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ out: Buffer.concat(chunks), code });
    });
  });
}

describe('default guest on QEMU @boot', function () {
  this.timeout(240000);
  let guest: { kernel: string; initrd: string } | undefined;
  let tmpCache: string | undefined;

  before(async function () {
    if (spawnSync(QEMU, ['--version']).status !== 0) this.skip();
    guest = findDefaultGuest();
    if (!guest) {
      const debs = ['/tmp/debs', join(guestCacheDir(), 'debs')].find((d) => existsSync(d) && readdirSync(d).some((f) => f.startsWith('linux-image-')));
      if (!debs) this.skip();
      tmpCache = mkdtempSync(join(tmpdir(), 'nv-guest-boot-'));
      await buildDefaultGuest({ cacheDir: tmpCache, debsDir: debs });
      guest = findDefaultGuest(tmpCache);
    }
  });
  after(() => tmpCache && rmSync(tmpCache, { recursive: true, force: true }));

  it('runs a command through the run protocol and reports its status', async () => {
    const { cmdline, nonce } = buildRunCmdline(
      { argv: ['sh', '-c', 'echo "out: $1"; uname -r; grep -c . /proc/modules; exit 42', 'sh', "it's here"] },
      'console=ttyAMA0 panic=-1',
    );
    const { out } = await qemu(guest!.kernel, guest!.initrd, cmdline);
    const filter = new RunStatusFilter(nonce);
    const text = Buffer.from([...filter.push(out), ...filter.end()]).toString();
    expect(filter.status, out.toString().slice(-2000)).to.equal(42);
    const lines = text.split('\n');
    expect(lines[0]).to.equal("out: it's here");
    expect(lines[1]).to.match(/-arm64$/);
    // Every module in the initramfs loaded.
    expect(Number(lines[2])).to.be.greaterThanOrEqual(15);
    expect(text).to.not.contain('NODEVISOR-');
  });

  it('without a command, gives a shell on the console; leaving it powers off', async () => {
    const { out, code } = await qemu(guest!.kernel, guest!.initrd, 'console=ttyAMA0 panic=-1', 'echo shell-$((6*7))\nexit\n');
    expect(out.toString()).to.contain('shell-42');
    expect(out.toString()).to.match(/reboot: Power down/);
    expect(code).to.equal(0);
  });
});
