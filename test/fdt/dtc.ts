// Running dtc (device-tree-compiler) from tests: decompile or compile and report warnings.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const hasDtc = spawnSync('dtc', ['--version'], { encoding: 'utf8' }).status === 0;

export interface DtcResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Run dtc on `input` written to a temporary file; `args` are the format options. */
export function runDtc(input: Uint8Array | string, args: string[]): DtcResult {
  const dir = mkdtempSync(join(tmpdir(), 'nodevisor-dtc-'));
  try {
    const file = join(dir, 'in');
    writeFileSync(file, input);
    const r = spawnSync('dtc', [...args, '-o', '-', file]);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const decompile = (dtb: Uint8Array): DtcResult => runDtc(dtb, ['-I', 'dtb', '-O', 'dts']);
export const compile = (dts: string): DtcResult => runDtc(dts, ['-I', 'dts', '-O', 'dtb']);

/**
 * Turn numeric phandle references in dtc's decompiled output into labels, so the reference
 * DTS files compile without clocks_property warnings and read like hand-written ones.
 * `labels` maps phandle values to label names.
 */
export function labelPhandles(dts: string, labels: ReadonlyMap<number, string>): string {
  const lines = dts.split('\n');
  const ref = (cell: string): string => {
    const label = labels.get(Number.parseInt(cell, 16));
    return label ? `&${label}` : cell;
  };
  // A node's label goes on its opening line; find each node that owns a known phandle.
  const stack: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (/\{\s*$/.test(lines[i])) stack.push(i);
    else if (/^\s*\};\s*$/.test(lines[i])) stack.pop();
    const own = /^\s*phandle = <(0x[0-9a-f]+)>;/.exec(lines[i]);
    if (own) {
      const label = labels.get(Number.parseInt(own[1], 16));
      const open = stack[stack.length - 1];
      if (label) lines[open] = lines[open].replace(/^(\s*)/, `$1${label}: `);
    }
    lines[i] = lines[i].replace(/^(\s*(?:interrupt-parent|clocks) = <)([^>]*)(>;)/, (_, a: string, cells: string, b: string) =>
      a + cells.split(" ").map((c) => ref(c)).join(' ') + b);
  }
  return lines.join('\n');
}
