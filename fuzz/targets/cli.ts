// The CLI argument parser and machine-config resolution: random flag combinations for boot,
// run and dtb, hostile sizes and counts, and config JSON files with wrong types. Every failure
// must be a typed error (CliError/ConfigError) with a specific exit code and a one-line
// message; a success must be a valid machine. Nothing boots: a middleware stops the parse
// after validation, before any command handler, and only the parsing functions run after it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildParser } from '../../src/cli/main.ts';
import { exitCodeFor, oneLine } from '../../src/cli/errors.ts';
import { ExitCode } from '../../src/cli/exit-codes.ts';
import { loadConfig, machineFlags, type MachineArgv } from '../../src/cli/machine-flags.ts';
import { resolveMachineConfig } from '../../src/config/machine-config.ts';
import { ACCEL_CHOICES } from '../../src/config/machine-config.ts';
import { HOST_PAGE_SIZE, MAX_VCPUS, RAM_MIN_SIZE } from '../../src/arch/arm64/layout.ts';
import { InputReader, type FuzzTarget } from '../target.ts';

export class CliFuzzError extends Error {
  override readonly name = 'CliFuzzError';
}

class StopBeforeHandler extends Error {
  override readonly name = 'StopBeforeHandler';
}

const COMMANDS = ['boot', 'run', 'dtb', 'dtb', 'bogus', ''];
const FLAGS = [
  '--memory', '-m', '--cpus', '--accel', '--disk', '--share', '--vsock', '--net', '--kernel', '--initrd', '--append',
  '--no-reboot', '--config', '--log-level', '--log-file', '--trace', '--json', '--out', '-o', '--bogus', '--', '-x',
  '--memory=', '--cpus=', '--disk=', '--config=',
];
const VALUES = [
  '512M', '-1', '1e99', '0x40000000', '2G', '64M', '64MiB', '1t', '0', '1.5', '１２８M', '512M\u0000', '', ' ', '16384',
  '9007199254740993', '99999999999999999999G', '123', '124', ' 2 ', 'emu', 'hvf', 'auto', 'EMU', 'x:y', '1:/tmp/s',
  '0:/s', '4294967296:/s', 'a.img,readonly', 'a.img,ro,rw', ',readonly', 'dir:tag', '/h:' + 't'.repeat(37), ':tag',
  'dir:', 'debug', 'warn', 'all', 'user', '--', '-', 'Ω≈ç√∫', '\u202e', 'a'.repeat(300), '__proto__', 'constructor',
];
const KEYS = [
  'kernel', 'initrd', 'append', 'memory', 'cpus', 'accel', 'disk', 'share', 'vsock', 'net', 'noReboot', 'no-reboot',
  'logLevel', 'log-level', 'logFile', 'trace', 'bogus', '__proto__', 'path', 'hostPath', 'tag', 'readonly', 'port',
];

const dir = mkdtempSync(join(tmpdir(), 'nodevisor-fuzz-cli-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function pick<T>(r: InputReader, list: readonly T[]): T {
  return list[r.u8() % list.length];
}

function text(r: InputReader): string {
  if (r.u8() & 3) return pick(r, VALUES);
  let s = '';
  const n = r.u8() % 12;
  for (let i = 0; i < n; i++) s += String.fromCodePoint(r.u8() & 1 ? 0x20 + (r.u8() % 0x5f) : r.u16());
  return s;
}

/** A JSON value, often of the wrong type for where it lands. */
function jsonValue(r: InputReader, depth: number): unknown {
  switch (r.u8() % (depth > 2 ? 6 : 9)) {
    case 0: return null;
    case 1: return r.u8() & 1;
    case 2: return [0, -1, 1.5, 1e308, 2 ** 53 + 2, 64 * 2 ** 20, r.u32()][r.u8() % 7];
    case 3: return r.u8() & 1 ? true : false;
    case 4:
    case 5: return text(r);
    case 6:
    case 7: {
      const a: unknown[] = [];
      for (let i = r.u8() % 4; i > 0; i--) a.push(jsonValue(r, depth + 1));
      return a;
    }
    default: return jsonObject(r, depth + 1);
  }
}

function jsonObject(r: InputReader, depth: number): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = r.u8() % 5; i > 0; i--) Object.defineProperty(o, pick(r, KEYS), { value: jsonValue(r, depth), enumerable: true, configurable: true, writable: true });
  return o;
}

/** A config that looks right at the top level, with list items of random shape and field types. */
function machineShaped(r: InputReader): Record<string, unknown> {
  const o: Record<string, unknown> = { memory: r.u8() & 1 ? '512M' : jsonValue(r, 2), cpus: r.u8() & 1 ? 2 : jsonValue(r, 2) };
  const list = pick(r, ['disk', 'share', 'vsock', 'net', 'trace']);
  const items: unknown[] = [];
  for (let i = 1 + (r.u8() % 3); i > 0; i--) {
    if (r.u8() & 3) items.push(text(r));
    else {
      const item: Record<string, unknown> = {};
      for (const f of ['path', 'hostPath', 'tag', 'port', 'readonly']) if (r.u8() & 1) item[f] = r.u8() & 1 ? jsonValue(r, 2) : f === 'port' ? 1 : 'x';
      items.push(item);
    }
  }
  o[list] = items;
  return o;
}

function configFile(r: InputReader, n: number): string {
  const path = join(dir, `c${n}.json`);
  const kind = r.u8() % 8;
  const body = kind === 0 ? text(r) : kind === 1 ? JSON.stringify(jsonValue(r, 0)) : JSON.stringify(kind < 5 ? machineShaped(r) : jsonObject(r, 0));
  writeFileSync(path, body);
  return path;
}

/** The argument vector an input describes. */
export function cliArgs(input: Uint8Array): string[] {
  const r = new InputReader(input);
  const args: string[] = [];
  const cmd = pick(r, COMMANDS);
  if (cmd) args.push(cmd);
  for (let i = 0; i < 12 && !r.done; i++) {
    const flag = pick(r, FLAGS);
    if (flag === '--config' || flag === '--config=') {
      const path = r.u8() & 7 ? configFile(r, i) : join(dir, 'missing.json');
      args.push(...(flag.endsWith('=') ? [flag + path] : [flag, path]));
    } else if (flag.endsWith('=')) args.push(flag + text(r));
    else if (r.u8() & 3) args.push(flag, text(r));
    else args.push(flag);
  }
  return args;
}

function checkFailure(e: unknown, args: string[]): void {
  if (e instanceof CliFuzzError) throw e;
  const name = e instanceof Error ? e.name : typeof e;
  const code = exitCodeFor(e);
  const line = oneLine(e);
  if ((name !== 'CliError' && name !== 'ConfigError') || code === ExitCode.GenericError || !line || line.includes('\n')) {
    const detail = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
    throw new CliFuzzError(`untyped failure for ${JSON.stringify(args)} (exit code ${code}): ${detail}`);
  }
}

export async function runCliInput(args: string[]): Promise<void> {
  let argv: (MachineArgv & { _: (string | number)[] }) | undefined;
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info };
  console.log = console.error = console.warn = console.info = () => undefined; // --help output
  try {
    await buildParser(args, { exitCode: ExitCode.Ok })
      .middleware((a) => {
        argv = a as never;
        throw new StopBeforeHandler();
      }, false)
      .parseAsync();
    return; // --help / --version: no command ran
  } catch (e) {
    if (!(e instanceof StopBeforeHandler)) {
      checkFailure(e, args);
      return;
    }
  } finally {
    Object.assign(console, saved);
  }
  if (!argv) throw new CliFuzzError('middleware ran without arguments');
  try {
    const cfg = resolveMachineConfig(machineFlags(argv), loadConfig(argv));
    if (!Number.isSafeInteger(cfg.memoryBytes) || cfg.memoryBytes % HOST_PAGE_SIZE !== 0 || cfg.memoryBytes < RAM_MIN_SIZE) {
      throw new CliFuzzError(`accepted memory ${cfg.memoryBytes} for ${JSON.stringify(args)}`);
    }
    if (!Number.isInteger(cfg.cpus) || cfg.cpus < 1 || cfg.cpus > MAX_VCPUS) throw new CliFuzzError(`accepted cpus ${cfg.cpus}`);
    if (!ACCEL_CHOICES.includes(cfg.accel)) throw new CliFuzzError(`accepted accel ${String(cfg.accel)}`);
    for (const d of cfg.disks) if (typeof d.path !== 'string' || !d.path) throw new CliFuzzError(`accepted disk ${JSON.stringify(d)}`);
    for (const v of cfg.vsock) if (!Number.isInteger(v.port) || typeof v.path !== 'string') throw new CliFuzzError(`accepted vsock ${JSON.stringify(v)}`);
  } catch (e) {
    checkFailure(e, args);
  }
}

export const cliTarget: FuzzTarget = {
  name: 'cli-parser',
  seeds: () => [
    Uint8Array.of(0, 0, 1, 0, 2, 1, 17, 3, 1, 20),
    Uint8Array.of(2, 17, 1, 0, 0, 12, 1, 0, 5, 1, 6),
    Uint8Array.of(1, 12, 1, 2, 3, 1, 9, 4, 0, 0, 0, 1, 2, 3),
  ],
  async run(input) {
    await runCliInput(cliArgs(input));
  },
};
