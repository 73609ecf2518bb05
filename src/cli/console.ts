// Connects the terminal to the guest's console port.
//
// On a TTY: raw mode (every key goes to the guest, Ctrl-C included), the escape keys of
// escape-keys.ts, and the terminal restored on every way out: detach(), process exit,
// SIGINT/SIGTERM/SIGHUP and uncaught exceptions (signal-exit covers exit and signals,
// uncaughtExceptionMonitor runs before Node prints the error).
// Not a TTY (pipes, CI): bytes pass through unchanged, no escape keys, and EOF on stdin
// only stops reading; the guest keeps running.
import { onExit as signalExitOnExit } from 'signal-exit';
import { CTRL_A, EscapeDecoder, escapeHelp } from './escape-keys.ts';

export interface TerminalInput {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(raw: boolean): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  on(event: string, fn: (...args: any[]) => void): unknown;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  removeListener(event: string, fn: (...args: any[]) => void): unknown;
  resume(): unknown;
  pause(): unknown;
}

export interface TerminalOutput {
  write(data: Uint8Array | string): unknown;
}

export interface ConsoleOptions {
  stdin?: TerminalInput;
  stdout?: TerminalOutput;
  stderr?: TerminalOutput;
  /** Bytes typed by the user, for the guest's console port. */
  toGuest: (bytes: Uint8Array) => void;
  /** Ctrl-a x. */
  onQuit: () => void;
  /** Ctrl-a b. */
  onBreak?: () => void;
  /** stdin reached EOF (pipes): the guest keeps running; `run` forwards it as Ctrl-D. */
  onEof?: () => void;
  /** Told when raw mode starts and ends (the logger switches to CRLF). */
  onRawChange?: (raw: boolean) => void;
  escapeChar?: number;
  /** For tests: replaces signal-exit's onExit. Returns the unregister function. */
  onExit?: (fn: () => void) => () => void;
}

export interface AttachedConsole {
  /** Guest console output, for the terminal. */
  fromGuest(bytes: Uint8Array): void;
  /** Stops reading and restores the terminal. Idempotent. */
  detach(): void;
  readonly raw: boolean;
}

export function attachConsole(opts: ConsoleOptions): AttachedConsole {
  const stdin = opts.stdin ?? (process.stdin as unknown as TerminalInput);
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const escapeChar = opts.escapeChar ?? CTRL_A;
  const tty = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  const decoder = tty ? new EscapeDecoder(escapeChar) : undefined;
  let raw = false;
  let detached = false;

  const restore = (): void => {
    if (!raw) return;
    raw = false;
    try {
      stdin.setRawMode!(false);
    } catch {
      // The terminal may already be gone (SIGHUP); nothing left to restore.
    }
    opts.onRawChange?.(false);
  };

  const onData = (chunk: Buffer): void => {
    if (!decoder) {
      opts.toGuest(new Uint8Array(chunk));
      return;
    }
    for (const action of decoder.feed(chunk)) {
      switch (action.kind) {
        case 'data':
          opts.toGuest(action.bytes);
          break;
        case 'help':
          stderr.write(`\r\n${escapeHelp(escapeChar).replace(/\n/g, '\r\n')}\r\n`);
          break;
        case 'break':
          opts.onBreak?.();
          break;
        case 'quit':
          opts.onQuit();
          break;
      }
    }
  };
  const onEnd = (): void => {
    // EOF on a pipe: the guest keeps running with no more input.
    opts.onEof?.();
  };

  const registerExit = opts.onExit ?? ((fn: () => void) => signalExitOnExit(() => fn(), { alwaysLast: true }));
  let unregisterExit: (() => void) | undefined;
  const onUncaught = (): void => restore();

  if (tty) {
    stdin.setRawMode!(true);
    raw = true;
    opts.onRawChange?.(true);
    unregisterExit = registerExit(restore);
    process.on('uncaughtExceptionMonitor', onUncaught);
  }
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.resume();

  return {
    fromGuest(bytes: Uint8Array): void {
      if (!detached) stdout.write(bytes);
    },
    detach(): void {
      if (detached) return;
      detached = true;
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.pause();
      restore();
      unregisterExit?.();
      process.removeListener('uncaughtExceptionMonitor', onUncaught);
    },
    get raw(): boolean {
      return raw;
    },
  };
}
