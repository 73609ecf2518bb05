// Where kernel, initrd and DTB go in guest RAM (Documentation/arch/arm64/booting.rst):
//   - the Image at a 2 MiB-aligned base + text_offset, as low in RAM as possible (older
//     kernels cannot use memory below it), with image_size bytes free from its start (BSS);
//   - the initrd right after that, page aligned, inside a 1 GiB-aligned window of at most
//     32 GiB that also covers the Image;
//   - the DTB in a FDT_MAX_SIZE window at the top of RAM, 8-byte aligned.
// Everything described as memory and not reserved is the kernel's; Linux memblock-reserves
// the initrd (from /chosen) and the DTB itself, so no /memreserve/ entries are needed.
//
//  RAM base                                                                  RAM end
//  | text_offset | Image ... BSS (image_size) | initrd |      free      | DTB (2 MiB) |
import { FDT_ALIGN, FDT_MAX_SIZE, GiB, KERNEL_ALIGN, KiB } from '../arch/arm64/layout.ts';
import { BootError } from './error.ts';
import type { ImageHeader } from './image.ts';

/** Page aligned for 4, 16 and 64 KiB kernels alike. */
export const INITRD_ALIGN = 64 * KiB;
export const INITRD_WINDOW_ALIGN = 1 * GiB;
export const INITRD_WINDOW_SIZE = 32 * GiB;

export interface BootPlanInput {
  readonly ram: { readonly base: number; readonly size: number };
  readonly kernel: { readonly header: ImageHeader; readonly length: number };
  /** Bytes of initrd; 0 or absent for none. */
  readonly initrdSize?: number;
}

export interface BootPlan {
  /** Guest-physical address of Image byte 0, which is also the entry point. */
  readonly kernelLoad: number;
  readonly kernelEntry: number;
  /** End of the memory the kernel claims from its load address (image_size, BSS included). */
  readonly kernelEnd: number;
  readonly initrd?: { readonly start: number; readonly end: number };
  readonly dtbAddress: number;
  /** Room for the DTB from dtbAddress. */
  readonly dtbMaxSize: number;
}

const alignUp = (v: number, a: number): number => Math.ceil(v / a) * a;
const alignDown = (v: number, a: number): number => Math.floor(v / a) * a;
const hex = (n: number): string => `0x${n.toString(16)}`;

export function planBoot(input: BootPlanInput): BootPlan {
  const { base, size } = input.ram;
  if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || base < 0 || size <= 0 || !Number.isSafeInteger(base + size)) {
    throw new BootError('invalid-ram', `RAM ${hex(base)}+${hex(size)} is not a valid range`);
  }
  const ramEnd = base + size;
  const { header, length } = input.kernel;

  const dtbAddress = alignDown(ramEnd - FDT_MAX_SIZE, FDT_ALIGN);
  const kernelLoad = alignUp(base, KERNEL_ALIGN) + header.textOffset;
  // image_size 0 (pre-3.17) leaves the footprint unknown: count the file, keep the rest free.
  const kernelEnd = kernelLoad + Math.max(header.imageSize, length);
  if (dtbAddress < base || kernelEnd > dtbAddress) {
    throw new BootError('kernel-too-large', `kernel needs ${hex(kernelEnd - base)} bytes of RAM from ${hex(base)} plus ${FDT_MAX_SIZE / 1024 / 1024} MiB for the device tree; RAM is only ${hex(size)} bytes`);
  }

  let initrd: BootPlan['initrd'];
  const initrdSize = input.initrdSize ?? 0;
  if (initrdSize > 0) {
    if (!Number.isSafeInteger(initrdSize)) throw new BootError('initrd-too-large', `initrd size ${initrdSize} is absurd`);
    // Right after the kernel, or as high as possible when the kernel wants the space after it.
    const start = header.imageSize > 0 ? alignUp(kernelEnd, INITRD_ALIGN) : alignDown(dtbAddress - initrdSize, INITRD_ALIGN);
    const end = start + initrdSize;
    if (start < kernelEnd || end > dtbAddress) {
      throw new BootError('initrd-too-large', `initrd of ${initrdSize} bytes does not fit between the kernel (ends ${hex(kernelEnd)}) and the device tree (${hex(dtbAddress)})`);
    }
    if (end - alignDown(kernelLoad, INITRD_WINDOW_ALIGN) > INITRD_WINDOW_SIZE) {
      throw new BootError('initrd-too-large', `initrd would end ${hex(end)}, outside the 32 GiB window that covers the kernel`);
    }
    initrd = { start, end };
  }

  return { kernelLoad, kernelEntry: kernelLoad, kernelEnd, initrd, dtbAddress, dtbMaxSize: Math.min(FDT_MAX_SIZE, ramEnd - dtbAddress) };
}
