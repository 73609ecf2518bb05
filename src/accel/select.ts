// Choosing the accelerator: HVF on Apple Silicon when it works, else the software CPU.
// `auto` falls back with a one-line notice; `hvf` insists and fails with the reason.
import type { Accelerator } from './types.ts';

export type AccelChoice = 'auto' | 'hvf' | 'emu';

export class AcceleratorUnavailableError extends Error {
  override readonly name = 'AcceleratorUnavailableError';
}

export interface SelectOptions {
  /** Receives the one-line notice when `auto` falls back to the software CPU. */
  notice?: (message: string) => void;
  /** For tests: replace the HVF loader. */
  loadHvf?: () => Promise<Accelerator>;
}

async function defaultLoadHvf(): Promise<Accelerator> {
  const { loadHvfAccelerator } = await import('./hvf/backend.ts');
  return loadHvfAccelerator();
}

async function loadEmu(): Promise<Accelerator> {
  const { EmuAccelerator } = await import('./emu/accelerator.ts');
  return new EmuAccelerator();
}

export function hvfPossibleHere(): boolean {
  return process.platform === 'darwin' && process.arch === 'arm64';
}

export async function selectAccelerator(choice: AccelChoice, opts: SelectOptions = {}): Promise<Accelerator> {
  const loadHvf = opts.loadHvf ?? defaultLoadHvf;
  switch (choice) {
    case 'emu':
      return loadEmu();
    case 'hvf':
      try {
        return await loadHvf();
      } catch (e) {
        throw new AcceleratorUnavailableError(`HVF is unavailable: ${(e as Error).message}`);
      }
    case 'auto': {
      if (hvfPossibleHere() || opts.loadHvf) {
        try {
          return await loadHvf();
        } catch (e) {
          opts.notice?.(`HVF unavailable (${firstLine((e as Error).message)}); using the software CPU`);
          return loadEmu();
        }
      }
      opts.notice?.(`no hardware virtualization on ${process.platform}-${process.arch}; using the software CPU`);
      return loadEmu();
    }
  }
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0];
}
