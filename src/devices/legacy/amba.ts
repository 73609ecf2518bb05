// AMBA PrimeCell identification registers (0xfe0-0xffc), which Linux's AMBA bus reads to
// bind a driver before probing: UARTPeriphID0-3 / UARTPCellID0-3 and their RTC twins.
// Each 32-bit register carries one byte of the ID in bits [7:0].

export const PRIMECELL_ID_BASE = 0xfe0;
export const PRIMECELL_CELL_ID = 0xb105f00d;

export interface DeviceLogger {
  warn(msg: string): void;
  debug?(msg: string): void;
}

export const silentLogger: DeviceLogger = { warn: () => {} };

/** True if `offset` is one of the eight ID registers. */
export function isPrimeCellId(offset: number): boolean {
  return offset >= PRIMECELL_ID_BASE && offset <= 0xffc && offset % 4 === 0;
}

/** The value of ID register `offset` for a peripheral with `periphId`. */
export function primeCellId(periphId: number, offset: number): number {
  const i = (offset - PRIMECELL_ID_BASE) >> 2;
  const id = i < 4 ? periphId : PRIMECELL_CELL_ID;
  return (id >>> (8 * (i & 3))) & 0xff;
}

/**
 * Narrow a sub-word access to a 32-bit register file: returns the register offset and
 * byte shift, or undefined if the access straddles a register.
 */
export function wordAccess(offset: number, size: number): { reg: number; shift: number } | undefined {
  if (size !== 1 && size !== 2 && size !== 4) return undefined;
  if (offset % size !== 0) return undefined;
  return { reg: offset & ~3, shift: (offset & 3) * 8 };
}

export function toU32(value: number | bigint): number {
  return typeof value === 'bigint' ? Number(BigInt.asUintN(32, value)) : value >>> 0;
}
