// Type-checks native/hvf against the real macOS 15.0 SDK headers (deployment targets 11.0,
// 13.0 and 15.0, warnings as errors) when hvfcheck and its SDK headers are installed;
// skipped otherwise.
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

describe('hvf addon type check (hvfcheck, macOS 15.0 SDK, -Werror)', function () {
  this.timeout(120_000);

  // 11.0: the shipped deployment target (every newer call guarded); 13.0 and 15.0: the guards
  // stay correct where the IPA-size and GIC calls become unconditional.
  for (const target of ['11.0', '13.0', '15.0']) {
    it(`native/hvf/*.mm type-check cleanly with deployment target ${target}`, function () {
      const reason = missing();
      if (reason) {
        this.test!.title += ` — skipped: ${reason}`;
        this.skip();
      }
      const r = spawnSync('bash', [join(ROOT, 'scripts', 'hvfcheck.sh')], {
        encoding: 'utf8',
        env: { ...process.env, HVFCHECK: CHECK, HVF_MACOS_MIN: target },
      });
      const output = `${r.stdout}${r.stderr}`;
      expect(r.status, output).to.equal(0);
      expect(output).to.contain('hvfcheck: OK');
      expect(output).not.to.contain('FAIL');
    });
  }
});
