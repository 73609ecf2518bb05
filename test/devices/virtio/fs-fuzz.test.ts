// Property tests: random bytes and well-formed but hostile FUSE requests thrown at the
// dispatcher over a temp share whose sibling folder (and a symlink to it inside the share)
// must come through untouched; no exception may escape and every reply must be well formed.
import { expect } from 'chai';
import fc from 'fast-check';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, readdirSync, lstatSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FuseDispatcher } from '../../../src/devices/virtio/fs/dispatcher.ts';
import { HostFs } from '../../../src/devices/virtio/fs/host-fs.ts';
import { OP, Writer } from '../../../src/devices/virtio/fs/wire.ts';
import { VirtioFs } from '../../../src/devices/virtio/fs/device.ts';
import { MockVirtioDriver } from '../../helpers/virtio-driver.ts';

/** Every path, type, mode, size and content below `dir` (symlinks not followed). */
function snapshot(dir: string): string {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      out.push(`${p} ${st.mode} ${st.size} ${st.mtimeMs} ${st.uid}`);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(readFileSync(p, 'hex'));
    }
  };
  walk(dir);
  return out.join('\n');
}

const HOSTILE_NAMES = ['..', '.', '', '../outside', '../outside/secret', 'a/b', '/etc', 'out', 'etc', 'sub', 'f', 'new', 'lnk', 'x'.repeat(300), 'ok\u00e9'];
const OPS = Object.values(OP);

function hostileRequest(): fc.Arbitrary<Uint8Array> {
  const name = fc.constantFrom(...HOSTILE_NAMES);
  return fc.record({
    opcode: fc.oneof(fc.constantFrom(...OPS), fc.integer({ min: 0, max: 100 })),
    nodeid: fc.oneof(fc.bigInt({ min: 0n, max: 12n }), fc.constant(2n ** 64n - 1n)),
    words: fc.array(fc.oneof(fc.integer({ min: 0, max: 12 }), fc.constantFrom(0o100644, 0o40755, 0o10644, 0o20644, 0o1, 0o2, 0o1102, 0xffffffff)), { minLength: 0, maxLength: 24 }),
    names: fc.array(name, { maxLength: 2 }),
    truncate: fc.option(fc.integer({ min: 0, max: 200 })),
  }).map(({ opcode, nodeid, words, names, truncate }) => {
    const body = new Writer();
    for (const w of words) body.u32(w);
    for (const n of names) body.bytes(new Uint8Array(Buffer.from(n + '\0')));
    const b = body.done();
    const w = new Writer().u32(40 + b.length).u32(opcode).u64(7).u64(nodeid).u32(0).u32(0).u32(1).u32(0).bytes(b);
    const req = w.done();
    return truncate === null ? req : req.subarray(0, Math.min(req.length, truncate));
  });
}

describe('virtio-fs fuzz', function () {
  this.timeout(120_000);
  let base: string;
  let share: string;
  let outside: string;
  let before: string;

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'nodevisor-fsfuzz-'));
    share = join(base, 'share');
    outside = join(base, 'outside');
    mkdirSync(share);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'secret');
    mkdirSync(join(share, 'sub'));
    writeFileSync(join(share, 'f'), 'data');
    symlinkSync(outside, join(share, 'out'));
    symlinkSync('/etc', join(share, 'etc'));
    before = snapshot(outside);
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  async function dispatcher(): Promise<FuseDispatcher> {
    const d = new FuseDispatcher(await HostFs.open(share, { maxInodes: 64, maxHandles: 16 }), { warn: () => undefined, debug: () => undefined });
    const init = new Writer().u32(40 + 64).u32(OP.INIT).u64(1).u64(0).u32(0).u32(0).u32(0).u32(0).u32(7).u32(36).u32(0).u32(0xffffffff).zeros(48).done();
    await d.dispatch(init, 4096);
    return d;
  }

  function checkReply(r: Uint8Array | undefined, cap: number): void {
    if (!r) return;
    const v = new DataView(r.buffer, r.byteOffset, r.byteLength);
    expect(r.length).to.be.at.least(16).and.at.most(cap);
    expect(v.getUint32(0, true)).to.equal(r.length);
    const err = -v.getInt32(4, true);
    expect(err).to.be.at.least(0).and.below(4096);
    if (err) expect(r.length).to.equal(16);
  }

  it('random bytes never throw and get well-formed replies', async () => {
    const d = await dispatcher();
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 8192 }), async (bytes, cap) => {
      checkReply(await d.dispatch(bytes, cap), cap);
    }), { numRuns: 400 });
    expect(snapshot(outside)).to.equal(before);
  });

  it('hostile well-formed requests never touch anything outside the share', async () => {
    const d = await dispatcher();
    await fc.assert(fc.asyncProperty(fc.array(hostileRequest(), { minLength: 1, maxLength: 20 }), async (reqs) => {
      // several at once, like a busy guest
      const replies = await Promise.all(reqs.map((r) => d.dispatch(r, 64 * 1024)));
      for (const r of replies) checkReply(r, 64 * 1024);
    }), { numRuns: 250 });
    expect(snapshot(outside)).to.equal(before);
    expect(readdirSync(base).sort()).to.deep.equal(['outside', 'share']);
    expect(lstatSync(join(share, 'out')).isSymbolicLink() || !readdirSync(share).includes('out')).to.equal(true);
  });

  it('random chains through the device: no exception, the device keeps serving', async () => {
    const dev = new VirtioFs(await HostFs.open(share), { tag: 'fuzz' });
    const drv = new MockVirtioDriver(dev, { ramBytes: 8 << 20 });
    drv.init();
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 0, max: 512 }), fc.integer({ min: 0, max: 1 }), async (bytes, out, q) => {
      drv.queues[q].add(out ? [{ data: bytes }, { writable: out }] : [{ data: bytes }]);
      drv.queues[q].notify();
      await drv.queues[q].waitUsed(1);
    }), { numRuns: 200 });
    await dev.close();
    expect(snapshot(outside)).to.equal(before);
  });
});
