// Cost of one MMIO exit through the binding on the fake addon: exit -> JS handler (decode,
// device write, PC += 4) -> next run(). The guest stores to a device register in a loop.
// docs/hvf.md records the result; the assertion only guards against gross regressions.
import { expect } from 'chai';
import { MemoryFlags, Reg } from '../../src/accel/types.ts';
import { HvfAccelerator } from '../../src/accel/hvf/backend.ts';
import { decodeExit } from '../../src/arch/arm64/exit-decoder.ts';
import { FakeHvf } from './fake-native.ts';

const ENTRY = 0x4000_0000n;
const DEVICE = 0x0900_0000;

async function measure(exits: number): Promise<{ perExitUs: number; writes: number }> {
  const native = new FakeHvf({
    program: () => ({
      entry: ENTRY,
      ops: [
        { op: 'movz', rd: 0, imm: BigInt(DEVICE) },
        { op: 'movz', rd: 2, imm: BigInt(exits) },
        { op: 'str', rt: 2, rn: 0, size: 4 }, // MMIO write: exits to the VMM
        { op: 'sub', rd: 2, rn: 2, imm: 1n },
        { op: 'cbnz', rt: 2, target: 2 },
        { op: 'hvc', imm: 0 },
      ],
    }),
  });
  const accel = new HvfAccelerator(native);
  const vm = accel.createVm();
  vm.map(accel.allocateRam(16384), 0x4000_0000, MemoryFlags.RWX);
  const vcpu = await vm.createVcpu();
  vcpu.setReg(Reg.PC, ENTRY);
  let writes = 0;
  const start = process.hrtime.bigint();
  for (;;) {
    const ev = decodeExit(await vcpu.run());
    if (ev.kind === 'hvc') break;
    if (ev.kind !== 'mmio-write') throw new Error(`unexpected exit ${ev.kind}`);
    vcpu.getReg(ev.register); // the device reads the stored value
    writes++;
    vcpu.setReg(Reg.PC, vcpu.getReg(Reg.PC) + 4n);
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1000;
  await vm.destroy();
  return { perExitUs: elapsed / writes, writes };
}

describe('hvf binding MMIO round trip (fake addon)', () => {
  it('handles an MMIO exit -> JS handler -> next run in well under a millisecond', async () => {
    await measure(200); // warm-up
    const { perExitUs, writes } = await measure(5000);
    expect(writes).to.equal(5000);
    process.stderr.write(`      MMIO exit round trip through the binding (fake addon): ${perExitUs.toFixed(1)} µs/exit over ${writes} exits\n`);
    expect(perExitUs).to.be.lessThan(1000);
  });
});
