// The register state a vCPU starts Linux with, as plain data the VMM applies. Boot CPU
// (booting.rst "Call the kernel image"): PC = entry, X0 = DTB, X1-X3 = 0, EL1h with all of
// DAIF masked, MMU and caches off. A CPU started by PSCI CPU_ON gets the same mode with
// X0 = context_id (PSCI spec, DEN0022, CPU_ON).
import { SysReg } from '../accel/sysregs.ts';
import { Reg, type Vcpu } from '../accel/types.ts';
import { mpidrOf } from '../arch/arm64/layout.ts';

/** SPSR/CPSR: M[3:0] = 0b0101 (EL1 using SP_EL1) with D, A, I and F masked. */
export const PSTATE_EL1H_DAIF_MASKED = 0x3c5n;
/** SCTLR_EL1 RES1 bits (29, 28, 23, 22, 20, 11) only: MMU, caches and alignment checks off, little-endian. */
export const SCTLR_EL1_MMU_OFF = 0x30d0_0800n;
/** MPIDR_EL1 bit 31 is RES1; the affinity below it matches the DT cpu@ reg. */
const MPIDR_RES1 = 0x8000_0000n;

export interface VcpuBootState {
  readonly pc: bigint;
  /** X0..X3. */
  readonly x: readonly [bigint, bigint, bigint, bigint];
  readonly cpsr: bigint;
  readonly sctlrEl1: bigint;
  readonly mpidrEl1: bigint;
}

function state(cpu: number, pc: number | bigint, x0: number | bigint): VcpuBootState {
  return {
    pc: BigInt(pc),
    x: [BigInt(x0), 0n, 0n, 0n],
    cpsr: PSTATE_EL1H_DAIF_MASKED,
    sctlrEl1: SCTLR_EL1_MMU_OFF,
    mpidrEl1: MPIDR_RES1 | BigInt(mpidrOf(cpu)),
  };
}

/** The boot vCPU (index 0) entering the kernel. */
export function bootVcpuState(kernelEntry: number, dtbAddress: number): VcpuBootState {
  return state(0, kernelEntry, dtbAddress);
}

/** A secondary vCPU released by PSCI CPU_ON. */
export function secondaryVcpuState(cpu: number, entry: bigint, contextId: bigint): VcpuBootState {
  return state(cpu, entry, contextId);
}

export function applyVcpuBootState(vcpu: Pick<Vcpu, 'setReg' | 'setSysReg'>, s: VcpuBootState): void {
  vcpu.setSysReg(SysReg.MPIDR_EL1, s.mpidrEl1);
  vcpu.setSysReg(SysReg.SCTLR_EL1, s.sctlrEl1);
  const xRegs = [Reg.X0, Reg.X1, Reg.X2, Reg.X3] as const;
  xRegs.forEach((reg, i) => vcpu.setReg(reg, s.x[i]));
  vcpu.setReg(Reg.CPSR, s.cpsr);
  vcpu.setReg(Reg.PC, s.pc);
}
