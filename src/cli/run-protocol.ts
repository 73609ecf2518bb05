// `nodevisor run -- CMD ARGS...`: how the host asks the default guest to run one command
// and learns its exit status, over nothing but the kernel command line and the console.
//
// Host -> guest (kernel command line, read by the initramfs /init from /proc/cmdline;
// dotted names so the kernel neither passes them to init's environment nor warns):
//   nodevisor.run=<base64 of a POSIX sh script>   the script mounts the shares, cd's and
//                                                 execs the command (arguments single-quoted)
//   nodevisor.nonce=<16 hex digits>               random per run, makes the markers unique
//   quiet loglevel=1                              keeps kernel messages off the console
// Guest -> host (console, after `stty -echo -onlcr` so the command's bytes arrive as written):
//   NODEVISOR-START-<nonce>\n            printed by /init just before the script runs
//   ...the command's stdout and stderr...
//   \nNODEVISOR-EXIT-<nonce> <status>\n  printed after it ends (status 0..255), then /init
//                                        runs `poweroff -f`
// The host drops everything before the start line (kernel and init noise; kept as bootLog),
// passes the command's output through, strips the exit line together with the newline
// /init put before it, and exits with <status>. Host stdin EOF is sent as one Ctrl-D.
// The command line is limited to CMDLINE_MAX_SIZE bytes, so very long commands are refused.
import { randomBytes } from 'node:crypto';
import { CMDLINE_MAX_SIZE } from '../arch/arm64/layout.ts';

export class RunProtocolError extends Error {
  override readonly name = 'RunProtocolError';
}

export interface RunMount {
  /** virtiofs tag of a --share. */
  tag: string;
  guestPath: string;
  readonly: boolean;
}

export interface RunRequest {
  argv: string[];
  mounts?: RunMount[];
  /** Working directory in the guest. */
  cwd?: string;
  /** Random hex nonce; generated when absent. */
  nonce?: string;
}

export const RUN_PARAM = 'nodevisor.run';
export const NONCE_PARAM = 'nodevisor.nonce';
/** Status the script gives when a share cannot be mounted or the directory entered. */
export const RUN_SETUP_FAILED = 125;

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

/** The guest-side script: mounts, cd, exec. */
export function renderRunScript(req: RunRequest): string {
  if (req.argv.length === 0) throw new RunProtocolError('no command given: use nodevisor run -- CMD [ARGS...]');
  const lines: string[] = [];
  for (const m of req.mounts ?? []) {
    const dir = shellQuote(m.guestPath);
    const opts = m.readonly ? ' -o ro' : '';
    lines.push(`mkdir -p ${dir} && mount -t virtiofs${opts} ${shellQuote(m.tag)} ${dir} || { echo "nodevisor: cannot mount ${m.tag} on "${dir} >&2; exit ${RUN_SETUP_FAILED}; }`);
  }
  if (req.cwd) lines.push(`cd ${shellQuote(req.cwd)} || exit ${RUN_SETUP_FAILED}`);
  lines.push(`exec ${req.argv.map(shellQuote).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Kernel command-line parameters for a run request; `base` is the rest of the command line. */
export function buildRunCmdline(req: RunRequest, base = ''): { cmdline: string; nonce: string } {
  const nonce = req.nonce ?? newNonce();
  if (!/^[0-9a-f]{8,32}$/.test(nonce)) throw new RunProtocolError(`bad nonce '${nonce}'`);
  const script = Buffer.from(renderRunScript(req), 'utf8').toString('base64');
  const cmdline = [base.trim(), 'quiet', 'loglevel=1', `${NONCE_PARAM}=${nonce}`, `${RUN_PARAM}=${script}`].filter(Boolean).join(' ');
  // Linux keeps COMMAND_LINE_SIZE bytes including the terminating NUL.
  if (Buffer.byteLength(cmdline) >= CMDLINE_MAX_SIZE) {
    throw new RunProtocolError(`the command is too long for the kernel command line (${Buffer.byteLength(cmdline)} bytes, at most ${CMDLINE_MAX_SIZE - 1})`);
  }
  return { cmdline, nonce };
}

/** Inverse of buildRunCmdline, as /init does it; for tests and diagnostics. */
export function parseRunCmdline(cmdline: string): { script: string; nonce: string } | undefined {
  let script: string | undefined;
  let nonce: string | undefined;
  for (const p of cmdline.split(/\s+/)) {
    if (p.startsWith(`${RUN_PARAM}=`)) script = Buffer.from(p.slice(RUN_PARAM.length + 1), 'base64').toString('utf8');
    if (p.startsWith(`${NONCE_PARAM}=`)) nonce = p.slice(NONCE_PARAM.length + 1);
  }
  return script !== undefined && nonce !== undefined ? { script, nonce } : undefined;
}

export const startMarker = (nonce: string): string => `NODEVISOR-START-${nonce}`;
export const exitMarker = (nonce: string): string => `NODEVISOR-EXIT-${nonce}`;

const MAX_BOOT_LOG = 64 * 1024;

/**
 * Console stream filter for `run`: push() the guest's console bytes, write what it returns
 * to stdout. `status` is set once the exit line has been seen; later bytes are dropped.
 */
export class RunStatusFilter {
  /** The command's exit status, once known. */
  status: number | undefined;
  /** Console output before the start line (kernel/init messages), capped. */
  bootLog = '';
  private started = false;
  private pending = '';
  private readonly start: string;
  private readonly exit: string;

  constructor(nonce: string) {
    this.start = startMarker(nonce) + '\n';
    this.exit = '\n' + exitMarker(nonce) + ' ';
  }

  get commandStarted(): boolean {
    return this.started;
  }

  push(chunk: Uint8Array): Uint8Array {
    if (this.status !== undefined) return new Uint8Array(0);
    // latin1 maps bytes 1:1 to code units, so slicing never splits or alters bytes.
    let text = this.pending + Buffer.from(chunk).toString('latin1');
    this.pending = '';
    if (!this.started) {
      const i = indexOfLoose(text, this.start);
      if (i === -1) {
        const keep = Math.min(text.length, this.start.length + 1);
        this.appendBootLog(text.slice(0, text.length - keep));
        this.pending = text.slice(text.length - keep);
        return new Uint8Array(0);
      }
      this.appendBootLog(text.slice(0, i.start));
      this.started = true;
      text = text.slice(i.end);
    }
    const e = text.indexOf(this.exit);
    if (e >= 0) {
      const lineEnd = text.indexOf('\n', e + this.exit.length);
      if (lineEnd < 0) {
        this.pending = text.slice(e);
        return toBytes(text.slice(0, e));
      }
      const m = /^(\d{1,3})\r?$/.exec(text.slice(e + this.exit.length, lineEnd));
      if (m && Number(m[1]) <= 255) {
        this.status = Number(m[1]);
        return toBytes(text.slice(0, e));
      }
      // Not a well-formed exit line (the command printed something like it): pass it on.
      return toBytes(text);
    }
    const keep = longestSuffixPrefix(text, this.exit);
    this.pending = text.slice(text.length - keep);
    return toBytes(text.slice(0, text.length - keep));
  }

  /** End of the console stream: whatever was held back. */
  end(): Uint8Array {
    const rest = this.pending;
    this.pending = '';
    if (!this.started) {
      this.appendBootLog(rest);
      return new Uint8Array(0);
    }
    return this.status === undefined ? toBytes(rest) : new Uint8Array(0);
  }

  private appendBootLog(s: string): void {
    this.bootLog = (this.bootLog + s).slice(-MAX_BOOT_LOG);
  }
}

/** Finds `needle` allowing "\r\n" where it has "\n" (the start line may precede `stty -onlcr`). */
function indexOfLoose(text: string, needle: string): { start: number; end: number } | -1 {
  const body = needle.slice(0, -1);
  let from = 0;
  for (;;) {
    const i = text.indexOf(body, from);
    if (i < 0) return -1;
    let j = i + body.length;
    if (text[j] === '\r') j++;
    if (j >= text.length) return -1;
    if (text[j] === '\n') return { start: i, end: j + 1 };
    from = i + 1;
  }
}

function longestSuffixPrefix(text: string, needle: string): number {
  for (let k = Math.min(text.length, needle.length - 1); k > 0; k--) {
    if (needle.startsWith(text.slice(text.length - k))) return k;
  }
  return 0;
}

function toBytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}
