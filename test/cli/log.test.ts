import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, traceSelects } from '../../src/log.ts';

describe('logger', () => {
  it('writes messages at or above the level, and debug only for traced categories', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', trace: ['gic', 'virtio'], sink: (l) => lines.push(l) });
    log.info('not shown');
    log.warn('shown');
    log.child('gic').debug('gic debug');
    log.child('virtio-blk').debug('blk debug');
    log.child('pl011').debug('pl011 debug');
    log.child('pl011').error('pl011 error');
    expect(lines).to.deep.equal(['WARN  shown', 'DEBUG [gic] gic debug', 'DEBUG [virtio-blk] blk debug', 'ERROR [pl011] pl011 error']);
  });

  it('matches trace categories by name or prefix', () => {
    expect(traceSelects(['virtio'], 'virtio-net')).to.equal(true);
    expect(traceSelects(['virtio'], 'virtiofs')).to.equal(false);
    expect(traceSelects(['all'], 'gic')).to.equal(true);
    expect(traceSelects(['gic'], 'gic/its')).to.equal(true);
    expect(traceSelects([], 'gic')).to.equal(false);
  });

  it('caps each category per second and reports what it suppressed', () => {
    const lines: string[] = [];
    let now = 0;
    const log = createLogger({ level: 'warn', maxPerSecond: 3, sink: (l) => lines.push(l), now: () => now });
    const blk = log.child('virtio-blk');
    const gic = log.child('gic');
    for (let i = 0; i < 1000; i++) blk.warn(`bad access ${i}`);
    gic.warn('other category still logs');
    expect(lines).to.deep.equal(['WARN  [virtio-blk] bad access 0', 'WARN  [virtio-blk] bad access 1', 'WARN  [virtio-blk] bad access 2', 'WARN  [gic] other category still logs']);
    now = 1500;
    blk.warn('later');
    expect(lines.slice(4)).to.deep.equal(['WARN  [virtio-blk] suppressed 997 messages (more than 3/s)', 'WARN  [virtio-blk] later']);
  });

  it('reports pending suppression counts on close', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', maxPerSecond: 1, sink: (l) => lines.push(l), now: () => 0 });
    log.child('x').warn('a');
    log.child('x').warn('b');
    await log.close();
    expect(lines).to.deep.equal(['WARN  [x] a', 'WARN  [x] suppressed 1 message (more than 1/s)']);
  });

  it('sends every level to stderr, with CRLF while the terminal is raw', async () => {
    const written: string[] = [];
    const stderr = process.stderr as unknown as { write: (s: string) => boolean };
    const stdout = process.stdout as unknown as { write: (s: string) => boolean };
    const realErr = stderr.write;
    const realOut = stdout.write;
    let stdoutUsed = false;
    stderr.write = (s: string) => (written.push(String(s)), true);
    stdout.write = (s: string) => ((stdoutUsed = true), realOut.call(process.stdout, s));
    try {
      const log = createLogger({ level: 'debug' });
      log.error('e');
      log.warn('w');
      log.info('i');
      log.debug('d');
      log.setRawTerminal(true);
      log.warn('raw');
      log.setRawTerminal(false);
      log.warn('cooked');
      await log.close();
    } finally {
      stderr.write = realErr;
      stdout.write = realOut;
    }
    expect(stdoutUsed).to.equal(false);
    expect(written.map((l) => l.replace(/^\S+ /, ''))).to.deep.equal(['ERROR e\n', 'WARN  w\n', 'INFO  i\n', 'DEBUG d\n', 'WARN  raw\r\n', 'WARN  cooked\n']);
  });

  it('writes to a file with --log-file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nv-log-'));
    try {
      const file = join(dir, 'vm.log');
      const log = createLogger({ level: 'info', file });
      log.child('gic').info('to the file');
      await log.close();
      expect(readFileSync(file, 'utf8')).to.match(/^\S+ INFO  \[gic\] to the file\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
