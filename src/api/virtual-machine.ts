// The embedding API: `new VirtualMachine(config)`, start/pause/resume/stop, the guest
// console as a Duplex stream, and events. In process, or in a child process that hosts the
// VMM (HVF allows one VM per process, and a crash stays out of the host application);
// both modes behave the same to the caller.
//
//   const vm = new VirtualMachine({ memory: '512M', cpus: 2, mode: 'child-process' });
//   vm.console.pipe(process.stdout);
//   vm.on('exit', (e) => console.error('guest exited:', e.reason));
//   await vm.start();
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import type { AccelChoice } from '../accel/select.ts';
import { parseSize } from '../config/size.ts';
import { findDefaultGuest } from '../guest/cache.ts';
import { SerialPort } from '../devices/serial-backend.ts';
import type { BootTimeReport } from '../devices/legacy/boot-timer.ts';
import { Machine, type MachineExit, type MachineLogger, type MachineOptions } from '../vmm/machine.ts';
import type { DiskConfig, ShareConfig, VsockConfig } from '../vmm/virtio-devices.ts';
import { ConsolePorts, type ConsolePort } from '../devices/virtio/console/port.ts';
import type { HostToVmm, VmmChannel, VmmToHost, VmState } from './protocol.ts';
import { vmmNodeOptions } from '../host/v8-pool.ts';

export class VirtualMachineError extends Error {
  override readonly name = 'VirtualMachineError';
}

export interface VirtualMachineConfig {
  /** Kernel Image path; the default guest when omitted (`nodevisor guest build`). */
  kernel?: string;
  initrd?: string;
  /** Kernel command line; default "console=ttyAMA0". */
  cmdline?: string;
  /** Bytes, or a size such as "512M" or "2G"; default 512M. */
  memory?: number | string;
  cpus?: number;
  accel?: AccelChoice;
  disks?: DiskConfig[];
  shares?: ShareConfig[];
  vsock?: VsockConfig[];
  net?: string[];
  /** Named virtio-console ports (guest: /dev/vport0pN, name in /sys/class/virtio-ports); host ends via vm.port(name). */
  consolePorts?: string[];
  /** A guest reset ends the VM instead of rebooting it. */
  noReboot?: boolean;
  /** Where the VMM runs; default 'in-process'. */
  mode?: 'in-process' | 'child-process';
}

export interface VirtualMachineOptions {
  /** Diagnostics from the VMM (in-process mode); silent by default. */
  logger?: MachineLogger;
  /** Child-process mode: supply the channel yourself, e.g. around Electron's utilityProcess.fork(vmmEntryPath()). */
  channel?: () => VmmChannel;
}

export interface VirtualMachineEvents {
  exit: [MachineExit];
  reset: [];
  error: [Error];
  boot: [BootTimeReport];
  state: [VmState];
  notice: [string];
}

export const DEFAULT_CMDLINE = 'console=ttyAMA0';
export const DEFAULT_MEMORY = '512M';

/** Resolve defaults the same way in every mode. */
export function resolveMachineOptions(config: VirtualMachineConfig): Omit<MachineOptions, 'console' | 'logger'> {
  let kernel = config.kernel;
  let initrd = config.initrd;
  if (!kernel) {
    const guest = findDefaultGuest();
    if (!guest) throw new VirtualMachineError('no kernel given and no default guest built: run `nodevisor guest build`');
    kernel = guest.kernel;
    initrd ??= guest.initrd;
  }
  return {
    kernel,
    initrd,
    cmdline: config.cmdline ?? DEFAULT_CMDLINE,
    memoryBytes: parseSize(config.memory ?? DEFAULT_MEMORY, 'memory'),
    cpus: config.cpus ?? 1,
    accel: config.accel ?? 'auto',
    disks: config.disks ?? [],
    shares: config.shares ?? [],
    vsock: config.vsock ?? [],
    net: config.net ?? [],
    consolePorts: config.consolePorts ?? [],
    noReboot: config.noReboot ?? false,
  };
}

/** Path of the script a child process (or Electron utilityProcess) runs to host the VMM. */
export function vmmEntryPath(): string {
  const ts = fileURLToPath(new URL('./vmm-process.ts', import.meta.url));
  const js = ts.replace(/\.ts$/, '.js');
  return existsSync(js) ? js : ts;
}

function forkChannel(): VmmChannel {
  const entry = vmmEntryPath();
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const execArgv = [...loader, ...vmmNodeOptions({ execArgv: loader })];
  const child = fork(entry, [], { execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'], serialization: 'json' });
  return {
    send: (m) => { if (child.connected) child.send(m); },
    onMessage: (l) => child.on('message', (m) => l(m as VmmToHost)),
    onExit: (l) => child.on('exit', (code) => l(code)),
    kill: () => child.kill('SIGKILL'),
  };
}

export class VirtualMachine extends EventEmitter<VirtualMachineEvents> {
  /** The guest console (PL011): write to type, read what the guest prints. */
  readonly console: Duplex;
  /** Host ends of the virtio-console ports; they outlive guest resets. */
  private readonly ports: ConsolePorts;
  private state: VmState = 'created';
  private backend: InProcessBackend | ChildBackend | undefined;
  private exitInfo: MachineExit | undefined;
  private readonly exited: Promise<MachineExit>;
  private resolveExit!: (e: MachineExit) => void;

  constructor(readonly config: VirtualMachineConfig = {}, private readonly options: VirtualMachineOptions = {}) {
    super();
    this.exited = new Promise((r) => (this.resolveExit = r));
    this.ports = new ConsolePorts(config.consolePorts ?? []);
    this.console = new Duplex({
      read: () => undefined,
      write: (chunk: Buffer, _enc, done) => {
        if (!this.backend) return done(new VirtualMachineError('the VM is not started'));
        this.backend.consoleIn(chunk, done);
      },
    });
  }

  /** The host end of a virtio-console port: 'hvc0' (port 0) or a name from consolePorts. */
  port(name: string): Duplex {
    const p = this.ports.get(name);
    if (!p) throw new VirtualMachineError(`no console port '${name}' (configured: hvc0${this.ports.names.map((n) => `, ${n}`).join('')})`);
    return p;
  }

  get currentState(): VmState {
    return this.state;
  }

  private setState(s: VmState): void {
    this.state = s;
    this.emit('state', s);
  }

  /** Boot the guest. Resolves once the vCPUs are running; rejects on bad configuration. */
  async start(): Promise<void> {
    if (this.state !== 'created') throw new VirtualMachineError(`cannot start a VM that is ${this.state}`);
    this.setState('starting');
    const sink = {
      output: (b: Uint8Array) => this.console.push(Buffer.from(b)),
      boot: (r: BootTimeReport) => this.emit('boot', r),
      reset: () => this.emit('reset'),
      notice: (m: string) => this.emit('notice', m),
      exit: (e: MachineExit) => this.finish(e),
    };
    try {
      if ((this.config.mode ?? 'in-process') === 'child-process') {
        this.backend = new ChildBackend((this.options.channel ?? forkChannel)(), sink, this.ports);
        await this.backend.start(this.config);
      } else {
        this.backend = new InProcessBackend(sink, this.ports, this.options.logger);
        await this.backend.start(this.config);
      }
    } catch (e) {
      this.setState('stopped');
      throw e;
    }
    this.setState('running');
  }

  async pause(): Promise<void> {
    if (this.state !== 'running') throw new VirtualMachineError(`cannot pause a VM that is ${this.state}`);
    this.backend!.pause();
    this.setState('paused');
  }

  async resume(): Promise<void> {
    if (this.state !== 'paused') throw new VirtualMachineError(`cannot resume a VM that is ${this.state}`);
    this.backend!.resume();
    this.setState('running');
  }

  /** Stop the VM (like pulling the plug) and wait for it to end. */
  async stop(): Promise<MachineExit> {
    if (this.exitInfo) return this.exitInfo;
    if (!this.backend) throw new VirtualMachineError('the VM is not started');
    this.backend.stop();
    return this.exited;
  }

  /** Resolves when the guest powers off, the VM is stopped, or it fails. */
  waitForExit(): Promise<MachineExit> {
    return this.exited;
  }

  private finish(e: MachineExit): void {
    if (this.exitInfo) return;
    this.exitInfo = e;
    this.setState('stopped');
    this.console.push(null);
    if (e.reason === 'error' && e.error && this.listenerCount('error') > 0) this.emit('error', e.error);
    this.emit('exit', e);
    this.resolveExit(e);
  }
}

interface BackendSink {
  output(bytes: Uint8Array): void;
  boot(r: BootTimeReport): void;
  reset(): void;
  notice(m: string): void;
  exit(e: MachineExit): void;
}

/** Runs the machine on this thread's event loop; reboots on guest reset unless noReboot. */
class InProcessBackend {
  private machine: Machine | undefined;
  private readonly port = new SerialPort();
  private stopped = false;

  constructor(private readonly sink: BackendSink, private readonly ports: ConsolePorts, private readonly logger?: MachineLogger) {
    this.port.onOutput((b) => sink.output(b));
  }

  async start(config: VirtualMachineConfig): Promise<void> {
    const opts: MachineOptions = {
      ...resolveMachineOptions(config),
      consoleHost: this.ports,
      console: this.port,
      logger: this.logger,
      notice: (m) => this.sink.notice(m),
      onBootTime: (r) => this.sink.boot(r),
    };
    this.machine = await Machine.create(opts);
    void this.loop(opts, this.machine);
  }

  private async loop(opts: MachineOptions, first: Machine): Promise<void> {
    let machine = first;
    try {
      for (;;) {
        const exit = await machine.run();
        if (exit.reason !== 'reset' || opts.noReboot || this.stopped) return this.sink.exit(exit);
        this.sink.reset();
        machine = this.machine = await Machine.create(opts);
      }
    } catch (e) {
      this.sink.exit({ reason: 'error', error: e as Error });
    }
  }

  consoleIn(chunk: Uint8Array, done: (e?: Error) => void): void {
    let off = this.port.sendInput(chunk);
    if (off === chunk.length) return done();
    const off2 = this.port.onDrain(() => {
      off += this.port.sendInput(chunk.subarray(off));
      if (off >= chunk.length) {
        off2();
        done();
      }
    });
  }

  pause(): void { this.machine?.pause(); }
  resume(): void { this.machine?.resume(); }
  stop(): void {
    this.stopped = true;
    this.machine?.stop();
  }
}

/** Talks to a VMM process over a channel; see vmm-process.ts for the other end. */
class ChildBackend {
  private startWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly channel: VmmChannel, private readonly sink: BackendSink, private readonly ports: ConsolePorts) {
    channel.onMessage((m) => this.onMessage(m));
    // The port objects here stand in for the device: host writes travel to the VMM process.
    for (const p of ports.list) p.onHostData = () => this.portIn(p);
    channel.onExit((code) => {
      const err = new VirtualMachineError(`the VMM process exited unexpectedly (code ${code})`);
      this.startWaiter?.reject(err);
      this.sink.exit({ reason: 'error', error: err });
    });
  }

  start(config: VirtualMachineConfig): Promise<void> {
    return new Promise((resolve, reject) => {
      this.startWaiter = { resolve, reject };
      this.send({ type: 'start', config: { ...config, mode: 'in-process' } });
    });
  }

  private send(m: HostToVmm): void {
    this.channel.send(m);
  }

  private onMessage(m: VmmToHost): void {
    switch (m.type) {
      case 'started':
        this.startWaiter?.resolve();
        this.startWaiter = undefined;
        return;
      case 'console-out':
        this.sink.output(Buffer.from(m.data, 'base64'));
        return;
      case 'port-out':
        this.ports.get(m.name)?.fromGuestData(Buffer.from(m.data, 'base64'));
        return;
      case 'boot':
        this.sink.boot(m.report);
        return;
      case 'reset':
        this.sink.reset();
        return;
      case 'notice':
        this.sink.notice(m.message);
        return;
      case 'state':
        return;
      case 'exit': {
        const error = m.error ? new VirtualMachineError(m.error) : undefined;
        if (this.startWaiter && error) {
          this.startWaiter.reject(error);
          this.startWaiter = undefined;
        }
        this.sink.exit({ reason: m.reason as MachineExit['reason'], error });
        this.channel.kill();
        return;
      }
    }
  }

  consoleIn(chunk: Uint8Array, done: (e?: Error) => void): void {
    this.send({ type: 'console-in', data: Buffer.from(chunk).toString('base64') });
    done();
  }

  private portIn(p: ConsolePort): void {
    for (let b = p.takeToGuest(64 * 1024); b; b = p.takeToGuest(64 * 1024)) this.send({ type: 'port-in', name: p.portName, data: b.toString('base64') });
  }

  pause(): void { this.send({ type: 'pause' }); }
  resume(): void { this.send({ type: 'resume' }); }
  stop(): void { this.send({ type: 'stop' }); }
}
