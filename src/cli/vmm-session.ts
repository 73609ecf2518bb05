// One guest run for `boot` and `run`: builds the VMM's options, connects the terminal to
// the PL011's host port (with backpressure: input the port refuses waits for its drain),
// runs the machine (again after a guest reset unless --no-reboot) and reports how it ended.
// The VMM is imported lazily so argument errors never depend on it.
import type { SerialPort } from '../devices/serial-backend.ts';
import type { ConsolePorts } from '../devices/virtio/console/port.ts';
import type { ConsolePortSocket } from '../devices/virtio/console/socket-server.ts';
import type { RootLogger } from '../log.ts';
import type { MachineOptions } from '../vmm/machine.ts';
import { attachConsole, type AttachedConsole, type ConsoleOptions } from './console.ts';
import type { ResolvedMachine } from './machine-flags.ts';

export type SessionEnd = { reason: 'poweroff' | 'reset' | 'stopped' } | { reason: 'error'; error: Error };

export interface SessionOptions {
  machine: ResolvedMachine;
  cmdline: string;
  logger: RootLogger;
  notice: (message: string) => void;
  /** Rewrites guest console output before the terminal sees it (the `run` filter). */
  filterOutput?: (bytes: Uint8Array) => Uint8Array;
  /** Bytes to send to the guest when stdin reaches EOF (not a TTY). */
  onStdinEof?: () => Uint8Array | undefined;
  /** Called when guest output should end the session early (e.g. `run` saw the exit line). */
  shouldStop?: () => boolean;
  /** For tests: replaces the VMM (default: src/vmm/machine.ts, loaded on first use). */
  vmm?: SessionVmm;
  /** For tests: the terminal (default: process.stdin/stdout). */
  terminal?: Pick<ConsoleOptions, 'stdin' | 'stdout' | 'stderr' | 'onExit'>;
}

export interface RunningMachine {
  run(): Promise<{ reason: string; error?: Error }>;
  stop(): void;
}

/** The part of src/vmm/machine.ts a session uses. */
export interface SessionVmm {
  createMachine(options: MachineOptions): Promise<RunningMachine>;
}

async function defaultVmm(): Promise<SessionVmm> {
  const { Machine } = await import('../vmm/machine.ts');
  return { createMachine: (o) => Machine.create(o) };
}

export async function runSession(opts: SessionOptions): Promise<SessionEnd> {
  const vmm = opts.vmm ?? (await defaultVmm());
  const { SerialPort: Port } = await import('../devices/serial-backend.ts');
  const port: SerialPort = new Port();
  const m = opts.machine;
  // The console ports' host ends and sockets outlive guest reboots, like the terminal.
  const { ConsolePorts } = await import('../devices/virtio/console/port.ts');
  const consoleHost = new ConsolePorts(m.consolePorts.map((p) => p.name));
  const sockets = await listenConsoleSockets(m, consoleHost, opts.logger);
  const machineOptions: MachineOptions = {
    kernel: m.kernel,
    initrd: m.initrd,
    cmdline: opts.cmdline,
    memoryBytes: m.memoryBytes,
    cpus: m.cpus,
    accel: m.accel,
    disks: m.disks,
    shares: m.shares,
    vsock: m.vsock,
    net: m.net,
    consoleHost,
    noReboot: m.noReboot,
    logger: opts.logger,
    console: port,
    notice: opts.notice,
  };

  let current: RunningMachine | undefined;
  let quit = false;
  const pending: Uint8Array[] = [];
  const pump = (): void => {
    while (pending.length > 0) {
      const chunk = pending[0];
      const n = port.sendInput(chunk);
      if (n < chunk.length) {
        pending[0] = chunk.subarray(n);
        return;
      }
      pending.shift();
    }
  };
  const toGuest = (bytes: Uint8Array): void => {
    pending.push(bytes);
    pump();
  };
  port.onDrain(pump);

  const term: AttachedConsole = attachConsole({
    ...opts.terminal,
    toGuest,
    onQuit: () => {
      quit = true;
      current?.stop();
    },
    onRawChange: (raw) => opts.logger.setRawTerminal(raw),
    onEof: () => {
      const bytes = opts.onStdinEof?.();
      if (bytes) toGuest(bytes);
    },
  });
  port.onOutput((bytes) => {
    term.fromGuest(opts.filterOutput ? opts.filterOutput(bytes) : bytes);
    if (opts.shouldStop?.()) current?.stop();
  });

  try {
    for (;;) {
      const machine = await vmm.createMachine(machineOptions);
      current = machine;
      if (quit) machine.stop();
      const exit = await machine.run();
      if (exit.reason === 'error') return { reason: 'error', error: exit.error ?? new Error('the VMM stopped with an error') };
      if (exit.reason === 'reset' && !m.noReboot && !quit) {
        opts.logger.info('guest reset: rebooting');
        continue;
      }
      if (exit.reason === 'poweroff' || exit.reason === 'reset' || exit.reason === 'stopped') return { reason: exit.reason };
      return { reason: 'error', error: new Error(`the VMM stopped for an unknown reason '${exit.reason}'`) };
    }
  } finally {
    term.detach();
    await Promise.all(sockets.map((s) => s.close()));
  }
}

async function listenConsoleSockets(m: ResolvedMachine, ports: ConsolePorts, logger: RootLogger): Promise<ConsolePortSocket[]> {
  const { ConsolePortSocket: Socket } = await import('../devices/virtio/console/socket-server.ts');
  const log = logger.child('virtio-console');
  const out: ConsolePortSocket[] = [];
  try {
    for (const p of m.consolePorts) {
      if (p.path !== undefined) out.push(await Socket.listen(p.path, ports.get(p.name)!, log));
    }
  } catch (e) {
    await Promise.all(out.map((s) => s.close()));
    throw e;
  }
  return out;
}
