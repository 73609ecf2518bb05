// Cross toolchain and qemu-aarch64 for the CPU's differential tests: finds the tools,
// builds static freestanding AArch64 ELFs (cached under os.tmpdir() by a hash of the
// sources and flags) and runs them under qemu-user as the reference.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class ToolchainError extends Error {
  override readonly name = 'ToolchainError';
}

export interface Toolchain {
  gcc: string;
  qemu: string;
  nm: string;
  objcopy: string;
  cacheDir: string;
}

const PREFIXES = ['aarch64-linux-gnu-', 'aarch64-none-elf-', 'aarch64-elf-', 'aarch64-unknown-linux-gnu-'];

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

let cached: { toolchain?: Toolchain; reason?: string } | undefined;

/** The toolchain, or undefined plus the reason the tools are missing (for this.skip()). */
export function findToolchain(): { toolchain?: Toolchain; reason?: string } {
  if (cached) return cached;
  let gcc: string | undefined;
  let nm: string | undefined;
  let objcopy: string | undefined;
  for (const prefix of PREFIXES) {
    gcc = which(`${prefix}gcc`);
    nm = which(`${prefix}nm`);
    objcopy = which(`${prefix}objcopy`);
    if (gcc && nm && objcopy) break;
    gcc = undefined;
  }
  const qemu = which('qemu-aarch64') ?? which('qemu-aarch64-static');
  if (!gcc || !nm || !objcopy) {
    cached = { reason: 'no AArch64 cross compiler (apt-get install gcc-aarch64-linux-gnu)' };
  } else if (!qemu) {
    cached = { reason: 'no qemu-aarch64 (apt-get install qemu-user)' };
  } else {
    const cacheDir = path.join(os.tmpdir(), 'nodevisor-aarch64-cache');
    mkdirSync(cacheDir, { recursive: true });
    cached = { toolchain: { gcc, qemu, nm, objcopy, cacheDir } };
  }
  return cached;
}

/** The toolchain, for a suite's before hook: skips the suite (mocha's this.skip) when the tools are missing. */
export function toolchainOrSkip(ctx: Mocha.Context): Toolchain {
  const found = findToolchain();
  if (!found.toolchain) ctx.skip();
  return found.toolchain!;
}

/** Startup code: _start calls main(argc=0) and exits through a raw exit_group. */
const CRT0 = `
  .text
  .global _start
  .type _start, %function
_start:
  mov x29, #0
  mov x30, #0
  mov x0, #0
  mov x1, #0
  bl main
  mov x8, #94
  svc #0
  b .
`;

/**
 * Declarations every C test program gets: raw write/exit syscalls and the mem* functions
 * gcc may emit calls to even when freestanding.
 */
export const C_PRELUDE = `
typedef unsigned long size_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef unsigned int uint32_t;
typedef int int32_t;
typedef unsigned short uint16_t;
typedef short int16_t;
typedef signed char int8_t;
typedef unsigned char uint8_t;
static inline long nv_syscall3(long n, long a, long b, long c) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
}
static inline long nv_write(const void *buf, size_t len) { return nv_syscall3(64, 1, (long)buf, (long)len); }
static inline void nv_exit(int code) { nv_syscall3(94, code, 0, 0); for (;;) {} }
void *memcpy(void *d, const void *s, size_t n) { uint8_t *dp = d; const uint8_t *sp = s; while (n--) *dp++ = *sp++; return d; }
void *memmove(void *d, const void *s, size_t n) {
  uint8_t *dp = d; const uint8_t *sp = s;
  if (dp < sp) { while (n--) *dp++ = *sp++; } else { while (n--) dp[n] = sp[n]; }
  return d;
}
void *memset(void *d, int c, size_t n) { uint8_t *dp = d; while (n--) *dp++ = (uint8_t)c; return d; }
int memcmp(const void *a, const void *b, size_t n) {
  const uint8_t *x = a, *y = b;
  for (; n; n--, x++, y++) if (*x != *y) return *x - *y;
  return 0;
}
`;

export const DEFAULT_CFLAGS = ['-O2'];
const BASE_FLAGS = [
  '-static', '-nostdlib', '-ffreestanding', '-fno-pie', '-no-pie', '-fno-stack-protector',
  '-fno-asynchronous-unwind-tables', '-fno-tree-loop-distribute-patterns', '-mno-outline-atomics',
  '-Wl,--build-id=none', '-Wl,-z,norelro',
];

export interface BuildInput {
  /** C source (the prelude is prepended) or assembly source. */
  source: string;
  language: 'c' | 'asm';
  /** Extra compiler flags, e.g. ['-O3'] or ['-march=armv8.2-a+crc+lse']. */
  flags?: string[];
}

export interface BuiltElf {
  path: string;
  bytes: Uint8Array;
}

/** Compile and link to a static freestanding ELF; cached by a hash of everything that went in. */
export function buildElf(tc: Toolchain, input: BuildInput): BuiltElf {
  const flags = input.flags ?? (input.language === 'c' ? DEFAULT_CFLAGS : []);
  const source = input.language === 'c' ? C_PRELUDE + input.source : input.source;
  const hash = createHash('sha256')
    .update(JSON.stringify([tc.gcc, BASE_FLAGS, flags, input.language, CRT0, source]))
    .digest('hex')
    .slice(0, 24);
  const out = path.join(tc.cacheDir, `${hash}.elf`);
  if (!existsSync(out)) {
    const work = path.join(tc.cacheDir, `${hash}.${process.pid}`);
    const srcFile = `${work}.${input.language === 'c' ? 'c' : 'S'}`;
    const crtFile = `${work}.crt0.S`;
    writeFileSync(srcFile, source);
    writeFileSync(crtFile, CRT0);
    const args = [...BASE_FLAGS, ...flags];
    if (input.language === 'asm') args.push('-nostartfiles');
    args.push('-o', `${work}.tmp`, crtFile, srcFile, '-lgcc');
    try {
      execFileSync(tc.gcc, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
    } catch (e) {
      const err = e as { stderr?: Buffer };
      throw new ToolchainError(`${path.basename(tc.gcc)} failed:\n${err.stderr?.toString().slice(0, 4000)}`);
    } finally {
      rmSync(srcFile, { force: true });
      rmSync(crtFile, { force: true });
    }
    renameSync(`${work}.tmp`, out);
  }
  return { path: out, bytes: new Uint8Array(readFileSync(out)) };
}

/**
 * Assemble position-independent code into raw bytes (the .text section alone), for tests
 * that place a few instructions in guest RAM themselves.
 */
export function assembleRaw(tc: Toolchain, source: string, flags: string[] = ['-march=armv8.2-a']): Uint8Array {
  const hash = createHash('sha256').update(JSON.stringify([tc.gcc, flags, source])).digest('hex').slice(0, 24);
  const out = path.join(tc.cacheDir, `${hash}.bin`);
  if (!existsSync(out)) {
    const work = path.join(tc.cacheDir, `${hash}.${process.pid}`);
    writeFileSync(`${work}.S`, `  .text\n${source}\n`);
    try {
      execFileSync(tc.gcc, [...flags, '-c', '-o', `${work}.o`, `${work}.S`], { stdio: ['ignore', 'pipe', 'pipe'] });
      execFileSync(tc.objcopy, ['-O', 'binary', '-j', '.text', `${work}.o`, `${work}.tmp`], { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const err = e as { stderr?: Buffer };
      throw new ToolchainError(`assembling failed:\n${err.stderr?.toString().slice(0, 4000)}`);
    } finally {
      rmSync(`${work}.S`, { force: true });
      rmSync(`${work}.o`, { force: true });
    }
    renameSync(`${work}.tmp`, out);
  }
  return new Uint8Array(readFileSync(out));
}

/** Symbol name -> address, from nm (for mapping a faulting PC back to a test case). */
export function readSymbols(tc: Toolchain, elfPath: string): Map<string, bigint> {
  const text = execFileSync(tc.nm, [elfPath], { maxBuffer: 64 << 20 }).toString();
  const map = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)\s+\w\s+(\S+)$/.exec(line);
    if (m) map.set(m[2], BigInt(`0x${m[1]}`));
  }
  return map;
}

export interface ProgramResult {
  stdout: Uint8Array;
  exitCode: number;
  /** Why the program did not run to completion (time-out, signal, guest fault). */
  error?: string;
}

/** Run an ELF under qemu-aarch64 (the reference), killing it after timeoutMs. */
export function runOnQemu(tc: Toolchain, elfPath: string, timeoutMs = 20_000): Promise<ProgramResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(tc.qemu, [elfPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    const errChunks: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.stderr.on('data', (c: Buffer) => errChunks.push(c));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = new Uint8Array(Buffer.concat(chunks));
      let error: string | undefined;
      if (timedOut) error = `qemu-aarch64 timed out after ${timeoutMs} ms`;
      else if (signal) error = `qemu-aarch64 killed by ${signal}: ${Buffer.concat(errChunks).toString().slice(0, 500)}`;
      resolve({ stdout, exitCode: code ?? -1, error });
    });
  });
}
