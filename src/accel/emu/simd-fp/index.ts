// Entry points of the FP & AdvSIMD unit: the core decoder calls execSimdFp for every
// "Data Processing -- Scalar FP and Advanced SIMD" encoding (op0 = x111) and
// execSimdLoadStoreStructure for the AdvSIMD structure loads/stores. Both return false
// for unallocated or unimplemented encodings (the core raises UNDEFINED) and never touch PC.
// The instruction set is Armv8.0 FP and AdvSIMD as a CPU without FEAT_FP16, FEAT_RDM,
// FEAT_DotProd, FEAT_FHM, FEAT_FCMA, FEAT_JSCVT, FEAT_FRINTTS or the crypto extensions
// implements it (the ID registers must say so); FPCR.AHP (alternative half precision) is
// not modelled.
import type { CpuState } from '../state.ts';
import { execFpScalar } from './fp-scalar.ts';
import {
  execAcrossLanes,
  execIndexed,
  execModifiedImm,
  execScalarPairwise,
  execShiftImm,
  execThreeDifferent,
  execThreeSame,
  execTwoRegMisc,
} from './simd-integer.ts';
import { execCopy, execExt, execPermute, execScalarCopy, execTable } from './simd-permute.ts';

export { execSimdLoadStoreStructure } from './simd-ldst.ts';

export function execSimdFp(s: CpuState, insn: number): boolean {
  if ((insn & 0x0e000000) !== 0x0e000000) return false;
  if ((insn & 0x5e000000) === 0x1e000000) return execFpScalar(s, insn);
  const top = insn & 0xdf000000;
  switch (top) {
    case 0x0e000000:
    case 0x4e000000:
      return vectorGroup01110(s, insn);
    case 0x0f000000:
    case 0x4f000000:
      return group01111(s, insn, false);
    case 0x5e000000:
      return scalarGroup11110(s, insn);
    case 0x5f000000:
      return group01111(s, insn, true);
  }
  return false;
}

function vectorGroup01110(s: CpuState, insn: number): boolean {
  if (insn & 0x00200000) {
    switch ((insn >>> 10) & 3) {
      case 1:
      case 3:
        return execThreeSame(s, insn, false);
      case 0:
        return execThreeDifferent(s, insn);
      default: {
        const sel = (insn >>> 17) & 15;
        if (sel === 0) return execTwoRegMisc(s, insn, false);
        if (sel === 8) return execAcrossLanes(s, insn);
        return false;
      }
    }
  }
  if (insn & 0x8000) return false; // three same extra / FP16
  if (insn & 0x400) return (insn & 0x00c00000) === 0 ? execCopy(s, insn) : false;
  if (insn & 0x20000000) return execExt(s, insn);
  return insn & 0x800 ? execPermute(s, insn) : execTable(s, insn);
}

function group01111(s: CpuState, insn: number, scalar: boolean): boolean {
  if ((insn & 0x400) === 0) return execIndexed(s, insn, scalar);
  if (insn & 0x00800000) return false;
  if (((insn >>> 19) & 15) === 0) return scalar ? false : execModifiedImm(s, insn);
  return execShiftImm(s, insn, scalar);
}

function scalarGroup11110(s: CpuState, insn: number): boolean {
  if (insn & 0x00200000) {
    switch ((insn >>> 10) & 3) {
      case 1:
      case 3:
        return execThreeSame(s, insn, true);
      case 2: {
        const sel = (insn >>> 17) & 15;
        if (sel === 0) return execTwoRegMisc(s, insn, true);
        if (sel === 8) return execScalarPairwise(s, insn);
        return false;
      }
      default:
        return execThreeDifferent(s, insn, true);
    }
  }
  if ((insn & 0x00c08400) === 0x400) return execScalarCopy(s, insn);
  return false;
}
