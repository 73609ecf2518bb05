// The layout of one vCPU's state area: the bytes the interpreter (state.ts), the translator's
// JS (translator/tier.ts) and translated code (translator/codegen.ts, module.ts) all address,
// at the area's base in a WebAssembly.Memory (its own, or guest RAM's: arena.ts).
//
//   0x000000  registers: X0..X30 and SP (33 x 8 bytes), then V0..V31 (32 x 16 bytes)
//   0x000400  the translator's words, OFF_PC .. OFF_MONITOR
//   0x001000  dispatch table: DISPATCH_SIZE entries of 16 bytes
//   0x101000  TLB mirror: TLB_SLOTS entries of 64 bytes (4 x i64 tags, the page's offset)
//   0x141000  STATE_AREA_BYTES

/** Slots of the MMU's software TLB (mmu.ts) and so of its mirror. */
export const TLB_SLOTS = 4096;

// ---- translator words ----
/** Exit PC (i64). */
export const OFF_PC = 0x400;
/** NZCV, one i32 each (translated code keeps them here, the interpreter in CpuState). */
export const OFF_N = OFF_PC + 8;
export const OFF_Z = OFF_N + 4;
export const OFF_C = OFF_Z + 4;
export const OFF_V = OFF_C + 4;
/** Instructions retired in this run, including the one calling a helper (stored by a helper that may fault or exit). */
export const OFF_DONE = OFF_V + 4;
/** 64-bit load results (8-byte aligned). */
export const OFF_RES = OFF_DONE + 8;
/** The tier's current epoch and EL (see Translator.refreshEpoch). */
export const OFF_EPOCH = OFF_RES + 8;
/** Where run() leaves the id of a block in another module to continue with, or -1. */
export const OFF_NEXT = OFF_EPOCH + 4;
/** Byte offset of the current EL's tag pair in a mirror entry (0 at EL1, 16 at EL0). */
export const OFF_MIRROR_EL = OFF_NEXT + 4;
/** How many other vCPUs hold an exclusive reservation (Cpu keeps it; inline stores need 0). */
export const OFF_PEER_MONITORS = OFF_MIRROR_EL + 4;
/** Instructions the dispatcher (module.ts) saw retired by earlier runs of this dispatch. */
export const OFF_DISPATCHED = OFF_PEER_MONITORS + 4;
/** Hops between modules the dispatcher made, and those that retired nothing (wrapping counters). */
export const OFF_HOPS = OFF_DISPATCHED + 4;
export const OFF_STARVED = OFF_HOPS + 4;
/**
 * PSTATE as translated code may read it inline: EL | SPSel << 1 | DAIF << 6, and the banked
 * SP_EL0 (i64). The batch loop writes both before each run of translated code, which cannot
 * change them without leaving the run (MSR, exceptions and ERET end a block).
 */
export const OFF_MODE = OFF_STARVED + 4;
export const OFF_SP_EL0 = OFF_MODE + 4;
/** TPIDR_EL1, TPIDR_EL0 and TPIDRRO_EL0 (i64 each), kept equal to Cpu.sysregs by SysRegStore. */
export const OFF_SYSREG_MIRROR = OFF_SP_EL0 + 8;
export const SYSREG_MIRROR_COUNT = 3;
/**
 * The exclusive monitor (Cpu.exclusiveAddr, exclusiveSize): the reserved PA as an i64 (-1:
 * none), the reservation's size (i32), then the number of other vCPUs (i32): translated
 * LDXR/STXR use the monitor inline only while that is 0 (no peer count to keep).
 */
export const OFF_MONITOR = OFF_SYSREG_MIRROR + 8 * SYSREG_MIRROR_COUNT;

// ---- tables ----
/**
 * Dispatch table: DISPATCH_SIZE entries of { va: i64, epoch and EL: i32, block id: i32 }, indexed by
 * VA bits [17:2] xor bits [31:18] (codegen.ts lookupTail computes the same). The batch loop
 * fills an entry when it has checked, in the current epoch, that the block at va may be
 * entered; translated code then jumps to it directly. Sized for the kernel's hot blocks: at
 * 16K entries indexed by bits [15:2], a fifth of the Debian boot's exits from translated
 * code were blocks that had lost their entry to another block.
 */
export const OFF_DISPATCH = 0x1000;
export const DISPATCH_SIZE = 65536;
/** The dispatch entry's index for a VA (low word). */
export const dispatchIndex = (lo: number): number => ((lo >>> 2) ^ (lo >>> 18)) & (DISPATCH_SIZE - 1);
/** Byte offset of the dispatch entry for a VA (low word). */
export const dispatchOffset = (lo: number): number => OFF_DISPATCH + (dispatchIndex(lo) << 4);
/**
 * log2 of a mirror entry's bytes, one cache line: the tags EL1 read, EL1 write, EL0 read, EL0
 * write (i64 each), then the page's offset in the memory (i32) at MIRROR_BASE and again 16
 * bytes on, so that it is MIRROR_BASE past either EL's tags (OFF_MIRROR_EL). With the offsets
 * in a table of their own, an inline access read two cache lines, and its code was 6 wasm
 * bytes longer.
 */
export const MIRROR_ENTRY_SHIFT = 6;
export const MIRROR_BASE = 32;
export const MIRROR_TAGS = OFF_DISPATCH + DISPATCH_SIZE * 16;
/** Bytes of one vCPU's state area. */
export const STATE_AREA_BYTES = MIRROR_TAGS + (TLB_SLOTS << MIRROR_ENTRY_SHIFT);
