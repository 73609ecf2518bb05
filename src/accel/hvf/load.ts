// Finds and loads the nodevisor_hvf addon, lazily: nothing native is touched until the HVF
// backend is asked for. Lookup follows node-gyp-build: a local build first
// (build/Release, build/Debug), then prebuilds/<platform>-<arch>/*.node (prebuildify
// --napi output; N-API binaries need no ABI tag). NODEVISOR_HVF_ADDON overrides the list.
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { HvfUnavailableError } from './errors.ts';
import { packageRoot, probeAddonPaths } from '../../host/native-addon.ts';

export { packageRoot };
import { NATIVE_ABI_VERSION, type NativeHvf } from './native.ts';

export const ADDON_NAME = 'nodevisor_hvf';

export interface LoadOptions {
  platform?: string;
  arch?: string;
  /** Directory holding build/ and prebuilds/ (default: this package's root). */
  root?: string;
  env?: Record<string, string | undefined>;
  /** Loads one .node file (default: createRequire). */
  load?: (path: string) => unknown;
  exists?: (path: string) => boolean;
  list?: (dir: string) => string[];
}


/** Every path the loader looks at, in order. */
export function candidatePaths(root: string, platform: string, arch: string, opts: Pick<LoadOptions, 'env' | 'list'> = {}): string[] {
  const override = (opts.env ?? process.env).NODEVISOR_HVF_ADDON;
  const paths = override ? [override] : [];
  paths.push(join(root, 'build', 'Release', `${ADDON_NAME}.node`), join(root, 'build', 'Debug', `${ADDON_NAME}.node`));
  const prebuildDir = join(root, 'prebuilds', `${platform}-${arch}`);
  const list = opts.list ?? ((dir: string) => (existsSync(dir) ? readdirSync(dir) : []));
  const prebuilt = list(prebuildDir)
    .filter((f) => f.endsWith('.node'))
    // prefer N-API builds, as node-gyp-build does
    .sort((a, b) => Number(b.includes('napi')) - Number(a.includes('napi')) || a.localeCompare(b));
  if (prebuilt.length === 0) paths.push(join(prebuildDir, '*.node'));
  for (const f of prebuilt) paths.push(join(prebuildDir, f));
  return paths;
}

function isNativeHvf(m: unknown): m is NativeHvf {
  const x = m as Partial<NativeHvf> | null;
  return !!x && typeof x.createVcpu === 'function' && typeof x.vmCreate === 'function' && typeof x.abiVersion === 'number';
}

let cached: NativeHvf | undefined;

/** Loads the addon or throws HvfUnavailableError naming the platform, why, and every path tried. */
export function loadHvfNative(opts: LoadOptions = {}): NativeHvf {
  const usingDefaults = Object.keys(opts).length === 0;
  if (usingDefaults && cached) return cached;
  const { native } = resolveHvfAddon(opts);
  if (usingDefaults) cached = native;
  return native;
}

/** As loadHvfNative, also saying which file was loaded (for `nodevisor doctor`). */
export function resolveHvfAddon(opts: LoadOptions = {}): { path: string; native: NativeHvf } {
  const platform = opts.platform ?? process.platform;
  const arch = opts.arch ?? process.arch;
  const root = opts.root ?? packageRoot();
  const paths = candidatePaths(root, platform, arch, opts);
  if (platform !== 'darwin' || arch !== 'arm64') {
    throw new HvfUnavailableError(
      `${platform}-${arch}`,
      'Hypervisor.framework exists only on macOS on Apple Silicon (darwin-arm64), so the addon is not built here; the software CPU is used instead',
      paths,
    );
  }
  const found = probeAddonPaths(paths, { name: 'nodevisor_hvf', abiVersion: NATIVE_ABI_VERSION, isAddon: isNativeHvf }, opts.exists ?? existsSync, opts.load ?? createRequire(import.meta.url));
  if ('mod' in found) return { path: found.path, native: found.mod };
  throw new HvfUnavailableError(
    `${platform}-${arch}`,
    'no loadable nodevisor_hvf addon was found; build it with `npx node-gyp rebuild` (needs Xcode command line tools) or reinstall to get the prebuilt binary',
    found.failures,
  );
}
