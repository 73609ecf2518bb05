// Memory sizes as users write them: "512M", "2G", "1024K", "1g", "64MiB" or plain bytes.
// Suffixes are binary (K = 1024), as in QEMU's -m.
import { ConfigError } from './errors.ts';

const SUFFIX_SHIFT: Record<string, number> = { '': 0, k: 10, m: 20, g: 30, t: 40 };

export function parseSize(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (!Number.isSafeInteger(text) || text < 0) throw new ConfigError(`invalid ${what} ${text}: expected a whole number of bytes`);
    return text;
  }
  const m = /^\s*(\d+)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new ConfigError(`invalid ${what} '${text}': expected a number with an optional K, M, G or T suffix`);
  const value = Number(m[1]) * 2 ** SUFFIX_SHIFT[m[2].toLowerCase()];
  if (!Number.isSafeInteger(value)) throw new ConfigError(`invalid ${what} '${text}': too large`);
  return value;
}

/** "536870912" -> "512 MiB", for messages. */
export function formatSize(bytes: number): string {
  for (const [unit, shift] of [['TiB', 40], ['GiB', 30], ['MiB', 20], ['KiB', 10]] as const) {
    if (bytes >= 2 ** shift && bytes % 2 ** shift === 0) return `${bytes / 2 ** shift} ${unit}`;
  }
  return `${bytes} bytes`;
}
