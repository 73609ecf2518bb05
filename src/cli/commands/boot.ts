// `nodevisor boot`: boot a kernel with the terminal as its console.
import type { ArgumentsCamelCase, CommandModule } from 'yargs';
import { CliError } from '../errors.ts';
import { ExitCode } from '../exit-codes.ts';
import { addMachineOptions, composeCmdline, loadConfig, resolveMachine, type MachineArgv } from '../machine-flags.ts';
import type { CommandResult } from '../main.ts';
import { runSession, type SessionEnd } from '../vmm-session.ts';
import { makeLogger, notice, type GlobalArgv } from './common.ts';

export type BootArgv = MachineArgv & GlobalArgv;

export function bootExitCode(end: SessionEnd): number {
  switch (end.reason) {
    case 'poweroff':
    case 'stopped':
      return ExitCode.Ok;
    case 'reset':
      return ExitCode.GuestRebooted;
    case 'error':
      throw asGuestCrash(end.error);
  }
}

/** VMM failures while the guest runs are exit code 7 unless they carry a better one. */
export function asGuestCrash(error: Error): Error {
  const known = ['BootError', 'AcceleratorUnavailableError', 'MachineConfigError', 'ConfigError'];
  if (known.includes(error.name) || typeof (error as { exitCode?: unknown }).exitCode === 'number') return error;
  if ((error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
    return new CliError(`the VMM is not available in this build: ${error.message}`, ExitCode.GenericError);
  }
  return new CliError(`guest stopped: ${error.message}`, ExitCode.GuestCrashed);
}

export function bootCommand(result: CommandResult): CommandModule<object, BootArgv> {
  return {
    command: 'boot',
    describe: 'boot a kernel with this terminal as its console (Ctrl-a h for help, Ctrl-a x to quit)',
    builder: (y) => addMachineOptions(y) as never,
    handler: async (argv: ArgumentsCamelCase<BootArgv>) => {
      const file = loadConfig(argv);
      const logger = makeLogger(argv, file);
      try {
        const machine = await resolveMachine(argv, file);
        const end = await runSession({ machine, cmdline: composeCmdline(machine.append), logger, notice }).catch((e: Error) => {
          throw asGuestCrash(e);
        });
        if (end.reason === 'reset') notice('guest rebooted and --no-reboot is set');
        result.exitCode = bootExitCode(end);
      } finally {
        await logger.close();
      }
    },
  };
}
