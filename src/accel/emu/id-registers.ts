// The identity the software CPU presents: one consistent Cortex-A72-like core that
// advertises only what is implemented (FP, AdvSIMD, CRC32, GICv3 system registers, 4K/16K/64K
// granules, 40-bit PA). No SVE, PAC, BTI, MTE, LSE, PAN, RAS, PMU or hardware AF/DBM.
import { sysRegId } from '../sysregs.ts';

export const MIDR_CORTEX_A72 = 0x410f_d083n;

/** ID_AA64PFR0: EL0/EL1 AArch64 only, FP and AdvSIMD implemented, GICv3 system registers. */
export const ID_AA64PFR0 = (1n << 24n) | (1n << 4n) | 1n;
/** ID_AA64ISAR0: CRC32 only. */
export const ID_AA64ISAR0 = 1n << 16n;
/** ID_AA64MMFR0: PARange 40 bits, 16-bit ASIDs, 16K granule supported (4K and 64K are 0 = supported). */
export const ID_AA64MMFR0 = (1n << 20n) | (2n << 4n) | 2n;
/** ID_AA64DFR0: Armv8 debug architecture, no PMU. */
export const ID_AA64DFR0 = 6n;
/** CTR_EL0: 64-byte cache lines, VIPT instruction cache. */
export const CTR_EL0 = 0x8444_c004n;
/** DCZID_EL0: DC ZVA zeroes 64 bytes. */
export const DCZID_EL0 = 4n;
export const DC_ZVA_BYTES = 64;
export const CLIDR_EL1 = 0x0a20_0023n;
export const CNTFRQ_HZ = 24_000_000;

/** Read-only identification registers the CPU answers itself; absent ones in ID space read as 0. */
export const ID_REGISTERS: ReadonlyMap<number, bigint> = new Map([
  [sysRegId(3, 0, 0, 0, 0), MIDR_CORTEX_A72],
  [sysRegId(3, 0, 0, 0, 6), 0n], // REVIDR_EL1
  [sysRegId(3, 0, 0, 4, 0), ID_AA64PFR0],
  [sysRegId(3, 0, 0, 5, 0), ID_AA64DFR0],
  [sysRegId(3, 0, 0, 6, 0), ID_AA64ISAR0],
  [sysRegId(3, 0, 0, 7, 0), ID_AA64MMFR0],
  [sysRegId(3, 3, 0, 0, 1), CTR_EL0],
  [sysRegId(3, 3, 0, 0, 7), DCZID_EL0],
  [sysRegId(3, 1, 0, 0, 1), CLIDR_EL1],
  [sysRegId(3, 1, 0, 0, 7), 0n], // AIDR_EL1
  [sysRegId(3, 1, 0, 0, 0), 0x700f_e01an], // CCSIDR_EL1 (64-byte lines)
]);

/** op0=3, op1=0, CRn=0, CRm 1..7: the ID register space (unlisted ones read as zero). */
export function isIdRegisterSpace(op0: number, op1: number, crn: number, crm: number): boolean {
  return op0 === 3 && op1 === 0 && crn === 0 && crm >= 1 && crm <= 7;
}
