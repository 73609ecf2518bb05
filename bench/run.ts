// `npm run bench`: nodevisor's software CPU and QEMU TCG side by side in one run, on the
// same Debian kernel, initramfs and command (the default guest). Absolute times on shared
// machines are noise; the ratio is the figure that matters. Options: --cpus N,
// --runs N (default 1), --command "sh command", --only boot|workload|idle|blk|fs|net (the full run does
// all; blk, fs and net are bench/io.ts and bench/net.ts), --profile FILE
// (guest PC samples and host time split of the nodevisor runs, see src/vmm/profiler.ts;
// symbols from bench/kallsyms.ts), --no-qemu (skip the reference runs).
import { findDefaultGuest } from '../src/guest/cache.ts';
import { runNodevisor, runQemu, type Sample } from './runners.ts';
import { benchBlk, benchFs } from './io.ts';
import { benchNet } from './net.ts';
import { enableProfiler } from '../src/vmm/profiler.ts';
import { relaunchWithVmmPool } from '../src/host/v8-pool.ts';

// Measure what the CLI runs: a V8 worker pool that leaves the vCPU thread a core.
await relaunchWithVmmPool();

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const cpus = Number(arg('cpus', '1'));
const runs = Number(arg('runs', '1'));
const BOOT_ONLY = 'true';
const WORKLOAD = "seq 1 20000 | sha256sum; awk 'BEGIN { s = 0; for (i = 1; i <= 200000; i++) s += i * 1.5; print s }'; seq 1 20000 | gzip -c | gunzip -c | wc -l; seq 1 5000 | sort -r | head -1";
const only = arg('only', '');
/** --command CMD: boot and run CMD instead of the standard cases. */
const command = arg('command', '');
const profileFile = arg('profile', '');
const withQemu = !process.argv.includes('--no-qemu');
const profiler = profileFile ? enableProfiler(profileFile) : undefined;

const guest = findDefaultGuest();
if (!guest) {
  console.error('bench: no default guest; run `nodevisor guest build` first');
  process.exit(3);
}

// The I/O modes print their own tables; they run after the boot cases in a full run.
const IO_MODES = { blk: benchBlk, fs: benchFs, net: benchNet } as const;
if (Object.hasOwn(IO_MODES, only)) {
  await IO_MODES[only as keyof typeof IO_MODES](guest, cpus);
  process.exit(0);
}

const nodevisor = (command: string): Promise<Sample> => runNodevisor(guest!, cpus, command);
const qemu = (command: string): Promise<Sample> => runQemu(guest!, cpus, command);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`bench: Debian ${guest.manifest.kernelRelease} on ${cpus} vCPU(s), ${runs} run(s) each; nodevisor emu vs qemu-system-aarch64 TCG (cortex-a72)`);
// The guest clock is the host's, so on a loaded host the guest sees more timer ticks per unit
// of work and retires more instructions: the instruction count and host CPU time are shown too.
const rows: string[][] = [['case', 'nodevisor s', 'qemu s', 'ratio', 'guest instr/s (nodevisor)', 'guest instr (M)', 'host CPU s (nodevisor)', 'idle host CPU % (nodevisor / qemu)']];
const cases: readonly (readonly [string, string, string])[] = command
  ? [['command', `boot + ${command}`, command]]
  : [['boot', 'boot + poweroff', BOOT_ONLY], ['workload', 'boot + workload', WORKLOAD], ['idle', 'idle (sleep 5)', 'sleep 5']];
for (const [key, name, command] of cases) {
  if (only && key !== only) continue;
  const ours: Sample[] = [];
  const theirs: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    ours.push(await nodevisor(command));
    if (withQemu) theirs.push(await qemu(command));
  }
  if (theirs.length > 0 && ours[0].output !== theirs[0].output) console.log(`  warning: outputs differ for ${name}:\n  nodevisor: ${JSON.stringify(ours[0].output)}\n  qemu: ${JSON.stringify(theirs[0].output)}`);
  const a = median(ours.map((s) => s.seconds));
  const b = theirs.length > 0 ? median(theirs.map((s) => s.seconds)) : NaN;
  const ips = median(ours.map((s) => (s.instructions ?? 0) / s.seconds));
  const idle = name.startsWith('idle') ? `${median(ours.map((x) => x.idleCpuPercent ?? NaN)).toFixed(1)} / ${theirs.length > 0 ? median(theirs.map((x) => x.idleCpuPercent ?? NaN)).toFixed(1) : '-'}` : '';
  const instr = median(ours.map((s) => s.instructions ?? 0));
  const cpuS = median(ours.map((s) => s.cpuSeconds ?? 0));
  rows.push([name, a.toFixed(2), b.toFixed(2), (a / b).toFixed(1), `${(ips / 1e6).toFixed(1)} M`, (instr / 1e6).toFixed(0), cpuS.toFixed(1), idle]);
  // The boot again on the interpreter alone (no WebAssembly tier), against the same QEMU
  // time: what the translator buys.
  if (key === 'boot' && process.env.NODEVISOR_TRANSLATE !== '0') {
    const tr: Sample[] = [];
    for (let i = 0; i < runs; i++) tr.push(await runNodevisor(guest, cpus, command, { translate: false }));
    const t = median(tr.map((s) => s.seconds));
    const tips = median(tr.map((s) => (s.instructions ?? 0) / s.seconds));
    rows.push([`${name} (interpreter only)`, t.toFixed(2), b.toFixed(2), (t / b).toFixed(1), `${(tips / 1e6).toFixed(1)} M`, (median(tr.map((s) => s.instructions ?? 0)) / 1e6).toFixed(0), median(tr.map((s) => s.cpuSeconds ?? 0)).toFixed(1), '']);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
if (profiler) {
  profiler.write();
  console.log(`\nprofile (all nodevisor runs) written to ${profileFile}:\n`);
  console.log(profiler.report());
}
if (!only && !command) {
  for (const mode of Object.values(IO_MODES)) {
    console.log('');
    await mode(guest, cpus);
  }
}
