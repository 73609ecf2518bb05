// All software vCPUs share one JS thread. A vCPU that exits every few instructions (timer
// ticks, GIC traps, MMIO) must still give the thread up once its slice is used, or it starves
// the other vCPUs and the event loop (the 4-vCPU Linux boot saw soft lockups from this).
import { expect } from 'chai';
import { MemoryFlags, Reg, type Accelerator, type Vcpu } from '../../src/accel/types.ts';
import { SysReg } from '../../src/accel/sysregs.ts';
import { RAM_BASE } from '../../src/arch/arm64/layout.ts';
import { allocateRam } from '../../src/memory/ram.ts';
import { assembleRaw, type Toolchain } from '../helpers/aarch64-toolchain.ts';
import { toolchainAndEmuOrSkip } from './diff/emu-host.ts';
import { BATCH_INSTRUCTIONS, EXIT_SLICE_COST, type EmuVcpu } from '../../src/accel/emu/vcpu.ts';

const EXITER = RAM_BASE + 0x1000;
const SPINNER = RAM_BASE + 0x2000;
const SCTLR_MMU_OFF = 0x30d00800n;

describe('software CPU: sharing the JS thread between vCPUs', function () {
  this.timeout(30_000);
  let tc: Toolchain;
  let accel: Accelerator;

  before(async function () {
    ({ tc, accel } = await toolchainAndEmuOrSkip(this));
  });

  it('a vCPU that exits constantly still lets a busy peer and the event loop run', async () => {
    const ram = allocateRam(1 << 20);
    ram.set(assembleRaw(tc, '1:\n hvc #0\n b 1b'), EXITER - RAM_BASE);
    ram.set(assembleRaw(tc, '1:\n add x1, x1, #1\n b 1b'), SPINNER - RAM_BASE);
    const vm = accel.createVm();
    vm.map(ram, RAM_BASE, MemoryFlags.RWX);
    const vcpus: Vcpu[] = [];
    for (const pc of [EXITER, SPINNER]) {
      const v = await vm.createVcpu();
      v.setSysReg(SysReg.SCTLR_EL1, SCTLR_MMU_OFF);
      v.setReg(Reg.CPSR, 0x3c5n);
      v.setReg(Reg.PC, BigInt(pc));
      vcpus.push(v);
    }
    try {
      const spinner = vcpus[1] as EmuVcpu;
      let spinnerDone = false;
      const spinLoop = (async () => {
        while (!spinnerDone) await spinner.run();
      })();
      let timerFired = false;
      setTimeout(() => (timerFired = true), 0);
      // Exits the way a VMM run loop takes them: one after another, no await of its own.
      const slices = 6;
      const exits = Math.ceil((slices * BATCH_INSTRUCTIONS) / (2 + EXIT_SLICE_COST));
      for (let i = 0; i < exits; i++) await vcpus[0].run();
      const spun = spinner.instructionsRetired;
      spinnerDone = true;
      spinner.requestExit();
      await spinLoop;
      expect(spun, 'the busy peer got several turns').to.be.at.least(3 * BATCH_INSTRUCTIONS);
      expect(timerFired, 'timers ran meanwhile').to.equal(true);
    } finally {
      await vm.destroy();
    }
  });
});
