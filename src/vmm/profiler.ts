// Where a guest's time goes: guest PC samples per vCPU (the software CPU samples every
// SAMPLE_INTERVAL retired instructions) resolved to kernel functions, and the host time
// split between the interpreter, exit handling by kind, WFI sleep and the event loop.
// Enabled by NODEVISOR_PROFILE=FILE (report written there at process exit) or by
// enableProfiler(); when off, the hooks are one undefined check per batch or exit.
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { KernelSymbols } from './kernel-symbols.ts';
import { guestCacheDir } from '../guest/cache.ts';

/** Retired instructions between two PC samples (a power of two; the CPU's batch loop checks at this stride). */
export const SAMPLE_INTERVAL = 1024;
const LOW32 = 2 ** 32;

interface Cost { count: number; ns: number }

export class VcpuProfile {
  /** EL1 PC samples keyed by the low 48 bits of the VA. */
  readonly pcs = new Map<number, number>();
  el0Samples = 0;
  samples = 0;
  /** Instructions of short batches not yet covered by a sample. */
  carry = 0;
  interpNs = 0;
  batches = 0;
  /** Batches that ended early because of YIELD (a spin loop handing over the thread). */
  yieldBatches = 0;
  eventLoopNs = 0;
  wfiSleepNs = 0;
  wfeWaitNs = 0;
  readonly exits = new Map<string, Cost>();
  /** VBAR_EL1 reader, for the KASLR offset (set by the software CPU). */
  vbar: (() => bigint) | undefined;
  instructions: (() => number) | undefined;

  sample(pcLo: number, pcHi: number, el: number): void {
    this.samples++;
    if (el === 0) {
      this.el0Samples++;
      return;
    }
    const key = (pcHi & 0xffff) * LOW32 + (pcLo >>> 0);
    this.pcs.set(key, (this.pcs.get(key) ?? 0) + 1);
  }

  /** How late the vtimer exits came after the deadline: the worst, and how many over 100 ms. */
  maxTimerLateMs = 0;
  timerLateOver100ms = 0;

  timerLate(ms: bigint): void {
    const n = Number(ms);
    if (n > this.maxTimerLateMs) this.maxTimerLateMs = n;
    if (n > 100) this.timerLateOver100ms++;
  }

  exit(kind: string, ns: number): void {
    const c = this.exits.get(kind);
    if (c) {
      c.count++;
      c.ns += ns;
    } else this.exits.set(kind, { count: 1, ns });
  }
}

export class Profiler {
  readonly vcpus: VcpuProfile[] = [];
  private readonly t0 = process.hrtime.bigint();
  private readonly cpu0 = process.cpuUsage();

  constructor(readonly file?: string, private readonly symbolsFile?: string) {}

  forVcpu(index: number): VcpuProfile {
    return (this.vcpus[index] ??= new VcpuProfile());
  }

  /** Kernel symbols from NODEVISOR_PROFILE_SYMBOLS, or kallsyms / System.map-* in the guest cache. */
  private loadSymbols(): { symbols?: KernelSymbols; source?: string } {
    const candidates: string[] = [];
    if (this.symbolsFile) candidates.push(this.symbolsFile);
    if (process.env.NODEVISOR_PROFILE_SYMBOLS) candidates.push(process.env.NODEVISOR_PROFILE_SYMBOLS);
    candidates.push(join(guestCacheDir(), 'kallsyms'));
    for (const f of candidates) {
      try {
        if (!existsSync(f)) continue;
        const s = KernelSymbols.parse(readFileSync(f, 'utf8'));
        if (s.size > 0) return { symbols: s, source: f };
      } catch {
        // unreadable: try the next
      }
    }
    return {};
  }

  /** The report; `topN` kernel functions overall (the file gets more than the console). */
  report(topN = 40): string {
    const wallNs = Number(process.hrtime.bigint() - this.t0);
    const cpu = process.cpuUsage(this.cpu0);
    const hostCpuNs = (cpu.user + cpu.system) * 1000;
    const { symbols, source } = this.loadSymbols();
    // KASLR: the runtime address of `vectors` (VBAR_EL1 once the kernel has set it) vs the map's.
    let slide = 0;
    const vectors = symbols?.addressOf('vectors');
    const vbar = this.vcpus.find((v) => v?.vbar)?.vbar?.();
    if (vectors !== undefined && vbar !== undefined && vbar !== 0n) slide = Number(vbar & 0xffffffffffffn) - vectors;
    const lines: string[] = [];
    const ms = (ns: number) => `${(ns / 1e6).toFixed(0)} ms`;
    const pct = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '-');
    lines.push(`nodevisor profile: wall ${ms(wallNs)}, host CPU ${ms(hostCpuNs)}; PC sampled every ${SAMPLE_INTERVAL} instructions`);
    lines.push(`symbols: ${source ?? 'none (set NODEVISOR_PROFILE_SYMBOLS to a System.map or kallsyms file; bench/kallsyms.ts makes one)'}${symbols ? `, KASLR slide 0x${slide.toString(16)}` : ''}`);
    let interp = 0, exitsNs = 0, loopNs = 0;
    const allExits = new Map<string, Cost>();
    for (const v of this.vcpus) {
      if (!v) continue;
      interp += v.interpNs;
      loopNs += v.eventLoopNs;
      for (const [k, c] of v.exits) {
        exitsNs += c.ns;
        const a = allExits.get(k) ?? { count: 0, ns: 0 };
        a.count += c.count;
        a.ns += c.ns;
        allExits.set(k, a);
      }
    }
    lines.push('');
    lines.push(`host time (all vCPUs share one thread): interpreter ${ms(interp)} (${pct(interp, wallNs)} of wall), exit handling ${ms(exitsNs)} (${pct(exitsNs, wallNs)}), rest (event loop, devices, GC, idle) ${ms(wallNs - interp - exitsNs)}`);
    lines.push('');
    lines.push('per vCPU: instructions, batches (ended by YIELD), interpreter, and wall time spent in WFI sleep, WFE waits and between batches (other vCPUs run meanwhile)');
    this.vcpus.forEach((v, i) => {
      if (!v) return;
      const n = v.instructions?.() ?? 0;
      lines.push(`  vcpu${i}: ${(n / 1e6).toFixed(1)} M instr, ${v.batches} batches (${v.yieldBatches} YIELD), interp ${ms(v.interpNs)}, WFI sleep ${ms(v.wfiSleepNs)}, WFE ${ms(v.wfeWaitNs)}, turn wait ${ms(v.eventLoopNs)}; vtimer late: max ${v.maxTimerLateMs} ms, ${v.timerLateOver100ms} over 100 ms; samples ${v.samples} (EL0 ${pct(v.el0Samples, v.samples)})`);
    });
    lines.push('');
    lines.push('exits (all vCPUs): count, synchronous handling time (WFI sleep and WFE waits are counted per vCPU above)');
    for (const [k, c] of [...allExits].sort((a, b) => b[1].count - a[1].count).slice(0, 30)) {
      lines.push(`  ${k.padEnd(40)} ${String(c.count).padStart(10)}  ${ms(c.ns).padStart(9)}`);
    }
    const functions = (pcs: Map<number, number>) => {
      const byFn = new Map<string, number>();
      for (const [pc, n] of pcs) {
        const name = symbols?.lookup(pc - slide) ?? `[0x${(pc - (pc % 4096)).toString(16)} page]`;
        byFn.set(name, (byFn.get(name) ?? 0) + n);
      }
      return [...byFn].sort((a, b) => b[1] - a[1]);
    };
    const merged = new Map<number, number>();
    let total = 0, el0 = 0;
    for (const v of this.vcpus) {
      if (!v) continue;
      total += v.samples;
      el0 += v.el0Samples;
      for (const [pc, n] of v.pcs) merged.set(pc, (merged.get(pc) ?? 0) + n);
    }
    lines.push('');
    lines.push(`top kernel functions, all vCPUs (${total} samples, EL0 ${pct(el0, total)}):`);
    for (const [name, n] of functions(merged).slice(0, topN)) lines.push(`  ${pct(n, total).padStart(6)}  ${String(n).padStart(8)}  ${name}`);
    if (this.vcpus.filter(Boolean).length > 1) {
      this.vcpus.forEach((v, i) => {
        if (!v || v.samples === 0) return;
        lines.push('');
        lines.push(`top kernel functions, vcpu${i} (${v.samples} samples):`);
        for (const [name, n] of functions(v.pcs).slice(0, 12)) lines.push(`  ${pct(n, v.samples).padStart(6)}  ${String(n).padStart(8)}  ${name}`);
      });
    }
    return lines.join('\n') + '\n';
  }

  /** Write the report to the profiler's file (or `file`). */
  write(file = this.file): void {
    if (!file) return;
    try {
      writeFileSync(file, this.report(400));
    } catch (e) {
      process.stderr.write(`nodevisor: cannot write the profile to ${file}: ${(e as Error).message}\n`);
    }
  }
}

let active: Profiler | undefined;

/** The running profiler, or undefined when profiling is off. */
export function activeProfiler(): Profiler | undefined {
  return active;
}

/** Start profiling; the report goes to `file` when the process exits (or call write()). */
export function enableProfiler(file?: string, symbolsFile?: string): Profiler {
  if (active) return active;
  const p = new Profiler(file, symbolsFile);
  active = p;
  if (file) {
    process.once('exit', () => p.write());
    // An interrupted long boot still leaves its profile.
    process.once('SIGINT', () => {
      p.write();
      process.exit(130);
    });
  }
  return p;
}

/** For tests: drop the active profiler. */
export function disableProfiler(): void {
  active = undefined;
}

if (process.env.NODEVISOR_PROFILE) enableProfiler(process.env.NODEVISOR_PROFILE);
