// Finding and checking one of nodevisor's own small native addons (native/<dir>/, built by
// scripts/install.cjs into its own build/ folder): the candidate paths in order, and a load
// that checks the module's shape and ABI version and, when nothing loads, names every path
// tried and why. The netdev and hostfs loaders are this with their own names and checks.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../accel/hvf/load.ts';

export interface AddonLoadOptions {
  platform?: string;
  /** The package root (default: this package's). */
  root?: string;
  env?: Record<string, string | undefined>;
  load?: (path: string) => unknown;
  exists?: (path: string) => boolean;
}

export interface AddonSpec<T extends { abiVersion: number }> {
  /** The .node file's base name, e.g. nodevisor_netdev. */
  name: string;
  /** Its folder under native/. */
  dir: string;
  /** Environment variable naming a file to try first. */
  envVar: string;
  abiVersion: number;
  isAddon(m: unknown): m is T;
  /** The error thrown when nothing loads, given each path tried and why. */
  unavailable(tried: string[]): Error;
}

/** The override variable's file, then native/<dir>'s own build (Release, Debug), then the package build/. */
export function addonCandidatePaths(spec: Pick<AddonSpec<never>, 'name' | 'dir' | 'envVar'>, root: string, env: Record<string, string | undefined> = process.env): string[] {
  const override = env[spec.envVar];
  const file = `${spec.name}.node`;
  return [
    ...(override ? [override] : []),
    join(root, 'native', spec.dir, 'build', 'Release', file),
    join(root, 'native', spec.dir, 'build', 'Debug', file),
    join(root, 'build', 'Release', file),
  ];
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ');

/** Loads the first candidate that is this addon at this ABI, or throws spec.unavailable(reasons). */
export function loadAddon<T extends { abiVersion: number }>(spec: AddonSpec<T>, opts: AddonLoadOptions = {}): T {
  const platform = opts.platform ?? process.platform;
  const paths = addonCandidatePaths(spec, opts.root ?? packageRoot(), opts.env ?? process.env);
  if (platform !== 'linux' && platform !== 'darwin') throw spec.unavailable([`nothing: the addon is built only on Linux and macOS, not ${platform}`]);
  const exists = opts.exists ?? existsSync;
  const load = opts.load ?? createRequire(import.meta.url);
  const failures: string[] = [];
  for (const path of paths) {
    if (!exists(path)) {
      failures.push(`${path} (missing)`);
      continue;
    }
    let mod: unknown;
    try {
      mod = load(path);
    } catch (e) {
      failures.push(`${path} (${oneLine((e as Error).message)})`);
      continue;
    }
    if (!spec.isAddon(mod)) {
      failures.push(`${path} (not the ${spec.name} addon)`);
      continue;
    }
    if (mod.abiVersion !== spec.abiVersion) {
      failures.push(`${path} (addon ABI ${mod.abiVersion}, expected ${spec.abiVersion}: rebuild it)`);
      continue;
    }
    return mod;
  }
  throw spec.unavailable(failures);
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The symbolic name of an errno on this platform (ENOENT...), or `errno N`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}
