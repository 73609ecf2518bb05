// Assembled guest images run on an interpreting and a translating CPU side by side,
// compared at every batch boundary (registers, V registers, flags, PC, EL, retired count,
// exit, exception registers, RAM). Images set up their own MMU and vectors with MSRs, so
// both tiers go through the same system-register paths. Page-table helpers build a
// 39-bit, 4K-granule TTBR0 regime of 2 MiB blocks over the first GiB of RAM.
import { expect } from 'chai';
import type { PendingExit } from '../../../src/accel/emu/cpu.ts';
import type { Translator, TranslatorOptions } from '../../../src/accel/emu/translator/tier.ts';
import type { RunFn } from '../../../src/accel/emu/translator/module.ts';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { writeSysReg } from '../../../src/accel/emu/system.ts';
import { CODE, HVC0, RAM_BASE, machine, snapshot, type Machine } from './harness.ts';

export const GUEST_RAM_SIZE = 8 << 20;
/** Where images are loaded and start, at EL1h with interrupts masked. */
export const IMAGE = RAM_BASE + 0x1000;
/** A physical address outside RAM: accesses there leave as data-abort exits (MMIO). */
export const MMIO = 0x0900_0000;

// Page-table layout for mmuSetup(): L1 at +0x10000, L2 at +0x11000 (VA = PA, 2 MiB blocks).
export const L1_TABLE = RAM_BASE + 0x10000;
export const L2_TABLE = RAM_BASE + 0x11000;
const AF = 1n << 10n, INNER_SH = 3n << 8n, BLOCK = 1n;
/** Descriptor attributes: AP[2:1] (bits 7:6), PXN (53), UXN (54). */
export const AP_EL1_RW = 0n, AP_ALL_RW = 1n << 6n, AP_EL1_RO = 2n << 6n, AP_ALL_RO = 3n << 6n;
export const PXN = 1n << 53n, UXN = 1n << 54n;
/** TCR_EL1: T0SZ 25, WBWA inner/outer, inner shareable, EPD1, 40-bit IPA. */
export const TCR = 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (1n << 23n) | (2n << 32n);

/** CPACR_EL1.FPEN = 11: FP/SIMD allowed at EL0 and EL1 (clobbers x0). */
export const fpOn = `
  mov x0, #(3 << 20)
  msr cpacr_el1, x0
  isb`;

/** Stage-1 setup code: MAIR, TCR, TTBR0 = L1_TABLE, SCTLR with M, C, I (clobbers x0). */
export const mmuOn = `
  mov x0, #0xff
  msr mair_el1, x0
  ldr x0, =${TCR}
  msr tcr_el1, x0
  ldr x0, =${L1_TABLE}
  msr ttbr0_el1, x0
  tlbi vmalle1
  isb
  ldr x0, =${0x30d00800n | 1n | (1n << 2n) | (1n << 12n)}
  msr sctlr_el1, x0
  isb`;

/**
 * An L1 table at `l1` whose entry 1 (the GiB at RAM_BASE) points at an L2 table at `l2`
 * of 2 MiB blocks: blocks[k] = [physical address, attributes] for VA RAM_BASE + k * 2 MiB.
 */
export function writeTables(ram: Uint8Array, l1: number, l2: number, blocks: [number, bigint][]): void {
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  dv.setBigUint64(l1 - RAM_BASE + 8, BigInt(l2) | 3n, true);
  blocks.forEach(([pa, attrs], k) => dv.setBigUint64(l2 - RAM_BASE + 8 * k, BigInt(pa) | attrs | AF | INNER_SH | BLOCK, true));
}

export interface GuestPair { a: Machine; b: Machine }

export interface GuestOptions {
  translator?: TranslatorOptions;
  /** Attributes of each 2 MiB block of RAM (VA = PA); blocks not listed stay unmapped. */
  blocks?: bigint[];
  /** Extra code or data at guest-physical addresses. */
  extra?: [number, Uint8Array][];
  /** false: the translating CPU keeps plain RAM and its own state memory (loads and stores through the JS helpers). */
  inline?: boolean;
}

/** Stage 1 on, VA = PA for the first 2 MiB of RAM only, set straight into the CPU (no guest MSRs). */
export function mmuOnFirstBlock(m: Machine): void {
  writeTables(m.ram, L1_TABLE, L2_TABLE, [[RAM_BASE, AP_EL1_RW]]);
  const c = m.cpu;
  writeSysReg(c, SysReg.MAIR_EL1, 0xffn);
  writeSysReg(c, SysReg.TCR_EL1, TCR);
  writeSysReg(c, SysReg.TTBR0_EL1, BigInt(L1_TABLE));
  writeSysReg(c, SysReg.SCTLR_EL1, 0x30d00800n | 1n);
  c.mmu.fetch(CODE, 0); // the tier enters translations only where the fetch path has the page
}

export function guestPair(image: Uint8Array, options: GuestOptions = {}): GuestPair {
  const ram = new Uint8Array(GUEST_RAM_SIZE);
  const dv = new DataView(ram.buffer);
  // Default vectors (VBAR_EL1 = RAM_BASE): vector i is `hvc #0x100+i`, so exceptions show as exits.
  for (let i = 0; i < 16; i++) dv.setUint32(i * 0x80, (HVC0 | ((0x100 + i) << 5)) >>> 0, true);
  ram.set(image, IMAGE - RAM_BASE);
  for (const [pa, bytes] of options.extra ?? []) ram.set(bytes, pa - RAM_BASE);
  if (options.blocks) writeTables(ram, L1_TABLE, L2_TABLE, options.blocks.map((attrs, k) => [RAM_BASE + k * 0x20_0000, attrs]));
  const a = machine(false, undefined, ram.slice());
  const b = machine(true, options.translator ?? { threshold: 1, batchSize: 1 }, ram.slice(), options.inline ?? true);
  for (const m of [a, b]) {
    m.cpu.setPstate(0x3c5);
    m.cpu.s.pcLo = IMAGE; m.cpu.s.pcHi = 0;
  }
  return { a, b };
}

function compare(p: GuestPair, ea: PendingExit | undefined, eb: PendingExit | undefined, what: string): void {
  expect(snapshot(p.b, eb), what).to.deep.equal(snapshot(p.a, ea));
  expect(Buffer.compare(Buffer.from(p.a.cpu.s.vbytes), Buffer.from(p.b.cpu.s.vbytes)), `${what}: V registers`).to.equal(0);
  expect(Buffer.compare(p.a.ram, p.b.ram), `${what}: RAM`).to.equal(0);
}

/**
 * Run both CPUs in batches of `budget` instructions until one exits to the VMM (or
 * `maxInstructions` pass), comparing after every batch; returns the (common) exit.
 */
export function runToExit(p: GuestPair, budget = 1000, maxInstructions = 2_000_000): PendingExit {
  for (let total = 0; total < maxInstructions; total += budget) {
    const ea = p.a.cpu.runBatch(budget);
    const eb = p.b.cpu.runBatch(budget);
    compare(p, ea, eb, `after ${p.a.cpu.instructionsRetired} instructions (batches of ${budget})`);
    if (ea !== undefined && ea.reason !== 2) return ea;
  }
  throw new Error(`no exit within ${maxInstructions} instructions`);
}

/** runToExit, letting the event loop turn after every batch (modules compiled in the background are installed then). */
export async function runToExitAsync(p: GuestPair, budget = 1000, maxInstructions = 2_000_000): Promise<PendingExit> {
  for (let total = 0; total < maxInstructions; total += budget) {
    const ea = p.a.cpu.runBatch(budget);
    const eb = p.b.cpu.runBatch(budget);
    compare(p, ea, eb, `after ${p.a.cpu.instructionsRetired} instructions (batches of ${budget})`);
    if (ea !== undefined && ea.reason !== 2) return ea;
    await new Promise<void>((r) => setImmediate(r));
  }
  throw new Error(`no exit within ${maxInstructions} instructions`);
}

export const ec = (exit: PendingExit): number => (exit.syndrome >>> 26) & 0x3f;
export const hvcImm = (exit: PendingExit): number => (ec(exit) === 0x16 ? exit.syndrome & 0xffff : -1);

/** Expect an HVC exit with this immediate (the image's way of reporting a phase done). */
export function expectHvc(exit: PendingExit, imm: number): void {
  expect(ec(exit), `EC (syndrome 0x${exit.syndrome.toString(16)})`).to.equal(0x16);
  expect(exit.syndrome & 0xffff, 'HVC immediate').to.equal(imm);
}

/**
 * Count the translating CPU's calls of these helper imports (Translator.imports, wrapped
 * before anything is compiled): every call, those throwing included, or only the calls whose
 * arguments `only.args` picks; with `only.result`, only the calls returning what it picks.
 */
export function countCalls(
  tier: Translator, names: readonly string[], only: { args?: (args: number[]) => boolean; result?: (r: unknown) => boolean } = {},
): { calls: number } {
  const imports = (tier as unknown as { imports: Record<string, (...a: number[]) => unknown> }).imports;
  const count = { calls: 0 };
  for (const name of names) {
    const f = imports[name];
    if (f === undefined) throw new Error(`no helper import ${name}`);
    imports[name] = (...a: number[]) => {
      if (only.args !== undefined && !only.args(a)) return f(...a);
      if (only.result === undefined) { count.calls++; return f(...a); }
      const r = f(...a);
      if (only.result(r)) count.calls++;
      return r;
    };
  }
  return count;
}

/** Wrap a tier's dispatcher, which every run of translated code goes through (Translator.dispatch is private). */
export function wrapDispatch(tier: object, wrap: (dispatch: RunFn) => RunFn): void {
  const t = tier as { dispatch: RunFn };
  t.dispatch = wrap(t.dispatch);
}

/** What leaves the translating CPU's wasm code by throwing (guest exceptions and VM exits raised inside blocks). */
export function thrownFromTranslated(p: GuestPair): unknown[] {
  const thrown: unknown[] = [];
  wrapDispatch(p.b.tier!, (dispatch) => (id, budget) => {
    try { return dispatch(id, budget); } catch (e) { thrown.push(e); throw e; }
  });
  return thrown;
}
