// `nodevisor run -- CMD ARGS...`: boot the default guest, run one command, exit with its
// status. Protocol: src/cli/run-protocol.ts.
import { resolve } from 'node:path';
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { ConfigError } from '../../config/errors.ts';
import type { ShareConfig } from '../../config/machine-config.ts';
import { CliError } from '../errors.ts';
import { ExitCode, signalExitCode } from '../exit-codes.ts';
import { addMachineOptions, composeCmdline, loadConfig, resolveMachine, type MachineArgv, type ResolvedMachine } from '../machine-flags.ts';
import type { CommandResult } from '../main.ts';
import { RunStatusFilter, buildRunCmdline, type RunMount } from '../run-protocol.ts';
import { runSession, type SessionOptions, type SessionVmm } from '../vmm-session.ts';
import type { RootLogger } from '../../log.ts';
import { asGuestCrash } from './boot.ts';
import { makeLogger, notice, type GlobalArgv } from './common.ts';

export type RunArgv = MachineArgv & GlobalArgv & { command?: string[]; '--'?: string[] };

/** Ctrl-D: a line-mode guest tty reads it as end of input. */
const EOT = 0x04;

/**
 * run's --share HOSTDIR[:GUESTDIR][,readonly]: the folder appears at GUESTDIR (default: the
 * same absolute path) in the guest. Tags are generated (run0, run1, ...).
 */
export function parseRunShares(specs: string[]): { shares: ShareConfig[]; mounts: RunMount[] } {
  const shares: ShareConfig[] = [];
  const mounts: RunMount[] = [];
  specs.forEach((spec, i) => {
    const [main, ...opts] = spec.split(',');
    let readonly = false;
    for (const o of opts) {
      if (o === 'readonly' || o === 'ro') readonly = true;
      else throw new ConfigError(`invalid --share '${spec}': unknown option '${o}' (expected readonly)`);
    }
    const colon = main.indexOf(':');
    const host = colon < 0 ? main : main.slice(0, colon);
    const guest = colon < 0 ? resolve(host) : main.slice(colon + 1);
    if (!host || !guest.startsWith('/')) throw new ConfigError(`invalid --share '${spec}': expected HOSTDIR[:GUESTDIR] with an absolute GUESTDIR`);
    const tag = `run${i}`;
    shares.push({ hostPath: resolve(host), tag, readonly });
    mounts.push({ tag, guestPath: guest, readonly });
  });
  return { shares, mounts };
}

/** The guest directory to start in: the current directory's place inside a share, else none. */
export function guestCwd(shares: ShareConfig[], mounts: RunMount[], cwd = process.cwd()): string | undefined {
  for (let i = 0; i < shares.length; i++) {
    const host = shares[i].hostPath.replace(/\/+$/, '');
    if (cwd === host || cwd.startsWith(host + '/')) return mounts[i].guestPath.replace(/\/+$/, '') + cwd.slice(host.length);
  }
  return undefined;
}

export interface GuestCommandOptions {
  machine: ResolvedMachine;
  command: string[];
  mounts: RunMount[];
  shares: ShareConfig[];
  logger: RootLogger;
  /** For tests: a stand-in VMM and terminal. */
  vmm?: SessionVmm;
  terminal?: SessionOptions['terminal'];
  stdout?: { write(b: Uint8Array): unknown };
}

/** Boots the guest with the command in its command line; resolves to the command's status. */
export async function runGuestCommand(o: GuestCommandOptions): Promise<number> {
  const { machine, command, mounts, shares, logger } = o;
  // panic=-1: a guest kernel panic resets at once instead of hanging the command.
  const { cmdline, nonce } = buildRunCmdline({ argv: command, mounts, cwd: guestCwd(shares, mounts) }, composeCmdline(machine.append, ['panic=-1']));
  const filter = new RunStatusFilter(nonce);
  const end = await runSession({
    machine: { ...machine, noReboot: true },
    cmdline,
    logger,
    notice,
    filterOutput: (bytes) => filter.push(bytes),
    onStdinEof: () => Uint8Array.of(EOT),
    vmm: o.vmm,
    terminal: o.terminal ?? (o.stdout ? { stdout: o.stdout } : undefined),
  }).catch((e: Error) => {
    throw asGuestCrash(e);
  });
  if (filter.status !== undefined) return filter.status;
  (o.stdout ?? process.stdout).write(filter.end());
  if (filter.bootLog) logger.debug(`guest console before the command started:\n${filter.bootLog}`);
  if (end.reason === 'error') throw asGuestCrash(end.error);
  // Ctrl-a x: the command was interrupted, as by Ctrl-C in a shell.
  if (end.reason === 'stopped') return signalExitCode('SIGINT');
  const why = filter.commandStarted ? 'the guest stopped before the command finished' : 'the guest stopped before the command could start';
  throw new CliError(`${why} (${end.reason === 'reset' ? 'it reset, e.g. a kernel panic' : 'it powered off'}; --log-level debug shows its console)`, ExitCode.GuestCrashed);
}

export function runCommand(result: CommandResult): CommandModule<object, RunArgv> {
  return {
    command: 'run [command..]',
    describe: 'boot the default guest, run CMD in it and exit with its status: nodevisor run [options] -- CMD [ARGS...]',
    builder: (y) =>
      addMachineOptions(y, 'HOSTDIR[:GUESTDIR][,readonly]: mount a host folder in the guest (default: same path; repeatable)')
        .positional('command', { type: 'string', array: true, describe: 'the command and its arguments, after --' })
        .example('$0 run -- uname -a', 'print the guest kernel version')
        .example('$0 run --share .:/work -- sh -c "cd /work && ls"', 'use a host folder') as never,
    handler: async (argv: ArgumentsCamelCase<RunArgv>) => {
      const command = [...(argv.command ?? []), ...(argv['--'] ?? [])].map(String);
      if (command.length === 0) throw new ConfigError('no command given: nodevisor run [options] -- CMD [ARGS...]');
      const { shares, mounts } = parseRunShares(argv.share ?? []);
      const file = loadConfig(argv);
      const logger = makeLogger(argv, file);
      try {
        const machine = await resolveMachine({ ...argv, share: undefined }, { ...file, share: undefined });
        machine.shares = [...machine.shares, ...shares];
        if (!machine.defaultGuest && machine.initrd === undefined) {
          notice('run needs the default guest\'s init (or a compatible initrd): --kernel without --initrd will not report a status');
        }
        result.exitCode = await runGuestCommand({ machine, command, mounts, shares, logger });
      } finally {
        await logger.close();
      }
    },
  };
}
