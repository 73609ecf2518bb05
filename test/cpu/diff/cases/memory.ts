// Loads and stores: every addressing mode and size, sign extension, pairs, SIMD&FP
// registers, literals, acquire/release, exclusives and LSE atomics. x10 (and SP) point at
// byte 64 of the case's 128-byte memory block, which is dumped after each variant.
// Accesses are naturally aligned: the MMU is off in the emulator runs, so memory is
// Device memory, where an unaligned access faults on real hardware.
import { type CaseGroup, type InsnCase, type Overrides, leBytes } from '../case-program.ts';
import { intValue, u64, type Rng } from '../values.ts';
import { insn } from './integer.ts';

const BASE: Overrides = { x: { 10: { memOffset: 64 } }, sp: { memOffset: 64 } };
const base = () => BASE;
/** Index register x11 in [lo, hi] (scaled elsewhere), sometimes with junk above bit 31 for W extends. */
const index = (lo: number, hi: number, junkHigh: boolean) => (rng: Rng): Overrides => {
  let v = BigInt(lo + rng.int(hi - lo + 1));
  v = u64(v);
  if (junkHigh) v = (rng.next64() & 0xffff_ffff_0000_0000n) | (v & 0xffff_ffffn);
  return { x: { 10: { memOffset: 64 }, 11: v } };
};
const m = (asm: string, n = 4, ov: (rng: Rng, i: number) => Overrides = base) => insn(asm, n, ov);

function loadCases(): InsnCase[] {
  const out: InsnCase[] = [];
  const sizes: [string, string, number][] = [
    ['ldr x0', 'x', 8], ['ldr w0', 'w', 4], ['ldrh w0', 'w', 2], ['ldrb w0', 'w', 1],
    ['ldrsb x0', 'x', 1], ['ldrsb w0', 'w', 1], ['ldrsh x0', 'x', 2], ['ldrsh w0', 'w', 2], ['ldrsw x0', 'x', 4],
  ];
  for (const [op, , size] of sizes) {
    const scale = Math.log2(size);
    out.push(m(`${op}, [x10]`), m(`${op}, [x10, #${size * 7}]`));
    out.push(m(`${op}, [x10, #-${size * 4}]!`), m(`${op}, [x10], #${size * 3}`), m(`${op}, [x10, #${size * 2}]!`), m(`${op}, [x10], #-${size * 8}`));
    out.push(m(`${op.replace('ldr', 'ldur')}, [x10, #-${size * 5}]`));
    out.push(m(`${op}, [x10, x11${scale ? `, lsl #${scale}` : ''}]`, 4, index(-8, 7, false)));
    out.push(m(`${op}, [x10, x11]`, 4, (rng) => ({ x: { 10: { memOffset: 64 }, 11: u64(BigInt((rng.int(16) - 8) * size)) } })));
    out.push(m(`${op}, [x10, w11, sxtw${scale ? ` #${scale}` : ''}]`, 4, index(-8, 7, true)));
    out.push(m(`${op}, [x10, w11, uxtw${scale ? ` #${scale}` : ''}]`, 4, index(0, 7, true)));
  }
  out.push(m('ldr x0, [x10, x11, sxtx #3]', 4, index(-8, 7, false)), m('ldr x0, [sp, #-8]'), m('ldr w0, [sp], #16'));
  out.push(m('ldrb w0, [x10, #63]'), m('ldr x0, [x10, #-64]'), m('ldur w0, [x10, #-64]'), m('ldursb x0, [x10, #-1]'));
  // Loads into SIMD&FP registers (the rest of the V register must be zeroed).
  for (const r of ['b0', 'h0', 's0', 'd0', 'q0']) {
    const size = { b: 1, h: 2, s: 4, d: 8, q: 16 }[r[0]]!;
    out.push(m(`ldr ${r}, [x10, #${size * 2}]`), m(`ldr ${r}, [x10, #-${size * 2}]!`), m(`ldr ${r}, [x10], #${size}`));
    out.push(m(`ldur ${r}, [x10, #-${size * 3}]`), m(`ldr ${r}, [x10, x11, lsl #${Math.log2(size)}]`, 4, index(-4, 3, false)));
  }
  // PC-relative literals.
  out.push(m('ldr x0, 2f\nb 3f\n.balign 8\n2: .quad 0x8123456789abcdef\n3:'));
  out.push(m('ldr w0, 2f\nb 3f\n.balign 8\n2: .quad 0x8123456789abcdef\n3:'));
  out.push(m('ldrsw x0, 2f\nb 3f\n.balign 8\n2: .quad 0x89abcdef89abcdef\n3:'));
  out.push(m('ldr q0, 2f\nb 3f\n.balign 16\n2: .quad 0x0123456789abcdef, 0xfedcba9876543210\n3:'));
  out.push(m('ldr d1, 2f\nb 3f\n.balign 8\n2: .quad 0x400921fb54442d18\n3:'), m('ldr s2, 2f\nb 3f\n.balign 8\n2: .quad 0x40490fdb\n3:'));
  out.push(m('prfm pldl1keep, [x10]\nprfm pstl2strm, [x10, #8]'));
  return out;
}

function storeCases(): InsnCase[] {
  const out: InsnCase[] = [];
  const sizes: [string, number][] = [['str x2', 8], ['str w2', 4], ['strh w2', 2], ['strb w2', 1]];
  for (const [op, size] of sizes) {
    const scale = Math.log2(size);
    out.push(m(`${op}, [x10]`), m(`${op}, [x10, #${size * 6}]`), m(`${op}, [x10, #-${size * 2}]!`), m(`${op}, [x10], #${size * 5}`));
    out.push(m(`${op.replace('str', 'stur')}, [x10, #-${size * 7}]`));
    out.push(m(`${op}, [x10, x11${scale ? `, lsl #${scale}` : ''}]`, 4, index(-8, 7, false)));
    out.push(m(`${op}, [x10, w11, sxtw${scale ? ` #${scale}` : ''}]`, 4, index(-8, 7, true)));
    out.push(m(`${op}, [x10, w11, uxtw]`, 4, (rng) => ({ x: { 10: { memOffset: 64 }, 11: (rng.next64() & ~0xffff_ffffn) | BigInt(rng.int(8) * size) } })));
  }
  out.push(m('str xzr, [x10, #8]'), m('strb wzr, [x10], #1'), m('str x2, [sp, #-16]!'), m('str x10, [x10]'), m('stp x10, x2, [x10, #-16]'));
  for (const r of ['b2', 'h2', 's2', 'd2', 'q2']) {
    const size = { b: 1, h: 2, s: 4, d: 8, q: 16 }[r[0]]!;
    out.push(m(`str ${r}, [x10, #${size}]`), m(`str ${r}, [x10, #-${size * 2}]!`), m(`stur ${r}, [x10, #-${size}]`));
    out.push(m(`str ${r}, [x10], #${size * 2}`), m(`str ${r}, [x10, x11, lsl #${Math.log2(size)}]`, 4, index(-4, 3, false)));
  }
  return out;
}

function pairCases(): InsnCase[] {
  const out: InsnCase[] = [];
  for (const [rt, size] of [['x', 8], ['w', 4], ['d', 8], ['s', 4], ['q', 16]] as const) {
    const l = `${rt}0, ${rt}1`;
    const s = `${rt}2, ${rt}3`;
    out.push(m(`ldp ${l}, [x10, #${size * 2}]`), m(`ldp ${l}, [x10, #-${size * 2}]!`), m(`ldp ${l}, [x10], #${size}`));
    out.push(m(`ldnp ${l}, [x10, #-${size * 4}]`));
    out.push(m(`stp ${s}, [x10, #${size}]`), m(`stp ${s}, [x10, #-${size * 4}]!`), m(`stp ${s}, [x10], #${size * 2}`));
    out.push(m(`stnp ${s}, [x10, #-${size * 2}]`));
  }
  out.push(m('ldpsw x0, x1, [x10, #8]'), m('ldpsw x0, x1, [x10, #-16]!'), m('ldpsw x0, x1, [x10], #8'));
  out.push(m('stp x2, x3, [sp, #-16]!'), m('ldp x0, x1, [sp], #16'), m('stp xzr, xzr, [x10, #-64]'));
  return out;
}

function orderedAndExclusiveCases(): InsnCase[] {
  const out: InsnCase[] = [];
  for (const [sfx, r] of [['', 'x'], ['', 'w'], ['h', 'w'], ['b', 'w']]) {
    out.push(m(`ldar${sfx} ${r}0, [x10]`), m(`stlr${sfx} ${r}2, [x10]`));
    out.push(m(`ldxr${sfx} ${r}0, [x10]\nadd ${r}0, ${r}0, #1\nstxr${sfx} w1, ${r}0, [x10]`));
    out.push(m(`ldaxr${sfx} ${r}0, [x10]\nstlxr${sfx} w1, ${r}2, [x10]`));
    out.push(m(`clrex\nstxr${sfx} w1, ${r}2, [x10]`));
  }
  out.push(m('ldxp x0, x1, [x10]\nstxp w4, x2, x3, [x10]'), m('ldaxp w0, w1, [x10]\nstlxp w4, w2, w3, [x10]'));
  out.push(m('ldxr x0, [x10]\nclrex\nstxr w1, x2, [x10]'));
  return out;
}

/** Half the variants make the compare value equal memory, so CAS both succeeds and fails. */
const casSeed = (bytes: number, pair: boolean) => (rng: Rng, i: number): Overrides => {
  const mask = (1n << BigInt(bytes * 8)) - 1n;
  const v0 = intValue(rng);
  const v1 = intValue(rng);
  const o: Overrides = { x: { 10: { memOffset: 64 }, 0: v0, 1: v1 } };
  if (i % 2 === 0) {
    const mem = new Uint8Array(128).map(() => rng.int(256));
    mem.set(leBytes(v0 & mask, bytes * 8), 64);
    if (pair) mem.set(leBytes(v1 & mask, bytes * 8), 64 + bytes);
    o.mem = mem;
  }
  return o;
};
const atomicSeed = (rng: Rng): Overrides => {
  const mem = new Uint8Array(128).map(() => rng.int(256));
  mem.set(leBytes(intValue(rng), 64), 64);
  return { x: { 10: { memOffset: 64 }, 2: intValue(rng) }, mem };
};

function lseCases(): InsnCase[] {
  const out: InsnCase[] = [];
  const ops = ['ldadd', 'ldclr', 'ldeor', 'ldset', 'ldsmax', 'ldsmin', 'ldumax', 'ldumin', 'swp'];
  for (const op of ops) {
    for (const [sfx, r] of [['', 'x'], ['', 'w'], ['h', 'w'], ['b', 'w']]) {
      out.push(insn(`${op}${sfx} ${r}2, ${r}0, [x10]`, 4, atomicSeed));
    }
    out.push(insn(`${op}al x2, x0, [x10]`, 3, atomicSeed), insn(`${op}a w2, w0, [x10]`, 3, atomicSeed), insn(`${op}lb w2, w0, [x10]`, 3, atomicSeed));
  }
  out.push(insn('stadd x2, [x10]', 3, atomicSeed), insn('stsmaxh w2, [x10]', 3, atomicSeed), insn('ldadd x2, xzr, [x10]', 3, atomicSeed));
  for (const [sfx, r, bytes] of [['', 'x', 8], ['', 'w', 4], ['h', 'w', 2], ['b', 'w', 1]] as const) {
    out.push(insn(`cas${sfx} ${r}0, ${r}2, [x10]`, 6, casSeed(bytes, false)));
    out.push(insn(`casal${sfx} ${r}0, ${r}2, [x10]`, 4, casSeed(bytes, false)));
  }
  out.push(insn('casp x0, x1, x2, x3, [x10]', 6, casSeed(8, true)), insn('caspal w0, w1, w2, w3, [x10]', 6, casSeed(4, true)));
  return out;
}

/** Unaligned and page-crossing accesses: only valid on Normal memory, so run with the MMU on. */
function unalignedCases(): InsnCase[] {
  const out: InsnCase[] = [];
  const odd = (rng: Rng): Overrides => ({ x: { 10: { memOffset: 64 + 1 + rng.int(7) } } });
  for (const asm of [
    'ldr x0, [x10]', 'ldr w0, [x10, #4]', 'ldrh w0, [x10, #2]', 'ldrsh x0, [x10]', 'ldrsw x0, [x10, #-8]', 'ldur x0, [x10, #-33]',
    'ldr q0, [x10]', 'ldr d0, [x10, #-16]', 'ldr s0, [x10], #4', 'ldp x0, x1, [x10, #-16]', 'ldp q0, q1, [x10, #-48]', 'ldpsw x0, x1, [x10]',
    'str x2, [x10]', 'str w2, [x10, #-4]!', 'strh w2, [x10, #6]', 'str q2, [x10, #-32]', 'stp x2, x3, [x10], #8', 'stp q2, q3, [x10, #-48]',
    'ld1 {v0.16b, v1.16b}, [x10]', 'st1 {v2.4s}, [x10]', 'ld4 {v0.8b, v1.8b, v2.8b, v3.8b}, [x10]',
  ]) out.push(insn(asm, 4, odd));
  return out;
}

export function memoryGroups(): CaseGroup[] {
  return [
    { name: 'loads: sizes, sign extension, addressing modes, literals', cases: loadCases() },
    { name: 'stores: sizes and addressing modes', cases: storeCases() },
    { name: 'load/store pair', cases: pairCases() },
    { name: 'acquire/release and exclusives', cases: orderedAndExclusiveCases() },
    { name: 'LSE atomics', cases: lseCases(), requires: ['lse'] },
    { name: 'unaligned loads and stores (MMU on, Normal memory)', cases: unalignedCases(), mmu: true },
  ];
}

