import { expect } from 'chai';
import { Reg } from '../../src/accel/types.ts';
import { MmioBus, type MmioDevice } from '../../src/bus/mmio-bus.ts';
import { VcpuRunner, type CpuInterruptController, type PsciAction, type VcpuHost } from '../../src/vmm/vcpu-runner.ts';
import { ScriptedVcpu, exception, SysReg, type Step } from '../helpers/scripted-vcpu.ts';

// ESR helpers (see test/arch/exit-decoder.test.ts for the field layout).
const dabt = (sas: number, srt: number, wnr: number, sse = 0, sf = 1) =>
  (0x24 << 26) | (1 << 25) | (1 << 24) | (sas << 22) | (sse << 21) | (srt << 16) | (sf << 15) | (wnr << 6) | 7;
const sysregEsr = (op0: number, op1: number, crn: number, crm: number, op2: number, rt: number, read: boolean) =>
  (0x18 << 26) | (1 << 25) | (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | (read ? 1 : 0);
const HVC = (0x16 << 26) | (1 << 25);
const SMC = (0x17 << 26) | (1 << 25);
const WFI = (0x01 << 26) | (1 << 25);

class FakeGic implements CpuInterruptController {
  pending = false;
  ppis: string[] = [];
  iarReads = 0;
  irqPending(): boolean { return this.pending; }
  setPpi(cpu: number, intid: number, level: boolean): void { this.ppis.push(`${cpu}:${intid}:${level}`); }
  readSysReg(_cpu: number, id: number): bigint | undefined {
    if (id === 0xc660) { this.iarReads++; return 33n; }
    return undefined;
  }
  writeSysReg(_cpu: number, id: number): boolean { return id === 0xc661; }
}

class Regs implements MmioDevice {
  readonly name = 'regs';
  writes: [number, number, number | bigint][] = [];
  read(offset: number): number { return offset === 0 ? 0x8001 : 0x1234_5678; }
  write(offset: number, size: number, value: number | bigint): void { this.writes.push([offset, size, value]); }
}

function machine(steps: Step[], opts: { psci?: (args: readonly bigint[]) => { x0: bigint; action: PsciAction } } = {}) {
  const bus = new MmioBus();
  const dev = new Regs();
  bus.insert(dev, 0x0900_0000, 0x1000);
  const gic = new FakeGic();
  const warnings: string[] = [];
  const events: string[] = [];
  let runner!: VcpuRunner;
  const vcpu = new ScriptedVcpu(0, steps, () => void runner.stop());
  const host: VcpuHost = {
    bus, gic,
    psciCall: (_cpu, args) => opts.psci?.(args) ?? { x0: 0n, action: { kind: 'none' } },
    powerOn: (t, e, c) => events.push(`on:${t}:${e}:${c}`),
    shutdown: (k) => { events.push(k); void runner.stop(); },
    counterNow: () => process.hrtime.bigint() * 24n / 1000n,
    counterHz: 24_000_000,
    log: { warn: (m) => warnings.push(m), debug: () => undefined },
  };
  runner = new VcpuRunner(0, vcpu, host, true);
  return { runner, vcpu, gic, dev, warnings, events };
}

describe('vCPU runner', () => {
  it('completes an MMIO read into the register before the next run and advances PC', async () => {
    let seenAtSecondRun: bigint | undefined;
    const m = machine([
      (c) => { c.setReg(Reg.PC, 0x1000n); return exception(dabt(1, 6, 0, 1), 0x0900_0000n); },
      (c) => { seenAtSecondRun = c.getReg(Reg.X6); return exception(HVC); },
    ]);
    await m.runner.start();
    expect(seenAtSecondRun).to.equal(0xffff_ffff_ffff_8001n);
    expect(m.vcpu.pcAtRun[1]).to.equal(0x1004n);
  });

  it('writes the source register truncated to the access size', async () => {
    const m = machine([(c) => { c.setReg(Reg.X3, 0xaabb_ccdd_eeffn); return exception(dabt(1, 3, 1), 0x0900_0010n); }]);
    await m.runner.start();
    expect(m.dev.writes).to.deep.equal([[0x10, 2, 0xeeff]]);
  });

  it('reads unclaimed addresses as zero with a warning, and XZR writes as zero', async () => {
    let x5: bigint | undefined;
    const m = machine([
      (c) => { c.setReg(Reg.X5, 77n); return exception(dabt(2, 5, 0), 0x0800_0000_0000n); },
      (c) => { x5 = c.getReg(Reg.X5); return exception(dabt(3, 31, 1), 0x0900_0020n); },
    ]);
    await m.runner.start();
    expect(x5).to.equal(0n);
    expect(m.warnings[0]).to.match(/unclaimed address 0x80000000000/);
    expect(m.dev.writes).to.deep.equal([[0x20, 8, 0n]]);
  });

  it('routes ICC registers to the GIC and injects UNDEFINED for unknown registers', async () => {
    const m = machine([
      (c) => { c.setReg(Reg.PC, 0x2000n); return exception(sysregEsr(3, 0, 12, 12, 0, 7, true)); },
      (c) => {
        c.setSysReg(SysReg.VBAR_EL1, 0xffff_8000_1000_0000n);
        return exception(sysregEsr(3, 0, 15, 2, 0, 1, true)); // S3_0_C15_C2_0: implementation defined
      },
    ]);
    await m.runner.start();
    expect(m.vcpu.getReg(Reg.X7)).to.equal(33n);
    expect(m.gic.iarReads).to.equal(1);
    expect(m.vcpu.getSysReg(SysReg.ELR_EL1)).to.equal(0x2004n);
    expect(m.vcpu.getSysReg(SysReg.ESR_EL1)).to.equal(0x0200_0000n);
    expect(m.vcpu.getReg(Reg.PC)).to.equal(0xffff_8000_1000_0200n);
    expect(m.vcpu.getReg(Reg.CPSR) & 0x3cfn).to.equal(0x3c5n);
    expect(m.warnings.some((w) => /S3_0_C15_C2_0 is not emulated/.test(w))).to.equal(true);
  });

  it('emulates the OS lock and reads unallocated ID registers as zero', async () => {
    const m = machine([
      (c) => { c.setReg(Reg.X1, 0n); return exception(sysregEsr(2, 0, 1, 0, 4, 1, false)); }, // MSR OSLAR_EL1, x1
      () => exception(sysregEsr(2, 0, 1, 1, 4, 2, true)), // MRS x2, OSLSR_EL1
      (c) => { c.setReg(Reg.X3, 5n); return exception(sysregEsr(3, 0, 0, 3, 7, 3, true)); }, // unallocated ID space
    ]);
    await m.runner.start();
    expect(m.vcpu.getReg(Reg.X2)).to.equal(0b1000n);
    expect(m.vcpu.getReg(Reg.X3)).to.equal(0n);
    expect(m.vcpu.getReg(Reg.PC)).to.equal(12n);
  });

  it('answers PSCI over HVC without moving PC and over SMC past the instruction', async () => {
    const calls: bigint[] = [];
    const m = machine([
      (c) => { c.setReg(Reg.PC, 0x100n); c.setReg(Reg.X0, 0x8400_0000n); return exception(HVC); },
      (c) => { c.setReg(Reg.X0, 0x8400_0000n); return exception(SMC); },
    ], { psci: (a) => { calls.push(a[0]); return { x0: 0x10001n, action: { kind: 'none' } }; } });
    await m.runner.start();
    expect(calls).to.deep.equal([0x8400_0000n, 0x8400_0000n]);
    expect(m.vcpu.pcAtRun).to.deep.equal([0n, 0x100n, 0x104n]);
    expect(m.vcpu.getReg(Reg.X0)).to.equal(0x10001n);
  });

  it('powers the machine off on SYSTEM_OFF', async () => {
    const m = machine([() => exception(HVC)], { psci: () => ({ x0: 0n, action: { kind: 'system-off' } }) });
    await m.runner.start();
    expect(m.events).to.deep.equal(['poweroff']);
  });

  it('sleeps in WFI until the vtimer deadline', async () => {
    const m = machine([
      (c) => {
        const now = process.hrtime.bigint() * 24n / 1000n;
        c.setSysReg(SysReg.CNTV_CTL_EL0, 1n);
        c.setSysReg(SysReg.CNTV_CVAL_EL0, now + 24_000_000n / 20n); // 50 ms ahead
        return exception(WFI);
      },
    ]);
    const t0 = performance.now();
    await m.runner.start();
    expect(performance.now() - t0).to.be.within(40, 1000);
  });

  it('wakes from WFI when an interrupt becomes pending', async () => {
    const m = machine([(c) => { c.setReg(Reg.PC, 0x40n); return exception(WFI); }]);
    const done = m.runner.start();
    setTimeout(() => { m.gic.pending = true; m.runner.interruptStateChanged(); }, 20);
    const t0 = performance.now();
    await done;
    expect(performance.now() - t0).to.be.below(1000);
    expect(m.vcpu.irqAtRun[1]).to.equal(true);
    expect(m.vcpu.pcAtRun[1]).to.equal(0x44n);
  });

  it('asserts PPI 27 on a vtimer exit and unmasks once the guest has handled it', async () => {
    const { ExitReason } = await import('../../src/accel/types.ts');
    const m = machine([
      (c) => { c.setSysReg(SysReg.CNTV_CTL_EL0, 5n); c.vtimerMasked = true; return { reason: ExitReason.VtimerActivated, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n }; },
      (c) => { c.setSysReg(SysReg.CNTV_CTL_EL0, 0n); return exception(HVC); }, // the guest disables the timer in its handler
      () => exception(HVC),
    ]);
    await m.runner.start();
    expect(m.gic.ppis).to.deep.equal(['0:27:true', '0:27:false']);
    expect(m.vcpu.vtimerMasked).to.equal(false);
  });

  it('wakes at the next deadline when WFI follows the timer interrupt before any other run', async () => {
    const { ExitReason } = await import('../../src/accel/types.ts');
    const m = machine([
      (c) => { c.setSysReg(SysReg.CNTV_CTL_EL0, 5n); c.vtimerMasked = true; return { reason: ExitReason.VtimerActivated, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n }; },
      (c) => {
        // The handler re-arms the timer 30 ms ahead and the idle loop executes WFI at once.
        c.setSysReg(SysReg.CNTV_CTL_EL0, 1n);
        c.setSysReg(SysReg.CNTV_CVAL_EL0, process.hrtime.bigint() * 24n / 1000n + 720_000n);
        return exception(WFI);
      },
    ]);
    const t0 = performance.now();
    await m.runner.start();
    expect(performance.now() - t0).to.be.within(20, 1000);
    expect(m.gic.ppis).to.deep.equal(['0:27:true', '0:27:false']);
  });

  it('turns an MMIO access without syndrome into an external abort for the guest', async () => {
    const m = machine([(c) => {
      c.setReg(Reg.PC, 0x3000n);
      c.setReg(Reg.CPSR, 0x0n); // EL0
      c.setSysReg(SysReg.VBAR_EL1, 0x8000n);
      return exception((0x24 << 26) | (1 << 25) | 7, 0x0900_0000n, 0x1234n);
    }]);
    await m.runner.start();
    expect(m.vcpu.getReg(Reg.PC)).to.equal(0x8400n);
    expect(m.vcpu.getSysReg(SysReg.FAR_EL1)).to.equal(0x1234n);
    expect(m.vcpu.getSysReg(SysReg.ESR_EL1)).to.equal(BigInt(((0x24 << 26) | (1 << 25) | 0x10) >>> 0));
  });

  it('parks on CPU_OFF and restarts at the CPU_ON entry point with the context in X0', async () => {
    let x0AtRestart: bigint | undefined;
    const m = machine([
      () => exception(HVC),
      (c) => { x0AtRestart = c.getReg(Reg.X0); return exception(HVC); },
    ], { psci: () => ({ x0: 0n, action: { kind: 'cpu-off' } }) });
    const done = m.runner.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(m.runner.state).to.equal('off');
    m.runner.powerOn(0x4008_0000n, 0xabcn);
    await new Promise((r) => setTimeout(r, 20));
    expect(m.vcpu.pcAtRun[1]).to.equal(0x4008_0000n);
    expect(x0AtRestart).to.equal(0xabcn);
    await m.runner.stop();
    await done;
  });
});
