// PSCI 1.1 and SMCCC 1.1 firmware calls (Arm DEN 0022, DEN 0028), handled for a guest that
// reaches them with HVC or SMC. The handler computes X0 and tells the VMM what to do; the
// only state it touches is the PowerState table the VMM owns and passes in.
//
//   const power = new PowerState(vcpuCount);            // vCPU 0 on, the others off
//   // on an hvc/smc exit of vCPU `cpu` (advance PC by 4 for SMC only):
//   const { x0, action } = handlePsciCall(
//     { x0: getReg(X0), x1: getReg(X1), x2: getReg(X2), x3: getReg(X3) }, cpu, power,
//     { isValidEntry: (pa) => ramContains(pa) });
//   setReg(X0, x0);
//   switch (action.kind) {
//     case 'cpu-on':       // power marked action.target OnPending: reset that vCPU with
//                          // PC = entry, X0 = context, EL1h with DAIF masked, MMU off,
//                          // run it, then power.markOn(action.target)
//     case 'cpu-off':      // the caller is marked Off: park its vCPU until a CPU_ON
//     case 'suspend':      // standby: treat as WFI, then continue (X0 = SUCCESS)
//     case 'system-off':   // stop the VM, exit status 0
//     case 'system-reset': // reset the machine (reboot)
//     case 'none':         // just continue
//   }
import { mpidrOf as layoutMpidrOf } from './layout.ts';

export const PSCI_VERSION_1_1 = 0x0001_0001;
export const SMCCC_VERSION_1_1 = 0x0001_0001;

/** Function IDs; 64-bit variants have bit 30 set (SMC64). */
export const PSCI_FN = {
  VERSION: 0x8400_0000,
  CPU_SUSPEND_32: 0x8400_0001,
  CPU_SUSPEND_64: 0xc400_0001,
  CPU_OFF: 0x8400_0002,
  CPU_ON_32: 0x8400_0003,
  CPU_ON_64: 0xc400_0003,
  AFFINITY_INFO_32: 0x8400_0004,
  AFFINITY_INFO_64: 0xc400_0004,
  MIGRATE_32: 0x8400_0005,
  MIGRATE_64: 0xc400_0005,
  MIGRATE_INFO_TYPE: 0x8400_0006,
  MIGRATE_INFO_UP_CPU_32: 0x8400_0007,
  MIGRATE_INFO_UP_CPU_64: 0xc400_0007,
  SYSTEM_OFF: 0x8400_0008,
  SYSTEM_RESET: 0x8400_0009,
  FEATURES: 0x8400_000a,
  CPU_FREEZE: 0x8400_000b,
  CPU_DEFAULT_SUSPEND_32: 0x8400_000c,
  CPU_DEFAULT_SUSPEND_64: 0xc400_000c,
  NODE_HW_STATE_32: 0x8400_000d,
  NODE_HW_STATE_64: 0xc400_000d,
  SYSTEM_SUSPEND_32: 0x8400_000e,
  SYSTEM_SUSPEND_64: 0xc400_000e,
  SET_SUSPEND_MODE: 0x8400_000f,
  STAT_RESIDENCY_32: 0x8400_0010,
  STAT_RESIDENCY_64: 0xc400_0010,
  STAT_COUNT_32: 0x8400_0011,
  STAT_COUNT_64: 0xc400_0011,
  SYSTEM_RESET2_32: 0x8400_0012,
  SYSTEM_RESET2_64: 0xc400_0012,
} as const;

export const SMCCC_FN = {
  VERSION: 0x8000_0000,
  ARCH_FEATURES: 0x8000_0001,
  ARCH_SOC_ID: 0x8000_0002,
  ARCH_WORKAROUND_1: 0x8000_8000,
  ARCH_WORKAROUND_2: 0x8000_7fff,
  ARCH_WORKAROUND_3: 0x8000_3fff,
} as const;

export const PSCI_RET = {
  SUCCESS: 0,
  NOT_SUPPORTED: -1,
  INVALID_PARAMETERS: -2,
  DENIED: -3,
  ALREADY_ON: -4,
  ON_PENDING: -5,
  INTERNAL_FAILURE: -6,
  NOT_PRESENT: -7,
  DISABLED: -8,
  INVALID_ADDRESS: -9,
} as const;

/** MIGRATE_INFO_TYPE: no Trusted OS, migration not required. */
export const MIGRATE_INFO_NOT_REQUIRED = 2;

/** AFFINITY_INFO return values double as the power states. */
export enum PowerStatus {
  On = 0,
  Off = 1,
  OnPending = 2,
}

/** MPIDR affinity bits: Aff3 [39:32], Aff2 [23:16], Aff1 [15:8], Aff0 [7:0]. */
const MPIDR_AFFINITY_MASK = 0xff_00ff_ffffn;
/** CPU_SUSPEND power_state bits besides StateType [16] and StateID [15:0] are unsupported. */
const SUSPEND_UNSUPPORTED_BITS = 0xfffe_0000n;
const RESET2_WARM = 0n;

export class PsciError extends Error {
  override readonly name = 'PsciError';
}

/** Power state of every vCPU, owned by the VMM and updated by handlePsciCall. */
export class PowerState {
  private readonly states: PowerStatus[];

  /** `mpidrOf` maps a vCPU index to its MPIDR affinity (layout.mpidrOf by default). */
  constructor(
    readonly vcpuCount: number,
    private readonly mpidrOf: (cpu: number) => number = layoutMpidrOf,
    bootCpus: readonly number[] = [0],
  ) {
    if (!Number.isInteger(vcpuCount) || vcpuCount < 1) throw new PsciError(`invalid vCPU count ${vcpuCount}`);
    this.states = new Array<PowerStatus>(vcpuCount).fill(PowerStatus.Off);
    for (const cpu of bootCpus) this.markOn(cpu);
  }

  status(cpu: number): PowerStatus {
    return this.states[this.check(cpu)];
  }

  markOn(cpu: number): void {
    this.states[this.check(cpu)] = PowerStatus.On;
  }

  markOff(cpu: number): void {
    this.states[this.check(cpu)] = PowerStatus.Off;
  }

  markOnPending(cpu: number): void {
    this.states[this.check(cpu)] = PowerStatus.OnPending;
  }

  /** Every vCPU off (the VMM may treat that as a power-off). */
  get allOff(): boolean {
    return this.states.every((s) => s === PowerStatus.Off);
  }

  /** The vCPU with exactly this MPIDR affinity, or undefined. */
  cpuOfMpidr(mpidr: bigint): number | undefined {
    for (let cpu = 0; cpu < this.vcpuCount; cpu++) if (BigInt(this.mpidrOf(cpu)) === mpidr) return cpu;
    return undefined;
  }

  /** vCPUs whose affinity matches `mpidr` at levels >= `level` (lower fields ignored). */
  cpusOfAffinity(mpidr: bigint, level: number): number[] {
    const mask = [0xff_00ff_ffffn, 0xff_00ff_ff00n, 0xff_00ff_0000n, 0xff_0000_0000n][level];
    const out: number[] = [];
    for (let cpu = 0; cpu < this.vcpuCount; cpu++) if ((BigInt(this.mpidrOf(cpu)) & mask) === (mpidr & mask)) out.push(cpu);
    return out;
  }

  private check(cpu: number): number {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.vcpuCount) throw new PsciError(`no vCPU ${cpu}`);
    return cpu;
  }
}

export type PsciAction =
  | { kind: 'none' }
  | { kind: 'cpu-on'; target: number; entry: bigint; context: bigint }
  | { kind: 'cpu-off' }
  | { kind: 'suspend' }
  | { kind: 'system-off' }
  | { kind: 'system-reset' };

export interface PsciCall {
  x0: bigint;
  x1: bigint;
  x2: bigint;
  x3: bigint;
}

export interface PsciResult {
  /** The value for X0, sign-extended to 64 bits. */
  x0: bigint;
  action: PsciAction;
}

export interface PsciOptions {
  /** Whether a CPU_ON entry point is usable (e.g. inside guest RAM); alignment is checked first. */
  isValidEntry?: (address: bigint) => boolean;
}

const NONE: PsciAction = { kind: 'none' };
const ret = (value: number | bigint, action: PsciAction = NONE): PsciResult => ({
  x0: BigInt.asUintN(64, BigInt(value)),
  action,
});

/** Functions PSCI_FEATURES reports as implemented (CPU_SUSPEND: original power_state format). */
const IMPLEMENTED: ReadonlySet<number> = new Set([
  PSCI_FN.VERSION, PSCI_FN.CPU_SUSPEND_32, PSCI_FN.CPU_SUSPEND_64, PSCI_FN.CPU_OFF,
  PSCI_FN.CPU_ON_32, PSCI_FN.CPU_ON_64, PSCI_FN.AFFINITY_INFO_32, PSCI_FN.AFFINITY_INFO_64,
  PSCI_FN.MIGRATE_INFO_TYPE, PSCI_FN.SYSTEM_OFF, PSCI_FN.SYSTEM_RESET, PSCI_FN.FEATURES,
  PSCI_FN.SYSTEM_RESET2_32, PSCI_FN.SYSTEM_RESET2_64, SMCCC_FN.VERSION,
]);

/** Handle the SMCCC call in X0..X3 made by vCPU `cpu`. Never throws on guest input. */
export function handlePsciCall(call: PsciCall, cpu: number, power: PowerState, options: PsciOptions = {}): PsciResult {
  const fn = Number(call.x0 & 0xffff_ffffn);
  // SMC32 calls take 32-bit arguments: the upper halves of X1..X3 are ignored.
  const arg = (x: bigint) => (fn & 0x4000_0000 ? BigInt.asUintN(64, x) : x & 0xffff_ffffn);
  const [x1, x2, x3] = [arg(call.x1), arg(call.x2), arg(call.x3)];

  switch (fn) {
    case PSCI_FN.VERSION:
      return ret(PSCI_VERSION_1_1);
    case SMCCC_FN.VERSION:
      return ret(SMCCC_VERSION_1_1);
    case SMCCC_FN.ARCH_FEATURES:
      // No firmware workarounds are implemented; SOC_ID is not offered.
      return ret(PSCI_RET.NOT_SUPPORTED);
    case PSCI_FN.FEATURES:
      return ret(IMPLEMENTED.has(Number(x1 & 0xffff_ffffn)) && (x1 >> 32n) === 0n ? PSCI_RET.SUCCESS : PSCI_RET.NOT_SUPPORTED);
    case PSCI_FN.MIGRATE_INFO_TYPE:
      return ret(MIGRATE_INFO_NOT_REQUIRED);
    case PSCI_FN.CPU_ON_32:
    case PSCI_FN.CPU_ON_64:
      return cpuOn(x1, x2, x3, power, options);
    case PSCI_FN.CPU_OFF:
      power.markOff(cpu);
      return ret(PSCI_RET.SUCCESS, { kind: 'cpu-off' });
    case PSCI_FN.AFFINITY_INFO_32:
    case PSCI_FN.AFFINITY_INFO_64:
      return affinityInfo(x1, x2, power);
    case PSCI_FN.CPU_SUSPEND_32:
    case PSCI_FN.CPU_SUSPEND_64:
      // Every state, powerdown included, is entered as standby: the call returns SUCCESS.
      if (x1 & SUSPEND_UNSUPPORTED_BITS) return ret(PSCI_RET.INVALID_PARAMETERS);
      return ret(PSCI_RET.SUCCESS, { kind: 'suspend' });
    case PSCI_FN.SYSTEM_OFF:
      return ret(PSCI_RET.SUCCESS, { kind: 'system-off' });
    case PSCI_FN.SYSTEM_RESET:
      return ret(PSCI_RET.SUCCESS, { kind: 'system-reset' });
    case PSCI_FN.SYSTEM_RESET2_32:
    case PSCI_FN.SYSTEM_RESET2_64:
      // Only the architectural warm reset; vendor types (bit 31) and reserved ones are refused.
      if ((x1 & 0xffff_ffffn) !== RESET2_WARM) return ret(PSCI_RET.INVALID_PARAMETERS);
      return ret(PSCI_RET.SUCCESS, { kind: 'system-reset' });
    default:
      return ret(PSCI_RET.NOT_SUPPORTED);
  }
}

function cpuOn(target: bigint, entry: bigint, context: bigint, power: PowerState, options: PsciOptions): PsciResult {
  if (target & ~MPIDR_AFFINITY_MASK) return ret(PSCI_RET.INVALID_PARAMETERS);
  const cpu = power.cpuOfMpidr(target);
  if (cpu === undefined) return ret(PSCI_RET.INVALID_PARAMETERS);
  switch (power.status(cpu)) {
    case PowerStatus.On: return ret(PSCI_RET.ALREADY_ON);
    case PowerStatus.OnPending: return ret(PSCI_RET.ON_PENDING);
    case PowerStatus.Off: break;
  }
  if (entry & 3n || (options.isValidEntry && !options.isValidEntry(entry))) return ret(PSCI_RET.INVALID_ADDRESS);
  power.markOnPending(cpu);
  return ret(PSCI_RET.SUCCESS, { kind: 'cpu-on', target: cpu, entry, context });
}

function affinityInfo(target: bigint, level: bigint, power: PowerState): PsciResult {
  if (level > 3n || target & ~MPIDR_AFFINITY_MASK) return ret(PSCI_RET.INVALID_PARAMETERS);
  const cpus = power.cpusOfAffinity(target, Number(level));
  if (cpus.length === 0) return ret(PSCI_RET.INVALID_PARAMETERS);
  const states = cpus.map((c) => power.status(c));
  if (states.includes(PowerStatus.On)) return ret(PowerStatus.On);
  if (states.includes(PowerStatus.OnPending)) return ret(PowerStatus.OnPending);
  return ret(PowerStatus.Off);
}
