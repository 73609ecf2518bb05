// The addon's exports and NativeVcpu methods (read from native/hvf/*.mm) are exactly the
// members of NativeHvf / NativeVcpu in src/accel/hvf/native.ts, which fake-native.ts is
// type-checked against: so the binding tested on Linux talks to the same surface the Mac
// build exposes, and the ABI versions agree.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { packageRoot } from '../../src/accel/hvf/load.ts';
import { NATIVE_ABI_VERSION } from '../../src/accel/hvf/native.ts';

const root = packageRoot();
const read = (p: string): string => readFileSync(join(root, p), 'utf8');

function interfaceMembers(source: string, name: string): string[] {
  const file = ts.createSourceFile('native.ts', source, ts.ScriptTarget.Latest, true);
  const decl = file.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === name);
  if (!decl) throw new Error(`interface ${name} not found`);
  return decl.members.map((m) => (m.name && ts.isIdentifier(m.name) ? m.name.text : '?')).sort();
}

const matches = (text: string, re: RegExp): string[] => [...text.matchAll(re)].map((m) => m[1]).sort();

describe('hvf addon surface = src/accel/hvf/native.ts', () => {
  const nativeTs = read('src/accel/hvf/native.ts');

  it('exports exactly the members of NativeHvf', () => {
    const addon = read('native/hvf/addon.mm');
    expect(matches(addon, /exports\.Set\("(\w+)"/g)).to.deep.equal(interfaceMembers(nativeTs, 'NativeHvf'));
  });

  it('gives NativeVcpu exactly its methods and accessors', () => {
    const vcpu = read('native/hvf/vcpu.mm');
    expect(matches(vcpu, /Instance(?:Method|Accessor)<&VcpuWrap::\w+>\("(\w+)"\)/g)).to.deep.equal(interfaceMembers(nativeTs, 'NativeVcpu'));
  });

  it('reports the ABI version the loader expects', () => {
    const m = /kAbiVersion = (\d+);/.exec(read('native/hvf/addon.mm'));
    expect(Number(m?.[1])).to.equal(NATIVE_ABI_VERSION);
  });

  it('returns capabilities with exactly the NativeCapabilities fields', () => {
    const addon = read('native/hvf/addon.mm');
    const body = addon.slice(addon.indexOf('Napi::Value Capabilities('), addon.indexOf('bool OptionalU64('));
    expect(matches(body, /caps\.Set\("(\w+)"/g)).to.deep.equal(interfaceMembers(nativeTs, 'NativeCapabilities'));
  });

  it('returns GIC parameters with exactly the NativeGicParameters fields', () => {
    const addon = read('native/hvf/addon.mm');
    const body = addon.slice(addon.indexOf('Napi::Value GicParameters('), addon.indexOf('Napi::Value GicSetSpi('));
    expect(matches(body, /p\.Set\("(\w+)"/g)).to.deep.equal(interfaceMembers(nativeTs, 'NativeGicParameters'));
  });
});
