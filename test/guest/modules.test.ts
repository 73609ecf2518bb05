import { expect } from 'chai';
import { GuestBuildError } from '../../src/guest/errors.ts';
import { graphFromModinfo, moduleName, parseModulesBuiltin, parseModulesDep, readModinfo, resolveLoadOrder, GUEST_MODULES } from '../../src/guest/modules.ts';

const MODULES_DEP = `
kernel/drivers/virtio/virtio_mmio.ko:
kernel/drivers/block/virtio_blk.ko:
kernel/drivers/char/virtio_console.ko:
kernel/drivers/char/hw_random/virtio-rng.ko:
kernel/net/core/failover.ko:
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/net/vmw_vsock/vsock.ko:
kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko: kernel/net/vmw_vsock/vsock.ko
kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/net/vmw_vsock/vmw_vsock_virtio_transport_common.ko kernel/net/vmw_vsock/vsock.ko
kernel/fs/fuse/fuse.ko:
kernel/fs/fuse/virtiofs.ko: kernel/fs/fuse/fuse.ko
kernel/crypto/crc32c_generic.ko:
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko kernel/lib/crc16.ko
kernel/sound/unrelated.ko: kernel/lib/crc16.ko
`;

/** A minimal little-endian ELF64 with a .modinfo section (what readModinfo needs). */
function fakeModule(modinfo: string[]): Uint8Array {
  const info = Buffer.from(modinfo.map((s) => s + '\0').join(''));
  const shstr = Buffer.from('\0.modinfo\0.shstrtab\0');
  const infoOff = 64;
  const strOff = infoOff + info.length;
  const shoff = (strOff + shstr.length + 7) & ~7;
  const b = Buffer.alloc(shoff + 3 * 64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2;
  b[5] = 1;
  b.writeBigUInt64LE(BigInt(shoff), 0x28);
  b.writeUInt16LE(64, 0x3a);
  b.writeUInt16LE(3, 0x3c);
  b.writeUInt16LE(2, 0x3e);
  info.copy(b, infoOff);
  shstr.copy(b, strOff);
  const sh = (i: number, name: number, off: number, size: number): void => {
    const o = shoff + i * 64;
    b.writeUInt32LE(name, o);
    b.writeBigUInt64LE(BigInt(off), o + 0x18);
    b.writeBigUInt64LE(BigInt(size), o + 0x20);
  };
  sh(1, 1, infoOff, info.length);
  sh(2, 10, strOff, shstr.length);
  return b;
}

describe('guest kernel modules', () => {
  it('names modules as the kernel does', () => {
    expect(moduleName('kernel/drivers/char/hw_random/virtio-rng.ko')).to.equal('virtio_rng');
    expect(moduleName('kernel/fs/ext4/ext4.ko.xz')).to.equal('ext4');
  });

  it('orders a synthetic modules.dep dependencies-first, skipping built-ins', () => {
    const graph = parseModulesDep(MODULES_DEP);
    const order = resolveLoadOrder(GUEST_MODULES, graph, new Set(['virtio_mmio']));
    expect(order).to.not.include('virtio_mmio');
    expect(order).to.not.include('unrelated');
    for (const m of [...GUEST_MODULES.filter((m) => m !== 'virtio_mmio'), 'failover', 'net_failover', 'jbd2', 'mbcache', 'crc16', 'vmw_vsock_virtio_transport_common']) {
      expect(order, m).to.include(m);
    }
    expect(new Set(order).size).to.equal(order.length);
    const before = (a: string, b: string) => expect(order.indexOf(a), `${a} before ${b}`).to.be.lessThan(order.indexOf(b));
    before('failover', 'net_failover');
    before('net_failover', 'virtio_net');
    before('vsock', 'vmw_vsock_virtio_transport_common');
    before('vmw_vsock_virtio_transport_common', 'vmw_vsock_virtio_transport');
    before('fuse', 'virtiofs');
    for (const d of ['jbd2', 'mbcache', 'crc16']) before(d, 'ext4');
  });

  it('reports missing modules and cycles', () => {
    const graph = parseModulesDep('a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\nd.ko: e.ko\n');
    expect(() => resolveLoadOrder(['a'], graph)).to.throw(GuestBuildError, /cycle: a -> b -> c -> a/);
    expect(() => resolveLoadOrder(['d'], graph)).to.throw(GuestBuildError, /e \(needed by d\)/);
    expect(() => resolveLoadOrder(['zz'], graph)).to.throw(GuestBuildError, /zz/);
  });

  it('reads depends= from .modinfo when there is no modules.dep', () => {
    const files: Record<string, Uint8Array> = {
      'k/ext4.ko': fakeModule(['license=GPL', 'depends=jbd2,mbcache,crc16', 'name=ext4']),
      'k/jbd2.ko': fakeModule(['depends=', 'name=jbd2']),
      'k/mbcache.ko': fakeModule(['name=mbcache']),
      'k/crc16.ko': fakeModule(['depends=']),
      'k/never-read.ko': new Uint8Array(10),
    };
    const reads: string[] = [];
    const graph = graphFromModinfo(Object.keys(files), (p) => (reads.push(p), files[p]), ['ext4']);
    expect(resolveLoadOrder(['ext4'], graph)).to.deep.equal(['jbd2', 'mbcache', 'crc16', 'ext4']);
    expect(reads).to.not.include('k/never-read.ko');
    expect(readModinfo(files['k/ext4.ko']).get('license')).to.deep.equal(['GPL']);
    expect(() => readModinfo(new Uint8Array(100))).to.throw(GuestBuildError);
  });

  it('parses modules.builtin', () => {
    expect([...parseModulesBuiltin('kernel/drivers/virtio/virtio.ko\nkernel/drivers/char/hw_random/rng-core.ko\n')]).to.deep.equal(['virtio', 'rng_core']);
  });
});
