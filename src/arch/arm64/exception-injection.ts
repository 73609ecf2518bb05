// Injecting a synchronous exception into the guest's EL1, as the VMM must when a trapped
// access cannot be emulated (an unknown system register is UNDEFINED; an MMIO access
// without a valid syndrome becomes an external abort). HVF offers no call for this, so
// the VMM performs the architectural exception entry itself through the registers.
import { Reg, type Vcpu } from '../../accel/types.ts';
import { SysReg } from '../../accel/sysregs.ts';

const PSTATE_SP = 1n; // SPSel: 1 = SP_ELx
const PSTATE_EL_SHIFT = 2n;
const PSTATE_DAIF = 0xfn << 6n;
const PSTATE_PAN = 1n << 22n;
const MODE_EL1H = 0x5n;
const SCTLR_SPAN = 1n << 23n;

/** Vector offsets from VBAR_EL1 (Arm ARM D1.10.2). */
const VECTOR_CURRENT_SP0 = 0x000n;
const VECTOR_CURRENT_SPX = 0x200n;
const VECTOR_LOWER_A64 = 0x400n;

export const ESR_EC_SHIFT = 26;
export const ESR_IL = 1 << 25;
/** EC 0x00: unknown reason, what an UNDEFINED instruction reports. */
export const ESR_UNDEFINED = ESR_IL;
const EC_DABT_LOWER = 0x24;
const EC_DABT_CURRENT = 0x25;
const EC_IABT_LOWER = 0x20;
const EC_IABT_CURRENT = 0x21;
/** DFSC/IFSC 0b010000: synchronous external abort, not on a table walk. */
const FSC_EXTERNAL_ABORT = 0x10;

/** Take a synchronous exception to EL1 with the given ESR (and FAR, for aborts). */
export function injectSyncException(vcpu: Vcpu, esr: number, far?: bigint): void {
  const cpsr = vcpu.getReg(Reg.CPSR);
  const pc = vcpu.getReg(Reg.PC);
  const fromEl = (cpsr >> PSTATE_EL_SHIFT) & 3n;
  const offset = fromEl === 0n ? VECTOR_LOWER_A64 : (cpsr & PSTATE_SP) !== 0n ? VECTOR_CURRENT_SPX : VECTOR_CURRENT_SP0;
  const vbar = vcpu.getSysReg(SysReg.VBAR_EL1);
  const sctlr = vcpu.getSysReg(SysReg.SCTLR_EL1);

  vcpu.setSysReg(SysReg.ELR_EL1, pc);
  vcpu.setSysReg(SysReg.SPSR_EL1, cpsr);
  vcpu.setSysReg(SysReg.ESR_EL1, BigInt(esr >>> 0));
  if (far !== undefined) vcpu.setSysReg(SysReg.FAR_EL1, far);

  // Entry keeps PAN unless SCTLR_EL1.SPAN is 0, in which case PAN is set.
  let next = MODE_EL1H | PSTATE_DAIF | (cpsr & PSTATE_PAN);
  if ((sctlr & SCTLR_SPAN) === 0n) next |= PSTATE_PAN;
  vcpu.setReg(Reg.CPSR, next);
  vcpu.setReg(Reg.PC, (vbar & ~0x7ffn) + offset);
}

function fromLowerEl(vcpu: Vcpu): boolean {
  return ((vcpu.getReg(Reg.CPSR) >> PSTATE_EL_SHIFT) & 3n) === 0n;
}

/** The instruction at PC is UNDEFINED to the guest. */
export function injectUndefined(vcpu: Vcpu): void {
  injectSyncException(vcpu, ESR_UNDEFINED);
}

/** A synchronous external abort on a data access at virtual address `far`. */
export function injectDataAbort(vcpu: Vcpu, far: bigint, write: boolean): void {
  const ec = fromLowerEl(vcpu) ? EC_DABT_LOWER : EC_DABT_CURRENT;
  injectSyncException(vcpu, (ec << ESR_EC_SHIFT) | ESR_IL | (write ? 1 << 6 : 0) | FSC_EXTERNAL_ABORT, far);
}

/** A synchronous external abort on an instruction fetch at virtual address `far`. */
export function injectInstructionAbort(vcpu: Vcpu, far: bigint): void {
  const ec = fromLowerEl(vcpu) ? EC_IABT_LOWER : EC_IABT_CURRENT;
  injectSyncException(vcpu, (ec << ESR_EC_SHIFT) | ESR_IL | FSC_EXTERNAL_ABORT, far);
}
