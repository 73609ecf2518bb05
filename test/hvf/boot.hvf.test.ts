// Boots the default guest (Debian arm64 kernel + busybox initramfs) under Hypervisor.framework
// through the normal VMM API. Runs only where HVF really works (macOS on Apple Silicon, an
// entitled node, a bare-metal Mac); everywhere else it is skipped with the reason — never
// faked. NODEVISOR_REQUIRE_HVF=1 (the self-hosted CI job) turns those skips into failures.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Accelerator } from '../../src/accel/types.ts';

const REQUIRED = process.env.NODEVISOR_REQUIRE_HVF === '1';
const MiB = 1024 * 1024;

async function hvfOrReason(): Promise<Accelerator | string> {
  if (process.platform !== 'darwin' || process.arch !== 'arm64') return `HVF needs macOS on Apple Silicon (this is ${process.platform}-${process.arch})`;
  try {
    const { loadHvfAccelerator } = await import('../../src/accel/hvf/backend.ts');
    return await loadHvfAccelerator();
  } catch (e) {
    return `HVF unavailable: ${(e as Error).message}`;
  }
}

async function guestOrReason(): Promise<{ kernel: string; initrd: string } | string> {
  try {
    const { guestCacheDir, KERNEL_FILE, INITRD_FILE } = await import('../../src/guest/cache.ts');
    const dir = guestCacheDir();
    const kernel = join(dir, KERNEL_FILE);
    const initrd = join(dir, INITRD_FILE);
    if (!existsSync(kernel) || !existsSync(initrd)) return `default guest not built in ${dir} (run \`nodevisor guest build\`)`;
    return { kernel, initrd };
  } catch (e) {
    return `guest cache module unavailable: ${(e as Error).message}`;
  }
}

describe('@hvf boot under Hypervisor.framework', function () {
  this.timeout(120_000);
  let accel: Accelerator | undefined;
  let guest: { kernel: string; initrd: string } | undefined;

  before(async function () {
    const a = await hvfOrReason();
    const g = await guestOrReason();
    const reason = typeof a === 'string' ? a : typeof g === 'string' ? g : undefined;
    if (reason) {
      if (REQUIRED) throw new Error(`NODEVISOR_REQUIRE_HVF=1 but ${reason}`);
      for (const t of this.test!.parent!.tests) t.title += ` (skipped: ${reason})`;
      this.skip();
    }
    accel = a as Accelerator;
    guest = g as { kernel: string; initrd: string };
  });

  it('boots Linux, runs a command in the guest and powers off', async () => {
    const { runMachine } = await import('../../src/vmm/machine.ts');
    const { SerialPort } = await import('../../src/devices/serial-backend.ts');
    const { RUN_PARAM, NONCE_PARAM } = await import('../../src/cli/run-protocol.ts');
    const port = new SerialPort();
    let output = '';
    port.onOutput((bytes) => { output += Buffer.from(bytes).toString('latin1'); });
    const nonce = randomBytes(6).toString('hex');
    const script = Buffer.from('echo hvf-guest-ok; uname -m\n').toString('base64');
    const exit = await runMachine({
      kernel: guest!.kernel,
      initrd: guest!.initrd,
      cmdline: `console=ttyAMA0 panic=-1 ${NONCE_PARAM}=${nonce} ${RUN_PARAM}=${script}`,
      memoryBytes: 256 * MiB,
      cpus: 2,
      accel: 'hvf',
      accelerator: accel!,
      console: port,
      noReboot: true,
    });
    expect(exit.reason, `${exit.error?.message ?? ''}\n${output.slice(-2000)}`).to.equal('poweroff');
    expect(output).to.contain('hvf-guest-ok');
    expect(output).to.contain('aarch64');
  });
});
