// @boot: virtio-fs under the Debian kernel on the software CPU, through the CLI. One boot of
// `nodevisor run` with a writable share on /work and a read-only one on /ro: the guest reads a
// host file, writes one, makes a directory, renames, unlinks, symlinks, lists with ls -l, and
// fails to write the read-only share; the host then checks what it finds in the folders.
import { DEVICE_TEST_APPEND } from '../helpers/boot-cmdline.ts';
import { expect } from 'chai';
import { requireDefaultGuest } from '../helpers/default-guest.ts';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDefaultGuest } from '../../src/guest/cache.ts';
import { runCli } from '../helpers/cli-run.ts';

describe('virtio-fs shares through nodevisor run on the software CPU @boot', function () {
  this.timeout(25 * 60_000);
  let dir: string;

  before(function () {
    requireDefaultGuest(this);
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-fs-boot-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('mounts, reads, writes, renames, links and lists; the read-only share refuses writes', async () => {
    const rw = join(dir, 'rw');
    const ro = join(dir, 'ro');
    mkdirSync(rw);
    mkdirSync(ro);
    writeFileSync(join(rw, 'x'), 'from-the-host\n');
    writeFileSync(join(rw, 'rmme'), 'bye');
    writeFileSync(join(ro, 'r'), 'read-only-content\n');
    const script = [
      'cat /work/x', 'echo y > /work/out', 'mkdir /work/d', 'echo moved > /work/d/a', 'mv /work/d/a /work/d/b',
      'rm /work/rmme', 'ln -s x /work/lnk', 'echo "link:$(readlink /work/lnk) $(cat /work/lnk)"', 'ls -l /work',
      'cat /ro/r', '(echo no > /ro/w) 2>/dev/null && echo ro:writable || echo ro:refused',
    ].join('; ');
    const r = await runCli(['run', '--append', DEVICE_TEST_APPEND, '--share', `${rw}:/work`, '--share', `${ro}:/ro,readonly`, '--', 'sh', '-c', script], 24 * 60_000);
    expect(r.status, `stderr: ${r.stderr}\nstdout: ${r.stdout}`).to.equal(0);
    const out = r.stdout;
    expect(out).to.contain('from-the-host');
    expect(out).to.contain('link:x from-the-host');
    expect(out).to.match(/^l.* lnk -> x$/m);
    expect(out).to.match(/^d.* d$/m);
    expect(out).to.match(/^-.* out$/m);
    expect(out).to.contain('read-only-content');
    expect(out).to.contain('ro:refused');
    expect(readFileSync(join(rw, 'out'), 'utf8')).to.equal('y\n');
    expect(readFileSync(join(rw, 'd', 'b'), 'utf8')).to.equal('moved\n');
    expect(existsSync(join(rw, 'd', 'a'))).to.equal(false);
    expect(existsSync(join(rw, 'rmme'))).to.equal(false);
    expect(lstatSync(join(rw, 'lnk')).isSymbolicLink()).to.equal(true);
    expect(readlinkSync(join(rw, 'lnk'))).to.equal('x');
    expect(readdirSync(ro)).to.deep.equal(['r']);
  });
});
