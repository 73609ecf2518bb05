// Differential test of whole C programs (integer algorithms, floating point, vectorized
// loops): the software CPU must print exactly what qemu-aarch64 prints and exit the same.
import { expect } from 'chai';
import { buildElf, findToolchain, runOnQemu } from '../../helpers/aarch64-toolchain.ts';
import { cPrograms } from './c-programs.ts';
import { EmuHost, emuAvailable } from './emu-host.ts';

/** First differing line of two outputs, for a readable failure. */
function firstDifference(expected: Uint8Array, actual: Uint8Array): string {
  const e = Buffer.from(expected).toString('latin1').split('\n');
  const a = Buffer.from(actual).toString('latin1').split('\n');
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    if (e[i] !== a[i]) return `line ${i + 1}: expected ${JSON.stringify(e[i] ?? '(end)')}, got ${JSON.stringify(a[i] ?? '(end)')}`;
  }
  return 'outputs equal';
}

describe('differential: C programs vs qemu-aarch64', function () {
  this.timeout(120_000);
  const found = findToolchain();
  const host = new EmuHost();
  after(() => host.close());

  for (const program of cPrograms()) {
    it(program.name, async function () {
      if (!found.toolchain) {
        console.warn(`skipping: ${found.reason}`);
        this.skip();
      }
      const tc = found.toolchain!;
      const elf = buildElf(tc, { source: program.source, language: 'c', flags: program.flags });
      const ref = await runOnQemu(tc, elf.path);
      expect(ref.error, 'qemu-aarch64 run').to.equal(undefined);
      expect(ref.stdout.length, 'qemu-aarch64 output').to.be.greaterThan(0);
      const unavailable = emuAvailable();
      if (unavailable) {
        console.warn(`skipping the software CPU: ${unavailable}`);
        this.skip();
      }
      const emu = await host.run(elf.bytes, { timeoutMs: 60_000, mmu: program.mmu });
      if (!emu.stdout) throw new Error(emu.error);
      if (emu.error) throw new Error(`${emu.error}\n(after ${emu.stdout.length} bytes of output; ${firstDifference(ref.stdout, emu.stdout)})`);
      if (Buffer.compare(Buffer.from(ref.stdout), Buffer.from(emu.stdout)) !== 0) {
        throw new Error(`output differs: ${firstDifference(ref.stdout, emu.stdout)}`);
      }
      expect(emu.exitCode, 'exit status').to.equal(ref.exitCode);
    });
  }
});
