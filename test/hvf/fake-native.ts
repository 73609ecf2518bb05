// A JavaScript stand-in for the nodevisor_hvf addon with Hypervisor.framework's semantics,
// so the binding (src/accel/hvf/backend.ts) is tested where HVF does not exist:
//  - one VM per "process" (per FakeHvf), hv_return_t-shaped errors (hvCode/hvName/hvCall);
//  - 16 KiB alignment of host address, guest address and size for map/unmap/protect; host
//    addresses are simulated per ArrayBuffer like macOS malloc: >= 128 KiB page aligned,
//    smaller ones 16-byte aligned and not page aligned;
//  - each vCPU has a simulated owning thread: run() executes on a later macrotask in slices
//    of guest instructions, so requestExit() from JS lands mid-run; register access while
//    running throws HV_BUSY like the addon;
//  - exits: a scripted guest (FakeOp program indexed by PC) produces data aborts for MMIO,
//    HVC (PC already advanced), WFI, BRK and MSR/MRS traps with PC *not* advanced;
//    VTIMER_ACTIVATED masks the vtimer; pending IRQ/FIQ lines are cleared after every run;
//    a pending IRQ with PSTATE.I clear is taken to VBAR_EL1 + 0x280;
//  - hv_vcpus_exit by hv_vcpu_t id (vcpusExit), as another thread would call it;
//  - the in-kernel GIC keeps SPI levels and distributor registers per VM and redistributor
//    and ICC registers per vCPU (the enums of the 15.0 SDK), an opaque saved state, MSIs
//    through the configured frame; and the IPA size bounds hv_vm_map.
import { HVF_SYS_REGS, sysRegFields } from '../../src/accel/sysregs.ts';
import { SysReg } from '../../src/accel/sysregs.ts';
import { HV_RETURN, hvReturnName } from '../../src/accel/hvf/errors.ts';
import {
  NATIVE_ABI_VERSION,
  type NativeCapabilities,
  type NativeGicParameters,
  type NativeHvf,
  type NativeVcpu,
  type NativeVmConfig,
} from '../../src/accel/hvf/native.ts';

export type FakeOp =
  | { op: 'movz'; rd: number; imm: bigint }
  | { op: 'add'; rd: number; rn: number; imm: bigint }
  | { op: 'sub'; rd: number; rn: number; imm: bigint }
  | { op: 'str'; rt: number; rn: number; size: 1 | 2 | 4 | 8 }
  | { op: 'ldr'; rt: number; rn: number; size: 1 | 2 | 4 | 8 }
  | { op: 'cbnz'; rt: number; target: number }
  | { op: 'b'; target: number }
  | { op: 'msr'; sysreg: number; rt: number }
  | { op: 'mrs'; rt: number; sysreg: number }
  | { op: 'hvc'; imm: number }
  | { op: 'wfi' }
  | { op: 'brk'; imm: number };

export interface FakeProgram {
  entry: bigint;
  ops: FakeOp[];
}

export interface FakeHvfOptions {
  maxVcpus?: number;
  maxIpaBits?: number;
  defaultIpaBits?: number;
  inKernelGic?: boolean;
  /** Make hv_vm_create fail with this code (e.g. HV_DENIED: no entitlement). */
  vmCreateFails?: keyof typeof HV_RETURN;
  /** Guest program for each vCPU index. */
  program?: (vcpuIndex: number) => FakeProgram;
  /** Guest instructions per simulated time slice. */
  sliceInstructions?: number;
  /** Host counter in ticks (default: 24 MHz from performance.now()). */
  counter?: () => bigint;
}

const PAGE = 16384;
const MASK64 = (1n << 64n) - 1n;
const PSTATE_I = 1n << 7n;
const PSTATE_F = 1n << 6n;

export function nativeError(call: string, code: number, detail?: string): Error {
  const name = hvReturnName(code);
  const e = new Error(`${call} failed: ${name} (0x${(code >>> 0).toString(16)})${detail ? `: ${detail}` : ''}`) as Error & {
    hvCode: number; hvName: string; hvCall: string;
  };
  e.hvCode = code >>> 0;
  e.hvName = name;
  e.hvCall = call;
  return e;
}

const esr = (ec: number, iss: number): bigint => BigInt((((ec & 0x3f) << 26) | (1 << 25) | (iss & 0x1ffffff)) >>> 0);

interface Region {
  gpa: number;
  bytes: Uint8Array;
  flags: number;
}

class FakeVcpu implements NativeVcpu {
  readonly x = new Array<bigint>(35).fill(0n);
  readonly q = Array.from({ length: 32 }, () => new Uint8Array(16));
  readonly sys = new Map<number, bigint>();
  pending = [false, false];
  vtimerMasked = false;
  vtimerOffset = 0n;
  trapDebug = false;
  trapDebugRegs = false;
  execNs = 0n;
  running = false;
  destroyed = false;
  exitRequested = false;
  runs = 0;

  constructor(readonly id: number, private readonly hv: FakeHvf, private readonly program: FakeProgram | undefined) {
    this.x[34] = 0x3c5n; // CPSR: EL1h, DAIF masked (HVF's reset state)
    this.sys.set(SysReg.MPIDR_EL1, BigInt(id));
  }

  private usable(call: string): void {
    if (this.destroyed) throw nativeError(call, HV_RETURN.HV_NO_DEVICE, 'vCPU destroyed');
    if (this.running) throw nativeError(call, HV_RETURN.HV_BUSY, 'vCPU is running: call requestExit() and await run() first');
  }

  run(): Promise<BigUint64Array> {
    if (this.destroyed) return Promise.reject(nativeError('hv_vcpu_run', HV_RETURN.HV_NO_DEVICE, 'vCPU not available'));
    if (this.running) return Promise.reject(nativeError('hv_vcpu_run', HV_RETURN.HV_BUSY, 'run() already in flight'));
    this.running = true;
    this.runs++;
    return new Promise((resolve) => {
      const slice = (): void => {
        const start = process.hrtime.bigint();
        const exit = this.executeSlice();
        this.execNs += process.hrtime.bigint() - start;
        if (!exit) {
          setImmediate(slice);
          return;
        }
        // HVF clears the injected lines once hv_vcpu_run returns.
        this.pending = [false, false];
        this.running = false;
        resolve(BigUint64Array.from(exit));
      };
      setImmediate(slice);
    });
  }

  /** One time slice of the simulated thread: an exit record, or undefined to continue. */
  private executeSlice(): bigint[] | undefined {
    if (this.exitRequested) {
      this.exitRequested = false;
      return [0n, 0n, 0n, 0n];
    }
    this.takePendingInterrupt();
    for (let i = 0; i < this.hv.sliceInstructions; i++) {
      const timer = this.vtimerFires();
      if (timer) return timer;
      const exit = this.step();
      if (exit) return exit;
    }
    return undefined;
  }

  private vtimerFires(): bigint[] | undefined {
    if (this.vtimerMasked) return undefined;
    const ctl = this.sys.get(SysReg.CNTV_CTL_EL0) ?? 0n;
    if ((ctl & 1n) === 0n || (ctl & 2n) !== 0n) return undefined;
    const cval = this.sys.get(SysReg.CNTV_CVAL_EL0) ?? 0n;
    if (((this.hv.counter() - this.vtimerOffset) & MASK64) < cval) return undefined;
    this.vtimerMasked = true; // HVF masks the vtimer automatically on this exit
    return [2n, 0n, 0n, 0n];
  }

  private takePendingInterrupt(): void {
    const cpsr = this.x[34];
    const irq = this.pending[0] && (cpsr & PSTATE_I) === 0n;
    const fiq = this.pending[1] && (cpsr & PSTATE_F) === 0n;
    if (!irq && !fiq) return;
    const fromEl0 = (cpsr & 0xfn) === 0n;
    const vbar = this.sys.get(SysReg.VBAR_EL1) ?? 0n;
    this.sys.set(SysReg.SPSR_EL1, cpsr);
    this.sys.set(SysReg.ELR_EL1, this.x[31]);
    this.x[31] = vbar + (fromEl0 ? 0x400n : 0x200n) + (irq ? 0x80n : 0x100n);
    this.x[34] = 0x3c5n;
  }

  private reg(n: number): bigint {
    return n === 31 ? 0n : this.x[n];
  }

  private setX(n: number, v: bigint): void {
    if (n !== 31) this.x[n] = v & MASK64;
  }

  private step(): bigint[] | undefined {
    const pc = this.x[31];
    const program = this.program;
    const index = program ? Number((pc - program.entry) / 4n) : -1;
    if (!program || pc < program.entry || (pc - program.entry) % 4n !== 0n || index >= program.ops.length) {
      return [1n, esr(0x20, 0x06), pc, pc]; // instruction abort, translation fault
    }
    const op = program.ops[index];
    const next = pc + 4n;
    switch (op.op) {
      case 'movz': this.setX(op.rd, op.imm); break;
      case 'add': this.setX(op.rd, this.reg(op.rn) + op.imm); break;
      case 'sub': this.setX(op.rd, this.reg(op.rn) - op.imm); break;
      case 'cbnz':
        this.x[31] = this.reg(op.rt) !== 0n ? program.entry + BigInt(op.target) * 4n : next;
        return undefined;
      case 'b':
        this.x[31] = program.entry + BigInt(op.target) * 4n;
        return undefined;
      case 'str':
      case 'ldr': {
        const address = this.reg(op.rn);
        const write = op.op === 'str';
        const region = this.hv.regionAt(Number(address), op.size);
        const permitted = region && (region.flags & (write ? 2 : 1)) !== 0;
        if (!region || !permitted) {
          const sas = Math.log2(op.size);
          const iss = (1 << 24) | (sas << 22) | (op.rt << 16) | ((op.size === 8 ? 1 : 0) << 15) | ((write ? 1 : 0) << 6) | (region ? 0x0f : 0x07);
          return [1n, esr(0x24, iss), address, address];
        }
        const view = new DataView(region.bytes.buffer, region.bytes.byteOffset + Number(address) - region.gpa, op.size);
        if (write) {
          const v = this.reg(op.rt);
          if (op.size === 8) view.setBigUint64(0, v, true);
          else if (op.size === 4) view.setUint32(0, Number(v & 0xffffffffn), true);
          else if (op.size === 2) view.setUint16(0, Number(v & 0xffffn), true);
          else view.setUint8(0, Number(v & 0xffn));
        } else {
          const v = op.size === 8 ? view.getBigUint64(0, true) : BigInt(op.size === 4 ? view.getUint32(0, true) : op.size === 2 ? view.getUint16(0, true) : view.getUint8(0));
          this.setX(op.rt, v);
        }
        break;
      }
      case 'msr':
      case 'mrs': {
        if (HVF_SYS_REGS.has(op.sysreg)) {
          if (op.op === 'msr') this.sys.set(op.sysreg, this.reg(op.rt));
          else this.setX(op.rt, this.sys.get(op.sysreg) ?? 0n);
          break;
        }
        const f = sysRegFields(op.sysreg);
        const read = op.op === 'mrs' ? 1 : 0;
        const iss = (f.op0 << 20) | (f.op2 << 17) | (f.op1 << 14) | (f.crn << 10) | (op.rt << 5) | (f.crm << 1) | read;
        return [1n, esr(0x18, iss), 0n, 0n];
      }
      case 'hvc':
        this.x[31] = next; // the preferred return address of HVC is the next instruction
        return [1n, esr(0x16, op.imm & 0xffff), 0n, 0n];
      case 'wfi':
        return [1n, esr(0x01, 0), 0n, 0n];
      case 'brk':
        return [1n, esr(0x3c, op.imm & 0xffff), 0n, 0n];
    }
    this.x[31] = next;
    return undefined;
  }

  requestExit(): void {
    if (!this.destroyed) this.exitRequested = true;
  }

  getReg(reg: number): bigint {
    this.usable('hv_vcpu_get_reg');
    if (!Number.isInteger(reg) || reg < 0 || reg > 34) throw nativeError('hv_vcpu_get_reg', HV_RETURN.HV_BAD_ARGUMENT, `no such register ${reg}`);
    return this.x[reg];
  }

  setReg(reg: number, value: bigint): void {
    this.usable('hv_vcpu_set_reg');
    if (!Number.isInteger(reg) || reg < 0 || reg > 34) throw nativeError('hv_vcpu_set_reg', HV_RETURN.HV_BAD_ARGUMENT, `no such register ${reg}`);
    this.x[reg] = value & MASK64;
  }

  getSimdFpReg(index: number): Uint8Array {
    this.usable('hv_vcpu_get_simd_fp_reg');
    if (index < 0 || index > 31) throw nativeError('hv_vcpu_get_simd_fp_reg', HV_RETURN.HV_BAD_ARGUMENT);
    return this.q[index].slice();
  }

  setSimdFpReg(index: number, value: Uint8Array): void {
    this.usable('hv_vcpu_set_simd_fp_reg');
    if (index < 0 || index > 31) throw nativeError('hv_vcpu_set_simd_fp_reg', HV_RETURN.HV_BAD_ARGUMENT);
    if (value.byteLength !== 16) throw new TypeError('setSimdFpReg: value must be a 16-byte Uint8Array');
    this.q[index].set(value);
  }

  getSysReg(id: number): bigint {
    this.usable('hv_vcpu_get_sys_reg');
    if (!HVF_SYS_REGS.has(id)) throw nativeError('hv_vcpu_get_sys_reg', HV_RETURN.HV_BAD_ARGUMENT);
    return this.sys.get(id) ?? 0n;
  }

  setSysReg(id: number, value: bigint): void {
    this.usable('hv_vcpu_set_sys_reg');
    if (!HVF_SYS_REGS.has(id)) throw nativeError('hv_vcpu_set_sys_reg', HV_RETURN.HV_BAD_ARGUMENT);
    this.sys.set(id, value & MASK64);
  }

  getPendingInterrupt(type: number): boolean {
    this.usable('hv_vcpu_get_pending_interrupt');
    if (type !== 0 && type !== 1) throw nativeError('hv_vcpu_get_pending_interrupt', HV_RETURN.HV_BAD_ARGUMENT);
    return this.pending[type];
  }

  setPendingInterrupt(type: number, pending: boolean): void {
    this.usable('hv_vcpu_set_pending_interrupt');
    if (type !== 0 && type !== 1) throw nativeError('hv_vcpu_set_pending_interrupt', HV_RETURN.HV_BAD_ARGUMENT);
    this.pending[type] = pending;
  }

  getVtimerMask(): boolean { this.usable('hv_vcpu_get_vtimer_mask'); return this.vtimerMasked; }
  setVtimerMask(masked: boolean): void { this.usable('hv_vcpu_set_vtimer_mask'); this.vtimerMasked = masked; }
  getVtimerOffset(): bigint { this.usable('hv_vcpu_get_vtimer_offset'); return this.vtimerOffset; }
  setVtimerOffset(offset: bigint): void { this.usable('hv_vcpu_set_vtimer_offset'); this.vtimerOffset = offset & MASK64; }
  getTrapDebugExceptions(): boolean { this.usable('hv_vcpu_get_trap_debug_exceptions'); return this.trapDebug; }
  setTrapDebugExceptions(enabled: boolean): void { this.usable('hv_vcpu_set_trap_debug_exceptions'); this.trapDebug = enabled; }
  getTrapDebugRegAccesses(): boolean { this.usable('hv_vcpu_get_trap_debug_reg_accesses'); return this.trapDebugRegs; }
  setTrapDebugRegAccesses(enabled: boolean): void { this.usable('hv_vcpu_set_trap_debug_reg_accesses'); this.trapDebugRegs = enabled; }
  getExecTime(): bigint { this.usable('hv_vcpu_get_exec_time'); return this.execNs; }

  getGicRedistributorBase(): bigint {
    this.usable('hv_gic_get_redistributor_base');
    const base = this.hv.gicConfig?.redistributorBase;
    if (base === undefined) throw nativeError('hv_gic_get_redistributor_base', HV_RETURN.HV_NO_DEVICE, 'no GIC');
    const aff0 = (this.sys.get(SysReg.MPIDR_EL1) ?? 0n) & 0xffn;
    return BigInt(base) + aff0 * BigInt(FAKE_GIC.redistributorSize);
  }

  readonly icc = new Map<number, bigint>();
  readonly redistributor = new Map<number, bigint>();

  private gicCpuReg(call: string, reg: number, known: ReadonlySet<number>): void {
    this.usable(call);
    if (!this.hv.gicConfig) throw nativeError(call, HV_RETURN.HV_NO_DEVICE, 'no GIC');
    if (!known.has(reg)) throw nativeError(call, HV_RETURN.HV_BAD_ARGUMENT, `no such register 0x${reg.toString(16)}`);
  }

  getGicIccReg(reg: number): bigint {
    this.gicCpuReg('hv_gic_get_icc_reg', reg, ICC_REGS);
    return this.icc.get(reg) ?? 0n;
  }

  setGicIccReg(reg: number, value: bigint): void {
    this.gicCpuReg('hv_gic_set_icc_reg', reg, ICC_REGS);
    this.icc.set(reg, value & MASK64);
  }

  getGicRedistributorReg(offset: number): bigint {
    this.gicCpuReg('hv_gic_get_redistributor_reg', offset, REDISTRIBUTOR_REGS);
    return this.redistributor.get(offset) ?? 0n;
  }

  setGicRedistributorReg(offset: number, value: bigint): void {
    this.gicCpuReg('hv_gic_set_redistributor_reg', offset, REDISTRIBUTOR_REGS);
    this.redistributor.set(offset, value & MASK64);
  }

  destroy(): Promise<void> {
    if (this.destroyed) return Promise.resolve();
    this.destroyed = true;
    if (this.running) this.exitRequested = true;
    return new Promise((resolve) => setImmediate(() => {
      this.hv.vcpuGone(this);
      resolve();
    }));
  }
}

// hv_gic_icc_reg_t and hv_gic_redistributor_reg_t of the macOS 15.0 SDK.
const ICC_REGS: ReadonlySet<number> = new Set([0xc230, 0xc643, 0xc644, 0xc648, 0xc65b, 0xc663, 0xc664, 0xc665, 0xc666, 0xc667, 0xe64d]);
const REDISTRIBUTOR_REGS: ReadonlySet<number> = new Set([
  0x0008, 0xffe8, 0x10080, 0x10100, 0x10180, 0x10200, 0x10280, 0x10300, 0x10380,
  ...Array.from({ length: 8 }, (_, i) => 0x10400 + 4 * i), 0x10c00, 0x10c04,
]);

const FAKE_GIC: NativeGicParameters = {
  distributorSize: 0x10000,
  distributorAlignment: 0x10000,
  redistributorRegionSize: 0x20000 * 16,
  redistributorSize: 0x20000,
  redistributorAlignment: 0x20000,
  msiRegionSize: 0x10000,
  msiRegionAlignment: 0x10000,
  spiBase: 32,
  spiCount: 988,
  virtualTimerIntid: 27,
  physicalTimerIntid: 30,
  pmuIntid: 23,
};

export class FakeHvf implements NativeHvf {
  readonly abiVersion = NATIVE_ABI_VERSION;
  readonly returnCodes: Readonly<Record<string, number>> = { ...HV_RETURN };
  readonly sliceInstructions: number;
  readonly counter: () => bigint;
  vmExists = false;
  ipaBits = 36;
  gicConfig: NativeVmConfig['gic'];
  readonly regions: Region[] = [];
  readonly vcpus = new Set<FakeVcpu>();
  readonly spiLevels = new Map<number, boolean>();
  readonly distributor = new Map<number, bigint>();
  /** INTIDs raised through hv_gic_send_msi, in order. */
  readonly msis: number[] = [];
  private nextVcpu = 0;
  private readonly addresses = new WeakMap<ArrayBuffer, number>();
  private nextAddress = 0x1_0000_0000;

  constructor(private readonly options: FakeHvfOptions = {}) {
    this.sliceInstructions = options.sliceInstructions ?? 256;
    this.counter = options.counter ?? (() => BigInt(Math.floor(performance.now() * 24_000)));
  }

  capabilities(): NativeCapabilities {
    return {
      maxVcpus: this.options.maxVcpus ?? 8,
      maxIpaBits: this.options.maxIpaBits ?? 40,
      defaultIpaBits: this.options.defaultIpaBits ?? 36,
      ipaConfigurable: true,
      pageSize: PAGE,
      inKernelGic: this.options.inKernelGic ?? true,
      el2Supported: false,
    };
  }

  /** Simulated host address of an ArrayBuffer's first byte (macOS malloc-like alignment). */
  addressOf(buffer: ArrayBuffer): number {
    let address = this.addresses.get(buffer);
    if (address === undefined) {
      address = this.nextAddress + (buffer.byteLength >= 128 * 1024 ? 0 : 0x10);
      this.nextAddress += Math.ceil((buffer.byteLength + 0x10) / PAGE) * PAGE + PAGE;
      this.addresses.set(buffer, address);
    }
    return address;
  }

  pageMisalignment(host: Uint8Array | ArrayBuffer): number {
    const [buffer, offset] = host instanceof ArrayBuffer ? [host, 0] : [host.buffer as ArrayBuffer, host.byteOffset];
    return (this.addressOf(buffer) + offset) % PAGE;
  }

  vmCreate(config: NativeVmConfig): void {
    if (this.vmExists) throw nativeError('hv_vm_create', HV_RETURN.HV_BUSY, 'this process already has a VM (Hypervisor.framework allows one per process)');
    if (config.ipaBits !== undefined && config.ipaBits > this.capabilities().maxIpaBits) {
      throw nativeError('hv_vm_config_set_ipa_size', HV_RETURN.HV_BAD_ARGUMENT);
    }
    if (this.options.vmCreateFails) throw nativeError('hv_vm_create', HV_RETURN[this.options.vmCreateFails]);
    if (config.gic) {
      if (!this.capabilities().inKernelGic) throw nativeError('hv_gic_create', HV_RETURN.HV_UNSUPPORTED);
      if (config.gic.distributorBase % FAKE_GIC.distributorAlignment || config.gic.redistributorBase % FAKE_GIC.redistributorAlignment) {
        throw nativeError('hv_gic_config_set_distributor_base', HV_RETURN.HV_BAD_ARGUMENT);
      }
      const msiParts = [config.gic.msiRegionBase, config.gic.msiIntidBase, config.gic.msiIntidCount].filter((v) => v !== undefined).length;
      if (msiParts !== 0 && msiParts !== 3) {
        throw nativeError('gic config (msiRegionBase, msiIntidBase and msiIntidCount go together)', HV_RETURN.HV_BAD_ARGUMENT);
      }
    }
    this.vmExists = true;
    this.ipaBits = config.ipaBits ?? this.capabilities().defaultIpaBits;
    this.gicConfig = config.gic;
  }

  vmDestroy(): void {
    if (!this.vmExists) return;
    if (this.vcpus.size) throw nativeError('hv_vm_destroy', HV_RETURN.HV_BUSY, `${this.vcpus.size} vCPU(s) still exist`);
    this.vmExists = false;
    this.regions.length = 0;
    this.gicConfig = undefined;
  }

  vmMap(host: Uint8Array, gpa: number, flags: number): void {
    if (!this.vmExists) throw nativeError('hv_vm_map', HV_RETURN.HV_NO_DEVICE, 'no VM exists in this process');
    if (host.byteLength === 0 || host.byteLength % PAGE || gpa % PAGE || this.pageMisalignment(host)) {
      throw nativeError('hv_vm_map', HV_RETURN.HV_BAD_ARGUMENT, 'host address, size and gpa must be multiples of the 16384-byte host page');
    }
    if (gpa + host.byteLength > 2 ** this.ipaBits) throw nativeError('hv_vm_map', HV_RETURN.HV_BAD_ARGUMENT, 'beyond the IPA space');
    if (this.regions.some((r) => gpa < r.gpa + r.bytes.byteLength && r.gpa < gpa + host.byteLength)) {
      throw nativeError('hv_vm_map', HV_RETURN.HV_BAD_ARGUMENT, 'overlaps an existing mapping');
    }
    this.regions.push({ gpa, bytes: host, flags });
  }

  vmUnmap(gpa: number, size: number): void {
    const i = this.regions.findIndex((r) => r.gpa === gpa && r.bytes.byteLength === size);
    if (i < 0) throw nativeError('hv_vm_unmap', HV_RETURN.HV_BAD_ARGUMENT);
    this.regions.splice(i, 1);
  }

  vmProtect(gpa: number, size: number, flags: number): void {
    const region = this.regions.find((r) => r.gpa === gpa && r.bytes.byteLength === size);
    if (!region) throw nativeError('hv_vm_protect', HV_RETURN.HV_BAD_ARGUMENT);
    region.flags = flags;
  }

  regionAt(address: number, size: number): Region | undefined {
    return this.regions.find((r) => address >= r.gpa && address + size <= r.gpa + r.bytes.byteLength);
  }

  gicParameters(): NativeGicParameters {
    if (!this.capabilities().inKernelGic) throw nativeError('hv_gic_get_distributor_size', HV_RETURN.HV_UNSUPPORTED);
    return { ...FAKE_GIC };
  }

  gicSetSpi(intid: number, level: boolean): void {
    if (!this.gicConfig) throw nativeError('hv_gic_set_spi', HV_RETURN.HV_NO_DEVICE);
    if (intid < FAKE_GIC.spiBase || intid >= FAKE_GIC.spiBase + FAKE_GIC.spiCount) throw nativeError('hv_gic_set_spi', HV_RETURN.HV_BAD_ARGUMENT);
    this.spiLevels.set(intid, level);
  }

  gicReset(): void {
    this.spiLevels.clear();
    this.distributor.clear();
  }

  // Opaque to the VMM, like hv_gic_state_get_data's blob; here SPI levels and GICD registers.
  gicSaveState(): Uint8Array {
    if (!this.gicConfig) throw nativeError('hv_gic_state_create', HV_RETURN.HV_ERROR);
    const gicd = [...this.distributor].map(([k, v]) => [k, v.toString()]);
    return new TextEncoder().encode(JSON.stringify({ spis: [...this.spiLevels], gicd }));
  }

  gicRestoreState(state: Uint8Array): void {
    if (!this.gicConfig) throw nativeError('hv_gic_set_state', HV_RETURN.HV_NO_DEVICE);
    if ([...this.vcpus].some((v) => v.runs > 0)) throw nativeError('hv_gic_set_state', HV_RETURN.HV_BUSY, 'vCPUs have run');
    const { spis, gicd } = JSON.parse(new TextDecoder().decode(state)) as { spis: [number, boolean][]; gicd: [number, string][] };
    this.spiLevels.clear();
    for (const [k, v] of spis) this.spiLevels.set(k, v);
    this.distributor.clear();
    for (const [k, v] of gicd) this.distributor.set(k, BigInt(v));
  }

  private gicdOffset(call: string, offset: number): void {
    if (!this.gicConfig) throw nativeError(call, HV_RETURN.HV_NO_DEVICE, 'no GIC');
    if (!Number.isInteger(offset) || offset < 0 || offset > 0xffff || offset % 4) throw nativeError(call, HV_RETURN.HV_BAD_ARGUMENT);
  }

  gicGetDistributorReg(offset: number): bigint {
    this.gicdOffset('hv_gic_get_distributor_reg', offset);
    return this.distributor.get(offset) ?? 0n;
  }

  gicSetDistributorReg(offset: number, value: bigint): void {
    this.gicdOffset('hv_gic_set_distributor_reg', offset);
    this.distributor.set(offset, value & MASK64);
  }

  gicSendMsi(address: number, intid: number): void {
    const gic = this.gicConfig;
    if (!gic) throw nativeError('hv_gic_send_msi', HV_RETURN.HV_NO_DEVICE, 'no GIC');
    if (gic.msiRegionBase === undefined || gic.msiIntidBase === undefined || gic.msiIntidCount === undefined) {
      throw nativeError('hv_gic_send_msi', HV_RETURN.HV_BAD_ARGUMENT, 'the GIC has no MSI frame');
    }
    if (address !== gic.msiRegionBase + 0x40 || intid < gic.msiIntidBase || intid >= gic.msiIntidBase + gic.msiIntidCount) {
      throw nativeError('hv_gic_send_msi', HV_RETURN.HV_BAD_ARGUMENT, `INTID ${intid} at 0x${address.toString(16)}`);
    }
    this.msis.push(intid);
  }

  /** hv_vcpus_exit: any caller; ids of vCPUs that do not exist are ignored. */
  vcpusExit(ids: readonly number[]): void {
    if (!Array.isArray(ids)) throw new TypeError('vcpusExit: expected an array of vCPU ids');
    for (const vcpu of this.vcpus) if (ids.includes(vcpu.id)) vcpu.requestExit();
  }

  vcpuConfigFeatureReg(reg: number): bigint {
    if (reg < 0 || reg > 11) throw nativeError('hv_vcpu_config_get_feature_reg', HV_RETURN.HV_BAD_ARGUMENT);
    return 0x1000n + BigInt(reg);
  }

  vcpuConfigCcsidr(): BigUint64Array {
    return new BigUint64Array(8);
  }

  createVcpu(): Promise<NativeVcpu> {
    if (!this.vmExists) return Promise.reject(nativeError('hv_vcpu_create', HV_RETURN.HV_NO_DEVICE, 'no VM exists in this process'));
    const index = this.nextVcpu++;
    const vcpu = new FakeVcpu(index, this, this.options.program?.(index));
    // hv_vcpu_create runs on the new thread; the Promise settles on a later turn.
    return new Promise((resolve) => setImmediate(() => {
      this.vcpus.add(vcpu);
      resolve(vcpu);
    }));
  }

  vcpuGone(vcpu: FakeVcpu): void {
    this.vcpus.delete(vcpu);
  }
}
