// The system registers a vCPU keeps as plain values (sysregs.ts ids -> 64-bit values). The
// ones translated code reads inline (the thread pointers, codegen.ts FAST_MRS) are also kept
// in the state area, so every write, wherever it comes from (MSR, the VMM, a reset), updates both.
import { SysReg } from '../sysregs.ts';

/** The mirrored registers, in their state-area order (OFF_SYSREG_MIRROR). */
export const MIRRORED_SYSREGS: readonly number[] = [SysReg.TPIDR_EL1, SysReg.TPIDR_EL0, SysReg.TPIDRRO_EL0];

export class SysRegStore extends Map<number, bigint> {
  /** `mirror`: the state area's SYSREG_MIRROR_COUNT i64 words. */
  constructor(private readonly mirror: BigInt64Array) {
    super();
  }

  override set(id: number, value: bigint): this {
    super.set(id, value);
    const i = MIRRORED_SYSREGS.indexOf(id);
    if (i >= 0) this.mirror[i] = BigInt.asIntN(64, value);
    return this;
  }

  override delete(id: number): boolean {
    const i = MIRRORED_SYSREGS.indexOf(id);
    if (i >= 0) this.mirror[i] = 0n;
    return super.delete(id);
  }

  override clear(): void {
    this.mirror.fill(0n);
    super.clear();
  }
}
