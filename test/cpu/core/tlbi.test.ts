// Selective TLB invalidation of the software CPU: in every test the guest fills its TLB
// through a mapping, the leaf descriptor then changes in memory (a guest store, or the test
// between runs), the guest issues a TLBI by VA or by ASID, and its next access must see the
// new translation: 4K pages, every 4K slice of a 2 MiB or 32 MiB block, 16K and 64K pages,
// the kernel half, ASIDs of 8 and 16 bits, tagged pointers, a broadcast from another vCPU
// and code the translation tier had translated. A TLBI by VA of a block drops that block's
// slices and no others (blocks of every size the walker fills, slots another leaf took over,
// a TLB emptied and filled again): a neighbour whose descriptor changed without a TLBI keeps
// its old translation, which the architecture allows.
import { expect } from 'chai';
import { EmuAccelerator, type EmuOptions } from '../../../src/accel/emu/accelerator.ts';
import type { EmuVcpu } from '../../../src/accel/emu/vcpu.ts';
import type { Translator } from '../../../src/accel/emu/translator/tier.ts';
import { ExitReason, MemoryFlags, Reg, type Vcpu, type Vm } from '../../../src/accel/types.ts';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { allocateRam } from '../../../src/memory/ram.ts';
import { assembleRaw, findToolchain, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import { NG, TableBuilder, TableMemory, leafDescriptor } from '../../helpers/aarch64-page-tables.ts';

const RAM = 0x4000_0000;
const RAM_SIZE = 64 << 20;
const CODE = RAM;
const VECTORS = RAM + 0x1_0000;
const TABLES = RAM + 0x2_0000;
/** Code, vectors and tables: identity mapped (global), so the guest can rewrite descriptors. */
const LOW_END = RAM + 0x20_0000;
const PAGE_A = RAM + 0x40_0000;
const PAGE_B = RAM + 0x50_0000;
const PAGE_C = RAM + 0x60_0000;
const BLOCK_A = RAM + 0x80_0000;
const BLOCK_B = RAM + 0xa0_0000;
const BLOCK_C = RAM + 0xc0_0000;
const BLOCK_D = RAM + 0xe0_0000;
const DATA_VA = 0x12_3400_0000; // 32 MiB aligned, below 2^42 so every granule here maps it
const KERNEL_VA = 0xffff_8000_1240_0000n; // TTBR1: VA[55] = 1
const SCTLR_MMU_ON = 0x30d0_0800n | 1n | (1n << 2n) | (1n << 12n);

interface Granule { name: string; bits: number; tg0: bigint; tsz: number }
const G4K: Granule = { name: '4K', bits: 12, tg0: 0b00n, tsz: 16 };
const G16K: Granule = { name: '16K', bits: 14, tg0: 0b10n, tsz: 17 };
const G64K: Granule = { name: '64K', bits: 16, tg0: 0b01n, tsz: 22 };

const TCR_EPD1 = 1n << 23n;
const TCR_AS16 = 1n << 36n;
const TCR_TBI0 = 1n << 37n;
/** TTBR1 with a 4K granule and a 48-bit VA (T1SZ = 16, TG1 = 0b10). */
const TCR_KERNEL_4K = (16n << 16n) | (0b10n << 30n);

/** TLBI operand from the VA in `va` (Xt[43:0] = VA[55:12]) and bits 63:44 from `high` if given, then the barriers. */
const tlbiVa = (insn: string, va: string, high?: string): string => `
  ubfx x9, ${va}, #12, #44
  ${high ? `orr x9, x9, ${high}` : ''}
  ${insn}, x9
  dsb ish
  isb`;

/** Every TLBI by VA the MMU handles selectively. */
const VA_FORMS = ['vae1is', 'vale1is', 'vaae1is', 'vaale1is', 'vae1', 'vale1', 'vaae1', 'vaale1', 'vae1os', 'vaale1os'];

interface GuestOptions {
  granule?: Granule;
  /** TCR_EL1 bits besides T0SZ, TG0 and IPS; default TCR_EPD1 (no TTBR1 walks). */
  tcr?: bigint;
  vcpus?: number;
  accel?: EmuOptions;
}

/** A VM whose vCPUs start at EL1 with the MMU on over tables the test builds. */
class Guest {
  readonly vm: Vm;
  readonly view: DataView;
  readonly tables: TableMemory;
  readonly granule: Granule;
  /** The tree TTBR0 points at (ASID 0). */
  readonly user: TableBuilder;
  /** The TTBR1 tree (4K, 48-bit). */
  readonly kernel: TableBuilder;
  vcpus: Vcpu[] = [];

  constructor(code: Uint8Array, private readonly opts: GuestOptions) {
    this.granule = opts.granule ?? G4K;
    this.vm = new EmuAccelerator(opts.accel).createVm();
    const ram = allocateRam(RAM_SIZE);
    this.vm.map(ram, RAM, MemoryFlags.RWX);
    this.view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
    ram.set(code, CODE - RAM);
    // Every vector reports with HVC #(0x100 + its index); toHvc prints ESR and FAR.
    for (let v = 0; v < 16; v++) this.view.setUint32(VECTORS - RAM + v * 0x80, (0xd4000002 | ((0x100 + v) << 5)) >>> 0, true);
    this.tables = new TableMemory(this.view, RAM, TABLES, LOW_END);
    this.user = this.addressSpace();
    this.kernel = new TableBuilder(this.tables, 12, 16);
  }

  /** A new TTBR0 tree holding the identity map of the low region. */
  addressSpace(): TableBuilder {
    const t = new TableBuilder(this.tables, this.granule.bits, this.granule.tsz);
    for (let pa = RAM; pa < LOW_END; pa += 1 << this.granule.bits) t.map(pa, pa);
    return t;
  }

  /** Create the vCPUs, all alike but for the PC: vCPU n starts at CODE + 4n. */
  async start(): Promise<Vcpu[]> {
    const g = this.granule;
    const tcr = BigInt(g.tsz) | (g.tg0 << 14n) | (2n << 32n) | (this.opts.tcr ?? TCR_EPD1);
    for (let n = 0; n < (this.opts.vcpus ?? 1); n++) {
      const v = await this.vm.createVcpu();
      v.setSysReg(SysReg.MAIR_EL1, 0xffn);
      v.setSysReg(SysReg.TCR_EL1, tcr);
      v.setSysReg(SysReg.TTBR0_EL1, BigInt(this.user.root));
      v.setSysReg(SysReg.TTBR1_EL1, BigInt(this.kernel.root));
      v.setSysReg(SysReg.VBAR_EL1, BigInt(VECTORS));
      v.setSysReg(SysReg.SCTLR_EL1, SCTLR_MMU_ON);
      v.setReg(Reg.CPSR, 0x3c5n);
      v.setReg(Reg.PC, BigInt(CODE + 4 * n));
      this.vcpus.push(v);
    }
    return this.vcpus;
  }

  /** Put a u64 naming its own physical address at pa: a load shows which PA it reached. */
  mark(...pas: number[]): void {
    for (const pa of pas) this.view.setBigUint64(pa - RAM, BigInt(pa), true);
  }

  /** Point the leaf descriptor at `at` to `pa`, as a device's DMA would (no guest store). */
  remap(at: number, pa: number, attrs = 0n, level = 3): void {
    this.tables.write(at, leafDescriptor(pa, attrs, level));
  }

  destroy(): Promise<void> { return this.vm.destroy(); }
}

function setRegs(v: Vcpu, regs: Record<number, number | bigint>): void {
  for (const [r, value] of Object.entries(regs)) v.setReg(Number(r) as Reg, BigInt.asUintN(64, BigInt(value)));
}

/** Run until `hvc #imm`; any other exit (a fault reaching a vector) fails with its syndrome. */
async function toHvc(v: Vcpu, imm: number): Promise<void> {
  const exit = await v.run();
  const where = `PC 0x${v.getReg(Reg.PC).toString(16)} ESR_EL1 0x${v.getSysReg(SysReg.ESR_EL1).toString(16)} FAR_EL1 0x${v.getSysReg(SysReg.FAR_EL1).toString(16)}`;
  expect(exit.reason, where).to.equal(ExitReason.Exception);
  expect(Number((exit.syndrome >> 26n) & 0x3fn), where).to.equal(0x16);
  expect(Number(exit.syndrome & 0xffffn), where).to.equal(imm);
}

const x = (v: Vcpu, n: number): bigint => v.getReg(n as Reg);

describe('software CPU: TLBI by VA and by ASID', function () {
  this.timeout(20_000);
  let tc: Toolchain;
  const asm = (source: string): Uint8Array => assembleRaw(tc, source, ['-march=armv8.4-a']);

  before(function () {
    const { toolchain, reason } = findToolchain();
    if (!toolchain) {
      console.log(`      skipped: ${reason}`);
      this.skip();
    }
    tc = toolchain!;
  });

  it('4K page: TLBI VAE1IS of the page shows the new PA; a neighbour page stays right throughout', async () => {
    const g = new Guest(asm(`
      ldr x10, [x20]
      ldr x11, [x21]
      hvc #1
      ${tlbiVa('tlbi vae1is', 'x21')}
      ldr x11, [x21]
      hvc #2
      ${tlbiVa('tlbi vae1is', 'x20')}
      ldr x10, [x20]
      ldr x11, [x21]
      hvc #3`), {});
    const p = g.user.map(DATA_VA, PAGE_A);
    g.user.map(DATA_VA + 0x1000, PAGE_C);
    g.mark(PAGE_A + 0x10, PAGE_B + 0x10, PAGE_C + 0x20);
    const [v] = await g.start();
    setRegs(v, { [Reg.X20]: DATA_VA + 0x10, [Reg.X21]: DATA_VA + 0x1020 });
    await toHvc(v, 1);
    expect(x(v, 10)).to.equal(BigInt(PAGE_A + 0x10));
    expect(x(v, 11)).to.equal(BigInt(PAGE_C + 0x20));
    g.remap(p, PAGE_B);
    await toHvc(v, 2);
    expect(x(v, 11), 'the neighbour after a TLBI of itself').to.equal(BigInt(PAGE_C + 0x20));
    await toHvc(v, 3);
    expect(x(v, 10), 'the remapped page').to.equal(BigInt(PAGE_B + 0x10));
    expect(x(v, 11), 'the neighbour').to.equal(BigInt(PAGE_C + 0x20));
    await g.destroy();
  });

  // The guest reads two slices of a block, stores a descriptor for another PA and issues the
  // TLBI (by VA: the VA in x24, operand bits 63:44 in x25); both slices must then read from the new PA.
  const blockProgram = (insn: string): string => `
      ldr x10, [x20]
      ldr x11, [x21]
      str x23, [x22]
      dsb ishst
      ${/vmalle1/.test(insn) ? `${insn}\n dsb ish\n isb` : tlbiVa(insn, 'x24', 'x25')}
      ldr x12, [x21]
      ldr x13, [x20]
      hvc #1`;

  async function blockCase(insn: string, half: 'user' | 'kernel', tlbiOffset: number): Promise<void> {
    const g = new Guest(asm(blockProgram(insn)), { tcr: half === 'kernel' ? TCR_KERNEL_4K : TCR_EPD1 });
    const base = half === 'kernel' ? KERNEL_VA : BigInt(DATA_VA);
    const at = (half === 'kernel' ? g.kernel : g.user).map(base, BLOCK_A, 0n, 2);
    const lo = 0x3008, hi = 0x1f_0018; // two 4K slices of the block
    g.mark(BLOCK_A + lo, BLOCK_A + hi, BLOCK_B + lo, BLOCK_B + hi);
    const [v] = await g.start();
    // The TTL hint (4K granule, level 2) and, where the form takes one, an ASID the global block matches.
    const high = (0b0110n << 44n) | (/tlbi vaa/.test(insn) ? 0n : 0x5an << 48n);
    setRegs(v, { [Reg.X20]: base + BigInt(lo), [Reg.X21]: base + BigInt(hi), [Reg.X22]: at, [Reg.X23]: leafDescriptor(BLOCK_B, 0n, 2), [Reg.X24]: base + BigInt(tlbiOffset), [Reg.X25]: high });
    await toHvc(v, 1);
    expect(x(v, 10)).to.equal(BigInt(BLOCK_A + lo));
    expect(x(v, 11)).to.equal(BigInt(BLOCK_A + hi));
    expect(x(v, 12), 'the slice the TLBI did not name').to.equal(BigInt(BLOCK_B + hi));
    expect(x(v, 13), 'the slice the TLBI named').to.equal(BigInt(BLOCK_B + lo));
    await g.destroy();
  }

  for (const half of ['user', 'kernel'] as const) {
    for (const form of VA_FORMS) {
      it(`2 MiB block (${half === 'user' ? 'TTBR0' : 'TTBR1, VA 0xffff...'}): TLBI ${form.toUpperCase()} of one slice drops the other slices`, async () => {
        await blockCase(`tlbi ${form}`, half, 0x3000);
      });
    }
  }

  it('2 MiB block: TLBI VMALLE1IS and VMALLE1 drop every slice', async () => {
    for (const insn of ['tlbi vmalle1is', 'tlbi vmalle1']) {
      await blockCase(insn, 'user', 0);
      await blockCase(insn, 'kernel', 0);
    }
  });

  it('2 MiB block: TLBI VAE1IS of a slice never touched drops the touched ones', async () => {
    await blockCase('tlbi vae1is', 'user', 0x10_0000);
    await blockCase('tlbi vae1is', 'kernel', 0x1f_f000);
  });

  it('16K granule, 32 MiB block: TLBI VAE1IS of one slice drops the others', async () => {
    const g = new Guest(asm(blockProgram('tlbi vae1is')), { granule: G16K });
    const blockA = RAM, blockB = RAM + 0x200_0000; // 32 MiB aligned
    const at = g.user.map(DATA_VA, blockA, 0n, 2);
    const lo = 0x150_0008, hi = 0x1a3_4010;
    g.mark(blockA + lo, blockA + hi, blockB + lo, blockB + hi);
    const [v] = await g.start();
    setRegs(v, { [Reg.X20]: DATA_VA + lo, [Reg.X21]: DATA_VA + hi, [Reg.X22]: at, [Reg.X23]: leafDescriptor(blockB, 0n, 2), [Reg.X24]: DATA_VA + lo, [Reg.X25]: 0b1010n << 44n });
    await toHvc(v, 1);
    expect(x(v, 10)).to.equal(BigInt(blockA + lo));
    expect(x(v, 11)).to.equal(BigInt(blockA + hi));
    expect(x(v, 12), 'the slice the TLBI did not name').to.equal(BigInt(blockB + hi));
    expect(x(v, 13)).to.equal(BigInt(blockB + lo));
    await g.destroy();
  });

  // Block X (three slices read) and its neighbour Y (one slice read); then both descriptors
  // become tables mapping each slice `delta` higher, without a TLBI (the test, between runs).
  // A TLBI VAE1IS of a slice of X nobody read must drop every cached slice of X, so they walk
  // the new table, and only those: Y keeps its old translation until a TLBI names it.
  interface SplitCase { granule: Granule; level: number; va: number; pa: number; slices: number[]; ySlice: number; delta: number }
  const splitCases: Record<string, SplitCase> = {
    '4K granule, 2 MiB block': { granule: G4K, level: 2, va: DATA_VA, pa: BLOCK_A, slices: [0x3008, 0x10_0010, 0x1f_f018], ySlice: 0x8_0020, delta: 0x40_0000 },
    '4K granule, 1 GiB block': { granule: G4K, level: 1, va: 0x12_4000_0000, pa: RAM, slices: [0x30_3008, 0x150_0010, 0x1ff_f018], ySlice: 0x88_0020, delta: 0x200_0000 },
    '16K granule, 32 MiB block': { granule: G16K, level: 2, va: DATA_VA, pa: RAM, slices: [0x30_3008, 0x150_0010, 0x1ff_f018], ySlice: 0x88_0020, delta: 0x200_0000 },
    '64K granule, 512 MiB block': { granule: G64K, level: 2, va: 0x12_4000_0000, pa: RAM, slices: [0x30_3008, 0x150_0010, 0x1ff_f018], ySlice: 0x88_0020, delta: 0x200_0000 },
  };
  for (const [name, c] of Object.entries(splitCases)) {
    it(`${name}: TLBI VAE1IS drops every cached slice of the block and none of the next block`, async () => {
      const g = new Guest(asm(`
        ldr x10, [x20]
        ldr x11, [x21]
        ldr x12, [x22]
        ldr x13, [x23]
        hvc #1
        ${tlbiVa('tlbi vae1is', 'x24')}
        ldr x14, [x20]
        ldr x15, [x21]
        ldr x16, [x22]
        ldr x17, [x23]
        hvc #2`), { granule: c.granule });
      const size = g.user.leafSize(c.level), next = g.user.leafSize(c.level + 1);
      const atX = g.user.map(c.va, c.pa, 0n, c.level), atY = g.user.map(c.va + size, c.pa, 0n, c.level);
      /** The table replacing a block: the slices at `offsets` mapped `delta` higher. */
      const split = (offsets: number[]): bigint => {
        const table = g.tables.alloc(1 << c.granule.bits);
        for (const o of offsets) {
          const index = Math.floor(o / next) % 2 ** (c.granule.bits - 3);
          g.tables.write(table + index * 8, leafDescriptor(c.pa + o - (o % next) + c.delta, 0n, c.level + 1));
        }
        return BigInt(table) | 0b11n;
      };
      const newX = split(c.slices), newY = split([c.ySlice]);
      for (const o of [...c.slices, c.ySlice]) g.mark(c.pa + o, c.pa + o + c.delta);
      const [v] = await g.start();
      setRegs(v, {
        [Reg.X20]: c.va + c.slices[0], [Reg.X21]: c.va + c.slices[1], [Reg.X22]: c.va + c.slices[2],
        [Reg.X23]: c.va + size + c.ySlice, [Reg.X24]: c.va + size / 2 + 0x5000,
      });
      await toHvc(v, 1);
      c.slices.forEach((o, k) => expect(x(v, 10 + k), `slice +0x${o.toString(16)}`).to.equal(BigInt(c.pa + o)));
      expect(x(v, 13), 'the next block').to.equal(BigInt(c.pa + c.ySlice));
      g.tables.write(atX, newX);
      g.tables.write(atY, newY);
      await toHvc(v, 2);
      c.slices.forEach((o, k) => expect(x(v, 14 + k), `slice +0x${o.toString(16)} after the TLBI`).to.equal(BigInt(c.pa + o + c.delta)));
      expect(x(v, 17), 'the next block, changed without a TLBI: still cached').to.equal(BigInt(c.pa + c.ySlice));
      await g.destroy();
    });
  }

  it('2 MiB block: slices whose TLB slots a slice of another block and a 4K page took over leave the block', async () => {
    // X's slices at +0x3010 and +0x5018 lose their slots to block Z (16 MiB higher, same slot)
    // and page P (32 MiB higher); a TLBI of X must then still drop X's other slices, and
    // neither Z's nor P's entry.
    const Z = DATA_VA + 0x100_0000, P = DATA_VA + 0x200_5000;
    const slices = [0x1_0008, 0x3010, 0x5018, 0x1f_f020];
    const g = new Guest(asm(`
      ldr x10, [x20]
      ldr x11, [x21]
      ldr x12, [x22]
      ldr x13, [x23]
      ldr x14, [x25]
      ldr x15, [x26]
      hvc #1
      ${tlbiVa('tlbi vae1is', 'x24')}
      ldr x6, [x25] // before X's slices take the slots back
      ldr x7, [x26]
      ldr x16, [x20]
      ldr x17, [x21]
      ldr x18, [x22]
      ldr x19, [x23]
      hvc #2`), {});
    const atX = g.user.map(DATA_VA, BLOCK_A, 0n, 2), atZ = g.user.map(Z, BLOCK_C, 0n, 2), atP = g.user.map(P, PAGE_A);
    for (const o of slices) g.mark(BLOCK_A + o, BLOCK_B + o);
    g.mark(BLOCK_C + 0x3010, BLOCK_D + 0x3010, PAGE_A + 0x18, PAGE_B + 0x18);
    const [v] = await g.start();
    setRegs(v, {
      [Reg.X20]: DATA_VA + slices[0], [Reg.X21]: DATA_VA + slices[1], [Reg.X22]: DATA_VA + slices[2], [Reg.X23]: DATA_VA + slices[3],
      [Reg.X25]: Z + 0x3010, [Reg.X26]: P + 0x18, [Reg.X24]: DATA_VA + 0x8_0000,
    });
    await toHvc(v, 1);
    slices.forEach((o, k) => expect(x(v, 10 + k)).to.equal(BigInt(BLOCK_A + o)));
    expect(x(v, 14)).to.equal(BigInt(BLOCK_C + 0x3010));
    expect(x(v, 15)).to.equal(BigInt(PAGE_A + 0x18));
    g.remap(atX, BLOCK_B, 0n, 2);
    g.remap(atZ, BLOCK_D, 0n, 2);
    g.remap(atP, PAGE_B);
    await toHvc(v, 2);
    slices.forEach((o, k) => expect(x(v, 16 + k), `slice +0x${o.toString(16)} after the TLBI`).to.equal(BigInt(BLOCK_B + o)));
    expect(x(v, 6), 'block Z, changed without a TLBI: still cached').to.equal(BigInt(BLOCK_C + 0x3010));
    expect(x(v, 7), 'page P, changed without a TLBI: still cached').to.equal(BigInt(PAGE_A + 0x18));
    await g.destroy();
  });

  for (const flush of ['tlbi vmalle1is', 'tlbi aside1is, x5']) {
    it(`2 MiB block: slices filled again after ${flush.split(',')[0].toUpperCase()} all go on a TLBI VAE1IS`, async () => {
      const g = new Guest(asm(`
        ldr x10, [x20]
        ldr x11, [x21]
        ${flush}
        dsb ish
        isb
        ldr x10, [x21]
        ldr x11, [x20]
        str x23, [x22]
        dsb ishst
        ${tlbiVa('tlbi vae1is', 'x24')}
        ldr x12, [x21]
        ldr x13, [x20]
        hvc #1`), {});
      const at = g.user.map(DATA_VA, BLOCK_A, NG, 2);
      const lo = 0x3008, hi = 0x1f_0018;
      g.mark(BLOCK_A + lo, BLOCK_A + hi, BLOCK_B + lo, BLOCK_B + hi);
      const [v] = await g.start();
      setRegs(v, { [Reg.X5]: 0, [Reg.X20]: DATA_VA + lo, [Reg.X21]: DATA_VA + hi, [Reg.X22]: at, [Reg.X23]: leafDescriptor(BLOCK_B, NG, 2), [Reg.X24]: DATA_VA + 0x10_0000 });
      await toHvc(v, 1);
      expect(x(v, 10)).to.equal(BigInt(BLOCK_A + hi));
      expect(x(v, 11)).to.equal(BigInt(BLOCK_A + lo));
      expect(x(v, 12)).to.equal(BigInt(BLOCK_B + hi));
      expect(x(v, 13)).to.equal(BigInt(BLOCK_B + lo));
      await g.destroy();
    });
  }

  for (const [granule, middle] of [[G16K, 0x2000], [G64K, 0x9000]] as const) {
    it(`${granule.name} page: TLBI VAE1IS of the page base drops the 4K slice at +0x${middle.toString(16)}`, async () => {
      const g = new Guest(asm(`
        ldr x10, [x20]
        ldr x11, [x21]
        hvc #1
        ${tlbiVa('tlbi vae1is', 'x24')}
        ldr x12, [x21]
        ldr x13, [x20]
        hvc #2`), { granule });
      const at = g.user.map(DATA_VA, PAGE_A);
      const last = (1 << granule.bits) - 8;
      g.mark(PAGE_A + middle, PAGE_A + last, PAGE_B + middle, PAGE_B + last);
      const [v] = await g.start();
      setRegs(v, { [Reg.X20]: DATA_VA + last, [Reg.X21]: DATA_VA + middle, [Reg.X24]: DATA_VA });
      await toHvc(v, 1);
      expect(x(v, 10)).to.equal(BigInt(PAGE_A + last));
      expect(x(v, 11)).to.equal(BigInt(PAGE_A + middle));
      g.remap(at, PAGE_B);
      await toHvc(v, 2);
      expect(x(v, 12), 'the slice in the middle').to.equal(BigInt(PAGE_B + middle));
      expect(x(v, 13), 'the last slice').to.equal(BigInt(PAGE_B + last));
      await g.destroy();
    });
  }

  // ASIDs 0x101 and 0x201 differ only above bit 7: with 16-bit ASIDs they must stay apart.
  // Each ASID maps its own VA (one VA would share a TLB slot, the other ASID's fill evicting it).
  for (const [bits, asidA, asidB, tcr] of [[8, 1, 2, TCR_EPD1], [16, 0x101, 0x201, TCR_EPD1 | TCR_AS16]] as const) {
    it(`${bits}-bit ASIDs: TLBI ASIDE1IS from another ASID drops that ASID's non-global entries`, async () => {
      const g = new Guest(asm(`
        msr ttbr0_el1, x3
        isb
        ldr x10, [x20]
        msr ttbr0_el1, x4
        isb
        ldr x11, [x21]
        hvc #1
        // Still under ASID B: invalidate ASID A, whose table changed.
        tlbi aside1is, x5
        dsb ish
        isb
        ldr x12, [x21]
        msr ttbr0_el1, x3
        isb
        ldr x13, [x20]
        msr ttbr0_el1, x4
        isb
        ldr x14, [x21]
        hvc #2`), { tcr });
      const a = g.addressSpace(), b = g.addressSpace();
      const atA = a.map(DATA_VA, PAGE_A, NG);
      b.map(DATA_VA + 0x1000, PAGE_C, NG);
      g.mark(PAGE_A, PAGE_B, PAGE_C);
      const [v] = await g.start();
      const ttbr = (t: TableBuilder, asid: number) => (BigInt(asid) << 48n) | BigInt(t.root);
      setRegs(v, { [Reg.X3]: ttbr(a, asidA), [Reg.X4]: ttbr(b, asidB), [Reg.X5]: BigInt(asidA) << 48n, [Reg.X20]: DATA_VA, [Reg.X21]: DATA_VA + 0x1000 });
      await toHvc(v, 1);
      expect(x(v, 10), 'ASID A').to.equal(BigInt(PAGE_A));
      expect(x(v, 11), 'ASID B').to.equal(BigInt(PAGE_C));
      g.remap(atA, PAGE_B, NG);
      await toHvc(v, 2);
      expect(x(v, 12), 'ASID B after the TLBI').to.equal(BigInt(PAGE_C));
      expect(x(v, 13), 'ASID A after the TLBI').to.equal(BigInt(PAGE_B));
      expect(x(v, 14), 'ASID B again').to.equal(BigInt(PAGE_C));
      await g.destroy();
    });
  }

  it('TBI: TLBI VAE1IS of the untagged VA drops what a tagged pointer filled', async () => {
    const g = new Guest(asm(`
      ldr x10, [x20]
      hvc #1
      ${tlbiVa('tlbi vae1is', 'x24')}
      ldr x11, [x20]
      ldr x12, [x21]
      hvc #2`), { tcr: TCR_EPD1 | TCR_TBI0 });
    const at = g.user.map(DATA_VA, PAGE_A);
    g.mark(PAGE_A + 0x10, PAGE_B + 0x10);
    const [v] = await g.start();
    const tagged = (tag: bigint) => (tag << 56n) | BigInt(DATA_VA + 0x10);
    setRegs(v, { [Reg.X20]: tagged(0x5an), [Reg.X21]: tagged(0x33n), [Reg.X24]: DATA_VA });
    await toHvc(v, 1);
    expect(x(v, 10)).to.equal(BigInt(PAGE_A + 0x10));
    g.remap(at, PAGE_B);
    await toHvc(v, 2);
    expect(x(v, 11), 'the same tag').to.equal(BigInt(PAGE_B + 0x10));
    expect(x(v, 12), 'another tag').to.equal(BigInt(PAGE_B + 0x10));
    await g.destroy();
  });

  describe('two vCPUs of one VM', () => {
    it('TLBI VAE1IS from vCPU 0 drops the entry vCPU 1 filled', async () => {
      const g = new Guest(asm(`
        b cpu0
        b cpu1
      cpu1:
        ldr x10, [x20]
        hvc #1
        ldr x11, [x20]
        hvc #2
      cpu0:
        str x23, [x22]
        dsb ishst
        ${tlbiVa('tlbi vae1is', 'x20')}
        hvc #1`), { vcpus: 2 });
      const at = g.user.map(DATA_VA, PAGE_A);
      g.mark(PAGE_A, PAGE_B);
      const [v0, v1] = await g.start();
      for (const v of [v0, v1]) setRegs(v, { [Reg.X20]: DATA_VA, [Reg.X22]: at, [Reg.X23]: leafDescriptor(PAGE_B, 0n, 3) });
      await toHvc(v1, 1);
      expect(x(v1, 10)).to.equal(BigInt(PAGE_A));
      await toHvc(v0, 1);
      await toHvc(v1, 2);
      expect(x(v1, 11), 'vCPU 1 after the broadcast').to.equal(BigInt(PAGE_B));
      await g.destroy();
    });

    it('the local TLBI VAE1 drops the entry from the issuing vCPU', async () => {
      const g = new Guest(asm(`
        b cpu0
        b cpu1
      cpu1:
        ldr x10, [x20]
        hvc #1
      cpu0:
        ldr x10, [x20]
        str x23, [x22]
        dsb nshst
        ${tlbiVa('tlbi vae1', 'x20')}
        ldr x11, [x20]
        hvc #1`), { vcpus: 2 });
      const at = g.user.map(DATA_VA, PAGE_A);
      g.mark(PAGE_A, PAGE_B);
      const [v0, v1] = await g.start();
      for (const v of [v0, v1]) setRegs(v, { [Reg.X20]: DATA_VA, [Reg.X22]: at, [Reg.X23]: leafDescriptor(PAGE_B, 0n, 3) });
      await toHvc(v1, 1);
      expect(x(v1, 10)).to.equal(BigInt(PAGE_A));
      await toHvc(v0, 1);
      expect(x(v0, 10)).to.equal(BigInt(PAGE_A));
      expect(x(v0, 11), 'vCPU 0 after its own TLBI').to.equal(BigInt(PAGE_B));
      await g.destroy();
    });
  });

  describe('translation tier: a code page remapped + TLBI + ISB runs the new code at the same VA', () => {
    /** The function's VA in a 4K page, and in a 2 MiB block (at +0x4000: not the block's first slice); neither shares the TLB slot of the code (VA[23:12]). */
    const FN_VA = 0x12_3500_5000;
    const BLOCK_FN_VA = 0x12_3600_4000;
    /** Shares the function's slot in the direct-mapped TLB (same VA[23:12]): a load there evicts it. */
    const EVICT_OFFSET = 0x100_0000;
    const calls = (n: number) => `
        mov x2, #30
      ${n}:
        blr x5
        add x1, x1, x0
        subs x2, x2, #1
        b.ne ${n}b
        hvc #${n}`;
    const invalidate = {
      'VAE1IS': tlbiVa('tlbi vae1is', 'x5'),
      'ASIDE1IS': `
        mov x9, #0 // ASID 0
        tlbi aside1is, x9
        dsb ish
        isb`,
      // For the block: a slice nobody touched (the whole block's translation goes).
      'VAE1IS of another slice': tlbiVa('tlbi vae1is', 'x24'),
    };
    const cases: [leaf: '4K page' | '2 MiB block', form: keyof typeof invalidate][] = [
      ['4K page', 'VAE1IS'], ['4K page', 'ASIDE1IS'], ['2 MiB block', 'VAE1IS of another slice'], ['2 MiB block', 'ASIDE1IS'],
    ];
    for (const [leaf, form] of cases) {
      for (const evict of [false, true]) {
        it(`${leaf}, TLBI ${form}${evict ? ', after another page evicted the code page from the TLB' : ''}`, async () => {
          const code = asm(`
            mov x1, #0
            ${calls(1)}
            ${evict ? 'ldr x7, [x8]' : ''}
            str x23, [x22]
            dsb ishst
            ${invalidate[form]}
            ${calls(2)}`);
          const block = leaf === '2 MiB block';
          const fn = block ? BLOCK_FN_VA : FN_VA;
          const [oldPa, newPa] = block ? [BLOCK_A + 0x4000, BLOCK_B + 0x4000] : [PAGE_A, PAGE_B];
          for (const translate of [true, false]) {
            const g = new Guest(code, { accel: { translate: translate ? { threshold: 1, batchSize: 1 } : false } });
            const at = block ? g.user.map(fn, BLOCK_A, NG, 2) : g.user.map(fn, PAGE_A, NG);
            g.user.map(fn + EVICT_OFFSET, PAGE_C);
            const returnImm = (pa: number, imm: number) => {
              g.view.setUint32(pa - RAM, (0xd2800000 | (imm << 5)) >>> 0, true); // movz x0, #imm
              g.view.setUint32(pa - RAM + 4, 0xd65f03c0, true); // ret
            };
            returnImm(oldPa, 1);
            returnImm(newPa, 7);
            const [v] = await g.start();
            setRegs(v, {
              [Reg.X5]: fn, [Reg.X8]: fn + EVICT_OFFSET, [Reg.X22]: at, [Reg.X24]: fn - 0x4000 + 0x10_0000,
              [Reg.X23]: block ? leafDescriptor(BLOCK_B, NG, 2) : leafDescriptor(PAGE_B, NG, 3),
            });
            await toHvc(v, 1);
            expect(x(v, 1)).to.equal(30n);
            await toHvc(v, 2);
            expect(x(v, 1), `the new code runs (translate: ${translate})`).to.equal(30n + 30n * 7n);
            if (translate) {
              const tier = (v as EmuVcpu).cpu.tier as Translator;
              expect(tier.stats.translatedInstructions, 'instructions run translated').to.be.greaterThan(100);
            }
            await g.destroy();
          }
        });
      }
    }
  });
});
