import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExitReason } from '../../src/accel/types.ts';
import { SysReg } from '../../src/accel/sysregs.ts';
import { decodeExit, mmioReadResult, EC } from '../../src/arch/arm64/exit-decoder.ts';

const exc = (syndrome: number, pa = 0x0900_0000n, va = 0xffff_0000_0900_0000n) => ({
  reason: ExitReason.Exception,
  syndrome: BigInt(syndrome >>> 0),
  virtualAddress: va,
  physicalAddress: pa,
});

// ESR = EC<<26 | IL<<25 | ISS. Data-abort ISS: ISV[24] SAS[23:22] SSE[21] SRT[20:16] SF[15] AR[14] WnR[6] DFSC[5:0].
const dabt = (f: { sas: number; sse?: number; srt: number; sf: number; ar?: number; wnr: number }) =>
  ((EC.DATA_ABORT_LOWER << 26) | (1 << 25) | (1 << 24) | (f.sas << 22) | ((f.sse ?? 0) << 21) |
    (f.srt << 16) | (f.sf << 15) | ((f.ar ?? 0) << 14) | (f.wnr << 6) | 0x07) >>> 0;

// Each row: an instruction, its A64 encoding, and the ESR_EL2 a stage-2 fault on it reports.
const mmioRows = [
  { asm: 'ldr w1, [x0]', enc: 0xb9400001, esr: dabt({ sas: 2, srt: 1, sf: 0, wnr: 0 }), want: { kind: 'mmio-read', size: 4, register: 1, signExtend: false, sixtyFourBit: false } },
  { asm: 'ldr x2, [x3]', enc: 0xf9400062, esr: dabt({ sas: 3, srt: 2, sf: 1, wnr: 0 }), want: { kind: 'mmio-read', size: 8, register: 2, signExtend: false, sixtyFourBit: true } },
  { asm: 'ldrb w4, [x5, #1]', enc: 0x394004a4, esr: dabt({ sas: 0, srt: 4, sf: 0, wnr: 0 }), want: { kind: 'mmio-read', size: 1, register: 4, signExtend: false, sixtyFourBit: false } },
  { asm: 'ldrsh x6, [x7]', enc: 0x798000e6, esr: dabt({ sas: 1, sse: 1, srt: 6, sf: 1, wnr: 0 }), want: { kind: 'mmio-read', size: 2, register: 6, signExtend: true, sixtyFourBit: true } },
  { asm: 'ldrsb w8, [x9]', enc: 0x39c00128, esr: dabt({ sas: 0, sse: 1, srt: 8, sf: 0, wnr: 0 }), want: { kind: 'mmio-read', size: 1, register: 8, signExtend: true, sixtyFourBit: false } },
  { asm: 'ldar w10, [x11]', enc: 0x88dffd6a, esr: dabt({ sas: 2, srt: 10, sf: 0, ar: 1, wnr: 0 }), want: { kind: 'mmio-read', size: 4, register: 10, acquireRelease: true } },
  { asm: 'str w12, [x13]', enc: 0xb90001ac, esr: dabt({ sas: 2, srt: 12, sf: 0, wnr: 1 }), want: { kind: 'mmio-write', size: 4, register: 12 } },
  { asm: 'strh w14, [x15, #2]', enc: 0x790005ee, esr: dabt({ sas: 1, srt: 14, sf: 0, wnr: 1 }), want: { kind: 'mmio-write', size: 2, register: 14 } },
  { asm: 'str xzr, [x1]', enc: 0xf900003f, esr: dabt({ sas: 3, srt: 31, sf: 1, wnr: 1 }), want: { kind: 'mmio-write', size: 8, register: 31 } },
  { asm: 'stlr x3, [x4]', enc: 0xc89ffc83, esr: dabt({ sas: 3, srt: 3, sf: 1, ar: 1, wnr: 1 }), want: { kind: 'mmio-write', size: 8, register: 3, acquireRelease: true } },
];

// MSR/MRS ISS: Op0[21:20] Op2[19:17] Op1[16:14] CRn[13:10] Rt[9:5] CRm[4:1] Dir[0] (1 = MRS).
const sysreg = (op0: number, op1: number, crn: number, crm: number, op2: number, rt: number, read: boolean) =>
  ((EC.SYSREG << 26) | (1 << 25) | (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | (read ? 1 : 0)) >>> 0;

const sysregRows = [
  { asm: 'mrs x0, icc_iar1_el1', enc: 0xd538cc00, esr: sysreg(3, 0, 12, 12, 0, 0, true), id: 0xc660, read: true, register: 0 },
  { asm: 'msr icc_eoir1_el1, x1', enc: 0xd518cc21, esr: sysreg(3, 0, 12, 12, 1, 1, false), id: 0xc661, read: false, register: 1 },
  { asm: 'msr icc_sgi1r_el1, x2', enc: 0xd518cba2, esr: sysreg(3, 0, 12, 11, 5, 2, false), id: 0xc65d, read: false, register: 2 },
  { asm: 'msr oslar_el1, x3', enc: 0xd5101083, esr: sysreg(2, 0, 1, 0, 4, 3, false), id: 0x8084, read: false, register: 3 },
  { asm: 'mrs x4, cntv_ctl_el0', enc: 0xd53be324, esr: sysreg(3, 3, 14, 3, 1, 4, true), id: SysReg.CNTV_CTL_EL0, read: true, register: 4 },
  { asm: 'mrs x5, sctlr_el1', enc: 0xd5381005, esr: sysreg(3, 0, 1, 0, 0, 5, true), id: SysReg.SCTLR_EL1, read: true, register: 5 },
];

const otherRows = [
  { asm: 'wfi', esr: ((EC.WFX << 26) | (1 << 25)) >>> 0, want: { kind: 'wfi' } },
  { asm: 'wfe', esr: ((EC.WFX << 26) | (1 << 25) | 1) >>> 0, want: { kind: 'wfe' } },
  { asm: 'hvc #0', esr: ((EC.HVC64 << 26) | (1 << 25)) >>> 0, want: { kind: 'hvc', imm: 0 } },
  { asm: 'hvc #0x1234', esr: ((EC.HVC64 << 26) | (1 << 25) | 0x1234) >>> 0, want: { kind: 'hvc', imm: 0x1234 } },
  { asm: 'smc #0', esr: ((EC.SMC64 << 26) | (1 << 25)) >>> 0, want: { kind: 'smc', imm: 0 } },
  { asm: 'brk #0x3e8', esr: ((EC.BRK64 << 26) | (1 << 25) | 0x3e8) >>> 0, want: { kind: 'brk', imm: 0x3e8 } },
  { asm: '(hardware breakpoint)', esr: ((EC.BREAKPOINT_LOWER << 26) | (1 << 25) | 0x22) >>> 0, want: { kind: 'breakpoint' } },
  { asm: '(software step)', esr: ((EC.SOFTWARE_STEP_LOWER << 26) | (1 << 25) | 0x22) >>> 0, want: { kind: 'software-step' } },
  { asm: '(watchpoint on a store)', esr: ((EC.WATCHPOINT_LOWER << 26) | (1 << 25) | (1 << 6) | 0x22) >>> 0, want: { kind: 'watchpoint', write: true } },
  { asm: 'ldp x0, x1, [x2] (ISV=0)', esr: ((EC.DATA_ABORT_LOWER << 26) | (1 << 25) | 0x07) >>> 0, want: { kind: 'data-abort', write: false, dfsc: 7 } },
  { asm: '(fetch from MMIO)', esr: ((EC.INSTR_ABORT_LOWER << 26) | (1 << 25) | 0x06) >>> 0, want: { kind: 'instruction-abort', ifsc: 6 } },
  { asm: '(FP access trap)', esr: ((EC.FP_ACCESS << 26) | (1 << 25)) >>> 0, want: { kind: 'undecodable', ec: EC.FP_ACCESS } },
];

describe('exit decoder', () => {
  describe('MMIO data aborts', () => {
    for (const row of mmioRows) {
      it(`${row.asm} -> ${row.want.kind}`, () => {
        const ev = decodeExit(exc(row.esr));
        expect(ev).to.include(row.want);
        expect(ev).to.have.property('address', 0x0900_0000);
        // The syndrome's SRT must name the instruction's Rt field (bits [4:0]).
        expect((ev as { register: number }).register).to.equal(row.enc & 31);
      });
    }
  });

  describe('system-register traps', () => {
    for (const row of sysregRows) {
      it(`${row.asm} -> id 0x${row.id.toString(16)}`, () => {
        const ev = decodeExit(exc(row.esr));
        expect(ev).to.include({ kind: 'sysreg', id: row.id, read: row.read, register: row.register });
        // MSR/MRS encode op0-1 at [20:19], op1 [18:16], CRn [15:12], CRm [11:8], op2 [7:5].
        const op0 = 2 + ((row.enc >>> 19) & 1);
        const fromEncoding = (op0 << 14) | (((row.enc >>> 16) & 7) << 11) | (((row.enc >>> 12) & 15) << 7) | (((row.enc >>> 8) & 15) << 3) | ((row.enc >>> 5) & 7);
        expect(fromEncoding).to.equal(row.id);
      });
    }
  });

  describe('other exceptions', () => {
    for (const row of otherRows) {
      it(`${row.asm} -> ${row.want.kind}`, () => {
        expect(decodeExit(exc(row.esr))).to.include(row.want);
      });
    }
  });

  it('keeps the raw syndrome of an exit it cannot decode', () => {
    const ev = decodeExit(exc(0xfc000000));
    expect(ev).to.deep.include({ kind: 'undecodable', ec: 0x3f, syndrome: 0xfc000000n });
    expect(decodeExit({ reason: ExitReason.Unknown, syndrome: 5n, virtualAddress: 0n, physicalAddress: 0n })).to.include({ kind: 'undecodable', reason: ExitReason.Unknown });
  });

  it('decodes canceled and vtimer exits', () => {
    expect(decodeExit({ reason: ExitReason.Canceled, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n })).to.deep.equal({ kind: 'canceled' });
    expect(decodeExit({ reason: ExitReason.VtimerActivated, syndrome: 0n, virtualAddress: 0n, physicalAddress: 0n })).to.deep.equal({ kind: 'vtimer' });
  });

  it('sign-extends and truncates MMIO read results per SSE and SF', () => {
    const ldrsh = decodeExit(exc(mmioRows[3].esr));
    if (ldrsh.kind !== 'mmio-read') throw new Error('expected mmio-read');
    expect(mmioReadResult(ldrsh, 0x8001n)).to.equal(0xffff_ffff_ffff_8001n);
    const ldrsb = decodeExit(exc(mmioRows[4].esr));
    if (ldrsb.kind !== 'mmio-read') throw new Error('expected mmio-read');
    expect(mmioReadResult(ldrsb, 0x1ffn)).to.equal(0xffff_ffffn);
    const ldrw = decodeExit(exc(mmioRows[0].esr));
    if (ldrw.kind !== 'mmio-read') throw new Error('expected mmio-read');
    expect(mmioReadResult(ldrw, 0x1_2345_6789n)).to.equal(0x2345_6789n);
  });

  describe('encodings match the assembler', function () {
    let dir: string;
    before(function () {
      try {
        execFileSync('aarch64-linux-gnu-as', ['--version'], { stdio: 'ignore' });
      } catch {
        this.skip();
      }
      dir = mkdtempSync(join(tmpdir(), 'nodevisor-dec-'));
    });
    after(() => dir && rmSync(dir, { recursive: true, force: true }));

    it('every table row names its real encoding', () => {
      const rows = [...mmioRows, ...sysregRows];
      const src = rows.map((r) => `  ${r.asm.replace(/_el1|_el0/g, (m) => m)}\n`).join('');
      writeFileSync(join(dir, 't.s'), `.arch armv8.2-a\n.text\n${src}`);
      execFileSync('aarch64-linux-gnu-as', ['-o', join(dir, 't.o'), join(dir, 't.s')]);
      execFileSync('aarch64-linux-gnu-objcopy', ['-O', 'binary', '-j', '.text', join(dir, 't.o'), join(dir, 't.bin')]);
      const bin = readFileSync(join(dir, 't.bin'));
      rows.forEach((r, i) => expect(bin.readUInt32LE(i * 4), r.asm).to.equal(r.enc));
    });
  });
});
