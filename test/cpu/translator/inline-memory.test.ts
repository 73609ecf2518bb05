// Translated loads and stores that hit the TLB mirror run inline in WebAssembly (the vCPU's
// state lives in guest RAM's memory); everything else takes the JS helpers. Both tiers run
// the same images and must agree at every batch; helper calls are counted to show which
// accesses went inline, and every way the mirror could outlive what the MMU's fast path
// grants (TLBI, ASID switch, EL change, MMU off, a page becoming code, another vCPU's
// reservation) is exercised from translated code.
import { expect } from 'chai';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { Cpu, GUEST_EXCEPTION, VM_EXIT, type PendingExit } from '../../../src/accel/emu/cpu.ts';
import { PhysicalMemory } from '../../../src/accel/emu/physical-memory.ts';
import { Translator } from '../../../src/accel/emu/translator/tier.ts';
import { CodePages } from '../../../src/accel/emu/translator/code-pages.ts';
import { claimStateArea, releaseStateArea } from '../../../src/accel/emu/arena.ts';
import { STATE_AREA_BYTES } from '../../../src/accel/emu/state-area.ts';
import { EmuAccelerator } from '../../../src/accel/emu/accelerator.ts';
import { MemoryFlags } from '../../../src/accel/types.ts';
import { MAX_VCPUS } from '../../../src/arch/arm64/layout.ts';
import { WASM_ARENA_BYTES, allocateRam, wasmArenaOf } from '../../../src/memory/ram.ts';
import { NG, leafDescriptor } from '../../helpers/aarch64-page-tables.ts';
import { assembleRaw, toolchainOrSkip, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { HVC0, RAM_BASE, randomData } from './harness.ts';
import {
  AP_ALL_RO, AP_EL1_RO, AP_EL1_RW, IMAGE, L1_TABLE, L2_TABLE, MMIO, countCalls, ec, expectHvc, guestPair, mmuOn, runToExit,
  thrownFromTranslated, writeTables, type GuestPair,
} from './guest.ts';

/** 2 MiB block 2: the data the programs load and store. */
const DATA = RAM_BASE + 0x40_0000;
const HELPERS = ['ld8', 'ld16', 'ld32', 'ld64', 'st8', 'st16', 'st32', 'st64'];

/** Count the translating CPU's load/store helper calls. */
const countHelpers = (tier: Translator): { calls: number } => countCalls(tier, HELPERS);

/** An L2 block descriptor (little-endian bytes) for guestPair's `extra`. */
const blockBytes = (pa: number, attrs: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, leafDescriptor(pa, attrs, 2), true);
  return b;
};

/** Complete an MMIO read exit on both CPUs as the VMM would: Xt = value, PC past the load. */
function completeMmio(p: GuestPair, exit: PendingExit, value: number): void {
  const rt = (exit.syndrome >>> 16) & 31;
  for (const m of [p.a, p.b]) {
    const s = m.cpu.s;
    if ((exit.syndrome & (1 << 6)) === 0 && rt !== 31) { s.x[rt * 2] = value; s.x[rt * 2 + 1] = 0; }
    s.pcLo = (s.pcLo + 4) | 0;
  }
}

describe('translation tier: inline loads and stores through the TLB mirror', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  // Every width, signed and unsigned, pairs, register offsets and write-back, in a hot loop.
  const widths = () => assembleRaw(tc, `
    ${mmuOn}
    ldr x20, =${DATA}
    ldr x21, =${DATA + 0x8000}
    mov x22, #0
    mov x2, #60
  1: ldrb w3, [x20, #1]
    ldrsb w4, [x20, #3]
    ldrsb x5, [x20, x2]
    ldrh w6, [x20, #6]
    ldrsh w7, [x20, #10]
    ldrsh x8, [x20, x2, lsl #1]
    ldr w9, [x20, #16]
    ldrsw x10, [x20, x2, lsl #2]
    ldr x11, [x20, x2, lsl #3]
    ldp w12, w13, [x20, #32]
    ldpsw x14, x15, [x20, #40]
    ldp x16, x17, [x20, #48]
    ldur x18, [x20, #-8]
    add x22, x22, x3
    eor x22, x22, x5, ror #7
    add x22, x22, x8
    eor x22, x22, x10, ror #13
    add x22, x22, x11
    eor x22, x22, x14
    add x22, x22, x17
    strb w4, [x21, x2]
    strh w7, [x21, #2]
    str w10, [x21, x2, lsl #2]
    str x22, [x21, #0x400]
    stp w12, w13, [x21, #0xf8]
    stp x16, x22, [x21, #0x100]!
    str x11, [x21], #-0x100
    subs x2, x2, #1
    b.ne 1b
    hvc #1
    .ltorg`);

  it('every width, signed and unsigned, pairs: inline on TLB hits, as the interpreter', () => {
    const data: [number, Uint8Array][] = [[DATA - 0x1000, randomData(1, 0x2000)]];
    const p = guestPair(widths(), { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: data });
    const helpers = countHelpers(p.b.tier!);
    expectHvc(runToExit(p), 1);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.9);
    // 26 accesses per iteration, 60 iterations: all but the first of each page take no helper.
    expect(helpers.calls, 'helper calls').to.be.lessThan(20);
    // Without the arena (plain RAM) the same code calls the helpers for every access and agrees too.
    const q = guestPair(widths(), { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: data, inline: false });
    const slow = countHelpers(q.b.tier!);
    expectHvc(runToExit(q), 1);
    expect(slow.calls, 'helper calls with plain RAM').to.be.greaterThan(1000);
    expect(Buffer.compare(q.b.ram, p.b.ram), 'same RAM either way').to.equal(0);
  });

  it('unaligned and page-crossing accesses of every size, into a page that is not the next physical one', () => {
    // VA block 3 -> PA block 1, so the page after DATA's last one is elsewhere in RAM. x20 walks
    // over that boundary byte by byte, loading; x21 = x20 - 24 follows, storing.
    const BOUNDARY = DATA + 0x20_0000;
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${BOUNDARY - 0x10}
      mov x2, #48
    1: sub x21, x20, #24
      ldr x3, [x20]
      ldr w4, [x20, #1]
      ldrh w5, [x20, #3]
      ldrsh x6, [x20, #5]
      add x22, x20, #2
      ldp x7, x8, [x22]
      add x22, x20, #1
      ldp w9, w10, [x22]
      add x3, x3, x4
      eor x3, x3, x7, ror #9
      str x3, [x21]
      str w8, [x21, #3]
      strh w6, [x21, #7]
      add x22, x21, #1
      stp x9, x10, [x22]
      add x20, x20, #1
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const extra: [number, Uint8Array][] = [
      [L2_TABLE + 24, blockBytes(RAM_BASE + 0x20_0000, AP_EL1_RW)],
      [BOUNDARY - 0x1000, randomData(2, 0x1000)], [RAM_BASE + 0x20_0000, randomData(3, 0x1000)], [BOUNDARY, randomData(4, 0x1000)],
    ];
    for (const budget of [1000, 5]) {
      const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra });
      expectHvc(runToExit(p, budget), 1);
      // (Batches of 5 leave no room for the 21-instruction block: the interpreter runs it.)
      if (budget === 1000) expect(p.b.tier!.stats.translatedInstructions, 'translated').to.be.greaterThan(700);
    }
  });

  it('an MMIO load and store inside a translated block: data-abort exits with the ISS, then the block resumes', () => {
    // L1 entry 0: the first GiB (the MMIO region) identity mapped as one block.
    const l1Entry0 = new Uint8Array(8);
    new DataView(l1Entry0.buffer).setBigUint64(0, leafDescriptor(0, 0n, 1), true);
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${DATA}
      ldr x21, =${MMIO}
      mov x1, #0
      mov x2, #30
    1: cmp x2, #20
      csel x3, x21, x20, eq
      cmp x2, #10
      csel x5, x21, x20, eq
      ldrh w7, [x20, #2]          // RAM, inline
      ldr w4, [x3, #8]            // MMIO once
      add x1, x1, x4
      str w1, [x5, #12]           // MMIO once, in a later iteration
      str x1, [x20, #16]          // RAM, inline
      add x1, x1, x7
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: [[L1_TABLE, l1Entry0], [DATA, randomData(3, 64)]] });
    const thrown = thrownFromTranslated(p);
    const load = runToExit(p);
    expect(ec(load), 'EC').to.equal(0x24);
    // ISV, SAS = 2 (word), SRT = 4, WnR = 0; DFSC 0x07 as HVF gives for a stage-2 miss.
    expect(load.syndrome & 0x01ffffff, 'ISS of the load').to.equal((1 << 24) | (2 << 22) | (4 << 16) | 0x07);
    expect(load.pa).to.equal(MMIO + 8);
    completeMmio(p, load, 1000);
    const store = runToExit(p);
    expect(store.syndrome & 0x01ffffff, 'ISS of the store').to.equal((1 << 24) | (2 << 22) | (1 << 16) | (1 << 6) | 0x07);
    expect(store.pa).to.equal(MMIO + 12);
    completeMmio(p, store, 0);
    expectHvc(runToExit(p), 1);
    expect(thrown, 'both exits left from translated code').to.deep.equal([VM_EXIT, VM_EXIT]);
  });

  for (const tlbi of ['tlbi vaae1is, x9', 'tlbi vmalle1']) it(`a descriptor made read-only + ${tlbi.split(',')[0].toUpperCase()}: the next translated store takes the permission fault`, () => {
    // poke is translated and stores inline; the guest then rewrites its own L2 entry for DATA.
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${DATA}
      ldr x24, =${L2_TABLE + 16}
      ldr x25, [x24]
      orr x25, x25, #${AP_EL1_RO}
      mov x2, #20
    1: bl poke
      subs x2, x2, #1
      b.ne 1b
      str x25, [x24]              // AP[2] = 1: read-only
      dsb ishst
      lsr x9, x20, #12
      ${tlbi}
      dsb ish
      isb
      hvc #1
      bl poke
      hvc #2
    poke:
      ldr x3, [x20, #8]
      add x3, x3, #1
      str x3, [x20, #8]
      ret
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW] });
    const helpers = countHelpers(p.b.tier!);
    expectHvc(runToExit(p), 1);
    expect(helpers.calls, 'helper calls before the TLBI').to.be.lessThan(5);
    const thrown = thrownFromTranslated(p);
    expectHvc(runToExit(p), 0x104);
    expect(thrown, 'the fault was raised in translated code').to.deep.equal([GUEST_EXCEPTION]);
    const esr = Number(p.b.cpu.sysregs.get(SysReg.ESR_EL1));
    expect(esr >>> 26, 'EC: data abort, same EL').to.equal(0x25);
    expect((esr >>> 6) & 1, 'WnR').to.equal(1);
    expect(esr & 0x3c, 'DFSC: permission fault').to.equal(0x0c);
    expect(p.b.cpu.sysregs.get(SysReg.FAR_EL1)).to.equal(BigInt(DATA + 8));
  });

  it('an ASID switch: non-global entries of the old ASID stop hitting, global ones still do', () => {
    // Tables A (L1_TABLE, ASID 1): DATA read/write, non-global. Tables B (ASID 2): DATA read-only.
    const L1B = RAM_BASE + 0x14000, L2B = RAM_BASE + 0x15000;
    const scratch = new Uint8Array(L2B - RAM_BASE + 0x1000);
    writeTables(scratch, L1B, L2B, [[RAM_BASE, AP_EL1_RW], [RAM_BASE + 0x20_0000, AP_EL1_RW], [DATA, AP_EL1_RO | NG]]);
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${DATA}
      ldr x21, =${RAM_BASE + 0x20_0000}
      ldr x24, =${BigInt(L1_TABLE) | (1n << 48n)}
      ldr x25, =${BigInt(L1B) | (2n << 48n)}
      msr ttbr0_el1, x24
      isb
      mov x2, #20
    1: bl poke
      subs x2, x2, #1
      b.ne 1b
      msr ttbr0_el1, x25
      isb
      hvc #1
      bl poke
      hvc #2
    poke:
      ldr x3, [x21]               // global in both
      add x3, x3, #1
      str x3, [x21]
      ldr x4, [x20, #8]           // ASID 1 only writable
      add x4, x4, x3
      str x4, [x20, #8]
      ret
      .ltorg`);
    const p = guestPair(code, {
      blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW | NG],
      extra: [[L1B, scratch.subarray(L1B - RAM_BASE, L1B - RAM_BASE + 0x1000)], [L2B, scratch.subarray(L2B - RAM_BASE)]],
    });
    const helpers = countHelpers(p.b.tier!);
    expectHvc(runToExit(p), 1);
    expect(helpers.calls, 'helper calls under ASID 1').to.be.lessThan(8);
    const thrown = thrownFromTranslated(p);
    const before = helpers.calls;
    expectHvc(runToExit(p), 0x104);
    expect(thrown, 'the fault was raised in translated code').to.deep.equal([GUEST_EXCEPTION]);
    const esr = Number(p.b.cpu.sysregs.get(SysReg.ESR_EL1));
    expect([esr >>> 26, (esr >>> 6) & 1, esr & 0x3c], 'EC, WnR, DFSC').to.deep.equal([0x25, 1, 0x0c]);
    expect(p.b.cpu.sysregs.get(SysReg.FAR_EL1)).to.equal(BigInt(DATA + 8));
    // The global page's load and store stayed inline; DATA's load walked (helper), its store faulted (helper).
    expect(helpers.calls - before, 'helper calls under ASID 2').to.equal(2);
  });

  it('EL0 and EL1 on one page: EL1 accesses inline, the same translated code at EL0 faults', () => {
    const USER = RAM_BASE + 0x20_0000, POKE = IMAGE + 0x800;
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${DATA}
      ldr x6, =${POKE}
      mov x2, #20
    1: blr x6
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      ldr x0, =${USER}
      msr elr_el1, x0
      msr spsr_el1, xzr
      eret
      .ltorg
      .org ${POKE - IMAGE}
      ldr x3, [x20, #8]
      add x3, x3, #1
      str x3, [x20, #8]
      ret`);
    // EL0 calls the same translated poke (block 0 is EL0-readable, so EL0 may execute it).
    const user = assembleRaw(tc, `
      mov x2, #3
    1: blr x6
      subs x2, x2, #1
      b.ne 1b
      svc #0`);
    const p = guestPair(code, { blocks: [AP_ALL_RO, AP_ALL_RO, AP_EL1_RW], extra: [[USER, user]] });
    const helpers = countHelpers(p.b.tier!);
    expectHvc(runToExit(p), 1);
    expect(helpers.calls, 'helper calls at EL1').to.be.lessThan(5);
    const thrown = thrownFromTranslated(p);
    expectHvc(runToExit(p), 0x108); // synchronous exception from EL0
    expect(thrown, 'the fault was raised in translated code').to.deep.equal([GUEST_EXCEPTION]);
    const esr = Number(p.b.cpu.sysregs.get(SysReg.ESR_EL1));
    expect([esr >>> 26, (esr >>> 6) & 1, esr & 0x3c], 'EC (lower EL), WnR (a load), DFSC').to.deep.equal([0x24, 0, 0x0c]);
  });

  it('MMU off, on over a remapped block, off again: accesses follow the regime (the mirror is dropped)', () => {
    // VA block 2 -> PA block 3 while the MMU is on; identity (PA block 2) while it is off.
    const code = assembleRaw(tc, `
      ldr x20, =${DATA}
      mov x5, #0
    round:
      mov x2, #15
    1: ldr x3, [x20, #8]
      add x3, x3, x2
      str x3, [x20, #8]
      add x9, x20, #0x100
      strb w2, [x9, x2]
      subs x2, x2, #1
      b.ne 1b
      add x5, x5, #1
      cmp x5, #1
      b.eq on
      cmp x5, #2
      b.eq off
      hvc #1
    on:
      ${mmuOn}
      b round
    off:
      mrs x0, sctlr_el1
      bic x0, x0, #1
      msr sctlr_el1, x0
      isb
      b round
      .ltorg`);
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW], extra: [[L2_TABLE + 16, blockBytes(DATA + 0x20_0000, AP_EL1_RW)]] });
    const helpers = countHelpers(p.b.tier!);
    expectHvc(runToExit(p), 1);
    const ram = new DataView(p.b.ram.buffer, p.b.ram.byteOffset);
    expect(ram.getBigUint64(DATA - RAM_BASE + 8, true), 'PA block 2: rounds 1 and 3').to.equal(2n * 120n);
    expect(ram.getBigUint64(DATA + 0x20_0000 - RAM_BASE + 8, true), 'PA block 3: round 2').to.equal(120n);
    // Rounds 1 and 3 (MMU off) take the helpers for the 3 accesses of every translated iteration.
    expect(helpers.calls, 'helper calls').to.be.within(2 * 14 * 3, 2 * 15 * 3 + 8);
  });

  it('a store into a page that became code (written inline before) reaches the code watch: the new code runs', () => {
    // The loop first fills `target` with `movz x0, #1; ret` through translated stores, runs it,
    // then rewrites its first word to `movz x0, #2` with the same translated store, and runs it again.
    const TARGET = DATA + 0x3000;
    const code = assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${TARGET}
      ldr w8, =0xd2800020         // movz x0, #1
      ldr w9, =0xd65f03c0         // ret
      ldr w10, =0xd2800040        // movz x0, #2
      mov x1, #0
      mov x2, #40
    1: cmp x2, #20
      csel w11, w10, w8, eq
      b.gt 2f
      cmp x2, #20
      b.ne 3f
    2: bl put
    3: blr x20
      add x1, x1, x0
      subs x2, x2, #1
      b.ne 1b
      hvc #1
    put:
      str w11, [x20]
      str w9, [x20, #4]
      ret
      .ltorg`);
    for (const budget of [1000, 3]) {
      const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW] });
      expectHvc(runToExit(p, budget), 1);
      // 20 calls of the first version, then 20 of the second.
      expect(p.b.cpu.s.x[2], 'x1').to.equal(20 * 1 + 20 * 2);
    }
  });
});

describe('translation tier: inline stores and other vCPUs\' exclusive reservations', function () {
  let tc: Toolchain;
  before(function () {
    tc = toolchainOrSkip(this);
  });

  it('LDXR/STXR of every size, pairs and acquire/release forms run inline on one vCPU, as interpreted', () => {
    // Atomic adds in a hot loop; a STXR with no reservation (after CLREX, after an SVC whose
    // entry clears the monitor, at another address) fails; a misaligned LDXR faults (vector 4).
    const code = assembleRaw(tc, `
      ${mmuOn}
      adr x0, vectors
      msr vbar_el1, x0
      ldr x20, =${DATA}
      add x24, x20, #8
      add x25, x20, #17
      add x26, x20, #18
      add x27, x20, #32
      add x28, x20, #48
      add x19, x20, #64
      mov x2, #50
    1: ldxr x3, [x20]
      add x3, x3, x2
      stxr w4, x3, [x20]
      add x9, x9, x4
      ldaxr w3, [x24]
      add w3, w3, #3
      stlxr w4, w3, [x24]
      add x9, x9, x4
      ldxrb w3, [x25]
      add w3, w3, #1
      stxrb w4, w3, [x25]
      add x9, x9, x4
      ldxrh w3, [x26]
      add w3, w3, #5
      stlxrh w4, w3, [x26]
      add x9, x9, x4
      ldxp x5, x6, [x27]
      add x5, x5, #1
      add x6, x6, x5
      stxp w4, x5, x6, [x27]
      add x9, x9, x4
      ldaxp w5, w6, [x28]
      add w5, w5, #7
      stlxp w4, w5, w6, [x28]
      add x9, x9, x4
      ldxr x3, [x20]
      clrex
      stxr w4, x3, [x20]         // fails: CLREX
      add x10, x10, x4
      ldxr x3, [x20]
      stxr w4, x3, [x19]         // fails: another address
      add x10, x10, x4
      ldxr x3, [x20]
      svc #0                     // the exception entry clears the monitor
      stxr w4, x3, [x20]         // fails
      add x10, x10, x4
      subs x2, x2, #1
      b.ne 1b
      add x21, x20, #4
      ldxr x3, [x21]             // misaligned: alignment fault
      hvc #1
      .ltorg
      .balign 0x800
    vectors:
      .org vectors + 0x200       // current EL, SP_ELx, synchronous
      mrs x22, esr_el1
      lsr x23, x22, #26
      cmp x23, #0x15             // SVC: return after it
      b.ne 2f
      eret
    2: hvc #0x104`);
    const data: [number, Uint8Array][] = [[DATA, randomData(7, 0x100)]];
    const p = guestPair(code, { blocks: [AP_EL1_RW, AP_EL1_RW, AP_EL1_RW], extra: data });
    const exclusives = countCalls(p.b.tier!, ['interp'], { args: ([insn]) => (insn & 0x3f800000) === 0x08000000 });
    const exit = runToExit(p);
    expectHvc(exit, 0x104);
    const x = (n: number) => p.b.cpu.s.x[2 * n];
    expect(x(9), 'failed STXRs of the atomic adds').to.equal(0);
    expect(x(10), 'failed STXRs without a reservation').to.equal(3 * 50);
    expect((x(22) >>> 26) & 0x3f, 'alignment fault (data abort)').to.equal(0x25);
    expect(p.b.tier!.stats.translatedInstructions / p.b.cpu.instructionsRetired, 'share translated').to.be.greaterThan(0.8);
    // 16 exclusives per iteration: only the misaligned one needs the interpreter.
    expect(exclusives.calls, 'exclusives in the interpreter helper').to.be.at.most(1);
  });

  it('LDXR on one vCPU, a translated plain store by the other, STXR on the first fails', () => {
    const RAM_SIZE = 8 << 20, LOCK = DATA + 0x100;
    const ram = allocateRam(RAM_SIZE, 2 * STATE_AREA_BYTES);
    const mem = new PhysicalMemory();
    mem.map(ram, RAM_BASE, MemoryFlags.RWX);
    const code = new CodePages();
    const cpus = [0, 1].map((i) => new Cpu(mem, i, claimStateArea(ram)));
    for (const c of cpus) c.peers = cpus;
    const tiers = cpus.map((c) => { const t = new Translator(c, code, { threshold: 1, batchSize: 1 }); c.tier = t; return t; });
    expect(cpus.every((c) => c.mmu.mirrored), 'both states in the arena').to.equal(true);
    // Vectors: hvc #0x100+i; tables for vCPU 1's MMU.
    const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    for (let i = 0; i < 16; i++) dv.setUint32(i * 0x80, (HVC0 | ((0x100 + i) << 5)) >>> 0, true);
    writeTables(ram, L1_TABLE, L2_TABLE, [[RAM_BASE, AP_EL1_RW], [RAM_BASE + 0x20_0000, AP_EL1_RW], [DATA, AP_EL1_RW]]);
    const A = IMAGE, B = IMAGE + 0x4000;
    ram.set(assembleRaw(tc, `
      ldr x20, =${LOCK}
      ldxr x1, [x20]
      hvc #1
      add x1, x1, #1
      stxr w3, x1, [x20]
      hvc #2
      .ltorg`), A - RAM_BASE);
    ram.set(assembleRaw(tc, `
      ${mmuOn}
      ldr x20, =${LOCK}
      mov x2, #20
    1: bl poke
      subs x2, x2, #1
      b.ne 1b
      hvc #1
      bl poke
      hvc #2
    poke:
      str x2, [x20]
      ret
      .ltorg`), B - RAM_BASE);
    cpus.forEach((c, i) => {
      c.sysregs.set(SysReg.VBAR_EL1, BigInt(RAM_BASE));
      c.setPstate(0x3c5);
      c.s.pcLo = i === 0 ? A : B; c.s.pcHi = 0;
    });
    const helpers = countHelpers(tiers[1]);
    const run = (c: Cpu, imm: number) => {
      const e = c.runBatch(100_000);
      expect(e && (e.syndrome >>> 26) === 0x16 ? e.syndrome & 0xffff : e, `vCPU ${c.index} exit`).to.equal(imm);
    };
    run(cpus[1], 1); // poke translated, its store inline
    expect(helpers.calls, 'vCPU 1 helper calls before the reservation').to.be.lessThan(3);
    run(cpus[0], 1); // LDXR: vCPU 0 holds a reservation on LOCK
    expect(cpus[1].s.peerMonitors[0], 'reservations vCPU 1 sees').to.equal(1);
    cpus[0].eventRegister = false;
    const calls = helpers.calls;
    run(cpus[1], 2); // the translated store to LOCK
    expect(helpers.calls - calls, 'the store took the helper').to.equal(1);
    expect(cpus[0].exclusiveAddr, 'vCPU 0 reservation').to.equal(-1);
    expect(cpus[0].eventRegister, 'WFE event on vCPU 0').to.equal(true);
    run(cpus[0], 2);
    expect(cpus[0].s.x[6], 'STXR status').to.equal(1);
    expect(dv.getUint32(LOCK - RAM_BASE, true), 'LOCK holds vCPU 1\'s store').to.equal(0);
    expect(cpus[1].s.peerMonitors[0], 'no reservation left').to.equal(0);
    expect(tiers[1].stats.translatedInstructions, 'vCPU 1 translated').to.be.greaterThan(40);
  });
});

describe('guest RAM arena for vCPU state', () => {
  it('allocateRam gives exactly the RAM; the tail holds a state area for every vCPU', () => {
    const ram = allocateRam(1 << 20);
    expect(ram.length).to.equal(1 << 20);
    const arena = wasmArenaOf(ram)!;
    expect(arena.tail).to.equal(1 << 20);
    expect(arena.memory.buffer.byteLength).to.equal((1 << 20) + WASM_ARENA_BYTES);
    expect(Math.floor(arena.tailBytes / STATE_AREA_BYTES), 'areas').to.be.at.least(MAX_VCPUS);
    const areas = Array.from({ length: MAX_VCPUS }, () => claimStateArea(ram)!);
    expect(new Set(areas.map((a) => a.base)).size).to.equal(MAX_VCPUS);
    expect(areas.every((a) => a.base >= arena.tail && a.base + STATE_AREA_BYTES <= arena.memory.buffer.byteLength)).to.equal(true);
    releaseStateArea(ram, areas[3]);
    expect(claimStateArea(ram)!.base, 'a released area is reused').to.equal(areas[3].base);
    expect(wasmArenaOf(allocateRam(1 << 20, 0)), 'no tail asked for').to.equal(undefined);
  });

  it('a VM keeps translating vCPUs\' state in its RAM\'s arena, and in their own memory without one', async () => {
    const accel = new EmuAccelerator({ translate: { threshold: 2 } });
    const mirrored = async (ram: Uint8Array) => {
      const vm = accel.createVm();
      vm.map(ram, RAM_BASE, MemoryFlags.RWX);
      const vcpu = await vm.createVcpu();
      const cpu = (vcpu as unknown as { cpu: Cpu }).cpu;
      const inArena = cpu.mmu.mirrored && cpu.s.memory.buffer === ram.buffer;
      await vm.destroy();
      return inArena;
    };
    expect(await mirrored(allocateRam(1 << 20))).to.equal(true);
    expect(await mirrored(new Uint8Array(1 << 20))).to.equal(false);
    expect(await mirrored(allocateRam(1 << 20, 0))).to.equal(false);
  });
});
