// A one-line progress display on stderr, only on a TTY (never with --json or --quiet).
export interface Progress {
  /** Starts a named step (replaces the line). */
  step(label: string): void;
  /** Fraction of the current step, when known. */
  update(done: number, total?: number): void;
  /** Ends the display, leaving the cursor on a fresh line. */
  done(): void;
}

const WIDTH = 24;

export function createProgress(enabled: boolean, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!enabled) return { step() {}, update() {}, done() {} };
  let label = '';
  let drawn = false;
  let lastDraw = 0;
  /** The label is shortened first so the figures at the end stay visible. */
  const draw = (text: string, suffix = ''): void => {
    const width = Math.min((stream.columns || 80) - 1, 79);
    const room = Math.max(0, width - suffix.length);
    stream.write(`\r${(text.slice(0, room) + suffix).slice(0, width).padEnd(width)}`);
    drawn = true;
  };
  return {
    step(l: string) {
      label = l;
      draw(label);
    },
    update(done: number, total?: number) {
      const now = Date.now();
      if (now - lastDraw < 100 && (total === undefined || done < total)) return;
      lastDraw = now;
      if (total && total > 0) {
        const f = Math.min(1, done / total);
        const bar = '#'.repeat(Math.round(f * WIDTH)).padEnd(WIDTH, '.');
        draw(label, ` [${bar}] ${Math.round(f * 100)}%`);
      } else {
        draw(label, ` ${(done / 1048576).toFixed(1)} MiB`);
      }
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
