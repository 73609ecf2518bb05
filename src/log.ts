// Logging for the VMM and its devices, on winston.
//
// - stdout belongs to the guest console, so every level goes to stderr (or to --log-file).
// - Each device logs through a child logger with a `category` (e.g. "gic", "virtio-blk");
//   `--trace gic,virtio` turns on debug output for those categories only.
// - While the terminal is in raw mode, lines end in CRLF or they would stair-step.
// - A guest can make a device warn on every access; each category may log at most
//   `maxPerSecond` messages per second, the rest are counted and reported as one
//   "suppressed K messages" line, so a misbehaving guest cannot fill the disk.
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
const SEVERITY: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** What devices and the VMM take: a category-aware logger. */
export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  child(category: string): Logger;
}

export interface LoggerOptions {
  /** Messages at this level or more severe are written. Default 'warn'. */
  level?: LogLevel;
  /** Write to this file instead of stderr. */
  file?: string;
  /** Categories whose debug messages are written whatever the level ('all' for every one). */
  trace?: readonly string[];
  /** Per-category cap; default 50 messages per second. */
  maxPerSecond?: number;
  /** For tests: where lines go instead of stderr/file (one call per formatted line, no EOL). */
  sink?: (line: string) => void;
  /** For tests: the clock, in milliseconds. */
  now?: () => number;
}

export interface RootLogger extends Logger {
  /** Switch line endings to CRLF while the terminal is raw, back to LF after. */
  setRawTerminal(raw: boolean): void;
  /** Report pending suppression counts and flush the transports. */
  close(): Promise<void>;
}

const RATE_WINDOW_MS = 1000;

interface CategoryBudget {
  windowStart: number;
  used: number;
  suppressed: number;
  timer?: NodeJS.Timeout;
}

/** Whether `category` is selected by a --trace entry: exact, or a prefix before '-', '@' or '/'. */
export function traceSelects(trace: readonly string[], category: string | undefined): boolean {
  if (category === undefined) return trace.includes('all');
  for (const t of trace) {
    if (t === 'all' || t === category) return true;
    if (category.startsWith(t) && '-@/'.includes(category[t.length] ?? 'x')) return true;
  }
  return false;
}

class LogCore {
  readonly level: LogLevel;
  readonly trace: readonly string[];
  readonly maxPerSecond: number;
  readonly now: () => number;
  private readonly budgets = new Map<string, CategoryBudget>();
  private readonly winstonLogger: winston.Logger | undefined;
  private readonly consoleTransport: winston.transports.ConsoleTransportInstance | undefined;
  private readonly sink: ((line: string) => void) | undefined;

  constructor(opts: LoggerOptions) {
    this.level = opts.level ?? 'warn';
    this.trace = opts.trace ?? [];
    this.maxPerSecond = opts.maxPerSecond ?? 50;
    this.now = opts.now ?? Date.now;
    this.sink = opts.sink;
    if (this.sink) return;
    const format = winston.format.combine(
      winston.format.timestamp(),
      winston.format.printf((info) => formatLine(info.timestamp as string, info.level, info.category as string | undefined, String(info.message))),
    );
    let transport: winston.transport;
    if (opts.file) {
      transport = new winston.transports.File({ filename: opts.file, format });
    } else {
      this.consoleTransport = new winston.transports.Console({ format, stderrLevels: [...LOG_LEVELS], eol: '\n' });
      transport = this.consoleTransport;
    }
    // Filtering happens in write(); winston passes everything it is given.
    this.winstonLogger = winston.createLogger({ level: 'debug', levels: SEVERITY, transports: [transport] });
  }

  enabled(level: LogLevel, category: string | undefined): boolean {
    if (SEVERITY[level] <= SEVERITY[this.level]) return true;
    return level === 'debug' && traceSelects(this.trace, category);
  }

  write(level: LogLevel, category: string | undefined, message: string): void {
    if (!this.enabled(level, category)) return;
    if (!this.admit(category ?? '')) return;
    this.emit(level, category, message);
  }

  setEol(eol: string): void {
    if (this.consoleTransport) (this.consoleTransport as unknown as { eol: string }).eol = eol;
  }

  async close(): Promise<void> {
    for (const [category, budget] of this.budgets) this.reportSuppressed(category, budget);
    const w = this.winstonLogger;
    if (!w) return;
    await new Promise<void>((resolve) => {
      w.on('finish', () => resolve());
      w.end();
    });
  }

  private emit(level: LogLevel, category: string | undefined, message: string): void {
    if (this.sink) {
      this.sink(formatLine(undefined, level, category, message));
    } else {
      this.winstonLogger!.log({ level, message, category });
    }
  }

  /** Token-window rate limit per category. */
  private admit(category: string): boolean {
    const now = this.now();
    let budget = this.budgets.get(category);
    if (!budget) {
      budget = { windowStart: now, used: 0, suppressed: 0 };
      this.budgets.set(category, budget);
    }
    if (now - budget.windowStart >= RATE_WINDOW_MS) {
      this.reportSuppressed(category, budget);
      budget.windowStart = now;
      budget.used = 0;
    }
    if (budget.used < this.maxPerSecond) {
      budget.used++;
      return true;
    }
    budget.suppressed++;
    if (!budget.timer && !this.sink) {
      // Report the count even if the guest then goes quiet; never keep the process alive for it.
      budget.timer = setTimeout(() => this.reportSuppressed(category, budget!), RATE_WINDOW_MS);
      budget.timer.unref();
    }
    return false;
  }

  private reportSuppressed(category: string, budget: CategoryBudget): void {
    if (budget.timer) clearTimeout(budget.timer);
    budget.timer = undefined;
    if (budget.suppressed === 0) return;
    const n = budget.suppressed;
    budget.suppressed = 0;
    this.emit('warn', category || undefined, `suppressed ${n} message${n === 1 ? '' : 's'} (more than ${this.maxPerSecond}/s)`);
  }
}

function formatLine(timestamp: string | undefined, level: string, category: string | undefined, message: string): string {
  const parts = [timestamp, level.toUpperCase().padEnd(5), category ? `[${category}]` : undefined, message];
  return parts.filter((p) => p !== undefined).join(' ');
}

class CategoryLogger implements Logger {
  constructor(
    protected readonly core: LogCore,
    readonly category: string | undefined,
  ) {}
  error(message: string): void {
    this.core.write('error', this.category, message);
  }
  warn(message: string): void {
    this.core.write('warn', this.category, message);
  }
  info(message: string): void {
    this.core.write('info', this.category, message);
  }
  debug(message: string): void {
    this.core.write('debug', this.category, message);
  }
  child(category: string): Logger {
    return new CategoryLogger(this.core, this.category ? `${this.category}/${category}` : category);
  }
}

class Root extends CategoryLogger implements RootLogger {
  setRawTerminal(raw: boolean): void {
    this.core.setEol(raw ? '\r\n' : '\n');
  }
  close(): Promise<void> {
    return this.core.close();
  }
}

export function createLogger(opts: LoggerOptions = {}): RootLogger {
  return new Root(new LogCore(opts), undefined);
}

/** A logger that drops everything, for library callers that pass none. */
export const nullLogger: Logger = {
  error() {},
  warn() {},
  info() {},
  debug() {},
  child() {
    return nullLogger;
  },
};

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}
