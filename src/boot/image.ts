// The arm64 Linux Image and its 64-byte header (Documentation/arch/arm64/booting.rst,
// arch/arm64/include/asm/image.h). Image.gz is accepted too: arm64 kernels carry no
// decompressor, so the loader gunzips, with the output capped.
import { gunzipSync } from 'node:zlib';
import { BootError } from './error.ts';

export const IMAGE_HEADER_SIZE = 64;
/** "ARM\x64", little-endian, at offset 56. */
export const IMAGE_MAGIC = 0x644d5241;
const MAGIC_OFFSET = 56;
/** text_offset to assume for pre-3.17 kernels, whose image_size is 0. */
export const LEGACY_TEXT_OFFSET = 0x80000;

// flags: bit 0 endianness, bits 1-2 page size, bit 3 physical placement.
const FLAG_BE = 1n;
const FLAG_PAGE_SIZE_SHIFT = 1n;
const FLAG_PHYS_BASE = 1n << 3n;
const PAGE_SIZES = [0, 4096, 16384, 65536] as const;

export type KernelPageSize = (typeof PAGE_SIZES)[number];

export interface ImageHeader {
  readonly code0: number;
  readonly code1: number;
  /** Where the Image goes above a 2 MiB-aligned base (0x80000 when image_size is 0). */
  readonly textOffset: number;
  /** Bytes from the Image start the kernel needs free, BSS included; 0 if unspecified. */
  readonly imageSize: number;
  readonly flags: bigint;
  /** 0 when the kernel does not say. */
  readonly pageSize: KernelPageSize;
  /** Flag bit 3: the 2 MiB base may be anywhere, not only near the start of RAM. */
  readonly placeAnywhere: boolean;
  /** res5: offset of the PE header when the Image doubles as an EFI application, else 0. */
  readonly peHeaderOffset: number;
}

export interface KernelImage {
  readonly header: ImageHeader;
  /** The uncompressed Image, header included. */
  readonly bytes: Uint8Array;
  readonly wasCompressed: boolean;
}

function safeU64(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new BootError('kernel-too-large', `Image ${what} 0x${v.toString(16)} is absurd`);
  return Number(v);
}

export function parseImageHeader(image: Uint8Array): ImageHeader {
  if (image.length === 0) throw new BootError('empty', 'kernel Image is empty');
  if (image.length < IMAGE_HEADER_SIZE) {
    throw new BootError('bad-magic', `kernel of ${image.length} bytes is shorter than the ${IMAGE_HEADER_SIZE}-byte arm64 Image header`);
  }
  const view = new DataView(image.buffer, image.byteOffset, IMAGE_HEADER_SIZE);
  const magic = view.getUint32(MAGIC_OFFSET, true);
  if (magic !== IMAGE_MAGIC) {
    throw new BootError('bad-magic', `not an arm64 Linux Image: magic 0x${magic.toString(16)} at offset ${MAGIC_OFFSET}, expected 0x${IMAGE_MAGIC.toString(16)} ("ARM\\x64")`);
  }
  const rawImageSize = view.getBigUint64(16, true);
  const flags = view.getBigUint64(24, true);
  if (flags & FLAG_BE) throw new BootError('big-endian', 'kernel Image is big-endian; only little-endian guests are supported');
  // Before v3.17 image_size is 0 and text_offset of unspecified endianness: assume 0x80000.
  const textOffset = rawImageSize === 0n ? LEGACY_TEXT_OFFSET : safeU64(view.getBigUint64(8, true), 'text_offset');
  return {
    code0: view.getUint32(0, true),
    code1: view.getUint32(4, true),
    textOffset,
    imageSize: safeU64(rawImageSize, 'image_size'),
    flags,
    pageSize: PAGE_SIZES[Number((flags >> FLAG_PAGE_SIZE_SHIFT) & 3n)],
    placeAnywhere: (flags & FLAG_PHYS_BASE) !== 0n,
    peHeaderOffset: view.getUint32(60, true),
  };
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0x1f && bytes[1] === 0x8b && bytes[2] === 0x08;
}

export interface KernelImageOptions {
  /** Largest uncompressed Image accepted (the RAM size is a natural cap). */
  readonly maxSize: number;
  /** Page sizes the vCPU's MMU implements; others are refused before boot. Default: any. */
  readonly supportedPageSizes?: readonly KernelPageSize[];
}

/** Validate an Image (or gunzip an Image.gz first) from bytes already in memory. */
export function decodeKernelImage(file: Uint8Array, options: KernelImageOptions): KernelImage {
  if (file.length === 0) throw new BootError('empty', 'kernel Image is empty');
  let bytes = file;
  const wasCompressed = isGzip(file);
  if (wasCompressed) {
    try {
      bytes = new Uint8Array(gunzipSync(file, { maxOutputLength: options.maxSize }));
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        throw new BootError('kernel-too-large', `compressed kernel expands beyond ${options.maxSize} bytes`);
      }
      throw new BootError('decompress', `cannot gunzip the kernel: ${err.message}`);
    }
  }
  if (bytes.length > options.maxSize) {
    throw new BootError('kernel-too-large', `kernel Image of ${bytes.length} bytes exceeds ${options.maxSize} bytes`);
  }
  const header = parseImageHeader(bytes);
  const supported = options.supportedPageSizes;
  if (supported && header.pageSize !== 0 && !supported.includes(header.pageSize)) {
    throw new BootError('unsupported-page-size', `kernel uses ${header.pageSize / 1024} KiB pages; the vCPU supports ${supported.map((s) => `${s / 1024} KiB`).join(', ')}`);
  }
  return { header, bytes, wasCompressed };
}
