// Type-checks native/hvf against the real macOS 15.0 SDK headers (deployment target 11.0,
// warnings as errors) when hvfcheck and its SDK headers are installed; skipped otherwise.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..', '..');
const CHECK = process.env.HVFCHECK ?? '/work/shared/tools/hvfcheck/check.sh';
const STATE = process.env.HVFCHECK_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'hvfcheck');
const SDK = process.env.HVF_SDK ?? join(STATE, 'sdk', '15.0');

function missing(): string | undefined {
  if (!existsSync(CHECK)) return `hvfcheck not found at ${CHECK} (set HVFCHECK)`;
  if (!existsSync(join(SDK, 'Hypervisor', 'Hypervisor.h'))) return `macOS SDK Hypervisor headers not found in ${SDK} (see hvfcheck's PROVENANCE.md)`;
  if (spawnSync('clang++-19', ['--version']).status !== 0 && !process.env.CLANG) return 'clang++-19 not installed (hvfcheck setup.sh)';
  return undefined;
}

describe('hvf addon type check (hvfcheck, macOS 15.0 SDK, target 11.0, -Werror)', function () {
  this.timeout(120_000);

  it('native/hvf/*.mm type-check cleanly', function () {
    const reason = missing();
    if (reason) {
      this.test!.title += ` — skipped: ${reason}`;
      this.skip();
    }
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'hvfcheck.sh')], { encoding: 'utf8', env: { ...process.env, HVFCHECK: CHECK } });
    const output = `${r.stdout}${r.stderr}`;
    expect(r.status, output).to.equal(0);
    expect(output).to.contain('hvfcheck: OK');
    expect(output).not.to.contain('FAIL');
  });
});
