// What every command handler shares: global flags, the logger, notices on stderr.
import { ConfigError } from '../../config/errors.ts';
import type { ConfigFile } from '../../config/machine-config.ts';
import { createLogger, isLogLevel, type RootLogger } from '../../log.ts';

export interface GlobalArgv {
  logLevel?: string;
  logFile?: string;
  trace?: string;
  json?: boolean;
}

export function makeLogger(argv: GlobalArgv, file: ConfigFile = {}): RootLogger {
  const level = argv.logLevel ?? file.logLevel ?? 'warn';
  if (!isLogLevel(level)) throw new ConfigError(`invalid --log-level '${level}': expected error, warn, info or debug`);
  const trace = argv.trace !== undefined ? [argv.trace].flat().flatMap((t) => String(t).split(',')) : (file.trace ?? []);
  return createLogger({ level, file: argv.logFile ?? file.logFile, trace: trace.map((t) => t.trim()).filter(Boolean) });
}

/** One-line notices (accelerator fallback...) go to stderr, never stdout. */
export function notice(message: string): void {
  process.stderr.write(`nodevisor: ${message}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}
