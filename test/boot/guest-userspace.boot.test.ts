// @boot: glibc user space on the software CPU gives qemu-aarch64's answers. guest-userspace.c
// (signals interrupting FP/SIMD loops, SIMD string functions at a page end, SIGSEGV with
// siginfo, unaligned accesses across pages, fork/COW, threads on exclusives and futexes,
// libm) is built static with the cross compiler, run under qemu-aarch64 user mode, then in the
// default guest through a read-only virtio-fs share; the deterministic lines must agree.
import { DEVICE_TEST_APPEND } from '../helpers/boot-cmdline.ts';
import { expect } from 'chai';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireDefaultGuest } from '../helpers/default-guest.ts';
import { findToolchain, runOnQemu } from '../helpers/aarch64-toolchain.ts';
import { runCli } from '../helpers/cli-run.ts';

/** The program's lines, without the timing-dependent "info:" ones. */
const compared = (out: string) => out.split('\n').map((l) => l.trimEnd()).filter((l) => l && !l.startsWith('info:'));

describe('glibc user space on the software CPU matches qemu-aarch64 @boot', function () {
  this.timeout(20 * 60_000);
  let dir: string | undefined;

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('signals, page-end string functions, SIGSEGV, unaligned accesses, fork, threads, libm', async function () {
    requireDefaultGuest(this);
    const { toolchain: tc, reason } = findToolchain();
    if (!tc) {
      if (process.env.CI) throw new Error(`CI must have the cross toolchain: ${reason}`);
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-userspace-'));
    const source = fileURLToPath(new URL('./guest-userspace.c', import.meta.url));
    const elf = join(dir, 'userspace');
    execFileSync(tc.gcc, ['-O2', '-static', '-pthread', '-o', elf, source, '-lm'], { stdio: ['ignore', 'ignore', 'pipe'] });

    const ref = await runOnQemu(tc, elf, 120_000);
    expect(ref.error, ref.error).to.equal(undefined);
    expect(ref.exitCode).to.equal(0);
    const expected = compared(Buffer.from(ref.stdout).toString());
    expect(expected).to.have.length(10);

    const r = await runCli(['run', '--accel', 'emu', '--append', DEVICE_TEST_APPEND, '--share', `${dir}:/prog,readonly`, '--', '/prog/userspace'], 19 * 60_000);
    expect(r.status, `stderr: ${r.stderr}\nstdout: ${r.stdout}`).to.equal(0);
    expect(compared(r.stdout)).to.deep.equal(expected);
    // The FP loop must really have been interrupted, or the first line checks nothing.
    const signals = /^info: signals (\d+)/m.exec(r.stdout);
    expect(Number(signals?.[1] ?? 0), r.stdout).to.be.greaterThan(0);
  });
});
