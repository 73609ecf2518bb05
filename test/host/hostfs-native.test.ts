import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOSTFS_ABI_VERSION, HostfsUnavailableError, hostfsCandidatePaths, loadHostfs, tryLoadHostfs } from '../../src/host/hostfs-native.ts';

describe('nodevisor_hostfs loader', () => {
  it('names every path it tried and why, and refuses other ABIs and other modules', () => {
    const root = '/pkg';
    const paths = hostfsCandidatePaths(root, { NODEVISOR_HOSTFS_ADDON: '/x/custom.node' });
    expect(paths[0]).to.equal('/x/custom.node');
    expect(paths[1]).to.equal('/pkg/native/hostfs/build/Release/nodevisor_hostfs.node');
    const mods: Record<string, unknown> = {
      '/x/custom.node': { abiVersion: HOSTFS_ABI_VERSION - 1, getxattr() {}, punchHole() {} },
      '/pkg/native/hostfs/build/Release/nodevisor_hostfs.node': { something: 'else' },
    };
    const opts = { root, platform: 'linux', env: { NODEVISOR_HOSTFS_ADDON: '/x/custom.node' }, exists: (p: string) => p in mods, load: (p: string) => mods[p] };
    expect(() => loadHostfs(opts)).to.throw(HostfsUnavailableError, new RegExp(`custom\\.node \\(addon ABI ${HOSTFS_ABI_VERSION - 1}, expected ${HOSTFS_ABI_VERSION}: rebuild it\\).*Release/nodevisor_hostfs\\.node \\(not the nodevisor_hostfs addon\\).*Debug/nodevisor_hostfs\\.node \\(missing\\)`));
    expect(tryLoadHostfs({ platform: 'win32' }).error).to.match(/only on Linux and macOS, not win32/);
  });

  it('the built addon (when present) rejects with errno, code and syscall, and validates arguments', async function () {
    const loaded = tryLoadHostfs();
    if (!loaded.addon) {
      this.test!.title += ` (skipped: ${loaded.error})`;
      this.skip();
    }
    const api = loaded.addon!;
    const dir = mkdtempSync(join(tmpdir(), 'nodevisor-hostfs-'));
    try {
      writeFileSync(join(dir, 'f'), 'x');
      const e = await api.getxattr(join(dir, 'missing'), Buffer.from('user.a'), 0).then(() => undefined, (x: NodeJS.ErrnoException) => x);
      expect(e?.code).to.equal('ENOENT');
      expect(e?.syscall).to.equal('getxattr');
      expect(typeof e?.errno).to.equal('number');
      expect(() => api.getxattr(join(dir, 'f'), Buffer.from('user.a'), api.maxBuffer + 1)).to.throw(TypeError);
      expect(() => api.setxattr(join(dir, 'f'), Buffer.from(''), Buffer.alloc(0), 0)).to.throw(TypeError);
      expect(() => api.setxattr(join(dir, 'f'), Buffer.from('user.a'), Buffer.alloc(0), 8)).to.throw(TypeError);
      expect(() => api.punchHole(-1, 0, 1)).to.throw(TypeError);
      expect(() => api.punchHole(0, 0, 0)).to.throw(TypeError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
