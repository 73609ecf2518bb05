// The private interface of the nodevisor_hvf addon (native/hvf/*.mm), one member per export.
// backend.ts is its only user; test/hvf/fake-native.ts implements the same interface in
// JavaScript so the binding is tested where Hypervisor.framework does not exist.
//
// Errors: every method throws (or rejects with) an Error carrying hvCode (hv_return_t as an
// unsigned number), hvName and hvCall; errors.ts turns it into an HvfError. Argument errors
// found before any HVF call are TypeErrors.

/** Bumped whenever this interface changes incompatibly; load.ts refuses other versions. */
export const NATIVE_ABI_VERSION = 2;

export interface NativeCapabilities {
  /** hv_vm_get_max_vcpu_count; 0 when the host cannot say (no virtualization). */
  maxVcpus: number;
  /** hv_vm_config_get_max_ipa_size (36 before macOS 13). */
  maxIpaBits: number;
  /** hv_vm_config_get_default_ipa_size (36 before macOS 13). */
  defaultIpaBits: number;
  /** macOS 13+: the VM's IPA size can be chosen. */
  ipaConfigurable: boolean;
  /** Host page size: the unit of every map/unmap/protect (16 KiB on Apple Silicon). */
  pageSize: number;
  /** macOS 15+: hv_gic_* exists. */
  inKernelGic: boolean;
  /** hv_vm_config_get_el2_supported (macOS 15, M3 or later). */
  el2Supported: boolean;
}

export interface NativeGicConfig {
  distributorBase: number;
  redistributorBase: number;
  msiRegionBase?: number;
  msiIntidBase?: number;
  msiIntidCount?: number;
}

export interface NativeVmConfig {
  ipaBits?: number;
  gic?: NativeGicConfig;
}

/** hv_gic_get_* sizes, alignments and reserved INTIDs (macOS 15). */
export interface NativeGicParameters {
  distributorSize: number;
  distributorAlignment: number;
  redistributorRegionSize: number;
  redistributorSize: number;
  redistributorAlignment: number;
  msiRegionSize: number;
  msiRegionAlignment: number;
  spiBase: number;
  spiCount: number;
  virtualTimerIntid: number;
  physicalTimerIntid: number;
  pmuIntid: number;
}

/** hv_vcpu_exit_t flattened: [reason, ESR_EL2, FAR_EL2, fault IPA]. */
export type NativeExitRecord = BigUint64Array;

/**
 * One vCPU, owned by its own native thread. Register methods are synchronous cross-thread
 * calls and throw HV_BUSY while run() is in flight.
 */
export interface NativeVcpu {
  /** hv_vcpu_t */
  readonly id: number;
  run(): Promise<NativeExitRecord>;
  /** hv_vcpus_exit: any thread, running or not. */
  requestExit(): void;
  getReg(reg: number): bigint;
  setReg(reg: number, value: bigint): void;
  getSimdFpReg(index: number): Uint8Array;
  setSimdFpReg(index: number, value: Uint8Array): void;
  getSysReg(id: number): bigint;
  setSysReg(id: number, value: bigint): void;
  getPendingInterrupt(type: number): boolean;
  setPendingInterrupt(type: number, pending: boolean): void;
  getVtimerMask(): boolean;
  setVtimerMask(masked: boolean): void;
  getVtimerOffset(): bigint;
  setVtimerOffset(offset: bigint): void;
  getTrapDebugExceptions(): boolean;
  setTrapDebugExceptions(enabled: boolean): void;
  getTrapDebugRegAccesses(): boolean;
  setTrapDebugRegAccesses(enabled: boolean): void;
  /** Nanoseconds (the addon converts mach_absolute_time units). */
  getExecTime(): bigint;
  /** hv_gic_get_redistributor_base (after MPIDR_EL1 is set). */
  getGicRedistributorBase(): bigint;
  /** hv_gic_get/set_icc_reg: the GIC CPU interface (part of a GIC state save/restore). */
  getGicIccReg(reg: number): bigint;
  setGicIccReg(reg: number, value: bigint): void;
  /** hv_gic_get/set_redistributor_reg: this vCPU's redistributor (GICv3 offsets). */
  getGicRedistributorReg(offset: number): bigint;
  setGicRedistributorReg(offset: number, value: bigint): void;
  /** hv_vcpu_destroy on the owning thread, which then ends. */
  destroy(): Promise<void>;
}

export interface NativeHvf {
  readonly abiVersion: number;
  /** hv_return_t name -> unsigned code, from the SDK headers the addon was built with. */
  readonly returnCodes: Readonly<Record<string, number>>;
  capabilities(): NativeCapabilities;
  /** One VM per process: a second call without vmDestroy throws HV_BUSY. */
  vmCreate(config: NativeVmConfig): void;
  /** Throws HV_BUSY while vCPUs exist. */
  vmDestroy(): void;
  /** host must be page aligned in address and length; the addon keeps it referenced. */
  vmMap(host: Uint8Array, gpa: number, flags: number): void;
  vmUnmap(gpa: number, size: number): void;
  vmProtect(gpa: number, size: number, flags: number): void;
  /** Address of the first byte modulo the host page size. */
  pageMisalignment(host: Uint8Array | ArrayBuffer): number;
  gicParameters(): NativeGicParameters;
  /** Absolute INTID (SPIs start at 32). */
  gicSetSpi(intid: number, level: boolean): void;
  gicReset(): void;
  gicSaveState(): Uint8Array;
  gicRestoreState(state: Uint8Array): void;
  gicGetDistributorReg(offset: number): bigint;
  gicSetDistributorReg(offset: number, value: bigint): void;
  /** hv_gic_send_msi: address of GICM_SET_SPI_NSR in the MSI frame, absolute INTID. */
  gicSendMsi(address: number, intid: number): void;
  /**
   * hv_vcpus_exit on these hv_vcpu_t ids. Process-global and callable from any thread, so
   * a worker thread that loaded the addon can kick vCPUs it only knows by id.
   */
  vcpusExit(ids: readonly number[]): void;
  vcpuConfigFeatureReg(reg: number): bigint;
  /** hv_vcpu_config_get_ccsidr_el1_sys_reg_values: 8 values. */
  vcpuConfigCcsidr(cacheType: number): BigUint64Array;
  /** Starts a native thread that creates the vCPU and then serves it. */
  createVcpu(): Promise<NativeVcpu>;
}
