import { expect } from 'chai';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { candidatePaths, loadHvfNative, packageRoot } from '../../src/accel/hvf/load.ts';
import { HvfUnavailableError } from '../../src/accel/hvf/errors.ts';
import { NATIVE_ABI_VERSION } from '../../src/accel/hvf/native.ts';
import { FakeHvf } from './fake-native.ts';

const ROOT = '/pkg';
const RELEASE = join(ROOT, 'build', 'Release', 'nodevisor_hvf.node');
const PREBUILD_DIR = join(ROOT, 'prebuilds', 'darwin-arm64');

describe('hvf addon loader', () => {
  it('finds the package root from its own directory', () => {
    // The checkout's root: the directory two levels above this test file.
    expect(packageRoot()).to.equal(fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, ''));
  });

  it('off macOS arm64 names the platform, the reason and every path it would use', () => {
    let error: unknown;
    try {
      loadHvfNative({ platform: 'linux', arch: 'x64', root: ROOT, env: {}, list: () => [] });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(HvfUnavailableError);
    const message = (error as Error).message;
    expect(message).to.contain('linux-x64');
    expect(message).to.contain('Apple Silicon');
    expect(message).to.contain('software CPU');
    expect(message).to.contain(RELEASE);
    expect(message).to.contain(join(ROOT, 'prebuilds', 'linux-x64', '*.node'));
  });

  it('on Intel Macs too', () => {
    expect(() => loadHvfNative({ platform: 'darwin', arch: 'x64', root: ROOT, env: {}, list: () => [] })).to.throw(HvfUnavailableError, /darwin-x64/);
  });

  it('looks in build/Release, build/Debug, then prebuilds (N-API builds first), after NODEVISOR_HVF_ADDON', () => {
    const paths = candidatePaths(ROOT, 'darwin', 'arm64', {
      env: { NODEVISOR_HVF_ADDON: '/x/custom.node' },
      list: () => ['readme.txt', 'nodevisor.node', 'nodevisor.napi.node'],
    });
    expect(paths).to.deep.equal([
      '/x/custom.node',
      RELEASE,
      join(ROOT, 'build', 'Debug', 'nodevisor_hvf.node'),
      join(PREBUILD_DIR, 'nodevisor.napi.node'),
      join(PREBUILD_DIR, 'nodevisor.node'),
    ]);
  });

  it('loads the first path that exists and is the addon', () => {
    const fake = new FakeHvf();
    const loaded: string[] = [];
    const mod = loadHvfNative({
      platform: 'darwin', arch: 'arm64', root: ROOT, env: {},
      list: () => ['nodevisor.napi.node'],
      exists: (p) => p !== RELEASE,
      load: (p) => { loaded.push(p); return p.includes('Debug') ? { not: 'it' } : fake; },
    });
    expect(mod).to.equal(fake);
    expect(loaded).to.deep.equal([join(ROOT, 'build', 'Debug', 'nodevisor_hvf.node'), join(PREBUILD_DIR, 'nodevisor.napi.node')]);
  });

  it('reports why each candidate failed, including an ABI mismatch', () => {
    let error: unknown;
    try {
      loadHvfNative({
        platform: 'darwin', arch: 'arm64', root: ROOT, env: {},
        list: () => ['nodevisor.napi.node'],
        exists: () => true,
        load: (p) => {
          if (p === RELEASE) throw new Error('dlopen: code signature invalid');
          return { ...Object.fromEntries(Object.entries(new FakeHvf())), createVcpu() {}, vmCreate() {}, abiVersion: NATIVE_ABI_VERSION + 1 };
        },
      });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(HvfUnavailableError);
    const message = (error as Error).message;
    expect(message).to.contain('darwin-arm64');
    expect(message).to.contain('code signature invalid');
    expect(message).to.contain(`addon ABI ${NATIVE_ABI_VERSION + 1}`);
    expect(message).to.contain('node-gyp rebuild');
  });
});
