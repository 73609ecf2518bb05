// The session and `run` logic against a stand-in VMM whose "guest" speaks the real console
// protocol: it decodes nodevisor.run from the command line, runs the script with the host's
// sh and prints the markers as the initramfs /init does.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SerialPort } from '../../src/devices/serial-backend.ts';
import { bootExitCode } from '../../src/cli/commands/boot.ts';
import { runGuestCommand } from '../../src/cli/commands/run.ts';
import { CliError } from '../../src/cli/errors.ts';
import type { ResolvedMachine } from '../../src/cli/machine-flags.ts';
import { exitMarker, parseRunCmdline, startMarker } from '../../src/cli/run-protocol.ts';
import { runSession, type RunningMachine, type SessionVmm } from '../../src/cli/vmm-session.ts';
import { createLogger } from '../../src/log.ts';
import type { MachineOptions } from '../../src/vmm/machine.ts';

const MACHINE: ResolvedMachine = {
  kernel: '/k', initrd: '/i', append: '', memoryBytes: 64 << 20, cpus: 1, accel: 'emu',
  disks: [], shares: [], vsock: [], consolePorts: [], net: [], noReboot: false, defaultGuest: true,
};

class PipeIn extends EventEmitter {
  isTTY = false;
  resume(): this {
    return this;
  }
  pause(): this {
    return this;
  }
}

type GuestBehaviour = (port: SerialPort, opts: MachineOptions, boot: number) => Promise<{ reason: string; error?: Error }>;

function fakeVmm(behaviour: GuestBehaviour): SessionVmm & { boots: MachineOptions[] } {
  const boots: MachineOptions[] = [];
  return {
    boots,
    async createMachine(opts: MachineOptions): Promise<RunningMachine> {
      boots.push(opts);
      const n = boots.length;
      let stop: (() => void) | undefined;
      const stopped = new Promise<{ reason: string }>((r) => (stop = () => r({ reason: 'stopped' })));
      return {
        run: () => Promise.race([behaviour(opts.console!, opts, n), stopped]),
        stop: () => stop!(),
      };
    },
  };
}

const emit = (port: SerialPort, s: string | Uint8Array): void => {
  for (const b of typeof s === 'string' ? Buffer.from(s, 'latin1') : s) port.emitOutput(b);
  port.flush();
};
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

/** The guest half of the run protocol, with the host's sh standing in for the guest's. */
const protocolGuest: GuestBehaviour = async (port, opts) => {
  const req = parseRunCmdline(opts.cmdline)!;
  emit(port, '[    0.000000] Booting Linux on physical CPU 0x0\r\n');
  emit(port, `${startMarker(req.nonce)}\n`);
  await tick();
  const r = spawnSync('sh', ['-c', req.script], { input: Buffer.from(port.takeInput(1 << 16)) });
  emit(port, r.stdout);
  emit(port, `\n${exitMarker(req.nonce)} ${r.status}\n[    2.7] reboot: Power down\r\n`);
  await tick();
  return { reason: 'poweroff' };
};

function capture() {
  const chunks: Buffer[] = [];
  return { text: () => Buffer.concat(chunks).toString(), write: (b: Uint8Array | string) => chunks.push(Buffer.from(b as Uint8Array)) };
}

describe('guest sessions (stand-in VMM)', () => {
  const logger = createLogger({ level: 'error', sink: () => {} });

  it('run: the command output reaches stdout without markers, and its status is returned', async () => {
    const vmm = fakeVmm(protocolGuest);
    const out = capture();
    const status = await runGuestCommand({
      machine: MACHINE, command: ['sh', '-c', 'echo "hi $1"; exit 3', 'sh', 'there'], mounts: [], shares: [], logger, vmm,
      terminal: { stdin: new PipeIn(), stdout: out },
    });
    expect(status).to.equal(3);
    expect(out.text()).to.equal('hi there\n');
    expect(vmm.boots[0].cmdline).to.match(/^console=ttyAMA0 panic=-1 quiet loglevel=1 nodevisor\.nonce=[0-9a-f]{16} nodevisor\.run=/);
    expect(vmm.boots[0].noReboot).to.equal(true);
  });

  it('run: piped stdin reaches the command, EOF as Ctrl-D', async () => {
    const stdin = new PipeIn();
    const out = capture();
    const vmm = fakeVmm(async (port, opts, n) => {
      stdin.emit('data', Buffer.from('line one\n'));
      stdin.emit('end');
      await tick();
      return protocolGuest(port, opts, n);
    });
    const status = await runGuestCommand({ machine: MACHINE, command: ['od', '-An', '-c'], mounts: [], shares: [], logger, vmm, terminal: { stdin, stdout: out } });
    expect(status).to.equal(0);
    expect(out.text().replace(/\s+/g, ' ').trim()).to.equal('l i n e o n e \\n 004');
  });

  it('run: a guest that resets before the exit line is exit code 7', async () => {
    const vmm = fakeVmm(async (port, opts) => {
      emit(port, `${startMarker(parseRunCmdline(opts.cmdline)!.nonce)}\npartial output`);
      await tick();
      return { reason: 'reset' };
    });
    const out = capture();
    try {
      await runGuestCommand({ machine: MACHINE, command: ['true'], mounts: [], shares: [], logger, vmm, terminal: { stdin: new PipeIn(), stdout: out } });
      expect.fail('should throw');
    } catch (e) {
      expect(e).to.be.instanceOf(CliError);
      expect((e as CliError).exitCode).to.equal(7);
      expect((e as Error).message).to.match(/before the command finished/);
    }
    expect(out.text()).to.equal('partial output');
    expect(vmm.boots).to.have.length(1);
  });

  it('boot: a reset reboots, unless --no-reboot (exit 5); errors are exit 7; power-off is 0', async () => {
    const resetThenOff = (): SessionVmm & { boots: MachineOptions[] } =>
      fakeVmm(async (_port, _o, n) => ({ reason: n === 1 ? 'reset' : 'poweroff' }));
    const term = { stdin: new PipeIn(), stdout: capture() };
    const a = resetThenOff();
    const endA = await runSession({ machine: MACHINE, cmdline: 'console=ttyAMA0', logger, notice: () => {}, vmm: a, terminal: term });
    expect(endA.reason).to.equal('poweroff');
    expect(a.boots).to.have.length(2);
    expect(bootExitCode(endA)).to.equal(0);

    const b = resetThenOff();
    const endB = await runSession({ machine: { ...MACHINE, noReboot: true }, cmdline: '', logger, notice: () => {}, vmm: b, terminal: term });
    expect(bootExitCode(endB)).to.equal(5);
    expect(b.boots).to.have.length(1);

    const c = fakeVmm(async () => ({ reason: 'error', error: new Error('vcpu0: unhandled exit') }));
    const endC = await runSession({ machine: MACHINE, cmdline: '', logger, notice: () => {}, vmm: c, terminal: term });
    expect(() => bootExitCode(endC)).to.throw(CliError, /guest stopped: vcpu0: unhandled exit/).with.property('exitCode', 7);
  });

  it('boot: guest output reaches the terminal unchanged, and terminal input the guest', async () => {
    const stdin = new PipeIn();
    const out = capture();
    let received = '';
    const vmm = fakeVmm(async (port) => {
      emit(port, 'login: \r\n');
      stdin.emit('data', Buffer.from('root\r\x01x'));
      await tick();
      received = Buffer.from(port.takeInput(100)).toString('latin1');
      return { reason: 'poweroff' };
    });
    await runSession({ machine: MACHINE, cmdline: '', logger, notice: () => {}, vmm, terminal: { stdin, stdout: out } });
    expect(out.text()).to.equal('login: \r\n');
    expect(received).to.equal('root\r\x01x'); // not a TTY: no escape keys
  });

  it('boot on a TTY: Ctrl-a x stops the machine (exit 0) and restores the terminal', async () => {
    const tty = Object.assign(new PipeIn(), { isTTY: true, isRaw: false, setRawMode(r: boolean) { tty.isRaw = r; return tty; } });
    const vmm = fakeVmm(async () => {
      await tick();
      tty.emit('data', Buffer.from('\x01x'));
      return new Promise(() => {}); // runs until stopped
    });
    const end = await runSession({ machine: MACHINE, cmdline: '', logger, notice: () => {}, vmm, terminal: { stdin: tty, stdout: capture(), onExit: () => () => {} } });
    expect(end.reason).to.equal('stopped');
    expect(bootExitCode(end)).to.equal(0);
    expect(tty.isRaw).to.equal(false);
  });
  it('console ports: one set of host ends across reboots, served on their sockets, removed at the end', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nv-session-'));
    const sock = join(dir, 'agent.sock');
    try {
      let fromClient = '';
      const vmm = fakeVmm(async (_port, opts, boot) => {
        const agent = opts.consoleHost!.get('agent')!;
        if (boot === 1) {
          const client = createConnection(sock);
          await new Promise((r) => client.once('connect', r));
          client.write('ping');
          for (let i = 0; i < 100 && agent.pendingToGuest === 0; i++) await tick();
          fromClient = agent.takeToGuest(100)!.toString();
          client.destroy();
          return { reason: 'reset' };
        }
        return { reason: 'poweroff' };
      });
      const machine = { ...MACHINE, consolePorts: [{ name: 'agent', path: sock }, { name: 'quiet' }] };
      const end = await runSession({ machine, cmdline: '', logger, notice: () => {}, vmm, terminal: { stdin: new PipeIn(), stdout: capture() } });
      expect(end.reason).to.equal('poweroff');
      expect(fromClient).to.equal('ping');
      expect(vmm.boots).to.have.length(2);
      expect(vmm.boots[0].consoleHost).to.equal(vmm.boots[1].consoleHost);
      expect(vmm.boots[0].consoleHost!.names).to.deep.equal(['agent', 'quiet']);
      expect(existsSync(sock)).to.equal(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
