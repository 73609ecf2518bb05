// WFE and the event register on the software CPU: SEVL/SEV and a peer's store to the
// reserved lock word set it, WFE then completes without an exit; WFE with no event exits
// to the VMM (EC 0x01, ISS bit 0) like HVF's trapped WFE. TLBI broadcasts reach every vCPU.
import { expect } from 'chai';
import { ExitReason, MemoryFlags, Reg, type Accelerator, type Vcpu } from '../../src/accel/types.ts';
import { SysReg } from '../../src/accel/sysregs.ts';
import { RAM_BASE } from '../../src/arch/arm64/layout.ts';
import { allocateRam } from '../../src/memory/ram.ts';
import { assembleRaw, type Toolchain } from '../helpers/aarch64-toolchain.ts';
import { toolchainAndEmuOrSkip } from './diff/emu-host.ts';
import { Cpu } from '../../src/accel/emu/cpu.ts';
import { PhysicalMemory } from '../../src/accel/emu/physical-memory.ts';

const RAM_SIZE = 1024 * 1024;
const CODE0 = RAM_BASE + 0x1000;
const CODE1 = RAM_BASE + 0x2000;
const FLAG = RAM_BASE + 0x8000;
const SCTLR_MMU_OFF = 0x30d00800n;
const EC_WFX = 0x01;

const ec = (syndrome: bigint) => Number((syndrome >> 26n) & 0x3fn);
const imm = (syndrome: bigint) => Number(syndrome & 0xffffn);

describe('software CPU: WFE, SEV and the event register', function () {
  this.timeout(20_000);
  let tc: Toolchain;
  let accel: Accelerator;

  before(async function () {
    ({ tc, accel } = await toolchainAndEmuOrSkip(this));
  });

  async function setUp(programs: string[]): Promise<{ vcpus: Vcpu[]; destroy: () => Promise<void> }> {
    const ram = allocateRam(RAM_SIZE);
    programs.forEach((p, i) => ram.set(assembleRaw(tc, p), (i === 0 ? CODE0 : CODE1) - RAM_BASE));
    const vm = accel.createVm();
    vm.map(ram, RAM_BASE, MemoryFlags.RWX);
    const vcpus: Vcpu[] = [];
    for (let i = 0; i < programs.length; i++) {
      const v = await vm.createVcpu();
      v.setSysReg(SysReg.SCTLR_EL1, SCTLR_MMU_OFF);
      v.setReg(Reg.CPSR, 0x3c5n);
      v.setReg(Reg.PC, BigInt(i === 0 ? CODE0 : CODE1));
      v.setReg(Reg.X2, BigInt(FLAG));
      vcpus.push(v);
    }
    return { vcpus, destroy: () => vm.destroy() };
  }

  it('SEVL; WFE completes at once; a second WFE with no event exits as WFE', async () => {
    const { vcpus, destroy } = await setUp(['sevl\n wfe\n wfe\n hvc #1']);
    try {
      const exit = await vcpus[0].run();
      expect(exit.reason).to.equal(ExitReason.Exception);
      expect(ec(exit.syndrome), 'WFE trap').to.equal(EC_WFX);
      expect(Number(exit.syndrome & 1n), 'ISS.TI = WFE').to.equal(1);
      expect(vcpus[0].getReg(Reg.PC), 'PC at the second WFE').to.equal(BigInt(CODE0 + 8));
    } finally {
      await destroy();
    }
  });

  it('SEV on one vCPU lets a WFE on another complete without an exit', async () => {
    const { vcpus, destroy } = await setUp(['wfe\n hvc #1', 'sev\n hvc #2']);
    try {
      const first = await vcpus[0].run();
      expect(ec(first.syndrome), 'no event yet: WFE exits').to.equal(EC_WFX);
      const sev = await vcpus[1].run();
      expect(imm(sev.syndrome)).to.equal(2);
      const second = await vcpus[0].run(); // PC still at the WFE: the event is pending now
      expect(ec(second.syndrome), 'HVC, not WFE').to.equal(0x16);
      expect(imm(second.syndrome)).to.equal(1);
    } finally {
      await destroy();
    }
  });

  it('a peer store to the reserved granule sets the event register; TLBI IS flushes every vCPU', () => {
    const memory = new PhysicalMemory();
    const a = new Cpu(memory, 0), b = new Cpu(memory, 1);
    a.peers = b.peers = [a, b];
    a.exclusiveAddr = 0x4000_1000;
    a.exclusiveSize = 4;
    b.clearOtherMonitors(0x4000_2000, 8);
    b.clearOtherMonitors(0x4000_0ff0, 16); // ends just below the reservation
    b.clearOtherMonitors(0x4000_1004, 4); // starts just above it
    expect(a.exclusiveAddr, 'stores beside the reservation').to.equal(0x4000_1000);
    expect(a.eventRegister, 'store elsewhere').to.equal(false);
    b.clearOtherMonitors(0x4000_0ff0, 32); // an STP Q starting 16 bytes below covers it
    expect(a.exclusiveAddr, 'a wide store from below').to.equal(-1);
    a.exclusiveAddr = 0x4000_1000;
    a.eventRegister = false;
    b.clearOtherMonitors(0x4000_1000, 1);
    expect(a.exclusiveAddr).to.equal(-1);
    expect(a.eventRegister, 'store to the lock word').to.equal(true);
    expect(b.eventRegister, 'the storing vCPU').to.equal(false);
    let flushes = 0;
    a.mmu.flushTlb = () => void flushes++;
    b.flushTlbs(false, (m) => m.flushTlb());
    expect(flushes, 'peer TLB flushed').to.equal(1);
    b.flushTlbs(true, (m) => m.flushTlb());
    expect(flushes, 'a local TLBI leaves the peer alone').to.equal(1);
  });
});
