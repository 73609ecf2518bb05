// Where the default guest's Debian packages come from, in order of preference:
//   dir     --debs DIR: .deb files already on disk (offline builds, tests)
//   mirror  --mirror URL or NODEVISOR_DEBIAN_MIRROR: the suite's Packages index for arm64,
//           each .deb checked against the index's SHA256 and Size
//   apt     Debian/Ubuntu hosts with arm64 as a foreign architecture: `apt-get download`
//           (apt checks the hashes); as root, `dpkg --add-architecture arm64` is done if needed
// Packages: linux-image-arm64 (a metapackage) names the versioned kernel package
// (linux-image-6.1.0-NN-arm64), which holds the Image and modules; busybox-static.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { GuestBuildError } from './errors.ts';
import { compareVersions, findPackage, kernelPackageOf, parseStanzas, type Stanza } from './packages-index.ts';

export const KERNEL_META_PACKAGE = 'linux-image-arm64';
export const BUSYBOX_PACKAGE = 'busybox-static';
export const DEFAULT_SUITE = 'bookworm';

export interface FetchedDeb {
  name: string;
  version: string;
  path: string;
  sha256: string;
}

export interface FetchedDebs {
  source: 'dir' | 'mirror' | 'apt';
  kernel: FetchedDeb;
  busybox: FetchedDeb;
}

export interface FetchOptions {
  /** Where downloaded .deb files go. */
  downloadDir: string;
  debsDir?: string;
  mirror?: string;
  suite?: string;
  /** Progress of one download: bytes so far, total if known. */
  onDownload?: (name: string, done: number, total: number | undefined) => void;
  notice?: (message: string) => void;
}

export async function fetchGuestDebs(opts: FetchOptions): Promise<FetchedDebs> {
  if (opts.debsDir) return fromDirectory(opts.debsDir);
  const mirror = opts.mirror ?? process.env.NODEVISOR_DEBIAN_MIRROR;
  if (mirror) return fromMirror(mirror, opts);
  const apt = aptUsable(opts.notice);
  if (apt !== true) {
    throw new GuestBuildError(`cannot fetch the Debian arm64 packages: ${apt}; give --mirror URL (or NODEVISOR_DEBIAN_MIRROR) or --debs DIR`);
  }
  return fromApt(opts.downloadDir);
}

/** "busybox-static_1%3a1.35.0-4_arm64.deb" -> { name, version: "1:1.35.0-4", arch }. */
export function parseDebFileName(file: string): { name: string; version: string; arch: string } | undefined {
  const m = /^([^_/]+)_([^_]+)_([^_]+)\.deb$/.exec(file);
  return m ? { name: m[1], version: decodeURIComponent(m[2]), arch: m[3] } : undefined;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function pickNewest(dir: string, test: (name: string) => boolean): FetchedDeb | undefined {
  const found = readdirSync(dir)
    .map((f) => ({ f, p: parseDebFileName(f) }))
    .filter((x) => x.p && x.p.arch === 'arm64' && test(x.p.name))
    .sort((a, b) => compareVersions(b.p!.version, a.p!.version) || b.p!.name.localeCompare(a.p!.name, 'en', { numeric: true }));
  const best = found[0];
  if (!best) return undefined;
  const path = join(dir, best.f);
  return { name: best.p!.name, version: best.p!.version, path, sha256: sha256File(path) };
}

const isKernelImagePackage = (n: string): boolean => /^linux-image-\d.*-arm64(-unsigned)?$/.test(n);

function fromDirectory(dir: string): FetchedDebs {
  let kernel: FetchedDeb | undefined;
  let busybox: FetchedDeb | undefined;
  try {
    kernel = pickNewest(dir, isKernelImagePackage);
    busybox = pickNewest(dir, (n) => n === BUSYBOX_PACKAGE);
  } catch (e) {
    throw new GuestBuildError(`cannot read ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!kernel) throw new GuestBuildError(`${dir} holds no linux-image-*-arm64_*_arm64.deb`);
  if (!busybox) throw new GuestBuildError(`${dir} holds no ${BUSYBOX_PACKAGE}_*_arm64.deb`);
  return { source: 'dir', kernel, busybox };
}

async function download(url: string, name: string, opts: FetchOptions): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new GuestBuildError(`cannot download ${url}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new GuestBuildError(`cannot download ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('content-length')) || undefined;
  const chunks: Uint8Array[] = [];
  let done = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    done += chunk.length;
    opts.onDownload?.(name, done, total);
  }
  return Buffer.concat(chunks);
}

async function fromMirror(mirror: string, opts: FetchOptions): Promise<FetchedDebs> {
  const base = mirror.replace(/\/+$/, '');
  const suite = opts.suite ?? DEFAULT_SUITE;
  const indexGz = await download(`${base}/dists/${suite}/main/binary-arm64/Packages.gz`, 'Packages.gz', opts);
  let stanzas: Stanza[];
  try {
    stanzas = parseStanzas(gunzipSync(indexGz).toString('utf8'));
  } catch (e) {
    throw new GuestBuildError(`bad Packages index from ${base}: ${(e as Error).message}`);
  }
  const meta = findPackage(stanzas, KERNEL_META_PACKAGE);
  if (!meta) throw new GuestBuildError(`${KERNEL_META_PACKAGE} is not in ${suite}/main for arm64 at ${base}`);
  const kernelName = kernelPackageOf(meta).name;
  const fetchOne = async (name: string): Promise<FetchedDeb> => {
    const st = findPackage(stanzas, name);
    const file = st?.get('Filename');
    const sha = st?.get('SHA256');
    if (!st || !file || !sha) throw new GuestBuildError(`${name} (arm64) is not in the index at ${base}`);
    const data = await download(`${base}/${file}`, name, opts);
    const got = createHash('sha256').update(data).digest('hex');
    if (got !== sha.toLowerCase()) throw new GuestBuildError(`${name}: SHA256 mismatch (index ${sha}, downloaded ${got})`);
    const size = Number(st.get('Size'));
    if (size && size !== data.length) throw new GuestBuildError(`${name}: size mismatch (index ${size}, downloaded ${data.length})`);
    mkdirSync(opts.downloadDir, { recursive: true });
    const path = join(opts.downloadDir, file.slice(file.lastIndexOf('/') + 1));
    writeFileSync(`${path}.part`, data);
    renameSync(`${path}.part`, path);
    return { name, version: st.get('Version') ?? '', path, sha256: got };
  };
  return { source: 'mirror', kernel: await fetchOne(kernelName), busybox: await fetchOne(BUSYBOX_PACKAGE) };
}

function sh(cmd: string, args: string[], cwd?: string): { ok: boolean; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { ok: !r.error && r.status === 0, out: r.stdout ?? '', err: (r.stderr ?? '').trim() };
}

/** true, or why apt cannot be used. */
function aptUsable(notice?: (m: string) => void): true | string {
  if (!sh('apt-get', ['--version']).ok) return 'this host has no apt-get';
  const foreign = sh('dpkg', ['--print-foreign-architectures']).out.split('\n');
  if (!foreign.includes('arm64')) {
    if (process.getuid?.() !== 0) return "arm64 is not a dpkg architecture here (run 'dpkg --add-architecture arm64 && apt-get update' as root)";
    notice?.('adding arm64 as a dpkg architecture and updating the package lists');
    if (!sh('dpkg', ['--add-architecture', 'arm64']).ok) return 'dpkg --add-architecture arm64 failed';
    const up = sh('apt-get', ['update', '-qq']);
    if (!up.ok) return `apt-get update failed: ${up.err.split('\n')[0]}`;
  }
  const show = sh('apt-cache', ['show', '--no-all-versions', `${KERNEL_META_PACKAGE}:arm64`]);
  if (!show.ok || !show.out.trim()) return `apt knows no ${KERNEL_META_PACKAGE}:arm64 (is this a Debian host with arm64 package lists?)`;
  return true;
}

function fromApt(downloadDir: string): FetchedDebs {
  const meta = parseStanzas(sh('apt-cache', ['show', '--no-all-versions', `${KERNEL_META_PACKAGE}:arm64`]).out)[0];
  const kernel = kernelPackageOf(meta);
  mkdirSync(downloadDir, { recursive: true });
  const spec = kernel.version ? `${kernel.name}:arm64=${kernel.version}` : `${kernel.name}:arm64`;
  const dl = sh('apt-get', ['download', '-q', spec, `${BUSYBOX_PACKAGE}:arm64`], downloadDir);
  if (!dl.ok) throw new GuestBuildError(`apt-get download failed: ${dl.err.split('\n').find((l) => l.startsWith('E:')) ?? dl.err.split('\n')[0]}`);
  const k = pickNewest(downloadDir, (n) => n === kernel.name);
  const b = pickNewest(downloadDir, (n) => n === BUSYBOX_PACKAGE);
  if (!k || !b) throw new GuestBuildError('apt-get download reported success but the .deb files are missing');
  return { source: 'apt', kernel: k, busybox: b };
}
