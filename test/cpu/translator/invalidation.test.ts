// Translations must never outlive the code or the mapping they came from: a guest store to
// a translated page (also from inside the translated block itself), code the VMM writes
// followed by IC IALLU, a TTBR0 switch with TLBI that maps other code at the same virtual
// address, two address spaces (ASIDs) switched back and forth, and a TLBI by ASID for an
// address space switched away from. Every program runs with translation on (threshold 1: each block is
// translated on first sight) and must compute what the interpreter computes.
import { expect } from 'chai';
import { ExitReason, MemoryFlags, Reg, type Vcpu } from '../../../src/accel/types.ts';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { EmuAccelerator } from '../../../src/accel/emu/accelerator.ts';
import type { EmuVcpu } from '../../../src/accel/emu/vcpu.ts';
import type { Translator } from '../../../src/accel/emu/translator/tier.ts';
import { allocateRam } from '../../../src/memory/ram.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';

const RAM_BASE = 0x4000_0000;
const RAM_SIZE = 8 << 20;
const CODE = RAM_BASE + 0x1000;
const L1_TABLE = RAM_BASE + 0x10000;
const L2_A = RAM_BASE + 0x11000;
const L2_B = RAM_BASE + 0x12000;
/** A second L1 table whose entry 1 points at table B: a second address space. */
const L1_B = RAM_BASE + 0x13000;
/** Virtual 2 MiB block 2 maps PA block 1 under table A, PA block 3 under table B. */
const REMAPPED_VA = RAM_BASE + 0x40_0000;
const SCTLR_MMU_OFF = 0x30d00800n;
const SCTLR_MMU_ON = SCTLR_MMU_OFF | 1n | (1n << 2n) | (1n << 12n);
const TCR = 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 23n) | (2n << 32n);

interface Guest { vcpu: Vcpu; ram: Uint8Array; dv: DataView; tier: Translator }

async function guest(code: Uint8Array, mmu = false, translate = true): Promise<Guest> {
  const ram = allocateRam(RAM_SIZE);
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  for (let i = 0; i < 16; i++) dv.setUint32(i * 0x80, (0xd4000002 | ((0x100 + i) << 5)) >>> 0, true); // hvc #0x10i
  ram.set(code, CODE - RAM_BASE);
  const vm = new EmuAccelerator({ translate: translate ? { threshold: 1, batchSize: 1 } : false }).createVm();
  vm.map(ram, RAM_BASE, MemoryFlags.RWX);
  const vcpu = await vm.createVcpu();
  if (mmu) {
    // L1[1] -> an L2 table of 2 MiB blocks; blocks 0..3 identity except VA block 2.
    const AF = 1n << 10n, BLOCK = AF | 1n, INNER_SH = 3n << 8n;
    for (const [t, remap] of [[L2_A, 1], [L2_B, 3]] as const) {
      for (let k = 0; k < 4; k++) {
        const pa = BigInt(RAM_BASE + (k === 2 ? remap : k) * 0x20_0000);
        dv.setBigUint64(t - RAM_BASE + k * 8, pa | INNER_SH | BLOCK, true);
      }
    }
    dv.setBigUint64(L1_TABLE - RAM_BASE + 8, BigInt(L2_A) | 3n, true);
    vcpu.setSysReg(SysReg.MAIR_EL1, 0xffn);
    vcpu.setSysReg(SysReg.TCR_EL1, TCR);
    vcpu.setSysReg(SysReg.TTBR0_EL1, BigInt(L1_TABLE));
  }
  vcpu.setSysReg(SysReg.SCTLR_EL1, mmu ? SCTLR_MMU_ON : SCTLR_MMU_OFF);
  vcpu.setSysReg(SysReg.VBAR_EL1, BigInt(RAM_BASE));
  vcpu.setSysReg(SysReg.SP_EL1, BigInt(RAM_BASE + RAM_SIZE));
  vcpu.setReg(Reg.CPSR, 0x3c5n);
  vcpu.setReg(Reg.PC, BigInt(CODE));
  return { vcpu, ram, dv, tier: (vcpu as EmuVcpu).cpu.tier as Translator };
}

/** Guest code: call x5 thirty times adding each x0 into x1, then `hvc #n`. */
const callThirtyTimes = (n: number): string => `mov x2, #30
    ${n}: blr x5
      add x1, x1, x0
      subs x2, x2, #1
      b.ne ${n}b
      hvc #${n}`;

/** Writes `movz x0, #imm; ret` at guest-physical `pa` behind the guest's back, as DMA would. */
function putReturnImm(g: Guest, pa: number, imm: number): void {
  g.dv.setUint32(pa - RAM_BASE, (0xd2800000 | (imm << 5)) >>> 0, true);
  g.dv.setUint32(pa - RAM_BASE + 4, 0xd65f03c0, true);
}

async function toHvc(g: Guest, imm: number): Promise<bigint> {
  const exit = await g.vcpu.run();
  expect(exit.reason).to.equal(ExitReason.Exception);
  expect(Number((exit.syndrome >> 26n) & 0x3fn), `EC at PC 0x${g.vcpu.getReg(Reg.PC).toString(16)}`).to.equal(0x16);
  expect(Number(exit.syndrome & 0xffffn)).to.equal(imm);
  return g.vcpu.getReg(Reg.X1);
}

describe('translation tier: invalidation', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  it('a store over translated code (from another block and from inside the block) takes effect at once', async () => {
    const code = assembleRaw(tc, `
      mov x1, #0
      adr x4, slot
      ldr w3, =0xd2800040        // movz x0, #2
      mov x2, #50
      bl loop
      str w3, [x4]               // patch the translated loop from outside
      mov x2, #50
      bl loop
      hvc #1
      // The block stores over its own next instruction on every iteration.
      adr x4, slot2
      ldr w3, =0xd2800060        // movz x0, #3
      mov x2, #40
    self:
      str w3, [x4]
    slot2:
      movz x0, #9
      add x1, x1, x0
      subs x2, x2, #1
      b.ne self
      hvc #2
    loop:
    slot:
      movz x0, #1
      add x1, x1, x0
      subs x2, x2, #1
      b.ne loop
      ret
      .ltorg`);
    for (const translate of [true, false]) {
      const g = await guest(code, false, translate);
      expect(await toHvc(g, 1)).to.equal(50n * 1n + 50n * 2n);
      expect(await toHvc(g, 2)).to.equal(150n + 40n * 3n);
      if (translate) {
        expect(g.tier.stats.blocks, 'blocks translated').to.be.greaterThan(3);
        expect(g.tier.stats.translatedInstructions, 'instructions run translated').to.be.greaterThan(300);
      }
    }
  });

  it('code the VMM writes is run after IC IALLU, not the old translation', async () => {
    const code = assembleRaw(tc, `
      mov x1, #0
      ldr x5, =${RAM_BASE + 0x8000}
      ${callThirtyTimes(1)}
      ic iallu
      dsb ish
      isb
      ${callThirtyTimes(2)}
      .ltorg`);
    const g = await guest(code);
    const fn = (imm: number) => putReturnImm(g, RAM_BASE + 0x8000, imm);
    fn(1);
    expect(await toHvc(g, 1)).to.equal(30n);
    const before = g.tier.stats.blocks;
    fn(5); // as a device's DMA would: no guest store sees it
    expect(await toHvc(g, 2)).to.equal(30n + 150n);
    expect(g.tier.stats.blocks, 'retranslated').to.be.greaterThan(before);
  });

  it('IC IVAU of a page missing from the TLB drops that page only (the walk finds it)', async () => {
    const code = assembleRaw(tc, `
      mov x1, #0
      ldr x5, =${REMAPPED_VA}
      ${callThirtyTimes(1)}
      tlbi vmalle1               // the VA is no longer in the TLB
      dsb ish
      ic ivau, x5
      dsb ish
      isb
      ${callThirtyTimes(2)}
      .ltorg`);
    const g = await guest(code, true);
    const put = (imm: number) => putReturnImm(g, RAM_BASE + 0x20_0000, imm);
    put(1);
    expect(await toHvc(g, 1)).to.equal(30n);
    const pages = (g.tier as unknown as { code: { pageCount: number; fullDrops: number } }).code;
    expect(pages.pageCount, 'pages with translations').to.equal(2);
    put(4); // as DMA would
    expect(await toHvc(g, 2)).to.equal(30n + 120n);
    expect(pages.fullDrops, 'translations of other pages dropped').to.equal(0);
  });

  it('a TTBR0 switch with TLBI runs the code now mapped at the same virtual address', async () => {
    const code = assembleRaw(tc, `
      mov x1, #0
      ldr x5, =${REMAPPED_VA}
      ldr x6, =${L1_TABLE}
      ${callThirtyTimes(1)}
      msr ttbr0_el1, x6          // same table and ASID; its L1 entry now points at table B
      tlbi vmalle1
      dsb ish
      isb
      ${callThirtyTimes(2)}
      .ltorg`);
    for (const translate of [true, false]) {
      const g = await guest(code, true, translate);
      putReturnImm(g, RAM_BASE + 0x20_0000, 1);
      putReturnImm(g, RAM_BASE + 0x60_0000, 7);
      expect(await toHvc(g, 1)).to.equal(30n);
      g.dv.setBigUint64(L1_TABLE - RAM_BASE + 8, BigInt(L2_B) | 3n, true);
      expect(await toHvc(g, 2)).to.equal(30n + 210n);
      if (translate) expect(g.tier.stats.translatedInstructions).to.be.greaterThan(100);
    }
  });

  /** Two address spaces: ASID 1 (table A: VA block 2 -> code returning 1) and ASID 2 (table B: returning 7); VA block 2 not global. */
  async function twoSpaces(code: Uint8Array, translate: boolean): Promise<Guest> {
    const g = await guest(code, true, translate);
    putReturnImm(g, RAM_BASE + 0x20_0000, 1);
    putReturnImm(g, RAM_BASE + 0x60_0000, 7);
    putReturnImm(g, RAM_BASE + 0x40_0000, 5);
    const NG = 1n << 11n;
    for (const t of [L2_A, L2_B]) g.dv.setBigUint64(t - RAM_BASE + 16, g.dv.getBigUint64(t - RAM_BASE + 16, true) | NG, true);
    g.dv.setBigUint64(L1_B - RAM_BASE + 8, BigInt(L2_B) | 3n, true);
    return g;
  }
  const spaces = `
      mov x1, #0
      ldr x5, =${REMAPPED_VA}
      ldr x6, =${BigInt(L1_TABLE) | (1n << 48n)}
      ldr x7, =${BigInt(L1_B) | (2n << 48n)}`;
  const thirtyCalls = (label: number) => `
      mov x2, #30
    ${label}: blr x5
      add x1, x1, x0
      subs x2, x2, #1
      b.ne ${label}b`;

  it('two address spaces switched back and forth without TLBI each run their own code', async () => {
    const code = assembleRaw(tc, `${spaces}
      mov x9, #3
    9: msr ttbr0_el1, x6
      isb
      ${thirtyCalls(1)}
      msr ttbr0_el1, x7
      isb
      ${thirtyCalls(2)}
      subs x9, x9, #1
      b.ne 9b
      hvc #1
      .ltorg`);
    for (const translate of [true, false]) {
      const g = await twoSpaces(code, translate);
      expect(await toHvc(g, 1), translate ? 'translated' : 'interpreted').to.equal(3n * (30n + 210n));
      if (translate) expect(g.tier.stats.translatedInstructions).to.be.greaterThan(500);
    }
  });

  it('a TLBI by ASID for an address space switched away from is seen when it comes back', async () => {
    const code = assembleRaw(tc, `${spaces}
      mov x8, #(1 << 48)
      msr ttbr0_el1, x6
      isb
      ${thirtyCalls(1)}
      msr ttbr0_el1, x7          // ASID 2 leaves ASID 1's dispatch entry for x5 alone
      isb
      add x1, x1, #7
      hvc #1                     // the VMM points ASID 1's VA block 2 at the code returning 5
      tlbi aside1, x8
      b 4f                       // a block head between the TLBI and the switch back
    4: dsb ish
      msr ttbr0_el1, x6
      isb
      ${thirtyCalls(3)}
      hvc #2
      .ltorg`);
    for (const translate of [true, false]) {
      const g = await twoSpaces(code, translate);
      expect(await toHvc(g, 1)).to.equal(30n + 7n);
      const entry = L2_A - RAM_BASE + 16;
      g.dv.setBigUint64(entry, BigInt(RAM_BASE + 0x40_0000) | (g.dv.getBigUint64(entry, true) & 0xfffn), true); // same attributes
      expect(await toHvc(g, 2), translate ? 'translated' : 'interpreted').to.equal(30n + 7n + 150n);
    }
  });
});
