// Finding and checking one of nodevisor's own small native addons (native/<dir>/, built by
// scripts/install.cjs into its own build/ folder): the candidate paths in order, and a load
// that checks the module's shape and ABI version and, when nothing loads, names every path
// tried and why. The netdev and hostfs loaders are this with their own names and checks.
import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: the nearest ancestor with nodevisor's package.json (works from src/ and dist/). */
export function packageRoot(start: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'nodevisor') return dir;
      } catch {
        // unreadable manifest: keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return start;
    dir = parent;
  }
}

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

/**
 * Tries `paths` in order and returns the first module that is the named addon at `abiVersion`,
 * or every path with why it was passed over (missing, failed to load, not the addon, other ABI).
 * A path ending in `*.node` is a pattern nothing matched: missing.
 */
export function probeAddonPaths<T extends { abiVersion: number }>(
  paths: string[],
  want: { name: string; abiVersion: number; isAddon(m: unknown): m is T },
  exists: (path: string) => boolean,
  load: (path: string) => unknown,
): { path: string; mod: T } | { failures: string[] } {
  const failures: string[] = [];
  for (const path of paths) {
    if (path.endsWith('*.node') || !exists(path)) {
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
    if (!want.isAddon(mod)) {
      failures.push(`${path} (not the ${want.name} addon)`);
      continue;
    }
    if (mod.abiVersion !== want.abiVersion) {
      failures.push(`${path} (addon ABI ${mod.abiVersion}, expected ${want.abiVersion}: rebuild it)`);
      continue;
    }
    return { path, mod };
  }
  return { failures };
}

/** Loads the first candidate that is this addon at this ABI, or throws spec.unavailable(reasons). */
export function loadAddon<T extends { abiVersion: number }>(spec: AddonSpec<T>, opts: AddonLoadOptions = {}): T {
  const platform = opts.platform ?? process.platform;
  const paths = addonCandidatePaths(spec, opts.root ?? packageRoot(), opts.env ?? process.env);
  if (platform !== 'linux' && platform !== 'darwin') throw spec.unavailable([`nothing: the addon is built only on Linux and macOS, not ${platform}`]);
  const found = probeAddonPaths(paths, spec, opts.exists ?? existsSync, opts.load ?? createRequire(import.meta.url));
  if ('failures' in found) throw spec.unavailable(found.failures);
  return found.mod;
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The symbolic name of an errno on this platform (ENOENT...), or `errno N`. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}
