// The machine settings shared by `boot`, `run` and `dtb`, from flags and a JSON config file.
//
// A config file holds the same settings as the flags, under the flags' names (camelCase or
// kebab-case), e.g.
//   { "kernel": "Image", "memory": "1G", "cpus": 2, "disk": ["root.img", "data.img,readonly"],
//     "share": [{ "hostPath": "/src", "tag": "src", "readonly": true }], "noReboot": true }
// Relative paths in a file are relative to the file's folder. A flag given on the command
// line replaces the file's value; for repeatable flags (--disk, --share, --vsock, --net, --console-port)
// the command line's list replaces the file's list.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_IPA_BITS, HOST_PAGE_SIZE, MAX_VCPUS, RAM_BASE, RAM_DEFAULT_SIZE, RAM_MIN_SIZE } from '../arch/arm64/layout.ts';
import { ConfigError } from './errors.ts';
import { MAX_NAMED_PORTS as MAX_CONSOLE_PORTS } from '../devices/virtio/console/port.ts';
import { formatSize, parseSize } from './size.ts';

export type Accel = 'auto' | 'hvf' | 'emu';
export const ACCEL_CHOICES: readonly Accel[] = ['auto', 'hvf', 'emu'];

export interface DiskConfig {
  path: string;
  readonly: boolean;
}
export interface ShareConfig {
  hostPath: string;
  tag: string;
  readonly: boolean;
}
export interface VsockConfig {
  port: number;
  path: string;
}
/** A named virtio-console port; with a path, the VMM serves it on that host Unix socket. */
export interface ConsolePortConfig {
  name: string;
  path?: string;
}

/** Settings after merging and validation; the VMM's MachineOptions minus logger and console. */
export interface MachineConfig {
  /** Absent: use the default guest. */
  kernel?: string;
  initrd?: string;
  append: string;
  memoryBytes: number;
  cpus: number;
  accel: Accel;
  disks: DiskConfig[];
  shares: ShareConfig[];
  vsock: VsockConfig[];
  consolePorts: ConsolePortConfig[];
  net: string[];
  noReboot: boolean;
}

/** Flag values as yargs hands them over; undefined = not given on the command line. */
export interface MachineFlags {
  kernel?: string;
  initrd?: string;
  append?: string;
  memory?: string;
  cpus?: string | number;
  accel?: string;
  disk?: string[];
  share?: string[];
  vsock?: string[];
  consolePort?: string[];
  net?: string[];
  noReboot?: boolean;
}

/** Logging settings a config file may also carry. */
export interface LogSettings {
  logLevel?: string;
  logFile?: string;
  trace?: string[];
}

export interface ConfigFile extends MachineFlagsLoose, LogSettings {}

type ListItem<T> = string | T;
interface MachineFlagsLoose {
  kernel?: string;
  initrd?: string;
  append?: string;
  memory?: string | number;
  cpus?: number;
  accel?: string;
  disk?: ListItem<Partial<DiskConfig>>[];
  share?: ListItem<Partial<ShareConfig>>[];
  vsock?: ListItem<Partial<VsockConfig>>[];
  consolePort?: ListItem<Partial<ConsolePortConfig>>[];
  net?: string[];
  noReboot?: boolean;
}

const FILE_KEYS = new Set([
  'kernel', 'initrd', 'append', 'memory', 'cpus', 'accel', 'disk', 'share', 'vsock', 'consolePort', 'net', 'noReboot',
  'logLevel', 'logFile', 'trace',
]);

const kebabToCamel = (s: string): string => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Reads and checks a JSON config file; unknown keys are errors, like unknown flags. */
export function loadConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const k = kebabToCamel(key);
    if (!FILE_KEYS.has(k)) throw new ConfigError(`config file ${path}: unknown key '${key}'`);
    out[k] = value;
  }
  const base = dirname(resolve(path));
  const cfg = out as ConfigFile;
  checkTypes(cfg, path);
  const rel = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(base, p));
  cfg.kernel = rel(cfg.kernel);
  cfg.initrd = rel(cfg.initrd);
  cfg.logFile = rel(cfg.logFile);
  cfg.disk = cfg.disk?.map((d) => (typeof d === 'string' ? resolveDiskSpec(d, base) : { ...d, path: rel(d.path) }));
  cfg.share = cfg.share?.map((s) => (typeof s === 'string' ? resolveShareSpec(s, base) : { ...s, hostPath: rel(s.hostPath) }));
  cfg.vsock = cfg.vsock?.map((v) => (typeof v === 'string' ? resolveVsockSpec(v, base) : { ...v, path: rel(v.path) }));
  cfg.consolePort = cfg.consolePort?.map((c) => {
    const spec = typeof c === 'string' ? parseConsolePortSpec(c) : c;
    return { ...spec, path: rel(spec.path) };
  });
  return cfg;
}

function checkTypes(cfg: ConfigFile, path: string): void {
  const fail = (key: string, want: string): never => {
    throw new ConfigError(`config file ${path}: '${key}' must be ${want}`);
  };
  for (const k of ['kernel', 'initrd', 'append', 'accel', 'logLevel', 'logFile'] as const) {
    if (cfg[k] !== undefined && typeof cfg[k] !== 'string') fail(k, 'a string');
  }
  if (cfg.memory !== undefined && typeof cfg.memory !== 'string' && typeof cfg.memory !== 'number') fail('memory', 'a size');
  if (cfg.cpus !== undefined && typeof cfg.cpus !== 'number') fail('cpus', 'a number');
  if (cfg.noReboot !== undefined && typeof cfg.noReboot !== 'boolean') fail('noReboot', 'true or false');
  for (const k of ['disk', 'share', 'vsock', 'consolePort', 'net', 'trace'] as const) {
    const v = cfg[k];
    if (v === undefined) continue;
    if (!Array.isArray(v)) fail(k, 'a list');
    for (const item of v as unknown[]) {
      if (typeof item !== 'string' && (typeof item !== 'object' || item === null || k === 'net' || k === 'trace')) {
        fail(k, k === 'net' || k === 'trace' ? 'a list of strings' : 'a list of strings or objects');
      }
      // Object items' paths are resolved against the file's folder: a non-string would throw a TypeError there.
      if (typeof item === 'object') {
        for (const [field, want] of Object.entries(ITEM_FIELDS[k] ?? {})) {
          const fv = (item as Record<string, unknown>)[field];
          if (fv !== undefined && typeof fv !== want) fail(`${k}[].${field}`, want === 'boolean' ? 'true or false' : `a ${want}`);
        }
      }
    }
  }
}

/** Field types of the object form of list items in a config file. */
const ITEM_FIELDS: Partial<Record<string, Record<string, 'string' | 'number' | 'boolean'>>> = {
  disk: { path: 'string', readonly: 'boolean' },
  share: { hostPath: 'string', tag: 'string', readonly: 'boolean' },
  vsock: { port: 'number', path: 'string' },
  consolePort: { name: 'string', path: 'string' },
};

function resolveDiskSpec(spec: string, base: string): DiskConfig {
  const d = parseDiskSpec(spec);
  return { ...d, path: resolve(base, d.path) };
}
function resolveShareSpec(spec: string, base: string): ShareConfig {
  const s = parseShareSpec(spec);
  return { ...s, hostPath: resolve(base, s.hostPath) };
}
function resolveVsockSpec(spec: string, base: string): VsockConfig {
  const v = parseVsockSpec(spec);
  return { ...v, path: resolve(base, v.path) };
}

/** --disk PATH[,readonly] (also "ro"). */
export function parseDiskSpec(spec: string): DiskConfig {
  const parts = spec.split(',');
  const path = parts[0];
  if (!path) throw new ConfigError(`invalid --disk '${spec}': expected PATH[,readonly]`);
  let readonly = false;
  for (const opt of parts.slice(1)) {
    if (opt === 'readonly' || opt === 'ro') readonly = true;
    else throw new ConfigError(`invalid --disk '${spec}': unknown option '${opt}' (expected readonly)`);
  }
  return { path, readonly };
}

const TAG_RE = /^[A-Za-z0-9_.-]{1,36}$/;

/** --share HOSTDIR:TAG[,readonly]. The virtiofs tag is at most 36 bytes. */
export function parseShareSpec(spec: string): ShareConfig {
  const [main, ...opts] = spec.split(',');
  const colon = main.lastIndexOf(':');
  if (colon <= 0 || colon === main.length - 1) throw new ConfigError(`invalid --share '${spec}': expected HOSTDIR:TAG[,readonly]`);
  const hostPath = main.slice(0, colon);
  const tag = main.slice(colon + 1);
  if (!TAG_RE.test(tag)) throw new ConfigError(`invalid --share '${spec}': tag '${tag}' must be 1-36 letters, digits, '_', '.', '-'`);
  let readonly = false;
  for (const opt of opts) {
    if (opt === 'readonly' || opt === 'ro') readonly = true;
    else throw new ConfigError(`invalid --share '${spec}': unknown option '${opt}' (expected readonly)`);
  }
  return { hostPath, tag, readonly };
}

/** --vsock PORT:SOCKET_PATH: guest connections to PORT reach the host Unix socket. */
export function parseVsockSpec(spec: string): VsockConfig {
  const m = /^(\d+):(.+)$/.exec(spec);
  if (!m) throw new ConfigError(`invalid --vsock '${spec}': expected PORT:SOCKET_PATH`);
  const port = Number(m[1]);
  if (!Number.isInteger(port) || port < 1 || port > 0xffff_ffff) throw new ConfigError(`invalid --vsock '${spec}': port out of range`);
  return { port, path: m[2] };
}

/**
 * --console-port NAME[:SOCKET_PATH]: a named virtio-console port (guest: /dev/vport0pN, name
 * in /sys/class/virtio-ports), served on a host Unix socket when a path is given. The name
 * ends at the first ':'; the port device checks its characters.
 */
export function parseConsolePortSpec(spec: string): ConsolePortConfig {
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const path = colon < 0 ? undefined : spec.slice(colon + 1);
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ConfigError(`invalid --console-port '${spec}': name '${name}' must be 1-64 letters, digits, '_', '.', '-'`);
  if (path === '') throw new ConfigError(`invalid --console-port '${spec}': empty socket path`);
  return path === undefined ? { name } : { name, path };
}

/** Largest RAM the IPA space holds above RAM_BASE, rounded down to the host page. */
export function maxMemoryBytes(ipaBits = DEFAULT_IPA_BITS): number {
  const top = 2 ** ipaBits - RAM_BASE;
  return top - (top % HOST_PAGE_SIZE);
}

export function validateMemory(bytes: number, text: string, ipaBits = DEFAULT_IPA_BITS): number {
  if (bytes % HOST_PAGE_SIZE !== 0) {
    throw new ConfigError(`invalid --memory '${text}': must be a multiple of 16 KiB`);
  }
  if (bytes < RAM_MIN_SIZE) throw new ConfigError(`invalid --memory '${text}': at least ${formatSize(RAM_MIN_SIZE)} is needed`);
  const max = maxMemoryBytes(ipaBits);
  if (bytes > max) throw new ConfigError(`invalid --memory '${text}': at most ${formatSize(max)} fits the ${ipaBits}-bit IPA space`);
  return bytes;
}

export function validateCpus(value: number | string): number {
  const cpus = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_VCPUS) {
    throw new ConfigError(`invalid --cpus '${value}': expected a whole number from 1 to ${MAX_VCPUS}`);
  }
  return cpus;
}

export function validateAccel(accel: string): Accel {
  if (!(ACCEL_CHOICES as readonly string[]).includes(accel)) {
    throw new ConfigError(`invalid --accel '${accel}': expected one of ${ACCEL_CHOICES.join(', ')}`);
  }
  return accel as Accel;
}

function normalizeDisk(d: string | Partial<DiskConfig>): DiskConfig {
  if (typeof d === 'string') return parseDiskSpec(d);
  if (typeof d.path !== 'string' || !d.path) throw new ConfigError('a disk needs a path');
  return { path: d.path, readonly: d.readonly === true };
}
function normalizeShare(s: string | Partial<ShareConfig>): ShareConfig {
  if (typeof s === 'string') return parseShareSpec(s);
  if (typeof s.hostPath !== 'string' || typeof s.tag !== 'string') throw new ConfigError('a share needs hostPath and tag');
  return parseShareSpec(`${s.hostPath}:${s.tag}${s.readonly ? ',readonly' : ''}`);
}
function normalizeVsock(v: string | Partial<VsockConfig>): VsockConfig {
  if (typeof v === 'string') return parseVsockSpec(v);
  return parseVsockSpec(`${v.port}:${v.path}`);
}
function normalizeConsolePorts(items: (string | Partial<ConsolePortConfig>)[]): ConsolePortConfig[] {
  const ports = items.map((c) => {
    if (typeof c === 'string') return parseConsolePortSpec(c);
    if (typeof c.name !== 'string') throw new ConfigError('a console port needs a name');
    return parseConsolePortSpec(c.path === undefined ? c.name : `${c.name}:${c.path}`);
  });
  const seen = new Set<string>(['hvc0']);
  for (const p of ports) {
    if (seen.has(p.name)) throw new ConfigError(`--console-port '${p.name}': the name is reserved or repeated`);
    seen.add(p.name);
  }
  if (ports.length > MAX_CONSOLE_PORTS) throw new ConfigError(`${ports.length} console ports given; at most ${MAX_CONSOLE_PORTS}`);
  return ports;
}

/** Merges a config file (may be empty) under the command-line flags and validates the result. */
export function resolveMachineConfig(flags: MachineFlags, file: ConfigFile = {}): MachineConfig {
  const memoryText = flags.memory ?? file.memory ?? RAM_DEFAULT_SIZE;
  const memoryBytes = validateMemory(parseSize(memoryText, '--memory'), String(memoryText));
  return {
    kernel: flags.kernel ?? file.kernel,
    initrd: flags.initrd ?? file.initrd,
    append: flags.append ?? file.append ?? '',
    memoryBytes,
    cpus: validateCpus(flags.cpus ?? file.cpus ?? 1),
    accel: validateAccel(flags.accel ?? file.accel ?? 'auto'),
    disks: (flags.disk ?? file.disk ?? []).map(normalizeDisk),
    shares: (flags.share ?? file.share ?? []).map(normalizeShare),
    vsock: (flags.vsock ?? file.vsock ?? []).map(normalizeVsock),
    consolePorts: normalizeConsolePorts(flags.consolePort ?? file.consolePort ?? []),
    net: [...(flags.net ?? file.net ?? [])],
    noReboot: flags.noReboot ?? file.noReboot ?? false,
  };
}
