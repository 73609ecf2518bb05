import { expect } from 'chai';
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { attachConsole, type TerminalInput } from '../../src/cli/console.ts';

class FakeTty extends EventEmitter implements TerminalInput {
  isRaw = false;
  modes: boolean[] = [];
  paused = true;
  constructor(readonly isTTY: boolean) {
    super();
  }
  setRawMode(raw: boolean): this {
    this.isRaw = raw;
    this.modes.push(raw);
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
}

const sink = () => {
  const chunks: (Uint8Array | string)[] = [];
  return { chunks, write: (d: Uint8Array | string) => chunks.push(d) };
};

describe('console (terminal <-> guest console port)', () => {
  it('on a TTY: raw mode, escape keys, restore on detach and on exit', () => {
    const tty = new FakeTty(true);
    const toGuest: number[][] = [];
    const exitHooks: (() => void)[] = [];
    const raws: boolean[] = [];
    let quits = 0;
    const err = sink();
    const c = attachConsole({
      stdin: tty,
      stdout: sink(),
      stderr: err,
      toGuest: (b) => toGuest.push([...b]),
      onQuit: () => quits++,
      onRawChange: (r) => raws.push(r),
      onExit: (fn) => {
        exitHooks.push(fn);
        return () => exitHooks.splice(exitHooks.indexOf(fn), 1);
      },
    });
    expect(tty.isRaw).to.equal(true);
    expect(c.raw).to.equal(true);
    tty.emit('data', Buffer.from('hi\x01\x01\x01h\x03'));
    expect(toGuest).to.deep.equal([[0x68, 0x69, 0x01], [0x03]]);
    expect(String(err.chunks.join(''))).to.contain('C-a x');
    tty.emit('data', Buffer.from('\x01x'));
    expect(quits).to.equal(1);
    // The process exiting (signal-exit's hook) restores the terminal.
    expect(exitHooks).to.have.length(1);
    exitHooks[0]();
    expect(tty.isRaw).to.equal(false);
    c.detach();
    c.detach();
    expect(tty.modes).to.deep.equal([true, false]);
    expect(raws).to.deep.equal([true, false]);
    expect(exitHooks).to.have.length(0);
    expect(tty.paused).to.equal(true);
  });

  it('restores the terminal when an exception escapes', () => {
    const tty = new FakeTty(true);
    const c = attachConsole({ stdin: tty, stdout: sink(), stderr: sink(), toGuest: () => {}, onQuit: () => {}, onExit: () => () => {} });
    (process.emit as (event: string, ...args: unknown[]) => boolean)('uncaughtExceptionMonitor', new Error('x'), 'uncaughtException');
    expect(tty.isRaw).to.equal(false);
    c.detach();
  });

  it('not a TTY: bytes pass through unchanged, no raw mode, EOF keeps the guest running', () => {
    const pipe = new FakeTty(false);
    const got: number[] = [];
    let quits = 0;
    let eofs = 0;
    const c = attachConsole({ stdin: pipe, stdout: sink(), toGuest: (b) => got.push(...b), onQuit: () => quits++, onEof: () => eofs++ });
    pipe.emit('data', Buffer.from('\x01x\x01\x01'));
    pipe.emit('end');
    expect(got).to.deep.equal([0x01, 0x78, 0x01, 0x01]);
    expect(quits).to.equal(0);
    expect(eofs).to.equal(1);
    expect(pipe.modes).to.deep.equal([]);
    c.detach();
  });

  it('writes guest output to stdout until detached', () => {
    const out = sink();
    const c = attachConsole({ stdin: new FakeTty(false), stdout: out, toGuest: () => {}, onQuit: () => {} });
    c.fromGuest(Uint8Array.of(0x41, 0x0d, 0x0a));
    c.detach();
    c.fromGuest(Uint8Array.of(0x42));
    expect(out.chunks.map((b) => [...(b as Uint8Array)])).to.deep.equal([[0x41, 0x0d, 0x0a]]);
  });

  describe('under a pseudo-terminal (script)', function () {
    this.timeout(30000);
    const fixture = fileURLToPath(new URL('./fixtures/console-child.mjs', import.meta.url));
    const haveScript = spawnSync('script', ['--version']).status === 0 && spawnSync('stty', ['--version']).status === 0;

    /** Runs the child on a pty, then `stty -a` on the same pty; returns everything printed. */
    function runOnPty(mode: string, input?: string): Promise<string> {
      const inner = `${process.execPath} --import tsx ${fixture} ${mode}; echo "CHILD-EXIT $?"; stty -a`;
      return new Promise((resolve, reject) => {
        const p = spawn('script', ['-qec', `sh -c '${inner}'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        const timer = setTimeout(() => {
          p.kill('SIGKILL');
          reject(new Error(`timeout; output so far: ${out}`));
        }, 25000);
        p.stdout.on('data', (d: Buffer) => {
          out += d.toString('latin1');
          if (input && out.includes('READY')) {
            p.stdin.write(input);
            input = undefined;
          }
        });
        p.on('exit', () => {
          clearTimeout(timer);
          p.stdin.destroy();
          resolve(out);
        });
      });
    }

    const cooked = (out: string): void => {
      const stty = out.slice(out.indexOf('CHILD-EXIT'));
      expect(stty).to.match(/(^|\s)icanon(\s|$)/m, 'icanon restored');
      expect(stty).to.match(/(^|\s)echo(\s|$)/m, 'echo restored');
    };

    before(function () {
      if (!haveScript) this.skip();
    });

    for (const [mode, code] of [
      ['detach', 0],
      ['sigterm', 143],
      ['throw', 1],
      ['exit', 3],
    ] as const) {
      it(`restores the terminal after ${mode}`, async () => {
        const out = await runOnPty(mode);
        expect(out).to.contain('READY raw=true');
        expect(out).to.contain(`CHILD-EXIT ${code}`);
        if (mode === 'detach') expect(out).to.contain('DETACHED raw=false');
        cooked(out);
      });
    }

    it('Ctrl-a x quits and restores the terminal; other keys reach the guest raw', async () => {
      const out = await runOnPty('quit', 'a\x03\x01x');
      expect(out).to.contain('[guest got 61');
      expect(out).to.match(/\[guest got (6103|61\]\s*\[guest got 03)/);
      expect(out).to.contain('[quit]');
      expect(out).to.contain('CHILD-EXIT 0');
      cooked(out);
    });
  });
});
