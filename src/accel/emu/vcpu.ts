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
import { activeProfiler, type VcpuProfile } from '../../vmm/profiler.ts';

export class EmuVcpuError extends Error {
  override readonly name = 'EmuVcpuError';
}

/** Instructions per batch between event-loop turns (about a few milliseconds of guest time). */
export const BATCH_INSTRUCTIONS = 200_000;
/** What an exit counts against the slice: a guest looping on exits (WFI with a masked IRQ) still yields. */
export const EXIT_SLICE_COST = 64;

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export class EmuVcpu implements Vcpu {
  private exitRequested = false;
  private running = false;
  destroyed = false;

  private readonly profile: VcpuProfile | undefined;
  /**
   * Instructions left in this vCPU's turn of the JS thread. It spans run() calls: a busy vCPU
   * exits every few thousand instructions (timer ticks, GIC traps, MMIO), and if only a
   * finished batch yielded, it would keep the thread through its exits and starve the other
   * vCPUs and the event loop (lost ticks, soft lockups, late IPIs).
   */
  private slice = BATCH_INSTRUCTIONS;

  constructor(readonly id: number, readonly cpu: Cpu) {
    this.profile = activeProfiler()?.forVcpu(id);
    if (this.profile) {
      cpu.profile = this.profile;
      this.profile.vbar = () => cpu.sysregs.get(SysReg.VBAR_EL1) ?? 0n;
      this.profile.instructions = () => cpu.instructionsRetired;
    }
  }

  get instructionsRetired(): number {
    return this.cpu.instructionsRetired;
  }

  async run(): Promise<VcpuExit> {
    if (this.running) throw new EmuVcpuError(`vCPU ${this.id} is already running`);
    if (this.destroyed) throw new EmuVcpuError(`vCPU ${this.id} was destroyed`);
    this.running = true;
    const c = this.cpu;
    // A vCPU switch clears this vCPU's reservation (architecturally allowed; keeps LL/SC honest).
    c.clearReservation();
    const t0 = process.hrtime.bigint();
    try {
      for (;;) {
        if (this.exitRequested) {
          this.exitRequested = false;
          return { reason: ExitReason.Canceled, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n };
        }
        if (c.timerShouldExit()) return { reason: ExitReason.VtimerActivated, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n };
        const prof = this.profile;
        if (this.slice <= 0) {
          // This vCPU's turn is used up: let the others and the event loop run first.
          const w0 = prof ? process.hrtime.bigint() : 0n;
          await yieldToEventLoop();
          if (prof) prof.eventLoopNs += Number(process.hrtime.bigint() - w0);
          this.slice = BATCH_INSTRUCTIONS;
          continue;
        }
        const b0 = prof ? process.hrtime.bigint() : 0n;
        const n0 = c.instructionsRetired;
        const exit = c.runBatch(this.slice);
        const executed = c.instructionsRetired - n0;
        this.slice -= executed + EXIT_SLICE_COST;
        if (prof) {
          prof.interpNs += Number(process.hrtime.bigint() - b0);
          prof.batches++;
          if (!exit && this.slice > 0) prof.yieldBatches++;
          // The batch loop samples every 1024th instruction of a batch; the remainders add up
          // here, so a vCPU that exits every few instructions (a WFE loop) is seen too.
          prof.carry += executed & 1023;
          if (prof.carry >= 1024) {
            prof.carry -= 1024;
            prof.sample(c.s.pcLo, c.s.pcHi, c.el);
          }
        }
        if (exit) {
          return { reason: exit.reason as ExitReason, syndrome: BigInt(exit.syndrome >>> 0), virtualAddress: exit.va, physicalAddress: BigInt(exit.pa) };
        }
        // The slice ran out, or YIELD handed the thread over.
        const w0 = prof ? process.hrtime.bigint() : 0n;
        await yieldToEventLoop();
        if (prof) prof.eventLoopNs += Number(process.hrtime.bigint() - w0);
        this.slice = BATCH_INSTRUCTIONS;
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
