// Parses the lines bench/guest/iobench.c prints and turns them into MB/s and IOPS.
//   iobench <phase> bytes=<n> ops=<n> usec=<n> direct=<0|1>

export const IO_PHASES = ['seq-write', 'seq-read', 'rand-write', 'rand-read'] as const;
export type IoPhase = (typeof IO_PHASES)[number];

export interface IoResult { phase: IoPhase; bytes: number; ops: number; usec: number; direct: boolean }

const LINE = /^iobench (seq-write|seq-read|rand-write|rand-read) bytes=(\d+) ops=(\d+) usec=(\d+) direct=([01])\s*$/;

/** Every well-formed result line in the guest's output (other lines are ignored); the last wins per phase. */
export function parseIoBench(output: string): Map<IoPhase, IoResult> {
  const out = new Map<IoPhase, IoResult>();
  for (const line of output.split(/\r?\n/)) {
    const m = LINE.exec(line.trim());
    if (!m) continue;
    const phase = m[1] as IoPhase;
    out.set(phase, { phase, bytes: Number(m[2]), ops: Number(m[3]), usec: Number(m[4]), direct: m[5] === '1' });
  }
  return out;
}

/** Decimal megabytes per second (undefined when nothing was timed). */
export function megabytesPerSecond(r: IoResult): number | undefined {
  return r.usec > 0 ? r.bytes / r.usec : undefined;
}

export function iops(r: IoResult): number | undefined {
  return r.usec > 0 ? (r.ops * 1e6) / r.usec : undefined;
}

/** The figure a phase is judged by: MB/s for sequential phases, IOPS for random ones. */
export function headline(r: IoResult): { value: number | undefined; unit: 'MB/s' | 'IOPS' } {
  return r.phase.startsWith('seq') ? { value: megabytesPerSecond(r), unit: 'MB/s' } : { value: iops(r), unit: 'IOPS' };
}
