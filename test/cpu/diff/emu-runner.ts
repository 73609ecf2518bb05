// Runs a static AArch64 Linux ELF on an Accelerator (the software CPU) as qemu-user would:
// the program runs at EL0 with the MMU off; every SVC enters a tiny EL1 vector table whose
// "lower EL, AArch64, synchronous" entry is `hvc #0; eret`, so each system call reaches us
// as an HVC exit (EC 0x16). We emulate write/exit_group and answer -ENOSYS to the rest.
import { ExitReason, InterruptType, MemoryFlags, Reg, type Accelerator } from '../../../src/accel/types.ts';
import { SysReg } from '../../../src/accel/sysregs.ts';
import { allocateRam } from '../../../src/memory/ram.ts';
import { elfExtent, loadElf, parseElf } from '../../helpers/elf.ts';

export class EmuRunError extends Error {
  override readonly name = 'EmuRunError';
}

export interface GuestFault {
  /** ESR_EL1 of the exception the program took at EL0. */
  esr: bigint;
  /** ELR_EL1: the instruction (for synchronous exceptions other than SVC). */
  elr: bigint;
  far: bigint;
}

export interface EmuRunOptions {
  /** Wall-clock budget; the vCPU is asked to exit when it runs out. */
  timeoutMs?: number;
  /** Skip an instruction that faults at EL0 (record it and continue) instead of stopping. */
  resumeAfterFault?: boolean;
  /** Cap on vCPU exits, against a guest that loops through the VMM. */
  maxExits?: number;
  /**
   * Run with the MMU on and an identity map of Normal write-back memory (as under Linux),
   * instead of MMU off where every access is to Device memory and must be aligned.
   */
  mmu?: boolean;
}

export interface EmuRunResult {
  stdout: Uint8Array;
  exitCode: number;
  faults: GuestFault[];
  /** Set when the program did not reach exit/exit_group. */
  error?: string;
  exits: number;
  elapsedMs: number;
}

const PAGE = 16 * 1024;
const BLOCK = 2 * 1024 * 1024;
const RAM_SIZE = 64 * 1024 * 1024;
/** The last 2 MiB block holds the vector table and page tables (EL1 only); the stack ends below it. */
const SYSTEM_AREA = BLOCK;
const STACK_SIZE = 1024 * 1024;
const MAX_OUTPUT = 64 * 1024 * 1024;

const HVC = (imm: number) => (0xd4000002 | (imm << 5)) >>> 0;
const ERET = 0xd69f03e0;
/** Vector 8 (offset 0x400) is "lower EL using AArch64, synchronous". */
const SYNC_LOWER_A64 = 8;
const VECTOR_NAMES = [
  'current EL SP0 sync', 'current EL SP0 IRQ', 'current EL SP0 FIQ', 'current EL SP0 SError',
  'current EL SPx sync', 'current EL SPx IRQ', 'current EL SPx FIQ', 'current EL SPx SError',
  'lower EL A64 sync', 'lower EL A64 IRQ', 'lower EL A64 FIQ', 'lower EL A64 SError',
  'lower EL A32 sync', 'lower EL A32 IRQ', 'lower EL A32 FIQ', 'lower EL A32 SError',
];

/** SCTLR_EL1 RES1 bits and friends as Linux leaves them, with M (MMU), C and I off. */
export const SCTLR_MMU_OFF = 0x30d00800n;
/** As Linux runs user space: M, C, I on; EL0 may use DC ZVA (DZE), CTR_EL0 (UCT), cache ops (UCI). */
export const SCTLR_MMU_ON = SCTLR_MMU_OFF | 1n | (1n << 2n) | (1n << 12n) | (1n << 14n) | (1n << 15n) | (1n << 26n);
/** 4 KiB granule, 39-bit VA from TTBR0 (walk starts at level 1), TTBR1 walks off, 40-bit IPA. */
const TCR_IDENTITY = 25n | (1n << 8n) | (1n << 10n) | (3n << 12n) | (25n << 16n) | (1n << 23n) | (2n << 32n);
const MAIR_NORMAL_WB = 0xffn;
const CPACR_FPEN_ALL = 3n << 20n;
const EC_SVC64 = 0x15;
const EC_HVC64 = 0x16;
const ENOSYS = 38n;

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/**
 * Level-1 table (VA[38:30]) pointing at one level-2 table of 2 MiB blocks that maps RAM
 * 1:1: Normal memory, EL0 read/write (so never executable at EL1), except the last block
 * (vectors, tables) which is EL1-only and not executable at EL0. Returns TTBR0_EL1.
 */
function writeIdentityMap(dv: DataView, base: number, tableOffset: number): bigint {
  const l1 = tableOffset;
  const l2 = tableOffset + 0x1000;
  if (Math.floor(base / 2 ** 30) !== Math.floor((base + RAM_SIZE - 1) / 2 ** 30)) {
    throw new EmuRunError('test RAM must lie within one 1 GiB region for the identity map');
  }
  const l1Index = Math.floor(base / 2 ** 30);
  dv.setBigUint64(l1 + l1Index * 8, BigInt(base + l2) | 3n, true);
  const AF = 1n << 10n;
  const INNER_SHAREABLE = 3n << 8n;
  const EL0_RW = 1n << 6n;
  const UXN = 1n << 54n;
  for (let off = 0; off < RAM_SIZE; off += BLOCK) {
    const pa = base + off;
    const l2Index = (pa % 2 ** 30) / BLOCK;
    const system = off === RAM_SIZE - SYSTEM_AREA;
    const desc = BigInt(pa) | 1n | AF | INNER_SHAREABLE | (system ? UXN : EL0_RW);
    dv.setBigUint64(l2 + l2Index * 8, desc, true);
  }
  return BigInt(base + l1);
}

export async function runElfOnEmulator(
  accel: Accelerator,
  elfBytes: Uint8Array,
  options: EmuRunOptions = {},
): Promise<EmuRunResult> {
  const started = performance.now();
  const image = parseElf(elfBytes);
  const extent = elfExtent(image);
  // 2 MiB-aligned so that the identity map can use block descriptors.
  const base = Math.floor(extent.start / BLOCK) * BLOCK;
  if (base % PAGE !== 0 || extent.end - base > RAM_SIZE - SYSTEM_AREA - STACK_SIZE) {
    throw new EmuRunError(`ELF spans ${hex(extent.end - base)} bytes, more than the test RAM leaves free`);
  }
  const ram = allocateRam(RAM_SIZE);
  loadElf(image, ram, base);

  const systemOffset = RAM_SIZE - SYSTEM_AREA;
  const vbar = base + systemOffset;
  const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  for (let i = 0; i < 16; i++) {
    dv.setUint32(systemOffset + i * 0x80, HVC(i === SYNC_LOWER_A64 ? 0 : 0x100 + i), true);
    dv.setUint32(systemOffset + i * 0x80 + 4, ERET, true);
  }
  const ttbr0 = options.mmu ? writeIdentityMap(dv, base, systemOffset + 0x1000) : 0n;
  const stackTop = BigInt(base + systemOffset);

  const vm = accel.createVm();
  const stdout: Uint8Array[] = [];
  let stdoutBytes = 0;
  const faults: GuestFault[] = [];
  let exits = 0;
  let exitCode = -1;
  let error: string | undefined;
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    vm.map(ram, base, MemoryFlags.RWX);
    const vcpu = await vm.createVcpu();
    if (options.mmu) {
      vcpu.setSysReg(SysReg.MAIR_EL1, MAIR_NORMAL_WB);
      vcpu.setSysReg(SysReg.TCR_EL1, TCR_IDENTITY);
      vcpu.setSysReg(SysReg.TTBR0_EL1, ttbr0);
      vcpu.setSysReg(SysReg.SCTLR_EL1, SCTLR_MMU_ON);
    } else {
      vcpu.setSysReg(SysReg.SCTLR_EL1, SCTLR_MMU_OFF);
    }
    vcpu.setSysReg(SysReg.CPACR_EL1, CPACR_FPEN_ALL);
    vcpu.setSysReg(SysReg.VBAR_EL1, BigInt(vbar));
    vcpu.setSysReg(SysReg.SP_EL0, stackTop);
    vcpu.setSysReg(SysReg.SP_EL1, BigInt(vbar + SYSTEM_AREA));
    vcpu.setReg(Reg.FPCR, 0n);
    vcpu.setReg(Reg.FPSR, 0n);
    for (let r = Reg.X0; r <= Reg.X30; r++) vcpu.setReg(r, 0n);
    vcpu.setReg(Reg.CPSR, 0n); // EL0t, interrupts unmasked as for a Linux process
    vcpu.setReg(Reg.PC, BigInt(image.entry));
    vcpu.setPendingInterrupt(InterruptType.IRQ, false);

    timer = setTimeout(() => {
      timedOut = true;
      vcpu.requestExit();
    }, options.timeoutMs ?? 30_000);
    const maxExits = options.maxExits ?? 1_000_000;

    const readGuest = (addr: bigint, len: bigint): Uint8Array | undefined => {
      const off = addr - BigInt(base);
      if (off < 0n || len < 0n || off + len > BigInt(ram.length)) return undefined;
      return ram.slice(Number(off), Number(off + len));
    };

    run: for (;;) {
      if (exits >= maxExits) {
        error = `more than ${maxExits} exits`;
        break;
      }
      const exit = await vcpu.run();
      exits++;
      if (exit.reason === ExitReason.Canceled) {
        error = timedOut ? `timed out after ${options.timeoutMs ?? 30_000} ms` : 'run() canceled unexpectedly';
        break;
      }
      if (exit.reason === ExitReason.VtimerActivated) continue; // programs do not use the timer
      if (exit.reason !== ExitReason.Exception) {
        error = `unexpected exit reason ${exit.reason}`;
        break;
      }
      const ec = Number((exit.syndrome >> 26n) & 0x3fn);
      const pc = vcpu.getReg(Reg.PC);
      if (ec !== EC_HVC64) {
        error = `unexpected exit EC ${hex(ec)} (ESR ${hex(exit.syndrome)}) at PC ${hex(pc)}, ` +
          `VA ${hex(exit.virtualAddress)} IPA ${hex(exit.physicalAddress)}`;
        break;
      }
      const imm = Number(exit.syndrome & 0xffffn);
      const esr = vcpu.getSysReg(SysReg.ESR_EL1);
      const elr = vcpu.getSysReg(SysReg.ELR_EL1);
      const far = vcpu.getSysReg(SysReg.FAR_EL1);
      if (imm !== 0) {
        const vec = imm - 0x100;
        error = `exception to EL1 vector "${VECTOR_NAMES[vec] ?? imm}": ESR_EL1 ${hex(esr)} ELR_EL1 ${hex(elr)} FAR_EL1 ${hex(far)}`;
        break;
      }
      // Resume at the ERET that follows the HVC, whatever the CPU left in PC.
      vcpu.setReg(Reg.PC, BigInt(vbar + SYNC_LOWER_A64 * 0x80 + 4));
      const elEc = Number((esr >> 26n) & 0x3fn);
      if (elEc !== EC_SVC64) {
        if (!options.resumeAfterFault) {
          error = `program faulted: ESR_EL1 ${hex(esr)} (EC ${hex(elEc)}) at ${hex(elr)}, FAR_EL1 ${hex(far)}`;
          break;
        }
        faults.push({ esr, elr, far });
        vcpu.setSysReg(SysReg.ELR_EL1, elr + 4n);
        continue;
      }
      const nr = vcpu.getReg(Reg.X8);
      const a0 = vcpu.getReg(Reg.X0);
      let ret: bigint;
      switch (nr) {
        case 64n: { // write(fd, buf, count)
          const data = readGuest(vcpu.getReg(Reg.X1), vcpu.getReg(Reg.X2));
          if (!data) {
            ret = -14n; // EFAULT
          } else if (a0 === 1n) {
            if (stdoutBytes + data.length > MAX_OUTPUT) {
              error = `program wrote more than ${MAX_OUTPUT} bytes`;
              break run;
            }
            stdout.push(data);
            stdoutBytes += data.length;
            ret = BigInt(data.length);
          } else if (a0 === 2n) {
            ret = BigInt(data.length);
          } else {
            ret = -9n; // EBADF
          }
          break;
        }
        case 93n:
        case 94n:
          exitCode = Number(a0 & 0xffn);
          break run;
        default:
          ret = -ENOSYS;
      }
      vcpu.setReg(Reg.X0, BigInt.asUintN(64, ret));
    }
  } finally {
    if (timer) clearTimeout(timer);
    await vm.destroy();
  }
  const out = new Uint8Array(stdoutBytes);
  let o = 0;
  for (const c of stdout) {
    out.set(c, o);
    o += c.length;
  }
  return { stdout: out, exitCode, faults, error, exits, elapsedMs: performance.now() - started };
}

/** ID registers that say which optional instructions the CPU implements. */
export interface IdRegisters {
  pfr0: bigint;
  isar0: bigint;
  isar1: bigint;
}

export async function readIdRegisters(accel: Accelerator): Promise<IdRegisters> {
  const vm = accel.createVm();
  try {
    const vcpu = await vm.createVcpu();
    return {
      pfr0: vcpu.getSysReg(SysReg.ID_AA64PFR0_EL1),
      isar0: vcpu.getSysReg(SysReg.ID_AA64ISAR0_EL1),
      isar1: vcpu.getSysReg(SysReg.ID_AA64ISAR1_EL1),
    };
  } finally {
    await vm.destroy();
  }
}

export type Feature = 'crc32' | 'lse' | 'fp16' | 'aes-pmull' | 'sha1' | 'sha256';

/** Why the CPU lacks `feature` according to its ID registers, or undefined if it has it. */
export function missingFeature(regs: IdRegisters, feature: Feature): string | undefined {
  const field = (v: bigint, lsb: number) => Number((v >> BigInt(lsb)) & 0xfn);
  const isar0 = `ID_AA64ISAR0_EL1 = ${hex(regs.isar0)}`;
  switch (feature) {
    case 'crc32': return field(regs.isar0, 16) >= 1 ? undefined : `CRC32 not advertised (${isar0})`;
    case 'lse': return field(regs.isar0, 20) >= 2 ? undefined : `LSE atomics not advertised (${isar0})`;
    case 'aes-pmull': return field(regs.isar0, 4) >= 2 ? undefined : `AES+PMULL not advertised (${isar0})`;
    case 'sha1': return field(regs.isar0, 8) >= 1 ? undefined : `SHA1 not advertised (${isar0})`;
    case 'sha256': return field(regs.isar0, 12) >= 1 ? undefined : `SHA256 not advertised (${isar0})`;
    case 'fp16': {
      const fp = field(regs.pfr0, 16);
      const simd = field(regs.pfr0, 20);
      return fp === 1 && simd === 1 ? undefined : `FEAT_FP16 not advertised (ID_AA64PFR0_EL1 = ${hex(regs.pfr0)})`;
    }
  }
}
