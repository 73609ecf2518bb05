// Which kernel modules the default guest loads, and in what order.
// Dependencies come from modules.dep when the tree has one (depmod output), otherwise
// from each module's own `.modinfo` section ("depends=a,b"): Debian's kernel package
// ships no modules.dep (depmod runs at install time), and the host may have no depmod.
import { GuestBuildError } from './errors.ts';

/** Modules for nodevisor's devices; their dependencies are added by resolveLoadOrder. */
export const GUEST_MODULES = [
  'virtio_mmio',
  'virtio_blk',
  'virtio_console',
  'virtio_rng',
  'virtio_net',
  'vsock',
  'vmw_vsock_virtio_transport',
  'fuse',
  'virtiofs',
  // ext4 asks the crypto API for "crc32c" at mount time instead of linking to it.
  'crc32c_generic',
  'ext4',
] as const;

/** Module name as the kernel spells it: file stem with '-' as '_'. */
export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf('/') + 1);
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export interface ModuleGraph {
  /** name -> path relative to /lib/modules/<version>/. */
  paths: Map<string, string>;
  /** name -> names it depends on directly. */
  deps: Map<string, string[]>;
}

/** Parses modules.dep: "kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/lib/crc16.ko". */
export function parseModulesDep(text: string): ModuleGraph {
  const paths = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw new GuestBuildError(`malformed modules.dep line: ${line}`);
    const path = line.slice(0, colon).trim();
    const name = moduleName(path);
    paths.set(name, path);
    deps.set(name, line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleName));
  }
  return { paths, deps };
}

/** The NUL-separated key=value strings of an ELF module's .modinfo section. */
export function readModinfo(elf: Uint8Array): Map<string, string[]> {
  const b = Buffer.from(elf.buffer, elf.byteOffset, elf.byteLength);
  if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46) throw new GuestBuildError('not an ELF file');
  if (b[4] !== 2 || b[5] !== 1) throw new GuestBuildError('not a little-endian ELF64 module');
  const shoff = Number(b.readBigUInt64LE(0x28));
  const shentsize = b.readUInt16LE(0x3a);
  const shnum = b.readUInt16LE(0x3c);
  const shstrndx = b.readUInt16LE(0x3e);
  if (shentsize < 64 || shoff + shnum * shentsize > b.length || shstrndx >= shnum) throw new GuestBuildError('bad ELF section table');
  const section = (i: number): { name: number; offset: number; size: number } => {
    const o = shoff + i * shentsize;
    return { name: b.readUInt32LE(o), offset: Number(b.readBigUInt64LE(o + 0x18)), size: Number(b.readBigUInt64LE(o + 0x20)) };
  };
  const strtab = section(shstrndx);
  const out = new Map<string, string[]>();
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = b.indexOf(0, strtab.offset + s.name);
    if (b.toString('latin1', strtab.offset + s.name, nameEnd) !== '.modinfo') continue;
    if (s.offset + s.size > b.length) throw new GuestBuildError('bad .modinfo section');
    for (const kv of b.toString('utf8', s.offset, s.offset + s.size).split('\0')) {
      const eq = kv.indexOf('=');
      if (eq <= 0) continue;
      const key = kv.slice(0, eq);
      out.set(key, [...(out.get(key) ?? []), kv.slice(eq + 1)]);
    }
  }
  return out;
}

/**
 * Builds the graph from each module's .modinfo, reading only the modules reachable from
 * `roots`; `read` returns a module's (decompressed) bytes.
 */
export function graphFromModinfo(relPaths: string[], read: (relPath: string) => Uint8Array, roots: readonly string[]): ModuleGraph {
  const paths = new Map<string, string>();
  for (const p of relPaths) paths.set(moduleName(p), p);
  const deps = new Map<string, string[]>();
  const pending = roots.map((r) => r.replace(/-/g, '_'));
  while (pending.length > 0) {
    const name = pending.pop()!;
    const p = paths.get(name);
    if (deps.has(name) || !p) continue;
    const info = readModinfo(read(p));
    const list = (info.get('depends') ?? []).flatMap((d) => d.split(',')).filter(Boolean).map((d) => d.replace(/-/g, '_'));
    deps.set(name, list);
    pending.push(...list);
  }
  return { paths, deps };
}

/**
 * Modules to insmod, dependencies first. `builtin` names are compiled into the kernel
 * and skipped. A wanted module that is neither present nor built in is an error;
 * so is a dependency cycle.
 */
export function resolveLoadOrder(wanted: readonly string[], graph: ModuleGraph, builtin: ReadonlySet<string> = new Set()): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]): void => {
    if (builtin.has(name) || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new GuestBuildError(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    if (!graph.paths.has(name)) {
      const by = chain.length ? ` (needed by ${chain[chain.length - 1]})` : '';
      throw new GuestBuildError(`kernel module ${name}${by} is not in the kernel package`);
    }
    state.set(name, 'visiting');
    for (const dep of graph.deps.get(name) ?? []) visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const w of wanted) visit(w.replace(/-/g, '_'), []);
  return order;
}

/** modules.builtin lists paths ("kernel/drivers/virtio/virtio.ko") of built-in modules. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').map((l) => l.trim()).filter(Boolean).map(moduleName));
}
