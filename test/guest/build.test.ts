// A real default-guest build from Debian's .deb files into a temporary cache. The debs come
// from /tmp/debs (a developer's copy) or the default cache's debs/ (left there by
// `nodevisor guest build` through apt, as CI runs it); skipped when neither exists.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildDefaultGuest, isArm64Image } from '../../src/guest/builder.ts';
import { findDefaultGuest, guestCacheDir } from '../../src/guest/cache.ts';
import { listCpio } from '../../src/guest/cpio.ts';
import { extractDeb, parseAr } from '../../src/guest/deb.ts';
import { renderInitScript } from '../../src/guest/init-script.ts';

function debsSource(): string | undefined {
  const has = (d: string): boolean => existsSync(d) && readdirSync(d).some((f) => /^linux-image-\d.*_arm64\.deb$/.test(f)) && readdirSync(d).some((f) => f.startsWith('busybox-static_'));
  return ['/tmp/debs', join(guestCacheDir(), 'debs')].find(has);
}

describe('default guest build', function () {
  this.timeout(180000);
  const source = debsSource();
  let cache: string;

  before(function () {
    if (!source) this.skip();
    cache = mkdtempSync(join(tmpdir(), 'nv-guest-'));
  });
  after(() => cache && rmSync(cache, { recursive: true, force: true }));

  it('reads a real .deb as an ar archive', () => {
    const deb = readdirSync(source!).find((f) => f.startsWith('busybox-static_'))!;
    const names = parseAr(readFileSync(join(source!, deb))).map((m) => m.name);
    expect(names[0]).to.equal('debian-binary');
    expect(names.some((n) => n.startsWith('control.tar'))).to.equal(true);
    expect(names.some((n) => n.startsWith('data.tar'))).to.equal(true);
  });

  it('unpacks a .deb without dpkg-deb (ar reader + tar)', () => {
    const deb = readdirSync(source!).find((f) => f.startsWith('busybox-static_'))!;
    const out = join(cache, 'manual');
    extractDeb(join(source!, deb), out, { noDpkgDeb: true });
    const bb = readFileSync(join(out, 'bin', 'busybox'));
    expect(bb.readUInt32BE(0)).to.equal(0x7f454c46);
    expect(bb.readUInt16LE(18)).to.equal(183); // EM_AARCH64
  });

  it('builds Image + initramfs with busybox, /init and the modules', async () => {
    const manifest = await buildDefaultGuest({ cacheDir: cache, debsDir: source });
    const guest = findDefaultGuest(cache)!;
    expect(guest).to.not.equal(undefined);
    expect(isArm64Image(readFileSync(guest.kernel))).to.equal(true);
    expect(manifest.kernelRelease).to.match(/^\d+\.\d+\.\d+-\d+-arm64$/);
    expect(manifest.packages.map((p) => p.name)).to.deep.equal([`linux-image-${manifest.kernelRelease}`, 'busybox-static']);

    const initrd = readFileSync(guest.initrd);
    expect(manifest.initrd.size).to.equal(initrd.length);
    const entries = listCpio(gunzipSync(initrd));
    const names = entries.map((e) => e.name);
    expect(names).to.include.members(['init', 'bin/busybox', 'bin/sh', 'dev/console', 'etc/nodevisor/modules']);
    const mods = names.filter((n) => n.endsWith('.ko')).map((n) => n.slice(n.lastIndexOf('/') + 1));
    for (const m of ['virtio_mmio.ko', 'virtio_blk.ko', 'virtio_console.ko', 'virtio-rng.ko', 'virtio_net.ko', 'failover.ko', 'net_failover.ko',
      'vsock.ko', 'vmw_vsock_virtio_transport.ko', 'fuse.ko', 'virtiofs.ko', 'ext4.ko', 'jbd2.ko', 'mbcache.ko', 'crc16.ko', 'crc32c_generic.ko']) {
      expect(mods, m).to.include(m);
    }
    expect(manifest.modules).to.have.length(mods.length);

    if (spawnSync('cpio', ['--version']).status === 0) {
      const r = spawnSync('cpio', ['-t', '--quiet'], { input: gunzipSync(initrd), encoding: 'utf8', maxBuffer: 64 << 20 });
      expect(r.status).to.equal(0);
      expect(r.stdout.trim().split('\n')).to.deep.equal(names);
    }
  });

  it('the /init script is valid sh', function () {
    if (spawnSync('sh', ['-c', 'true']).status !== 0) this.skip();
    const r = spawnSync('sh', ['-n'], { input: renderInitScript(), encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
  });
});
