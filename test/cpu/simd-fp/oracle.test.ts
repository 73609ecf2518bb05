// Differential tests: each template instruction runs with generated operands under every
// interesting FPCR setting in QEMU and in execSimdFp; registers, NZCV and FPSR must match.
import { expect } from 'chai';
import { CpuState } from '../../../src/accel/emu/state.ts';
import { execSimdFp } from '../../../src/accel/emu/simd-fp/index.ts';
import { assemble, runOracle, toolchainMissing, type OracleCase, type OracleResult } from './oracle.ts';
import { TEMPLATES } from './templates.ts';
import { ValueGen } from './values.ts';

const FPCRS = [0, 1 << 22, 2 << 22, 3 << 22, 1 << 24, 1 << 25, (1 << 24) | (1 << 25), (2 << 22) | (1 << 24), (1 << 22) | (1 << 25)];
const FP_PER_FPCR = Number(process.env.SIMDFP_PER_FPCR ?? 4);
const INT_CASES = Number(process.env.SIMDFP_INT_CASES ?? 12);

function buildCases(): OracleCase[] {
  const cases: OracleCase[] = [];
  TEMPLATES.forEach((tpl, insn) => {
    const g = new ValueGen(0x5eed + insn * 7919);
    const fpcrs = tpl.gen === 'int' ? new Array<number>(INT_CASES).fill(0) : FPCRS.flatMap((f) => new Array<number>(FP_PER_FPCR).fill(f));
    for (const fpcr of fpcrs) {
      const v = new Uint8Array(128);
      for (let r = 0; r < 8; r++) v.set(g.vreg(tpl.gen), r * 16);
      if (tpl.addend !== undefined && g.int(2) === 0) cancelProduct(v, tpl.addend, tpl.gen === 'f64', g.int(2) === 0);
      const x: bigint[] = [];
      for (let r = 0; r < 8; r++) x.push(g.xreg());
      cases.push({ insn, v, x, fpcr, nzcv: g.int(16) << 28 });
    }
  });
  return cases;
}

/**
 * Make the addend the negated (or plain) rounded product of V1 and V2, lane by lane, so a
 * fused multiply-add's result is the product's rounding error: zero unless fused exactly.
 */
function cancelProduct(v: Uint8Array, addend: number, f64: boolean, negate: boolean): void {
  const dv = new DataView(v.buffer, v.byteOffset, 128);
  const step = f64 ? 8 : 4;
  for (let off = 0; off < 16; off += step) {
    const a = f64 ? dv.getFloat64(16 + off, true) : dv.getFloat32(16 + off, true);
    const b = f64 ? dv.getFloat64(32 + off, true) : dv.getFloat32(32 + off, true);
    if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
    const p = f64 ? a * b : Math.fround(a * b);
    if (f64) dv.setFloat64(addend * 16 + off, negate ? -p : p, true);
    else dv.setFloat32(addend * 16 + off, negate ? -p : p, true);
  }
}

export function runEmu(enc: number, c: OracleCase): { ok: boolean; res: OracleResult } {
  const s = new CpuState();
  s.vbytes.set(c.v, 0);
  c.x.forEach((x, i) => s.setXBig(i, x));
  s.fpcr = c.fpcr;
  s.fpsr = 0;
  s.n = (c.nzcv >>> 31) & 1;
  s.z = (c.nzcv >>> 30) & 1;
  s.c = (c.nzcv >>> 29) & 1;
  s.v = (c.nzcv >>> 28) & 1;
  const ok = execSimdFp(s, enc);
  const x: bigint[] = [];
  for (let i = 0; i < 8; i++) x.push(s.getXBig(i));
  return { ok, res: { v: s.vbytes.slice(0, 128), x, nzcv: ((s.n << 31) | (s.z << 30) | (s.c << 29) | (s.v << 28)) >>> 0, fpsr: s.fpsr >>> 0, illegal: false } };
}

function hex(b: Uint8Array, reg: number): string {
  return Array.from(b.subarray(reg * 16, reg * 16 + 16))
    .reverse()
    .map((x) => x.toString(16).padStart(2, '0'))
    .join('');
}

export function describeMismatch(c: OracleCase, want: OracleResult, got: OracleResult): string | null {
  const diffs: string[] = [];
  for (let r = 0; r < 8; r++) if (hex(want.v, r) !== hex(got.v, r)) diffs.push(`v${r}: want ${hex(want.v, r)} got ${hex(got.v, r)}`);
  for (let r = 0; r < 8; r++) if (want.x[r] !== got.x[r]) diffs.push(`x${r}: want ${want.x[r].toString(16)} got ${got.x[r].toString(16)}`);
  if (want.nzcv !== got.nzcv) diffs.push(`nzcv: want ${(want.nzcv >>> 28).toString(2)} got ${(got.nzcv >>> 28).toString(2)}`);
  if (want.fpsr !== got.fpsr) diffs.push(`fpsr: want ${want.fpsr.toString(16)} got ${got.fpsr.toString(16)}`);
  if (diffs.length === 0) return null;
  const inputs = [0, 1, 2, 3].map((r) => `v${r}=${hex(c.v, r)}`).join(' ') + ` x1=${c.x[1].toString(16)}`;
  return `fpcr=${c.fpcr.toString(16)} ${inputs}\n    ${diffs.join('\n    ')}`;
}

describe('simd-fp: instructions against qemu-aarch64', function () {
  this.timeout(300000);
  let encodings: number[] = [];
  const byInsn = new Map<number, { c: OracleCase; want: OracleResult }[]>();

  before(function () {
    const missing = toolchainMissing();
    if (missing) this.skip();
    encodings = assemble(TEMPLATES.map((t) => t.text));
    const cases = buildCases();
    const results = runOracle(encodings, cases);
    cases.forEach((c, i) => {
      const list = byInsn.get(c.insn) ?? [];
      list.push({ c, want: results[i] });
      byInsn.set(c.insn, list);
    });
  });

  TEMPLATES.forEach((tpl, insn) => {
    it(tpl.text, () => {
      const failures: string[] = [];
      for (const { c, want } of byInsn.get(insn) ?? []) {
        const { ok, res } = runEmu(encodings[insn], c);
        if (want.illegal) {
          if (ok) failures.push('qemu: UNDEFINED, emulator executed it');
          break;
        }
        if (!ok) {
          failures.push('emulator returned false (UNDEFINED)');
          break;
        }
        const m = describeMismatch(c, want, res);
        if (m) failures.push(m);
        if (failures.length >= 3) break;
      }
      expect(failures, failures.join('\n  ')).to.deep.equal([]);
    });
  });
});
