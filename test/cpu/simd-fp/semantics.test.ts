// Hand-derived checks of the IEEE/Arm rules the emulator must follow (each expected value
// is worked out from first principles in the comment next to it), plus decode limits.
import { expect } from 'chai';
import { CpuState } from '../../../src/accel/emu/state.ts';
import { execSimdFp } from '../../../src/accel/emu/simd-fp/index.ts';
import { assemble, toolchainMissing } from './oracle.ts';

const RP = 1 << 22;
const RM = 2 << 22;
const RZ = 3 << 22;
const FZ = 1 << 24;
const DN = 1 << 25;
const IOC = 1;
const DZC = 2;
const OFC = 4;
const UFC = 8;
const IXC = 16;
const IDC = 128;

const TEXTS = {
  fmaddD: 'fmadd d0, d1, d2, d3',
  fmaddS: 'fmadd s0, s1, s2, s3',
  faddD: 'fadd d0, d1, d2',
  fdivD: 'fdiv d0, d1, d2',
  fmulD: 'fmul d0, d1, d2',
  fmaxnmD: 'fmaxnm d0, d1, d2',
  fmaxD: 'fmax d0, d1, d2',
  fcvtzsW: 'fcvtzs w0, d1',
  fcvtzuW: 'fcvtzu w0, d1',
  fcmpD: 'fcmp d1, d2',
  fcmpeD: 'fcmpe d1, d2',
  fmovHi: 'fmov x0, v1.d[1]',
  fmovToHi: 'fmov v1.d[1], x2',
  add8b: 'add v0.8b, v1.8b, v2.8b',
  faddS: 'fadd s0, s1, s2',
  uqadd: 'uqadd v0.16b, v1.16b, v2.16b',
} as const;

type Name = keyof typeof TEXTS;

describe('simd-fp: IEEE and Arm semantics from first principles', function () {
  const enc = new Map<Name, number>();
  let s: CpuState;

  before(function () {
    if (toolchainMissing()) this.skip();
    const names = Object.keys(TEXTS) as Name[];
    const codes = assemble(names.map((n) => TEXTS[n]));
    names.forEach((n, i) => enc.set(n, codes[i]));
  });

  beforeEach(() => {
    s = new CpuState();
  });

  const dv = (): DataView => new DataView(s.buffer, s.vbytes.byteOffset, 512);
  const setD = (reg: number, x: number): void => dv().setFloat64(reg * 16, x, true);
  const setDBits = (reg: number, bits: bigint): void => dv().setBigUint64(reg * 16, bits, true);
  const getD = (reg: number): number => dv().getFloat64(reg * 16, true);
  const getDBits = (reg: number): bigint => dv().getBigUint64(reg * 16, true);
  const setS = (reg: number, x: number): void => dv().setFloat32(reg * 16, x, true);
  const getS = (reg: number): number => dv().getFloat32(reg * 16, true);
  const exec = (name: Name, fpcr = 0): void => {
    s.fpcr = fpcr;
    s.fpsr = 0;
    expect(execSimdFp(s, enc.get(name)!), TEXTS[name]).to.equal(true);
  };

  it('FMADD (double) rounds once: (1+2^-30)(1-2^-30) - 1 = -2^-60 exactly', () => {
    setD(1, 1 + 2 ** -30);
    setD(2, 1 - 2 ** -30);
    setD(3, -1);
    exec('fmaddD');
    expect(getD(0)).to.equal(-(2 ** -60)); // an unfused multiply then add gives 0
    expect(s.fpsr).to.equal(0);
  });

  it('FMADD (single) rounds once: (1+2^-12)(1-2^-12) - 1 = -2^-24 exactly', () => {
    setS(1, 1 + 2 ** -12);
    setS(2, 1 - 2 ** -12);
    setS(3, -1);
    exec('fmaddS');
    expect(getS(0)).to.equal(-(2 ** -24));
  });

  it('FADD honours every rounding mode: 1 + 2^-60', () => {
    const up = 1 + 2 ** -52;
    for (const [fpcr, want] of [
      [0, 1],
      [RP, up],
      [RM, 1],
      [RZ, 1],
    ] as const) {
      setD(1, 1);
      setD(2, 2 ** -60);
      exec('faddD', fpcr);
      expect(getD(0), `fpcr ${fpcr}`).to.equal(want);
      expect(s.fpsr).to.equal(IXC);
    }
    setD(1, -1);
    setD(2, -(2 ** -60));
    exec('faddD', RM);
    expect(getD(0)).to.equal(-up);
  });

  it('FDIV 1/3: RP and RM results are adjacent and bracket the quotient', () => {
    setD(1, 1);
    setD(2, 3);
    exec('fdivD', RP);
    const up = getD(0);
    exec('fdivD', RM);
    const down = getD(0);
    exec('fdivD', RZ);
    expect(getD(0)).to.equal(down);
    expect(up - down).to.equal(2 ** -54); // one ulp in [0.25, 0.5)
    expect(down < 1 / 3 || up > 1 / 3).to.equal(true);
  });

  it('x/0 raises DZC and gives a signed infinity', () => {
    setD(1, -2);
    setD(2, 0);
    exec('fdivD');
    expect(getD(0)).to.equal(-Infinity);
    expect(s.fpsr).to.equal(DZC);
  });

  it('overflow: to infinity in RN, to the largest finite value in RZ', () => {
    setD(1, Number.MAX_VALUE);
    setD(2, 2);
    exec('fmulD');
    expect(getD(0)).to.equal(Infinity);
    expect(s.fpsr).to.equal(OFC | IXC);
    exec('fmulD', RZ);
    expect(getD(0)).to.equal(Number.MAX_VALUE);
    expect(s.fpsr).to.equal(OFC | IXC);
  });

  it('underflow: exact subnormal results raise nothing; FZ flushes and raises UFC only', () => {
    setD(1, 2 ** -1022);
    setD(2, 0.5);
    exec('fmulD');
    expect(getD(0)).to.equal(2 ** -1023);
    expect(s.fpsr).to.equal(0);
    exec('fmulD', FZ);
    expect(Object.is(getD(0), 0)).to.equal(true);
    expect(s.fpsr).to.equal(UFC);
    // (2^-1022 + 2^-1074) / 2 = 2^-1023 + 2^-1075: half a subnormal ulp, a tie that rounds
    // to the even 2^-1023; tiny and inexact, so UFC and IXC.
    setDBits(1, 0x0010000000000001n);
    exec('fmulD');
    expect(getD(0)).to.equal(2 ** -1023);
    expect(s.fpsr).to.equal(UFC | IXC);
  });

  it('FZ flushes denormal inputs to zero and raises IDC', () => {
    setDBits(1, 1n);
    setD(2, 0);
    exec('faddD', FZ);
    expect(getDBits(0)).to.equal(0n);
    expect(s.fpsr).to.equal(IDC);
  });

  it('NaN propagation: signalling NaN wins and is quieted; else the first quiet NaN', () => {
    setDBits(1, 0x7ff8000000000001n);
    setDBits(2, 0x7ff0000000000002n);
    exec('faddD');
    expect(getDBits(0)).to.equal(0x7ff8000000000002n);
    expect(s.fpsr).to.equal(IOC);
    setDBits(2, 0xfff8000000000003n);
    exec('faddD');
    expect(getDBits(0)).to.equal(0x7ff8000000000001n);
    expect(s.fpsr).to.equal(0);
    exec('faddD', DN);
    expect(getDBits(0)).to.equal(0x7ff8000000000000n);
  });

  it('single-precision signalling NaNs keep their payload when quieted', () => {
    new DataView(s.buffer, s.vbytes.byteOffset).setUint32(16, 0x7f800123, true);
    setS(2, 1);
    exec('faddS');
    expect(new DataView(s.buffer, s.vbytes.byteOffset).getUint32(0, true)).to.equal(0x7fc00123);
    expect(s.fpsr).to.equal(IOC);
  });

  it('FMAXNM prefers the number over a quiet NaN; FMAX returns the NaN', () => {
    setDBits(1, 0x7ff8000000000005n);
    setD(2, 1);
    exec('fmaxnmD');
    expect(getD(0)).to.equal(1);
    exec('fmaxD');
    expect(getDBits(0)).to.equal(0x7ff8000000000005n);
  });

  it('FCVTZS/FCVTZU saturate with IOC; in-range inexact raises IXC only', () => {
    setD(1, 3e9);
    exec('fcvtzsW');
    expect(s.xlo(0)).to.equal(0x7fffffff);
    expect(s.fpsr).to.equal(IOC);
    setD(1, -1.5);
    exec('fcvtzuW');
    expect(s.xlo(0)).to.equal(0);
    expect(s.fpsr).to.equal(IOC);
    setD(1, -0.5);
    exec('fcvtzuW');
    expect(s.xlo(0)).to.equal(0);
    expect(s.fpsr).to.equal(IXC);
    setDBits(1, 0x7ff8000000000000n);
    exec('fcvtzsW');
    expect(s.xlo(0)).to.equal(0);
    expect(s.fpsr).to.equal(IOC);
  });

  it('FCMP: unordered is NZCV=0011; FCMPE signals on quiet NaNs, FCMP does not', () => {
    setDBits(1, 0x7ff8000000000000n);
    setD(2, 1);
    exec('fcmpD');
    expect([s.n, s.z, s.c, s.v]).to.deep.equal([0, 0, 1, 1]);
    expect(s.fpsr).to.equal(0);
    exec('fcmpeD');
    expect(s.fpsr).to.equal(IOC);
    setD(1, -0);
    setD(2, 0);
    exec('fcmpD');
    expect([s.n, s.z, s.c, s.v]).to.deep.equal([0, 1, 1, 0]);
    setD(1, -1);
    exec('fcmpD');
    expect([s.n, s.z, s.c, s.v]).to.deep.equal([1, 0, 0, 0]);
  });

  it('FMOV to and from the top half of a Q register leaves the low half alone', () => {
    s.vbytes.fill(0x11, 16, 32);
    s.setX(2, 0x55667788, 0x11223344);
    exec('fmovToHi');
    expect(s.vbytes.slice(16, 24).every((b) => b === 0x11)).to.equal(true);
    exec('fmovHi');
    expect(s.xlo(0)).to.equal(0x55667788);
    expect(s.xhi(0)).to.equal(0x11223344);
  });

  it('64-bit vector and scalar FP results zero the rest of the register', () => {
    s.vbytes.fill(0xff, 0, 16);
    exec('add8b');
    expect(s.vbytes.slice(8, 16).every((b) => b === 0)).to.equal(true);
    s.vbytes.fill(0xff, 0, 16);
    setS(1, 1);
    setS(2, 2);
    exec('faddS');
    expect(getS(0)).to.equal(3);
    expect(s.vbytes.slice(4, 16).every((b) => b === 0)).to.equal(true);
  });

  it('saturating integer arithmetic sets FPSR.QC', () => {
    s.vbytes.fill(0xf0, 16, 32);
    s.vbytes.fill(0x20, 32, 48);
    exec('uqadd');
    expect(s.vbytes.slice(0, 16).every((b) => b === 0xff)).to.equal(true);
    expect(s.fpsr).to.equal(1 << 27);
  });

  it('crypto, dot-product, RDM and half-precision arithmetic encodings are UNDEFINED', () => {
    // aese, sha1c, sha256h, pmull (1q), sha1h, sha512h, eor3, aesmc, sha256su0, sm3ss1,
    // sdot, sqrdmlah, fadd (8h), fadd (h) - encodings from aarch64-linux-gnu-as.
    for (const insn of [
      0x4e284820, 0x5e020020, 0x5e024020, 0x0ee2e020, 0x5e280820, 0xce628020, 0xce020c20, 0x4e286820, 0x5e282820,
      0xce420c20, 0x4e829420, 0x6e428420, 0x4e421420, 0x1ee22820,
    ]) {
      expect(execSimdFp(s, insn), insn.toString(16)).to.equal(false);
    }
  });

  it('encodings outside the FP/AdvSIMD space are rejected', () => {
    expect(execSimdFp(s, 0x8b020020)).to.equal(false); // add x0, x1, x2
    expect(execSimdFp(s, 0xd503201f)).to.equal(false); // nop
  });
});
