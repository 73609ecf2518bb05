// All software vCPUs share one JS thread: a vCPU spinning on a lock with YIELD (Linux's
// cpu_relax) must hand the thread over at once instead of burning its whole batch, while a
// lone vCPU keeps running through YIELD without leaving run().
import { expect } from 'chai';
import { ExitReason, MemoryFlags, Reg, type Accelerator, type Vcpu } from '../../src/accel/types.ts';
import { SysReg } from '../../src/accel/sysregs.ts';
import { RAM_BASE } from '../../src/arch/arm64/layout.ts';
import { allocateRam } from '../../src/memory/ram.ts';
import { assembleRaw, type Toolchain } from '../helpers/aarch64-toolchain.ts';
import { toolchainAndEmuOrSkip } from './diff/emu-host.ts';
import { BATCH_INSTRUCTIONS, type EmuVcpu } from '../../src/accel/emu/vcpu.ts';

const RAM_SIZE = 1024 * 1024;
const SPINNER = RAM_BASE + 0x1000;
const RELEASER = RAM_BASE + 0x2000;
const FLAG = RAM_BASE + 0x8000;
const SCTLR_MMU_OFF = 0x30d00800n;

const SPIN = `
1:
  yield
  ldr w1, [x2]
  cbz w1, 1b
  hvc #1
`;
const RELEASE = `
  mov w1, #1
  str w1, [x2]
  hvc #2
`;

describe('software CPU: YIELD with several vCPUs', function () {
  this.timeout(20_000);
  let tc: Toolchain;
  let accel: Accelerator;

  before(async function () {
    ({ tc, accel } = await toolchainAndEmuOrSkip(this));
  });

  async function setUp(cpus: number): Promise<{ vcpus: Vcpu[]; destroy: () => Promise<void> }> {
    const ram = allocateRam(RAM_SIZE);
    ram.set(assembleRaw(tc, SPIN), SPINNER - RAM_BASE);
    ram.set(assembleRaw(tc, RELEASE), RELEASER - RAM_BASE);
    const vm = accel.createVm();
    vm.map(ram, RAM_BASE, MemoryFlags.RWX);
    const vcpus: Vcpu[] = [];
    for (let i = 0; i < cpus; i++) {
      const v = await vm.createVcpu();
      v.setSysReg(SysReg.SCTLR_EL1, SCTLR_MMU_OFF);
      v.setReg(Reg.CPSR, 0x3c5n);
      v.setReg(Reg.PC, BigInt(i === 0 ? SPINNER : RELEASER));
      v.setReg(Reg.X2, BigInt(FLAG));
      vcpus.push(v);
    }
    return { vcpus, destroy: () => vm.destroy() };
  }

  it('a spinning vCPU gives the thread to the others after one YIELD', async () => {
    const { vcpus, destroy } = await setUp(2);
    try {
      // run() executes its first batch before returning its promise, so the releaser
      // only starts once the spinner has handed the thread over.
      const spinner = vcpus[0].run();
      const releaser = await vcpus[1].run();
      expect(Number(releaser.syndrome & 0xffffn), 'releaser HVC').to.equal(2);
      const exit = await spinner;
      expect(exit.reason).to.equal(ExitReason.Exception);
      expect(Number(exit.syndrome & 0xffffn), 'spinner HVC').to.equal(1);
      const spun = (vcpus[0] as EmuVcpu).instructionsRetired;
      expect(spun, 'instructions the spinner ran').to.be.lessThan(100);
    } finally {
      await destroy();
    }
  });

  it('a lone vCPU runs through YIELD without leaving run()', async () => {
    const { vcpus, destroy } = await setUp(1);
    try {
      const v = vcpus[0];
      const pending = v.run();
      // Nobody releases the lock: run() keeps going until asked to exit.
      setTimeout(() => v.requestExit(), 50);
      const exit = await pending;
      expect(exit.reason).to.equal(ExitReason.Canceled);
      expect((v as EmuVcpu).instructionsRetired, 'instructions spun').to.be.at.least(BATCH_INSTRUCTIONS);
    } finally {
      await destroy();
    }
  });
});
