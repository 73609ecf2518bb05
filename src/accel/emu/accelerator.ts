// The software CPU as an Accelerator: the same Accelerator/Vm/Vcpu interface HVF offers,
// so the VMM above cannot tell them apart.
import { MemoryFlags, type Accelerator, type AcceleratorCapabilities, type Vcpu, type Vm, type VmConfig } from '../types.ts';
import { MAX_VCPUS } from '../../arch/arm64/layout.ts';
import { PhysicalMemory } from './physical-memory.ts';
import { Cpu } from './cpu.ts';
import { EmuVcpu } from './vcpu.ts';
import { Translator, type TranslatorOptions } from './translator/tier.ts';
import { CodePages } from './translator/code-pages.ts';
import { claimStateArea, releaseStateArea } from './arena.ts';
import type { StateArea } from './state.ts';
import { wasmArenaOf } from '../../memory/ram.ts';

export class EmuError extends Error {
  override readonly name = 'EmuError';
}

const PAGE = 4096;
const IPA_BITS = 40;

class EmuVm implements Vm {
  private readonly memory = new PhysicalMemory();
  private readonly cpus: Cpu[] = [];
  private readonly vcpus: EmuVcpu[] = [];
  private destroyed = false;
  /** Pages holding translated code, shared by the vCPUs' translation tiers. */
  private readonly codePages: CodePages | undefined;
  /** The first RAM mapped with an arena (ram.ts): translating vCPUs keep their state in it. */
  private arenaRam: Uint8Array | undefined;
  private readonly areas: StateArea[] = [];

  constructor(private readonly ipaBits: number, private readonly translate: TranslatorOptions | undefined) {
    this.codePages = translate ? new CodePages() : undefined;
  }

  private checkRange(gpa: number, size: number): void {
    if (this.destroyed) throw new EmuError('the VM was destroyed');
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(size) || gpa < 0 || size <= 0) throw new EmuError(`bad range 0x${gpa.toString(16)}+${size} (HV_BAD_ARGUMENT)`);
    if (gpa % PAGE !== 0 || size % PAGE !== 0) throw new EmuError(`range 0x${gpa.toString(16)}+0x${size.toString(16)} is not page aligned (HV_BAD_ARGUMENT)`);
    if (gpa + size > 2 ** this.ipaBits) throw new EmuError(`range beyond the ${this.ipaBits}-bit IPA space (HV_BAD_ARGUMENT)`);
  }

  map(host: Uint8Array, gpa: number, flags: number): void {
    this.checkRange(gpa, host.length);
    if ((flags & ~MemoryFlags.RWX) !== 0) throw new EmuError(`bad memory flags ${flags} (HV_BAD_ARGUMENT)`);
    this.memory.map(host, gpa, flags);
    this.codePages?.invalidateAll(); // code translated from what was mapped there before
    if (this.arenaRam === undefined && wasmArenaOf(host) !== undefined) this.arenaRam = host;
  }

  unmap(gpa: number, size: number): void {
    this.checkRange(gpa, size);
    this.memory.unmap(gpa, size);
    for (const c of this.cpus) c.mmu.flushTlb();
    this.codePages?.invalidateAll();
  }

  protect(gpa: number, size: number, flags: number): void {
    this.checkRange(gpa, size);
    this.memory.protect(gpa, size, flags);
    for (const c of this.cpus) c.mmu.flushTlb();
    this.codePages?.invalidateAll();
  }

  async createVcpu(): Promise<Vcpu> {
    if (this.destroyed) throw new EmuError('the VM was destroyed');
    if (this.cpus.length >= MAX_VCPUS) throw new EmuError(`at most ${MAX_VCPUS} vCPUs (HV_NO_RESOURCES)`);
    // Without the tier nothing reads the state through wasm; keep the arena for those who translate.
    const area = this.codePages !== undefined && this.arenaRam !== undefined ? claimStateArea(this.arenaRam) : undefined;
    if (area !== undefined) this.areas.push(area);
    const cpu = new Cpu(this.memory, this.cpus.length, area);
    if (this.codePages !== undefined) cpu.tier = new Translator(cpu, this.codePages, this.translate);
    this.cpus.push(cpu);
    for (const c of this.cpus) c.peers = this.cpus;
    const vcpu = new EmuVcpu(this.cpus.length - 1, cpu);
    this.vcpus.push(vcpu);
    return vcpu;
  }

  async destroy(): Promise<void> {
    for (const v of this.vcpus) await v.destroy();
    this.destroyed = true;
    for (const a of this.areas) releaseStateArea(this.arenaRam!, a);
    this.areas.length = 0;
  }
}

export interface EmuOptions {
  /**
   * Run hot guest code translated to WebAssembly (translator/); the interpreter stays the
   * fallback for everything it does not translate. Default on; false (or NODEVISOR_TRANSLATE=0
   * in the environment) runs the interpreter alone.
   */
  translate?: boolean | TranslatorOptions;
}

export class EmuAccelerator implements Accelerator {
  readonly name = 'emu' as const;
  private readonly translate: TranslatorOptions | undefined;

  constructor(options: EmuOptions = {}) {
    const t = options.translate ?? process.env.NODEVISOR_TRANSLATE !== '0';
    // NODEVISOR_TRANSLATE_THRESHOLD: visits before a block is translated; for tests, which
    // run short programs, it also compiles queued blocks after every batch.
    const threshold = Number(process.env.NODEVISOR_TRANSLATE_THRESHOLD);
    const fromEnv: TranslatorOptions = Number.isInteger(threshold) && threshold > 0 ? { threshold, maxWaitBatches: 1 } : {};
    this.translate = t === true ? fromEnv : t === false ? undefined : t;
  }

  capabilities(): AcceleratorCapabilities {
    return { maxVcpus: MAX_VCPUS, maxIpaBits: IPA_BITS, defaultIpaBits: IPA_BITS, pageSize: 16384, inKernelGic: false };
  }

  createVm(config: VmConfig = {}): Vm {
    if (config.inKernelGic) throw new EmuError('the software CPU has no in-kernel GIC (HV_UNSUPPORTED)');
    const bits = config.ipaBits ?? IPA_BITS;
    if (!Number.isInteger(bits) || bits < 32 || bits > IPA_BITS) throw new EmuError(`IPA size ${bits} outside 32..${IPA_BITS} (HV_BAD_ARGUMENT)`);
    return new EmuVm(bits, this.translate);
  }
}
