// Newly written code must run as written, on the software CPU, however its instruction and
// data paths cache: the guest patches an instruction it already executed (STR, DC CVAU,
// IC IVAU, ISB) and runs it again; rewrites a whole page of code with STP; and the VMM
// writes code into RAM between runs (as a device's DMA would) that the guest then runs
// after IC IALLU. Each case runs with the MMU off and with an identity map on.
import { expect } from 'chai';
import { ExitReason, MemoryFlags, Reg, type Accelerator, type Vcpu, type VcpuExit, type Vm } from '../../src/accel/types.ts';
import { SysReg } from '../../src/accel/sysregs.ts';
import { RAM_BASE } from '../../src/arch/arm64/layout.ts';
import { allocateRam } from '../../src/memory/ram.ts';
import { assembleRaw, type Toolchain } from '../helpers/aarch64-toolchain.ts';
import { toolchainAndEmuOrSkip } from './diff/emu-host.ts';

const RAM_SIZE = 1024 * 1024;
const VBAR = RAM_BASE;
const CODE = RAM_BASE + 0x1000;
/** A page the guest (or the VMM) fills with fresh code. */
const FRESH = RAM_BASE + 0x10000;
const TABLE = RAM_BASE + 0x80000;
const STACK_TOP = RAM_BASE + RAM_SIZE;
const EL1H_MASKED = 0x3c5n;
const SCTLR_MMU_OFF = 0x30d00800n;
const SCTLR_MMU_ON = SCTLR_MMU_OFF | 1n | (1n << 2n) | (1n << 12n);
/** 4 KiB granule, 39-bit VAs from TTBR0 (walk starts at level 1), TTBR1 walks off. */
const TCR = 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 23n) | (2n << 32n);

const MOVZ_X0 = (imm: number) => (0xd2800000 | (imm << 5)) >>> 0;
const RET = 0xd65f03c0;

const ec = (exit: VcpuExit) => Number((exit.syndrome >> 26n) & 0x3fn);
const hex = (v: bigint | number) => `0x${v.toString(16)}`;

async function createGuest(accel: Accelerator, code: Uint8Array, mmu: boolean): Promise<{ vm: Vm; vcpu: Vcpu; ram: Uint8Array }> {
  const ram = allocateRam(RAM_SIZE);
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  for (let i = 0; i < 16; i++) {
    dv.setUint32(VBAR - RAM_BASE + i * 0x80, (0xd4000002 | ((0x100 + i) << 5)) >>> 0, true); // hvc #(0x100 + i)
    dv.setUint32(VBAR - RAM_BASE + i * 0x80 + 4, 0xd69f03e0, true); // eret
  }
  ram.set(code, CODE - RAM_BASE);
  // One level-1 block maps the 1 GiB around RAM 1:1: Normal memory, EL1 read/write/execute.
  const AF = 1n << 10n;
  dv.setBigUint64(TABLE - RAM_BASE + Math.floor(RAM_BASE / 2 ** 30) * 8, BigInt(RAM_BASE) | AF | (3n << 8n) | 1n, true);
  const vm = accel.createVm();
  vm.map(ram, RAM_BASE, MemoryFlags.RWX);
  const vcpu = await vm.createVcpu();
  vcpu.setSysReg(SysReg.MAIR_EL1, 0xffn);
  vcpu.setSysReg(SysReg.TCR_EL1, TCR);
  vcpu.setSysReg(SysReg.TTBR0_EL1, BigInt(TABLE));
  vcpu.setSysReg(SysReg.SCTLR_EL1, mmu ? SCTLR_MMU_ON : SCTLR_MMU_OFF);
  vcpu.setSysReg(SysReg.CPACR_EL1, 3n << 20n);
  vcpu.setSysReg(SysReg.VBAR_EL1, BigInt(VBAR));
  vcpu.setSysReg(SysReg.SP_EL1, BigInt(STACK_TOP));
  vcpu.setReg(Reg.CPSR, EL1H_MASKED);
  vcpu.setReg(Reg.PC, BigInt(CODE));
  return { vm, vcpu, ram };
}

/** Run to the next exit, which must be `hvc #imm`; returns X0. */
async function runToHvc(vcpu: Vcpu, imm: number, what: string): Promise<bigint> {
  const exit = await vcpu.run();
  expect(exit.reason, `${what}: exit reason`).to.equal(ExitReason.Exception);
  expect(hex(ec(exit)), `${what}: EC (ESR ${hex(exit.syndrome)}, PC ${hex(vcpu.getReg(Reg.PC))})`).to.equal(hex(0x16));
  expect(Number(exit.syndrome & 0xffffn), `${what}: HVC immediate`).to.equal(imm);
  return vcpu.getReg(Reg.X0);
}

// The guest side: patch `slot` twice after running it, then copy 1 KiB of code (x20 points
// at the source, built by the test in RAM) to FRESH with STP and run it; finally run FRESH
// again after the VMM has rewritten it.
const PROGRAM = `
  adr x1, slot
  bl slot
  hvc #1
  ldr w2, =${MOVZ_X0(0x111)}
  bl patch
  bl slot
  hvc #2
  ldr w2, =${MOVZ_X0(0x222)}
  bl patch
  bl slot
  hvc #3
  // Copy 256 instructions from x20 to x21 (FRESH), then make them visible to fetch.
  mov x3, x20
  mov x4, x21
  mov x5, #64
1:
  ldp x6, x7, [x3], #16
  stp x6, x7, [x4], #16
  subs x5, x5, #1
  b.ne 1b
  mov x3, x21
  mov x5, #1024
2:
  dc cvau, x3
  add x3, x3, #64
  subs x5, x5, #64
  b.ne 2b
  dsb ish
  ic iallu
  dsb ish
  isb
  blr x21
  hvc #4
  // The VMM has rewritten FRESH meanwhile.
  ic iallu
  dsb ish
  isb
  blr x21
  hvc #5
  b .
patch:
  str w2, [x1]
  dc cvau, x1
  dsb ish
  ic ivau, x1
  dsb ish
  isb
  ret
  .ltorg
  .balign 64
slot:
  mov x0, #0x77
  ret
`;

/** 256 instructions: x0 += k for k = 1..254, then ret (x0 starts at 0). */
function freshCode(base: number): Uint8Array {
  const words = new Uint32Array(256);
  words[0] = MOVZ_X0(0);
  for (let i = 1; i < 255; i++) words[i] = (0x91000000 | ((base + i) << 10)) >>> 0; // add x0, x0, #(base + i)
  words[255] = RET;
  return new Uint8Array(words.buffer);
}
const freshSum = (base: number) => BigInt(254 * base + (254 * 255) / 2);

describe('software CPU: self-modifying and newly loaded code', function () {
  this.timeout(20_000);
  let tc: Toolchain;
  let accel: Accelerator;

  before(async function () {
    ({ tc, accel } = await toolchainAndEmuOrSkip(this));
  });

  for (const mmu of [false, true]) {
    it(`runs code patched, copied and loaded by the VMM (MMU ${mmu ? 'on' : 'off'})`, async () => {
      const { vm, vcpu, ram } = await createGuest(accel, assembleRaw(tc, PROGRAM), mmu);
      try {
        const source = RAM_BASE + 0x20000;
        ram.set(freshCode(0), source - RAM_BASE);
        // FRESH starts as a page of stale code the guest executes nowhere: `ret` with x0 = 0xdead.
        const stale = new Uint32Array(1024).fill(RET);
        stale[0] = MOVZ_X0(0xdead);
        ram.set(new Uint8Array(stale.buffer), FRESH - RAM_BASE);
        vcpu.setReg(Reg.X20, BigInt(source));
        vcpu.setReg(Reg.X21, BigInt(FRESH));
        expect(hex(await runToHvc(vcpu, 1, 'original slot'))).to.equal(hex(0x77));
        expect(hex(await runToHvc(vcpu, 2, 'first patch'))).to.equal(hex(0x111));
        expect(hex(await runToHvc(vcpu, 3, 'second patch'))).to.equal(hex(0x222));
        expect(hex(await runToHvc(vcpu, 4, 'copied page'))).to.equal(hex(freshSum(0)));
        // The VMM writes new code over the page the guest just ran (as DMA would).
        ram.set(freshCode(3), FRESH - RAM_BASE);
        expect(hex(await runToHvc(vcpu, 5, 'page rewritten by the VMM'))).to.equal(hex(freshSum(3)));
      } finally {
        await vm.destroy();
      }
    });
  }
});
