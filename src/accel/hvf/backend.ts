// The Hypervisor.framework accelerator: src/accel/types.ts's Accelerator/Vm/Vcpu over the
// nodevisor_hvf addon. This layer validates arguments, converts exit records and turns the
// addon's errors into HvfError; threading lives in the addon (one native thread per vCPU).
import {
  ExitReason,
  type Accelerator,
  type AcceleratorCapabilities,
  type FeatureReg,
  type InKernelGic,
  type InterruptType,
  type MemoryPermissions,
  type Reg,
  type Vcpu,
  type VcpuExit,
  type Vm,
  type VmConfig,
} from '../types.ts';
import { HvfError, HV_RETURN, fromNativeError } from './errors.ts';
import { loadHvfNative, type LoadOptions } from './load.ts';
import type { NativeCapabilities, NativeGicParameters, NativeHvf, NativeVcpu } from './native.ts';

/** Runs one addon call, rethrowing its error as an HvfError. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw fromNativeError(e);
  }
}

async function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw fromNativeError(e);
  }
}

/** GICM_SET_SPI_NSR: the MSI frame register a device writes an SPI's INTID to. */
export const GICM_SET_SPI_NSR = 0x40;

/** VmConfig plus what only HVF's GIC has: an MSI frame and the SPIs it may raise. */
export interface HvfVmConfig extends VmConfig {
  inKernelGic?: NonNullable<VmConfig['inKernelGic']> & {
    msi?: { regionBase: number; intidBase: number; intidCount: number };
  };
}

const EXIT_REASONS = new Set<number>([ExitReason.Canceled, ExitReason.Exception, ExitReason.VtimerActivated, ExitReason.Unknown]);

/** hv_vcpu_exit_t as the addon flattens it ([reason, ESR, FAR, IPA]) -> VcpuExit. */
export function toVcpuExit(record: BigUint64Array): VcpuExit {
  if (record.length !== 4) throw new HvfError('hv_vcpu_run', HV_RETURN.HV_ERROR, `exit record has ${record.length} fields, expected 4`);
  const reason = Number(record[0]);
  return {
    reason: EXIT_REASONS.has(reason) ? (reason as ExitReason) : ExitReason.Unknown,
    syndrome: record[1],
    virtualAddress: record[2],
    physicalAddress: record[3],
  };
}

function checkMemoryFlags(flags: number): void {
  if (!Number.isInteger(flags) || flags < 0 || flags > 7) {
    throw new HvfError('hv_vm_map', HV_RETURN.HV_BAD_ARGUMENT, `invalid memory permissions ${flags} (READ=1 WRITE=2 EXEC=4)`);
  }
}

function checkPageRange(op: string, gpa: number, size: number, page: number): void {
  if (!Number.isSafeInteger(gpa) || gpa < 0 || gpa % page !== 0) {
    throw new HvfError(op, HV_RETURN.HV_BAD_ARGUMENT, `${op}: guest address 0x${gpa.toString(16)} is not ${page}-byte aligned`);
  }
  if (!Number.isSafeInteger(size) || size <= 0 || size % page !== 0) {
    throw new HvfError(op, HV_RETURN.HV_BAD_ARGUMENT, `${op}: size 0x${size.toString(16)} is not a positive multiple of ${page} bytes`);
  }
}

/**
 * Allocates zeroed guest RAM whose host address is page aligned: an ArrayBuffer with one
 * page of slack and the aligned subarray of it (JavaScript owns the memory; the addon only
 * learns the misalignment).
 */
export function allocateAlignedRam(native: NativeHvf, size: number, pageSize: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size <= 0 || size % pageSize !== 0) {
    throw new HvfError('hv_vm_map', HV_RETURN.HV_BAD_ARGUMENT, `RAM size ${size} is not a multiple of ${pageSize} bytes`);
  }
  const buffer = new ArrayBuffer(size + pageSize);
  const misalignment = native.pageMisalignment(buffer);
  const skip = (pageSize - misalignment) % pageSize;
  return new Uint8Array(buffer, skip, size);
}

export class HvfAccelerator implements Accelerator {
  readonly name = 'hvf' as const;
  private caps: NativeCapabilities | undefined;
  private vm: HvfVm | undefined;

  constructor(readonly native: NativeHvf) {}

  /** Loads the addon (HvfUnavailableError if it cannot be). */
  static load(options?: LoadOptions): HvfAccelerator {
    return new HvfAccelerator(loadHvfNative(options));
  }

  nativeCapabilities(): NativeCapabilities {
    this.caps ??= call(() => this.native.capabilities());
    return this.caps;
  }

  capabilities(): AcceleratorCapabilities {
    const c = this.nativeCapabilities();
    return { maxVcpus: c.maxVcpus, maxIpaBits: c.maxIpaBits, defaultIpaBits: c.defaultIpaBits, pageSize: c.pageSize, inKernelGic: c.inKernelGic };
  }

  /** A feature register of the default vCPU configuration (hv_vcpu_config_get_feature_reg). */
  featureReg(reg: FeatureReg): bigint {
    return call(() => this.native.vcpuConfigFeatureReg(reg));
  }

  /** The 8 CCSIDR_EL1 values for data (0) or instruction (1) caches. */
  ccsidrValues(cacheType: 0 | 1): bigint[] {
    return [...call(() => this.native.vcpuConfigCcsidr(cacheType))];
  }

  /** Guest RAM that HVF can map: JS-owned, host-page aligned. */
  allocateRam(size: number): Uint8Array {
    return allocateAlignedRam(this.native, size, this.nativeCapabilities().pageSize);
  }

  createVm(config: HvfVmConfig = {}): HvfVm {
    if (this.vm && !this.vm.destroyed) {
      throw new HvfError('hv_vm_create', HV_RETURN.HV_BUSY, 'hv_vm_create: this process already has a VM (Hypervisor.framework allows one per process)');
    }
    const caps = this.nativeCapabilities();
    if (config.ipaBits !== undefined && (!Number.isInteger(config.ipaBits) || config.ipaBits < 32 || config.ipaBits > caps.maxIpaBits)) {
      throw new HvfError('hv_vm_config_set_ipa_size', HV_RETURN.HV_BAD_ARGUMENT, `IPA size ${config.ipaBits} bits outside 32..${caps.maxIpaBits}`);
    }
    const gicConfig = config.inKernelGic;
    if (gicConfig && !caps.inKernelGic) {
      throw new HvfError('hv_gic_create', HV_RETURN.HV_UNSUPPORTED, 'the in-kernel GICv3 needs macOS 15 or later');
    }
    const gicParams = gicConfig ? call(() => this.native.gicParameters()) : undefined;
    if (gicConfig && gicParams) checkGicConfig(gicConfig, gicParams);
    const msi = gicConfig?.msi;
    call(() =>
      this.native.vmCreate({
        ...(config.ipaBits !== undefined ? { ipaBits: config.ipaBits } : {}),
        ...(gicConfig
          ? {
              gic: {
                distributorBase: gicConfig.distributorBase,
                redistributorBase: gicConfig.redistributorBase,
                ...(msi ? { msiRegionBase: msi.regionBase, msiIntidBase: msi.intidBase, msiIntidCount: msi.intidCount } : {}),
              },
            }
          : {}),
      }),
    );
    const ipaBits = config.ipaBits ?? caps.defaultIpaBits;
    this.vm = new HvfVm(this.native, caps, gicParams && gicConfig ? { parameters: gicParams, msi } : undefined, ipaBits);
    return this.vm;
  }
}

/** Alignment of the GIC frames and the MSI INTID range, checked before hv_gic_create. */
function checkGicConfig(config: NonNullable<HvfVmConfig['inKernelGic']>, p: NativeGicParameters): void {
  const { distributorBase, redistributorBase, msi } = config;
  if (distributorBase % p.distributorAlignment !== 0 || redistributorBase % p.redistributorAlignment !== 0) {
    throw new HvfError(
      'hv_gic_config_set_distributor_base',
      HV_RETURN.HV_BAD_ARGUMENT,
      `GIC bases 0x${distributorBase.toString(16)}/0x${redistributorBase.toString(16)} must be aligned to ` +
        `0x${p.distributorAlignment.toString(16)}/0x${p.redistributorAlignment.toString(16)}`,
    );
  }
  if (!msi) return;
  if (!Number.isSafeInteger(msi.regionBase) || msi.regionBase < 0 || msi.regionBase % p.msiRegionAlignment !== 0) {
    throw new HvfError('hv_gic_config_set_msi_region_base', HV_RETURN.HV_BAD_ARGUMENT, `MSI frame 0x${msi.regionBase.toString(16)} must be aligned to 0x${p.msiRegionAlignment.toString(16)}`);
  }
  const spiEnd = p.spiBase + p.spiCount;
  if (!Number.isInteger(msi.intidBase) || !Number.isInteger(msi.intidCount) || msi.intidCount <= 0 || msi.intidBase < p.spiBase || msi.intidBase + msi.intidCount > spiEnd) {
    throw new HvfError(
      'hv_gic_config_set_msi_interrupt_range',
      HV_RETURN.HV_BAD_ARGUMENT,
      `MSI INTIDs ${msi.intidBase}+${msi.intidCount} must lie within the SPI range ${p.spiBase}..${spiEnd - 1}`,
    );
  }
}

export class HvfGic implements InKernelGic {
  readonly parameters: NativeGicParameters;
  private readonly msi?: { regionBase: number; intidBase: number; intidCount: number };

  constructor(private readonly native: NativeHvf, setup: { parameters: NativeGicParameters; msi?: { regionBase: number; intidBase: number; intidCount: number } }) {
    this.parameters = setup.parameters;
    this.msi = setup.msi;
  }

  setSpi(intid: number, level: boolean): void {
    const { spiBase, spiCount } = this.parameters;
    if (!Number.isInteger(intid) || intid < spiBase || intid >= spiBase + spiCount) {
      throw new HvfError('hv_gic_set_spi', HV_RETURN.HV_BAD_ARGUMENT, `hv_gic_set_spi: INTID ${intid} outside the SPI range ${spiBase}..${spiBase + spiCount - 1}`);
    }
    call(() => this.native.gicSetSpi(intid, level));
  }

  /** Raises a message-signalled SPI through the MSI frame configured at VM creation. */
  sendMsi(intid: number): void {
    if (!this.msi) throw new HvfError('hv_gic_send_msi', HV_RETURN.HV_UNSUPPORTED, 'hv_gic_send_msi: the VM was created without an MSI frame');
    const { regionBase, intidBase, intidCount } = this.msi;
    if (!Number.isInteger(intid) || intid < intidBase || intid >= intidBase + intidCount) {
      throw new HvfError('hv_gic_send_msi', HV_RETURN.HV_BAD_ARGUMENT, `hv_gic_send_msi: INTID ${intid} outside the MSI range ${intidBase}..${intidBase + intidCount - 1}`);
    }
    call(() => this.native.gicSendMsi(regionBase + GICM_SET_SPI_NSR, intid));
  }

  /** A distributor register by its GICv3 offset (GICD_*). */
  getDistributorReg(offset: number): bigint {
    checkGicOffset('hv_gic_get_distributor_reg', offset, 0x10000);
    return call(() => this.native.gicGetDistributorReg(offset));
  }

  setDistributorReg(offset: number, value: bigint): void {
    checkGicOffset('hv_gic_set_distributor_reg', offset, 0x10000);
    call(() => this.native.gicSetDistributorReg(offset, BigInt.asUintN(64, value)));
  }

  reset(): void {
    call(() => this.native.gicReset());
  }

  /** Distributor + redistributor state (not the CPU interface registers); VM stopped. */
  saveState(): Uint8Array {
    return call(() => this.native.gicSaveState());
  }

  /** After the GIC and vCPUs exist, before any vCPU runs. */
  restoreState(state: Uint8Array): void {
    call(() => this.native.gicRestoreState(state));
  }
}

function checkGicOffset(op: string, offset: number, limit: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset >= limit || offset % 4 !== 0) {
    throw new HvfError(op, HV_RETURN.HV_BAD_ARGUMENT, `${op}: offset 0x${offset.toString(16)} is not a 4-byte aligned GIC register offset below 0x${limit.toString(16)}`);
  }
}

/** The GIC CPU interface registers a save/restore carries besides hv_gic_state (hv_gic_icc_reg_t). */
export const GIC_ICC_REGS = {
  PMR_EL1: 0xc230,
  BPR0_EL1: 0xc643,
  AP0R0_EL1: 0xc644,
  AP1R0_EL1: 0xc648,
  BPR1_EL1: 0xc663,
  CTLR_EL1: 0xc664,
  SRE_EL1: 0xc665,
  IGRPEN0_EL1: 0xc666,
  IGRPEN1_EL1: 0xc667,
} as const;

export class HvfVm implements Vm {
  readonly gic?: HvfGic;
  destroyed = false;
  private readonly vcpus = new Set<HvfVcpu>();
  private nextId = 0;

  constructor(
    private readonly native: NativeHvf,
    private readonly caps: NativeCapabilities,
    gic?: { parameters: NativeGicParameters; msi?: { regionBase: number; intidBase: number; intidCount: number } },
    /** Guest physical addresses are below 2^ipaBits (36 bits = 64 GiB unless configured). */
    readonly ipaBits: number = caps.defaultIpaBits,
  ) {
    if (gic) this.gic = new HvfGic(native, gic);
  }

  /** hv_vcpus_exit on every vCPU of this VM in one call (e.g. to stop them all). */
  requestExitAll(): void {
    const ids = [...this.vcpus].filter((v) => !v.isDestroyed).map((v) => v.hvId);
    if (ids.length) call(() => this.native.vcpusExit(ids));
  }

  map(host: Uint8Array, gpa: number, flags: MemoryPermissions): void {
    const page = this.caps.pageSize;
    checkMemoryFlags(flags);
    checkPageRange('hv_vm_map', gpa, host.byteLength, page);
    const end = BigInt(gpa) + BigInt(host.byteLength);
    if (end > 1n << BigInt(this.ipaBits)) {
      throw new HvfError(
        'hv_vm_map',
        HV_RETURN.HV_BAD_ARGUMENT,
        `hv_vm_map: guest range ends at 0x${end.toString(16)}, beyond the VM's ${this.ipaBits}-bit IPA space; ` +
          `create the VM with a larger ipaBits (this host allows up to ${this.caps.maxIpaBits})`,
      );
    }
    // What HVF needs is a page-aligned host *address*; JS cannot see it, so ask the addon.
    const misalignment = this.native.pageMisalignment(host);
    if (misalignment !== 0) {
      throw new HvfError(
        'hv_vm_map',
        HV_RETURN.HV_BAD_ARGUMENT,
        `hv_vm_map: the buffer's host address is ${misalignment} bytes past a ${page}-byte page; allocate guest RAM with HvfAccelerator.allocateRam()`,
      );
    }
    call(() => this.native.vmMap(host, gpa, flags));
  }

  unmap(gpa: number, size: number): void {
    checkPageRange('hv_vm_unmap', gpa, size, this.caps.pageSize);
    call(() => this.native.vmUnmap(gpa, size));
  }

  protect(gpa: number, size: number, flags: MemoryPermissions): void {
    checkMemoryFlags(flags);
    checkPageRange('hv_vm_protect', gpa, size, this.caps.pageSize);
    call(() => this.native.vmProtect(gpa, size, flags));
  }

  async createVcpu(): Promise<HvfVcpu> {
    if (this.destroyed) throw new HvfError('hv_vcpu_create', HV_RETURN.HV_NO_DEVICE, 'hv_vcpu_create: the VM was destroyed');
    if (this.caps.maxVcpus > 0 && this.vcpus.size >= this.caps.maxVcpus) {
      throw new HvfError('hv_vcpu_create', HV_RETURN.HV_NO_RESOURCES, `hv_vcpu_create: at most ${this.caps.maxVcpus} vCPUs`);
    }
    const native = await callAsync(() => this.native.createVcpu());
    const vcpu = new HvfVcpu(this.nextId++, native, () => this.vcpus.delete(vcpu));
    this.vcpus.add(vcpu);
    return vcpu;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all([...this.vcpus].map((v) => v.destroy()));
    call(() => this.native.vmDestroy());
    this.destroyed = true;
  }
}

export class HvfVcpu implements Vcpu {
  private destroyed = false;

  constructor(
    readonly id: number,
    private readonly native: NativeVcpu,
    private readonly onDestroyed: () => void,
  ) {}

  /** The hv_vcpu_t behind this vCPU (what NativeHvf.vcpusExit takes, from any thread). */
  get hvId(): number {
    return this.native.id;
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }

  async run(): Promise<VcpuExit> {
    return toVcpuExit(await callAsync(() => this.native.run()));
  }

  requestExit(): void {
    if (!this.destroyed) call(() => this.native.requestExit());
  }

  getReg(reg: Reg): bigint {
    return call(() => this.native.getReg(reg));
  }

  setReg(reg: Reg, value: bigint): void {
    call(() => this.native.setReg(reg, BigInt.asUintN(64, value)));
  }

  getSimdFpReg(index: number): Uint8Array {
    return call(() => this.native.getSimdFpReg(index));
  }

  setSimdFpReg(index: number, value: Uint8Array): void {
    if (value.byteLength !== 16) throw new HvfError('hv_vcpu_set_simd_fp_reg', HV_RETURN.HV_BAD_ARGUMENT, 'a Q register value is 16 bytes');
    call(() => this.native.setSimdFpReg(index, value));
  }

  getSysReg(id: number): bigint {
    return call(() => this.native.getSysReg(id));
  }

  setSysReg(id: number, value: bigint): void {
    call(() => this.native.setSysReg(id, BigInt.asUintN(64, value)));
  }

  setPendingInterrupt(type: InterruptType, pending: boolean): void {
    call(() => this.native.setPendingInterrupt(type, pending));
  }

  getPendingInterrupt(type: InterruptType): boolean {
    return call(() => this.native.getPendingInterrupt(type));
  }

  getVtimerMask(): boolean {
    return call(() => this.native.getVtimerMask());
  }

  setVtimerMask(masked: boolean): void {
    call(() => this.native.setVtimerMask(masked));
  }

  getVtimerOffset(): bigint {
    return call(() => this.native.getVtimerOffset());
  }

  setVtimerOffset(offset: bigint): void {
    call(() => this.native.setVtimerOffset(BigInt.asUintN(64, offset)));
  }

  setTrapDebugExceptions(enabled: boolean): void {
    call(() => this.native.setTrapDebugExceptions(enabled));
  }

  getTrapDebugExceptions(): boolean {
    return call(() => this.native.getTrapDebugExceptions());
  }

  setTrapDebugRegAccesses(enabled: boolean): void {
    call(() => this.native.setTrapDebugRegAccesses(enabled));
  }

  getTrapDebugRegAccesses(): boolean {
    return call(() => this.native.getTrapDebugRegAccesses());
  }

  getExecTime(): bigint {
    return call(() => this.native.getExecTime());
  }

  /** The in-kernel GIC's redistributor for this vCPU (set MPIDR_EL1 first). */
  gicRedistributorBase(): bigint {
    return call(() => this.native.getGicRedistributorBase());
  }

  /** A GIC CPU interface register (GIC_ICC_REGS), on the owning thread. */
  getGicIccReg(reg: number): bigint {
    return call(() => this.native.getGicIccReg(reg));
  }

  setGicIccReg(reg: number, value: bigint): void {
    call(() => this.native.setGicIccReg(reg, BigInt.asUintN(64, value)));
  }

  /** A register of this vCPU's redistributor by GICv3 offset (RD frame, SGI frame at +0x10000). */
  getGicRedistributorReg(offset: number): bigint {
    checkGicOffset('hv_gic_get_redistributor_reg', offset, 0x20000);
    return call(() => this.native.getGicRedistributorReg(offset));
  }

  setGicRedistributorReg(offset: number, value: bigint): void {
    checkGicOffset('hv_gic_set_redistributor_reg', offset, 0x20000);
    call(() => this.native.setGicRedistributorReg(offset, BigInt.asUintN(64, value)));
  }

  /** The GIC CPU interface state to save next to HvfGic.saveState(). */
  saveGicCpuState(): Map<number, bigint> {
    return new Map(Object.values(GIC_ICC_REGS).map((reg) => [reg, this.getGicIccReg(reg)]));
  }

  restoreGicCpuState(state: ReadonlyMap<number, bigint>): void {
    for (const [reg, value] of state) this.setGicIccReg(reg, value);
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      await callAsync(() => this.native.destroy());
    } finally {
      this.onDestroyed();
    }
  }
}

/**
 * Loads the addon and checks that this process may create a VM (creates and destroys one),
 * so a caller choosing an accelerator learns about a missing entitlement or a host without
 * virtualization now, not at boot. Throws HvfUnavailableError or HvfError.
 */
export async function loadHvfAccelerator(options: LoadOptions & { probe?: boolean } = {}): Promise<HvfAccelerator> {
  const { probe = true, ...loadOptions } = options;
  const accel = HvfAccelerator.load(Object.keys(loadOptions).length ? loadOptions : undefined);
  if (probe) await accel.createVm().destroy();
  return accel;
}
