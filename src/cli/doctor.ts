// `nodevisor doctor`: why HVF does or does not work here, and the one fix nodevisor can
// make itself — an ad-hoc signed COPY of node that carries the hypervisor entitlement
// (entitlements come from the main executable's signature, so an addon cannot bring it;
// the user's own node is never re-signed in place). Everything that touches the system goes
// through DoctorHost so the parsing and decisions are unit-tested with injected runners.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, realpathSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ENTITLEMENT, HvfUnavailableError } from '../accel/hvf/errors.ts';
import { resolveHvfAddon } from '../accel/hvf/load.ts';
import type { NativeCapabilities } from '../accel/hvf/native.ts';
import { loadNetdev } from '../net/netdev-native.ts';
import { loadHostfs } from '../host/hostfs-native.ts';

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Spawn failure (command missing, timeout). */
  error?: string;
}

export type CommandRunner = (command: string, args: readonly string[], timeoutMs?: number) => CommandResult;

export interface DoctorHost {
  platform: string;
  arch: string;
  execPath: string;
  nodeVersion: string;
  homeDir: string;
  run: CommandRunner;
  /** Path of the loadable addon, or the reason there is none. */
  findAddon(): { path: string } | { error: string };
  exists(path: string): boolean;
  realpath(path: string): string;
  mkdir(path: string): void;
  copyFile(from: string, to: string): void;
  writeFile(path: string, text: string): void;
  chmod(path: string, mode: number): void;
}

export const defaultRunner: CommandRunner = (command, args, timeoutMs = 20_000) => {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ...(r.error ? { error: r.error.message } : {}) };
};

export function defaultDoctorHost(): DoctorHost {
  return {
    platform: process.platform,
    arch: process.arch,
    execPath: process.execPath,
    nodeVersion: process.version,
    homeDir: homedir(),
    run: defaultRunner,
    findAddon() {
      try {
        return { path: resolveHvfAddon().path };
      } catch (e) {
        return { error: (e as Error).message };
      }
    },
    exists: existsSync,
    realpath: (p) => realpathSync(p),
    mkdir: (p) => mkdirSync(p, { recursive: true }),
    copyFile: copyFileSync,
    writeFile: (p, t) => writeFileSync(p, t),
    chmod: chmodSync,
  };
}

// ---- parsing ---------------------------------------------------------------------------

/**
 * Whether `codesign -d --entitlements - <exe>` output grants the hypervisor entitlement.
 * Handles the XML plist form and the bracketed form macOS 12+ prints by default.
 */
export function parseEntitlements(output: string): { signed: boolean; hypervisor: boolean } {
  if (/code object is not signed at all/i.test(output)) return { signed: false, hypervisor: false };
  const key = ENTITLEMENT.replace(/\./g, '\\.');
  const xml = new RegExp(`<key>\\s*${key}\\s*</key>\\s*<true\\s*/>`).test(output);
  const bracketed = new RegExp(`\\[Key\\]\\s*${key}\\s*\\[Value\\]\\s*\\[Bool\\]\\s*true`).test(output);
  return { signed: true, hypervisor: xml || bracketed };
}

/** `sw_vers -productVersion` -> "15.1"; undefined when not a version. */
export function parseSwVers(output: string): string | undefined {
  const m = /^\s*(\d+(?:\.\d+){0,2})\s*$/m.exec(output);
  return m?.[1];
}

export function macosMajor(version: string | undefined): number | undefined {
  const major = version ? Number.parseInt(version, 10) : NaN;
  return Number.isFinite(major) ? major : undefined;
}

/** `sysctl -n kern.hv_support`: true/false, undefined when the OID does not exist. */
export function parseSysctlFlag(result: CommandResult): boolean | undefined {
  if (result.status !== 0) return undefined;
  const v = result.stdout.trim();
  return v === '1' ? true : v === '0' ? false : undefined;
}

// ---- the VM probe (child process) ------------------------------------------------------

/** Creates and destroys a VM in a child process, so the probe never holds this process's one VM. */
export function probeScript(addonPath: string): string {
  return [
    `const m = require(${JSON.stringify(addonPath)});`,
    'let out;',
    'try { const caps = m.capabilities(); m.vmCreate({}); m.vmDestroy(); out = { ok: true, caps }; }',
    'catch (e) { out = { ok: false, hvName: e.hvName, hvCall: e.hvCall, message: e.message }; }',
    'process.stdout.write(JSON.stringify(out));',
  ].join('\n');
}

export interface VmProbe {
  ok: boolean;
  capabilities?: NativeCapabilities;
  hvName?: string;
  message?: string;
}

export function parseProbe(result: CommandResult): VmProbe {
  if (result.error) return { ok: false, message: `probe did not run: ${result.error}` };
  try {
    const out = JSON.parse(result.stdout) as { ok: boolean; caps?: NativeCapabilities; hvName?: string; message?: string };
    return { ok: out.ok, ...(out.caps ? { capabilities: out.caps } : {}), ...(out.hvName ? { hvName: out.hvName } : {}), ...(out.message ? { message: out.message } : {}) };
  } catch {
    const tail = `${result.stderr}${result.stdout}`.trim().split('\n').slice(-3).join(' ');
    return { ok: false, message: `probe exited with status ${result.status}: ${tail || 'no output'}` };
  }
}

// ---- the report --------------------------------------------------------------------------

export interface HvfReport {
  /** The CLI's verdict: HVF works on darwin-arm64; elsewhere the software CPU is expected. */
  ok: boolean;
  platform: string;
  /** HVF will be used (addon loads and hv_vm_create works). */
  hvfUsable: boolean;
  /** Why not, in one sentence each; empty when usable. */
  problems: string[];
  macosVersion?: string;
  hvSupport?: boolean;
  addon?: { path?: string; error?: string };
  entitlement?: { executable: string; signed: boolean; hypervisor: boolean };
  /** The entitled copy of node the CLI re-executes under, when the running node lacks the entitlement. */
  entitledCopy?: string;
  vmCreate?: VmProbe;
  maxIpaBits?: number;
  maxVcpus?: number;
  inKernelGic?: boolean;
  /** What nodevisor will run guests on. */
  backend: 'hvf' | 'emu';
  /** Suggested next steps. */
  advice: string[];
}

export function gatherHvfReport(host: DoctorHost = defaultDoctorHost(), env: Record<string, string | undefined> = process.env): HvfReport {
  const platform = `${host.platform}-${host.arch}`;
  if (host.platform !== 'darwin' || host.arch !== 'arm64') {
    const why = new HvfUnavailableError(platform, 'Hypervisor.framework exists only on macOS on Apple Silicon', []).message;
    return {
      ok: true,
      platform,
      hvfUsable: false,
      problems: [why.replace(/ No addon paths were tried\.$/, '')],
      backend: 'emu',
      advice: ['nodevisor runs guests on its software AArch64 CPU here (slower than HVF, same devices and guests).'],
    };
  }
  const report: HvfReport = { ok: false, platform, hvfUsable: false, problems: [], backend: 'emu', advice: [] };
  report.macosVersion = parseSwVers(host.run('sw_vers', ['-productVersion']).stdout);
  report.hvSupport = parseSysctlFlag(host.run('sysctl', ['-n', 'kern.hv_support']));
  const codesign = host.run('codesign', ['-d', '--entitlements', '-', host.execPath]);
  const ent = parseEntitlements(`${codesign.stdout}\n${codesign.stderr}`);
  report.entitlement = { executable: host.execPath, ...ent };
  // Probe with the node the CLI will really run guests under (the entitled copy, if any).
  const choice = ent.hypervisor ? undefined : selectNodeForHvf(host, env);
  if (choice?.reexec) report.entitledCopy = choice.execPath;
  const probeNode = report.entitledCopy ?? host.execPath;

  const addon = host.findAddon();
  report.addon = 'path' in addon ? { path: addon.path } : { error: addon.error };
  if ('path' in addon) {
    const probe = parseProbe(host.run(probeNode, ['-e', probeScript(addon.path)], 30_000));
    report.vmCreate = probe;
    if (probe.capabilities) {
      report.maxIpaBits = probe.capabilities.maxIpaBits;
      report.maxVcpus = probe.capabilities.maxVcpus;
      report.inKernelGic = probe.capabilities.inKernelGic && (macosMajor(report.macosVersion) ?? 0) >= 15;
    }
  }

  if (report.hvSupport === false || report.hvSupport === undefined) {
    report.problems.push(
      report.hvSupport === false
        ? 'kern.hv_support is 0: this Mac offers no hardware virtualization.'
        : 'sysctl kern.hv_support does not exist: this is probably a macOS virtual machine (e.g. a GitHub-hosted runner), where Hypervisor.framework is unavailable.',
    );
  }
  if (!ent.hypervisor && !report.entitledCopy) {
    report.problems.push(`${host.execPath} is ${ent.signed ? 'signed without' : 'not signed with'} the ${ENTITLEMENT} entitlement.`);
    report.advice.push('Run `nodevisor doctor --sign` to create an entitled copy of node (your own node stays untouched); nodevisor re-executes under it.');
  }
  if (report.addon.error) {
    report.problems.push(`The HVF addon does not load: ${report.addon.error}`);
    report.advice.push('Rebuild it with `npx node-gyp rebuild` in the nodevisor package (needs the Xcode command line tools).');
  }
  if (report.vmCreate && !report.vmCreate.ok) {
    report.problems.push(`hv_vm_create failed${report.vmCreate.hvName ? ` with ${report.vmCreate.hvName}` : ''}: ${report.vmCreate.message ?? 'unknown error'}`);
  }
  report.hvfUsable = !!report.vmCreate?.ok;
  report.ok = report.hvfUsable;
  report.backend = report.hvfUsable ? 'hvf' : 'emu';
  if (!report.hvfUsable) report.advice.push('Until then nodevisor uses its software AArch64 CPU.');
  return report;
}

export function formatHvfReport(r: HvfReport): string {
  const yes = (b: boolean | undefined) => (b === undefined ? 'unknown' : b ? 'yes' : 'no');
  const lines = [`platform:            ${r.platform}`];
  if (r.macosVersion !== undefined || r.platform.startsWith('darwin')) {
    lines.push(`macOS:               ${r.macosVersion ?? 'unknown'}`);
    lines.push(`kern.hv_support:     ${yes(r.hvSupport)}`);
  }
  if (r.entitlement) lines.push(`entitlement:         ${r.entitlement.hypervisor ? 'present' : 'missing'} (${r.entitlement.executable})`);
  if (r.entitledCopy) lines.push(`entitled copy:       ${r.entitledCopy} (nodevisor runs guests under it)`);
  if (r.addon) lines.push(`addon:               ${r.addon.path ?? `not loadable`}`);
  if (r.vmCreate) lines.push(`hv_vm_create:        ${r.vmCreate.ok ? 'works' : `fails${r.vmCreate.hvName ? ` (${r.vmCreate.hvName})` : ''}`}`);
  if (r.maxIpaBits !== undefined) lines.push(`max IPA size:        ${r.maxIpaBits} bits`);
  if (r.maxVcpus !== undefined) lines.push(`max vCPUs:           ${r.maxVcpus}`);
  if (r.inKernelGic !== undefined) lines.push(`in-kernel GICv3:     ${yes(r.inKernelGic)}`);
  lines.push(`backend:             ${r.backend === 'hvf' ? 'Hypervisor.framework' : 'software AArch64 CPU'}`);
  for (const p of r.problems) lines.push(`problem: ${p}`);
  for (const a of r.advice) lines.push(`advice:  ${a}`);
  return lines.join('\n');
}

// ---- the entitled copy of node -----------------------------------------------------------

export const ENTITLEMENT_PLIST = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>${ENTITLEMENT}</key>
  <true/>
</dict>
</plist>
`;

/** Per-user, per-Node-version home of the entitled copy. */
export function entitledNodeDir(homeDir: string, nodeVersion: string): string {
  return join(homeDir, 'Library', 'Application Support', 'nodevisor', `node-${nodeVersion}-hv`);
}

export function entitledNodePath(homeDir: string, nodeVersion: string): string {
  return join(entitledNodeDir(homeDir, nodeVersion), 'node');
}

export class DoctorError extends Error {
  override readonly name = 'DoctorError';
}

/**
 * Copies the running node into the per-user directory and ad-hoc signs the copy with the
 * hypervisor entitlement; verifies the result. Returns the copy's path.
 */
export function createEntitledNode(host: DoctorHost = defaultDoctorHost()): string {
  if (host.platform !== 'darwin') throw new DoctorError(`code signing applies to macOS only (this is ${host.platform})`);
  const dir = entitledNodeDir(host.homeDir, host.nodeVersion);
  const copy = join(dir, 'node');
  const plist = join(dir, 'hypervisor.entitlements');
  const source = host.realpath(host.execPath);
  if (host.exists(copy) && host.realpath(copy) === source) {
    throw new DoctorError(`refusing to re-sign ${source} in place`);
  }
  host.mkdir(dir);
  host.copyFile(source, copy);
  host.chmod(copy, 0o755);
  host.writeFile(plist, ENTITLEMENT_PLIST);
  const sign = host.run('codesign', ['--force', '--sign', '-', '--entitlements', plist, copy]);
  if (sign.status !== 0) {
    throw new DoctorError(`codesign failed (status ${sign.status}): ${(sign.error ?? sign.stderr).trim()}`);
  }
  const check = host.run('codesign', ['-d', '--entitlements', '-', copy]);
  if (!parseEntitlements(`${check.stdout}\n${check.stderr}`).hypervisor) {
    throw new DoctorError(`the signed copy ${copy} does not show the ${ENTITLEMENT} entitlement`);
  }
  return copy;
}

export interface NodeChoice {
  /** The node binary to run nodevisor under. */
  execPath: string;
  /** true when that is not the current process: the CLI should re-exec. */
  reexec: boolean;
  reason: string;
}

/** Which node the CLI should (re-)execute under to use HVF. */
export function selectNodeForHvf(host: DoctorHost = defaultDoctorHost(), env: Record<string, string | undefined> = process.env): NodeChoice {
  const current = host.execPath;
  if (host.platform !== 'darwin' || host.arch !== 'arm64') {
    return { execPath: current, reexec: false, reason: 'no Hypervisor.framework here; the software CPU needs no entitlement' };
  }
  if (env.NODEVISOR_NO_REEXEC === '1') return { execPath: current, reexec: false, reason: 'NODEVISOR_NO_REEXEC=1' };
  const own = host.run('codesign', ['-d', '--entitlements', '-', current]);
  if (parseEntitlements(`${own.stdout}\n${own.stderr}`).hypervisor) {
    return { execPath: current, reexec: false, reason: `${current} has the ${ENTITLEMENT} entitlement` };
  }
  const copy = entitledNodePath(host.homeDir, host.nodeVersion);
  if (host.exists(copy)) {
    const check = host.run('codesign', ['-d', '--entitlements', '-', copy]);
    if (parseEntitlements(`${check.stdout}\n${check.stderr}`).hypervisor) {
      return { execPath: copy, reexec: true, reason: `re-executing under the entitled copy ${copy}` };
    }
    return { execPath: current, reexec: false, reason: `${copy} exists but lacks the entitlement; run \`nodevisor doctor --sign\` again` };
  }
  return { execPath: current, reexec: false, reason: `${current} lacks the ${ENTITLEMENT} entitlement and no entitled copy exists; run \`nodevisor doctor --sign\`` };
}

export interface ReexecOptions {
  argv?: readonly string[];
  execArgv?: readonly string[];
  env?: Record<string, string | undefined>;
  /** Runs the child with inherited stdio and returns its exit status (default: spawnSync). */
  spawn?: (execPath: string, args: readonly string[], env: Record<string, string | undefined>) => number;
}

/**
 * Re-runs this CLI invocation under the entitled copy of node when selectNodeForHvf says
 * so, and returns the child's exit status; undefined when the current process should carry
 * on itself. The child gets NODEVISOR_NO_REEXEC=1, so it never re-executes again. Called
 * at CLI start-up before a command that may use HVF (run, boot).
 */
export function reexecUnderEntitledNode(host: DoctorHost = defaultDoctorHost(), opts: ReexecOptions = {}): number | undefined {
  const env = opts.env ?? process.env;
  const choice = selectNodeForHvf(host, env);
  if (!choice.reexec) return undefined;
  const args = [...(opts.execArgv ?? process.execArgv), ...(opts.argv ?? process.argv).slice(1)];
  const childEnv = { ...env, NODEVISOR_NO_REEXEC: '1' };
  const spawn =
    opts.spawn ??
    ((execPath: string, a: readonly string[], e: Record<string, string | undefined>) => {
      const r = spawnSync(execPath, a, { stdio: 'inherit', env: e as NodeJS.ProcessEnv });
      if (r.error) throw new DoctorError(`cannot run the entitled node ${execPath}: ${r.error.message}`);
      return r.status ?? 1;
    });
  return spawn(choice.execPath, args, childEnv);
}

// ---- the optional native addons (Linux and macOS) ------------------------------------------

export interface AddonStatus {
  loaded: boolean;
  /** The loader's reason (every path it tried) when not loaded. */
  error?: string;
  /** What is missing without it. */
  without?: string;
}

export interface AddonsReport {
  netdev: AddonStatus;
  hostfs: AddonStatus;
}

/** Each addon's loader; it throws (naming the paths it tried) when the addon cannot be loaded. */
export interface AddonLoaders {
  netdev: () => unknown;
  hostfs: () => unknown;
}

const defaultLoaders: AddonLoaders = { netdev: () => loadNetdev(), hostfs: () => loadHostfs() };

const WITHOUT: Record<keyof AddonsReport, string> = {
  netdev: '--net tap and --net socket,type=dgram are unavailable',
  hostfs: 'virtio-fs shares have no xattrs and no protection against host processes racing them, and virtio-blk DISCARD frees no space',
};

export function gatherAddonReport(loaders: AddonLoaders = defaultLoaders): AddonsReport {
  const status = (name: keyof AddonsReport): AddonStatus => {
    try {
      loaders[name]();
      return { loaded: true };
    } catch (e) {
      return { loaded: false, error: (e as Error).message, without: WITHOUT[name] };
    }
  };
  return { netdev: status('netdev'), hostfs: status('hostfs') };
}

export function formatAddonReport(r: AddonsReport): string {
  const line = (label: string, s: AddonStatus): string => `${label.padEnd(21)}${s.loaded ? 'loaded' : `not loaded (${s.without}): ${s.error}`}`;
  return [line('netdev addon:', r.netdev), line('hostfs addon:', r.hostfs)].join('\n');
}

// ---- the names src/cli/commands/doctor.ts wires -------------------------------------------

export type DoctorReport = HvfReport & { addons: AddonsReport };

export const gatherDoctorReport = (): DoctorReport => ({ ...gatherHvfReport(), addons: gatherAddonReport() });
export const formatDoctorReport = (report: unknown): string => {
  const r = report as Partial<DoctorReport> & HvfReport;
  const lines = formatHvfReport(r).split('\n');
  if (!r.addons) return lines.join('\n');
  const at = lines.findIndex((l) => l.startsWith('backend:')) + 1; // before the problems and advice
  lines.splice(at, 0, formatAddonReport(r.addons));
  return lines.join('\n');
};
export const createSignedNode = (): string => createEntitledNode();
