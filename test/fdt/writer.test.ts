import { expect } from 'chai';
import { FdtError, FdtWriter, FDT_MAX_NODE_DEPTH, type FdtErrorReason } from '../../src/fdt/writer.ts';
import { findNode, parseFdt, propString, propStringList, propU32Array, propU64 } from '../../src/fdt/reader.ts';
import { decompile, hasDtc } from './dtc.ts';

function expectFdtError(fn: () => unknown, reason: FdtErrorReason): void {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(FdtError);
    expect((e as FdtError).reason).to.equal(reason);
    return;
  }
  expect.fail(`expected FdtError(${reason})`);
}

/** A writer with an open root node. */
function withRoot(): { fdt: FdtWriter; root: ReturnType<FdtWriter['beginNode']> } {
  const fdt = new FdtWriter();
  return { fdt, root: fdt.beginNode('') };
}

describe('FdtWriter golden bytes', () => {
  it('writes the minimal tree: an empty root node', () => {
    const fdt = new FdtWriter();
    fdt.endNode(fdt.beginNode(''));
    // prettier-ignore
    const expected = [
      0xd0, 0x0d, 0xfe, 0xed, // 0000: magic (0xd00dfeed)
      0x00, 0x00, 0x00, 0x48, // 0004: totalsize (0x48)
      0x00, 0x00, 0x00, 0x38, // 0008: off_dt_struct (0x38)
      0x00, 0x00, 0x00, 0x48, // 000C: off_dt_strings (0x48)
      0x00, 0x00, 0x00, 0x28, // 0010: off_mem_rsvmap (0x28)
      0x00, 0x00, 0x00, 0x11, // 0014: version (17)
      0x00, 0x00, 0x00, 0x10, // 0018: last_comp_version (16)
      0x00, 0x00, 0x00, 0x00, // 001C: boot_cpuid_phys (0)
      0x00, 0x00, 0x00, 0x00, // 0020: size_dt_strings (0)
      0x00, 0x00, 0x00, 0x10, // 0024: size_dt_struct (0x10)
      0x00, 0x00, 0x00, 0x00, // 0028: rsvmap terminator (address = 0 high)
      0x00, 0x00, 0x00, 0x00, // 002C: rsvmap terminator (address = 0 low)
      0x00, 0x00, 0x00, 0x00, // 0030: rsvmap terminator (size = 0 high)
      0x00, 0x00, 0x00, 0x00, // 0034: rsvmap terminator (size = 0 low)
      0x00, 0x00, 0x00, 0x01, // 0038: FDT_BEGIN_NODE
      0x00, 0x00, 0x00, 0x00, // 003C: node name ("") + padding
      0x00, 0x00, 0x00, 0x02, // 0040: FDT_END_NODE
      0x00, 0x00, 0x00, 0x09, // 0044: FDT_END
    ];
    expect([...fdt.finish()]).to.deep.equal(expected);
  });

  it('writes reservations, the boot CPU, properties with interned names and a child node', () => {
    const fdt = new FdtWriter();
    fdt.addMemoryReservation(0x1000, 0x2000);
    fdt.addMemoryReservation(0x1_0000_0000n, 0x10);
    fdt.setBootCpuId(1);
    const root = fdt.beginNode('');
    fdt.propertyU32('a', 1);
    fdt.propertyString('s', 'hi');
    const child = fdt.beginNode('n@1');
    fdt.propertyU32('a', 2);
    fdt.propertyNull('e');
    fdt.endNode(child);
    fdt.endNode(root);
    // prettier-ignore
    const expected = [
      0xd0, 0x0d, 0xfe, 0xed, // 0000: magic (0xd00dfeed)
      0x00, 0x00, 0x00, 0xb6, // 0004: totalsize (0xb6)
      0x00, 0x00, 0x00, 0x58, // 0008: off_dt_struct (0x58)
      0x00, 0x00, 0x00, 0xb0, // 000C: off_dt_strings (0xb0)
      0x00, 0x00, 0x00, 0x28, // 0010: off_mem_rsvmap (0x28)
      0x00, 0x00, 0x00, 0x11, // 0014: version (17)
      0x00, 0x00, 0x00, 0x10, // 0018: last_comp_version (16)
      0x00, 0x00, 0x00, 0x01, // 001C: boot_cpuid_phys (1)
      0x00, 0x00, 0x00, 0x06, // 0020: size_dt_strings (6)
      0x00, 0x00, 0x00, 0x58, // 0024: size_dt_struct (0x58)
      0x00, 0x00, 0x00, 0x00, // 0028: rsvmap[0].address high
      0x00, 0x00, 0x10, 0x00, // 002C: rsvmap[0].address low (0x1000)
      0x00, 0x00, 0x00, 0x00, // 0030: rsvmap[0].size high
      0x00, 0x00, 0x20, 0x00, // 0034: rsvmap[0].size low (0x2000)
      0x00, 0x00, 0x00, 0x01, // 0038: rsvmap[1].address high (0x1_0000_0000)
      0x00, 0x00, 0x00, 0x00, // 003C: rsvmap[1].address low
      0x00, 0x00, 0x00, 0x00, // 0040: rsvmap[1].size high
      0x00, 0x00, 0x00, 0x10, // 0044: rsvmap[1].size low (0x10)
      0x00, 0x00, 0x00, 0x00, // 0048: rsvmap terminator (address high)
      0x00, 0x00, 0x00, 0x00, // 004C: rsvmap terminator (address low)
      0x00, 0x00, 0x00, 0x00, // 0050: rsvmap terminator (size high)
      0x00, 0x00, 0x00, 0x00, // 0054: rsvmap terminator (size low)
      0x00, 0x00, 0x00, 0x01, // 0058: FDT_BEGIN_NODE
      0x00, 0x00, 0x00, 0x00, // 005C: node name ("") + padding
      0x00, 0x00, 0x00, 0x03, // 0060: FDT_PROP
      0x00, 0x00, 0x00, 0x04, // 0064: len (4)
      0x00, 0x00, 0x00, 0x00, // 0068: nameoff (0: "a")
      0x00, 0x00, 0x00, 0x01, // 006C: value (1)
      0x00, 0x00, 0x00, 0x03, // 0070: FDT_PROP
      0x00, 0x00, 0x00, 0x03, // 0074: len (3)
      0x00, 0x00, 0x00, 0x02, // 0078: nameoff (2: "s")
      0x68, 0x69, 0x00, 0x00, // 007C: value ("hi\0") + padding
      0x00, 0x00, 0x00, 0x01, // 0080: FDT_BEGIN_NODE
      0x6e, 0x40, 0x31, 0x00, // 0084: node name ("n@1\0")
      0x00, 0x00, 0x00, 0x03, // 0088: FDT_PROP
      0x00, 0x00, 0x00, 0x04, // 008C: len (4)
      0x00, 0x00, 0x00, 0x00, // 0090: nameoff (0: "a", interned)
      0x00, 0x00, 0x00, 0x02, // 0094: value (2)
      0x00, 0x00, 0x00, 0x03, // 0098: FDT_PROP
      0x00, 0x00, 0x00, 0x00, // 009C: len (0)
      0x00, 0x00, 0x00, 0x04, // 00A0: nameoff (4: "e")
      0x00, 0x00, 0x00, 0x02, // 00A4: FDT_END_NODE (n@1)
      0x00, 0x00, 0x00, 0x02, // 00A8: FDT_END_NODE (root)
      0x00, 0x00, 0x00, 0x09, // 00AC: FDT_END
      0x61, 0x00, 0x73, 0x00, // 00B0: strings "a\0" "s\0"
      0x65, 0x00,             // 00B4: strings "e\0"
    ];
    expect([...fdt.finish()]).to.deep.equal(expected);
  });

  it('encodes every property kind big-endian', () => {
    const { fdt, root } = withRoot();
    fdt.propertyU64('u64', 0x0102_0304_0506_0708n);
    fdt.propertyArrayU32('cells', [1, 0xffff_ffff]);
    fdt.propertyArrayU64('quads', [2, 0x1_0000_0000]);
    fdt.propertyStringList('list', ['ab', 'c']);
    fdt.propertyBytes('raw', Uint8Array.of(9, 8, 7));
    fdt.propertyPhandle(5);
    fdt.endNode(root);
    const tree = parseFdt(fdt.finish());
    const p = tree.root.properties;
    expect(propU64(p.get('u64')!)).to.equal(0x0102_0304_0506_0708n);
    expect(propU32Array(p.get('cells')!)).to.deep.equal([1, 0xffff_ffff]);
    expect(propU32Array(p.get('quads')!)).to.deep.equal([0, 2, 1, 0]);
    expect(propStringList(p.get('list')!)).to.deep.equal(['ab', 'c']);
    expect([...p.get('raw')!]).to.deep.equal([9, 8, 7]);
    expect(propU32Array(p.get('phandle')!)).to.deep.equal([5]);
  });
});

describe('FdtWriter misuse', () => {
  it('rejects a property after a child node', () => {
    const { fdt } = withRoot();
    fdt.endNode(fdt.beginNode('child'));
    expectFdtError(() => fdt.propertyU32('late', 1), 'property-after-child-node');
  });

  it('rejects a property outside any node', () => {
    const fdt = new FdtWriter();
    expectFdtError(() => fdt.propertyU32('early', 1), 'property-outside-node');
    fdt.endNode(fdt.beginNode(''));
    expectFdtError(() => fdt.propertyU32('after-root', 1), 'property-outside-node');
  });

  it('rejects closing nodes out of order', () => {
    const { fdt, root } = withRoot();
    const a = fdt.beginNode('a');
    expectFdtError(() => fdt.endNode(root), 'out-of-order-end-node');
    fdt.endNode(a);
    expectFdtError(() => fdt.endNode(a), 'out-of-order-end-node');
    // A handle from a sibling at the same depth is not the open node either.
    const b = fdt.beginNode('b');
    fdt.endNode(b);
    const c = fdt.beginNode('c');
    expectFdtError(() => fdt.endNode(b), 'out-of-order-end-node');
    fdt.endNode(c);
  });

  it('rejects finish with nodes open', () => {
    const { fdt } = withRoot();
    fdt.beginNode('open');
    expectFdtError(() => fdt.finish(), 'unclosed-node');
  });

  it('rejects finish without a root node, and use after finish', () => {
    expectFdtError(() => new FdtWriter().finish(), 'no-root-node');
    const { fdt, root } = withRoot();
    fdt.endNode(root);
    fdt.finish();
    expectFdtError(() => fdt.finish(), 'already-finished');
    expectFdtError(() => fdt.beginNode(''), 'already-finished');
  });

  it(`rejects nesting deeper than ${FDT_MAX_NODE_DEPTH}`, () => {
    const { fdt } = withRoot();
    for (let depth = 2; depth <= FDT_MAX_NODE_DEPTH; depth++) fdt.beginNode('n');
    expectFdtError(() => fdt.beginNode('n'), 'node-depth');
  });

  it('rejects invalid node names per the devicetree charset', () => {
    const fdt = new FdtWriter();
    expectFdtError(() => fdt.beginNode('root'), 'invalid-node-name');
    fdt.beginNode('');
    for (const bad of ['', 'has space', 'a/b', '1abc', 'x'.repeat(32), 'n@', 'n@1@2', 'caf\u00e9', 'a*b']) {
      expectFdtError(() => fdt.beginNode(bad), 'invalid-node-name');
    }
    for (const good of ['cpu@0', 'virtio_mmio@a000000', 'apb-pclk', 'x'.repeat(31), 'a,b+c.d', 'n@1,2']) {
      fdt.endNode(fdt.beginNode(good));
    }
  });

  it('rejects a second root and duplicate sibling names', () => {
    const { fdt, root } = withRoot();
    fdt.endNode(fdt.beginNode('same'));
    expectFdtError(() => fdt.beginNode('same'), 'duplicate-node-name');
    fdt.endNode(root);
    expectFdtError(() => fdt.beginNode(''), 'invalid-node-name');
  });

  it('rejects invalid and duplicate property names', () => {
    const { fdt } = withRoot();
    for (const bad of ['', 'sp ace', 'a/b', 'a@b', 'p'.repeat(32), 'a\0b']) {
      expectFdtError(() => fdt.propertyNull(bad), 'invalid-property-name');
    }
    fdt.propertyNull('#address-cells');
    fdt.propertyNull('linux,initrd-start');
    fdt.propertyNull('has?mark');
    expectFdtError(() => fdt.propertyNull('#address-cells'), 'duplicate-property');
  });

  it('rejects NUL in strings and node names', () => {
    const { fdt } = withRoot();
    expectFdtError(() => fdt.propertyString('s', 'a\0b'), 'invalid-string');
    expectFdtError(() => fdt.propertyStringList('l', ['ok', 'b\0']), 'invalid-string');
    expectFdtError(() => fdt.beginNode('a\0b'), 'invalid-node-name');
  });

  it('rejects duplicate and reserved phandles', () => {
    const { fdt } = withRoot();
    const a = fdt.beginNode('a');
    fdt.propertyPhandle(1);
    fdt.endNode(a);
    fdt.beginNode('b');
    expectFdtError(() => fdt.propertyPhandle(1), 'duplicate-phandle');
    expectFdtError(() => fdt.propertyPhandle(0), 'invalid-value');
    expectFdtError(() => fdt.propertyPhandle(0xffff_ffff), 'invalid-value');
  });

  it('rejects overlapping memory reservations', () => {
    const fdt = new FdtWriter();
    fdt.addMemoryReservation(0x1000, 0x1000);
    expectFdtError(() => fdt.addMemoryReservation(0x1fff, 0x10), 'overlapping-memory-reservation');
    fdt.addMemoryReservation(0x2000, 0x10); // adjacent is fine
  });

  it('rejects unsorted, empty and wrapping memory reservations', () => {
    const fdt = new FdtWriter();
    fdt.addMemoryReservation(0x10000, 0x1000);
    expectFdtError(() => fdt.addMemoryReservation(0x1000, 0x10), 'unsorted-memory-reservation');
    expectFdtError(() => fdt.addMemoryReservation(0x20000, 0), 'invalid-memory-reservation');
    expectFdtError(() => fdt.addMemoryReservation(0xffff_ffff_ffff_f000n, 0x2000n), 'invalid-memory-reservation');
    expectFdtError(() => new FdtWriter([{ address: 5n, size: 1n }, { address: 1n, size: 1n }]), 'unsorted-memory-reservation');
  });

  it('rejects values beyond u32 (and u64) cells', () => {
    const { fdt } = withRoot();
    expectFdtError(() => fdt.propertyU32('big', 2 ** 32), 'invalid-value');
    expectFdtError(() => fdt.propertyU32('neg', -1), 'invalid-value');
    expectFdtError(() => fdt.propertyU32('frac', 1.5), 'invalid-value');
    expectFdtError(() => fdt.propertyArrayU32('arr', [1, 2 ** 40]), 'invalid-value');
    expectFdtError(() => fdt.propertyU64('huge', 1n << 64n), 'invalid-value');
    expectFdtError(() => fdt.propertyU64('unsafe', 2 ** 60), 'invalid-value');
    expectFdtError(() => fdt.setBootCpuId(2 ** 32), 'invalid-value');
  });
});

describe('FdtWriter output through dtc', function () {
  before(function () {
    if (!hasDtc) this.skip();
  });

  it('decompiles without warnings and keeps every value', () => {
    const fdt = new FdtWriter();
    fdt.addMemoryReservation(0x4000_0000, 0x1000);
    const root = fdt.beginNode('');
    fdt.propertyU32('#address-cells', 2);
    fdt.propertyU32('#size-cells', 2);
    fdt.propertyString('compatible', 'test,board');
    const node = fdt.beginNode('dev@12340000');
    fdt.propertyArrayU64('reg', [0x1234_0000, 0x1000]);
    fdt.propertyStringList('compatible', ['test,dev', 'test,generic']);
    fdt.propertyPhandle(1);
    fdt.endNode(node);
    fdt.endNode(root);
    const r = decompile(fdt.finish());
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(0);
    const dts = r.stdout.toString();
    expect(dts).to.match(/\/memreserve\/\s+0x0*40000000 0x0*1000;/);
    expect(dts).to.include('compatible = "test,dev\\0test,generic";');
    expect(dts).to.include('reg = <0x00 0x12340000 0x00 0x1000>;');
    expect(dts).to.include('phandle = <0x01>;');
  });

  it('parses back through the reader', () => {
    const { fdt, root } = withRoot();
    const c = fdt.beginNode('chosen');
    fdt.propertyString('bootargs', 'console=ttyAMA0');
    fdt.endNode(c);
    fdt.endNode(root);
    const tree = parseFdt(fdt.finish());
    expect(propString(findNode(tree.root, '/chosen')!.properties.get('bootargs')!)).to.equal('console=ttyAMA0');
  });
});
