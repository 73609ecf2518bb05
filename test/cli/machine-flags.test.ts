import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CliError } from '../../src/cli/errors.ts';
import { checkBootFiles, composeCmdline } from '../../src/cli/machine-flags.ts';
import { guestCacheDir } from '../../src/guest/cache.ts';
import { exitCodeFor, oneLine } from '../../src/cli/errors.ts';

describe('machine flags', () => {
  it('puts the console on the PL011 unless --append names one', () => {
    expect(composeCmdline('')).to.equal('console=ttyAMA0');
    expect(composeCmdline('quiet', ['panic=-1'])).to.equal('console=ttyAMA0 panic=-1 quiet');
    expect(composeCmdline('console=hvc0 rw')).to.equal('console=hvc0 rw');
  });

  it('checks the kernel and initrd files (exit code 3)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nv-flags-'));
    try {
      const image = Buffer.alloc(128);
      image.writeUInt32LE(0x644d5241, 0x38);
      writeFileSync(join(dir, 'Image'), image);
      writeFileSync(join(dir, 'Image.gz'), Buffer.from([0x1f, 0x8b, 8, 0]));
      writeFileSync(join(dir, 'empty'), '');
      writeFileSync(join(dir, 'short'), 'ARM');
      checkBootFiles(join(dir, 'Image'), undefined);
      checkBootFiles(join(dir, 'Image.gz'), join(dir, 'Image'));
      const fails = (k: string, i?: string): CliError => {
        try {
          checkBootFiles(k, i);
        } catch (e) {
          return e as CliError;
        }
        throw new Error('expected a failure');
      };
      expect(fails(join(dir, 'empty')).message).to.match(/is empty/);
      expect(fails(join(dir, 'short')).message).to.match(/not an arm64 Linux Image/);
      expect(fails(dir).message).to.match(/not a file/);
      expect(fails(join(dir, 'Image'), join(dir, 'nope')).message).to.match(/initrd .* not found/);
      expect(fails(join(dir, 'empty')).exitCode).to.equal(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('maps errors of other modules to exit codes by class name', () => {
    const named = (name: string): Error => Object.assign(new Error('m'), { name });
    expect(exitCodeFor(named('BootError'))).to.equal(3);
    expect(exitCodeFor(named('AcceleratorUnavailableError'))).to.equal(4);
    expect(exitCodeFor(named('GuestBuildError'))).to.equal(6);
    expect(exitCodeFor(named('ConfigError'))).to.equal(2);
    expect(exitCodeFor(new TypeError('x'))).to.equal(1);
    expect(exitCodeFor(new CliError('x', 7))).to.equal(7);
    expect(oneLine(new Error('first\n  second.'))).to.equal('first; second');
  });

  it('finds the guest cache: NODEVISOR_CACHE, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(guestCacheDir({ NODEVISOR_CACHE: '/c', XDG_CACHE_HOME: '/x' })).to.equal('/c');
    expect(guestCacheDir({ XDG_CACHE_HOME: '/x' })).to.equal('/x/nodevisor/guest');
    expect(guestCacheDir({ XDG_CACHE_HOME: 'relative' })).to.equal(join(homedir(), '.cache', 'nodevisor', 'guest'));
    expect(guestCacheDir({})).to.equal(join(homedir(), '.cache', 'nodevisor', 'guest'));
  });
});
