// A Vcpu that replays scripted exits: each step may inspect and change the registers as a
// guest would, then returns the exit record HVF would produce. Lets VMM tests run without
// any CPU.
import { ExitReason, InterruptType, Reg, type Vcpu, type VcpuExit } from '../../src/accel/types.ts';
import { SysReg } from '../../src/accel/sysregs.ts';

export type Step = (cpu: ScriptedVcpu) => VcpuExit | Promise<VcpuExit>;

export const exception = (esr: number, pa = 0n, va = 0n): VcpuExit => ({
  reason: ExitReason.Exception, syndrome: BigInt(esr >>> 0), virtualAddress: va, physicalAddress: pa,
});

export class ScriptedVcpu implements Vcpu {
  readonly regs = new Map<number, bigint>();
  readonly sys = new Map<number, bigint>();
  readonly irqAtRun: boolean[] = [];
  readonly pcAtRun: bigint[] = [];
  vtimerMasked = false;
  vtimerOffset = 0n;
  exitRequested = false;
  private pending = [false, false];

  constructor(readonly id: number, private readonly steps: Step[], private readonly onEnd?: () => void) {
    this.regs.set(Reg.CPSR, 0x3c5n);
  }

  async run(): Promise<VcpuExit> {
    this.irqAtRun.push(this.pending[InterruptType.IRQ]);
    this.pcAtRun.push(this.getReg(Reg.PC));
    try {
      if (this.exitRequested) {
        this.exitRequested = false;
        return { reason: ExitReason.Canceled, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n };
      }
      const step = this.steps.shift();
      if (!step) {
        this.onEnd?.();
        await new Promise((r) => setTimeout(r, 5));
        return { reason: ExitReason.Canceled, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n };
      }
      return await step(this);
    } finally {
      this.pending = [false, false];
    }
  }
  requestExit(): void { this.exitRequested = true; }
  getReg(reg: Reg): bigint { return this.regs.get(reg) ?? 0n; }
  setReg(reg: Reg, value: bigint): void { this.regs.set(reg, BigInt.asUintN(64, value)); }
  getSimdFpReg(): Uint8Array { return new Uint8Array(16); }
  setSimdFpReg(): void {}
  getSysReg(id: number): bigint { return this.sys.get(id) ?? 0n; }
  setSysReg(id: number, value: bigint): void { this.sys.set(id, value); }
  setPendingInterrupt(type: InterruptType, pending: boolean): void { this.pending[type] = pending; }
  getPendingInterrupt(type: InterruptType): boolean { return this.pending[type]; }
  getVtimerMask(): boolean { return this.vtimerMasked; }
  setVtimerMask(masked: boolean): void { this.vtimerMasked = masked; }
  getVtimerOffset(): bigint { return this.vtimerOffset; }
  setVtimerOffset(offset: bigint): void { this.vtimerOffset = offset; }
  setTrapDebugExceptions(): void {}
  getTrapDebugExceptions(): boolean { return false; }
  setTrapDebugRegAccesses(): void {}
  getTrapDebugRegAccesses(): boolean { return false; }
  getExecTime(): bigint { return 0n; }
  async destroy(): Promise<void> {}
}

export { SysReg };
