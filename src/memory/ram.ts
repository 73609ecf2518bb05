// Managing guest RAM: allocation in JavaScript (Electron forbids external ArrayBuffers, so
// native code only ever maps memory that JS owns) and the list of regions a VM maps.
// Accessing RAM is guest-memory.ts's job.
import { HOST_PAGE_SIZE } from '../arch/arm64/layout.ts';
import type { MemoryRegion } from './guest-memory.ts';

export class RamError extends Error {
  override readonly name = 'RamError';
}

const WASM_PAGE = 64 * 1024;
const WASM_MAX_PAGES = 65536;

/**
 * Bytes reserved after the RAM in its WebAssembly.Memory for the software CPU's vCPU state
 * (src/accel/emu/arena.ts), so its translated code reaches registers and guest RAM through
 * one memory. Untouched pages cost no host memory.
 */
export const WASM_ARENA_BYTES = 155 << 20; // MAX_VCPUS (123) state areas of 1.25 MiB

/** The WebAssembly.Memory behind a RAM allocation and where its reserved tail starts. */
export interface WasmArena {
  readonly memory: WebAssembly.Memory;
  /** Offset of the tail (the RAM's size); it runs to the end of the memory. */
  readonly tail: number;
  readonly tailBytes: number;
}

const arenas = new WeakMap<ArrayBuffer, WasmArena>();

/** The arena of RAM from allocateRam() that has one, else undefined. */
export function wasmArenaOf(bytes: Uint8Array): WasmArena | undefined {
  return arenas.get(bytes.buffer as ArrayBuffer);
}

function wasmMemory(pages: number): WebAssembly.Memory | undefined {
  if (pages > WASM_MAX_PAGES) return undefined;
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages });
  } catch {
    return undefined;
  }
}

/**
 * Allocate `size` bytes of zeroed guest RAM, a multiple of the 16 KiB host page.
 * The backing store is a WebAssembly.Memory where the size allows, with `arenaBytes` (rounded
 * up to 64 KiB) after the RAM when that fits too; the array returned always has exactly
 * `size` bytes (the HVF addon maps its byte range, devices see only it).
 */
export function allocateRam(size: number, arenaBytes = WASM_ARENA_BYTES): Uint8Array {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RamError(`invalid RAM size ${size}`);
  if (size % HOST_PAGE_SIZE !== 0) {
    throw new RamError(`RAM size ${size} is not a multiple of ${HOST_PAGE_SIZE} bytes`);
  }
  const pages = size / WASM_PAGE;
  if (Number.isInteger(pages)) {
    const tailPages = Math.ceil(arenaBytes / WASM_PAGE);
    const withArena = tailPages > 0 ? wasmMemory(pages + tailPages) : undefined;
    if (withArena !== undefined) {
      arenas.set(withArena.buffer, { memory: withArena, tail: size, tailBytes: tailPages * WASM_PAGE });
      return new Uint8Array(withArena.buffer, 0, size);
    }
    const plain = wasmMemory(pages);
    if (plain !== undefined) return new Uint8Array(plain.buffer);
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
