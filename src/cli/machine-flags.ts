// The flags shared by `boot`, `run` and `dtb`, and turning them (plus --config) into a
// checked machine description: kernel and initrd present and plausible, the default guest
// when no --kernel is given, and the kernel command line.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { Argv } from 'yargs';
import { loadConfigFile, resolveMachineConfig, type ConfigFile, type MachineConfig, type MachineFlags } from '../config/machine-config.ts';
import { CliError } from './errors.ts';
import { ExitCode } from './exit-codes.ts';

/** Flag values as yargs parses them (kebab-case flags arrive camelCased too). */
export interface MachineArgv {
  kernel?: string;
  initrd?: string;
  append?: string;
  memory?: string;
  cpus?: string;
  accel?: string;
  disk?: string[];
  share?: string[];
  vsock?: string[];
  consolePort?: string[];
  net?: string[];
  noReboot?: boolean;
  config?: string;
}

const list = (v: unknown): string[] | undefined => (v === undefined ? undefined : ([v].flat() as unknown[]).map(String));

export function addMachineOptions<T>(y: Argv<T>, shareHelp = 'HOSTDIR:TAG[,readonly]: share a host folder over virtiofs (repeatable)'): Argv<T> {
  return y
    .option('kernel', { type: 'string', describe: 'arm64 Linux Image (default: the default guest, see `nodevisor guest build`)', requiresArg: true })
    .option('initrd', { type: 'string', describe: 'initramfs or initrd image', requiresArg: true })
    .option('append', { type: 'string', describe: 'extra kernel command-line arguments', requiresArg: true })
    .option('memory', { alias: 'm', type: 'string', describe: 'guest RAM: 512M, 2G, 1024K or bytes (16 KiB multiple, >= 64M) [default: 512M]', requiresArg: true })
    .option('cpus', { type: 'string', describe: 'number of vCPUs, 1..123 [default: 1]', requiresArg: true })
    .option('accel', { type: 'string', describe: 'accelerator: auto, hvf or emu [default: auto]', requiresArg: true })
    .option('disk', { type: 'string', describe: 'PATH[,readonly]: a virtio-blk disk (repeatable)', requiresArg: true, coerce: list })
    .option('share', { type: 'string', describe: shareHelp, requiresArg: true, coerce: list })
    .option('vsock', { type: 'string', describe: 'PORT:SOCKET_PATH: guest vsock port to a host Unix socket (repeatable)', requiresArg: true, coerce: list })
    .option('console-port', { type: 'string', describe: 'NAME[:SOCKET_PATH]: a named virtio-console port, served on a host Unix socket when a path is given (repeatable)', requiresArg: true, coerce: list })
    .option('net', { type: 'string', describe: 'a virtio-net interface (repeatable): user[,hostfwd=...], socket,path=PATH (QEMU stream framing), socket,type=dgram,path=PATH|fd=N (gvproxy/vmnet-helper datagrams) or tap,ifname=NAME (Linux); see README', requiresArg: true, coerce: list })
    .option('no-reboot', { type: 'boolean', describe: 'exit with code 5 instead of rebooting when the guest resets' })
    .option('config', { type: 'string', describe: 'JSON file with the same settings; flags override it', requiresArg: true });
}

export function machineFlags(argv: MachineArgv): MachineFlags {
  return {
    kernel: argv.kernel,
    initrd: argv.initrd,
    append: argv.append,
    memory: argv.memory,
    cpus: argv.cpus,
    accel: argv.accel,
    disk: argv.disk,
    share: argv.share,
    vsock: argv.vsock,
    consolePort: argv.consolePort,
    net: argv.net,
    noReboot: argv.noReboot,
  };
}

export function loadConfig(argv: MachineArgv): ConfigFile {
  return argv.config ? loadConfigFile(argv.config) : {};
}

/** arm64 Image header: "ARM\x64" at 0x38; gzip-compressed Images are accepted too. */
const ARM64_MAGIC = 0x644d5241;

/** Fails with exit code 3 when a kernel or initrd file is missing, unreadable or not an Image. */
export function checkBootFiles(kernel: string, initrd: string | undefined): void {
  const head = readHead(kernel, 'kernel', 64);
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  if (!gz && (head.length < 64 || head.readUInt32LE(0x38) !== ARM64_MAGIC)) {
    throw new CliError(`kernel ${kernel} is not an arm64 Linux Image (no ARM\\x64 magic at offset 0x38)`, ExitCode.BadKernel);
  }
  if (initrd !== undefined) readHead(initrd, 'initrd', 1);
}

function readHead(path: string, what: string, n: number): Buffer {
  let fd: number | undefined;
  try {
    if (!statSync(path).isFile()) throw new CliError(`${what} ${path} is not a file`, ExitCode.BadKernel);
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(n);
    const got = readSync(fd, buf, 0, n, 0);
    if (got === 0) throw new CliError(`${what} ${path} is empty`, ExitCode.BadKernel);
    return buf.subarray(0, got);
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not readable' : (code ?? (e as Error).message);
    throw new CliError(`${what} ${path}: ${why}`, ExitCode.BadKernel);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export interface ResolvedMachine extends MachineConfig {
  kernel: string;
  /** Whether kernel/initrd are the default guest's. */
  defaultGuest: boolean;
}

/** Flags + config -> config with kernel resolved (default guest when absent) and checked. */
export async function resolveMachine(argv: MachineArgv, file: ConfigFile): Promise<ResolvedMachine> {
  const cfg = resolveMachineConfig(machineFlags(argv), file);
  let defaultGuest = false;
  if (cfg.kernel === undefined) {
    const { findDefaultGuest, guestCacheDir } = await import('../guest/cache.ts');
    const guest = findDefaultGuest();
    if (!guest) {
      throw new CliError(`no --kernel given and the default guest is not built in ${guestCacheDir()}: run 'nodevisor guest build'`, ExitCode.BadKernel);
    }
    cfg.kernel = guest.kernel;
    cfg.initrd ??= guest.initrd;
    defaultGuest = true;
  }
  checkBootFiles(cfg.kernel, cfg.initrd);
  return { ...cfg, kernel: cfg.kernel, defaultGuest };
}

/** The kernel command line: the PL011 as console unless --append names one, then --append. */
export function composeCmdline(append: string, extra: string[] = []): string {
  const parts = [];
  if (!/(^|\s)console=/.test(append)) parts.push('console=ttyAMA0');
  parts.push(...extra, append.trim());
  return parts.filter(Boolean).join(' ');
}
