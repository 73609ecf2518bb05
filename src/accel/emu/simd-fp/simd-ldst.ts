// AdvSIMD load/store structures: LD1-LD4/ST1-ST4 (multiple structures), single lane,
// and LD1R-LD4R, with optional post-index. Each instruction performs one guest memory
// access of its whole footprint, so registers change only after the access succeeded.
import type { CpuState } from '../state.ts';
import { SLOT_SP } from '../state.ts';

const TWO32 = 4294967296;

function addAddr(lo: number, hi: number, off: number): [number, number] {
  const sum = (lo >>> 0) + off;
  const carry = Math.floor(sum / TWO32);
  return [sum | 0, (hi + carry) | 0];
}

/** Multiple-structure opcodes: [registers repeated (rpt), structure elements (selem)]. */
const MULTI: Record<number, [number, number]> = {
  0b0000: [1, 4],
  0b0010: [4, 1],
  0b0100: [1, 3],
  0b0110: [3, 1],
  0b0111: [1, 1],
  0b1000: [1, 2],
  0b1010: [2, 1],
};

export function execSimdLoadStoreStructure(s: CpuState, insn: number): boolean {
  if ((insn & 0xbe000000) !== 0x0c000000) return false;
  const single = ((insn >>> 24) & 1) === 1;
  const post = ((insn >>> 23) & 1) === 1;
  const load = ((insn >>> 22) & 1) === 1;
  const rm = (insn >>> 16) & 31;
  if (!post && rm !== 0) return false;
  const rn = (insn >>> 5) & 31;
  const base = rn === 31 ? SLOT_SP : rn;
  const addrLo = s.xlo(base);
  const addrHi = s.xhi(base);
  const transferred = single ? singleStructure(s, insn, load, addrLo, addrHi) : multipleStructures(s, insn, load, addrLo, addrHi);
  if (transferred < 0) return false;
  if (post) {
    let nlo: number;
    let nhi: number;
    if (rm === 31) [nlo, nhi] = addAddr(addrLo, addrHi, transferred);
    else {
      const sum = (addrLo >>> 0) + (s.xlo(rm) >>> 0);
      nlo = sum | 0;
      nhi = (addrHi + s.xhi(rm) + (sum >= TWO32 ? 1 : 0)) | 0;
    }
    s.setX(base, nlo, nhi);
  }
  return true;
}

function multipleStructures(s: CpuState, insn: number, load: boolean, lo: number, hi: number): number {
  if (((insn >>> 21) & 1) !== 0) return -1;
  const q = (insn >>> 30) & 1;
  const opcode = (insn >>> 12) & 15;
  const size = (insn >>> 10) & 3;
  const rt = insn & 31;
  const shape = MULTI[opcode];
  if (shape === undefined) return -1;
  const [rpt, selem] = shape;
  if (size === 3 && q === 0 && selem !== 1) return -1;
  const regBytes = q ? 16 : 8;
  const ebytes = 1 << size;
  const elements = regBytes / ebytes;
  const total = rpt * selem * regBytes;
  const buf = new Uint8Array(total);
  const vb = s.vbytes;
  if (!load) {
    let off = 0;
    for (let r = 0; r < rpt; r++)
      for (let e = 0; e < elements; e++)
        for (let k = 0; k < selem; k++) {
          const src = ((rt + r + k) & 31) * 16 + e * ebytes;
          for (let b = 0; b < ebytes; b++) buf[off++] = vb[src + b];
        }
    s.mem.storeBytes(lo, hi, buf, 0, total);
    return total;
  }
  s.mem.loadBytes(lo, hi, buf, 0, total);
  let off = 0;
  for (let r = 0; r < rpt; r++)
    for (let e = 0; e < elements; e++)
      for (let k = 0; k < selem; k++) {
        const dst = ((rt + r + k) & 31) * 16 + e * ebytes;
        for (let b = 0; b < ebytes; b++) vb[dst + b] = buf[off++];
      }
  if (q === 0) for (let r = 0; r < rpt * selem; r++) vb.fill(0, ((rt + r) & 31) * 16 + 8, ((rt + r) & 31) * 16 + 16);
  return total;
}

function singleStructure(s: CpuState, insn: number, load: boolean, lo: number, hi: number): number {
  const q = (insn >>> 30) & 1;
  const R = (insn >>> 21) & 1;
  const opcode = (insn >>> 13) & 7;
  const S = (insn >>> 12) & 1;
  const size = (insn >>> 10) & 3;
  const rt = insn & 31;
  const selem = (((opcode & 1) << 1) | R) + 1;
  let scale = opcode >> 1;
  let index = 0;
  let replicate = false;
  switch (scale) {
    case 0:
      index = (q << 3) | (S << 2) | size;
      break;
    case 1:
      if (size & 1) return -1;
      index = (q << 2) | (S << 1) | (size >> 1);
      break;
    case 2:
      if (size & 2) return -1;
      if (size & 1) {
        if (S) return -1;
        index = q;
        scale = 3;
      } else index = (q << 1) | S;
      break;
    default:
      if (!load || S) return -1;
      scale = size;
      replicate = true;
  }
  const ebytes = 1 << scale;
  const total = selem * ebytes;
  const buf = new Uint8Array(total);
  const vb = s.vbytes;
  if (!load) {
    for (let k = 0; k < selem; k++) {
      const src = ((rt + k) & 31) * 16 + index * ebytes;
      for (let b = 0; b < ebytes; b++) buf[k * ebytes + b] = vb[src + b];
    }
    s.mem.storeBytes(lo, hi, buf, 0, total);
    return total;
  }
  s.mem.loadBytes(lo, hi, buf, 0, total);
  for (let k = 0; k < selem; k++) {
    const reg = ((rt + k) & 31) * 16;
    if (replicate) {
      const regBytes = q ? 16 : 8;
      for (let e = 0; e < regBytes; e += ebytes)
        for (let b = 0; b < ebytes; b++) vb[reg + e + b] = buf[k * ebytes + b];
      if (!q) vb.fill(0, reg + 8, reg + 16);
    } else {
      for (let b = 0; b < ebytes; b++) vb[reg + index * ebytes + b] = buf[k * ebytes + b];
    }
  }
  return total;
}
