// One guest run of a `nodevisor run`-style command, on nodevisor's software CPU or on
// qemu-system-aarch64 TCG, with the same kernel, initramfs and command line. The command's
// output (between the run protocol's markers) and timings come back for the bench tables.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { buildRunCmdline, RunStatusFilter } from '../src/cli/run-protocol.ts';
import { Machine, type MachineOptions } from '../src/vmm/machine.ts';
import { SerialPort } from '../src/devices/serial-backend.ts';
import { EmuAccelerator } from '../src/accel/emu/accelerator.ts';
import type { EmuVcpu } from '../src/accel/emu/vcpu.ts';

export interface Guest { kernel: string; initrd: string }

export interface Sample { seconds: number; output: string; status?: number; instructions?: number; cpuSeconds?: number; idleCpuPercent?: number }

export interface RunOptions {
  /** Kernel command line before the run parameters (default 'console=ttyAMA0'). */
  append?: string;
  memoryMiB?: number;
  /** Devices for nodevisor (disks, shares, net). */
  devices?: Pick<MachineOptions, 'disks' | 'shares' | 'net'>;
  /** QEMU arguments that attach the same devices; replace the default `-nic none` when they bring a NIC. */
  qemuArgs?: string[];
  qemuHasNic?: boolean;
  /** Software CPU with the WebAssembly translation tier on (default: on unless NODEVISOR_TRANSLATE=0). */
  translate?: boolean;
  /** Kill QEMU after this long (a device backend that dies can leave it waiting forever). */
  qemuTimeoutSeconds?: number;
}

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

export async function runNodevisor(guest: Guest, cpus: number, command: string, opts: RunOptions = {}): Promise<Sample> {
  const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', command] }, opts.append ?? 'console=ttyAMA0');
  const filter = new RunStatusFilter(nonce);
  const port = new SerialPort();
  let output = '';
  const clock = new MarkerClock(() => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; });
  port.onOutput((b) => {
    const was = filter.commandStarted;
    output += Buffer.from(filter.push(b)).toString('latin1');
    clock.observe(filter, was);
  });
  const accelerator = new EmuAccelerator(opts.translate !== undefined ? { translate: opts.translate } : {});
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const machine = await Machine.create({
    kernel: guest.kernel, initrd: guest.initrd, cmdline, memoryBytes: (opts.memoryMiB ?? 512) << 20, cpus, accel: 'emu', accelerator, console: port, ...opts.devices,
  });
  const vcpus = machine.vcpus as EmuVcpu[];
  const exit = await machine.run();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  if (exit.reason !== 'poweroff') throw new Error(`nodevisor run ended with ${exit.reason}: ${exit.error?.message}`);
  return {
    seconds, output, status: filter.status, instructions: vcpus.reduce((n, v) => n + v.instructionsRetired, 0), cpuSeconds: (cpu.user + cpu.system) / 1e6, idleCpuPercent: clock.percent,
  };
}

export function runQemu(guest: Guest, cpus: number, command: string, opts: RunOptions = {}): Promise<Sample> {
  const { cmdline, nonce } = buildRunCmdline({ argv: ['sh', '-c', command] }, opts.append ?? 'console=ttyAMA0');
  const filter = new RunStatusFilter(nonce);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn('qemu-system-aarch64', ['-M', 'virt', '-cpu', 'cortex-a72', '-smp', String(cpus), '-m', String(opts.memoryMiB ?? 512), '-nographic',
      ...(opts.qemuHasNic ? [] : ['-nic', 'none']), '-no-reboot', '-kernel', guest.kernel, '-initrd', guest.initrd, '-append', cmdline, ...(opts.qemuArgs ?? [])],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    const clock = new MarkerClock(() => procCpuSeconds(p.pid ?? 0));
    p.stdout.on('data', (d: Buffer) => {
      const was = filter.commandStarted;
      output += Buffer.from(filter.push(d)).toString('latin1');
      clock.observe(filter, was);
    });
    const timer = opts.qemuTimeoutSeconds ? setTimeout(() => p.kill(), opts.qemuTimeoutSeconds * 1000) : undefined;
    p.on('error', reject);
    p.on('exit', () => clearTimeout(timer));
    p.on('exit', () => resolve({ seconds: (performance.now() - t0) / 1000, output, status: filter.status, idleCpuPercent: clock.percent }));
  });
}
