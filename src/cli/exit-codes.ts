// The process exit codes of the nodevisor CLI, one meaning each (after Firecracker's
// FcExitCode). Scripts depend on these numbers: never renumber, only add.
// `nodevisor run` instead exits with the guest command's own status (0..255).
import { constants as osConstants } from 'node:os';

export const ExitCode = {
  /** Success; for boot: the guest powered off (PSCI SYSTEM_OFF). */
  Ok: 0,
  /** Any error without a more specific code. */
  GenericError: 1,
  /** Bad flags, sizes, config file or command line usage. */
  Usage: 2,
  /** The kernel or initrd is missing, unreadable or not a valid arm64 Image. */
  BadKernel: 3,
  /** --accel hvf was requested but Hypervisor.framework is unusable here. */
  AcceleratorUnavailable: 4,
  /** The guest asked for a reboot and --no-reboot was given. */
  GuestRebooted: 5,
  /** `nodevisor guest build` (or the default guest it needs) failed. */
  GuestBuildFailed: 6,
  /** The guest crashed, or the VMM hit an internal error while running it. */
  GuestCrashed: 7,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Fatal signal N ends the process with 128 + N, as shells report it. */
export function signalExitCode(signal: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number>)[signal];
  return 128 + (n ?? 15);
}

/** One line per code, for `--help` epilogues and docs. */
export const EXIT_CODE_HELP = [
  'Exit codes:',
  '  0  ok / guest powered off        4  accelerator unavailable',
  '  1  generic error                 5  guest rebooted with --no-reboot',
  '  2  usage error                   6  guest build failed',
  '  3  kernel/initrd missing/corrupt 7  guest crashed / VMM internal error',
  '  128+N  fatal signal N;  run: the command\'s own exit status',
].join('\n');
