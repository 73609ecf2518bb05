// The console's escape keys, as in QEMU's character-device mux: after the escape
// character (Ctrl-a by default) one key is a command for nodevisor, not guest input.
//
//   Ctrl-a x       quit nodevisor (the guest is stopped)
//   Ctrl-a h, ?    print this help on stderr
//   Ctrl-a b       send a break (passed to onBreak; ignored while the serial port has none)
//   Ctrl-a Ctrl-a  send one Ctrl-a to the guest
//   Ctrl-a c, t    ignored (QEMU's monitor and timestamps: nodevisor has neither)
//   Ctrl-a other   ignored; neither byte reaches the guest
//
// A two-state machine (Normal, Escaped); the state survives across input chunks, so
// "Ctrl-a" at the end of one read and "x" at the start of the next still quits.

export const CTRL_A = 0x01;

export type EscapeAction =
  | { kind: 'data'; bytes: Uint8Array }
  | { kind: 'quit' }
  | { kind: 'help' }
  | { kind: 'break' };

const enum State {
  Normal,
  Escaped,
}

export function escapeHelp(escapeChar = CTRL_A): string {
  const e = escapeName(escapeChar);
  return [
    `${e} h    print this help`,
    `${e} x    exit nodevisor`,
    `${e} b    send a break to the guest console`,
    `${e} ${e}  send ${e} to the guest`,
  ].join('\n');
}

export function escapeName(escapeChar: number): string {
  return escapeChar < 0x20 ? `C-${String.fromCharCode(escapeChar + 0x40).toLowerCase()}` : String.fromCharCode(escapeChar);
}

export class EscapeDecoder {
  private state = State.Normal;

  constructor(private readonly escapeChar = CTRL_A) {}

  get escaped(): boolean {
    return this.state === State.Escaped;
  }

  /** Splits one chunk of terminal input into guest data and commands, in order. */
  feed(chunk: Uint8Array): EscapeAction[] {
    const actions: EscapeAction[] = [];
    let runStart = 0;
    const flush = (end: number): void => {
      if (end > runStart) actions.push({ kind: 'data', bytes: chunk.slice(runStart, end) });
    };
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.state === State.Normal) {
        if (b === this.escapeChar) {
          flush(i);
          this.state = State.Escaped;
          runStart = i + 1;
        }
        continue;
      }
      // Escaped: this byte is a command.
      this.state = State.Normal;
      runStart = i + 1;
      if (b === this.escapeChar) {
        actions.push({ kind: 'data', bytes: Uint8Array.of(this.escapeChar) });
      } else if (b === 0x78 /* x */) {
        actions.push({ kind: 'quit' });
      } else if (b === 0x68 /* h */ || b === 0x3f /* ? */) {
        actions.push({ kind: 'help' });
      } else if (b === 0x62 /* b */) {
        actions.push({ kind: 'break' });
      }
    }
    if (this.state === State.Normal) flush(chunk.length);
    return mergeData(actions);
  }
}

function mergeData(actions: EscapeAction[]): EscapeAction[] {
  const out: EscapeAction[] = [];
  for (const a of actions) {
    const prev = out[out.length - 1];
    if (a.kind === 'data' && prev?.kind === 'data') {
      const joined = new Uint8Array(prev.bytes.length + a.bytes.length);
      joined.set(prev.bytes);
      joined.set(a.bytes, prev.bytes.length);
      out[out.length - 1] = { kind: 'data', bytes: joined };
    } else {
      out.push(a);
    }
  }
  return out;
}
