// The HVF binding (src/accel/hvf/backend.ts) over the fake addon: HVF's semantics without a Mac.
import { expect } from 'chai';
import { ExitReason, FeatureReg, InterruptType, MemoryFlags, Reg, type Vcpu } from '../../src/accel/types.ts';
import { SysReg, sysRegId } from '../../src/accel/sysregs.ts';
import { GIC_ICC_REGS, HvfAccelerator, toVcpuExit } from '../../src/accel/hvf/backend.ts';
import { HV_RETURN, HvfError, fromNativeError } from '../../src/accel/hvf/errors.ts';
import { decodeExit } from '../../src/arch/arm64/exit-decoder.ts';
import { FakeHvf, nativeError, type FakeHvfOptions, type FakeOp } from './fake-native.ts';

const RAM = 0x4000_0000;
const PAGE = 16384;
const DEVICE = 0x0900_0000;
const ENTRY = 0x4000_0000n;

function setup(ops: FakeOp[] = [{ op: 'wfi' }], options: FakeHvfOptions = {}) {
  const native = new FakeHvf({ program: () => ({ entry: ENTRY, ops }), ...options });
  const accel = new HvfAccelerator(native);
  return { native, accel };
}

async function expectHvf(p: Promise<unknown> | (() => unknown), hvName: string): Promise<HvfError> {
  let error: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${hvName}`).to.be.instanceOf(HvfError);
  expect((error as HvfError).hvName).to.equal(hvName);
  return error as HvfError;
}

async function bootVcpu(ops: FakeOp[], options: FakeHvfOptions = {}) {
  const { native, accel } = setup(ops, options);
  const vm = accel.createVm();
  vm.map(accel.allocateRam(4 * PAGE), RAM, MemoryFlags.RWX);
  const vcpu = await vm.createVcpu();
  vcpu.setReg(Reg.PC, ENTRY);
  return { native, accel, vm, vcpu };
}

describe('hvf binding (fake addon)', () => {
  describe('registers', () => {
    it('round-trips general, SIMD&FP and system registers', async () => {
      const { vm, vcpu } = await bootVcpu([]);
      for (let r = Reg.X0; r <= Reg.CPSR; r++) vcpu.setReg(r, BigInt(r) * 0x1111_0000_0001n);
      for (let r = Reg.X0; r <= Reg.CPSR; r++) expect(vcpu.getReg(r)).to.equal(BigInt(r) * 0x1111_0000_0001n);
      vcpu.setReg(Reg.X3, -1n);
      expect(vcpu.getReg(Reg.X3)).to.equal(0xffff_ffff_ffff_ffffn);
      const q = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
      vcpu.setSimdFpReg(31, q);
      expect([...vcpu.getSimdFpReg(31)]).to.deep.equal([...q]);
      vcpu.setSysReg(SysReg.VBAR_EL1, 0x4000_0800n);
      vcpu.setSysReg(SysReg.TTBR1_EL1, 0xdead_beef_0000n);
      expect(vcpu.getSysReg(SysReg.VBAR_EL1)).to.equal(0x4000_0800n);
      expect(vcpu.getSysReg(SysReg.TTBR1_EL1)).to.equal(0xdead_beef_0000n);
      vcpu.setVtimerOffset(12345n);
      expect(vcpu.getVtimerOffset()).to.equal(12345n);
      vcpu.setTrapDebugExceptions(true);
      vcpu.setTrapDebugRegAccesses(true);
      expect(vcpu.getTrapDebugExceptions()).to.equal(true);
      expect(vcpu.getTrapDebugRegAccesses()).to.equal(true);
      await vm.destroy();
    });

    it('rejects registers HVF does not have with HV_BAD_ARGUMENT', async () => {
      const { vm, vcpu } = await bootVcpu([]);
      await expectHvf(() => vcpu.getReg(35 as Reg), 'HV_BAD_ARGUMENT');
      await expectHvf(() => vcpu.getSysReg(sysRegId(3, 0, 15, 0, 0)), 'HV_BAD_ARGUMENT');
      await expectHvf(() => vcpu.setSimdFpReg(0, new Uint8Array(8)), 'HV_BAD_ARGUMENT');
      await vm.destroy();
    });
  });

  describe('exit records', () => {
    it('converts [reason, ESR, FAR, IPA] and maps unknown reasons to Unknown', () => {
      const exit = toVcpuExit(BigUint64Array.of(1n, 0x9380_0046n, 0xffff_0000_0900_0000n, 0x0900_0000n));
      expect(exit).to.deep.equal({ reason: ExitReason.Exception, syndrome: 0x9380_0046n, virtualAddress: 0xffff_0000_0900_0000n, physicalAddress: 0x0900_0000n });
      expect(toVcpuExit(BigUint64Array.of(2n, 0n, 0n, 0n)).reason).to.equal(ExitReason.VtimerActivated);
      expect(toVcpuExit(BigUint64Array.of(99n, 0n, 0n, 0n)).reason).to.equal(ExitReason.Unknown);
      expect(() => toVcpuExit(new BigUint64Array(3))).to.throw(HvfError);
    });

    it('delivers an MMIO write as a data abort the exit decoder understands, PC not advanced', async () => {
      const { vm, vcpu } = await bootVcpu([
        { op: 'movz', rd: 0, imm: BigInt(DEVICE) },
        { op: 'movz', rd: 1, imm: 0x41n },
        { op: 'str', rt: 1, rn: 0, size: 4 },
        { op: 'wfi' },
      ]);
      const exit = await vcpu.run();
      expect(exit.reason).to.equal(ExitReason.Exception);
      expect(exit.physicalAddress).to.equal(BigInt(DEVICE));
      const ev = decodeExit(exit);
      expect(ev).to.include({ kind: 'mmio-write', address: DEVICE, size: 4, register: 1 });
      expect(vcpu.getReg(Reg.PC)).to.equal(ENTRY + 8n);
      vcpu.setReg(Reg.PC, ENTRY + 12n);
      expect(decodeExit(await vcpu.run()).kind).to.equal('wfi');
      await vm.destroy();
    });

    it('reads and writes mapped RAM without exiting, and traps after protect() removes write', async () => {
      const { vm, vcpu, accel } = await bootVcpu([
        { op: 'movz', rd: 0, imm: BigInt(RAM + PAGE) },
        { op: 'movz', rd: 1, imm: 0x1234_5678n },
        { op: 'str', rt: 1, rn: 0, size: 8 },
        { op: 'ldr', rt: 2, rn: 0, size: 8 },
        { op: 'hvc', imm: 0 },
      ]);
      const exit = await vcpu.run();
      expect(decodeExit(exit)).to.deep.equal({ kind: 'hvc', imm: 0 });
      expect(vcpu.getReg(Reg.X2)).to.equal(0x1234_5678n);
      expect(vcpu.getReg(Reg.PC)).to.equal(ENTRY + 20n); // HVC: the framework reports the next instruction
      vm.protect(RAM, 4 * PAGE, MemoryFlags.Read | MemoryFlags.Exec);
      vcpu.setReg(Reg.PC, ENTRY + 8n);
      const fault = decodeExit(await vcpu.run());
      expect(fault).to.include({ kind: 'mmio-write', address: RAM + PAGE });
      void accel;
      await vm.destroy();
    });

    it('traps MSR to a register HVF does not handle as EC 0x18', async () => {
      const id = sysRegId(3, 0, 15, 2, 0);
      const { vm, vcpu } = await bootVcpu([{ op: 'msr', sysreg: id, rt: 5 }]);
      const ev = decodeExit(await vcpu.run());
      expect(ev).to.include({ kind: 'sysreg', id, register: 5, read: false });
      await vm.destroy();
    });
  });

  describe('errors', () => {
    it('names every hv_return_t and keeps its unsigned code', () => {
      for (const [name, code] of Object.entries(HV_RETURN)) {
        if (name === 'HV_SUCCESS') continue;
        const e = fromNativeError(nativeError('hv_vcpu_run', code | 0)) as HvfError;
        expect(e).to.be.instanceOf(HvfError);
        expect(e.hvName).to.equal(name);
        expect(e.code).to.equal(code);
        expect(e.call).to.equal('hv_vcpu_run');
        expect(e.message).to.contain(name);
      }
      const plain = new TypeError('x');
      expect(fromNativeError(plain)).to.equal(plain);
    });

    for (const code of ['HV_DENIED', 'HV_UNSUPPORTED', 'HV_ERROR'] as const) {
      it(`explains a failing hv_vm_create (${code}) with both causes`, async () => {
        const { accel } = setup([], { vmCreateFails: code });
        const e = await expectHvf(() => accel.createVm(), code);
        expect(e.message).to.contain('com.apple.security.hypervisor');
        expect(e.message).to.contain('codesign -d --entitlements -');
        expect(e.message).to.contain('sysctl kern.hv_support');
        expect(e.message).to.match(/GitHub|macOS guests/);
      });
    }

    it('does not add the entitlement hint to other failures', async () => {
      const { accel } = setup([], { vmCreateFails: 'HV_NO_RESOURCES' });
      const e = await expectHvf(() => accel.createVm(), 'HV_NO_RESOURCES');
      expect(e.message).not.to.contain('entitlement');
    });
  });

  describe('memory', () => {
    it('checks 16 KiB alignment of guest address, size and host view', async () => {
      const { accel, native } = setup();
      const vm = accel.createVm();
      const ram = accel.allocateRam(4 * PAGE);
      await expectHvf(() => vm.map(ram, RAM + 4096, MemoryFlags.RWX), 'HV_BAD_ARGUMENT');
      await expectHvf(() => vm.map(ram.subarray(0, PAGE + 4096), RAM, MemoryFlags.RWX), 'HV_BAD_ARGUMENT');
      await expectHvf(() => vm.map(ram.subarray(4096, 4096 + PAGE), RAM, MemoryFlags.RWX), 'HV_BAD_ARGUMENT');
      await expectHvf(() => vm.map(ram, RAM, 8), 'HV_BAD_ARGUMENT');
      vm.map(ram, RAM, MemoryFlags.RWX);
      expect(native.regions).to.have.length(1);
      await expectHvf(() => vm.unmap(RAM, 100), 'HV_BAD_ARGUMENT');
      vm.unmap(RAM, 4 * PAGE);
      expect(native.regions).to.have.length(0);
      await vm.destroy();
    });

    it('refuses a buffer whose host address is not page aligned, and allocateRam() fixes it', async () => {
      const { accel, native } = setup();
      const vm = accel.createVm();
      const small = new Uint8Array(new ArrayBuffer(PAGE)); // malloc-sized: 16-byte aligned only
      expect(native.pageMisalignment(small)).to.not.equal(0);
      const e = await expectHvf(() => vm.map(small, RAM, MemoryFlags.RWX), 'HV_BAD_ARGUMENT');
      expect(e.message).to.contain('allocateRam');
      const aligned = accel.allocateRam(PAGE);
      expect(native.pageMisalignment(aligned)).to.equal(0);
      expect(aligned.byteLength).to.equal(PAGE);
      vm.map(aligned, RAM, MemoryFlags.RWX);
      await vm.destroy();
    });
  });

  describe('process rules', () => {
    it('allows one VM per process until it is destroyed', async () => {
      const { accel, native } = setup();
      const vm = accel.createVm();
      await expectHvf(() => accel.createVm(), 'HV_BUSY');
      await expectHvf(() => new HvfAccelerator(native).createVm(), 'HV_BUSY'); // the addon enforces it too
      await vm.destroy();
      const again = accel.createVm();
      await again.destroy();
    });

    it('destroys the vCPUs before the VM; the addon refuses the opposite order', async () => {
      const { accel, native } = setup();
      const vm = accel.createVm();
      await vm.createVcpu();
      await vm.createVcpu();
      expect(native.vcpus.size).to.equal(2);
      expect(() => native.vmDestroy()).to.throw(/HV_BUSY/);
      await vm.destroy();
      expect(native.vcpus.size).to.equal(0);
      expect(native.vmExists).to.equal(false);
    });

    it('refuses register access while the vCPU runs (HV_BUSY) and a second concurrent run', async () => {
      const { vm, vcpu } = await bootVcpu([{ op: 'b', target: 0 }]);
      const running = vcpu.run();
      await expectHvf(() => vcpu.getReg(Reg.X0), 'HV_BUSY');
      await expectHvf(vcpu.run(), 'HV_BUSY');
      vcpu.requestExit();
      expect((await running).reason).to.equal(ExitReason.Canceled);
      await vm.destroy();
    });
  });

  describe('HVF run semantics', () => {
    it('requestExit() cancels a running vCPU and, before run(), the next run', async () => {
      const { vm, vcpu } = await bootVcpu([{ op: 'b', target: 0 }]);
      const running = vcpu.run();
      await new Promise((r) => setTimeout(r, 5));
      vcpu.requestExit();
      expect((await running).reason).to.equal(ExitReason.Canceled);
      vcpu.requestExit();
      expect((await vcpu.run()).reason).to.equal(ExitReason.Canceled);
      expect(vcpu.getExecTime() > 0n).to.equal(true);
      await vm.destroy();
    });

    it('masks the vtimer after VTIMER_ACTIVATED until the VMM unmasks it', async () => {
      let now = 1000n;
      const { vm, vcpu } = await bootVcpu([{ op: 'b', target: 0 }], { counter: () => now });
      vcpu.setSysReg(SysReg.CNTV_CVAL_EL0, 1500n);
      vcpu.setSysReg(SysReg.CNTV_CTL_EL0, 1n);
      expect(vcpu.getVtimerMask()).to.equal(false);
      now = 2000n;
      expect((await vcpu.run()).reason).to.equal(ExitReason.VtimerActivated);
      expect(vcpu.getVtimerMask()).to.equal(true);
      // masked: the still-pending timer does not exit again
      const again = vcpu.run();
      await new Promise((r) => setTimeout(r, 5));
      vcpu.requestExit();
      expect((await again).reason).to.equal(ExitReason.Canceled);
      vcpu.setVtimerMask(false);
      expect((await vcpu.run()).reason).to.equal(ExitReason.VtimerActivated);
      await vm.destroy();
    });

    it('takes a pending IRQ on the next run and clears the line when run() returns', async () => {
      const ops: FakeOp[] = [{ op: 'wfi' }, ...Array.from({ length: 0x280 / 4 - 1 }, (): FakeOp => ({ op: 'wfi' })), { op: 'brk', imm: 0x27 }];
      const { vm, vcpu } = await bootVcpu(ops);
      vcpu.setSysReg(SysReg.VBAR_EL1, ENTRY);
      vcpu.setReg(Reg.CPSR, 0x345n); // EL1h, IRQ unmasked
      vcpu.setPendingInterrupt(InterruptType.IRQ, true);
      expect(vcpu.getPendingInterrupt(InterruptType.IRQ)).to.equal(true);
      const ev = decodeExit(await vcpu.run());
      expect(ev).to.deep.equal({ kind: 'brk', imm: 0x27 });
      expect(vcpu.getReg(Reg.PC)).to.equal(ENTRY + 0x280n);
      expect(vcpu.getSysReg(SysReg.ELR_EL1)).to.equal(ENTRY);
      expect(vcpu.getPendingInterrupt(InterruptType.IRQ)).to.equal(false);
      await vm.destroy();
    });

    it('keeps the line clear when the VMM does not set it again (level is per run)', async () => {
      const { vm, vcpu } = await bootVcpu([{ op: 'wfi' }]);
      vcpu.setPendingInterrupt(InterruptType.FIQ, true);
      await vcpu.run(); // CPSR masks FIQ: not taken, still cleared afterwards
      expect(vcpu.getPendingInterrupt(InterruptType.FIQ)).to.equal(false);
      expect(vcpu.getReg(Reg.PC)).to.equal(ENTRY);
      await vm.destroy();
    });
  });

  describe('exits requested from elsewhere (hv_vcpus_exit)', () => {
    it('requestExitAll() cancels every running vCPU in one call', async () => {
      const { accel, native } = setup([{ op: 'b', target: 0 }]);
      const vm = accel.createVm();
      vm.map(accel.allocateRam(4 * PAGE), RAM, MemoryFlags.RWX);
      const vcpus = [await vm.createVcpu(), await vm.createVcpu()];
      for (const v of vcpus) v.setReg(Reg.PC, ENTRY);
      const runs = vcpus.map((v) => v.run());
      await new Promise((r) => setTimeout(r, 5));
      let calls = 0;
      const original = native.vcpusExit.bind(native);
      native.vcpusExit = (ids) => { calls++; expect([...ids].sort()).to.deep.equal(vcpus.map((v) => v.hvId).sort()); original(ids); };
      vm.requestExitAll();
      expect(calls).to.equal(1);
      for (const exit of await Promise.all(runs)) expect(exit.reason).to.equal(ExitReason.Canceled);
      await vm.destroy();
    });

    it('kicks a vCPU known only by its hv_vcpu_t id, as another thread would, and ignores unknown ids', async () => {
      const { native, vm, vcpu } = await bootVcpu([{ op: 'b', target: 0 }]);
      const id = (vcpu as import('../../src/accel/hvf/backend.ts').HvfVcpu).hvId;
      const running = vcpu.run();
      await new Promise((r) => setTimeout(r, 5));
      native.vcpusExit([id + 1000]);
      await new Promise((r) => setTimeout(r, 5));
      expect(native.vcpus.values().next().value!.running).to.equal(true);
      native.vcpusExit([id]);
      expect((await running).reason).to.equal(ExitReason.Canceled);
      await vm.destroy();
    });
  });

  describe('in-kernel GIC', () => {
    it('creates the GIC with the VM and range-checks SPIs', async () => {
      const { accel, native } = setup();
      const vm = accel.createVm({ inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000 } });
      expect(vm.gic).to.not.equal(undefined);
      vm.gic!.setSpi(33, true);
      expect(native.spiLevels.get(33)).to.equal(true);
      await expectHvf(() => vm.gic!.setSpi(16, true), 'HV_BAD_ARGUMENT');
      vm.gic!.reset();
      expect(native.spiLevels.size).to.equal(0);
      const vcpu = (await vm.createVcpu()) as Vcpu & { gicRedistributorBase(): bigint };
      vcpu.setSysReg(SysReg.MPIDR_EL1, 1n);
      expect(vcpu.gicRedistributorBase()).to.equal(0x080a_0000n + 0x20000n);
      await vm.destroy();
    });

    it('reports HV_UNSUPPORTED when the host has no in-kernel GIC (before macOS 15)', async () => {
      const { accel } = setup([], { inKernelGic: false });
      expect(accel.capabilities().inKernelGic).to.equal(false);
      await expectHvf(() => accel.createVm({ inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000 } }), 'HV_UNSUPPORTED');
    });

    it('rejects misaligned GIC bases', async () => {
      const { accel } = setup();
      await expectHvf(() => accel.createVm({ inKernelGic: { distributorBase: 0x0800_1000, redistributorBase: 0x080a_0000 } }), 'HV_BAD_ARGUMENT');
    });
  });

  it('reads feature registers and CCSIDR values of the vCPU configuration', () => {
    const { accel } = setup();
    expect(accel.featureReg(FeatureReg.ID_AA64MMFR0_EL1)).to.equal(0x1004n);
    expect(accel.ccsidrValues(0)).to.have.length(8);
    expect(() => accel.featureReg(12 as FeatureReg)).to.throw(HvfError, /HV_BAD_ARGUMENT/);
  });

  it('saves and restores the in-kernel GIC state', async () => {
    const { accel, native } = setup();
    const vm = accel.createVm({ inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000 } });
    const gic = vm.gic as import('../../src/accel/hvf/backend.ts').HvfGic;
    gic.setSpi(40, true);
    const state = gic.saveState();
    gic.reset();
    expect(native.spiLevels.size).to.equal(0);
    gic.restoreState(state);
    expect(native.spiLevels.get(40)).to.equal(true);
    await vm.destroy();
  });

  it('saves and restores distributor, redistributor and CPU interface state across VMs', async () => {
    const gicConfig = { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000 };
    const first = setup([]);
    const vm = first.accel.createVm({ inKernelGic: gicConfig });
    const vcpu = await vm.createVcpu();
    vm.gic!.setDistributorReg(0x0000, 0x12n); // GICD_CTLR
    vm.gic!.setDistributorReg(0x0104, 0xffn); // GICD_ISENABLER1
    vcpu.setGicRedistributorReg(0x10100, 0x0800_0000n); // GICR_ISENABLER0: PPI 27
    vcpu.setGicIccReg(GIC_ICC_REGS.PMR_EL1, 0xf0n);
    vcpu.setGicIccReg(GIC_ICC_REGS.IGRPEN1_EL1, 1n);
    const blob = vm.gic!.saveState();
    const cpu = vcpu.saveGicCpuState();
    const rd = vcpu.getGicRedistributorReg(0x10100);
    expect(cpu.get(GIC_ICC_REGS.PMR_EL1)).to.equal(0xf0n);
    await vm.destroy();

    const second = setup([]);
    const vm2 = second.accel.createVm({ inKernelGic: gicConfig });
    const vcpu2 = await vm2.createVcpu();
    vm2.gic!.restoreState(blob);
    vcpu2.restoreGicCpuState(cpu);
    vcpu2.setGicRedistributorReg(0x10100, rd);
    expect(vm2.gic!.getDistributorReg(0x0000)).to.equal(0x12n);
    expect(vm2.gic!.getDistributorReg(0x0104)).to.equal(0xffn);
    expect(vcpu2.getGicIccReg(GIC_ICC_REGS.PMR_EL1)).to.equal(0xf0n);
    expect(vcpu2.getGicIccReg(GIC_ICC_REGS.IGRPEN1_EL1)).to.equal(1n);
    expect(vcpu2.getGicRedistributorReg(0x10100)).to.equal(0x0800_0000n);
    await expectHvf(() => vm2.gic!.getDistributorReg(0x0102), 'HV_BAD_ARGUMENT');
    await expectHvf(() => vcpu2.getGicIccReg(0xc000), 'HV_BAD_ARGUMENT');
    await vm2.destroy();
  });

  it('raises MSIs through the configured frame and range-checks them', async () => {
    const { accel, native } = setup([]);
    const vm = accel.createVm({
      inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000, msi: { regionBase: 0x0802_0000, intidBase: 64, intidCount: 32 } },
    });
    vm.gic!.sendMsi(64);
    vm.gic!.sendMsi(95);
    expect(native.msis).to.deep.equal([64, 95]);
    await expectHvf(() => vm.gic!.sendMsi(96), 'HV_BAD_ARGUMENT');
    await vm.destroy();
    const plain = accel.createVm({ inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000 } });
    await expectHvf(() => plain.gic!.sendMsi(64), 'HV_UNSUPPORTED');
    await plain.destroy();
    await expectHvf(
      () => accel.createVm({ inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000, msi: { regionBase: 0x0802_1000, intidBase: 64, intidCount: 32 } } }),
      'HV_BAD_ARGUMENT',
    );
    await expectHvf(
      () => accel.createVm({ inKernelGic: { distributorBase: 0x0800_0000, redistributorBase: 0x080a_0000, msi: { regionBase: 0x0802_0000, intidBase: 16, intidCount: 32 } } }),
      'HV_BAD_ARGUMENT',
    );
  });

  it('validates the IPA size against the host maximum', async () => {
    const { accel } = setup([], { maxIpaBits: 40 });
    await expectHvf(() => accel.createVm({ ipaBits: 44 }), 'HV_BAD_ARGUMENT');
    const vm = accel.createVm({ ipaBits: 40 });
    await vm.destroy();
  });

  it('maps RAM above 64 GiB only in a VM created with a larger IPA size', async () => {
    const { accel, native } = setup([], { maxIpaBits: 40, defaultIpaBits: 36 });
    const ram = accel.allocateRam(4 * PAGE);
    const high = 2 ** 36; // first address past the default 36-bit space
    const vm = accel.createVm();
    const e = await expectHvf(() => vm.map(ram, high, MemoryFlags.RWX), 'HV_BAD_ARGUMENT');
    expect(e.message).to.contain('36-bit IPA space').and.contain('up to 40');
    vm.map(ram, high - 4 * PAGE, MemoryFlags.RWX); // the last 64 KiB below 64 GiB fit
    await vm.destroy();
    const big = accel.createVm({ ipaBits: 40 });
    big.map(ram, high, MemoryFlags.RWX);
    expect(native.regionAt(high, 8)?.bytes).to.equal(ram);
    await big.destroy();
  });
});
