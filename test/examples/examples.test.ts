import { expect } from 'chai';
import { spawnSync } from 'node:child_process';

describe('examples', function () {
  this.timeout(120_000);

  it('the Electron app type-checks against the real Electron typings and nodevisor\'s API', () => {
    const r = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'examples/electron/tsconfig.check.json'], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).to.equal('');
    expect(r.status).to.equal(0);
  });

  it('the shell examples are valid sh', () => {
    for (const f of ['examples/cli/boot.sh', 'examples/cli/run.sh']) {
      const r = spawnSync('sh', ['-n', f], { encoding: 'utf8' });
      expect(r.status, `${f}: ${r.stderr}`).to.equal(0);
    }
  });
});
