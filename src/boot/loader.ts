// Loading Linux: read and check the boot inputs, plan their placement, and write them into
// guest RAM. The DTB is built by the caller between the two steps, because it names the
// initrd addresses the plan chose:
//
//   const boot = prepareLinuxBoot({ ram, kernel, initrd, cmdline });
//   const dtb = generateFdt({ ..., cmdline: boot.cmdline, initrd: boot.plan.initrd });
//   applyVcpuBootState(vcpu, loadLinux(mem, boot, dtb));
import { FDT_MAX_SIZE } from '../arch/arm64/layout.ts';
import type { GuestMemoryAccess } from '../memory/guest-memory.ts';
import { validateCmdline } from './cmdline.ts';
import { BootError } from './error.ts';
import { readBootFile } from './files.ts';
import { decodeKernelImage, type KernelImage, type KernelPageSize } from './image.ts';
import { planBoot, type BootPlan } from './plan.ts';
import { bootVcpuState, type VcpuBootState } from './vcpu-state.ts';

export interface LinuxBootConfig {
  readonly ram: { readonly base: number; readonly size: number };
  /** A path, or the file's bytes (Image or Image.gz). */
  readonly kernel: string | Uint8Array;
  readonly initrd?: string | Uint8Array;
  readonly cmdline: string;
  readonly supportedPageSizes?: readonly KernelPageSize[];
}

export interface PreparedBoot {
  readonly kernel: KernelImage;
  readonly initrd?: Uint8Array;
  readonly cmdline: string;
  readonly plan: BootPlan;
}

export function prepareLinuxBoot(config: LinuxBootConfig): PreparedBoot {
  const cmdline = validateCmdline(config.cmdline);
  const cap = config.ram.size;
  // A compressed kernel is smaller than RAM too, so the RAM size caps the file either way.
  const kernelFile = typeof config.kernel === 'string'
    ? readBootFile(config.kernel, 'kernel', cap, 'kernel-too-large')
    : config.kernel;
  const kernel = decodeKernelImage(kernelFile, { maxSize: cap, supportedPageSizes: config.supportedPageSizes });
  let initrd: Uint8Array | undefined;
  if (config.initrd !== undefined) {
    initrd = typeof config.initrd === 'string' ? readBootFile(config.initrd, 'initrd', cap, 'initrd-too-large') : config.initrd;
    if (initrd.length === 0) throw new BootError('empty', 'initrd is empty');
  }
  const plan = planBoot({ ram: config.ram, kernel: { header: kernel.header, length: kernel.bytes.length }, initrdSize: initrd?.length });
  return { kernel, initrd, cmdline, plan };
}

/** Write kernel, initrd and DTB where `plan` says. */
export function loadBootImages(mem: GuestMemoryAccess, plan: BootPlan, kernel: Uint8Array, initrd: Uint8Array | undefined, dtb: Uint8Array): void {
  if (dtb.length > FDT_MAX_SIZE || dtb.length > plan.dtbMaxSize) {
    throw new BootError('dtb-too-large', `device tree of ${dtb.length} bytes exceeds ${Math.min(FDT_MAX_SIZE, plan.dtbMaxSize)} bytes`);
  }
  if (kernel.length > plan.kernelEnd - plan.kernelLoad) throw new BootError('kernel-too-large', 'kernel does not match its plan');
  const planned = plan.initrd ? plan.initrd.end - plan.initrd.start : 0;
  if ((initrd?.length ?? 0) !== planned) throw new BootError('initrd-too-large', 'initrd does not match its plan');
  const ranges: [number, number, string][] = [[plan.kernelLoad, plan.kernelEnd - plan.kernelLoad, 'kernel'], [plan.dtbAddress, dtb.length, 'device tree']];
  if (plan.initrd) ranges.push([plan.initrd.start, planned, 'initrd']);
  for (const [gpa, len, what] of ranges) {
    if (!mem.checkRange(gpa, len)) throw new BootError('invalid-ram', `${what} at 0x${gpa.toString(16)}+0x${len.toString(16)} is outside guest RAM`);
  }
  mem.write(plan.kernelLoad, kernel);
  // BSS and the rest of image_size start zeroed even when RAM is reused (reboot).
  mem.slice(plan.kernelLoad + kernel.length, plan.kernelEnd - plan.kernelLoad - kernel.length).fill(0);
  if (plan.initrd && initrd) mem.write(plan.initrd.start, initrd);
  mem.write(plan.dtbAddress, dtb);
}

/** Load a prepared boot with its DTB and return the boot vCPU's starting state. */
export function loadLinux(mem: GuestMemoryAccess, boot: PreparedBoot, dtb: Uint8Array): VcpuBootState {
  loadBootImages(mem, boot.plan, boot.kernel.bytes, boot.initrd, dtb);
  return bootVcpuState(boot.plan.kernelEntry, boot.plan.dtbAddress);
}
