import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { guestCacheDir } from '../../src/guest/cache.ts';
import { GuestBuildError } from '../../src/guest/errors.ts';
import { compareVersions, findPackage, kernelPackageOf, kernelReleaseOf, parseStanzas } from '../../src/guest/packages-index.ts';
import { fetchGuestDebs, parseDebFileName } from '../../src/guest/sources.ts';

const INDEX = `Package: linux-image-arm64
Source: linux-signed-arm64 (6.1.192+2)
Version: 6.1.192-2
Architecture: arm64
Depends: linux-image-6.1.0-56-arm64 (= 6.1.192-2)
Description: Linux for 64-bit ARMv8 machines (meta-package)
 This package depends on the latest Linux kernel
 and modules for use on ARMv8 machines.

Package: linux-image-arm64
Version: 6.1.176-1
Architecture: arm64
Depends: linux-image-6.1.0-50-arm64 (= 6.1.176-1)

Package: busybox-static
Version: 1:1.35.0-4+deb12u1+b1
Architecture: amd64
`;

describe('Debian package indexes', () => {
  it('parses stanzas with continuation lines', () => {
    const st = parseStanzas(INDEX);
    expect(st).to.have.length(3);
    expect(st[0].get('Description')).to.equal('Linux for 64-bit ARMv8 machines (meta-package)\nThis package depends on the latest Linux kernel\nand modules for use on ARMv8 machines.');
  });
  it('resolves the versioned kernel package of linux-image-arm64 (the newest)', () => {
    const meta = findPackage(parseStanzas(INDEX), 'linux-image-arm64')!;
    expect(kernelPackageOf(meta)).to.deep.equal({ name: 'linux-image-6.1.0-56-arm64', version: '6.1.192-2' });
    expect(kernelReleaseOf('linux-image-6.1.0-56-arm64')).to.equal('6.1.0-56-arm64');
    expect(findPackage(parseStanzas(INDEX), 'busybox-static')).to.equal(undefined); // amd64 only
    expect(() => kernelPackageOf(new Map([['Depends', 'foo']]))).to.throw(GuestBuildError);
  });
  it('compares versions with epochs and numbers', () => {
    expect(compareVersions('6.1.192-2', '6.1.176-1')).to.be.greaterThan(0);
    expect(compareVersions('1:1.0', '2.0')).to.be.greaterThan(0);
    expect(compareVersions('6.1.0-9', '6.1.0-10')).to.be.lessThan(0);
  });
  it('parses .deb file names', () => {
    expect(parseDebFileName('busybox-static_1%3a1.35.0-4+deb12u1+b1_arm64.deb')).to.deep.equal({ name: 'busybox-static', version: '1:1.35.0-4+deb12u1+b1', arch: 'arm64' });
    expect(parseDebFileName('README')).to.equal(undefined);
  });
});

describe('fetching from a Debian mirror (local HTTP server)', () => {
  const source = ['/tmp/debs', join(guestCacheDir(), 'debs')].find(
    (d) => existsSync(d) && readdirSync(d).some((f) => /^linux-image-\d/.test(f)) && readdirSync(d).some((f) => f.startsWith('busybox-static_')),
  );
  let server: Server;
  let base: string;
  let dir: string;
  let corrupt = false;
  let kernelFile: string;

  before(async function () {
    if (!source) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'nv-mirror-'));
    kernelFile = readdirSync(source).filter((f) => /^linux-image-\d.*_arm64\.deb$/.test(f)).sort().pop()!;
    const busyboxFile = readdirSync(source).find((f) => f.startsWith('busybox-static_'))!;
    const stanza = (file: string): string => {
      const p = parseDebFileName(file)!;
      const data = readFileSync(join(source, file));
      return [`Package: ${p.name}`, `Version: ${p.version}`, 'Architecture: arm64', `Filename: pool/main/x/${file}`, `Size: ${statSync(join(source, file)).size}`, `SHA256: ${createHash('sha256').update(data).digest('hex')}`].join('\n');
    };
    const kernelName = parseDebFileName(kernelFile)!.name;
    const index = [`Package: linux-image-arm64\nVersion: 1\nArchitecture: arm64\nDepends: ${kernelName} (= ${parseDebFileName(kernelFile)!.version})`, stanza(kernelFile), stanza(busyboxFile)].join('\n\n') + '\n';
    const indexGz = gzipSync(index);
    server = createServer((req, res) => {
      if (req.url === '/debian/dists/bookworm/main/binary-arm64/Packages.gz') return res.end(indexGz);
      const m = /^\/debian\/pool\/main\/x\/(.+)$/.exec(req.url ?? '');
      if (m && existsSync(join(source, m[1]))) {
        const data = readFileSync(join(source, m[1]));
        if (corrupt) data[data.length - 1] ^= 0xff;
        return res.end(data);
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/debian`;
  });
  after(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('downloads the kernel named by linux-image-arm64 and busybox-static, checking SHA256', async () => {
    let progressCalls = 0;
    const got = await fetchGuestDebs({ downloadDir: join(dir, 'ok'), mirror: base + '/', onDownload: () => progressCalls++ });
    expect(got.source).to.equal('mirror');
    expect(got.kernel.path.endsWith(kernelFile)).to.equal(true);
    expect(readFileSync(got.kernel.path).equals(readFileSync(join(source!, kernelFile)))).to.equal(true);
    expect(got.busybox.name).to.equal('busybox-static');
    expect(progressCalls).to.be.greaterThan(2);
  });

  it('refuses a download whose SHA256 does not match the index', async () => {
    corrupt = true;
    try {
      await fetchGuestDebs({ downloadDir: join(dir, 'bad'), mirror: base });
      expect.fail('should have thrown');
    } catch (e) {
      expect(e).to.be.instanceOf(GuestBuildError);
      expect((e as Error).message).to.match(/SHA256 mismatch/);
    } finally {
      corrupt = false;
    }
  });

  it('reports a mirror without the suite', async () => {
    try {
      await fetchGuestDebs({ downloadDir: join(dir, 'x'), mirror: base, suite: 'nosuch' });
      expect.fail('should have thrown');
    } catch (e) {
      expect((e as Error).message).to.match(/HTTP 404/);
    }
  });
});
