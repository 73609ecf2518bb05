// The default guest's cache: $NODEVISOR_CACHE, else $XDG_CACHE_HOME/nodevisor/guest, else
// ~/.cache/nodevisor/guest. It holds Image, initramfs.cpio.gz, manifest.json and the
// downloaded .deb files (debs/).
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GuestBuildError } from './errors.ts';

export const MANIFEST_FILE = 'manifest.json';
export const KERNEL_FILE = 'Image';
export const INITRD_FILE = 'initramfs.cpio.gz';
export const MANIFEST_VERSION = 1;

export interface ManifestOutput {
  file: string;
  size: number;
  sha256: string;
}

export interface GuestManifest {
  manifestVersion: number;
  builtAt: string;
  source: string;
  kernelRelease: string;
  packages: { name: string; version: string; sha256: string }[];
  modules: string[];
  kernel: ManifestOutput;
  initrd: ManifestOutput;
}

export function guestCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NODEVISOR_CACHE) return env.NODEVISOR_CACHE;
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(homedir(), '.cache'), 'nodevisor', 'guest');
}

export function readManifest(dir: string): GuestManifest | undefined {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return undefined;
  let m: GuestManifest;
  try {
    m = JSON.parse(readFileSync(path, 'utf8')) as GuestManifest;
  } catch (e) {
    throw new GuestBuildError(`corrupt guest manifest ${path}: ${(e as Error).message}; run nodevisor guest clean`);
  }
  if (m.manifestVersion !== MANIFEST_VERSION) return undefined;
  return m;
}

export interface DefaultGuest {
  kernel: string;
  initrd: string;
  manifest: GuestManifest;
}

/** The built default guest, or undefined when there is none (or its files are gone). */
export function findDefaultGuest(dir = guestCacheDir()): DefaultGuest | undefined {
  const manifest = readManifest(dir);
  if (!manifest) return undefined;
  const kernel = join(dir, manifest.kernel.file);
  const initrd = join(dir, manifest.initrd.file);
  if (!existsSync(kernel) || !existsSync(initrd)) return undefined;
  return { kernel, initrd, manifest };
}

export function cleanGuestCache(dir = guestCacheDir()): boolean {
  if (!existsSync(dir)) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}
