import { expect } from 'chai';
import {
  handlePsciCall, PowerState, PowerStatus, PsciError, PSCI_FN, PSCI_RET, SMCCC_FN, type PsciCall,
} from '../../src/arch/arm64/psci.ts';
import { RAM_BASE, RAM_DEFAULT_SIZE, mpidrOf } from '../../src/arch/arm64/layout.ts';

const u64 = (v: number) => BigInt.asUintN(64, BigInt(v));
const call = (x0: number, x1: bigint | number = 0n, x2: bigint | number = 0n, x3: bigint | number = 0n): PsciCall => ({
  x0: BigInt(x0), x1: BigInt(x1), x2: BigInt(x2), x3: BigInt(x3),
});
const inRam = (pa: bigint) => pa >= BigInt(RAM_BASE) && pa < BigInt(RAM_BASE + RAM_DEFAULT_SIZE);
const ENTRY = BigInt(RAM_BASE + 0x20_0000);

describe('PSCI / SMCCC firmware calls', () => {
  it('reports PSCI 1.1, SMCCC 1.1 and migration not required', () => {
    const p = new PowerState(1);
    expect(handlePsciCall(call(PSCI_FN.VERSION), 0, p)).to.deep.equal({ x0: 0x10001n, action: { kind: 'none' } });
    expect(handlePsciCall(call(SMCCC_FN.VERSION), 0, p).x0).to.equal(0x10001n);
    expect(handlePsciCall(call(PSCI_FN.MIGRATE_INFO_TYPE), 0, p).x0).to.equal(2n);
  });

  it('answers PSCI_FEATURES for what is implemented, including SMCCC_VERSION', () => {
    const p = new PowerState(1);
    const features = (fn: number) => handlePsciCall(call(PSCI_FN.FEATURES, fn), 0, p).x0;
    for (const fn of [PSCI_FN.VERSION, PSCI_FN.CPU_ON_64, PSCI_FN.CPU_ON_32, PSCI_FN.CPU_OFF, PSCI_FN.CPU_SUSPEND_64,
      PSCI_FN.AFFINITY_INFO_64, PSCI_FN.SYSTEM_OFF, PSCI_FN.SYSTEM_RESET, PSCI_FN.SYSTEM_RESET2_64,
      PSCI_FN.MIGRATE_INFO_TYPE, PSCI_FN.FEATURES, SMCCC_FN.VERSION]) {
      expect(features(fn), `0x${fn.toString(16)}`).to.equal(0n);
    }
    for (const fn of [PSCI_FN.SYSTEM_SUSPEND_64, PSCI_FN.CPU_FREEZE, PSCI_FN.MIGRATE_64, PSCI_FN.STAT_COUNT_64, 0x8400_0050, 0]) {
      expect(features(fn), `0x${fn.toString(16)}`).to.equal(u64(-1));
    }
  });

  it('returns NOT_SUPPORTED for SMCCC workaround queries and for any unknown function', () => {
    const p = new PowerState(1);
    for (const wa of [SMCCC_FN.ARCH_WORKAROUND_1, SMCCC_FN.ARCH_WORKAROUND_2, SMCCC_FN.ARCH_WORKAROUND_3, SMCCC_FN.ARCH_SOC_ID]) {
      expect(handlePsciCall(call(SMCCC_FN.ARCH_FEATURES, wa), 0, p).x0).to.equal(u64(-1));
    }
    for (const fn of [SMCCC_FN.ARCH_WORKAROUND_1, PSCI_FN.MIGRATE_64, PSCI_FN.MIGRATE_INFO_UP_CPU_64, 0xc600_0000, 0x1234, 0xffff_ffff]) {
      expect(handlePsciCall(call(fn), 0, p)).to.deep.equal({ x0: u64(-1), action: { kind: 'none' } });
    }
  });

  it('CPU_ON starts an off vCPU once: ON_PENDING, then ALREADY_ON when running', () => {
    const p = new PowerState(4);
    const r = handlePsciCall(call(PSCI_FN.CPU_ON_64, mpidrOf(2), ENTRY, 0xdead_beef_0000n), 0, p, { isValidEntry: inRam });
    expect(r).to.deep.equal({ x0: 0n, action: { kind: 'cpu-on', target: 2, entry: ENTRY, context: 0xdead_beef_0000n } });
    expect(p.status(2)).to.equal(PowerStatus.OnPending);
    expect(handlePsciCall(call(PSCI_FN.CPU_ON_64, mpidrOf(2), ENTRY), 0, p).x0).to.equal(u64(PSCI_RET.ON_PENDING));
    p.markOn(2);
    expect(handlePsciCall(call(PSCI_FN.CPU_ON_64, mpidrOf(2), ENTRY), 0, p).x0).to.equal(u64(PSCI_RET.ALREADY_ON));
    expect(handlePsciCall(call(PSCI_FN.CPU_ON_64, mpidrOf(0), ENTRY), 1, p).x0).to.equal(u64(PSCI_RET.ALREADY_ON));
  });

  it('CPU_ON rejects absent or malformed targets and bad entry points', () => {
    const p = new PowerState(18);
    const on = (target: bigint | number, entry: bigint) =>
      handlePsciCall(call(PSCI_FN.CPU_ON_64, target, entry), 0, p, { isValidEntry: inRam });
    expect(on(mpidrOf(18), ENTRY).x0, 'no such vCPU').to.equal(u64(PSCI_RET.INVALID_PARAMETERS));
    expect(on(0x8000_0001n, ENTRY).x0, 'non-affinity MPIDR bits').to.equal(u64(PSCI_RET.INVALID_PARAMETERS));
    expect(on(0x1_0000_0001n, ENTRY).x0, 'Aff3 = 1').to.equal(u64(PSCI_RET.INVALID_PARAMETERS));
    expect(on(1, ENTRY + 2n).x0, 'misaligned').to.equal(u64(PSCI_RET.INVALID_ADDRESS));
    expect(on(1, 0x1000n).x0, 'outside RAM').to.equal(u64(PSCI_RET.INVALID_ADDRESS));
    expect(p.status(1), 'failed calls change nothing').to.equal(PowerStatus.Off);
    // vCPU 17 lives in cluster Aff1 = 1.
    const r = on(0x101, ENTRY);
    expect(r.action).to.deep.include({ kind: 'cpu-on', target: 17 });
  });

  it('CPU_ON_32 uses only the low 32 bits of its arguments', () => {
    const p = new PowerState(2);
    const r = handlePsciCall(call(PSCI_FN.CPU_ON_32, 0xffff_ffff_0000_0001n, 0xffff_ffff_4000_0000n, 0x1_0000_0002n), 0, p);
    expect(r.action).to.deep.equal({ kind: 'cpu-on', target: 1, entry: 0x4000_0000n, context: 2n });
    // A 64-bit call keeps the upper bits: that MPIDR has Aff3 set and does not exist.
    expect(handlePsciCall(call(PSCI_FN.CPU_ON_64, 0xff_0000_0001n, ENTRY), 0, new PowerState(2)).x0).to.equal(u64(PSCI_RET.INVALID_PARAMETERS));
  });

  it('CPU_OFF powers the caller down; AFFINITY_INFO reports ON, OFF and ON_PENDING', () => {
    const p = new PowerState(3);
    const info = (target: number, level = 0) => handlePsciCall(call(PSCI_FN.AFFINITY_INFO_64, target, level), 0, p).x0;
    handlePsciCall(call(PSCI_FN.CPU_ON_64, 1, ENTRY), 0, p);
    p.markOn(1);
    handlePsciCall(call(PSCI_FN.CPU_ON_64, 2, ENTRY), 0, p);
    expect([info(0), info(1), info(2)]).to.deep.equal([0n, 0n, 2n]);
    expect(handlePsciCall(call(PSCI_FN.CPU_OFF), 1, p)).to.deep.equal({ x0: 0n, action: { kind: 'cpu-off' } });
    expect(info(1)).to.equal(1n);
    expect(info(0, 1), 'cluster level: someone is on').to.equal(0n);
    expect(info(7), 'no such vCPU').to.equal(u64(PSCI_RET.INVALID_PARAMETERS));
    expect(info(0, 4), 'bad level').to.equal(u64(PSCI_RET.INVALID_PARAMETERS));
    expect(handlePsciCall(call(PSCI_FN.AFFINITY_INFO_32, 0xffff_ffff_0000_0001n, 0), 0, p).x0, '32-bit truncation').to.equal(1n);
    p.markOff(0);
    p.markOff(2);
    expect(p.allOff).to.equal(true);
  });

  it('CPU_SUSPEND becomes a standby; unsupported power_state bits are refused', () => {
    const p = new PowerState(1);
    expect(handlePsciCall(call(PSCI_FN.CPU_SUSPEND_64, 0, ENTRY, 0), 0, p)).to.deep.equal({ x0: 0n, action: { kind: 'suspend' } });
    expect(handlePsciCall(call(PSCI_FN.CPU_SUSPEND_32, 0x1_0001), 0, p).action).to.deep.equal({ kind: 'suspend' });
    expect(handlePsciCall(call(PSCI_FN.CPU_SUSPEND_64, 0x100_0000), 0, p)).to.deep.equal({ x0: u64(PSCI_RET.INVALID_PARAMETERS), action: { kind: 'none' } });
  });

  it('SYSTEM_OFF, SYSTEM_RESET and the warm SYSTEM_RESET2 ask the VMM to stop or reboot', () => {
    const p = new PowerState(1);
    expect(handlePsciCall(call(PSCI_FN.SYSTEM_OFF), 0, p).action).to.deep.equal({ kind: 'system-off' });
    expect(handlePsciCall(call(PSCI_FN.SYSTEM_RESET), 0, p).action).to.deep.equal({ kind: 'system-reset' });
    expect(handlePsciCall(call(PSCI_FN.SYSTEM_RESET2_64, 0, 0), 0, p).action).to.deep.equal({ kind: 'system-reset' });
    expect(handlePsciCall(call(PSCI_FN.SYSTEM_RESET2_64, 0x8000_0000, 0), 0, p)).to.deep.equal({ x0: u64(PSCI_RET.INVALID_PARAMETERS), action: { kind: 'none' } });
    expect(handlePsciCall(call(PSCI_FN.SYSTEM_RESET2_32, 1), 0, p).x0).to.equal(u64(PSCI_RET.INVALID_PARAMETERS));
  });

  it('ignores the upper half of X0 and keeps the table consistent', () => {
    const p = new PowerState(2);
    expect(handlePsciCall(call(0, 0), 0, p).x0).to.equal(u64(-1));
    expect(handlePsciCall({ x0: 0xffff_ffff_8400_0000n, x1: 0n, x2: 0n, x3: 0n }, 0, p).x0).to.equal(0x10001n);
    expect(() => p.status(2)).to.throw(PsciError);
    expect(() => new PowerState(0)).to.throw(PsciError);
    expect(new PowerState(3, mpidrOf, [0, 2]).status(2)).to.equal(PowerStatus.On);
  });
});
