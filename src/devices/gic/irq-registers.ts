// The per-INTID register block that GICD and the redistributor's SGI_base frame share
// (IGROUPR, IS/ICENABLER, IS/ICPENDR, IS/ICACTIVER, IPRIORITYR, ICFGR, IGRPMODR, NSACR).
// Each frame serves a window of INTIDs [first, limit); INTIDs outside it read as zero and
// ignore writes, as GICD does for SGIs/PPIs under affinity routing.
import type { GicV3 } from './gicv3.ts';
import { IRQ_REG } from './registers.ts';

export interface IrqWindow {
  first: number;
  limit: number;
}

type Access = { kind: 'bits'; reg: number; first: number } | { kind: 'priority'; first: number } | { kind: 'config'; first: number } | { kind: 'raz-wi' };

const BIT_REGS = [IRQ_REG.IGROUPR, IRQ_REG.ISENABLER, IRQ_REG.ICENABLER, IRQ_REG.ISPENDR, IRQ_REG.ICPENDR, IRQ_REG.ISACTIVER, IRQ_REG.ICACTIVER];

type WriteOp = Parameters<GicV3['writeBits']>[0];
const WRITE_OPS: ReadonlyMap<number, WriteOp> = new Map<number, WriteOp>([
  [IRQ_REG.IGROUPR, 'group'], [IRQ_REG.ISENABLER, 'set-enable'], [IRQ_REG.ICENABLER, 'clear-enable'],
  [IRQ_REG.ISPENDR, 'set-pending'], [IRQ_REG.ICPENDR, 'clear-pending'],
  [IRQ_REG.ISACTIVER, 'set-active'], [IRQ_REG.ICACTIVER, 'clear-active'],
]);

/** Which per-INTID register `offset` names, or undefined if none. Sizes are checked by the caller. */
export function decodeIrqRegister(offset: number): Access | undefined {
  for (const reg of BIT_REGS) {
    if (offset >= reg && offset < reg + 0x80) return { kind: 'bits', reg, first: ((offset - reg) >> 2) * 32 };
  }
  if (offset >= IRQ_REG.IPRIORITYR && offset < IRQ_REG.IPRIORITYR + 0x400) return { kind: 'priority', first: offset - IRQ_REG.IPRIORITYR };
  if (offset >= IRQ_REG.ICFGR && offset < IRQ_REG.ICFGR + 0x100) return { kind: 'config', first: ((offset - IRQ_REG.ICFGR) >> 2) * 16 };
  // DS = 1: IGRPMODR and NSACR are RAZ/WI.
  if (offset >= IRQ_REG.IGRPMODR && offset < IRQ_REG.IGRPMODR + 0x80) return { kind: 'raz-wi' };
  if (offset >= IRQ_REG.NSACR && offset < IRQ_REG.NSACR + 0x100) return { kind: 'raz-wi' };
  return undefined;
}

const inWindow = (w: IrqWindow, first: number, count: number) => first >= w.first && first + count <= w.limit;

/** Size rule: IPRIORITYR is byte-accessible, everything else is 32-bit only. */
export function irqRegisterSizeOk(access: Access, offset: number, size: number): boolean {
  if (access.kind === 'priority') return (size === 1 || size === 2 || size === 4) && offset % size === 0;
  return size === 4 && offset % 4 === 0;
}

export function readIrqRegister(gic: GicV3, cpu: number, w: IrqWindow, access: Access, size: number): number {
  switch (access.kind) {
    case 'raz-wi':
      return 0;
    case 'bits': {
      if (!inWindow(w, access.first, 32)) return 0;
      const field = access.reg === IRQ_REG.IGROUPR ? 'group'
        : access.reg === IRQ_REG.ISENABLER || access.reg === IRQ_REG.ICENABLER ? 'enabled'
        : access.reg === IRQ_REG.ISPENDR || access.reg === IRQ_REG.ICPENDR ? 'pending' : 'active';
      return gic.readBits(field, cpu, access.first);
    }
    case 'priority': {
      let v = 0;
      for (let i = 0; i < size; i++) {
        const intid = access.first + i;
        if (inWindow(w, intid, 1)) v |= gic.getPriority(cpu, intid) << (8 * i);
      }
      return v >>> 0;
    }
    case 'config': {
      let v = 0;
      for (let i = 0; i < 16; i++) {
        const intid = access.first + i;
        if (inWindow(w, intid, 1) && gic.isEdge(cpu, intid)) v |= 2 << (2 * i);
      }
      return v >>> 0;
    }
  }
}

export function writeIrqRegister(gic: GicV3, cpu: number, w: IrqWindow, access: Access, size: number, value: number): void {
  switch (access.kind) {
    case 'raz-wi':
      return;
    case 'bits': {
      if (!inWindow(w, access.first, 32)) return;
      const op = WRITE_OPS.get(access.reg);
      if (!op) return;
      gic.writeBits(op, cpu, access.first, value);
      return;
    }
    case 'priority':
      for (let i = 0; i < size; i++) {
        const intid = access.first + i;
        if (inWindow(w, intid, 1)) gic.setPriority(cpu, intid, (value >>> (8 * i)) & 0xff);
      }
      return;
    case 'config':
      for (let i = 0; i < 16; i++) {
        const intid = access.first + i;
        if (inWindow(w, intid, 1)) gic.setEdge(cpu, intid, ((value >>> (2 * i)) & 2) !== 0);
      }
      return;
  }
}

export function toU32(value: number | bigint): number {
  return typeof value === 'bigint' ? Number(BigInt.asUintN(32, value)) : value >>> 0;
}

export function toU64(value: number | bigint): bigint {
  return typeof value === 'bigint' ? BigInt.asUintN(64, value) : BigInt.asUintN(64, BigInt(Math.trunc(value)));
}

/** Byte `index` of a Peripheral/Component ID table starting at PIDR4 (0xffd0). */
export function idRegister(bytes: readonly number[], offset: number): number {
  return bytes[(offset - 0xffd0) >> 2] ?? 0;
}
