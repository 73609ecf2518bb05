// HVF exit semantics of the software CPU, through the Accelerator interface alone: data
// aborts with a valid syndrome (ISV/SAS/SSE/SRT/SF/AR/WnR) and addresses, PC left at the
// trapping instruction except for HVC, MSR/MRS traps, WFI, SMC, requestExit, pending IRQ
// lines (cleared after each run) and the virtual timer with its automatic mask.
import { expect } from 'chai';
import { ExitReason, InterruptType, MemoryFlags, Reg, type Accelerator, type Vcpu, type VcpuExit, type Vm } from '../../src/accel/types.ts';
import { SysReg } from '../../src/accel/sysregs.ts';
import { PL011_BASE, RAM_BASE } from '../../src/arch/arm64/layout.ts';
import { allocateRam } from '../../src/memory/ram.ts';
import { assembleRaw, type Toolchain } from '../helpers/aarch64-toolchain.ts';
import { toolchainAndEmuOrSkip } from './diff/emu-host.ts';

const RAM_SIZE = 1024 * 1024;
const VBAR = RAM_BASE;
const CODE = RAM_BASE + 0x1000;
const STACK_TOP = RAM_BASE + RAM_SIZE;
/** An address with nothing mapped: RAM is the only memory of these VMs. */
const UNMAPPED = PL011_BASE;
const EL1H_MASKED = 0x3c5n;
const EL1H_UNMASKED = 0x5n;
const SCTLR_MMU_OFF = 0x30d00800n;

const ec = (exit: VcpuExit) => Number((exit.syndrome >> 26n) & 0x3fn);
const iss = (exit: VcpuExit) => Number(exit.syndrome & 0x1ffffffn);
const il = (exit: VcpuExit) => Number((exit.syndrome >> 25n) & 1n);
const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** One VM with RAM at RAM_BASE, a vector table whose entry i is `hvc #(0x100 + i); eret`. */
class Guest {
  private constructor(readonly vm: Vm, readonly vcpu: Vcpu, readonly ram: Uint8Array) {}

  static async create(accel: Accelerator, code: Uint8Array, cpsr = EL1H_MASKED): Promise<Guest> {
    const ram = allocateRam(RAM_SIZE);
    const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    for (let i = 0; i < 16; i++) {
      dv.setUint32(VBAR - RAM_BASE + i * 0x80, (0xd4000002 | ((0x100 + i) << 5)) >>> 0, true);
      dv.setUint32(VBAR - RAM_BASE + i * 0x80 + 4, 0xd69f03e0, true); // eret
    }
    ram.set(code, CODE - RAM_BASE);
    const vm = accel.createVm();
    try {
      vm.map(ram, RAM_BASE, MemoryFlags.RWX);
      const vcpu = await vm.createVcpu();
      vcpu.setSysReg(SysReg.SCTLR_EL1, SCTLR_MMU_OFF);
      vcpu.setSysReg(SysReg.CPACR_EL1, 3n << 20n);
      vcpu.setSysReg(SysReg.VBAR_EL1, BigInt(VBAR));
      vcpu.setSysReg(SysReg.SP_EL1, BigInt(STACK_TOP));
      vcpu.setReg(Reg.CPSR, cpsr);
      vcpu.setReg(Reg.PC, BigInt(CODE));
      return new Guest(vm, vcpu, ram);
    } catch (e) {
      await vm.destroy();
      throw e;
    }
  }

  pc(): bigint {
    return this.vcpu.getReg(Reg.PC);
  }

  /** Address of the instruction at index i of the code. */
  static at(i: number): bigint {
    return BigInt(CODE + 4 * i);
  }

  skip(): void {
    this.vcpu.setReg(Reg.PC, this.pc() + 4n);
  }

  async destroy(): Promise<void> {
    await this.vm.destroy();
  }
}

function expectHvc(exit: VcpuExit, imm: number, what: string): void {
  expect(exit.reason, `${what}: exit reason`).to.equal(ExitReason.Exception);
  expect(hex(ec(exit)), `${what}: EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x16));
  expect(hex(iss(exit) & 0xffff), `${what}: HVC immediate`).to.equal(hex(imm));
}

interface AbortExpectation {
  address: number;
  sas: number;
  sse: number;
  srt: number;
  sf: number;
  ar: number;
  write: boolean;
}

function expectDataAbort(exit: VcpuExit, e: AbortExpectation, what: string): void {
  expect(exit.reason, `${what}: exit reason`).to.equal(ExitReason.Exception);
  expect(hex(ec(exit)), `${what}: EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x24));
  const s = iss(exit);
  const fields = {
    IL: il(exit),
    ISV: (s >> 24) & 1,
    SAS: (s >> 22) & 3,
    SSE: (s >> 21) & 1,
    SRT: (s >> 16) & 31,
    SF: (s >> 15) & 1,
    AR: (s >> 14) & 1,
    FnV: (s >> 10) & 1,
    WnR: (s >> 6) & 1,
    DFSC_is_translation_fault: ((s & 0x3f) & ~3) === 0x04 ? 1 : 0,
  };
  expect(fields, `${what}: ISS of ESR ${hex(exit.syndrome)}`).to.deep.equal({
    IL: 1, ISV: 1, SAS: e.sas, SSE: e.sse, SRT: e.srt, SF: e.sf, AR: e.ar, FnV: 0, WnR: e.write ? 1 : 0,
    DFSC_is_translation_fault: 1,
  });
  expect(hex(exit.physicalAddress), `${what}: physical address`).to.equal(hex(e.address));
  expect(hex(exit.virtualAddress), `${what}: virtual address`).to.equal(hex(e.address));
}

describe('software CPU: HVF exit semantics', function () {
  this.timeout(20_000);
  let tc: Toolchain;
  let accel: Accelerator;
  let guest: Guest | undefined;

  before(async function () {
    ({ tc, accel } = await toolchainAndEmuOrSkip(this));
  });

  afterEach(async () => {
    await guest?.destroy();
    guest = undefined;
  });

  const start = async (asm: string, cpsr = EL1H_MASKED) => {
    guest = await Guest.create(accel, assembleRaw(tc, asm), cpsr);
    return guest;
  };

  it('a load from an unmapped address exits with a full data-abort syndrome; the VMM completes it', async () => {
    const g = await start(`
      ldr w3, [x1]
      add x4, x3, #1
      ldrsb x5, [x1, #1]
      ldrh w6, [x1, #2]
      ldr x7, [x1, #8]
      ldrsh w8, [x1, #6]
      ldar w9, [x1]
      add x10, x5, x8
      hvc #1
    `);
    g.vcpu.setReg(Reg.X1, BigInt(UNMAPPED));
    const loads: [AbortExpectation, bigint, Reg][] = [
      [{ address: UNMAPPED, sas: 2, sse: 0, srt: 3, sf: 0, ar: 0, write: false }, 0x8765_4321n, Reg.X3],
      [{ address: UNMAPPED + 1, sas: 0, sse: 1, srt: 5, sf: 1, ar: 0, write: false }, 0xffff_ffff_ffff_ff80n, Reg.X5],
      [{ address: UNMAPPED + 2, sas: 1, sse: 0, srt: 6, sf: 0, ar: 0, write: false }, 0xbeefn, Reg.X6],
      [{ address: UNMAPPED + 8, sas: 3, sse: 0, srt: 7, sf: 1, ar: 0, write: false }, 0x0123_4567_89ab_cdefn, Reg.X7],
      [{ address: UNMAPPED + 6, sas: 1, sse: 1, srt: 8, sf: 0, ar: 0, write: false }, 0xffff_8001n, Reg.X8],
      [{ address: UNMAPPED, sas: 2, sse: 0, srt: 9, sf: 0, ar: 1, write: false }, 0x1111_2222n, Reg.X9],
    ];
    const pcs = [0, 2, 3, 4, 5, 6];
    for (const [i, [expectation, value, reg]] of loads.entries()) {
      const exit = await g.vcpu.run();
      expectDataAbort(exit, expectation, `load #${i}`);
      expect(hex(g.pc()), `load #${i}: PC stays at the instruction`).to.equal(hex(Guest.at(pcs[i])));
      g.vcpu.setReg(reg, value);
      g.skip();
    }
    expectHvc(await g.vcpu.run(), 1, 'end');
    expect(hex(g.vcpu.getReg(Reg.X4))).to.equal(hex(0x8765_4322n));
    expect(hex(g.vcpu.getReg(Reg.X10))).to.equal(hex(BigInt.asUintN(64, -0x80n + 0xffff_8001n)));
  });

  it('a store to an unmapped address exits with WnR=1 and the value in the source register', async () => {
    const g = await start(`
      str x2, [x1, #16]
      strb w9, [x1]
      stlrh w10, [x1]
      str wzr, [x1, #4]
      hvc #2
    `);
    g.vcpu.setReg(Reg.X1, BigInt(UNMAPPED));
    g.vcpu.setReg(Reg.X2, 0xfeed_face_cafe_beefn);
    g.vcpu.setReg(Reg.X9, 0x1234_56abn);
    g.vcpu.setReg(Reg.X10, 0x9999_7777n);
    const stores: [AbortExpectation, number, bigint][] = [
      [{ address: UNMAPPED + 16, sas: 3, sse: 0, srt: 2, sf: 1, ar: 0, write: true }, 2, 0xfeed_face_cafe_beefn],
      [{ address: UNMAPPED, sas: 0, sse: 0, srt: 9, sf: 0, ar: 0, write: true }, 9, 0x1234_56abn],
      [{ address: UNMAPPED, sas: 1, sse: 0, srt: 10, sf: 0, ar: 1, write: true }, 10, 0x9999_7777n],
      [{ address: UNMAPPED + 4, sas: 2, sse: 0, srt: 31, sf: 0, ar: 0, write: true }, 31, 0n],
    ];
    for (const [i, [expectation, srt, value]] of stores.entries()) {
      const exit = await g.vcpu.run();
      expectDataAbort(exit, expectation, `store #${i}`);
      expect(hex(g.pc()), `store #${i}: PC`).to.equal(hex(Guest.at(i)));
      if (srt !== 31) expect(hex(g.vcpu.getReg(srt as Reg)), `store #${i}: source register`).to.equal(hex(value));
      g.skip();
    }
    expectHvc(await g.vcpu.run(), 2, 'end');
  });

  it('a load pair from an unmapped address exits with ISV=0', async () => {
    const g = await start('ldp x3, x4, [x1]\nhvc #3');
    g.vcpu.setReg(Reg.X1, BigInt(UNMAPPED));
    const exit = await g.vcpu.run();
    expect(hex(ec(exit))).to.equal(hex(0x24));
    expect((iss(exit) >> 24) & 1, 'ISV').to.equal(0);
    expect(hex(exit.physicalAddress)).to.equal(hex(UNMAPPED));
    expect(hex(g.pc())).to.equal(hex(Guest.at(0)));
  });

  it('a branch to an unmapped address exits with an instruction abort (EC 0x20) at that address', async () => {
    const g = await start('br x1');
    g.vcpu.setReg(Reg.X1, BigInt(UNMAPPED + 0x40));
    const exit = await g.vcpu.run();
    expect(exit.reason).to.equal(ExitReason.Exception);
    expect(hex(ec(exit)), `EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x20));
    expect((iss(exit) & 0x3f) & ~3, 'IFSC: translation fault').to.equal(0x04);
    expect(hex(exit.physicalAddress)).to.equal(hex(UNMAPPED + 0x40));
    expect(hex(exit.virtualAddress)).to.equal(hex(UNMAPPED + 0x40));
    expect(hex(g.pc())).to.equal(hex(UNMAPPED + 0x40));
  });

  it('BRK goes to the guest (ESR_EL1 EC 0x3c) unless debug exceptions are trapped to the VMM', async () => {
    const g = await start('brk #0x42\nhvc #12');
    let exit = await g.vcpu.run();
    expectHvc(exit, 0x104, 'EL1 synchronous vector (current EL, SPx)');
    expect(hex(g.vcpu.getSysReg(SysReg.ESR_EL1) >> 26n), 'ESR_EL1.EC').to.equal(hex(0x3c));
    expect(hex(g.vcpu.getSysReg(SysReg.ESR_EL1) & 0xffffn), 'ESR_EL1 comment').to.equal(hex(0x42));
    expect(hex(g.vcpu.getSysReg(SysReg.ELR_EL1)), 'ELR_EL1').to.equal(hex(Guest.at(0)));

    g.vcpu.setReg(Reg.PC, Guest.at(0));
    g.vcpu.setReg(Reg.CPSR, EL1H_MASKED);
    g.vcpu.setTrapDebugExceptions(true);
    exit = await g.vcpu.run();
    expect(hex(ec(exit)), `EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x3c));
    expect(hex(iss(exit) & 0xffff)).to.equal(hex(0x42));
    expect(hex(g.pc())).to.equal(hex(Guest.at(0)));
  });

  it('HVC exits with EC 0x16, its immediate, and PC after the instruction', async () => {
    const g = await start('nop\nhvc #0x1234\nhvc #0xffff');
    const exit = await g.vcpu.run();
    expectHvc(exit, 0x1234, 'hvc');
    expect(il(exit), 'IL').to.equal(1);
    expect(hex(g.pc())).to.equal(hex(Guest.at(2)));
    expectHvc(await g.vcpu.run(), 0xffff, 'second hvc');
    expect(hex(g.pc())).to.equal(hex(Guest.at(3)));
  });

  it('SMC exits with EC 0x17, its immediate, and PC at the instruction', async () => {
    const g = await start('smc #0x55\nhvc #4');
    const exit = await g.vcpu.run();
    expect(exit.reason).to.equal(ExitReason.Exception);
    expect(hex(ec(exit)), `EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x17));
    expect(hex(iss(exit) & 0xffff)).to.equal(hex(0x55));
    expect(hex(g.pc())).to.equal(hex(Guest.at(0)));
    g.skip();
    expectHvc(await g.vcpu.run(), 4, 'after smc');
  });

  it('WFI exits with EC 0x01 (TI=0) and PC at the instruction; WFE has TI=1', async () => {
    const g = await start('wfi\nwfe\nhvc #5');
    let exit = await g.vcpu.run();
    expect(exit.reason).to.equal(ExitReason.Exception);
    expect(hex(ec(exit)), `EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x01));
    expect(iss(exit) & 1, 'TI').to.equal(0);
    expect(hex(g.pc())).to.equal(hex(Guest.at(0)));
    g.skip();
    exit = await g.vcpu.run();
    if (exit.reason === ExitReason.Exception && ec(exit) === 0x01) {
      expect(iss(exit) & 1, 'WFE TI').to.equal(1);
      expect(hex(g.pc())).to.equal(hex(Guest.at(1)));
      g.skip();
      exit = await g.vcpu.run();
    }
    expectHvc(exit, 5, 'after wfi/wfe');
  });

  it('MRS ICC_IAR1_EL1 traps with EC 0x18 and the register fields; MSR ICC_EOIR1_EL1 likewise', async () => {
    const g = await start(`
      mrs x5, S3_0_C12_C12_0
      add x6, x5, #1
      msr S3_0_C12_C12_1, x6
      hvc #6
    `);
    let exit = await g.vcpu.run();
    expect(exit.reason).to.equal(ExitReason.Exception);
    expect(hex(ec(exit)), `EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x18));
    const decode = (s: number) => ({
      op0: (s >> 20) & 3, op2: (s >> 17) & 7, op1: (s >> 14) & 7, crn: (s >> 10) & 15, rt: (s >> 5) & 31, crm: (s >> 1) & 15, read: s & 1,
    });
    expect(decode(iss(exit)), 'MRS ISS').to.deep.equal({ op0: 3, op2: 0, op1: 0, crn: 12, rt: 5, crm: 12, read: 1 });
    expect(hex(exit.syndrome)).to.equal(hex(0x623030b9));
    expect(hex(g.pc())).to.equal(hex(Guest.at(0)));
    g.vcpu.setReg(Reg.X5, 27n);
    g.skip();
    exit = await g.vcpu.run();
    expect(hex(ec(exit)), `EC (ESR ${hex(exit.syndrome)})`).to.equal(hex(0x18));
    expect(decode(iss(exit)), 'MSR ISS').to.deep.equal({ op0: 3, op2: 1, op1: 0, crn: 12, rt: 6, crm: 12, read: 0 });
    expect(hex(g.pc())).to.equal(hex(Guest.at(2)));
    expect(g.vcpu.getReg(Reg.X6)).to.equal(28n);
    g.skip();
    expectHvc(await g.vcpu.run(), 6, 'end');
  });

  it('requestExit() before run() makes run() return Canceled without running the guest', async () => {
    const g = await start('hvc #7');
    g.vcpu.requestExit();
    const exit = await g.vcpu.run();
    expect(exit.reason).to.equal(ExitReason.Canceled);
    expect(hex(g.pc())).to.equal(hex(Guest.at(0)));
    expectHvc(await g.vcpu.run(), 7, 'next run');
  });

  it('requestExit() during run() of a spinning guest makes run() return Canceled', async () => {
    // The guest spins for 2 s of counter time, then reports with hvc #8: a CPU that never
    // yields to the event loop fails here instead of hanging the suite.
    const g = await start(`
      mrs x0, cntfrq_el0
      lsl x0, x0, #1
      mrs x1, cntvct_el0
      add x1, x1, x0
    1:
      mrs x2, cntvct_el0
      cmp x2, x1
      b.lo 1b
      hvc #8
    `);
    setTimeout(() => g.vcpu.requestExit(), 100);
    const t0 = performance.now();
    const exit = await g.vcpu.run();
    expect(exit.reason, `exit ${hex(exit.syndrome)}`).to.equal(ExitReason.Canceled);
    expect(performance.now() - t0, 'ms until Canceled').to.be.below(1500);
    expectHvc(await g.vcpu.run(), 8, 'resumed run');
  });

  it('a pending IRQ with PSTATE.I clear enters the EL1 IRQ vector; the line clears when run() returns', async () => {
    const g = await start('nop\nnop\nhvc #9', EL1H_UNMASKED);
    g.vcpu.setPendingInterrupt(InterruptType.IRQ, true);
    expect(g.vcpu.getPendingInterrupt(InterruptType.IRQ)).to.equal(true);
    const exit = await g.vcpu.run();
    expectHvc(exit, 0x105, 'IRQ vector (current EL with SPx, IRQ)');
    expect(g.vcpu.getPendingInterrupt(InterruptType.IRQ), 'line after run').to.equal(false);
    const elr = g.vcpu.getSysReg(SysReg.ELR_EL1);
    expect(hex(elr), 'ELR_EL1').to.be.oneOf([hex(Guest.at(0)), hex(Guest.at(1)), hex(Guest.at(2))]);
    expect(hex(g.vcpu.getSysReg(SysReg.SPSR_EL1) & 0x3cfn), 'SPSR_EL1 (mode and DAIF)').to.equal(hex(EL1H_UNMASKED));
    expect(hex(g.vcpu.getReg(Reg.CPSR) & 0x3cfn), 'PSTATE in the handler').to.equal(hex(0x3c5));
    // Back through the vector's ERET: the line is low now, so the program finishes.
    expectHvc(await g.vcpu.run(), 9, 'after eret');
  });

  it('a pending IRQ with PSTATE.I set is not taken', async () => {
    const g = await start('nop\nhvc #10', EL1H_MASKED);
    g.vcpu.setPendingInterrupt(InterruptType.IRQ, true);
    expectHvc(await g.vcpu.run(), 10, 'masked IRQ');
    expect(g.vcpu.getPendingInterrupt(InterruptType.IRQ)).to.equal(false);
  });

  it('the virtual timer firing exits with VtimerActivated and masks itself', async () => {
    const g = await start(`
      mrs x0, cntvct_el0
      add x0, x0, #100
      msr cntv_cval_el0, x0
      mov x1, #1
      msr cntv_ctl_el0, x1
      mrs x0, cntfrq_el0
      lsl x0, x0, #1
      mrs x1, cntvct_el0
      add x1, x1, x0
    1:
      mrs x2, cntvct_el0
      cmp x2, x1
      b.lo 1b
      hvc #11
    `);
    g.vcpu.setVtimerMask(false);
    const exit = await g.vcpu.run();
    expect(exit.reason, `exit reason (ESR ${hex(exit.syndrome)})`).to.equal(ExitReason.VtimerActivated);
    expect(g.vcpu.getVtimerMask(), 'vtimer mask after the exit').to.equal(true);
    expect(g.vcpu.getSysReg(SysReg.CNTV_CTL_EL0) & 7n, 'CNTV_CTL_EL0 ENABLE|ISTATUS').to.equal(5n);
    // Unmasked again while the condition holds: another exit right away.
    g.vcpu.setVtimerMask(false);
    const again = await g.vcpu.run();
    expect(again.reason, 'exit after unmasking').to.equal(ExitReason.VtimerActivated);
    expect(g.vcpu.getVtimerMask()).to.equal(true);
    // Masked: the guest runs on to the end of its loop.
    expectHvc(await g.vcpu.run(), 11, 'masked timer');
  });
});
