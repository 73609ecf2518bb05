// Debian's control-file format (Packages indexes, apt-cache show output): stanzas of
// "Field: value" lines separated by blank lines, continuation lines start with a space.
import { GuestBuildError } from './errors.ts';

export type Stanza = Map<string, string>;

export function parseStanzas(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = new Map();
  let last: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (cur.size) out.push(cur);
      cur = new Map();
      last = undefined;
    } else if (/^[ \t]/.test(line)) {
      if (last) cur.set(last, `${cur.get(last)}\n${line.trim()}`);
    } else {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon);
      cur.set(last, line.slice(colon + 1).trim());
    }
  }
  if (cur.size) out.push(cur);
  return out;
}

/** The kernel image package linux-image-arm64 depends on: "linux-image-6.1.0-56-arm64 (= 6.1.192-2)". */
export function kernelPackageOf(metaStanza: Stanza): { name: string; version?: string } {
  const depends = metaStanza.get('Depends') ?? '';
  for (const alt of depends.split(/[,|]/)) {
    const m = /^\s*(linux-image-\d[^\s(]*-arm64(?:-unsigned)?)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?/.exec(alt);
    if (m) return { name: m[1], version: m[2] };
  }
  throw new GuestBuildError(`linux-image-arm64 names no kernel package in Depends: '${depends}'`);
}

/** "linux-image-6.1.0-56-arm64" -> "6.1.0-56-arm64" (the kernel release, `uname -r`). */
export function kernelReleaseOf(packageName: string): string {
  const m = /^linux-image-(.+?)(?:-unsigned)?$/.exec(packageName);
  if (!m) throw new GuestBuildError(`not a kernel image package: ${packageName}`);
  return m[1];
}

/** Finds a package for `arch` in an index; the highest version when several are listed. */
export function findPackage(stanzas: Stanza[], name: string, arch = 'arm64'): Stanza | undefined {
  const matches = stanzas.filter((s) => s.get('Package') === name && (s.get('Architecture') === arch || s.get('Architecture') === 'all'));
  return matches.sort((a, b) => compareVersions(b.get('Version') ?? '', a.get('Version') ?? ''))[0];
}

/** A simplified dpkg version comparison (epoch, then numeric/non-numeric runs). */
export function compareVersions(a: string, b: string): number {
  const split = (v: string): [number, string] => {
    const i = v.indexOf(':');
    return i > 0 ? [Number(v.slice(0, i)), v.slice(i + 1)] : [0, v];
  };
  const [ea, ra] = split(a);
  const [eb, rb] = split(b);
  if (ea !== eb) return ea - eb;
  return ra.localeCompare(rb, 'en', { numeric: true });
}
