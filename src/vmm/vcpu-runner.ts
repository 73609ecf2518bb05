// One vCPU's run loop: prepare (complete a pending MMIO read, set the IRQ line, unmask the
// vtimer once handled) -> run until the next exit -> decode -> dispatch to a device, the
// GIC CPU interface, PSCI or the trapped-register emulation -> advance PC as the exception
// class requires. The same loop drives HVF and the software CPU.
//
//   Off --CPU_ON--> Running <--pause/resume--> Paused        any --stop--> Stopped
//   Running --CPU_OFF--> Off
import { InterruptType, Reg, type Vcpu } from '../accel/types.ts';
import { SysReg, sysRegFields, sysRegName } from '../accel/sysregs.ts';
import type { MmioBus } from '../bus/mmio-bus.ts';
import { decodeExit, mmioReadResult, type ExitEvent } from '../arch/arm64/exit-decoder.ts';
import { injectDataAbort, injectInstructionAbort, injectSyncException, injectUndefined } from '../arch/arm64/exception-injection.ts';
import { TrappedSysRegs } from '../arch/arm64/trapped-sysregs.ts';
import { VTIMER_INTID } from '../arch/arm64/layout.ts';
import { Wakeup } from './wakeup.ts';
import type { PsciAction } from '../arch/arm64/psci.ts';
import { SCTLR_EL1_MMU_OFF } from '../boot/vcpu-state.ts';
import { activeProfiler, type VcpuProfile } from './profiler.ts';

/** The GIC as the run loop needs it: the userspace GICv3 or an adapter over HVF's. */
export interface CpuInterruptController {
  /** Whether the vCPU's IRQ line must be asserted for its next run. */
  irqPending(cpu: number): boolean;
  /** Whether the FIQ line must be asserted (Group 0 interrupts); absent = never. */
  fiqPending?(cpu: number): boolean;
  setPpi(cpu: number, intid: number, asserted: boolean): void;
  /** Trapped ICC_* register access; undefined / false when `id` is not a GIC register. */
  readSysReg(cpu: number, id: number): bigint | undefined;
  writeSysReg(cpu: number, id: number, value: bigint): boolean;
}

/** What a PSCI/SMCCC call asks of the machine besides the X0 result (defined with the handler). */
export type { PsciAction } from '../arch/arm64/psci.ts';

export interface RunnerLogger {
  warn(message: string): void;
  debug(message: string): void;
}

/** The machine around a vCPU. */
export interface VcpuHost {
  readonly bus: MmioBus;
  readonly gic: CpuInterruptController;
  psciCall(cpu: number, args: readonly [bigint, bigint, bigint, bigint]): { x0: bigint; action: PsciAction };
  /** Start a powered-off vCPU (PSCI CPU_ON after validation). */
  powerOn(target: number, entry: bigint, context: bigint): void;
  /** The guest asked to power off or reset the whole machine. */
  shutdown(kind: 'poweroff' | 'reset'): void;
  /** The host counter that CNTVCT_EL0 derives from (ticks) and its frequency. */
  counterNow(): bigint;
  readonly counterHz: number;
  readonly log: RunnerLogger;
}

export type RunnerState = 'off' | 'running' | 'paused' | 'stopped';

const CNTV_CTL_ENABLE = 1n;
const CNTV_CTL_IMASK = 2n;
const CNTV_CTL_ISTATUS = 4n;
const PSTATE_EL1H_DAIF = 0x3c5n;
const BRK64_EC = 0x3c;
/** Consecutive undecodable exits at one PC before the VM is stopped rather than looping. */
const MAX_REPEATED_FAULTS = 1000;
const MAX_WFI_SLEEP_MS = 50;

export class VcpuRunner {
  state: RunnerState;
  exits = 0;
  private stopRequested = false;
  private pauseRequested = false;
  private poweredOn: boolean;
  private bootRequest: { entry: bigint; context: bigint } | undefined;
  private pendingRead: { register: number; value: bigint } | undefined;
  private vtimerAsserted = false;
  private irqLine = false;
  private inRun = false;
  private lastFaultPc = -1n;
  private repeatedFaults = 0;
  private vtimerOffset: bigint;
  private readonly wakeup = new Wakeup();
  private readonly trapped = new TrappedSysRegs();
  private loopDone: Promise<void> | undefined;
  private readonly profile: VcpuProfile | undefined;
  /** Set when the loop ends because of an internal error. */
  failure: Error | undefined;

  constructor(readonly index: number, readonly vcpu: Vcpu, private readonly host: VcpuHost, startOn: boolean) {
    this.poweredOn = startOn;
    this.state = startOn ? 'running' : 'off';
    this.vtimerOffset = vcpu.getVtimerOffset();
    this.profile = activeProfiler()?.forVcpu(index);
  }

  start(): Promise<void> {
    this.loopDone ??= this.loop().catch((e: unknown) => {
      this.failure = e instanceof Error ? e : new Error(String(e));
      this.state = 'stopped';
      throw this.failure;
    });
    return this.loopDone;
  }

  /** Ask the loop to end; resolves when it has. */
  async stop(): Promise<void> {
    this.stopRequested = true;
    this.kickNow();
    if (this.loopDone) await this.loopDone.catch(() => undefined);
    this.state = 'stopped';
  }

  pause(): void {
    this.pauseRequested = true;
    this.kickNow();
  }

  resume(): void {
    this.pauseRequested = false;
    this.wakeup.notify();
  }

  /** PSCI CPU_ON for this vCPU. */
  powerOn(entry: bigint, context: bigint): void {
    this.bootRequest = { entry, context };
    this.wakeup.notify();
  }

  get isOn(): boolean {
    return this.poweredOn || this.bootRequest !== undefined;
  }

  /** The GIC's view of this vCPU may have changed: wake it from WFI, or kick it out of run() to raise its IRQ line. */
  interruptStateChanged(): void {
    if (this.inRun) {
      if (this.host.gic.irqPending(this.index) !== this.irqLine) this.vcpu.requestExit();
    } else {
      this.wakeup.notify();
    }
  }

  private kickNow(): void {
    if (this.inRun) this.vcpu.requestExit();
    this.wakeup.notify();
  }

  private async loop(): Promise<void> {
    while (!this.stopRequested) {
      if (this.pauseRequested) {
        this.state = 'paused';
        await this.wakeup.wait();
        continue;
      }
      if (!this.poweredOn) {
        if (this.bootRequest) {
          this.applyBoot(this.bootRequest);
          this.bootRequest = undefined;
          this.poweredOn = true;
        } else {
          this.state = 'off';
          await this.wakeup.wait();
          continue;
        }
      }
      this.state = 'running';
      this.prepareRun();
      this.inRun = true;
      let exit;
      try {
        exit = await this.vcpu.run();
      } finally {
        this.inRun = false;
      }
      this.exits++;
      const ev = decodeExit(exit);
      if (this.profile) {
        // Only the synchronous part is handling: after an await, other vCPUs' batches run.
        const t0 = process.hrtime.bigint();
        const done = this.dispatch(ev);
        this.profile.exit(exitLabel(ev), Number(process.hrtime.bigint() - t0));
        await done;
      } else {
        await this.dispatch(ev);
      }
    }
    this.state = 'stopped';
  }

  private applyBoot(req: { entry: bigint; context: bigint }): void {
    this.vcpu.setReg(Reg.PC, req.entry);
    this.vcpu.setReg(Reg.X0, req.context);
    this.vcpu.setReg(Reg.CPSR, PSTATE_EL1H_DAIF);
    // PSCI: a CPU comes on with its MMU and caches off, whatever it ran with before CPU_OFF.
    this.vcpu.setSysReg(SysReg.SCTLR_EL1, SCTLR_EL1_MMU_OFF);
  }

  /** Just before each run: finish the previous exit and set the interrupt lines. */
  private prepareRun(): void {
    if (this.pendingRead) {
      if (this.pendingRead.register !== 31) this.vcpu.setReg(this.pendingRead.register as Reg, this.pendingRead.value);
      this.pendingRead = undefined;
    }
    this.syncVtimer();
    this.irqLine = this.host.gic.irqPending(this.index);
    this.vcpu.setPendingInterrupt(InterruptType.IRQ, this.irqLine);
    if (this.host.gic.fiqPending) this.vcpu.setPendingInterrupt(InterruptType.FIQ, this.host.gic.fiqPending(this.index));
  }

  /** Once the guest has serviced the timer (ISTATUS low, masked or disabled): lower PPI 27, unmask. */
  private syncVtimer(): void {
    if (this.vtimerAsserted && !this.vtimerStillFiring()) {
      this.vtimerAsserted = false;
      this.host.gic.setPpi(this.index, VTIMER_INTID, false);
      this.vcpu.setVtimerMask(false);
    }
  }

  private vtimerStillFiring(): boolean {
    const ctl = this.vcpu.getSysReg(SysReg.CNTV_CTL_EL0);
    return (ctl & CNTV_CTL_ENABLE) !== 0n && (ctl & CNTV_CTL_ISTATUS) !== 0n && (ctl & CNTV_CTL_IMASK) === 0n;
  }

  private advancePc(): void {
    this.vcpu.setReg(Reg.PC, this.vcpu.getReg(Reg.PC) + 4n);
  }

  private readX(register: number): bigint {
    return register === 31 ? 0n : this.vcpu.getReg(register as Reg);
  }

  private async dispatch(ev: ExitEvent): Promise<void> {
    switch (ev.kind) {
      case 'canceled':
        return;
      case 'vtimer':
        if (this.profile) this.profile.timerLate((this.host.counterNow() - this.vtimerOffset - this.vcpu.getSysReg(SysReg.CNTV_CVAL_EL0)) * 1000n / BigInt(this.host.counterHz));
        this.vtimerAsserted = true;
        this.host.gic.setPpi(this.index, VTIMER_INTID, true);
        return;
      case 'mmio-read': {
        let raw: number | bigint = 0;
        try {
          const r = this.host.bus.read(ev.address, ev.size, this.index);
          if (r.handled) raw = r.value;
          else this.host.log.warn(`vcpu${this.index}: read of unclaimed address 0x${ev.address.toString(16)} (${ev.size} bytes) reads as zero`);
        } catch (e) {
          this.host.log.warn(`vcpu${this.index}: device read at 0x${ev.address.toString(16)} failed: ${(e as Error).message}`);
        }
        this.pendingRead = { register: ev.register, value: mmioReadResult(ev, BigInt(raw)) };
        this.advancePc();
        return;
      }
      case 'mmio-write': {
        const value = BigInt.asUintN(ev.size * 8, this.readX(ev.register));
        try {
          const handled = this.host.bus.write(ev.address, ev.size, ev.size === 8 ? value : Number(value), this.index);
          if (!handled) this.host.log.warn(`vcpu${this.index}: write to unclaimed address 0x${ev.address.toString(16)} ignored`);
        } catch (e) {
          this.host.log.warn(`vcpu${this.index}: device write at 0x${ev.address.toString(16)} failed: ${(e as Error).message}`);
        }
        this.advancePc();
        return;
      }
      case 'data-abort':
        this.host.log.warn(`vcpu${this.index}: ${ev.write ? 'store to' : 'load from'} 0x${ev.address.toString(16)} without instruction syndrome: external abort to the guest`);
        this.countFault();
        injectDataAbort(this.vcpu, ev.virtualAddress, ev.write);
        return;
      case 'instruction-abort':
        this.host.log.warn(`vcpu${this.index}: instruction fetch from 0x${ev.address.toString(16)} outside RAM: external abort to the guest`);
        this.countFault();
        injectInstructionAbort(this.vcpu, ev.virtualAddress);
        return;
      case 'sysreg':
        this.handleSysReg(ev);
        return;
      case 'hvc':
      case 'smc': {
        const args = [this.vcpu.getReg(Reg.X0), this.vcpu.getReg(Reg.X1), this.vcpu.getReg(Reg.X2), this.vcpu.getReg(Reg.X3)] as const;
        const { x0, action } = this.host.psciCall(this.index, args);
        this.vcpu.setReg(Reg.X0, BigInt.asUintN(64, x0));
        // HVC is reported after the instruction, SMC at it.
        if (ev.kind === 'smc') this.advancePc();
        await this.applyPsciAction(action);
        return;
      }
      case 'wfi':
        this.advancePc();
        await this.idle();
        return;
      case 'wfe':
        // WFE usually waits for a lock another vCPU holds: let it run.
        this.advancePc();
        if (this.profile) {
          const t0 = process.hrtime.bigint();
          await new Promise<void>((r) => setImmediate(r));
          this.profile.wfeWaitNs += Number(process.hrtime.bigint() - t0);
          return;
        }
        await new Promise<void>((r) => setImmediate(r));
        return;
      case 'brk':
        // BRK is only trapped for a debugger; without one it belongs to the guest (same ESR format at EL1).
        this.host.log.debug(`vcpu${this.index}: BRK #${ev.imm} reflected to the guest`);
        injectSyncException(this.vcpu, (BRK64_EC << 26) | (1 << 25) | ev.imm);
        return;
      case 'breakpoint':
      case 'software-step':
      case 'watchpoint':
        // Only reported while a debugger traps debug exceptions; nodevisor has none yet.
        this.host.log.warn(`vcpu${this.index}: debug exit ${ev.kind} without a debugger: UNDEFINED to the guest`);
        this.countFault();
        injectUndefined(this.vcpu);
        return;
      case 'undecodable':
        this.host.log.warn(`vcpu${this.index}: unexpected exit (reason ${ev.reason}, EC 0x${ev.ec.toString(16)}, ESR 0x${ev.syndrome.toString(16)}): UNDEFINED to the guest`);
        this.countFault();
        injectUndefined(this.vcpu);
        return;
    }
  }

  /** Stop a guest that faults at the same PC forever instead of spinning the host. */
  private countFault(): void {
    const pc = this.vcpu.getReg(Reg.PC);
    this.repeatedFaults = pc === this.lastFaultPc ? this.repeatedFaults + 1 : 0;
    this.lastFaultPc = pc;
    if (this.repeatedFaults >= MAX_REPEATED_FAULTS) {
      throw new Error(`vcpu${this.index}: ${MAX_REPEATED_FAULTS} consecutive faults at PC 0x${pc.toString(16)}`);
    }
  }

  private handleSysReg(ev: Extract<ExitEvent, { kind: 'sysreg' }>): void {
    const fields = sysRegFields(ev.id);
    if (ev.read) {
      const value = this.host.gic.readSysReg(this.index, ev.id) ?? this.trapped.read(ev.id, fields);
      if (value === undefined) {
        this.host.log.warn(`vcpu${this.index}: MRS ${sysRegName(ev.id)} is not emulated: UNDEFINED to the guest`);
        injectUndefined(this.vcpu);
        return;
      }
      if (ev.register !== 31) this.vcpu.setReg(ev.register as Reg, value);
    } else {
      const value = this.readX(ev.register);
      if (!this.host.gic.writeSysReg(this.index, ev.id, value) && !this.trapped.write(ev.id, fields, value)) {
        this.host.log.warn(`vcpu${this.index}: MSR ${sysRegName(ev.id)} is not emulated: UNDEFINED to the guest`);
        injectUndefined(this.vcpu);
        return;
      }
    }
    this.advancePc();
  }

  private async applyPsciAction(action: PsciAction): Promise<void> {
    switch (action.kind) {
      case 'none':
        return;
      case 'cpu-on':
        this.host.powerOn(action.target, action.entry, action.context);
        return;
      case 'cpu-off':
        this.poweredOn = false;
        this.vtimerAsserted = false;
        this.host.gic.setPpi(this.index, VTIMER_INTID, false);
        return;
      case 'suspend':
        await this.idle();
        return;
      case 'system-off':
        this.host.shutdown('poweroff');
        return;
      case 'system-reset':
        this.host.shutdown('reset');
        return;
    }
  }

  /** WFI: sleep until an interrupt is pending, the vtimer deadline passes, or a control request. */
  private async idle(): Promise<void> {
    // The guest often handles its timer interrupt and goes straight back to WFI: unmask first,
    // or the next deadline would never wake this vCPU.
    this.syncVtimer();
    if (this.stopRequested || this.pauseRequested || this.host.gic.irqPending(this.index)) return;
    let timeoutMs: number | undefined;
    if (!this.vtimerAsserted) {
      const ctl = this.vcpu.getSysReg(SysReg.CNTV_CTL_EL0);
      if ((ctl & CNTV_CTL_ENABLE) !== 0n && (ctl & CNTV_CTL_IMASK) === 0n) {
        const cval = this.vcpu.getSysReg(SysReg.CNTV_CVAL_EL0);
        const now = this.host.counterNow() - this.vtimerOffset;
        if (cval <= now) return;
        timeoutMs = Number(cval - now) * 1000 / this.host.counterHz;
      }
    }
    // WFI may complete spuriously (Arm ARM); waking at least every MAX_WFI_SLEEP_MS bounds the
    // damage of any wake-up the VMM missed, at a negligible cost for an idle guest.
    const wait = this.wakeup.wait(Math.min(timeoutMs ?? MAX_WFI_SLEEP_MS, MAX_WFI_SLEEP_MS));
    if (!this.profile) return wait;
    const t0 = process.hrtime.bigint();
    await wait;
    this.profile.wfiSleepNs += Number(process.hrtime.bigint() - t0);
  }

  /** Set CNTVCT's offset (pause keeps the guest's clock continuous). */
  setVtimerOffset(offset: bigint): void {
    this.vtimerOffset = offset;
    this.vcpu.setVtimerOffset(offset);
  }

  get currentVtimerOffset(): bigint {
    return this.vtimerOffset;
  }
}

/** The profiler's name for an exit: its kind, with the device page or register name. */
function exitLabel(ev: ExitEvent): string {
  switch (ev.kind) {
    case 'mmio-read':
    case 'mmio-write':
      return `${ev.kind} 0x${(ev.address - (ev.address % 4096)).toString(16)}`;
    case 'sysreg':
      return `${ev.read ? 'mrs' : 'msr'} ${sysRegName(ev.id)}`;
    default:
      return ev.kind;
  }
}
