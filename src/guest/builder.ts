// `nodevisor guest build`: Debian's arm64 kernel and busybox-static -> Image + initramfs
// in the guest cache, with a manifest of versions and output hashes.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { extractDeb, readModuleFile } from './deb.ts';
import { GuestBuildError } from './errors.ts';
import { buildInitramfs, type InitramfsModule } from './initramfs.ts';
import {
  GUEST_MODULES,
  graphFromModinfo,
  parseModulesBuiltin,
  parseModulesDep,
  resolveLoadOrder,
  type ModuleGraph,
} from './modules.ts';
import { kernelReleaseOf } from './packages-index.ts';
import type { Progress } from './progress.ts';
import { fetchGuestDebs } from './sources.ts';
import {
  INITRD_FILE,
  KERNEL_FILE,
  MANIFEST_FILE,
  MANIFEST_VERSION,
  guestCacheDir,
  type GuestManifest,
  type ManifestOutput,
} from './cache.ts';

export interface BuildOptions {
  cacheDir?: string;
  /** Use the .deb files in this folder instead of downloading. */
  debsDir?: string;
  mirror?: string;
  suite?: string;
  progress?: Progress;
  notice?: (message: string) => void;
}

/** arm64 Image header: "ARM\x64" at offset 0x38 (Documentation/arch/arm64/booting.rst). */
const ARM64_IMAGE_MAGIC = 0x644d5241;

export function isArm64Image(data: Uint8Array): boolean {
  return data.length >= 64 && Buffer.from(data.buffer, data.byteOffset, 64).readUInt32LE(0x38) === ARM64_IMAGE_MAGIC;
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function firstExisting(paths: string[]): string | undefined {
  return paths.find((p) => existsSync(p));
}

function writeAtomic(dir: string, file: string, data: Uint8Array): ManifestOutput {
  const path = join(dir, file);
  writeFileSync(`${path}.part`, data);
  renameSync(`${path}.part`, path);
  return { file, size: data.length, sha256: sha256(data) };
}

/** Chooses and reads the modules the guest loads; exported for tests on extracted trees. */
export function collectModules(modulesDir: string): InitramfsModule[] {
  const all = (readdirSync(modulesDir, { recursive: true }) as string[]).filter((p) => /\.ko(\.(xz|zst|gz))?$/.test(p)).map((p) => p.split('\\').join('/'));
  const read = (rel: string): Uint8Array => readModuleFile(join(modulesDir, rel), (b) => gunzipSync(b));
  const depFile = join(modulesDir, 'modules.dep');
  const graph: ModuleGraph = existsSync(depFile) ? parseModulesDep(readFileSync(depFile, 'utf8')) : graphFromModinfo(all, read, GUEST_MODULES);
  const builtinFile = join(modulesDir, 'modules.builtin');
  const builtin = existsSync(builtinFile) ? parseModulesBuiltin(readFileSync(builtinFile, 'utf8')) : new Set<string>();
  const order = resolveLoadOrder(GUEST_MODULES, graph, builtin);
  return order.map((name) => {
    const rel = graph.paths.get(name)!;
    return { relPath: rel.replace(/\.(xz|zst|gz)$/, ''), data: read(rel) };
  });
}

export async function buildDefaultGuest(opts: BuildOptions = {}): Promise<GuestManifest> {
  const cacheDir = opts.cacheDir ?? guestCacheDir();
  const progress = opts.progress;

  progress?.step('fetching Debian packages');
  const debs = await fetchGuestDebs({
    downloadDir: join(cacheDir, 'debs'),
    debsDir: opts.debsDir,
    mirror: opts.mirror,
    suite: opts.suite,
    notice: opts.notice,
    onDownload: (name, done, total) => {
      progress?.step(`downloading ${name}`);
      progress?.update(done, total);
    },
  });

  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, 'work-'));
  try {
    progress?.step(`unpacking ${debs.kernel.name}`);
    extractDeb(debs.kernel.path, join(work, 'kernel'));
    progress?.step(`unpacking ${debs.busybox.name}`);
    extractDeb(debs.busybox.path, join(work, 'busybox'));

    const release = kernelReleaseOf(debs.kernel.name);
    const imagePath = firstExisting([join(work, 'kernel', 'boot', `vmlinuz-${release}`), join(work, 'kernel', 'boot', `Image-${release}`)]);
    if (!imagePath) throw new GuestBuildError(`${debs.kernel.name} has no /boot/vmlinuz-${release}`);
    let image: Uint8Array = readFileSync(imagePath);
    if (image[0] === 0x1f && image[1] === 0x8b) image = gunzipSync(image);
    if (!isArm64Image(image)) throw new GuestBuildError(`${imagePath} is not an arm64 Image (no ARM\\x64 magic)`);

    const modulesDir = firstExisting([join(work, 'kernel', 'lib', 'modules', release), join(work, 'kernel', 'usr', 'lib', 'modules', release)]);
    if (!modulesDir) throw new GuestBuildError(`${debs.kernel.name} has no modules for ${release}`);
    progress?.step('resolving kernel modules');
    const modules = collectModules(modulesDir);

    const busyboxPath = firstExisting([join(work, 'busybox', 'bin', 'busybox'), join(work, 'busybox', 'usr', 'bin', 'busybox')]);
    if (!busyboxPath) throw new GuestBuildError(`${debs.busybox.name} has no busybox binary`);

    progress?.step('writing the initramfs');
    const initrd = buildInitramfs({ busybox: readFileSync(busyboxPath), kernelRelease: release, modules });
    const manifest: GuestManifest = {
      manifestVersion: MANIFEST_VERSION,
      builtAt: new Date().toISOString(),
      source: debs.source,
      kernelRelease: release,
      packages: [debs.kernel, debs.busybox].map((d) => ({ name: d.name, version: d.version, sha256: d.sha256 })),
      modules: modules.map((m) => m.relPath),
      kernel: writeAtomic(cacheDir, KERNEL_FILE, image),
      initrd: writeAtomic(cacheDir, INITRD_FILE, initrd),
    };
    writeAtomic(cacheDir, MANIFEST_FILE, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
    return manifest;
  } finally {
    rmSync(work, { recursive: true, force: true });
    progress?.done();
  }
}
