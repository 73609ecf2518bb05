import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameDecoder, MAX_STREAM_FRAME, StreamBackend, encodeFrame } from '../../src/net/stream-backend.ts';
import { openBackend } from '../../src/net/backends.ts';
import { parseNetSpec } from '../../src/net/spec.ts';
import { silentLogger } from '../../src/devices/virtio/device.ts';

describe('stream socket backend (QEMU -netdev stream framing)', () => {
  it('splits a length-prefixed stream at any chunk boundary', () => {
    const frames = [new Uint8Array([1, 2, 3]), new Uint8Array(1500).fill(7), new Uint8Array([9])];
    const stream = Buffer.concat(frames.map(encodeFrame));
    for (const step of [1, 3, 4, 5, 100, stream.length]) {
      const d = new FrameDecoder();
      const got: Uint8Array[] = [];
      for (let i = 0; i < stream.length; i += step) {
        const r = d.push(stream.subarray(i, i + step));
        expect(r).to.not.equal('bad-length');
        got.push(...(r as Uint8Array[]));
      }
      expect(got.map((f) => [...f])).to.deep.equal(frames.map((f) => [...f]));
    }
  });

  it('reports zero and oversized lengths', () => {
    expect(new FrameDecoder().push(new Uint8Array([0, 0, 0, 0]))).to.equal('bad-length');
    const big = Buffer.alloc(4);
    big.writeUInt32BE(MAX_STREAM_FRAME + 1);
    expect(new FrameDecoder().push(big)).to.equal('bad-length');
  });

  it('exchanges frames with a peer on a unix socket and disconnects a corrupt peer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodevisor-net-'));
    const path = join(dir, 'net.sock');
    let peer: Socket | undefined;
    const fromGuest: Buffer[] = [];
    const server = createServer((s) => {
      peer = s;
      s.on('data', (d) => fromGuest.push(d));
    });
    await new Promise<void>((r) => server.listen(path, () => r()));
    const warnings: string[] = [];
    try {
      const be = await StreamBackend.open(path, { warn: (m) => warnings.push(m) });
      const got: Uint8Array[] = [];
      be.onFrame((f) => got.push(f));
      be.send(new Uint8Array([0xaa, 0xbb]));
      await new Promise((r) => setTimeout(r, 50));
      expect([...Buffer.concat(fromGuest)]).to.deep.equal([0, 0, 0, 2, 0xaa, 0xbb]);
      peer!.write(encodeFrame(new Uint8Array([5, 6, 7])));
      await new Promise((r) => setTimeout(r, 50));
      expect(got.map((f) => [...f])).to.deep.equal([[5, 6, 7]]);
      peer!.write(Buffer.from([0xff, 0xff, 0xff, 0xff]));
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings.join('\n')).to.match(/length out of range/);
      await be.close();
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with one line when nothing listens on the path', async () => {
    const err = await openBackend(parseNetSpec('socket,path=/nonexistent/nodevisor.sock'), new Uint8Array(6), silentLogger).catch((e: Error) => e);
    expect((err as Error).message).to.match(/^--net socket,path=\/nonexistent\/nodevisor.sock: .*ENOENT/);
  });
});
