// System-register identifiers exactly as Hypervisor.framework's hv_sys_reg_t encodes them:
// op0<<14 | op1<<11 | CRn<<7 | CRm<<3 | op2. A trapped MSR/MRS (EC 0x18) carries the same
// five fields, so `sysRegId()` maps a trap straight onto these values.

export function sysRegId(op0: number, op1: number, crn: number, crm: number, op2: number): number {
  return ((op0 & 3) << 14) | ((op1 & 7) << 11) | ((crn & 15) << 7) | ((crm & 15) << 3) | (op2 & 7);
}

export interface SysRegFields { op0: number; op1: number; crn: number; crm: number; op2: number }

export function sysRegFields(id: number): SysRegFields {
  return { op0: (id >> 14) & 3, op1: (id >> 11) & 7, crn: (id >> 7) & 15, crm: (id >> 3) & 15, op2: id & 7 };
}

const dbg = (crm: number, op2: number) => sysRegId(2, 0, 0, crm, op2);

/** The registers HVF lets a VMM read and write (macOS 15.0 SDK, hv_vcpu_types.h). */
export const SysReg = {
  ...Object.fromEntries(Array.from({ length: 16 }, (_, n) => [
    [`DBGBVR${n}_EL1`, dbg(n, 4)], [`DBGBCR${n}_EL1`, dbg(n, 5)],
    [`DBGWVR${n}_EL1`, dbg(n, 6)], [`DBGWCR${n}_EL1`, dbg(n, 7)],
  ]).flat()) as Record<`DBG${'BVR' | 'BCR' | 'WVR' | 'WCR'}${number}_EL1`, number>,
  MDCCINT_EL1: sysRegId(2, 0, 0, 2, 0),
  MDSCR_EL1: sysRegId(2, 0, 0, 2, 2),
  MIDR_EL1: sysRegId(3, 0, 0, 0, 0),
  MPIDR_EL1: sysRegId(3, 0, 0, 0, 5),
  ID_AA64PFR0_EL1: sysRegId(3, 0, 0, 4, 0),
  ID_AA64PFR1_EL1: sysRegId(3, 0, 0, 4, 1),
  ID_AA64DFR0_EL1: sysRegId(3, 0, 0, 5, 0),
  ID_AA64DFR1_EL1: sysRegId(3, 0, 0, 5, 1),
  ID_AA64ISAR0_EL1: sysRegId(3, 0, 0, 6, 0),
  ID_AA64ISAR1_EL1: sysRegId(3, 0, 0, 6, 1),
  ID_AA64MMFR0_EL1: sysRegId(3, 0, 0, 7, 0),
  ID_AA64MMFR1_EL1: sysRegId(3, 0, 0, 7, 1),
  ID_AA64MMFR2_EL1: sysRegId(3, 0, 0, 7, 2),
  SCTLR_EL1: sysRegId(3, 0, 1, 0, 0),
  ACTLR_EL1: sysRegId(3, 0, 1, 0, 1),
  CPACR_EL1: sysRegId(3, 0, 1, 0, 2),
  TTBR0_EL1: sysRegId(3, 0, 2, 0, 0),
  TTBR1_EL1: sysRegId(3, 0, 2, 0, 1),
  TCR_EL1: sysRegId(3, 0, 2, 0, 2),
  APIAKEYLO_EL1: sysRegId(3, 0, 2, 1, 0),
  APIAKEYHI_EL1: sysRegId(3, 0, 2, 1, 1),
  APIBKEYLO_EL1: sysRegId(3, 0, 2, 1, 2),
  APIBKEYHI_EL1: sysRegId(3, 0, 2, 1, 3),
  APDAKEYLO_EL1: sysRegId(3, 0, 2, 2, 0),
  APDAKEYHI_EL1: sysRegId(3, 0, 2, 2, 1),
  APDBKEYLO_EL1: sysRegId(3, 0, 2, 2, 2),
  APDBKEYHI_EL1: sysRegId(3, 0, 2, 2, 3),
  APGAKEYLO_EL1: sysRegId(3, 0, 2, 3, 0),
  APGAKEYHI_EL1: sysRegId(3, 0, 2, 3, 1),
  SPSR_EL1: sysRegId(3, 0, 4, 0, 0),
  ELR_EL1: sysRegId(3, 0, 4, 0, 1),
  SP_EL0: sysRegId(3, 0, 4, 1, 0),
  AFSR0_EL1: sysRegId(3, 0, 5, 1, 0),
  AFSR1_EL1: sysRegId(3, 0, 5, 1, 1),
  ESR_EL1: sysRegId(3, 0, 5, 2, 0),
  FAR_EL1: sysRegId(3, 0, 6, 0, 0),
  PAR_EL1: sysRegId(3, 0, 7, 4, 0),
  MAIR_EL1: sysRegId(3, 0, 10, 2, 0),
  AMAIR_EL1: sysRegId(3, 0, 10, 3, 0),
  VBAR_EL1: sysRegId(3, 0, 12, 0, 0),
  CONTEXTIDR_EL1: sysRegId(3, 0, 13, 0, 1),
  TPIDR_EL1: sysRegId(3, 0, 13, 0, 4),
  CNTKCTL_EL1: sysRegId(3, 0, 14, 1, 0),
  CSSELR_EL1: sysRegId(3, 2, 0, 0, 0),
  TPIDR_EL0: sysRegId(3, 3, 13, 0, 2),
  TPIDRRO_EL0: sysRegId(3, 3, 13, 0, 3),
  CNTP_TVAL_EL0: sysRegId(3, 3, 14, 2, 0),
  CNTP_CTL_EL0: sysRegId(3, 3, 14, 2, 1),
  CNTP_CVAL_EL0: sysRegId(3, 3, 14, 2, 2),
  CNTV_CTL_EL0: sysRegId(3, 3, 14, 3, 1),
  CNTV_CVAL_EL0: sysRegId(3, 3, 14, 3, 2),
  SP_EL1: sysRegId(3, 4, 4, 1, 0),
} as const;

export type SysRegName = keyof typeof SysReg;

const namesById = new Map<number, string>(Object.entries(SysReg).map(([k, v]) => [v, k]));

/** `S3_0_C1_C0_0`-style name for any encoding, or the architectural name where known. */
export function sysRegName(id: number): string {
  const known = namesById.get(id);
  if (known) return known;
  const f = sysRegFields(id);
  return `S${f.op0}_${f.op1}_C${f.crn}_C${f.crm}_${f.op2}`;
}

/** Every register id HVF's get/set_sys_reg accepts; backends validate against it. */
export const HVF_SYS_REGS: ReadonlySet<number> = new Set(Object.values(SysReg));
