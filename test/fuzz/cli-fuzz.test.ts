import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliArgs, cliTarget, runCliInput } from '../../fuzz/targets/cli.ts';
import { loadConfigFile } from '../../src/config/machine-config.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { exitCodeFor } from '../../src/cli/errors.ts';
import { ExitCode } from '../../src/cli/exit-codes.ts';
import { runInputs } from './run-inputs.ts';

describe('cli fuzz target', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-cli-fuzz-test-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  // Found by cli-parser: object items' paths went to path.resolve unchecked (a TypeError, exit code 1).
  for (const [item, field] of [
    [{ disk: [{ path: 5 }] }, 'disk[].path'],
    [{ share: [{ hostPath: -1, tag: 'x' }] }, 'share[].hostPath'],
    [{ vsock: [{ port: 1, path: {} }] }, 'vsock[].path'],
    [{ vsock: [{ port: '1', path: 's' }] }, 'vsock[].port'],
    [{ disk: [{ path: 'a.img', readonly: 'yes' }] }, 'disk[].readonly'],
  ] as const) {
    it(`rejects a config file with a wrong-typed ${field} as a usage error`, async () => {
      const path = join(dir, 'c.json');
      writeFileSync(path, JSON.stringify(item));
      let err: unknown;
      try {
        loadConfigFile(path);
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.include(`'${field}'`);
      expect(exitCodeFor(err)).to.equal(ExitCode.Usage);
      await runCliInput(['dtb', '--out', join(dir, 'x.dtb'), '--config', path]); // typed failure: no throw
    });
  }

  it('passes a valid config and a typed read error (a folder as --config)', async () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify({ disk: ['a.img'], memory: '64M' }));
    await runCliInput(['boot', '--config', path]);
    await runCliInput(['boot', '--config', dir]);
  });

  it('generates argument vectors with flags, values and config files', () => {
    const args = cliArgs(Uint8Array.of(0, 0, 1, 0, 12, 1, 2));
    expect(args[0]).to.equal('boot');
    expect(args).to.include('--memory');
  });

  it('150 deterministic inputs, no findings', async function () {
    this.timeout(60_000);
    expect(await runInputs(cliTarget, 150, 99)).to.deep.equal([]);
  });
});
