// Unpacking Debian packages. A .deb is an `ar` archive: debian-binary, control.tar.*,
// data.tar.{xz,zst,gz,bz2,}. With dpkg-deb on the host we let it unpack; otherwise we read
// the ar archive here and hand data.tar.* to the host's tar (GNU tar and bsdtar both
// detect the compression; bsdtar, macOS's tar, needs no separate xz).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestBuildError } from './errors.ts';

export interface ArMember {
  name: string;
  data: Uint8Array;
}

const AR_MAGIC = '!<arch>\n';
const AR_HEADER = 60;

/** Parses a System V / GNU ar archive (the subset dpkg writes: short names, no symbol table). */
export function parseAr(archive: Uint8Array): ArMember[] {
  const b = Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength);
  if (b.toString('latin1', 0, 8) !== AR_MAGIC) throw new GuestBuildError('not a .deb (ar) archive');
  const members: ArMember[] = [];
  let off = 8;
  while (off + AR_HEADER <= b.length) {
    const name = b.toString('latin1', off, off + 16).trim().replace(/\/$/, '');
    const size = Number(b.toString('latin1', off + 48, off + 58).trim());
    if (b.toString('latin1', off + 58, off + 60) !== '`\n' || !Number.isSafeInteger(size) || size < 0) {
      throw new GuestBuildError(`corrupt ar header at offset ${off}`);
    }
    const start = off + AR_HEADER;
    if (start + size > b.length) throw new GuestBuildError(`truncated ar member ${name}`);
    members.push({ name, data: archive.subarray(start, start + size) });
    off = start + size + (size % 2);
  }
  return members;
}

export function hasCommand(cmd: string, args = ['--version']): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.error === undefined && r.status === 0;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.error) throw new GuestBuildError(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new GuestBuildError(`${cmd} ${args.join(' ')} failed: ${(r.stderr ?? '').trim().split('\n')[0]}`);
}

export interface ExtractOptions {
  /** Use the TypeScript ar reader + tar even if dpkg-deb exists (tests). */
  noDpkgDeb?: boolean;
}

/** Unpacks the package's files (data.tar) into `dest`. */
export function extractDeb(debPath: string, dest: string, opts: ExtractOptions = {}): void {
  mkdirSync(dest, { recursive: true });
  if (!opts.noDpkgDeb && hasCommand('dpkg-deb')) {
    run('dpkg-deb', ['-x', debPath, dest]);
    return;
  }
  const data = parseAr(readFileSync(debPath)).find((m) => m.name.startsWith('data.tar'));
  if (!data) throw new GuestBuildError(`${debPath}: no data.tar member`);
  const tmp = mkdtempSync(join(tmpdir(), 'nodevisor-deb-'));
  try {
    const file = join(tmp, data.name);
    writeFileSync(file, data.data);
    run('tar', ['-xf', file, '-C', dest]);
  } catch (e) {
    if (e instanceof GuestBuildError && /\.(xz|zst)$/.test(data.name)) {
      throw new GuestBuildError(`${e.message} (unpacking ${data.name} needs dpkg-deb, or tar with ${data.name.endsWith('xz') ? 'xz' : 'zstd'} support)`);
    }
    throw e;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Decompresses a module file by its suffix: .ko as is, .ko.xz/.ko.zst through xz/zstd, .ko.gz with zlib. */
export function readModuleFile(path: string, gunzip: (b: Uint8Array) => Uint8Array): Uint8Array {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.gz')) return gunzip(readFileSync(path));
  const tool = path.endsWith('.xz') ? 'xz' : path.endsWith('.zst') ? 'zstd' : undefined;
  if (!tool) throw new GuestBuildError(`unknown module compression: ${path}`);
  const r = spawnSync(tool, ['-dc', path], { maxBuffer: 256 * 1024 * 1024 });
  if (r.error || r.status !== 0) throw new GuestBuildError(`cannot decompress ${path}: ${tool} ${r.error ? 'is not installed' : 'failed'}`);
  return r.stdout;
}
