// Where a decoded block may continue in its own 4K page: the fall-through and the target of
// its final direct branch. A batch takes these along (Translator.pullSuccessors: the
// fall-through whenever it is not translated yet, the target once warm), so that a loop or a run of blocks becomes hot into one module and its blocks continue in
// each other directly: on the Debian boot most hops between modules were between blocks of
// one loop or one function that had reached the threshold at different times.

const PAGE_MASK = ~0xfff;

export interface Successors {
  /** Byte offset of the next instruction from the block's start, when execution may go on there in the page (else undefined). */
  fallThrough?: number;
  /** Byte offset of the final direct branch's target, when it is in the page and not the block itself. */
  target?: number;
}

/** Where the block at low VA word `va` with these words may continue directly in its own page. */
export function samePageSuccessors(va: number, words: Uint32Array): Successors {
  const len = words.length;
  const inPage = (offset: number): boolean => offset !== 0 && ((va + offset) & PAGE_MASK) === (va & PAGE_MASK);
  const branch = branchTarget(words[len - 1]);
  // Not a branch: the block ended before something else (an instruction left to the interpreter, its length).
  const next = branch === undefined || branch.fallThrough ? 4 * len : undefined;
  const target = branch?.target === undefined ? undefined : 4 * (len - 1) + branch.target;
  return {
    fallThrough: next !== undefined && inPage(next) ? next : undefined,
    target: target !== undefined && inPage(target) ? target : undefined,
  };
}

/** Whether the block's final instruction is a direct branch back to its first (a loop of one block). */
export function branchesToItself(words: Uint32Array): boolean {
  const len = words.length;
  return branchTarget(words[len - 1])?.target === -4 * (len - 1);
}

/** The final instruction as a branch: its target offset (direct) and whether execution may go on after it. */
function branchTarget(insn: number): { target?: number; fallThrough: boolean } | undefined {
  if ((insn & 0x7c000000) === 0x14000000) { // B, BL: imm26
    return { target: ((insn << 6) >> 6) * 4, fallThrough: (insn >>> 31) === 1 };
  }
  if ((insn & 0xff000010) === 0x54000000) return { target: ((insn << 8) >> 13) * 4, fallThrough: true }; // B.cond: imm19
  if ((insn & 0x7e000000) === 0x34000000) return { target: ((insn << 8) >> 13) * 4, fallThrough: true }; // CBZ, CBNZ
  if ((insn & 0x7e000000) === 0x36000000) return { target: ((insn << 13) >> 18) * 4, fallThrough: true }; // TBZ, TBNZ: imm14
  if ((insn >>> 25) === 0x6b) { // BR, BLR, RET and the exception returns
    const opc = (insn >>> 21) & 0xf;
    return { fallThrough: opc === 1 }; // BLR returns to the next instruction
  }
  return undefined;
}
