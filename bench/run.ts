// `npm run bench`: nodevisor's software CPU and QEMU TCG side by side in one run, on the
// same Debian kernel, initramfs and command (the default guest). Absolute times on shared
// machines are noise; the ratio is the figure that matters. Options: --cpus N,
// --runs N (default 1), --command "sh command", --only boot|workload|idle|net.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { findDefaultGuest } from '../src/guest/cache.ts';
import { buildRunCmdline, RunStatusFilter } from '../src/cli/run-protocol.ts';
import { Machine } from '../src/vmm/machine.ts';
import { SerialPort } from '../src/devices/serial-backend.ts';
import { EmuAccelerator } from '../src/accel/emu/accelerator.ts';
import type { EmuVcpu } from '../src/accel/emu/vcpu.ts';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const cpus = Number(arg('cpus', '1'));
const runs = Number(arg('runs', '1'));
const BOOT_ONLY = 'true';
const WORKLOAD = "seq 1 20000 | sha256sum; awk 'BEGIN { s = 0; for (i = 1; i <= 200000; i++) s += i * 1.5; print s }'; seq 1 20000 | gzip -c | gunzip -c | wc -l; seq 1 5000 | sort -r | head -1";
const only = arg('only', '');

const guest = findDefaultGuest();
if (!guest) {
  console.error('bench: no default guest; run `nodevisor guest build` first');
  process.exit(3);
}

// `--only net`: guest<->host TCP throughput over the user network instead (bench/net.ts).
if (only === 'net') {
  const { benchNet } = await import('./net.ts');
  await benchNet(guest, cpus);
  process.exit(0);
}

interface Sample { seconds: number; output: string; instructions?: number; cpuSeconds?: number; idleCpuPercent?: number }

/** Host CPU used between the run markers, as a percentage of one core (for the idle case). */
class MarkerClock {
  private startWall = 0;
  private startCpu = 0;
  percent: number | undefined;
  constructor(private readonly cpuSeconds: () => number) {}
  observe(filter: RunStatusFilter, wasStarted: boolean): void {
    if (!wasStarted && filter.commandStarted) {
      this.startWall = performance.now();
      this.startCpu = this.cpuSeconds();
    } else if (this.percent === undefined && filter.status !== undefined && this.startWall > 0) {
      const wall = (performance.now() - this.startWall) / 1000;
      this.percent = (100 * (this.cpuSeconds() - this.startCpu)) / wall;
    }
  }
}

function procCpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

async function nodevisor(command: string): Promise<Sample> {
  const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', command] }, 'console=ttyAMA0');
  const filter = new RunStatusFilter(nonce);
  const port = new SerialPort();
  let output = '';
  const clock = new MarkerClock(() => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; });
  port.onOutput((b) => {
    const was = filter.commandStarted;
    output += Buffer.from(filter.push(b)).toString('latin1');
    clock.observe(filter, was);
  });
  const accelerator = new EmuAccelerator();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const machine = await Machine.create({ kernel: guest!.kernel, initrd: guest!.initrd, cmdline, memoryBytes: 512 << 20, cpus, accel: 'emu', accelerator, console: port });
  const vcpus = machine.vcpus as EmuVcpu[];
  const exit = await machine.run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (exit.reason !== 'poweroff') throw new Error(`nodevisor run ended with ${exit.reason}: ${exit.error?.message}`);
  return { seconds, output, instructions: vcpus.reduce((n, v) => n + v.instructionsRetired, 0), cpuSeconds: (cpu.user + cpu.system) / 1e6, idleCpuPercent: clock.percent };
}

function qemu(command: string): Promise<Sample> {
  const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', command] }, 'console=ttyAMA0');
  const filter = new RunStatusFilter(nonce);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('qemu-system-aarch64', ['-M', 'virt', '-cpu', 'cortex-a72', '-smp', String(cpus), '-m', '512', '-nographic', '-nic', 'none', '-no-reboot',
      '-kernel', guest!.kernel, '-initrd', guest!.initrd, '-append', cmdline], { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    const clock = new MarkerClock(() => procCpuSeconds(p.pid ?? 0));
    p.stdout.on('data', (d: Buffer) => {
      const was = filter.commandStarted;
      output += Buffer.from(filter.push(d)).toString('latin1');
      clock.observe(filter, was);
    });
    p.on('error', reject);
    p.on('exit', () => resolve({ seconds: (performance.now() - t0) / 1000, output, idleCpuPercent: clock.percent }));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log(`bench: Debian ${guest.manifest.kernelRelease} on ${cpus} vCPU(s), ${runs} run(s) each; nodevisor emu vs qemu-system-aarch64 TCG (cortex-a72)`);
// The guest clock is the host's, so on a loaded host the guest sees more timer ticks per unit
// of work and retires more instructions: the instruction count and host CPU time are shown too.
const rows: string[][] = [['case', 'nodevisor s', 'qemu s', 'ratio', 'guest instr/s (nodevisor)', 'guest instr (M)', 'host CPU s (nodevisor)', 'idle host CPU % (nodevisor / qemu)']];
for (const [key, name, command] of [['boot', 'boot + poweroff', BOOT_ONLY], ['workload', 'boot + workload', WORKLOAD], ['idle', 'idle (sleep 5)', 'sleep 5']] as const) {
  if (only && key !== only) continue;
  const ours: Sample[] = [];
  const theirs: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    ours.push(await nodevisor(command));
    theirs.push(await qemu(command));
  }
  if (ours[0].output !== theirs[0].output) console.log(`  warning: outputs differ for ${name}:\n  nodevisor: ${JSON.stringify(ours[0].output)}\n  qemu: ${JSON.stringify(theirs[0].output)}`);
  const a = median(ours.map((s) => s.seconds));
  const b = median(theirs.map((s) => s.seconds));
  const ips = median(ours.map((s) => (s.instructions ?? 0) / s.seconds));
  const idle = name.startsWith('idle') ? `${median(ours.map((x) => x.idleCpuPercent ?? NaN)).toFixed(1)} / ${median(theirs.map((x) => x.idleCpuPercent ?? NaN)).toFixed(1)}` : '';
  const instr = median(ours.map((s) => s.instructions ?? 0));
  const cpuS = median(ours.map((s) => s.cpuSeconds ?? 0));
  rows.push([name, a.toFixed(2), b.toFixed(2), (a / b).toFixed(1), `${(ips / 1e6).toFixed(1)} M`, (instr / 1e6).toFixed(0), cpuS.toFixed(1), idle]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i])).join('  '));
