// AdvSIMD data movement: copy (DUP/INS/UMOV/SMOV), permute (ZIP/UZP/TRN), EXT, TBL/TBX.
// Everything works on bytes, so lanes of any size move with plain byte copies.
import type { CpuState } from '../state.ts';
import { readReg, writeReg } from './vreg.ts';

/** Lowest set bit of imm5 gives the element size (0..3), or -1 when unallocated. */
function imm5Size(imm5: number): number {
  for (let i = 0; i < 4; i++) if ((imm5 >> i) & 1) return i;
  return -1;
}

function copyBytes(dst: Uint8Array, dOff: number, src: Uint8Array, sOff: number, n: number): void {
  for (let i = 0; i < n; i++) dst[dOff + i] = src[sOff + i];
}

/** AdvSIMD copy: 0 Q op 01110000 imm5 0 imm4 1 Rn Rd. */
export function execCopy(s: CpuState, insn: number): boolean {
  const q = (insn >>> 30) & 1;
  const op = (insn >>> 29) & 1;
  const imm5 = (insn >>> 16) & 31;
  const imm4 = (insn >>> 11) & 15;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  const size = imm5Size(imm5);
  if (size < 0) return false;
  const eb = 1 << size;
  const index = imm5 >>> (size + 1);
  const vb = s.vbytes;
  if (op === 1) {
    if (q === 0) return false;
    const src = imm4 >>> size;
    copyBytes(vb, rd * 16 + index * eb, vb, rn * 16 + src * eb, eb);
    return true;
  }
  switch (imm4) {
    case 0: {
      // DUP (element)
      if (size === 3 && q === 0) return false;
      const elem = vb.slice(rn * 16 + index * eb, rn * 16 + index * eb + eb);
      const bytes = q ? 16 : 8;
      const out = new Uint8Array(16);
      for (let i = 0; i < bytes; i += eb) out.set(elem, i);
      writeReg(s, rd, out, bytes);
      return true;
    }
    case 1: {
      // DUP (general)
      if (size === 3 && q === 0) return false;
      const g = generalBytes(s, rn);
      const bytes = q ? 16 : 8;
      const out = new Uint8Array(16);
      for (let i = 0; i < bytes; i += eb) copyBytes(out, i, g, 0, eb);
      writeReg(s, rd, out, bytes);
      return true;
    }
    case 3: {
      // INS (general)
      if (q === 0) return false;
      copyBytes(vb, rd * 16 + index * eb, generalBytes(s, rn), 0, eb);
      return true;
    }
    case 5:
    case 7: {
      const signed = imm4 === 5;
      if (signed ? size === 3 || (q === 0 && size === 2) : q === 1 ? size !== 3 : size === 3) return false;
      const off = rn * 16 + index * eb;
      let lo = 0;
      let hi = 0;
      if (size === 3) {
        lo = vb[off] | (vb[off + 1] << 8) | (vb[off + 2] << 16) | (vb[off + 3] << 24);
        hi = vb[off + 4] | (vb[off + 5] << 8) | (vb[off + 6] << 16) | (vb[off + 7] << 24);
      } else {
        for (let i = eb - 1; i >= 0; i--) lo = (lo << 8) | vb[off + i];
        if (signed) {
          const sh = 32 - eb * 8;
          lo = (lo << sh) >> sh;
          hi = lo < 0 ? -1 : 0;
        }
      }
      if (q) s.setX(rd, lo, hi);
      else s.setX32(rd, lo);
      return true;
    }
  }
  return false;
}

/** Scalar DUP (element): 01 0 11110000 imm5 0 0000 1 Rn Rd. */
export function execScalarCopy(s: CpuState, insn: number): boolean {
  const imm5 = (insn >>> 16) & 31;
  const size = imm5Size(imm5);
  if (size < 0 || ((insn >>> 11) & 15) !== 0 || ((insn >>> 29) & 1) !== 0) return false;
  const eb = 1 << size;
  const index = imm5 >>> (size + 1);
  const rn = (insn >>> 5) & 31;
  const out = new Uint8Array(16);
  copyBytes(out, 0, s.vbytes, rn * 16 + index * eb, eb);
  writeReg(s, insn & 31, out, 16);
  return true;
}

function generalBytes(s: CpuState, rn: number): Uint8Array {
  const g = new Uint8Array(8);
  const lo = s.xlo(rn);
  const hi = s.xhi(rn);
  for (let i = 0; i < 4; i++) {
    g[i] = (lo >>> (8 * i)) & 0xff;
    g[i + 4] = (hi >>> (8 * i)) & 0xff;
  }
  return g;
}

/** AdvSIMD permute: 0 Q 001110 size 0 Rm 0 opcode 10 Rn Rd. */
export function execPermute(s: CpuState, insn: number): boolean {
  const q = (insn >>> 30) & 1;
  const size = (insn >>> 22) & 3;
  const opcode = (insn >>> 12) & 7;
  if ((size === 3 && q === 0) || (opcode & 3) === 0) return false;
  const eb = 1 << size;
  const bytes = q ? 16 : 8;
  const elems = bytes / eb;
  const n = readReg(s, (insn >>> 5) & 31);
  const m = readReg(s, (insn >>> 16) & 31);
  const out = new Uint8Array(16);
  const part = opcode >>> 2; // 0: *1, 1: *2
  const half = elems >>> 1;
  for (let i = 0; i < elems; i++) {
    let src: Uint8Array;
    let idx: number;
    switch (opcode & 3) {
      case 1: {
        // UZP: even (1) or odd (2) elements of n:m
        const k = 2 * i + part;
        src = k < elems ? n : m;
        idx = k < elems ? k : k - elems;
        break;
      }
      case 2: {
        // TRN
        const pair = i & ~1;
        src = i & 1 ? m : n;
        idx = pair + part;
        break;
      }
      default: {
        // ZIP
        src = i & 1 ? m : n;
        idx = (i >>> 1) + part * half;
      }
    }
    copyBytes(out, i * eb, src, idx * eb, eb);
  }
  writeReg(s, insn & 31, out, bytes);
  return true;
}

/** EXT: 0 Q 101110 00 0 Rm 0 imm4 0 Rn Rd. */
export function execExt(s: CpuState, insn: number): boolean {
  const q = (insn >>> 30) & 1;
  const imm4 = (insn >>> 11) & 15;
  if (((insn >>> 22) & 3) !== 0 || (q === 0 && imm4 >= 8)) return false;
  const bytes = q ? 16 : 8;
  const n = readReg(s, (insn >>> 5) & 31);
  const m = readReg(s, (insn >>> 16) & 31);
  const out = new Uint8Array(16);
  for (let i = 0; i < bytes; i++) {
    const k = i + imm4;
    out[i] = k < bytes ? n[k] : m[k - bytes];
  }
  writeReg(s, insn & 31, out, bytes);
  return true;
}

/** TBL/TBX: 0 Q 001110 00 0 Rm 0 len op 00 Rn Rd. */
export function execTable(s: CpuState, insn: number): boolean {
  if (((insn >>> 22) & 3) !== 0) return false;
  const q = (insn >>> 30) & 1;
  const regs = ((insn >>> 13) & 3) + 1;
  const isTbx = ((insn >>> 12) & 1) === 1;
  const rn = (insn >>> 5) & 31;
  const rd = insn & 31;
  const bytes = q ? 16 : 8;
  const table = new Uint8Array(16 * regs);
  for (let r = 0; r < regs; r++) table.set(readReg(s, (rn + r) & 31), r * 16);
  const idx = readReg(s, (insn >>> 16) & 31);
  const out = readReg(s, rd);
  for (let i = 0; i < bytes; i++) {
    const k = idx[i];
    if (k < table.length) out[i] = table[k];
    else if (!isTbx) out[i] = 0;
  }
  writeReg(s, rd, out, bytes);
  return true;
}
