// @boot: Debian's stock arm64 kernel and the default busybox initramfs on nodevisor's
// software CPU, compared with QEMU (TCG) running the same kernel, initramfs and commands.
// Needs the default guest (`nodevisor guest build`; .ci/run builds it) and qemu-system-aarch64.
import { expect } from 'chai';
import { requireDefaultGuest } from '../helpers/default-guest.ts';
import { spawn, spawnSync } from 'node:child_process';
import { findDefaultGuest } from '../../src/guest/cache.ts';
import { RunStatusFilter, buildRunCmdline } from '../../src/cli/run-protocol.ts';
import { runMachine } from '../../src/vmm/machine.ts';
import { SerialPort } from '../../src/devices/serial-backend.ts';
import { DEVICE_TEST_APPEND } from '../helpers/boot-cmdline.ts';

// The workload of the issue: hashing, integer and floating-point awk, compression, sorting.
const WORKLOAD = [
  'echo nodevisor | sha256sum',
  'seq 1 2000 | sha256sum',
  "awk 'BEGIN { s = 0; for (i = 1; i <= 100000; i++) s += i * i; print s }'",
  "awk 'BEGIN { x = 1; for (i = 1; i <= 30; i++) x = x * 1.5 + 0.25 / i; printf \"%.10f %e %g\\n\", x, sqrt(2) / 3, exp(1) }'",
  'seq 1 3000 | gzip -c | gunzip -c | sha256sum',
  'seq 1 3000 | gzip -9 -c | wc -c',
  'seq 1 500 | sort -r | head -3',
  "printf 'pear\\napple\\nfig\\n' | sort",
  'cat /proc/cpuinfo | grep -c ^processor',
].join('; ');

// One vCPU boots with the crypto self-tests (they exercise the SIMD and crypto paths); the
// SMP boot and the status check skip them to keep CI time down. Both sides use the same line.
const FULL_APPEND = 'console=ttyAMA0';
const appendFor = (cpus: number) => (cpus === 1 ? FULL_APPEND : DEVICE_TEST_APPEND);

interface RunOutput { stdout: string; status: number | undefined }

function requireTool(name: string): boolean {
  return spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
}

async function runOnNodevisor(kernel: string, initrd: string, script: string, cpus: number, append = FULL_APPEND): Promise<RunOutput> {
  const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', script] }, append);
  const filter = new RunStatusFilter(nonce);
  const port = new SerialPort();
  let stdout = '';
  port.onOutput((b) => (stdout += Buffer.from(filter.push(b)).toString('latin1')));
  const exit = await runMachine({ kernel, initrd, cmdline, memoryBytes: 512 << 20, cpus, accel: 'emu', console: port, noReboot: true });
  port.flush();
  expect(exit.reason, `machine ended with ${exit.reason}: ${exit.error?.message ?? ''}\n${filter.bootLog.slice(-3000)}`).to.equal('poweroff');
  return { stdout, status: filter.status };
}

function runOnQemu(kernel: string, initrd: string, script: string, cpus: number, append = FULL_APPEND): Promise<RunOutput> {
  const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', script] }, append);
  const filter = new RunStatusFilter(nonce);
  return new Promise((resolve, reject) => {
    const p = spawn('qemu-system-aarch64', ['-M', 'virt', '-cpu', 'cortex-a72', '-smp', String(cpus), '-m', '512', '-nographic', '-nic', 'none', '-no-reboot',
      '-kernel', kernel, '-initrd', initrd, '-append', cmdline], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error('QEMU timed out')); }, 120_000);
    p.stdout.on('data', (d: Buffer) => (stdout += Buffer.from(filter.push(d)).toString('latin1')));
    p.on('exit', () => { clearTimeout(timer); resolve({ stdout, status: filter.status }); });
  });
}

describe('Debian arm64 kernel on the software CPU @boot', function () {
  this.timeout(15 * 60_000);
  let guest: { kernel: string; initrd: string };

  before(async function () {
    const g = requireDefaultGuest(this);
    try {
      await import('../../src/accel/emu/accelerator.ts');
    } catch {
      console.log('      skipped: the software CPU is not available');
      this.skip();
    }
    guest = g!;
  });

  for (const cpus of [1, 4]) {
    it(`boots to a shell, runs sha256sum/awk/gzip/sort like QEMU, powers off (${cpus} vCPU${cpus > 1 ? 's' : ''})`, async function () {
      if (!requireTool('qemu-system-aarch64')) this.skip();
      // All vCPUs share one JS thread, so the 4-vCPU run costs about what the 1-vCPU one does
      // (a few minutes); NODEVISOR_SMP_BOOT=0 skips it on a slow machine.
      if (cpus > 1 && process.env.NODEVISOR_SMP_BOOT === '0') {
        console.log('      skipped: NODEVISOR_SMP_BOOT=0');
        this.skip();
      }
      const [ours, theirs] = [await runOnNodevisor(guest.kernel, guest.initrd, WORKLOAD, cpus, appendFor(cpus)), await runOnQemu(guest.kernel, guest.initrd, WORKLOAD, cpus, appendFor(cpus))];
      expect(theirs.status, 'QEMU reference run').to.equal(0);
      expect(ours.status).to.equal(0);
      expect(ours.stdout).to.equal(theirs.stdout);
      expect(ours.stdout.trim().split('\n').pop()).to.equal(String(cpus));
    });
  }

  it('reports the command\'s exit status', async () => {
    const r = await runOnNodevisor(guest.kernel, guest.initrd, 'echo out; exit 42', 1, DEVICE_TEST_APPEND);
    expect(r).to.deep.equal({ stdout: 'out\n', status: 42 });
  });
});
