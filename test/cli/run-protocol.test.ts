import { expect } from 'chai';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import {
  RunProtocolError,
  RunStatusFilter,
  buildRunCmdline,
  exitMarker,
  parseRunCmdline,
  renderRunScript,
  shellQuote,
  startMarker,
} from '../../src/cli/run-protocol.ts';

const NONCE = '00112233445566ff';
const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const dec = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

function feedAll(filter: RunStatusFilter, chunks: string[]): string {
  let out = '';
  for (const c of chunks) out += dec(filter.push(enc(c)));
  return out + dec(filter.end());
}

describe('run protocol', () => {
  it('encodes the command in the kernel command line and decodes it back', () => {
    const { cmdline, nonce } = buildRunCmdline({ argv: ['echo', "it's", 'a b'], nonce: NONCE }, 'console=ttyAMA0');
    expect(nonce).to.equal(NONCE);
    expect(cmdline.startsWith('console=ttyAMA0 quiet loglevel=1 ')).to.equal(true);
    expect(cmdline).to.not.match(/[^ -~]/);
    const parsed = parseRunCmdline(cmdline)!;
    expect(parsed.nonce).to.equal(NONCE);
    expect(parsed.script).to.equal(`exec 'echo' 'it'\\''s' 'a b'\n`);
  });

  it('quotes arguments so that sh sees them verbatim', function () {
    if (spawnSync('sh', ['-c', 'true']).status !== 0) this.skip();
    const args = ['plain', "quo'te", 'dollar $HOME', 'star *', 'back\\slash', 'new\nline', ''];
    const script = renderRunScript({ argv: ['printf', '%s|', ...args] });
    const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
    expect(r.stdout).to.equal(args.map((a) => `${a}|`).join(''));
  });

  it('mounts shares and enters the working directory before the command', () => {
    const script = renderRunScript({ argv: ['ls'], mounts: [{ tag: 'run0', guestPath: '/work', readonly: true }], cwd: '/work/sub' });
    expect(script).to.contain("mount -t virtiofs -o ro 'run0' '/work'");
    expect(script.indexOf('mount')).to.be.lessThan(script.indexOf("cd '/work/sub'"));
    expect(script.trim().split('\n').pop()).to.equal("exec 'ls'");
  });

  it('refuses an empty command and a command line over 2047 bytes', () => {
    expect(() => buildRunCmdline({ argv: [] })).to.throw(RunProtocolError);
    expect(() => buildRunCmdline({ argv: ['echo', 'x'.repeat(1600)] })).to.throw(RunProtocolError, /too long/);
  });

  it('drops boot noise, passes the output, strips the exit line and returns the status', () => {
    const f = new RunStatusFilter(NONCE);
    const out = feedAll(f, [
      '[    0.1] Booting Linux\r\ninit: stuff\r\n',
      `${startMarker(NONCE)}\nhello\nworld`,
      `\n${exitMarker(NONCE)} 42\n[ 2.7] reboot: Power down\r\n`,
    ]);
    expect(out).to.equal('hello\nworld');
    expect(f.status).to.equal(42);
    expect(f.bootLog).to.contain('Booting Linux');
  });

  it('accepts a CRLF start line (before stty -onlcr takes effect)', () => {
    const f = new RunStatusFilter(NONCE);
    expect(feedAll(f, [`${startMarker(NONCE)}\r\nout\n${exitMarker(NONCE)} 0\n`])).to.equal('out');
    expect(f.status).to.equal(0);
  });

  it('finds the markers however the stream is split', () => {
    const stream = `noise\n${startMarker(NONCE)}\nline 1\nNODEVISOR-EXIT-bogus 3\npartial`;
    const full = `${stream}\n${exitMarker(NONCE)} 7\ntrailing`;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: full.length - 1 }), { maxLength: 12 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks: string[] = [];
        let last = 0;
        for (const p of points) {
          chunks.push(full.slice(last, p));
          last = p;
        }
        chunks.push(full.slice(last));
        const f = new RunStatusFilter(NONCE);
        expect(feedAll(f, chunks)).to.equal('line 1\nNODEVISOR-EXIT-bogus 3\npartial');
        expect(f.status).to.equal(7);
      }),
      { numRuns: 200 },
    );
  });

  it('reports no status when the guest stops early, and returns the held-back output', () => {
    const f = new RunStatusFilter(NONCE);
    expect(feedAll(f, [`${startMarker(NONCE)}\npanic\nNODEVISOR-EX`])).to.equal('panic\nNODEVISOR-EX');
    expect(f.status).to.equal(undefined);
    expect(f.commandStarted).to.equal(true);
  });

  it('shellQuote survives single quotes', () => {
    expect(shellQuote("a'b")).to.equal(`'a'\\''b'`);
  });
});
