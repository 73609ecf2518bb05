// The build recipe: one function per part (RAM, bus, interrupt controller, legacy devices,
// virtio devices, device tree and kernel, vCPUs), then a Machine that runs the vCPU loops
// until the guest powers off or resets. Everything the guest sees comes from
// arch/arm64/layout.ts; devices see offsets only.
import type { Accelerator, Vcpu, Vm } from '../accel/types.ts';
import { MemoryFlags } from '../accel/types.ts';
import { selectAccelerator, type AccelChoice } from '../accel/select.ts';
import {
  BOOT_TIMER_BASE, BOOT_TIMER_SIZE, GIC_DIST_BASE, GIC_DIST_SIZE, GIC_REDIST_BASE, GIC_REDIST_SIZE_PER_CPU,
  MAX_VCPUS, PL011_BASE, PL011_SIZE, PL011_SPI, PL031_BASE, PL031_SIZE, PL031_SPI, RAM_BASE, RAM_MIN_SIZE,
  HOST_PAGE_SIZE, spi,
} from '../arch/arm64/layout.ts';
import { generateFdt, type VirtioMmioDevice } from '../arch/arm64/fdt.ts';
import { MmioBus } from '../bus/mmio-bus.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { ramRegion } from '../memory/ram.ts';
import { GicV3 } from '../devices/gic/gicv3.ts';
import { Pl011 } from '../devices/legacy/pl011.ts';
import { Pl031 } from '../devices/legacy/pl031.ts';
import { BootTimer, type BootTimeReport } from '../devices/legacy/boot-timer.ts';
import { SerialPort } from '../devices/serial-backend.ts';
import { spiLine } from '../devices/interrupt.ts';
import { prepareLinuxBoot, loadLinux } from '../boot/loader.ts';
import { applyVcpuBootState, secondaryVcpuState } from '../boot/vcpu-state.ts';
import { VcpuRunner, type CpuInterruptController, type VcpuHost } from './vcpu-runner.ts';
import { InKernelGicSink } from '../devices/gic/in-kernel.ts';
import type { SpiSink } from '../devices/interrupt.ts';
import { PsciDispatcher } from './psci-dispatch.ts';
import { attachVirtioDevices, type AttachedVirtio, type VirtioConfig } from './virtio-devices.ts';
import { VirtioConsole } from '../devices/virtio/console/device.ts';
import type { ConsolePorts } from '../devices/virtio/console/port.ts';

export class MachineConfigError extends Error {
  override readonly name = 'MachineConfigError';
}

export interface MachineLogger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

export const silentMachineLogger: MachineLogger = { error() {}, warn() {}, info() {}, debug() {} };

export interface MachineOptions extends VirtioConfig {
  kernel: string | Uint8Array;
  initrd?: string | Uint8Array;
  cmdline: string;
  memoryBytes: number;
  cpus: number;
  accel: AccelChoice;
  noReboot?: boolean;
  logger?: MachineLogger;
  /** The PL011's host port; a fresh one when omitted. */
  console?: SerialPort;
  /** Use this accelerator instead of selecting one (tests, embedders). */
  accelerator?: Accelerator;
  /** Receives the one-line notice when `auto` falls back to the software CPU. */
  notice?: (message: string) => void;
  onBootTime?: (report: BootTimeReport) => void;
  /** Use HVF's in-kernel GICv3 where the backend has one (default true). */
  inKernelGic?: boolean;
  /** Fixed entropy for the device tree's seeds (reproducible DTBs). */
  entropy?: (bytes: number) => Uint8Array;
}

export type MachineExitReason = 'poweroff' | 'reset' | 'stopped' | 'error';

export interface MachineExit {
  reason: MachineExitReason;
  error?: Error;
}

export function validateMachineOptions(o: Pick<MachineOptions, 'memoryBytes' | 'cpus'>): void {
  if (!Number.isInteger(o.cpus) || o.cpus < 1 || o.cpus > MAX_VCPUS) {
    throw new MachineConfigError(`--cpus must be between 1 and ${MAX_VCPUS}, got ${o.cpus}`);
  }
  if (!Number.isSafeInteger(o.memoryBytes) || o.memoryBytes < RAM_MIN_SIZE) {
    throw new MachineConfigError(`memory must be at least ${RAM_MIN_SIZE / 1024 / 1024} MiB`);
  }
  if (o.memoryBytes % HOST_PAGE_SIZE !== 0) {
    throw new MachineConfigError(`memory size must be a multiple of ${HOST_PAGE_SIZE / 1024} KiB`);
  }
}

/** The interrupt controller in use: the userspace GICv3, or HVF's in-kernel one. */
export interface InterruptWiring {
  /** Where device lines go. */
  sink: SpiSink;
  /** What the vCPU loops ask before each run and route ICC traps to. */
  cpu: CpuInterruptController;
  /** Present when the GIC is emulated here (MMIO frames on the bus, ICC traps). */
  userspace?: GicV3;
}

interface Devices {
  bus: MmioBus;
  interrupts: InterruptWiring;
  pl011: Pl011;
  pl031: Pl031;
  bootTimer: BootTimer;
  virtio: AttachedVirtio;
}

function attachLegacyDevices(bus: MmioBus, gic: SpiSink, port: SerialPort, opts: MachineOptions, log: MachineLogger) {
  const pl011 = new Pl011({ port, irq: spiLine(gic, spi(PL011_SPI)), logger: log });
  bus.insert(pl011, PL011_BASE, PL011_SIZE);
  const pl031 = new Pl031({ irq: spiLine(gic, spi(PL031_SPI)), logger: log });
  bus.insert(pl031, PL031_BASE, PL031_SIZE);
  const bootTimer = new BootTimer({
    onBoot: (r) => {
      log.info(`guest reported boot complete after ${r.elapsedMs.toFixed(1)} ms`);
      opts.onBootTime?.(r);
    },
    logger: log,
  });
  bus.insert(bootTimer, BOOT_TIMER_BASE, BOOT_TIMER_SIZE);
  return { pl011, pl031, bootTimer };
}

/** HVF's in-kernel GIC absorbs ICC traps, the vtimer PPI and WFI wake-ups: the loops have nothing to do. */
const IN_KERNEL_CPU_INTERFACE: CpuInterruptController = {
  irqPending: () => false,
  setPpi: () => undefined,
  readSysReg: () => undefined,
  writeSysReg: () => false,
};

function attachInterruptController(bus: MmioBus, vm: Vm, cpus: number, log: MachineLogger): InterruptWiring {
  if (vm.gic) return { sink: new InKernelGicSink(vm.gic), cpu: IN_KERNEL_CPU_INTERFACE };
  const gic = new GicV3({ vcpuCount: cpus, logger: log });
  bus.insert(gic.distributor, GIC_DIST_BASE, GIC_DIST_SIZE);
  bus.insert(gic.redistributors, GIC_REDIST_BASE, cpus * GIC_REDIST_SIZE_PER_CPU);
  const cpu: CpuInterruptController = {
    irqPending: (c) => gic.irqPending(c),
    fiqPending: (c) => gic.fiqPending(c),
    setPpi: (c, intid, level) => gic.setPpi(c, intid, level),
    readSysReg: (c, id) => gic.cpuInterface(c).readSysReg(id),
    writeSysReg: (c, id, value) => gic.cpuInterface(c).writeSysReg(id, value),
  };
  return { sink: gic, cpu, userspace: gic };
}

/** Lay out devices without a VM: used for the DTB alone and by the full build. */
function describeVirtio(opts: VirtioConfig): VirtioMmioDevice[] {
  return attachVirtioDevices.describe(opts);
}

export function buildDeviceTreeFor(opts: MachineOptions, initrd?: { start: number; end: number }, cmdline = opts.cmdline): Uint8Array {
  validateMachineOptions(opts);
  return generateFdt({
    cpus: opts.cpus,
    memory: { base: RAM_BASE, size: opts.memoryBytes },
    cmdline,
    initrd,
    devices: describeVirtio(opts),
    entropy: opts.entropy,
  });
}

/** The DTB a boot with these options would use (`nodevisor dtb`). */
export async function buildDeviceTree(opts: MachineOptions): Promise<Uint8Array> {
  const boot = prepareLinuxBoot({ ram: { base: RAM_BASE, size: opts.memoryBytes }, kernel: opts.kernel, initrd: opts.initrd, cmdline: opts.cmdline });
  return buildDeviceTreeFor(opts, boot.plan.initrd, boot.cmdline);
}

/** The smallest IPA width above the default that holds RAM (HVF: macOS 13+ beyond 36 bits). */
function ipaBitsFor(ramEnd: number, caps: { defaultIpaBits: number; maxIpaBits: number }): { ipaBits?: number } {
  if (ramEnd <= 2 ** caps.defaultIpaBits) return {};
  const bits = Math.ceil(Math.log2(ramEnd));
  if (bits > caps.maxIpaBits) throw new MachineConfigError(`--memory too large: RAM would end at 0x${ramEnd.toString(16)}, beyond this host's ${caps.maxIpaBits}-bit guest address space`);
  return { ipaBits: bits };
}

export class Machine {
  private runners: VcpuRunner[] = [];
  private exitResolve!: (e: MachineExit) => void;
  private readonly exited: Promise<MachineExit>;
  private finished = false;
  private pausedAt: bigint | undefined;

  private constructor(
    readonly accelerator: Accelerator,
    private readonly vm: Vm,
    readonly memory: GuestMemory,
    readonly devices: Devices,
    readonly console: SerialPort,
    private readonly log: MachineLogger,
  ) {
    this.exited = new Promise((r) => (this.exitResolve = r));
  }

  static async create(opts: MachineOptions): Promise<Machine> {
    validateMachineOptions(opts);
    const log = opts.logger ?? silentMachineLogger;
    // Validate the boot inputs before anything heavy is allocated.
    const boot = prepareLinuxBoot({ ram: { base: RAM_BASE, size: opts.memoryBytes }, kernel: opts.kernel, initrd: opts.initrd, cmdline: opts.cmdline });
    const accelerator = opts.accelerator ?? await selectAccelerator(opts.accel, { notice: opts.notice });
    // The same device tree describes either GIC; HVF's needs its bases before any vCPU exists.
    const caps = accelerator.capabilities();
    const vm = accelerator.createVm({
      ...ipaBitsFor(RAM_BASE + opts.memoryBytes, caps),
      ...(caps.inKernelGic && opts.inKernelGic !== false ? { inKernelGic: { distributorBase: GIC_DIST_BASE, redistributorBase: GIC_REDIST_BASE } } : {}),
    });
    try {
      const ram = ramRegion(RAM_BASE, opts.memoryBytes);
      vm.map(ram.bytes, RAM_BASE, MemoryFlags.RWX);
      const memory = new GuestMemory([ram]);
      const bus = new MmioBus();
      const interrupts = attachInterruptController(bus, vm, opts.cpus, log);
      const port = opts.console ?? new SerialPort();
      const legacy = attachLegacyDevices(bus, interrupts.sink, port, opts, log);
      const virtio = await attachVirtioDevices(bus, memory, interrupts.sink, opts, log);
      const dtb = buildDeviceTreeFor(opts, boot.plan.initrd, boot.cmdline);
      const bootState = loadLinux(memory, boot, dtb);
      const machine = new Machine(accelerator, vm, memory, { bus, interrupts, ...legacy, virtio }, port, log);
      await machine.createVcpus(opts.cpus, bootState);
      return machine;
    } catch (e) {
      await vm.destroy().catch(() => undefined);
      throw e;
    }
  }

  private async createVcpus(count: number, bootState: ReturnType<typeof loadLinux>): Promise<void> {
    const ramEnd = BigInt(RAM_BASE + this.memory.regionList[0].bytes.length);
    const psci = new PsciDispatcher(count, (pa) => pa >= BigInt(RAM_BASE) && pa < ramEnd && pa % 4n === 0n);
    const host: VcpuHost = {
      bus: this.devices.bus,
      gic: this.devices.interrupts.cpu,
      psciCall: (cpu, args) => psci.call(cpu, args),
      powerOn: (target, entry, context) => {
        this.runners[target]?.powerOn(entry, context);
        psci.running(target);
      },
      shutdown: (kind) => this.finish({ reason: kind === 'poweroff' ? 'poweroff' : 'reset' }),
      counterNow: () => (process.hrtime.bigint() * 3n) / 125n, // ns -> 24 MHz ticks
      counterHz: 24_000_000,
      log: this.log,
    };
    for (let i = 0; i < count; i++) {
      const vcpu = await this.vm.createVcpu();
      if (i === 0) applyVcpuBootState(vcpu, bootState);
      else applyVcpuBootState(vcpu, secondaryVcpuState(i, 0n, 0n)); // parked until PSCI CPU_ON
      this.runners.push(new VcpuRunner(i, vcpu, host, i === 0));
    }
    const userspaceGic = this.devices.interrupts.userspace;
    if (userspaceGic) userspaceGic.onPendingChange = (cpu) => this.runners[cpu]?.interruptStateChanged();
  }

  /** Run every vCPU until the guest powers off or resets, or stop() is called. */
  async run(): Promise<MachineExit> {
    this.devices.bootTimer.markStart();
    for (const r of this.runners) {
      r.start().catch((e: Error) => {
        this.log.error(`vcpu${r.index} stopped: ${e.message}`);
        this.finish({ reason: 'error', error: e });
      });
    }
    const exit = await this.exited;
    await Promise.all(this.runners.map((r) => r.stop()));
    this.console.flush();
    await this.vm.destroy();
    await this.devices.virtio.close();
    return exit;
  }

  private finish(exit: MachineExit): void {
    if (this.finished) return;
    this.finished = true;
    this.exitResolve(exit);
  }

  stop(): void {
    this.finish({ reason: 'stopped' });
  }

  /** Pause all vCPUs; the guest's virtual counter does not advance while paused. */
  pause(): void {
    if (this.pausedAt !== undefined) return;
    this.pausedAt = process.hrtime.bigint();
    for (const r of this.runners) r.pause();
  }

  resume(): void {
    if (this.pausedAt === undefined) return;
    const pausedTicks = ((process.hrtime.bigint() - this.pausedAt) * 3n) / 125n;
    this.pausedAt = undefined;
    for (const r of this.runners) {
      r.setVtimerOffset(r.currentVtimerOffset + pausedTicks);
      r.resume();
    }
  }

  /** Host ends of the virtio-console ports (hvc0 and the named ones). */
  get consolePorts(): ConsolePorts | undefined {
    const dev = this.devices.virtio.devices.find((d) => d.device instanceof VirtioConsole)?.device;
    return dev instanceof VirtioConsole ? dev.ports : undefined;
  }

  get vcpus(): Vcpu[] {
    return this.runners.map((r) => r.vcpu);
  }

  get vcpuStates(): string[] {
    return this.runners.map((r) => r.state);
  }

  get exitCount(): number {
    return this.runners.reduce((n, r) => n + r.exits, 0);
  }
}

/** Boot, run until power-off; a guest reset rebuilds the machine unless noReboot is set. */
export async function runMachine(opts: MachineOptions): Promise<MachineExit> {
  for (;;) {
    const machine = await Machine.create(opts);
    const exit = await machine.run();
    if (exit.reason !== 'reset' || opts.noReboot) return exit;
    (opts.logger ?? silentMachineLogger).info('guest requested a reset: rebooting');
  }
}
