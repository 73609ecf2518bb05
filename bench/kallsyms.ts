// `npx tsx bench/kallsyms.ts`: the default guest kernel's symbol table for the profiler
// (Debian's System.map is a placeholder). Boots the same kernel under QEMU TCG with nokaslr,
// dumps /proc/kallsyms and writes it to the guest cache as `kallsyms`; the profiler finds it
// there and corrects for KASLR itself.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findDefaultGuest, guestCacheDir } from '../src/guest/cache.ts';
import { buildRunCmdline, RunStatusFilter } from '../src/cli/run-protocol.ts';
import { KernelSymbols } from '../src/vmm/kernel-symbols.ts';

const guest = findDefaultGuest();
if (!guest) {
  console.error('kallsyms: no default guest; run `nodevisor guest build` first');
  process.exit(3);
}
const { cmdline, nonce } = buildRunCmdline({ argv: ['cat', '/proc/kallsyms'] }, 'console=ttyAMA0 nokaslr cryptomgr.notests');
const filter = new RunStatusFilter(nonce);
let text = '';
const p = spawn('qemu-system-aarch64', ['-M', 'virt', '-cpu', 'cortex-a72', '-m', '512', '-nographic', '-nic', 'none', '-no-reboot',
  '-kernel', guest.kernel, '-initrd', guest.initrd, '-append', cmdline], { stdio: ['ignore', 'pipe', 'inherit'] });
const timer = setTimeout(() => p.kill('SIGKILL'), 300_000);
p.stdout.on('data', (d: Buffer) => (text += Buffer.from(filter.push(d)).toString('latin1')));
await new Promise((r) => p.on('exit', r));
clearTimeout(timer);
const symbols = KernelSymbols.parse(text);
if (filter.status !== 0 || symbols.size < 1000) {
  console.error(`kallsyms: the dump failed (status ${filter.status}, ${symbols.size} symbols)`);
  process.exit(1);
}
const out = join(guestCacheDir(), 'kallsyms');
writeFileSync(out, text.replace(/\r/g, ''));
console.log(`kallsyms: ${symbols.size} text symbols of ${guest.manifest.kernelRelease} written to ${out}`);
