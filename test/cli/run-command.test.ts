import { expect } from 'chai';
import { guestCwd, parseRunShares } from '../../src/cli/commands/run.ts';
import { ConfigError } from '../../src/config/errors.ts';

describe('run --share HOSTDIR[:GUESTDIR]', () => {
  it('mounts at the same path by default, or at GUESTDIR, with generated tags', () => {
    const { shares, mounts } = parseRunShares(['/src', '/data:/mnt/data,readonly']);
    expect(shares).to.deep.equal([
      { hostPath: '/src', tag: 'run0', readonly: false },
      { hostPath: '/data', tag: 'run1', readonly: true },
    ]);
    expect(mounts).to.deep.equal([
      { tag: 'run0', guestPath: '/src', readonly: false },
      { tag: 'run1', guestPath: '/mnt/data', readonly: true },
    ]);
  });
  it('rejects a relative GUESTDIR and unknown options', () => {
    expect(() => parseRunShares(['/src:rel'])).to.throw(ConfigError);
    expect(() => parseRunShares(['/src,rw'])).to.throw(ConfigError);
  });
  it('starts the command in the guest twin of the current directory when it is shared', () => {
    const { shares, mounts } = parseRunShares(['/home/me/proj:/work']);
    expect(guestCwd(shares, mounts, '/home/me/proj/src')).to.equal('/work/src');
    expect(guestCwd(shares, mounts, '/home/me/proj')).to.equal('/work');
    expect(guestCwd(shares, mounts, '/home/me/project2')).to.equal(undefined);
  });
});
