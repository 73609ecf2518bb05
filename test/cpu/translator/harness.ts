// Two software CPUs over copies of the same RAM, one interpreting and one running the
// translation tier, for comparing the tiers instruction by instruction.
import { PhysicalMemory } from '../../../src/accel/emu/physical-memory.ts';
import { Cpu, type PendingExit } from '../../../src/accel/emu/cpu.ts';
import { Translator, type TranslatorOptions } from '../../../src/accel/emu/translator/tier.ts';
import { CodePages } from '../../../src/accel/emu/translator/code-pages.ts';
import { BlockGen } from '../../../src/accel/emu/translator/codegen.ts';
import { Code } from '../../../src/accel/emu/translator/wasm.ts';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { allocateRam } from '../../../src/memory/ram.ts';
import { claimStateArea } from '../../../src/accel/emu/arena.ts';
import { STATE_AREA_BYTES } from '../../../src/accel/emu/state-area.ts';

export const RAM_BASE = 0x4000_0000;
export const RAM_SIZE = 1 << 20;
export const CODE = RAM_BASE + 0x1000;
export const DATA = RAM_BASE + 0x40000;
export const HVC0 = 0xd4000002;

export interface Machine {
  cpu: Cpu;
  ram: Uint8Array;
  tier?: Translator;
}

/**
 * A CPU over `ram` (a copy of it when translating: RAM from allocateRam, with the CPU's state in
 * its arena, so translated loads and stores run inline as on a VM; `inline: false` keeps the
 * given RAM and the JS helpers).
 */
export function machine(translate: boolean, options: TranslatorOptions = { threshold: 1, batchSize: 1 }, ram?: Uint8Array, inline = true): Machine {
  const mem = new PhysicalMemory();
  let bytes = ram ?? new Uint8Array(RAM_SIZE);
  if (translate && inline) {
    const arenaRam = allocateRam(bytes.length, STATE_AREA_BYTES); // room for this one CPU: thousands of machines are made
    arenaRam.set(bytes);
    bytes = arenaRam;
  }
  mem.map(bytes, RAM_BASE, 7);
  const cpu = new Cpu(mem, 0, translate && inline ? claimStateArea(bytes) : undefined);
  cpu.peers = [cpu];
  // Exceptions go to a vector table of HVCs at the start of RAM.
  cpu.sysregs.set(SysReg.VBAR_EL1, BigInt(RAM_BASE));
  let tier: Translator | undefined;
  if (translate) {
    tier = new Translator(cpu, new CodePages(), options);
    cpu.tier = tier;
  }
  return { cpu, ram: bytes, tier };
}

export function writeWords(ram: Uint8Array, addr: number, words: number[]): void {
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  words.forEach((w, i) => dv.setUint32(addr - RAM_BASE + 4 * i, w >>> 0, true));
}

/** A pair of machines with identical RAM and state. */
export function pair(words: number[], options?: TranslatorOptions): { a: Machine; b: Machine } {
  const ram = new Uint8Array(RAM_SIZE);
  for (let i = 0; i < 16; i++) writeWords(ram, RAM_BASE + i * 0x80, [(HVC0 | ((0x100 + i) << 5)) >>> 0]);
  writeWords(ram, CODE, words);
  const a = machine(false, undefined, ram.slice());
  const b = machine(true, options, ram.slice());
  for (const m of [a, b]) { m.cpu.s.pcLo = CODE; m.cpu.s.pcHi = 0; }
  return { a, b };
}

export class Rng {
  constructor(private s: number) {}
  u32(): number {
    let x = this.s;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.s = x >>> 0;
    return this.s;
  }
  below(n: number): number { return this.u32() % n; }
  /** An interesting 64-bit value as [lo, hi]. */
  value(): [number, number] {
    const pick = [0, 1, -1, 0x7fffffff, -0x80000000, 0xff, 0xffff, 63, 32, 31];
    switch (this.below(6)) {
      case 0: return [pick[this.below(pick.length)], pick[this.below(pick.length)]];
      case 1: return [this.u32() | 0, 0];
      case 2: return [this.u32() | 0, -1];
      case 3: return [(DATA + this.below(0x20000)) | 0, 0];
      default: return [this.u32() | 0, this.u32() | 0];
    }
  }
}

/** n random bytes from seed (data areas for the memory tests). */
export function randomData(seed: number, n: number): Uint8Array {
  const rng = new Rng(seed);
  return Uint8Array.from({ length: n }, () => rng.below(256));
}

/** Same random registers, SP and flags on every machine. */
export function randomState(rng: Rng, ms: Machine[]): void {
  const vals: [number, number][] = [];
  for (let r = 0; r < 31; r++) vals.push(rng.value());
  const sp = (DATA + 0x10000 + rng.below(0x1000) * 16) | 0;
  const nzcv = rng.below(16);
  for (const m of ms) {
    const s = m.cpu.s;
    for (let r = 0; r < 31; r++) { s.x[2 * r] = vals[r][0]; s.x[2 * r + 1] = vals[r][1]; }
    s.x[64] = sp; s.x[65] = 0;
    s.n = nzcv >>> 3; s.z = (nzcv >>> 2) & 1; s.c = (nzcv >>> 1) & 1; s.v = nzcv & 1;
  }
}

/** Whether the translator accepts the instruction (a dry run of its code generator). */
export function translatable(insn: number): boolean {
  const g = new BlockGen(new Code(), BigInt(CODE), { chain: () => -1 });
  return g.insn(insn) !== false;
}

export interface Snapshot {
  x: number[];
  nzcv: number[];
  pc: [number, number];
  el: number;
  retired: number;
  exit: PendingExit | undefined;
  esr: bigint | undefined;
  elr: bigint | undefined;
  far: bigint | undefined;
  spsr: bigint | undefined;
}

export function snapshot(m: Machine, exit: PendingExit | undefined): Snapshot {
  const c = m.cpu, s = c.s;
  return {
    x: Array.from(s.x), nzcv: [s.n, s.z, s.c, s.v], pc: [s.pcLo, s.pcHi], el: c.el, retired: c.instructionsRetired, exit,
    esr: c.sysregs.get(SysReg.ESR_EL1), elr: c.sysregs.get(SysReg.ELR_EL1), far: c.sysregs.get(SysReg.FAR_EL1), spsr: c.sysregs.get(SysReg.SPSR_EL1),
  };
}

export const hex = (w: number) => `0x${(w >>> 0).toString(16).padStart(8, '0')}`;
