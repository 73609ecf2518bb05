// How errors become one stderr line and an exit code. Errors from other modules are
// classified by class name, so this file imports none of them (and the CLI's argument
// checks work even when the VMM is not built).
import { ExitCode } from './exit-codes.ts';

export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const EXIT_CODE_BY_ERROR_NAME: Record<string, number> = {
  ConfigError: ExitCode.Usage,
  RunProtocolError: ExitCode.Usage,
  MachineConfigError: ExitCode.Usage,
  ConsolePortError: ExitCode.Usage,
  ConsoleSocketError: ExitCode.Usage,
  YError: ExitCode.Usage,
  BootError: ExitCode.BadKernel,
  AcceleratorUnavailableError: ExitCode.AcceleratorUnavailable,
  GuestBuildError: ExitCode.GuestBuildFailed,
  CpioError: ExitCode.GuestBuildFailed,
};

export function exitCodeFor(err: unknown): number {
  if (err instanceof Error) {
    const code = (err as { exitCode?: unknown }).exitCode;
    if (typeof code === 'number') return code;
    const byName = EXIT_CODE_BY_ERROR_NAME[err.name];
    if (byName !== undefined) return byName;
  }
  return ExitCode.GenericError;
}

/** The message without a trailing period or newline, on one line. */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, '; ').replace(/[.\s]+$/, '') || (err instanceof Error ? err.name : 'error');
}
