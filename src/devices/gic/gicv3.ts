// A userspace GICv3: distributor, one redistributor per vCPU and the system-register CPU
// interface, for accelerators without an in-kernel GIC (the software CPU; HVF before
// macOS 15). Model: affinity routing only (ARE = 1), a single security state (DS = 1),
// no LPIs/ITS, 5 priority bits, SPIs routed to one PE (GICD_TYPER.No1N = 1).
//
// How the VMM drives it:
//
//   const gic = new GicV3({ vcpuCount, logger });
//   bus.insert(gic.distributor, GIC_DIST_BASE, GIC_DIST_SIZE);
//   bus.insert(gic.redistributors, GIC_REDIST_BASE, gic.redistributors.size);
//   gic.onPendingChange = (cpu) => vcpus[cpu].requestExit();   // kick: re-evaluate the line
//   // sysreg trap (EC 0x18) on vCPU `cpu`, id = sysRegId(op0, op1, crn, crm, op2):
//   const v = gic.cpuInterface(cpu).readSysReg(id);            // undefined: not a GIC register
//   const ok = gic.cpuInterface(cpu).writeSysReg(id, value);   // false: not a GIC register
//   // before each run:
//   vcpu.setPendingInterrupt(InterruptType.IRQ, gic.irqPending(cpu));
//   vcpu.setPendingInterrupt(InterruptType.FIQ, gic.fiqPending(cpu)); // group 0 (Linux: never)
//   gic.setPpi(cpu, VTIMER_INTID, level);                      // vtimer exit / re-sync
//   gic.onDeactivate = (cpu, intid) => { ... };                 // optional: resample levels
//   devices get spiLine(gic, intid) (src/devices/interrupt.ts)
//
// With HVF's in-kernel GIC (macOS 15+) none of this object exists: the VMM wires devices to
// InKernelGicSink (./in-kernel.ts), which implements the same SpiSink, and neither maps the
// GIC frames on the bus nor handles ICC traps (the hardware does both).
//
// Interrupt state is one slot per (INTID, owner): SGIs and PPIs are banked per vCPU, SPIs
// are global. "Pending" is the latch (edge seen, ISPENDR, SGI) OR, for level-sensitive
// interrupts, the input line: a level interrupt stays pending while its line is high.
import { mpidrOf, MAX_VCPUS, SPI_BASE, SPI_COUNT, PPI_BASE } from '../../arch/arm64/layout.ts';
import type { SpiSink } from '../interrupt.ts';
import {
  BPR0_MIN, BPR1_MIN, GICD_CTLR_ENABLE_GRP0, GICD_CTLR_ENABLE_GRP1, ICC_CTLR_CBPR, ICC_CTLR_EOIMODE,
  INTID_SPECIAL_FIRST, INTID_SPURIOUS, PRIORITY_BITS, PRIORITY_MASK,
} from './registers.ts';
import { GicDistributor } from './distributor.ts';
import { GicRedistributors } from './redistributor.ts';
import { GicCpuInterface } from './cpu-interface.ts';

export interface GicLogger {
  warn(msg: string): void;
  debug?(msg: string): void;
}

/** Host-side misuse (bad configuration or INTID from VMM code); guest input never throws. */
export class GicError extends Error {
  override readonly name = 'GicError';
}

export interface GicOptions {
  vcpuCount: number;
  /** SPIs implemented (a multiple of 32, at most 988); default layout.SPI_COUNT. */
  spiCount?: number;
  logger?: GicLogger;
}

/** Group of an interrupt: 0 signals FIQ, 1 signals IRQ (DS = 1, no EL3). */
export type IrqGroup = 0 | 1;

const NO_TARGET = -1;
const PRIO_SHIFT = 8 - PRIORITY_BITS;
const IDLE_PRIORITY = 0xff;

/** Per-vCPU CPU-interface and redistributor state. */
export class GicCpuState {
  pmr = 0;
  bpr0 = BPR0_MIN;
  bpr1 = BPR1_MIN;
  ctlr = 0;
  igrpen = [false, false];
  /** Active-priority bitmaps (ICC_AP0R0/AP1R0): bit n = group priority n << PRIO_SHIFT. */
  ap = [0, 0];
  /** GICR_WAKER.ProcessorSleep: no interrupt is forwarded while set. */
  sleeping = true;
  // Cached highest-priority pending interrupt (recomputed on every state change).
  hppi = INTID_SPURIOUS;
  hppiPriority = IDLE_PRIORITY;
  hppiGroup: IrqGroup = 1;
  // What the VMM was last told, to report only changes.
  irqSignaled = false;
  fiqSignaled = false;
}

export class GicV3 implements SpiSink {
  readonly vcpuCount: number;
  readonly spiCount: number;
  /** Highest INTID + 1 (SGIs, PPIs and SPIs). */
  readonly intidLimit: number;
  readonly distributor: GicDistributor;
  readonly redistributors: GicRedistributors;
  /**
   * Called whenever irqPending(cpu) or fiqPending(cpu) changes, either way. Kick that vCPU
   * if it is running or waiting in WFI; for the vCPU whose exit is being handled no kick is
   * needed, as the VMM re-evaluates the lines before its next run anyway.
   */
  onPendingChange?: (cpu: number) => void;
  /**
   * Called when the guest deactivates `intid` (EOI in EOImode 0, or DIR), before the GIC
   * re-evaluates: a level source whose state the VMM only samples (the vtimer) can be
   * resampled here with setPpi, so the interrupt does not fire again on a stale level.
   */
  onDeactivate?: (cpu: number, intid: number) => void;
  readonly log: GicLogger;

  /** GICD_CTLR.EnableGrp0/1. */
  distCtlr = 0;

  // Slot arrays: [cpu * 32 + intid] for SGIs/PPIs, then [vcpuCount * 32 + (intid - 32)] for SPIs.
  private readonly enabled: Uint8Array;
  private readonly latched: Uint8Array;
  private readonly line: Uint8Array;
  private readonly active: Uint8Array;
  private readonly group: Uint8Array;
  private readonly edge: Uint8Array;
  private readonly priority: Uint8Array;
  /** GICD_IROUTER<n> per SPI, and the vCPU it resolves to (NO_TARGET if none). */
  private readonly route: bigint[];
  private readonly target: Int16Array;
  private readonly cpus: GicCpuState[];
  private readonly interfaces: GicCpuInterface[];

  constructor(options: GicOptions) {
    const { vcpuCount, spiCount = SPI_COUNT } = options;
    if (!Number.isInteger(vcpuCount) || vcpuCount < 1 || vcpuCount > MAX_VCPUS) {
      throw new GicError(`vCPU count ${vcpuCount} outside 1..${MAX_VCPUS}`);
    }
    if (!Number.isInteger(spiCount) || spiCount < 0 || spiCount % 32 !== 0 || spiCount > 988) {
      throw new GicError(`SPI count ${spiCount} must be a multiple of 32 up to 988`);
    }
    this.vcpuCount = vcpuCount;
    this.spiCount = spiCount;
    this.intidLimit = SPI_BASE + spiCount;
    this.log = options.logger ?? { warn: () => {} };
    const slots = vcpuCount * 32 + spiCount;
    this.enabled = new Uint8Array(slots);
    this.latched = new Uint8Array(slots);
    this.line = new Uint8Array(slots);
    this.active = new Uint8Array(slots);
    this.group = new Uint8Array(slots);
    this.edge = new Uint8Array(slots);
    this.priority = new Uint8Array(slots);
    this.route = new Array<bigint>(spiCount).fill(0n);
    this.target = new Int16Array(spiCount);
    this.cpus = Array.from({ length: vcpuCount }, () => new GicCpuState());
    this.interfaces = Array.from({ length: vcpuCount }, (_, cpu) => new GicCpuInterface(this, cpu));
    this.distributor = new GicDistributor(this);
    this.redistributors = new GicRedistributors(this);
    this.reset();
  }

  /** Architectural reset of every register (SYSTEM_RESET). Input line levels are kept. */
  reset(): void {
    this.distCtlr = 0;
    this.enabled.fill(0);
    this.latched.fill(0);
    this.active.fill(0);
    this.group.fill(0);
    this.priority.fill(0);
    this.edge.fill(0);
    for (let cpu = 0; cpu < this.vcpuCount; cpu++) {
      for (let intid = 0; intid < PPI_BASE; intid++) this.edge[cpu * 32 + intid] = 1; // SGIs are edge
      Object.assign(this.cpus[cpu], new GicCpuState());
    }
    this.route.fill(0n);
    this.target.fill(0); // IROUTER = 0 routes to vCPU 0 (affinity 0.0.0.0)
    for (let cpu = 0; cpu < this.vcpuCount; cpu++) this.update(cpu);
  }

  cpuInterface(cpu: number): GicCpuInterface {
    const i = this.interfaces[cpu];
    if (!i) throw new GicError(`no vCPU ${cpu}`);
    return i;
  }

  /** Whether vCPU `cpu`'s IRQ line must be asserted for its next run. */
  irqPending(cpu: number): boolean {
    return this.cpuState(cpu).irqSignaled;
  }

  /** Whether vCPU `cpu`'s FIQ line must be asserted (a Group 0 interrupt is signalable). */
  fiqPending(cpu: number): boolean {
    return this.cpuState(cpu).fiqSignaled;
  }

  /** Drive PPI `intid` (16..31) of vCPU `cpu`, e.g. the virtual timer (VTIMER_INTID). */
  setPpi(cpu: number, intid: number, level: boolean): void {
    this.cpuState(cpu);
    if (!Number.isInteger(intid) || intid < PPI_BASE || intid >= SPI_BASE) throw new GicError(`INTID ${intid} is not a PPI`);
    this.setLine(cpu * 32 + intid, level, cpu);
  }

  /** SpiSink: drive SPI `intid` (absolute INTID, 32 and up). */
  setSpi(intid: number, level: boolean): void {
    if (!Number.isInteger(intid) || intid < SPI_BASE || intid >= this.intidLimit) {
      throw new GicError(`INTID ${intid} is not an implemented SPI (${SPI_BASE}..${this.intidLimit - 1})`);
    }
    const s = this.spiSlot(intid);
    this.setLine(s, level, this.target[intid - SPI_BASE]);
  }

  private setLine(s: number, level: boolean, owner: number): void {
    const was = this.line[s];
    this.line[s] = level ? 1 : 0;
    if (level && !was && this.edge[s]) this.latched[s] = 1;
    if (was !== this.line[s] && owner !== NO_TARGET) this.update(owner);
  }

  // ---- state access for the register frames (intid already range-checked by the caller) ----

  /** Slot of `intid` as seen from vCPU `cpu`; -1 if the INTID is not implemented. */
  slot(cpu: number, intid: number): number {
    if (intid < SPI_BASE) return cpu * 32 + intid;
    if (intid < this.intidLimit) return this.spiSlot(intid);
    return -1;
  }

  private spiSlot(intid: number): number {
    return this.vcpuCount * 32 + (intid - SPI_BASE);
  }

  private isPending(s: number): boolean {
    return this.latched[s] === 1 || (this.edge[s] === 0 && this.line[s] === 1);
  }

  /** The vCPU whose state a change to `intid` can affect. */
  private ownerOf(cpu: number, intid: number): number {
    return intid < SPI_BASE ? cpu : this.target[intid - SPI_BASE];
  }

  private touch(cpu: number, intid: number): void {
    const owner = this.ownerOf(cpu, intid);
    if (owner !== NO_TARGET) this.update(owner);
  }

  /** One bit per INTID of a 32-INTID register word starting at `first`. */
  readBits(field: 'group' | 'enabled' | 'pending' | 'active', cpu: number, first: number): number {
    let v = 0;
    for (let i = 0; i < 32; i++) {
      const s = this.slot(cpu, first + i);
      if (s < 0) break;
      let bit: boolean;
      switch (field) {
        case 'group': bit = this.group[s] === 1; break;
        case 'enabled': bit = this.enabled[s] === 1; break;
        case 'pending': bit = this.isPending(s); break;
        case 'active': bit = this.active[s] === 1; break;
      }
      if (bit) v |= 1 << i;
    }
    return v >>> 0;
  }

  /**
   * Apply a 32-INTID register write: 'group' assigns; the set/clear kinds act on 1 bits
   * only (ISENABLER/ICENABLER, ISPENDR/ICPENDR, ISACTIVER/ICACTIVER).
   */
  writeBits(
    op: 'group' | 'set-enable' | 'clear-enable' | 'set-pending' | 'clear-pending' | 'set-active' | 'clear-active',
    cpu: number, first: number, value: number,
  ): void {
    const owners = new Set<number>();
    for (let i = 0; i < 32; i++) {
      const s = this.slot(cpu, first + i);
      if (s < 0) break;
      const bit = (value >>> i) & 1;
      if (op !== 'group' && !bit) continue;
      switch (op) {
        case 'group': this.group[s] = bit; break;
        case 'set-enable': this.enabled[s] = 1; break;
        case 'clear-enable': this.enabled[s] = 0; break;
        case 'set-pending': this.latched[s] = 1; break;
        case 'clear-pending': this.latched[s] = 0; break;
        case 'set-active': this.active[s] = 1; break;
        case 'clear-active': this.active[s] = 0; break;
      }
      owners.add(this.ownerOf(cpu, first + i));
    }
    for (const owner of owners) if (owner !== NO_TARGET) this.update(owner);
  }

  getPriority(cpu: number, intid: number): number {
    const s = this.slot(cpu, intid);
    return s < 0 ? 0 : this.priority[s];
  }

  setPriority(cpu: number, intid: number, value: number): void {
    const s = this.slot(cpu, intid);
    if (s < 0) return;
    this.priority[s] = value & PRIORITY_MASK;
    this.touch(cpu, intid);
  }

  isEdge(cpu: number, intid: number): boolean {
    const s = this.slot(cpu, intid);
    return s >= 0 && this.edge[s] === 1;
  }

  /** ICFGR Int_config[1]; SGIs are always edge-triggered. */
  setEdge(cpu: number, intid: number, edge: boolean): void {
    const s = this.slot(cpu, intid);
    if (s < 0 || intid < PPI_BASE) return;
    this.edge[s] = edge ? 1 : 0;
    this.touch(cpu, intid);
  }

  getRoute(intid: number): bigint {
    return intid >= SPI_BASE && intid < this.intidLimit ? this.route[intid - SPI_BASE] : 0n;
  }

  /** GICD_IROUTER: Aff3.Aff2.Aff1.Aff0 kept; IRM is RAZ/WI (No1N = 1). */
  setRoute(intid: number, value: bigint): void {
    if (intid < SPI_BASE || intid >= this.intidLimit) return;
    const n = intid - SPI_BASE;
    const old = this.target[n];
    const route = value & 0xff_00ff_ffffn;
    this.route[n] = route;
    this.target[n] = this.cpuOfAffinity(route);
    if (old !== NO_TARGET) this.update(old);
    if (this.target[n] !== NO_TARGET && this.target[n] !== old) this.update(this.target[n]);
  }

  /** The vCPU whose MPIDR affinity equals Aff3.Aff2.Aff1.Aff0 of `aff`, or NO_TARGET. */
  private cpuOfAffinity(aff: bigint): number {
    const aff0 = Number(aff & 0xffn);
    const aff1 = Number((aff >> 8n) & 0xffn);
    const upper = (aff >> 16n) & 0xff_00ffn; // Aff2 [23:16], Aff3 [39:32]
    if (upper !== 0n || aff0 >= 16) return NO_TARGET;
    const cpu = aff1 * 16 + aff0;
    return cpu < this.vcpuCount && mpidrOf(cpu) === Number(aff & 0xffffn) ? cpu : NO_TARGET;
  }

  setDistributorControl(value: number): void {
    this.distCtlr = value & (GICD_CTLR_ENABLE_GRP0 | GICD_CTLR_ENABLE_GRP1);
    for (let cpu = 0; cpu < this.vcpuCount; cpu++) this.update(cpu);
  }

  isSleeping(cpu: number): boolean {
    return this.cpuState(cpu).sleeping;
  }

  /** GICR_WAKER.ProcessorSleep; ChildrenAsleep follows it at once (no LPI caches to flush). */
  setSleeping(cpu: number, sleeping: boolean): void {
    this.cpuState(cpu).sleeping = sleeping;
    this.update(cpu);
  }

  // ---- CPU interface operations (called by GicCpuInterface) ----

  cpuState(cpu: number): GicCpuState {
    const c = this.cpus[cpu];
    if (!c) throw new GicError(`no vCPU ${cpu}`);
    return c;
  }

  /** Group-priority mask for preemption (BPR0, or BPR1 unless CBPR). */
  private groupPriorityMask(c: GicCpuState, group: IrqGroup): number {
    const shift = group === 1 && !(c.ctlr & ICC_CTLR_CBPR) ? c.bpr1 : c.bpr0 + 1;
    return (0xff << shift) & 0xff;
  }

  /** ICC_RPR_EL1: priority of the highest-priority active group, 0xff when idle. */
  runningPriority(cpu: number): number {
    const c = this.cpuState(cpu);
    const bits = (c.ap[0] | c.ap[1]) >>> 0;
    if (bits === 0) return IDLE_PRIORITY;
    return (31 - Math.clz32(bits & -bits)) << PRIO_SHIFT;
  }

  /** ICC_HPPIRn: the highest-priority pending interrupt if it belongs to `group`. */
  highestPending(cpu: number, group: IrqGroup): number {
    const c = this.cpuState(cpu);
    return c.hppi !== INTID_SPURIOUS && c.hppiGroup === group ? c.hppi : INTID_SPURIOUS;
  }

  private canSignal(cpu: number, c: GicCpuState): boolean {
    if (c.hppi === INTID_SPURIOUS) return false;
    if (c.hppiPriority >= c.pmr) return false;
    return (c.hppiPriority & this.groupPriorityMask(c, c.hppiGroup)) < this.runningPriority(cpu);
  }

  /** ICC_IARn: acknowledge the signalable HPPI of `group` (pending -> active), or 1023. */
  acknowledge(cpu: number, group: IrqGroup): number {
    const c = this.cpuState(cpu);
    if (!this.canSignal(cpu, c) || c.hppiGroup !== group) return INTID_SPURIOUS;
    const intid = c.hppi;
    const s = this.slot(cpu, intid);
    this.active[s] = 1;
    this.latched[s] = 0; // a level interrupt stays pending through its line
    const gprio = c.hppiPriority & this.groupPriorityMask(c, group);
    c.ap[group] = (c.ap[group] | (1 << (gprio >> PRIO_SHIFT))) >>> 0;
    this.update(cpu);
    return intid;
  }

  /** ICC_EOIRn: drop the running priority, and deactivate `intid` unless EOImode = 1. */
  endOfInterrupt(cpu: number, group: IrqGroup, intid: number): void {
    const c = this.cpuState(cpu);
    if (intid >= INTID_SPECIAL_FIRST && intid <= INTID_SPURIOUS) return;
    const all = (c.ap[0] | c.ap[1]) >>> 0;
    if (all === 0) {
      this.log.warn(`gic: vCPU ${cpu} EOI of INTID ${intid} with no active priority`);
    } else {
      const lowest = all & -all;
      if (!(c.ap[group] & lowest)) {
        this.log.warn(`gic: vCPU ${cpu} EOIR${group} of INTID ${intid} while a group ${group ^ 1} priority is running`);
        return;
      }
      c.ap[group] = (c.ap[group] & ~lowest) >>> 0;
    }
    if (!(c.ctlr & ICC_CTLR_EOIMODE)) this.deactivate(cpu, intid);
    else this.update(cpu);
  }

  /** ICC_DIR_EL1 (EOImode = 1 only). */
  deactivateInterrupt(cpu: number, intid: number): void {
    const c = this.cpuState(cpu);
    if (intid >= INTID_SPECIAL_FIRST && intid <= INTID_SPURIOUS) return;
    if (!(c.ctlr & ICC_CTLR_EOIMODE)) {
      this.log.debug?.(`gic: vCPU ${cpu} DIR of INTID ${intid} with EOImode 0 ignored`);
      return;
    }
    this.deactivate(cpu, intid);
  }

  private deactivate(cpu: number, intid: number): void {
    const s = this.slot(cpu, intid);
    if (s < 0) {
      this.log.warn(`gic: vCPU ${cpu} deactivates unimplemented INTID ${intid}`);
      return;
    }
    if (!this.active[s]) this.log.debug?.(`gic: vCPU ${cpu} deactivates inactive INTID ${intid}`);
    this.active[s] = 0;
    this.onDeactivate?.(cpu, intid);
    this.update(cpu);
    const owner = this.ownerOf(cpu, intid);
    if (owner !== cpu && owner !== NO_TARGET) this.update(owner);
  }

  /**
   * ICC_SGI1R_EL1 / ICC_SGI0R_EL1: INTID [27:24], TargetList [15:0], Aff1 [23:16],
   * Aff2 [39:32], IRM [40], RS [47:44], Aff3 [55:48]. IRM = 1 targets every other vCPU.
   * The SGI becomes pending only on targets where it is configured in `group`.
   */
  generateSgi(cpu: number, value: bigint, group: IrqGroup): void {
    const intid = Number((value >> 24n) & 0xfn);
    const targets: number[] = [];
    if ((value >> 40n) & 1n) {
      for (let t = 0; t < this.vcpuCount; t++) if (t !== cpu) targets.push(t);
    } else {
      const list = Number(value & 0xffffn);
      const aff1 = Number((value >> 16n) & 0xffn);
      const aff2 = Number((value >> 32n) & 0xffn);
      const rs = Number((value >> 44n) & 0xfn);
      const aff3 = Number((value >> 48n) & 0xffn);
      if (aff2 !== 0 || aff3 !== 0 || rs !== 0) {
        this.log.debug?.(`gic: SGI ${intid} to absent affinity ${aff3}.${aff2}.${aff1} RS ${rs}`);
        return;
      }
      for (let aff0 = 0; aff0 < 16; aff0++) {
        if (!(list & (1 << aff0))) continue;
        const t = aff1 * 16 + aff0;
        if (t < this.vcpuCount) targets.push(t);
      }
    }
    for (const t of targets) {
      const s = t * 32 + intid;
      if (this.group[s] !== group) continue;
      this.latched[s] = 1;
      this.update(t);
    }
  }

  /** Recompute vCPU `cpu`'s highest-priority pending interrupt and signal changes. */
  update(cpu: number): void {
    const c = this.cpus[cpu];
    const grp0 = (this.distCtlr & GICD_CTLR_ENABLE_GRP0) !== 0 && c.igrpen[0];
    const grp1 = (this.distCtlr & GICD_CTLR_ENABLE_GRP1) !== 0 && c.igrpen[1];
    let best = INTID_SPURIOUS;
    let bestPriority = IDLE_PRIORITY + 1;
    let bestGroup = 1 as IrqGroup;
    // Runs on every acknowledge/EOI/SGI: a plain loop, no per-call closure.
    if (!c.sleeping && (grp0 || grp1)) {
      const base = cpu * 32;
      const spiBase = this.vcpuCount * 32;
      const total = SPI_BASE + this.spiCount;
      for (let intid = 0; intid < total; intid++) {
        let s: number;
        if (intid < SPI_BASE) s = base + intid;
        else {
          if (this.target[intid - SPI_BASE] !== cpu) continue;
          s = spiBase + intid - SPI_BASE;
        }
        if (!this.enabled[s] || this.active[s] || !this.isPending(s)) continue;
        const g = this.group[s];
        if (!(g === 0 ? grp0 : grp1) || this.priority[s] >= bestPriority) continue;
        best = intid;
        bestPriority = this.priority[s];
        bestGroup = g as IrqGroup;
      }
    }
    c.hppi = best;
    c.hppiPriority = best === INTID_SPURIOUS ? IDLE_PRIORITY : bestPriority;
    c.hppiGroup = bestGroup;
    const signal = this.canSignal(cpu, c);
    const irq = signal && bestGroup === 1;
    const fiq = signal && bestGroup === 0;
    if (irq !== c.irqSignaled || fiq !== c.fiqSignaled) {
      c.irqSignaled = irq;
      c.fiqSignaled = fiq;
      this.onPendingChange?.(cpu);
    }
  }
}
