// The C programs of the differential suite (test/cpu/diff/c-programs.ts), run in-process
// on the interpreter and with the translation tier: same output, same exit code, and most
// instructions must actually have run translated. (The whole qemu-checked suite runs with
// translation on too: npm run test:translated.)
import { expect } from 'chai';
import { buildElf, findToolchain } from '../../helpers/aarch64-toolchain.ts';
import { cPrograms } from '../diff/c-programs.ts';
import { runElfOnEmulator } from '../diff/emu-runner.ts';
import { EmuAccelerator } from '../../../src/accel/emu/accelerator.ts';
import type { EmuVcpu } from '../../../src/accel/emu/vcpu.ts';
import type { Translator } from '../../../src/accel/emu/translator/tier.ts';
import type { Vm, VmConfig } from '../../../src/accel/types.ts';

function accelerator(translate: boolean): { accel: EmuAccelerator; tiers: Translator[]; vcpus: EmuVcpu[] } {
  const accel = new EmuAccelerator({ translate: translate ? { threshold: 2, batchSize: 16, maxWaitBatches: 1 } : false });
  const tiers: Translator[] = [];
  const vcpus: EmuVcpu[] = [];
  const createVm = accel.createVm.bind(accel);
  accel.createVm = (config?: VmConfig): Vm => {
    const vm = createVm(config);
    const createVcpu = vm.createVcpu.bind(vm);
    vm.createVcpu = async () => {
      const v = await createVcpu();
      vcpus.push(v as EmuVcpu);
      const t = (v as EmuVcpu).cpu.tier as Translator | undefined;
      if (t) tiers.push(t);
      return v;
    };
    return vm;
  };
  return { accel, tiers, vcpus };
}

describe('translation tier: C programs', function () {
  this.timeout(120_000);
  const found = findToolchain();
  let total = 0, translated = 0;
  after(() => { if (total > 0) expect(translated / total, 'share of instructions run translated').to.be.greaterThan(0.3); });
  for (const program of cPrograms()) {
    it(program.name, async function () {
      if (!found.toolchain) this.skip();
      const elf = buildElf(found.toolchain!, { source: program.source, language: 'c', flags: program.flags });
      const options = { timeoutMs: 60_000, mmu: program.mmu };
      const r = accelerator(false);
      const ref = await runElfOnEmulator(r.accel, elf.bytes, options);
      const t = accelerator(true);
      const got = await runElfOnEmulator(t.accel, elf.bytes, options);
      expect(got.error).to.equal(ref.error);
      expect(got.exitCode).to.equal(ref.exitCode);
      expect(Buffer.from(got.stdout).toString('latin1')).to.equal(Buffer.from(ref.stdout).toString('latin1'));
      expect(got.faults).to.deep.equal(ref.faults);
      // Both tiers retire exactly the same instructions.
      expect(t.vcpus.map((v) => v.cpu.instructionsRetired)).to.deep.equal(r.vcpus.map((v) => v.cpu.instructionsRetired));
      for (const tier of t.tiers) {
        translated += tier.stats.translatedInstructions;
        total += (tier as unknown as { cpu: { instructionsRetired: number } }).cpu.instructionsRetired;
      }
    });
  }
});
