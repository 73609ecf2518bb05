import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CpioError, CpioWriter, listCpio, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG } from '../../src/guest/cpio.ts';

const haveCpio = spawnSync('cpio', ['--version']).status === 0;

function sample(): Uint8Array {
  const w = new CpioWriter();
  w.directory('bin');
  w.file('bin/busybox', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]), 0o755);
  w.symlink('bin/sh', 'busybox');
  w.parents('lib/modules/6.1/kernel/a.ko');
  w.file('lib/modules/6.1/kernel/a.ko', new Uint8Array(1000).fill(0xaa));
  w.file('odd-name-len', new TextEncoder().encode('x'));
  w.file('empty', new Uint8Array(0));
  w.charDevice('dev/console', 5, 1);
  return w.finish();
}

describe('cpio newc writer', () => {
  it('lays entries out at 4-byte boundaries with a trailer', () => {
    const a = sample();
    expect(a.length % 4).to.equal(0);
    expect(Buffer.from(a.subarray(0, 6)).toString()).to.equal('070701');
    const entries = listCpio(a);
    expect(entries.map((e) => e.name)).to.deep.equal([
      'bin', 'bin/busybox', 'bin/sh', 'lib', 'lib/modules', 'lib/modules/6.1', 'lib/modules/6.1/kernel',
      'lib/modules/6.1/kernel/a.ko', 'odd-name-len', 'empty', 'dev/console',
    ]);
    expect(entries[0].mode).to.equal(S_IFDIR | 0o755);
    expect(entries[1]).to.deep.equal({ name: 'bin/busybox', mode: S_IFREG | 0o755, size: 7 });
    expect(entries[2].mode).to.equal(S_IFLNK | 0o777);
    expect(entries[10].mode).to.equal(S_IFCHR | 0o600);
  });

  it('refuses duplicates, .. and writes after finish', () => {
    const w = new CpioWriter();
    w.file('a', new Uint8Array(1));
    expect(() => w.file('/a', new Uint8Array(1))).to.throw(CpioError, /duplicate/);
    expect(() => w.file('x/../../etc', new Uint8Array(1))).to.throw(CpioError);
    w.finish();
    expect(() => w.file('b', new Uint8Array(1))).to.throw(CpioError, /finished/);
  });

  describe('cross-checked with GNU cpio', () => {
    let dir: string;
    before(function () {
      if (!haveCpio) this.skip();
      dir = mkdtempSync(join(tmpdir(), 'nv-cpio-'));
    });
    after(() => dir && rmSync(dir, { recursive: true, force: true }));

    it('cpio -t lists every entry', () => {
      const r = spawnSync('cpio', ['-t', '--quiet'], { input: sample(), encoding: 'utf8' });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout.trim().split('\n')).to.deep.equal(listCpio(sample()).map((e) => e.name));
    });

    it('cpio -i extracts the same contents, modes and links', () => {
      const r = spawnSync('cpio', ['-i', '-d', '--quiet', '--no-absolute-filenames'], { input: sample(), cwd: dir, encoding: 'utf8' });
      // Creating dev/console needs root; everything else must extract.
      expect(r.status === 0 || /console/.test(r.stderr), r.stderr).to.equal(true);
      expect([...readFileSync(join(dir, 'bin/busybox'))]).to.deep.equal([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]);
      expect(lstatSync(join(dir, 'bin/busybox')).mode & 0o777).to.equal(0o755);
      expect(readlinkSync(join(dir, 'bin/sh'))).to.equal('busybox');
      expect(readFileSync(join(dir, 'lib/modules/6.1/kernel/a.ko'))).to.have.length(1000);
      expect(readFileSync(join(dir, 'odd-name-len'), 'utf8')).to.equal('x');
      expect(readFileSync(join(dir, 'empty'))).to.have.length(0);
      if (process.getuid?.() === 0) {
        const st = lstatSync(join(dir, 'dev/console'));
        expect(st.isCharacterDevice()).to.equal(true);
        expect(st.rdev).to.equal((5 << 8) | 1);
      }
    });
  });
});
