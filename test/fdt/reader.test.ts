import { expect } from 'chai';
import fc from 'fast-check';
import { generateFdt } from '../../src/arch/arm64/fdt.ts';
import { RAM_BASE, RAM_DEFAULT_SIZE } from '../../src/arch/arm64/layout.ts';
import { FdtParseError, findNode, formatFdt, parseFdt, propString, propStringList, propU32Array, propU64 } from '../../src/fdt/reader.ts';
import { FdtWriter } from '../../src/fdt/writer.ts';

function sample(): Uint8Array {
  const fdt = new FdtWriter();
  fdt.addMemoryReservation(0x1000, 0x1000);
  fdt.setBootCpuId(3);
  const root = fdt.beginNode('');
  fdt.propertyU32('#address-cells', 2);
  const a = fdt.beginNode('a@1');
  fdt.propertyStringList('compatible', ['x,y', 'z']);
  fdt.propertyBytes('raw', Uint8Array.of(1, 2, 3));
  fdt.endNode(a);
  fdt.endNode(fdt.beginNode('b'));
  fdt.endNode(root);
  return fdt.finish();
}

/** A copy of `blob` with the big-endian u32 at `off` replaced. */
function patched(blob: Uint8Array, off: number, value: number): Uint8Array {
  const copy = blob.slice();
  new DataView(copy.buffer).setUint32(off, value);
  return copy;
}

describe('FDT reader', () => {
  it('parses header, reservations and the node tree', () => {
    const tree = parseFdt(sample());
    expect(tree.header.version).to.equal(17);
    expect(tree.header.bootCpuId).to.equal(3);
    expect(tree.reservations).to.deep.equal([{ address: 0x1000n, size: 0x1000n }]);
    expect(tree.root.children.map((c) => c.name)).to.deep.equal(['a@1', 'b']);
    const a = findNode(tree.root, '/a@1')!;
    expect(propStringList(a.properties.get('compatible')!)).to.deep.equal(['x,y', 'z']);
    expect(findNode(tree.root, '/nope')).to.equal(undefined);
    expect(findNode(tree.root, '/')).to.equal(tree.root);
  });

  it('decodes property values strictly', () => {
    expect(() => propU32Array(Uint8Array.of(1, 2, 3))).to.throw(FdtParseError);
    expect(() => propU64(new Uint8Array(4))).to.throw(FdtParseError);
    expect(() => propString(Uint8Array.of(0x61))).to.throw(FdtParseError);
    expect(() => propString(Uint8Array.of(0x61, 0, 0x62, 0))).to.throw(FdtParseError);
  });

  it('rejects truncated and inconsistent blobs', () => {
    const blob = sample();
    expect(() => parseFdt(blob.subarray(0, 39))).to.throw(FdtParseError, /shorter than the header/);
    expect(() => parseFdt(patched(blob, 0, 0xdeadbeef))).to.throw(FdtParseError, /magic/);
    expect(() => parseFdt(blob.subarray(0, blob.length - 1))).to.throw(FdtParseError, /totalsize/);
    expect(() => parseFdt(patched(blob, 8, 0x7fff_fff0))).to.throw(FdtParseError, /structure block/);
    expect(() => parseFdt(patched(blob, 12, 0x7fff_fff0))).to.throw(FdtParseError, /strings block/);
    expect(() => parseFdt(patched(blob, 20, 15))).to.throw(FdtParseError, /version/);
    const structOff = new DataView(blob.buffer).getUint32(8);
    // The first token after the root's BEGIN_NODE+name is the #address-cells FDT_PROP.
    expect(() => parseFdt(patched(blob, structOff + 8, 0x77))).to.throw(FdtParseError, /unknown token/);
    expect(() => parseFdt(patched(blob, structOff + 12, 0x10000))).to.throw(FdtParseError, /runs past/);
    expect(() => parseFdt(patched(blob, structOff + 16, 0x10000))).to.throw(FdtParseError, /name offset/);
    expect(() => parseFdt(patched(blob, structOff, 0x2))).to.throw(FdtParseError, /without an open node/);
  });

  it('never reads out of bounds or hangs on corrupted blobs', () => {
    const blob = generateFdt({
      cpus: 2, memory: { base: RAM_BASE, size: RAM_DEFAULT_SIZE }, cmdline: 'x', devices: [{ slot: 0, kind: 'block' }],
      entropy: (n) => new Uint8Array(n),
    });
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(blob.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
      fc.nat(blob.length),
      (edits, cut) => {
        const copy = blob.slice(0, Math.max(cut, 40));
        for (const [at, v] of edits) if (at < copy.length) copy[at] = v;
        try {
          parseFdt(copy);
        } catch (e) {
          expect(e).to.be.instanceOf(FdtParseError);
        }
      },
    ), { numRuns: 2000 });
  });

  it('formats a DTS-like view for inspection', () => {
    const text = formatFdt(parseFdt(sample()));
    expect(text).to.include('/memreserve/ 0x1000 0x1000;');
    expect(text).to.include('#address-cells = <0x2>;');
    expect(text).to.include('compatible = "x,y", "z";');
    expect(text).to.include('raw = [01 02 03];');
    expect(text).to.match(/\n\ta@1 \{\n/);
  });
});
