// Drives a helper process line by line (test/net/dgram-peer.py, the tap sniffer): send a
// command, wait for the first output line matching a pattern.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

export class PeerProcess {
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  /** The child exited and its output is all read ('close' comes after the last line). */
  private closed = false;

  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      this.lines.push(l);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.child.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    });
  }

  command(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  /** The first line (from `from` on) matching re; rejects after timeoutMs. */
  async waitFor(re: RegExp, timeoutMs = 5000, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let drained = false;
    for (;;) {
      const hit = this.lines.slice(from).find((l) => re.test(l));
      if (hit !== undefined) return hit;
      const late = Date.now() > deadline;
      if (late && !drained) {
        // A starved test process wakes to its timers before its pipes: read what arrived first.
        drained = true;
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      if (this.closed || late) {
        throw new Error(`no line matching ${re} (exit ${this.child.exitCode ?? this.child.signalCode}); got: ${this.lines.join(' | ')} stderr: ${this.stderr}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves once the process has exited. */
  exited(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((r) => this.child.once('exit', () => r()));
  }

  kill(): void {
    if (this.child.exitCode === null) this.child.kill();
  }
}
