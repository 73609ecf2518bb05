// GICv3 register offsets, bit fields and CPU-interface system-register ids (Arm IHI 0069,
// "GIC architecture specification v3/v4", chapter 12). Offsets are relative to the frame
// the bus hands the device; ids use the hv_sys_reg_t encoding of src/accel/sysregs.ts.
import { sysRegId } from '../../accel/sysregs.ts';

/** Registers shared by GICD and the redistributor's SGI_base frame (one bit or byte per INTID). */
export const IRQ_REG = {
  IGROUPR: 0x0080,
  ISENABLER: 0x0100,
  ICENABLER: 0x0180,
  ISPENDR: 0x0200,
  ICPENDR: 0x0280,
  ISACTIVER: 0x0300,
  ICACTIVER: 0x0380,
  IPRIORITYR: 0x0400,
  ICFGR: 0x0c00,
  IGRPMODR: 0x0d00,
  NSACR: 0x0e00,
} as const;

export const GICD = {
  CTLR: 0x0000,
  TYPER: 0x0004,
  IIDR: 0x0008,
  TYPER2: 0x000c,
  STATUSR: 0x0010,
  SETSPI_NSR: 0x0040,
  CLRSPI_NSR: 0x0048,
  ITARGETSR: 0x0800,
  SGIR: 0x0f00,
  CPENDSGIR: 0x0f10,
  SPENDSGIR: 0x0f20,
  IROUTER: 0x6000,
} as const;

/** GICD_CTLR with DS = 1 (single security state). */
export const GICD_CTLR_ENABLE_GRP0 = 1 << 0;
export const GICD_CTLR_ENABLE_GRP1 = 1 << 1;
export const GICD_CTLR_ARE = 1 << 4;
export const GICD_CTLR_DS = 1 << 6;

export const GICR = {
  CTLR: 0x0000,
  IIDR: 0x0004,
  TYPER: 0x0008,
  STATUSR: 0x0010,
  WAKER: 0x0014,
  PROPBASER: 0x0070,
  PENDBASER: 0x0078,
} as const;

export const GICR_TYPER_LAST = 1 << 4;
export const GICR_WAKER_PROCESSOR_SLEEP = 1 << 1;
export const GICR_WAKER_CHILDREN_ASLEEP = 1 << 2;
/** The SGI_base frame follows the RD_base frame. */
export const GICR_SGI_FRAME = 0x1_0000;

/** Peripheral/Component ID registers at the end of each frame (PIDR4 first). */
export const ID_REGS_BASE = 0xffd0;
export const GICD_ID_BYTES = [0x44, 0, 0, 0, 0x92, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1] as const;
export const GICR_ID_BYTES = [0x44, 0, 0, 0, 0x93, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1] as const;

/** Arm's JEP106 code in GICD_IIDR/GICR_IIDR, product id 0x4e ("N"odevisor). */
export const GIC_IIDR = 0x4e00_043b;

/** Implemented priority bits: 5, as most GICv3 CPU interfaces (32 levels, one AP register). */
export const PRIORITY_BITS = 5;
export const PRIORITY_MASK = (0xff << (8 - PRIORITY_BITS)) & 0xff;
/** Lowest BPR0 value with 5 priority bits; BPR1's minimum is one more. */
export const BPR0_MIN = 7 - PRIORITY_BITS;
export const BPR1_MIN = BPR0_MIN + 1;

export const INTID_SPURIOUS = 1023;
/** Special INTIDs 1020-1023: EOI/DIR writes of them are ignored. */
export const INTID_SPECIAL_FIRST = 1020;

/** ICC_CTLR_EL1 fields. */
export const ICC_CTLR_CBPR = 1 << 0;
export const ICC_CTLR_EOIMODE = 1 << 1;
export const ICC_CTLR_PRIBITS_SHIFT = 8;
export const ICC_SRE_VALUE = 0b111n; // SRE, DFB, DIB: RAO/WI, system registers only

const icc = (crn: number, crm: number, op2: number) => sysRegId(3, 0, crn, crm, op2);

/** GIC CPU interface system registers (all EL1, op0 = 3, op1 = 0). */
export const ICC = {
  PMR_EL1: icc(4, 6, 0),
  IAR0_EL1: icc(12, 8, 0),
  EOIR0_EL1: icc(12, 8, 1),
  HPPIR0_EL1: icc(12, 8, 2),
  BPR0_EL1: icc(12, 8, 3),
  AP0R0_EL1: icc(12, 8, 4),
  AP0R1_EL1: icc(12, 8, 5),
  AP0R2_EL1: icc(12, 8, 6),
  AP0R3_EL1: icc(12, 8, 7),
  AP1R0_EL1: icc(12, 9, 0),
  AP1R1_EL1: icc(12, 9, 1),
  AP1R2_EL1: icc(12, 9, 2),
  AP1R3_EL1: icc(12, 9, 3),
  DIR_EL1: icc(12, 11, 1),
  RPR_EL1: icc(12, 11, 3),
  SGI1R_EL1: icc(12, 11, 5),
  ASGI1R_EL1: icc(12, 11, 6),
  SGI0R_EL1: icc(12, 11, 7),
  IAR1_EL1: icc(12, 12, 0),
  EOIR1_EL1: icc(12, 12, 1),
  HPPIR1_EL1: icc(12, 12, 2),
  BPR1_EL1: icc(12, 12, 3),
  CTLR_EL1: icc(12, 12, 4),
  SRE_EL1: icc(12, 12, 5),
  IGRPEN0_EL1: icc(12, 12, 6),
  IGRPEN1_EL1: icc(12, 12, 7),
} as const;

export type IccRegName = keyof typeof ICC;
export const ICC_NAMES: ReadonlyMap<number, IccRegName> = new Map(
  Object.entries(ICC).map(([k, v]) => [v, k as IccRegName]),
);
