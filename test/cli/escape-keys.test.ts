import { expect } from 'chai';
import { CTRL_A, EscapeDecoder, escapeHelp, type EscapeAction } from '../../src/cli/escape-keys.ts';

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (actions: EscapeAction[]): string =>
  actions.map((a) => (a.kind === 'data' ? Buffer.from(a.bytes).toString('latin1') : `<${a.kind}>`)).join('');

describe('escape keys (Ctrl-a state machine)', () => {
  it('passes ordinary input through unchanged, Ctrl-C included', () => {
    const d = new EscapeDecoder();
    expect(text(d.feed(bytes('ls -l\r\x03')))).to.equal('ls -l\r\x03');
  });

  it('Ctrl-a x quits, Ctrl-a h and ? print help, Ctrl-a b sends a break', () => {
    const d = new EscapeDecoder();
    expect(text(d.feed(bytes('ab\x01xcd')))).to.equal('ab<quit>cd');
    expect(text(d.feed(bytes('\x01h\x01?')))).to.equal('<help><help>');
    expect(text(d.feed(bytes('\x01b')))).to.equal('<break>');
  });

  it('Ctrl-a Ctrl-a sends exactly one Ctrl-a', () => {
    const d = new EscapeDecoder();
    const out = d.feed(bytes('a\x01\x01b'));
    expect(out).to.have.length(1);
    expect(Array.from((out[0] as { bytes: Uint8Array }).bytes)).to.deep.equal([0x61, CTRL_A, 0x62]);
  });

  it('swallows unknown commands (c, t, others) without sending either byte', () => {
    const d = new EscapeDecoder();
    expect(text(d.feed(bytes('1\x01c2\x01t3\x01z4')))).to.equal('1234');
  });

  it('keeps the escaped state across chunks', () => {
    const d = new EscapeDecoder();
    expect(text(d.feed(bytes('abc\x01')))).to.equal('abc');
    expect(d.escaped).to.equal(true);
    expect(text(d.feed(bytes('x')))).to.equal('<quit>');
    expect(d.escaped).to.equal(false);
    d.feed(bytes('\x01'));
    expect(text(d.feed(bytes('\x01')))).to.equal('\x01');
  });

  it('supports another escape character', () => {
    const d = new EscapeDecoder(0x1d); // Ctrl-]
    expect(text(d.feed(bytes('\x01\x1dx')))).to.equal('\x01<quit>');
    expect(escapeHelp(0x1d)).to.contain('C-] x');
  });

  it('help names every command', () => {
    const h = escapeHelp();
    for (const k of ['C-a h', 'C-a x', 'C-a b', 'C-a C-a']) expect(h).to.contain(k);
  });
});
