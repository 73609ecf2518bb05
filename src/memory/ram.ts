// Managing guest RAM: allocation in JavaScript (Electron forbids external ArrayBuffers, so
// native code only ever maps memory that JS owns) and the list of regions a VM maps.
// Accessing RAM is guest-memory.ts's job.
import { HOST_PAGE_SIZE } from '../arch/arm64/layout.ts';
import type { MemoryRegion } from './guest-memory.ts';

export class RamError extends Error {
  override readonly name = 'RamError';
}

const WASM_PAGE = 64 * 1024;

/**
 * Allocate `size` bytes of zeroed guest RAM, a multiple of the 16 KiB host page.
 * The backing store is a WebAssembly.Memory where the size allows, so the software CPU's
 * translator can later address RAM directly; its buffer is an ordinary ArrayBuffer to the
 * HVF addon, which aligns and maps it.
 */
export function allocateRam(size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RamError(`invalid RAM size ${size}`);
  if (size % HOST_PAGE_SIZE !== 0) {
    throw new RamError(`RAM size ${size} is not a multiple of ${HOST_PAGE_SIZE} bytes`);
  }
  const pages = size / WASM_PAGE;
  if (Number.isInteger(pages) && pages <= 65536) {
    try {
      const mem = new WebAssembly.Memory({ initial: pages, maximum: pages });
      return new Uint8Array(mem.buffer);
    } catch {
      // fall through to a plain ArrayBuffer
    }
  }
  try {
    return new Uint8Array(new ArrayBuffer(size));
  } catch (e) {
    throw new RamError(`cannot allocate ${size} bytes of guest RAM: ${(e as Error).message}`);
  }
}

export function ramRegion(gpa: number, size: number): MemoryRegion {
  if (gpa % HOST_PAGE_SIZE !== 0) throw new RamError(`RAM base 0x${gpa.toString(16)} not 16 KiB aligned`);
  return { gpa, bytes: allocateRam(size) };
}
