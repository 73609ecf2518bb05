// Random encodings from the whole "Scalar FP and Advanced SIMD" space (register fields
// limited to 0-7 so the harness's own registers stay intact) run under QEMU emulating an
// Armv8.0 CPU with FP and AdvSIMD (Cortex-A72). For every encoding QEMU executes, the
// emulator must either execute it with identical results or, for the crypto extension it
// deliberately leaves out, decline it; for every encoding QEMU rejects, it must decline too.
import { expect } from 'chai';
import { execSimdFp } from '../../../src/accel/emu/simd-fp/index.ts';
import { CpuState } from '../../../src/accel/emu/state.ts';
import { runOracle, toolchainMissing, type OracleCase, type OracleResult } from './oracle.ts';
import { ValueGen, type Gen } from './values.ts';

const COUNT = Number(process.env.SIMDFP_FUZZ ?? 3000);
const GENS: Gen[] = ['f32', 'f64', 'int', 'f16'];
const TOP_BYTES = [0x0e, 0x4e, 0x2e, 0x6e, 0x0f, 0x4f, 0x2f, 0x6f, 0x5e, 0x7e, 0x5f, 0x7f, 0x1e, 0x9e, 0x1f];
const FPCRS = [0, 1 << 22, 2 << 22, 3 << 22, 1 << 24, 1 << 25];

/** Crypto (AES, SHA1/SHA256, 64-bit PMULL): not advertised, so declining them is right. */
function isCrypto(insn: number): boolean {
  return (
    (insn & 0xff3e0c00) === 0x4e280800 || // AES
    (insn & 0xff208c00) === 0x5e000000 || // SHA three-register
    (insn & 0xff3e0c00) === 0x5e280800 || // SHA two-register
    (insn & 0xbfe0fc00) === 0x0ee0e000 // PMULL/PMULL2 .1q
  );
}

function emulate(insn: number, c: OracleCase): { ok: boolean; res: OracleResult } {
  const s = new CpuState();
  s.vbytes.set(c.v, 0);
  c.x.forEach((x, i) => s.setXBig(i, x));
  s.fpcr = c.fpcr;
  s.n = (c.nzcv >>> 31) & 1;
  s.z = (c.nzcv >>> 30) & 1;
  s.c = (c.nzcv >>> 29) & 1;
  s.v = (c.nzcv >>> 28) & 1;
  const ok = execSimdFp(s, insn);
  const x: bigint[] = [];
  for (let i = 0; i < 8; i++) x.push(s.getXBig(i));
  const nzcv = ((s.n << 31) | (s.z << 30) | (s.c << 29) | (s.v << 28)) >>> 0;
  return { ok, res: { v: s.vbytes.slice(0, 128), x, nzcv, fpsr: s.fpsr >>> 0, illegal: false } };
}

function same(a: OracleResult, b: OracleResult): boolean {
  return (
    a.v.every((x, i) => x === b.v[i]) && a.x.every((x, i) => x === b.x[i]) && a.nzcv === b.nzcv && a.fpsr === b.fpsr
  );
}

describe('simd-fp: random encodings against qemu-aarch64 (cortex-a72)', function () {
  this.timeout(300000);
  const encodings: number[] = [];
  const cases: OracleCase[] = [];
  let results: OracleResult[] = [];

  before(function () {
    if (toolchainMissing()) this.skip();
    const g = new ValueGen(Number(process.env.SIMDFP_FUZZ_SEED ?? 0xf022));
    for (let i = 0; i < COUNT; i++) {
      // bits[27:25] = 111; most draws take their top byte from an allocated group so the
      // sample is not dominated by unallocated space. Rd and Rn are limited to 0-7.
      let raw = g.bits32() | 0x0e000000;
      if (g.int(10) < 7) raw = (raw & 0x00ffffff) | (TOP_BYTES[g.int(TOP_BYTES.length)] << 24);
      const insn = (raw & ~0x318) >>> 0;
      encodings.push(insn);
      const gen = GENS[g.int(GENS.length)];
      const v = new Uint8Array(128);
      for (let r = 0; r < 8; r++) v.set(g.vreg(gen), r * 16);
      const x: bigint[] = [];
      for (let r = 0; r < 8; r++) x.push(g.xreg());
      cases.push({ insn: i, v, x, fpcr: FPCRS[g.int(FPCRS.length)], nzcv: g.int(16) << 28 });
    }
    results = runOracle(encodings, cases, 'cortex-a72');
  });

  it('declines exactly what QEMU rejects, and matches QEMU on everything else', () => {
    const wrong: string[] = [];
    const declined: string[] = [];
    let executed = 0;
    cases.forEach((c, i) => {
      const insn = encodings[i];
      const want = results[i];
      const { ok, res } = emulate(insn, c);
      const tag = insn.toString(16).padStart(8, '0');
      if (want.illegal) {
        if (ok) wrong.push(`${tag}: QEMU UNDEFINED, emulator executed`);
        return;
      }
      if (!ok) {
        if (!isCrypto(insn)) declined.push(tag);
        return;
      }
      executed++;
      if (!same(want, res)) wrong.push(`${tag}: results differ (fpcr ${c.fpcr.toString(16)})`);
    });
    expect(wrong, wrong.slice(0, 20).join('\n')).to.deep.equal([]);
    expect(declined, `declined but legal: ${declined.slice(0, 40).join(' ')}`).to.deep.equal([]);
    expect(executed).to.be.greaterThan(COUNT / 10);
  });
});
