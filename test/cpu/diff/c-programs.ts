// The C programs of the differential suite and the flags each is built with.
import { readFileSync } from 'node:fs';

export interface CProgram {
  name: string;
  source: string;
  flags: string[];
  /** Run with the MMU on (identity map, Normal memory): unaligned accesses allowed. */
  mmu?: boolean;
}

const dir = new URL('./c/', import.meta.url);
const lib = () => readFileSync(new URL('lib.h', dir), 'utf8');
const load = (file: string) => readFileSync(new URL(file, dir), 'utf8').replace('#include "lib.h"', lib());

/**
 * -mstrict-align: the emulator runs programs with the MMU off, where memory is Device
 * memory and unaligned accesses fault, so gcc must not assume unaligned access works.
 */
export function cPrograms(): CProgram[] {
  const strict = ['-mstrict-align'];
  return [
    { name: 'sha256 -O2', source: load('sha256.c'), flags: ['-O2', ...strict] },
    { name: 'sha256 -O3', source: load('sha256.c'), flags: ['-O3', ...strict] },
    { name: 'quicksort, CRC32, Adler-32, integer formatting -O2', source: load('sort-crc.c'), flags: ['-O2', ...strict] },
    { name: 'floating point: sqrt, division, series, conversions -O2', source: load('float.c'), flags: ['-O2', '-fno-math-errno', ...strict] },
    { name: 'vectorized loops -O3', source: load('vector.c'), flags: ['-O3', ...strict] },
    { name: 'vectorized loops -O2', source: load('vector.c'), flags: ['-O2', ...strict] },
    // As user space really runs: MMU on, unaligned vector loads and stores allowed.
    { name: 'vectorized loops -O3, MMU on, unaligned accesses', source: load('vector.c'), flags: ['-O3'], mmu: true },
    { name: 'quicksort, CRC32, formatting -O3, MMU on', source: load('sort-crc.c'), flags: ['-O3'], mmu: true },
  ];
}
