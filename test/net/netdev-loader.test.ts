import { expect } from 'chai';
import { join } from 'node:path';
import { NETDEV_ABI_VERSION, NetdevUnavailableError, describeNativeError, errnoName, loadNetdev, netdevCandidatePaths } from '../../src/net/netdev-native.ts';
import { openDgram } from '../../src/net/dgram-backend.ts';
import { openTap } from '../../src/net/tap-backend.ts';
import { parseNetSpec, type DgramSocketNetSpec } from '../../src/net/spec.ts';

const root = '/opt/nodevisor';
const release = join(root, 'native', 'netdev', 'build', 'Release', 'nodevisor_netdev.node');
const debug = join(root, 'native', 'netdev', 'build', 'Debug', 'nodevisor_netdev.node');
const top = join(root, 'build', 'Release', 'nodevisor_netdev.node');

function loadError(opts: Parameters<typeof loadNetdev>[0]): NetdevUnavailableError {
  try {
    loadNetdev(opts);
  } catch (e) {
    expect(e).to.be.instanceOf(NetdevUnavailableError);
    return e as NetdevUnavailableError;
  }
  throw new Error('loadNetdev did not fail');
}

describe('netdev addon loader', () => {
  it('looks at the override, then native/netdev/build (Release, Debug), then build/Release', () => {
    expect(netdevCandidatePaths(root, {})).to.deep.equal([release, debug, top]);
    expect(netdevCandidatePaths(root, { NODEVISOR_NETDEV_ADDON: '/x/y.node' })).to.deep.equal(['/x/y.node', release, debug, top]);
  });

  it('names every path tried and why each failed, in one line', () => {
    const err = loadError({
      platform: 'linux',
      root,
      env: { NODEVISOR_NETDEV_ADDON: '/x/custom.node' },
      exists: (p) => p !== debug && p !== top,
      load: (p) => {
        if (p === release) throw new Error('dlopen failed:\n  undefined symbol: foo');
        return { abiVersion: NETDEV_ABI_VERSION }; // the override: some other module
      },
    });
    expect(err.message).to.not.include('\n');
    expect(err.message).to.match(/^needs the nodevisor_netdev native addon, which `npm install` builds on Linux and macOS with python3, make and a C\+\+ compiler/);
    expect(err.tried).to.deep.equal([
      '/x/custom.node (not the nodevisor_netdev addon)',
      `${release} (dlopen failed: undefined symbol: foo)`,
      `${debug} (missing)`,
      `${top} (missing)`,
    ]);
    expect(err.message).to.include(`tried ${err.tried.join('; ')}`);
  });

  it('refuses an addon of another ABI version', () => {
    const stale = { abiVersion: NETDEV_ABI_VERSION + 1, openDgram() {}, probeDgram() {}, FramePort: class {} };
    const err = loadError({ platform: 'darwin', root, env: {}, exists: (p) => p === release, load: () => stale });
    expect(err.tried[0]).to.equal(`${release} (addon ABI ${NETDEV_ABI_VERSION + 1}, expected ${NETDEV_ABI_VERSION}: rebuild it)`);
  });

  it('returns the first good candidate', () => {
    const good = { abiVersion: NETDEV_ABI_VERSION, openDgram() {}, probeDgram() {}, FramePort: class {} };
    expect(loadNetdev({ platform: 'linux', root, env: {}, exists: () => true, load: () => good })).to.equal(good);
  });

  it('says the addon is not built on other platforms', () => {
    expect(loadError({ platform: 'win32', root, env: {} }).message).to.match(/only on Linux and macOS, not win32/);
  });

  it('backends put the loader error after their --net spec', async () => {
    // A datagram spec with an addon that cannot load: the user sees which flag needs what.
    const spec = parseNetSpec('socket,type=dgram,path=/tmp/gv.sock') as DgramSocketNetSpec;
    const load = () => loadNetdev({ platform: 'linux', root: '/nonexistent', env: {} });
    const err = await openDgram(spec, { warn() {}, debug() {} }, load).catch((e: Error) => e);
    expect((err as Error).name).to.equal('NetBackendError');
    expect((err as Error).message).to.match(/^--net socket,type=dgram,path=\/tmp\/gv.sock: needs the nodevisor_netdev native addon.*tried \/nonexistent\/native\/netdev\/build\/Release\/nodevisor_netdev.node \(missing\); .*; \/nonexistent\/build\/Release\/nodevisor_netdev.node \(missing\)$/);
    if (process.platform === 'linux') {
      const tapErr = await openTap('tap0', { warn() {}, debug() {} }, 1500, load).catch((e: Error) => e);
      expect((tapErr as Error).message).to.match(/^--net tap,ifname=tap0: needs the nodevisor_netdev native addon.*\(missing\)$/);
    }
  });

  it('names errnos portably', () => {
    const e = Object.assign(new Error('connect /x: No such file or directory'), { errno: 2, syscall: 'connect' });
    expect(errnoName(2)).to.equal('ENOENT');
    expect(errnoName(99999)).to.equal('errno 99999');
    expect(describeNativeError(e)).to.equal('connect /x: No such file or directory (ENOENT)');
  });
});
