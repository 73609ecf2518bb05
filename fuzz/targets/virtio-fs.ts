// virtio-fs request handling (FUSE wire decoding, dispatcher, host-fs) over a temp share.
// An input is a batch of requests: random bytes, or FUSE requests with a real opcode, a small
// or hostile node id, argument words that look like modes/flags/sizes and hostile names
// ('..', absolute, via a symlink that leads out of the share). Checked per batch: no exception
// escapes dispatch, every reply is well formed (length field = size <= capacity, errno in
// range, an error reply is a bare header, the unique echoes the request's) and nothing in the
// sibling folder outside the share (reachable through symlinks inside it) changed, its
// xattrs included (when the nodevisor_hostfs addon is loaded).
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuseDispatcher } from '../../src/devices/virtio/fs/dispatcher.ts';
import { HostFs } from '../../src/devices/virtio/fs/host-fs.ts';
import { OP, Writer } from '../../src/devices/virtio/fs/wire.ts';
import { tryLoadHostfs } from '../../src/host/hostfs-native.ts';
import { InputReader, type FuzzTarget } from '../target.ts';
import { FuzzInvariantError } from './virtio-harness.ts';

const NAMES = ['..', '.', '', '../outside', '../outside/secret', 'a/b', '/etc', 'out', 'etc', 'sub', 'f', 'new', 'lnk', 'x'.repeat(300), 'ok\u00e9', 'out/secret', 'user.x', 'user.secret', 'trusted.x', 'security.capability'];
const OPS = Object.values(OP);
const WORDS = [0o100644, 0o40755, 0o120777, 0o10644, 0o20644, 0o1, 0o2, 0o1102, 0o101, 0xffffffff, 0x80000000, 4096, 0];
const MAX_BATCH = 8;

interface State {
  base: string;
  outside: string;
  before: string;
  /** The outside files' xattrs (name=value lines) at setup; '' without the addon. */
  xattrsBefore: Promise<string>;
  dispatcher: Promise<FuseDispatcher>;
}

const hostfs = tryLoadHostfs().addon;

/** Every xattr of the files directly in `dir`, or '' when the addon is missing or the fs has none. */
async function xattrSnapshot(dir: string): Promise<string> {
  if (!hostfs) return '';
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const list = await hostfs.listxattr(p, 65536).catch(() => Buffer.alloc(0));
    for (const x of Buffer.from(list as Buffer).toString('latin1').split('\0').filter(Boolean).sort()) {
      out.push(`${p} ${x}=${Buffer.from(await hostfs.getxattr(p, Buffer.from(x, 'latin1'), 65536) as Buffer).toString('hex')}`);
    }
  }
  return out.join('\n');
}

let current: State | undefined;

/** Every path, type, mode, size, mtime and content below `dir` (symlinks not followed). */
function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(readFileSync(p, 'hex'));
    }
  };
  walk(dir);
  return out.join('\n');
}

function setup(): State {
  if (current) rmSync(current.base, { recursive: true, force: true });
  const base = mkdtempSync(join(tmpdir(), 'nodevisor-fuzz-fs-'));
  const share = join(base, 'share');
  const outside = join(base, 'outside');
  mkdirSync(share);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'secret');
  const xattrsBefore = (hostfs ? hostfs.setxattr(join(outside, 'secret'), Buffer.from('user.secret'), Buffer.from('secret'), 0).catch(() => undefined) : Promise.resolve())
    .then(() => xattrSnapshot(outside));
  mkdirSync(join(share, 'sub'));
  writeFileSync(join(share, 'f'), 'data');
  symlinkSync(outside, join(share, 'out'));
  symlinkSync('/etc', join(share, 'etc'));
  const dispatcher = xattrsBefore.then(() => HostFs.open(share, { maxInodes: 64, maxHandles: 16 })).then(async (fs) => {
    // A non-errno exception inside a handler is turned into EIO and logged: still a bug.
    const warn = (m: string): void => {
      if (/^virtio-fs: opcode \d+: /.test(m)) internal.push(m);
    };
    const d = new FuseDispatcher(fs, { warn, debug: () => undefined });
    const init = new Writer().u32(40 + 64).u32(OP.INIT).u64(1).u64(0).u32(0).u32(0).u32(0).u32(0).u32(7).u32(31).u32(0).u32(0xffffffff).zeros(48).done();
    await d.dispatch(init, 4096);
    return d;
  });
  current = { base, outside, before: snapshot(outside), xattrsBefore, dispatcher };
  if (!registered) {
    registered = true;
    process.on('exit', () => current && rmSync(current.base, { recursive: true, force: true }));
  }
  return current;
}
let registered = false;
const internal: string[] = [];

function request(r: InputReader): { req: Uint8Array; cap: number } {
  const capKind = r.u8() % 8;
  const cap = capKind === 0 ? r.u16() % 64 : capKind === 1 ? 16 : 64 * 1024;
  if (r.u8() % 4 === 0) {
    const n = r.u8();
    const req = new Uint8Array(n);
    for (let i = 0; i < n; i++) req[i] = r.u8();
    return { req, cap };
  }
  const opcode = r.u8() & 7 ? OPS[r.u8() % OPS.length] : r.u32();
  const nodeKind = r.u8() % 8;
  const nodeid = nodeKind < 6 ? BigInt(nodeKind) : nodeKind === 6 ? BigInt(r.u8()) : 2n ** 64n - 1n;
  const body = new Writer();
  const words = r.u8() % 24;
  for (let i = 0; i < words; i++) body.u32(r.u8() & 1 ? WORDS[r.u8() % WORDS.length] : r.u8() % 16);
  const names = r.u8() % 3;
  for (let i = 0; i < names; i++) body.bytes(new Uint8Array(Buffer.from(NAMES[r.u8() % NAMES.length] + '\0')));
  if (r.u8() % 4 === 0) body.zeros(r.u8());
  const b = body.done();
  const lenField = r.u8() % 8 ? 40 + b.length : r.u32();
  const req = new Writer().u32(lenField).u32(opcode).u64(BigInt(r.u16())).u64(nodeid).u32(0).u32(0).u32(1).u32(0).bytes(b).done();
  const cut = r.u8() % 8 === 0 ? r.u8() : req.length;
  return { req: req.subarray(0, Math.min(req.length, cut)), cap };
}

function checkReply(req: Uint8Array, reply: Uint8Array | undefined, cap: number): void {
  if (!reply) return;
  const v = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  if (reply.length < 16 || reply.length > Math.max(cap, 16)) throw new FuzzInvariantError(`reply of ${reply.length} bytes for capacity ${cap}`);
  if (v.getUint32(0, true) !== reply.length) throw new FuzzInvariantError(`reply length field ${v.getUint32(0, true)} != ${reply.length}`);
  const err = -v.getInt32(4, true);
  if (err < 0 || err >= 4096) throw new FuzzInvariantError(`reply error field ${-err}`);
  if (err && reply.length !== 16) throw new FuzzInvariantError(`error reply ${err} with ${reply.length - 16} body bytes`);
  if (req.length >= 16 && v.getBigUint64(8, true) !== new DataView(req.buffer, req.byteOffset).getBigUint64(8, true)) throw new FuzzInvariantError('reply unique differs from the request');
}

/** Batches of real requests in the encoding request() decodes (indices into OPS, NAMES, WORDS). */
function fsSeeds(): Uint8Array[] {
  const op = (o: keyof typeof OP): number => OPS.indexOf(OP[o]);
  const name = (n: string): number => NAMES.indexOf(n);
  // word: a small value v is [0, v]; a WORDS entry is [1, index].
  const small = (v: number): number[] => [0, v];
  const word = (w: number): number[] => [1, WORDS.indexOf(w)];
  const req = (o: keyof typeof OP, node: number, words: number[][], names: string[] = []): number[] =>
    [2, 1, 1, op(o), node, words.length, ...words.flat(), names.length, ...names.map(name), 1, 1, 7, 0, 1];
  return [
    [req('LOOKUP', 1, [], ['sub']), req('LOOKUP', 1, [], ['f']), req('LOOKUP', 1, [], ['out']), req('GETATTR', 2, [small(0), small(0), small(0), small(0)]),
      req('OPENDIR', 1, [small(0), small(0)]), req('READDIR', 1, [small(0), small(0), small(0), small(0), word(4096), small(0), small(0), small(0)])],
    [req('CREATE', 1, [word(0o101), word(0o100644), small(0), small(0)], ['new']), req('LOOKUP', 1, [], ['new']),
      req('WRITE', 2, [small(0), small(0), small(0), small(0), small(4), small(0), small(0), small(0), small(0), small(0), small(7)]),
      req('MKDIR', 1, [word(0o40755), small(0)], ['lnk']), req('SYMLINK', 1, [], ['lnk', '../outside']), req('UNLINK', 1, [], ['out/secret'])],
    [req('LOOKUP', 1, [], ['out']), req('CREATE', 2, [word(0o101), word(0o100644), small(0), small(0)], ['f']),
      req('RENAME', 1, [small(1), small(0)], ['f', '../outside/secret']), req('SETATTR', 2, [word(0o1), small(0), small(0), small(0), small(0), small(0)]),
      req('LINK', 1, [small(2), small(0)], ['../outside']), req('RMDIR', 1, [], ['sub']), req('OPEN', 2, [word(0o1102), small(0)]), req('READ', 2, [small(0), small(0), small(0), small(0), word(4096), small(0)])],
    [req('LOOKUP', 1, [], ['out']), req('LOOKUP', 1, [], ['f']), req('SETXATTR', 2, [small(0), small(0)], ['user.secret']),
      req('SETXATTR', 3, [small(0), small(1)], ['user.x']), req('GETXATTR', 3, [word(4096), small(0)], ['user.x']),
      req('LISTXATTR', 2, [word(4096), small(0)]), req('GETXATTR', 2, [small(0), small(0)], ['user.secret']), req('REMOVEXATTR', 2, [], ['user.secret'])],
  ].map((b) => Uint8Array.from(b.flat()));
}

export const virtioFsTarget: FuzzTarget = {
  name: 'virtio-fs',
  setup,
  seeds: fsSeeds,
  async run(input, state) {
    const st = state as State;
    const d = await st.dispatcher;
    const r = new InputReader(input);
    internal.length = 0;
    const batch: { req: Uint8Array; cap: number }[] = [];
    for (let i = 0; i < MAX_BATCH && !r.done; i++) batch.push(request(r));
    // Concurrently, like a busy guest with several queues.
    const replies = await Promise.all(batch.map(({ req, cap }) => d.dispatch(req, cap)));
    replies.forEach((rep, i) => checkReply(batch[i].req, rep, batch[i].cap));
    if (internal.length) throw new FuzzInvariantError(`handler exception mapped to EIO: ${internal.splice(0).join('; ')}`);
    if (snapshot(st.outside) !== st.before) throw new FuzzInvariantError('a file outside the share changed');
    if ((await xattrSnapshot(st.outside)) !== (await st.xattrsBefore)) throw new FuzzInvariantError('an xattr outside the share changed');
    const siblings = readdirSync(st.base).sort().join(',');
    if (siblings !== 'outside,share') throw new FuzzInvariantError(`share's parent now holds ${siblings}`);
  },
};
