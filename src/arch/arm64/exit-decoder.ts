// Decodes a vCPU exit (HVF's hv_vcpu_exit_t, or the software CPU's identical record) into
// one typed event. Pure: no registers are read and nothing is changed, so every case is
// table-tested from the syndromes real instructions produce.
//
// ESR layout (Arm ARM D17.2.37): EC = [31:26], IL = [25], ISS = [24:0].
import { ExitReason, type VcpuExit } from '../../accel/types.ts';
import { sysRegId } from '../../accel/sysregs.ts';

/** Exception classes a hypervisor sees from a lower EL. */
export const EC = {
  UNKNOWN: 0x00,
  WFX: 0x01,
  FP_ACCESS: 0x07,
  HVC64: 0x16,
  SMC64: 0x17,
  SYSREG: 0x18,
  INSTR_ABORT_LOWER: 0x20,
  DATA_ABORT_LOWER: 0x24,
  BREAKPOINT_LOWER: 0x30,
  SOFTWARE_STEP_LOWER: 0x32,
  WATCHPOINT_LOWER: 0x34,
  BRK64: 0x3c,
} as const;

export type ExitEvent =
  | { kind: 'canceled' }
  | { kind: 'vtimer' }
  | {
      kind: 'mmio-read';
      address: number;
      /** Access size in bytes: 1, 2, 4 or 8. */
      size: 1 | 2 | 4 | 8;
      /** Destination register Xt; 31 means XZR (the value is discarded). */
      register: number;
      signExtend: boolean;
      /** SF: the destination is a 64-bit X register (else a W register). */
      sixtyFourBit: boolean;
      acquireRelease: boolean;
    }
  | { kind: 'mmio-write'; address: number; size: 1 | 2 | 4 | 8; register: number; acquireRelease: boolean }
  /** A data abort without a valid instruction syndrome (ISV = 0): not emulatable. */
  | { kind: 'data-abort'; address: number; virtualAddress: bigint; write: boolean; dfsc: number }
  | { kind: 'instruction-abort'; address: number; virtualAddress: bigint; ifsc: number }
  | {
      kind: 'sysreg';
      /** hv_sys_reg_t-style id of the register. */
      id: number;
      op0: number; op1: number; crn: number; crm: number; op2: number;
      register: number;
      /** true for MRS (read into Xt), false for MSR. */
      read: boolean;
    }
  | { kind: 'hvc'; imm: number }
  | { kind: 'smc'; imm: number }
  | { kind: 'wfi' }
  | { kind: 'wfe' }
  | { kind: 'brk'; imm: number }
  | { kind: 'breakpoint' }
  | { kind: 'software-step' }
  | { kind: 'watchpoint'; virtualAddress: bigint; write: boolean }
  | { kind: 'undecodable'; reason: ExitReason; syndrome: bigint; ec: number };

const SIZES = [1, 2, 4, 8] as const;

export function decodeExit(exit: VcpuExit): ExitEvent {
  switch (exit.reason) {
    case ExitReason.Canceled:
      return { kind: 'canceled' };
    case ExitReason.VtimerActivated:
      return { kind: 'vtimer' };
    case ExitReason.Exception:
      return decodeException(exit);
    default:
      return { kind: 'undecodable', reason: exit.reason, syndrome: exit.syndrome, ec: -1 };
  }
}

function decodeException(exit: VcpuExit): ExitEvent {
  const esr = Number(exit.syndrome & 0xffff_ffffn);
  const ec = esr >>> 26;
  const iss = esr & 0x1ff_ffff;
  switch (ec) {
    case EC.WFX: {
      // TI[1:0]: 0 WFI, 1 WFE, 2 WFIT, 3 WFET; the timed forms wait like their plain ones.
      return (iss & 1) === 0 ? { kind: 'wfi' } : { kind: 'wfe' };
    }
    case EC.HVC64:
      return { kind: 'hvc', imm: iss & 0xffff };
    case EC.SMC64:
      return { kind: 'smc', imm: iss & 0xffff };
    case EC.SYSREG: {
      const op0 = (iss >>> 20) & 3;
      const op2 = (iss >>> 17) & 7;
      const op1 = (iss >>> 14) & 7;
      const crn = (iss >>> 10) & 15;
      const register = (iss >>> 5) & 31;
      const crm = (iss >>> 1) & 15;
      return { kind: 'sysreg', id: sysRegId(op0, op1, crn, crm, op2), op0, op1, crn, crm, op2, register, read: (iss & 1) === 1 };
    }
    case EC.DATA_ABORT_LOWER: {
      const address = Number(exit.physicalAddress);
      const write = ((iss >>> 6) & 1) === 1;
      const isv = ((iss >>> 24) & 1) === 1;
      if (!isv) return { kind: 'data-abort', address, virtualAddress: exit.virtualAddress, write, dfsc: iss & 0x3f };
      const size = SIZES[(iss >>> 22) & 3];
      const register = (iss >>> 16) & 31;
      const acquireRelease = ((iss >>> 14) & 1) === 1;
      if (write) return { kind: 'mmio-write', address, size, register, acquireRelease };
      return {
        kind: 'mmio-read', address, size, register,
        signExtend: ((iss >>> 21) & 1) === 1,
        sixtyFourBit: ((iss >>> 15) & 1) === 1,
        acquireRelease,
      };
    }
    case EC.INSTR_ABORT_LOWER:
      return { kind: 'instruction-abort', address: Number(exit.physicalAddress), virtualAddress: exit.virtualAddress, ifsc: iss & 0x3f };
    case EC.BRK64:
      return { kind: 'brk', imm: iss & 0xffff };
    case EC.BREAKPOINT_LOWER:
      return { kind: 'breakpoint' };
    case EC.SOFTWARE_STEP_LOWER:
      return { kind: 'software-step' };
    case EC.WATCHPOINT_LOWER:
      return { kind: 'watchpoint', virtualAddress: exit.virtualAddress, write: ((iss >>> 6) & 1) === 1 };
    default:
      return { kind: 'undecodable', reason: exit.reason, syndrome: exit.syndrome, ec };
  }
}

/** The value an MMIO read delivers into Xt/Wt: sign-extended per SSE, truncated per SF. */
export function mmioReadResult(ev: Extract<ExitEvent, { kind: 'mmio-read' }>, raw: bigint): bigint {
  const bits = BigInt(ev.size * 8);
  let v = BigInt.asUintN(Number(bits), raw);
  if (ev.signExtend) v = BigInt.asIntN(Number(bits), v);
  return ev.sixtyFourBit ? BigInt.asUintN(64, v) : BigInt.asUintN(32, v);
}
