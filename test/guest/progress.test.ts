import { expect } from 'chai';
import { createProgress } from '../../src/guest/progress.ts';

function fakeStream() {
  const writes: string[] = [];
  return { writes, stream: { columns: 40, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
}

describe('progress display', () => {
  it('writes nothing when disabled (not a TTY, --json or --quiet)', () => {
    const f = fakeStream();
    const p = createProgress(false, f.stream);
    p.step('x');
    p.update(1, 2);
    p.done();
    expect(f.writes).to.deep.equal([]);
  });
  it('redraws one line with a bar and clears it at the end', () => {
    const f = fakeStream();
    const p = createProgress(true, f.stream);
    p.step('downloading linux-image');
    p.update(50, 100);
    p.update(100, 100);
    p.done();
    expect(f.writes[0]).to.match(/^\rdownloading linux-image\s+$/);
    expect(f.writes.some((w) => /\[#{24}\] 100%/.test(w) || /100%/.test(w))).to.equal(true);
    expect(f.writes.every((w) => w.length <= 41)).to.equal(true);
    expect(f.writes[f.writes.length - 1]).to.equal('\r\x1b[K');
  });
});
