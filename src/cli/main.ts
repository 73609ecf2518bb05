// The nodevisor command line (yargs, strict): boot, run, dtb, guest build|list|clean, doctor.
// Every failure is one line on stderr, "nodevisor: <message>", and an exit code from
// exit-codes.ts; the stack trace only with --log-level debug. With --json, errors are
// also one JSON document on stdout: {"error":{"code":N,"name":...,"message":...}}.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { bootCommand } from './commands/boot.ts';
import { doctorCommand } from './commands/doctor.ts';
import { dtbCommand } from './commands/dtb.ts';
import { guestCommand } from './commands/guest.ts';
import { runCommand } from './commands/run.ts';
import { reexecUnderEntitledNode } from './doctor.ts';
import { CliError, exitCodeFor, oneLine } from './errors.ts';
import { EXIT_CODE_HELP, ExitCode } from './exit-codes.ts';

export const COMMANDS = ['boot', 'run', 'dtb', 'guest', 'doctor'] as const;

/** Where a command handler leaves its exit code (yargs handlers return nothing useful). */
export interface CommandResult {
  exitCode: number;
}

export function buildParser(args: string[], result: CommandResult): Argv {
  return yargs(args)
    .scriptName('nodevisor')
    .usage('$0 <command> [options]\n\nRun arm64 Linux guests: Hypervisor.framework on Apple Silicon, a software CPU elsewhere.')
    .parserConfiguration({ 'boolean-negation': false, 'populate--': true })
    .option('log-level', { type: 'string', describe: 'error, warn, info or debug [default: warn]', requiresArg: true, global: true })
    .option('log-file', { type: 'string', describe: 'write logs to this file instead of stderr', requiresArg: true, global: true })
    .option('trace', { type: 'string', describe: 'debug logs for these categories, e.g. gic,virtio-blk (or all)', requiresArg: true, global: true })
    .option('json', { type: 'boolean', describe: 'machine-readable output on stdout (dtb, guest list, doctor, errors)', global: true })
    .command(bootCommand(result))
    .command(runCommand(result))
    .command(dtbCommand(result))
    .command(guestCommand(result))
    .command(doctorCommand(result))
    .demandCommand(1, 'no command given (commands: boot, run, dtb, guest, doctor)')
    .strict()
    .help()
    .alias('help', 'h')
    .version()
    .epilogue(EXIT_CODE_HELP)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // Handler errors keep their class (and so their exit code); yargs' own are usage errors.
      if (err && err.name !== 'YError') throw err;
      throw new CliError(msg ?? err?.message ?? 'usage error', ExitCode.Usage);
    });
}

function wantsJson(args: string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).includes('--json');
}

function wantsDebug(args: string[]): boolean {
  const end = args.indexOf('--');
  const a = end < 0 ? args : args.slice(0, end);
  return a.includes('--log-level=debug') || a.some((x, i) => x === '--log-level' && a[i + 1] === 'debug');
}

export function reportError(err: unknown, args: string[], stderr = process.stderr, stdout = process.stdout): number {
  const code = exitCodeFor(err);
  const message = oneLine(err);
  if (wantsJson(args)) {
    stdout.write(JSON.stringify({ error: { code, name: err instanceof Error ? err.name : 'Error', message } }) + '\n');
  }
  stderr.write(`nodevisor: ${message}\n`);
  if (wantsDebug(args) && err instanceof Error && err.stack) stderr.write(`${err.stack}\n`);
  return code;
}

/** Whether the flags before `--` pin the software CPU (then HVF's entitlement does not matter). */
function wantsEmu(args: string[]): boolean {
  const end = args.indexOf('--');
  const a = end < 0 ? args : args.slice(0, end);
  return a.includes('--accel=emu') || a.some((x, i) => x === '--accel' && a[i + 1] === 'emu');
}

/** Parses `args` and runs the command; resolves to the process exit code. */
export async function runCli(args: string[]): Promise<number> {
  const result: CommandResult = { exitCode: ExitCode.Ok };
  try {
    const first = args[0];
    if (first !== undefined && !first.startsWith('-') && !(COMMANDS as readonly string[]).includes(first)) {
      throw new CliError(`unknown command '${first}' (commands: ${COMMANDS.join(', ')})`, ExitCode.Usage);
    }
    // On Apple Silicon, stock node lacks the hypervisor entitlement: run the VM under the
    // ad-hoc signed copy `nodevisor doctor --sign` made, if there is one (a no-op elsewhere).
    if ((first === 'boot' || first === 'run') && !wantsEmu(args)) {
      const code = reexecUnderEntitledNode();
      if (code !== undefined) return code;
    }
    await buildParser(args, result).parseAsync();
    return result.exitCode;
  } catch (err) {
    return reportError(err, args);
  }
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    const real = realpathSync(entry);
    return real === fileURLToPath(import.meta.url) || /[\\/]bin[\\/]nodevisor(\.js)?$/.test(real);
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const code = await runCli(hideBin(process.argv));
  // The guest may leave handles (stdin, timers) behind: exit explicitly once stdout drains.
  process.stdout.write('', () => process.exit(code));
}
