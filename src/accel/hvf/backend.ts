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

  createVm(config: VmConfig = {}): Vm {
    if (this.vm && !this.vm.destroyed) {
      throw new HvfError('hv_vm_create', HV_RETURN.HV_BUSY, 'hv_vm_create: this process already has a VM (Hypervisor.framework allows one per process)');
    }
    const caps = this.nativeCapabilities();
    if (config.ipaBits !== undefined && (!Number.isInteger(config.ipaBits) || config.ipaBits < 32 || config.ipaBits > caps.maxIpaBits)) {
      throw new HvfError('hv_vm_config_set_ipa_size', HV_RETURN.HV_BAD_ARGUMENT, `IPA size ${config.ipaBits} bits outside 32..${caps.maxIpaBits}`);
    }
    if (config.inKernelGic && !caps.inKernelGic) {
      throw new HvfError('hv_gic_create', HV_RETURN.HV_UNSUPPORTED, 'the in-kernel GICv3 needs macOS 15 or later');
    }
    const gicParams = config.inKernelGic ? call(() => this.native.gicParameters()) : undefined;
    if (config.inKernelGic && gicParams) {
      const { distributorBase, redistributorBase } = config.inKernelGic;
      if (distributorBase % gicParams.distributorAlignment !== 0 || redistributorBase % gicParams.redistributorAlignment !== 0) {
        throw new HvfError(
          'hv_gic_config_set_distributor_base',
          HV_RETURN.HV_BAD_ARGUMENT,
          `GIC bases 0x${distributorBase.toString(16)}/0x${redistributorBase.toString(16)} must be aligned to ` +
            `0x${gicParams.distributorAlignment.toString(16)}/0x${gicParams.redistributorAlignment.toString(16)}`,
        );
      }
    }
    call(() =>
      this.native.vmCreate({
        ...(config.ipaBits !== undefined ? { ipaBits: config.ipaBits } : {}),
        ...(config.inKernelGic ? { gic: { ...config.inKernelGic } } : {}),
      }),
    );
    this.vm = new HvfVm(this.native, caps, gicParams);
    return this.vm;
  }
}

export class HvfGic implements InKernelGic {
  constructor(private readonly native: NativeHvf, readonly parameters: NativeGicParameters) {}

  setSpi(intid: number, level: boolean): void {
    const { spiBase, spiCount } = this.parameters;
    if (!Number.isInteger(intid) || intid < spiBase || intid >= spiBase + spiCount) {
      throw new HvfError('hv_gic_set_spi', HV_RETURN.HV_BAD_ARGUMENT, `hv_gic_set_spi: INTID ${intid} outside the SPI range ${spiBase}..${spiBase + spiCount - 1}`);
    }
    call(() => this.native.gicSetSpi(intid, level));
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

export class HvfVm implements Vm {
  readonly gic?: HvfGic;
  destroyed = false;
  private readonly vcpus = new Set<HvfVcpu>();
  private nextId = 0;

  constructor(private readonly native: NativeHvf, private readonly caps: NativeCapabilities, gicParams?: NativeGicParameters) {
    if (gicParams) this.gic = new HvfGic(native, gicParams);
  }

  map(host: Uint8Array, gpa: number, flags: MemoryPermissions): void {
    const page = this.caps.pageSize;
    checkMemoryFlags(flags);
    checkPageRange('hv_vm_map', gpa, host.byteLength, page);
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

  async createVcpu(): Promise<Vcpu> {
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

  /** The hv_vcpu_t behind this vCPU. */
  get hvId(): number {
    return this.native.id;
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
