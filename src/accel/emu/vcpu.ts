// The software vCPU behind the Vcpu interface, with Hypervisor.framework's semantics: run()
// returns at the next exit, interrupt lines are cleared when it returns, the vtimer masks
// itself on a VTIMER_ACTIVATED exit, requestExit() makes the current or next run() return
// CANCELED. Batches of instructions alternate with turns of the event loop, so Node stays
// responsive and the vCPUs of one VM take turns.
import { ExitReason, InterruptType, Reg, type Vcpu, type VcpuExit } from '../types.ts';
import { HVF_SYS_REGS, SysReg } from '../sysregs.ts';
import { SLOT_SP } from './state.ts';
import { Cpu } from './cpu.ts';
import { readSysReg, writeSysReg } from './system.ts';

export class EmuVcpuError extends Error {
  override readonly name = 'EmuVcpuError';
}

/** Instructions per batch between event-loop turns (about a few milliseconds of guest time). */
export const BATCH_INSTRUCTIONS = 200_000;

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export class EmuVcpu implements Vcpu {
  private exitRequested = false;
  private running = false;
  destroyed = false;

  constructor(readonly id: number, readonly cpu: Cpu) {}

  get instructionsRetired(): number {
    return this.cpu.instructionsRetired;
  }

  async run(): Promise<VcpuExit> {
    if (this.running) throw new EmuVcpuError(`vCPU ${this.id} is already running`);
    if (this.destroyed) throw new EmuVcpuError(`vCPU ${this.id} was destroyed`);
    this.running = true;
    const c = this.cpu;
    // A vCPU switch clears this vCPU's reservation (architecturally allowed; keeps LL/SC honest).
    c.exclusiveAddr = -1;
    const t0 = process.hrtime.bigint();
    try {
      for (;;) {
        if (this.exitRequested) {
          this.exitRequested = false;
          return { reason: ExitReason.Canceled, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n };
        }
        if (c.timerShouldExit()) return { reason: ExitReason.VtimerActivated, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n };
        const exit = c.runBatch(BATCH_INSTRUCTIONS);
        if (exit) {
          return { reason: exit.reason as ExitReason, syndrome: BigInt(exit.syndrome >>> 0), virtualAddress: exit.va, physicalAddress: BigInt(exit.pa) };
        }
        await yieldToEventLoop();
      }
    } finally {
      c.irqLine = false;
      c.fiqLine = false;
      c.execTimeNs += process.hrtime.bigint() - t0;
      this.running = false;
    }
  }

  requestExit(): void {
    this.exitRequested = true;
  }

  getReg(reg: Reg): bigint {
    const s = this.cpu.s;
    if (reg >= Reg.X0 && reg <= Reg.X30) return s.getXBig(reg);
    switch (reg) {
      case Reg.PC: return s.pcBig;
      case Reg.FPCR: return BigInt(s.fpcr >>> 0);
      case Reg.FPSR: return BigInt(s.fpsr >>> 0);
      case Reg.CPSR: return BigInt(this.cpu.pstate);
    }
    throw new EmuVcpuError(`no register ${reg}`);
  }

  setReg(reg: Reg, value: bigint): void {
    const s = this.cpu.s;
    value = BigInt.asUintN(64, value);
    if (reg >= Reg.X0 && reg <= Reg.X30) return s.setXBig(reg, value);
    switch (reg) {
      case Reg.PC: s.pcBig = value; return;
      case Reg.FPCR: s.fpcr = Number(value & 0xffffffffn) | 0; return;
      case Reg.FPSR: s.fpsr = Number(value & 0xffffffffn) | 0; return;
      case Reg.CPSR: this.cpu.setPstate(Number(value & 0xffffffffn)); return;
    }
    throw new EmuVcpuError(`no register ${reg}`);
  }

  getSimdFpReg(index: number): Uint8Array {
    this.checkQ(index);
    return this.cpu.s.vbytes.slice(index * 16, index * 16 + 16);
  }

  setSimdFpReg(index: number, value: Uint8Array): void {
    this.checkQ(index);
    if (value.length !== 16) throw new EmuVcpuError('a SIMD&FP register value is 16 bytes');
    this.cpu.s.vbytes.set(value, index * 16);
  }

  private checkQ(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index > 31) throw new EmuVcpuError(`no SIMD&FP register Q${index}`);
  }

  getSysReg(id: number): bigint {
    if (!HVF_SYS_REGS.has(id)) throw new EmuVcpuError(`system register 0x${id.toString(16)} is not accessible (HV_BAD_ARGUMENT)`);
    if (id === SysReg.CNTV_CTL_EL0) return (readSysReg(this.cpu, id) ?? 0n);
    return readSysReg(this.cpu, id) ?? this.cpu.sysregs.get(id) ?? 0n;
  }

  setSysReg(id: number, value: bigint): void {
    if (!HVF_SYS_REGS.has(id)) throw new EmuVcpuError(`system register 0x${id.toString(16)} is not accessible (HV_BAD_ARGUMENT)`);
    value = BigInt.asUintN(64, value);
    if (!writeSysReg(this.cpu, id, value)) this.cpu.sysregs.set(id, value);
  }

  setPendingInterrupt(type: InterruptType, pending: boolean): void {
    if (type === InterruptType.IRQ) this.cpu.irqLine = pending;
    else this.cpu.fiqLine = pending;
  }

  getPendingInterrupt(type: InterruptType): boolean {
    return type === InterruptType.IRQ ? this.cpu.irqLine : this.cpu.fiqLine;
  }

  getVtimerMask(): boolean { return this.cpu.vtimerMasked; }
  setVtimerMask(masked: boolean): void { this.cpu.vtimerMasked = masked; }
  getVtimerOffset(): bigint { return this.cpu.vtimerOffset; }
  setVtimerOffset(offset: bigint): void { this.cpu.vtimerOffset = BigInt.asUintN(64, offset); }
  setTrapDebugExceptions(enabled: boolean): void { this.cpu.trapDebugExceptions = enabled; }
  getTrapDebugExceptions(): boolean { return this.cpu.trapDebugExceptions; }
  setTrapDebugRegAccesses(enabled: boolean): void { this.cpu.trapDebugRegAccesses = enabled; }
  getTrapDebugRegAccesses(): boolean { return this.cpu.trapDebugRegAccesses; }
  getExecTime(): bigint { return this.cpu.execTimeNs; }

  async destroy(): Promise<void> {
    this.destroyed = true;
  }

  /** For tests and debugging: the current stack pointer. */
  get sp(): bigint {
    return this.cpu.s.getXBig(SLOT_SP);
  }
}
