// Stage-1 page-table walks of the software CPU with each granule: the guest enables its
// MMU over tables the test builds, loads through a remapped page, and stores to a read-only page
// (a permission fault delivered to EL1 with the right ESR and FAR).
import { expect } from 'chai';
import { EmuAccelerator } from '../../../src/accel/emu/accelerator.ts';
import { ExitReason, MemoryFlags, Reg, type Vcpu } from '../../../src/accel/types.ts';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { allocateRam } from '../../../src/memory/ram.ts';
import { findToolchain, assembleRaw } from '../../helpers/aarch64-toolchain.ts';
import { AP_RO, TableBuilder, TableMemory } from '../../helpers/aarch64-page-tables.ts';

const RAM = 0x4000_0000;
const RAM_SIZE = 64 << 20;
const CODE = RAM; // identity-mapped
const VECTORS = RAM + 0x1_0000;
const DATA_PA = RAM + 0x40_0000;
const TABLES = RAM + 0x80_0000;
const DATA_VA = 0x12_3400_0000; // below 2^39 so every configuration maps it

const PROGRAM = `
  msr mair_el1, x1
  msr tcr_el1, x2
  msr ttbr0_el1, x3
  isb
  mrs x4, sctlr_el1
  orr x4, x4, #1
  msr sctlr_el1, x4
  isb
  ldr x5, [x6]
  str x7, [x8]
  hvc #0
`;
// Vector table: every entry reports with HVC #1 (the test reads ESR_EL1/FAR_EL1).
const VECTOR_ENTRY = 'hvc #1\n b .\n';

interface Granule { name: string; bits: number; tg0: number; t0sz: number }
const GRANULES: Granule[] = [
  { name: '4K, 39-bit VA', bits: 12, tg0: 0b00, t0sz: 25 },
  { name: '4K, 48-bit VA', bits: 12, tg0: 0b00, t0sz: 16 },
  { name: '16K, 47-bit VA', bits: 14, tg0: 0b10, t0sz: 17 },
  { name: '64K, 42-bit VA', bits: 16, tg0: 0b01, t0sz: 22 },
];

describe('software CPU: stage-1 translation with every granule', function () {
  this.timeout(20_000);
  let program: Uint8Array;
  let vectorEntry: Uint8Array;

  before(function () {
    const { toolchain, reason } = findToolchain();
    if (!toolchain) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    program = assembleRaw(toolchain!, PROGRAM, ['-march=armv8-a']);
    vectorEntry = assembleRaw(toolchain!, VECTOR_ENTRY, ['-march=armv8-a']);
  });

  for (const g of GRANULES) {
    it(`${g.name}: loads through a remapped page and faults on a read-only one`, async () => {
      const vm = new EmuAccelerator().createVm();
      const ram = allocateRam(RAM_SIZE);
      vm.map(ram, RAM, MemoryFlags.RWX);
      const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
      ram.set(program, CODE - RAM);
      for (let v = 0; v < 16; v++) ram.set(vectorEntry, VECTORS - RAM + v * 0x80);
      view.setBigUint64(DATA_PA - RAM, 0x1122_3344_5566_7788n, true);

      const page = 1 << g.bits;
      const t = new TableBuilder(new TableMemory(view, RAM, TABLES), g.bits, g.t0sz);
      for (let off = 0; off < 0x2_0000; off += page) t.map(CODE + off, CODE + off, 0n); // code + vectors
      t.map(DATA_VA, DATA_PA, 0n);
      t.map(DATA_VA + page, DATA_PA + page, AP_RO);

      const vcpu: Vcpu = await vm.createVcpu();
      vcpu.setReg(Reg.CPSR, 0x3c5n);
      vcpu.setReg(Reg.PC, BigInt(CODE));
      vcpu.setSysReg(SysReg.VBAR_EL1, BigInt(VECTORS));
      vcpu.setSysReg(SysReg.SCTLR_EL1, 0x30d0_0800n);
      vcpu.setReg(Reg.X1, 0xffn); // MAIR attr0: normal write-back
      const ips = 2n << 32n; // 40-bit
      vcpu.setReg(Reg.X2, ips | (BigInt(g.tg0) << 14n) | BigInt(g.t0sz) | (1n << 23n)); // EPD1: no TTBR1 walks
      vcpu.setReg(Reg.X3, BigInt(t.root));
      vcpu.setReg(Reg.X6, BigInt(DATA_VA + 8 - 8));
      vcpu.setReg(Reg.X7, 0xdeadn);
      vcpu.setReg(Reg.X8, BigInt(DATA_VA + page + 16));

      const exit = await vcpu.run();
      expect(exit.reason).to.equal(ExitReason.Exception);
      expect(Number(exit.syndrome >> 26n), 'HVC #1 from the fault vector').to.equal(0x16);
      expect(Number(exit.syndrome & 0xffffn)).to.equal(1);
      expect(vcpu.getReg(Reg.X5)).to.equal(0x1122_3344_5566_7788n);
      const esr = vcpu.getSysReg(SysReg.ESR_EL1);
      expect(Number(esr >> 26n), 'data abort from the current EL').to.equal(0x25);
      expect(Number(esr & 0x3cn), 'permission fault').to.equal(0x0c);
      expect(Number((esr >> 6n) & 1n), 'WnR').to.equal(1);
      expect(vcpu.getSysReg(SysReg.FAR_EL1)).to.equal(BigInt(DATA_VA + page + 16));
      expect(view.getBigUint64(DATA_PA + page - RAM + 16, true), 'the faulting store wrote nothing').to.equal(0n);
      await vm.destroy();
    });
  }

  it('reports a translation fault for an unmapped VA, with the level in the status code', async () => {
    const g = GRANULES[0];
    const vm = new EmuAccelerator().createVm();
    const ram = allocateRam(RAM_SIZE);
    vm.map(ram, RAM, MemoryFlags.RWX);
    const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    ram.set(program, 0);
    for (let v = 0; v < 16; v++) ram.set(vectorEntry, VECTORS - RAM + v * 0x80);
    const t = new TableBuilder(new TableMemory(view, RAM, TABLES), g.bits, g.t0sz);
    for (let off = 0; off < 0x2_0000; off += 4096) t.map(CODE + off, CODE + off, 0n);
    const vcpu = await vm.createVcpu();
    vcpu.setReg(Reg.CPSR, 0x3c5n);
    vcpu.setReg(Reg.PC, BigInt(CODE));
    vcpu.setSysReg(SysReg.VBAR_EL1, BigInt(VECTORS));
    vcpu.setReg(Reg.X1, 0xffn);
    vcpu.setReg(Reg.X2, (2n << 32n) | BigInt(g.t0sz) | (1n << 23n));
    vcpu.setReg(Reg.X3, BigInt(t.root));
    vcpu.setReg(Reg.X6, 0x7f_0000_0000n); // nothing mapped at level 1
    await vcpu.run();
    const esr = vcpu.getSysReg(SysReg.ESR_EL1);
    expect(Number(esr >> 26n)).to.equal(0x25);
    expect(Number(esr & 0x3fn), 'translation fault, level 1').to.equal(0x05);
    expect(vcpu.getSysReg(SysReg.FAR_EL1)).to.equal(0x7f_0000_0000n);
    await vm.destroy();
  });
});
