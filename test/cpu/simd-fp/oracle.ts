// QEMU as the oracle for single FP/AdvSIMD instructions: every case sets V0-V7, X0-X7,
// FPCR and NZCV, clears FPSR, runs one instruction and records V0-V7, X0-X7, NZCV and
// FPSR. All cases go into one static program run once under qemu-aarch64; the same
// encodings are then run through the emulator and compared field by field.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findToolchain } from '../../helpers/aarch64-toolchain.ts';

export interface OracleCase {
  /** Index into the instruction list. */
  insn: number;
  /** 128 bytes: V0..V7. */
  v: Uint8Array;
  /** X0..X7. */
  x: bigint[];
  fpcr: number;
  /** NZCV in bits 31:28. */
  nzcv: number;
}

export interface OracleResult {
  v: Uint8Array;
  x: bigint[];
  nzcv: number;
  fpsr: number;
  /** QEMU raised SIGILL (the instruction is UNDEFINED for the emulated CPU). */
  illegal: boolean;
}

export const CASE_BYTES = 208;
const OUT_BYTES = 224;

export function toolchainMissing(): string | undefined {
  return findToolchain().reason;
}

function workDir(): string {
  const dir = path.join(os.tmpdir(), 'nodevisor-simdfp-oracle');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function gcc(): string {
  const tc = findToolchain().toolchain;
  if (!tc) throw new Error(findToolchain().reason);
  return tc.gcc;
}

/** Assemble instruction texts to their 32-bit encodings (one per line). */
export function assemble(texts: string[]): number[] {
  const tc = findToolchain().toolchain!;
  const src = `  .text\n  .arch armv8.2-a+fp16\n${texts.map((t) => `  ${t}\n`).join('')}`;
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = workDir();
  const bin = path.join(dir, `insns-${hash}.bin`);
  if (!existsSync(bin)) {
    const s = path.join(dir, `insns-${hash}.s`);
    const o = path.join(dir, `insns-${hash}.o`);
    writeFileSync(s, src);
    execFileSync(gcc(), ['-c', '-o', o, s]);
    execFileSync(tc.objcopy, ['-O', 'binary', '-j', '.text', o, bin]);
  }
  const bytes = readFileSync(bin);
  if (bytes.length !== texts.length * 4) throw new Error('assembled size mismatch');
  const out: number[] = [];
  for (let i = 0; i < texts.length; i++) out.push(bytes.readUInt32LE(i * 4));
  return out;
}

function hex64(v: bigint): string {
  return '0x' + BigInt.asUintN(64, v).toString(16);
}

function caseData(c: OracleCase): string {
  const quads: bigint[] = [];
  const dv = new DataView(c.v.buffer, c.v.byteOffset, 128);
  for (let i = 0; i < 16; i++) quads.push(dv.getBigUint64(i * 8, true));
  quads.push(...c.x, BigInt(c.fpcr >>> 0), BigInt(c.nzcv >>> 0));
  return `  .quad ${quads.map(hex64).join(',')}\n`;
}

const LOAD = `  ldp q0, q1, [x19]
  ldp q2, q3, [x19, #32]
  ldp q4, q5, [x19, #64]
  ldp q6, q7, [x19, #96]
  ldp x0, x1, [x19, #128]
  ldp x2, x3, [x19, #144]
  ldp x4, x5, [x19, #160]
  ldp x6, x7, [x19, #176]
  ldr x20, [x19, #192]
  msr fpcr, x20
  ldr x20, [x19, #200]
  msr nzcv, x20
  msr fpsr, xzr
  str wzr, [x23]
`;

const STORE = `  mrs x20, nzcv
  mrs x21, fpsr
  stp q0, q1, [x22]
  stp q2, q3, [x22, #32]
  stp q4, q5, [x22, #64]
  stp q6, q7, [x22, #96]
  stp x0, x1, [x22, #128]
  stp x2, x3, [x22, #144]
  stp x4, x5, [x22, #160]
  stp x6, x7, [x22, #176]
  stp x20, x21, [x22, #192]
  ldr w20, [x23]
  str x20, [x22, #208]
  add x19, x19, #${CASE_BYTES}
  add x22, x22, #${OUT_BYTES}
`;

// SIGILL handler: note the trap and resume after the instruction. In the aarch64
// ucontext, uc_mcontext starts at 176 and sigcontext.pc is 264 bytes into it.
const HANDLER = `
sigill:
  ldr x9, [x2, #440]
  add x9, x9, #4
  str x9, [x2, #440]
  adrp x9, illflag
  add x9, x9, :lo12:illflag
  mov w10, #1
  str w10, [x9]
  ret
`;

/** Run all cases under qemu-aarch64 (cached by content hash). */
export function runOracle(encodings: number[], cases: OracleCase[], cpu = 'max'): OracleResult[] {
  const tc = findToolchain().toolchain!;
  let src = `  .text
  .global _start
_start:
  adrp x1, sigact
  add x1, x1, :lo12:sigact
  adrp x9, sigill
  add x9, x9, :lo12:sigill
  str x9, [x1]
  mov x0, #4
  mov x2, #0
  mov x3, #8
  mov x8, #134
  svc #0
  adrp x23, illflag
  add x23, x23, :lo12:illflag
  adrp x19, inputs
  add x19, x19, :lo12:inputs
  adrp x22, outputs
  add x22, x22, :lo12:outputs
`;
  for (const c of cases) src += LOAD + `  .inst 0x${(encodings[c.insn] >>> 0).toString(16)}\n` + STORE;
  const total = cases.length * OUT_BYTES;
  src += `  adrp x1, outputs
  add x1, x1, :lo12:outputs
  ldr x2, =${total}
1:
  cbz x2, 2f
  mov x0, #1
  mov x8, #64
  svc #0
  cmp x0, #0
  b.le 3f
  add x1, x1, x0
  sub x2, x2, x0
  b 1b
2:
  mov x0, #0
3:
  mov x8, #94
  svc #0
${HANDLER}
  .ltorg
  .data
  .balign 16
sigact:
  .quad 0, 4, 0, 0
illflag:
  .quad 0
inputs:
${cases.map(caseData).join('')}
  .bss
  .balign 16
outputs:
  .skip ${total}
`;
  const hash = createHash('sha256').update(src + cpu).digest('hex').slice(0, 16);
  const dir = workDir();
  const out = path.join(dir, `oracle-${hash}.out`);
  let data: Buffer;
  if (existsSync(out)) data = readFileSync(out);
  else {
    const s = path.join(dir, `oracle-${hash}.s`);
    const elf = path.join(dir, `oracle-${hash}.elf`);
    writeFileSync(s, src);
    execFileSync(gcc(), ['-nostdlib', '-static', '-march=armv8.2-a+fp16', '-o', elf, s]);
    data = execFileSync(tc.qemu, ['-cpu', cpu, elf], { maxBuffer: total + 4096 });
    if (data.length !== total) throw new Error(`oracle produced ${data.length} bytes, expected ${total}`);
    writeFileSync(out, data);
    rmSync(s, { force: true });
    rmSync(elf, { force: true });
  }
  const results: OracleResult[] = [];
  for (let i = 0; i < cases.length; i++) {
    const off = i * OUT_BYTES;
    const x: bigint[] = [];
    for (let k = 0; k < 8; k++) x.push(data.readBigUInt64LE(off + 128 + k * 8));
    results.push({
      v: new Uint8Array(data.subarray(off, off + 128)),
      x,
      nzcv: Number(data.readBigUInt64LE(off + 192)),
      fpsr: Number(data.readBigUInt64LE(off + 200)),
      illegal: data.readBigUInt64LE(off + 208) !== 0n,
    });
  }
  return results;
}
