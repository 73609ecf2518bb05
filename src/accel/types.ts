// The accelerator-neutral interface. It mirrors Hypervisor.framework's arm64 API one for
// one (see ../shared/docs/hvf-api.md), so the VMM above it cannot tell whether a vCPU is
// HVF hardware or the software CPU: same registers, same exit record, same semantics
// (pending interrupt lines cleared after each run, vtimer masked automatically on a
// vtimer exit, PC not advanced past trapped instructions).

/** hv_exit_reason_t */
export enum ExitReason {
  Canceled = 0,
  Exception = 1,
  VtimerActivated = 2,
  Unknown = 3,
}

/** hv_vcpu_exit_t: the reason plus the exception record (ESR_EL2, FAR_EL2, fault IPA). */
export interface VcpuExit {
  reason: ExitReason;
  /** ESR_EL2 as the guest's exception produced it. */
  syndrome: bigint;
  /** FAR_EL2: the faulting virtual address (data and instruction aborts). */
  virtualAddress: bigint;
  /** The faulting intermediate physical (guest-physical) address. */
  physicalAddress: bigint;
}

/** hv_reg_t */
export enum Reg {
  X0 = 0, X1, X2, X3, X4, X5, X6, X7, X8, X9, X10, X11, X12, X13, X14, X15,
  X16, X17, X18, X19, X20, X21, X22, X23, X24, X25, X26, X27, X28, X29, X30,
  PC = 31,
  FPCR = 32,
  FPSR = 33,
  CPSR = 34,
}
export const REG_FP = Reg.X29;
export const REG_LR = Reg.X30;

/** hv_memory_flags_t */
export const MemoryFlags = { Read: 1, Write: 2, Exec: 4, RWX: 7 } as const;
export type MemoryPermissions = number;

/** hv_interrupt_type_t */
export enum InterruptType {
  IRQ = 0,
  FIQ = 1,
}

/** hv_feature_reg_t */
export enum FeatureReg {
  ID_AA64DFR0_EL1 = 0, ID_AA64DFR1_EL1, ID_AA64ISAR0_EL1, ID_AA64ISAR1_EL1,
  ID_AA64MMFR0_EL1, ID_AA64MMFR1_EL1, ID_AA64MMFR2_EL1, ID_AA64PFR0_EL1, ID_AA64PFR1_EL1,
  CTR_EL0 = 9, CLIDR_EL1 = 10, DCZID_EL0 = 11,
}

export interface VmConfig {
  /** Intermediate physical address width in bits; undefined = the backend's default. */
  ipaBits?: number;
  /** Ask for the backend's in-kernel GICv3 (HVF on macOS 15+) with these bases. */
  inKernelGic?: { distributorBase: number; redistributorBase: number };
}

export interface AcceleratorCapabilities {
  /** hv_vm_get_max_vcpu_count */
  maxVcpus: number;
  /** hv_vm_config_get_max_ipa_size / default size. */
  maxIpaBits: number;
  defaultIpaBits: number;
  /** Host page size that map/unmap/protect require (16 KiB on Apple Silicon). */
  pageSize: number;
  /** An in-kernel GICv3 is available (macOS 15+). */
  inKernelGic: boolean;
}

/** The process-wide hypervisor: creates the one VM a process may hold. */
export interface Accelerator {
  readonly name: 'hvf' | 'emu';
  capabilities(): AcceleratorCapabilities;
  createVm(config?: VmConfig): Vm;
}

/** The in-kernel GIC of HVF (macOS 15): the VMM only raises SPIs. */
export interface InKernelGic {
  setSpi(intid: number, level: boolean): void;
  reset(): void;
}

export interface Vm {
  /**
   * Map JavaScript-allocated guest RAM at a guest-physical address (hv_vm_map). `host`
   * must start and end on a page boundary of capabilities().pageSize relative to its
   * buffer; the backend keeps a reference for the VM's lifetime.
   */
  map(host: Uint8Array, gpa: number, flags: MemoryPermissions): void;
  unmap(gpa: number, size: number): void;
  protect(gpa: number, size: number, flags: MemoryPermissions): void;
  /** Create a vCPU (HVF: on a new native thread that owns it for life). */
  createVcpu(): Promise<Vcpu>;
  readonly gic?: InKernelGic;
  /** Destroy every vCPU, then the VM. */
  destroy(): Promise<void>;
}

export interface Vcpu {
  readonly id: number;
  /** Run the guest until the next exit (hv_vcpu_run). Never runs two at once. */
  run(): Promise<VcpuExit>;
  /** Make the current or next run() return with ExitReason.Canceled (hv_vcpus_exit). */
  requestExit(): void;

  getReg(reg: Reg): bigint;
  setReg(reg: Reg, value: bigint): void;
  /** Q0..Q31 as 16 little-endian bytes. */
  getSimdFpReg(index: number): Uint8Array;
  setSimdFpReg(index: number, value: Uint8Array): void;
  /** Any id of HVF_SYS_REGS (see sysregs.ts); others throw. */
  getSysReg(id: number): bigint;
  setSysReg(id: number, value: bigint): void;

  /** Level of the IRQ/FIQ line for the next run only: cleared when run() returns. */
  setPendingInterrupt(type: InterruptType, pending: boolean): void;
  getPendingInterrupt(type: InterruptType): boolean;

  getVtimerMask(): boolean;
  setVtimerMask(masked: boolean): void;
  /** CNTVCT_EL0 = host counter - offset, in counter ticks. */
  getVtimerOffset(): bigint;
  setVtimerOffset(offset: bigint): void;

  /** Trap BRK/breakpoints/steps/watchpoints to the VMM instead of the guest. */
  setTrapDebugExceptions(enabled: boolean): void;
  getTrapDebugExceptions(): boolean;
  setTrapDebugRegAccesses(enabled: boolean): void;
  getTrapDebugRegAccesses(): boolean;

  /** Nanoseconds this vCPU has spent running guest code. */
  getExecTime(): bigint;
  destroy(): Promise<void>;
}
