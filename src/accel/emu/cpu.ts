// One software vCPU: architectural state beyond the register file (PSTATE, banked stack
// pointers, system registers, the generic timer), the batch loop, and the unwinding
// signals. Instruction semantics live in interpreter.ts, translation in mmu.ts, system
// registers and exceptions in system.ts.
import { CpuState, SLOT_SP, type StateArea } from './state.ts';
import type { PhysicalMemory } from './physical-memory.ts';
import { Mmu } from './mmu.ts';
import { SysRegStore } from './sysreg-store.ts';
import { step } from './interpreter.ts';
import { takeIrq, takeFiq } from './system.ts';
import type { VcpuProfile } from '../../vmm/profiler.ts';

/** Thrown to abandon the current instruction: an exception was taken in the guest (state already updated). */
export const GUEST_EXCEPTION = { kind: 'guest-exception' } as const;
/** Thrown to leave run(): `cpu.exit` holds the HVF-style exit record. */
export const VM_EXIT = { kind: 'vm-exit' } as const;

export interface PendingExit {
  reason: number;
  syndrome: number;
  va: bigint;
  pa: number;
}

export class Cpu {
  readonly s: CpuState;
  readonly mmu: Mmu;
  /** Exception level (0 or 1) and SPSel. */
  el = 1;
  spsel = 1;
  /** PSTATE.DAIF as bits D=8 A=4 I=2 F=1. */
  daif = 0xf;
  ss = 0;
  il = 0;
  spEl0Lo = 0;
  spEl0Hi = 0;
  spEl1Lo = 0;
  spEl1Hi = 0;
  /** System registers the CPU keeps (everything HVF exposes, plus timer and misc). */
  readonly sysregs: SysRegStore;
  /** Cached SCTLR_EL1 and VBAR_EL1 low bits used on hot paths. */
  sctlr = 0n;
  /** CPACR_EL1.FPEN, cached as a number: every FP/SIMD instruction checks it. */
  fpen = 0;
  /** PC of the instruction being executed (for exceptions and exits). */
  curPcLo = 0;
  curPcHi = 0;
  /** The word of the instruction being executed (the translator's batch loop reads it after a step). */
  curInsn = 0;
  /** Set by an instruction that wants the PC to be next = cur + 4 unless it branched. */
  branched = false;
  /** ISS bits for a data abort exit of the current access (ISV set), or 0 when no syndrome. */
  accessIss = 0;
  exit: PendingExit | undefined;
  /** Lines driven by the VMM; cleared when run() returns. */
  irqLine = false;
  fiqLine = false;
  /** HVF's vtimer mask: no vtimer exits while set. */
  vtimerMasked = false;
  vtimerOffset = 0n;
  trapDebugExceptions = false;
  trapDebugRegAccesses = false;
  /** The reservation lives in the state area (OFF_MONITOR), where translated code reaches it too. */
  private get reserved(): number {
    const w = this.s.monitor;
    return w[1] === -1 ? -1 : w[1] * 4294967296 + (w[0] >>> 0);
  }
  private set reserved(pa: number) {
    const w = this.s.monitor;
    if (pa < 0) { w[0] = -1; w[1] = -1; } else { w[0] = pa | 0; /* ToInt32: pa mod 2^32, cheaper than % */ w[1] = Math.floor(pa / 4294967296); }
  }
  get exclusiveSize(): number { return this.s.monitor[2]; }
  set exclusiveSize(n: number) { this.s.monitor[2] = n; }
  /** The WFE event register: set by SEV/SEVL, by a peer's store clearing this vCPU's reservation, and by interrupts. */
  eventRegister = false;
  instructionsRetired = 0;
  private peerList: Cpu[] = [];
  execTimeNs = 0n;
  /** The translation tier (translator/tier.ts) when it is on: it runs the batches instead. */
  tier: { runBatch(budget: number): PendingExit | undefined } | undefined;
  /** PC sampling for the profiler (src/vmm/profiler.ts); undefined when profiling is off. */
  profile: VcpuProfile | undefined;

  /** `area`: where the state lives when not in a memory of its own (arena.ts); translated code then reaches RAM inline. */
  constructor(readonly memory: PhysicalMemory, readonly index: number, area?: StateArea) {
    this.s = new CpuState(area);
    this.sysregs = new SysRegStore(this.s.sysregMirror);
    this.mmu = new Mmu(this, area !== undefined);
    this.s.mem = this.mmu;
  }

  /** Exclusive monitor: physical address of the reserved granule, or -1. */
  get exclusiveAddr(): number {
    return this.reserved;
  }

  /** Every change goes here: the peers' OFF_PEER_MONITORS words count armed reservations (inline stores need none). */
  set exclusiveAddr(pa: number) {
    const was = this.reserved >= 0, now = pa >= 0;
    this.reserved = pa;
    if (was === now) return;
    const peers = this.peerList;
    for (let i = 0; i < peers.length; i++) if (peers[i] !== this) peers[i].s.peerMonitors[0] += now ? 1 : -1;
  }

  /** Every vCPU of the VM (this one included): a store clears the others' reservations. */
  get peers(): Cpu[] {
    return this.peerList;
  }

  set peers(list: Cpu[]) {
    this.peerList = list;
    let armed = 0;
    for (const p of list) if (p !== this && p.reserved >= 0) armed++;
    this.s.peerMonitors[0] = armed;
    this.s.monitor[3] = list.filter((p) => p !== this).length;
  }

  /** The global monitor: a store of `len` bytes at `pa` that overlaps another vCPU's reservation clears it. */
  clearOtherMonitors(pa: number, len: number): void {
    const peers = this.peers;
    if (peers.length < 2) return;
    for (let i = 0; i < peers.length; i++) {
      const p = peers[i];
      if (p !== this && p.exclusiveAddr >= 0 && pa < p.exclusiveAddr + p.exclusiveSize && pa + len > p.exclusiveAddr) {
        // Clearing a PE's global monitor is a WFE wake-up event (the lock word it waits on changed).
        p.exclusiveAddr = -1;
        p.eventRegister = true;
      }
    }
  }

  /** SEV: set every vCPU's event register. */
  sendEvent(): void {
    const peers = this.peers;
    for (let i = 0; i < peers.length; i++) peers[i].eventRegister = true;
    this.eventRegister = true;
  }

  /** Drop this vCPU's reservation (vCPU switch); a waiter in WFE must then re-check, so it is an event. */
  clearReservation(): void {
    if (this.exclusiveAddr >= 0) {
      this.exclusiveAddr = -1;
      this.eventRegister = true;
    }
  }

  /** A TLBI on this vCPU's TLB (local forms) or broadcast to the inner shareable domain: every vCPU's. */
  flushTlbs(local: boolean, flush: (mmu: Mmu) => void): void {
    const peers = this.peers;
    if (local || peers.length === 0) { flush(this.mmu); return; }
    for (let i = 0; i < peers.length; i++) flush(peers[i].mmu);
  }

  /** Current value of the virtual counter (24 MHz host ticks minus the offset). */
  counter(): bigint {
    return (process.hrtime.bigint() * 3n) / 125n - this.vtimerOffset;
  }

  /** Swap the SP in slot 32 when EL or SPSel changes. */
  saveSp(): void {
    const lo = this.s.x[SLOT_SP * 2];
    const hi = this.s.x[SLOT_SP * 2 + 1];
    if (this.el === 0 || this.spsel === 0) {
      this.spEl0Lo = lo;
      this.spEl0Hi = hi;
    } else {
      this.spEl1Lo = lo;
      this.spEl1Hi = hi;
    }
  }

  loadSp(): void {
    const useEl0 = this.el === 0 || this.spsel === 0;
    this.s.x[SLOT_SP * 2] = useEl0 ? this.spEl0Lo : this.spEl1Lo;
    this.s.x[SLOT_SP * 2 + 1] = useEl0 ? this.spEl0Hi : this.spEl1Hi;
  }

  /** PSTATE in SPSR/CPSR layout. */
  get pstate(): number {
    const s = this.s;
    return ((s.n << 31) | (s.z << 30) | (s.c << 29) | (s.v << 28) | (this.ss << 21) | (this.il << 20) |
      (this.daif << 6) | (this.el << 2) | (this.el === 0 ? 0 : this.spsel)) >>> 0;
  }

  setPstate(v: number): void {
    this.saveSp();
    const s = this.s;
    s.n = (v >>> 31) & 1;
    s.z = (v >>> 30) & 1;
    s.c = (v >>> 29) & 1;
    s.v = (v >>> 28) & 1;
    this.ss = (v >>> 21) & 1;
    this.il = (v >>> 20) & 1;
    this.daif = (v >>> 6) & 0xf;
    const el = (v >>> 2) & 3;
    this.el = el >= 1 ? 1 : 0;
    this.spsel = el === 0 ? 0 : v & 1;
    this.loadSp();
    this.mmu.privilegeChanged();
  }

  /**
   * Execute up to `budget` instructions. Returns the exit record when the guest needs the
   * VMM, or undefined when the budget ran out.
   */
  runBatch(budget: number): PendingExit | undefined {
    if (this.tier !== undefined) return this.tier.runBatch(budget);
    this.exit = undefined;
    let n = 0;
    try {
      while (n < budget) {
        if (this.irqLine && (this.daif & 2) === 0) {
          takeIrq(this);
          this.eventRegister = true;
        } else if (this.fiqLine && (this.daif & 1) === 0) {
          takeFiq(this);
          this.eventRegister = true;
        }
        n++;
        try {
          step(this);
        } catch (e) {
          if (e !== GUEST_EXCEPTION) throw e;
        }
        // Every 1024 instructions (the profiler's SAMPLE_INTERVAL), let the timer in.
        if ((n & 1023) === 0) {
          if (this.profile !== undefined) this.profile.sample(this.s.pcLo, this.s.pcHi, this.el);
          if (this.timerShouldExit()) {
            this.exit = { reason: 2, syndrome: 0, va: 0n, pa: 0 };
            break;
          }
        }
      }
    } catch (e) {
      if (e !== VM_EXIT) throw e;
    } finally {
      this.instructionsRetired += n;
    }
    return this.exit;
  }

  /** The vtimer condition met and not masked by the VMM: exit with VTIMER_ACTIVATED. */
  timerShouldExit(): boolean {
    if (this.vtimerMasked) return false;
    const ctl = this.sysregs.get(CNTV_CTL) ?? 0n;
    if ((ctl & 3n) !== 1n) return false;
    if ((this.sysregs.get(CNTV_CVAL) ?? 0n) > this.counter()) return false;
    this.vtimerMasked = true;
    return true;
  }
}

export const CNTV_CTL = 0xdf19;
export const CNTV_CVAL = 0xdf1a;
