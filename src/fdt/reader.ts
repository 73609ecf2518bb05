// Parsing a DTB back into a tree, for tests and for `nodevisor dtb` inspection. Every offset
// and length is checked against the blob, so a truncated or hostile DTB yields an
// FdtParseError, never an out-of-bounds read or an endless loop.
import {
  FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_HEADER_SIZE, FDT_MAGIC, FDT_MAX_NODE_DEPTH, FDT_NOP, FDT_PROP,
} from './writer.ts';

export class FdtParseError extends Error {
  override readonly name = 'FdtParseError';
}

export interface FdtHeader {
  magic: number;
  totalSize: number;
  offDtStruct: number;
  offDtStrings: number;
  offMemRsvmap: number;
  version: number;
  lastCompVersion: number;
  bootCpuId: number;
  sizeDtStrings: number;
  sizeDtStruct: number;
}

export interface FdtNode {
  name: string;
  /** Properties in blob order. */
  properties: Map<string, Uint8Array>;
  children: FdtNode[];
}

export interface FdtTree {
  header: FdtHeader;
  reservations: { address: bigint; size: bigint }[];
  root: FdtNode;
}

const decoder = new TextDecoder('utf-8', { fatal: false });

function cString(bytes: Uint8Array, start: number, end: number, what: string): { value: string; next: number } {
  const nul = bytes.indexOf(0, start);
  if (nul < 0 || nul >= end) throw new FdtParseError(`${what} at 0x${start.toString(16)} is not NUL-terminated`);
  return { value: decoder.decode(bytes.subarray(start, nul)), next: nul + 1 };
}

export function parseFdt(blob: Uint8Array): FdtTree {
  if (blob.length < FDT_HEADER_SIZE) throw new FdtParseError(`blob of ${blob.length} bytes is shorter than the header`);
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const u32 = (off: number): number => view.getUint32(off);
  const header: FdtHeader = {
    magic: u32(0), totalSize: u32(4), offDtStruct: u32(8), offDtStrings: u32(12), offMemRsvmap: u32(16),
    version: u32(20), lastCompVersion: u32(24), bootCpuId: u32(28), sizeDtStrings: u32(32), sizeDtStruct: u32(36),
  };
  if (header.magic !== FDT_MAGIC) throw new FdtParseError(`bad magic 0x${header.magic.toString(16)}`);
  if (header.totalSize > blob.length || header.totalSize < FDT_HEADER_SIZE) {
    throw new FdtParseError(`totalsize ${header.totalSize} does not fit the ${blob.length}-byte blob`);
  }
  if (header.version < 16 || header.lastCompVersion > 17) {
    throw new FdtParseError(`unsupported version ${header.version} (last compatible ${header.lastCompVersion})`);
  }
  const within = (off: number, size: number, what: string): void => {
    if (off < FDT_HEADER_SIZE || off + size > header.totalSize) throw new FdtParseError(`${what} 0x${off.toString(16)}+${size} outside the blob`);
  };
  within(header.offDtStruct, header.sizeDtStruct, 'structure block');
  within(header.offDtStrings, header.sizeDtStrings, 'strings block');
  if (header.offDtStruct % 4 !== 0) throw new FdtParseError('structure block is not 4-byte aligned');
  if (header.offMemRsvmap % 8 !== 0) throw new FdtParseError('reservation map is not 8-byte aligned');

  const reservations: FdtTree['reservations'] = [];
  for (let off = header.offMemRsvmap; ; off += 16) {
    within(off, 16, 'reservation entry');
    const address = view.getBigUint64(off);
    const size = view.getBigUint64(off + 8);
    if (address === 0n && size === 0n) break;
    reservations.push({ address, size });
  }

  const structEnd = header.offDtStruct + header.sizeDtStruct;
  const stringsEnd = header.offDtStrings + header.sizeDtStrings;
  let off = header.offDtStruct;
  const token = (): number => {
    if (off + 4 > structEnd) throw new FdtParseError('structure block ends without FDT_END');
    const t = u32(off);
    off += 4;
    return t;
  };
  const align4 = (n: number): number => (n + 3) & ~3;

  const stack: FdtNode[] = [];
  let root: FdtNode | undefined;
  for (;;) {
    const t = token();
    if (t === FDT_NOP) continue;
    if (t === FDT_BEGIN_NODE) {
      const { value, next } = cString(blob, off, structEnd, 'node name');
      off = align4(next);
      const node: FdtNode = { name: value, properties: new Map(), children: [] };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(node);
      else if (root) throw new FdtParseError('more than one root node');
      else root = node;
      if (stack.length >= FDT_MAX_NODE_DEPTH) throw new FdtParseError(`nesting deeper than ${FDT_MAX_NODE_DEPTH}`);
      stack.push(node);
    } else if (t === FDT_END_NODE) {
      if (!stack.pop()) throw new FdtParseError('FDT_END_NODE without an open node');
    } else if (t === FDT_PROP) {
      const node = stack[stack.length - 1];
      if (!node) throw new FdtParseError('property outside any node');
      const len = token();
      const nameOff = token();
      if (off + len > structEnd) throw new FdtParseError(`property value of ${len} bytes runs past the structure block`);
      if (nameOff >= header.sizeDtStrings) throw new FdtParseError(`property name offset ${nameOff} outside the strings block`);
      const name = cString(blob, header.offDtStrings + nameOff, stringsEnd, 'property name').value;
      node.properties.set(name, blob.slice(off, off + len));
      off = align4(off + len);
    } else if (t === FDT_END) {
      if (stack.length > 0) throw new FdtParseError('FDT_END with nodes still open');
      break;
    } else {
      throw new FdtParseError(`unknown token 0x${t.toString(16)} at 0x${(off - 4).toString(16)}`);
    }
  }
  if (!root) throw new FdtParseError('no root node');
  return { header, reservations, root };
}

/** The node at an absolute path such as "/cpus/cpu@0", or undefined. */
export function findNode(root: FdtNode, path: string): FdtNode | undefined {
  let node: FdtNode | undefined = root;
  for (const part of path.split('/').filter((p) => p.length > 0)) {
    node = node.children.find((c) => c.name === part);
    if (!node) return undefined;
  }
  return node;
}

export function propU32Array(value: Uint8Array): number[] {
  if (value.length % 4 !== 0) throw new FdtParseError(`value of ${value.length} bytes is not a list of cells`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  return Array.from({ length: value.length / 4 }, (_, i) => view.getUint32(i * 4));
}

export function propU64(value: Uint8Array): bigint {
  if (value.length !== 8) throw new FdtParseError(`value of ${value.length} bytes is not a u64`);
  return new DataView(value.buffer, value.byteOffset, 8).getBigUint64(0);
}

export function propStringList(value: Uint8Array): string[] {
  if (value.length === 0 || value[value.length - 1] !== 0) throw new FdtParseError('value is not a NUL-terminated string list');
  return decoder.decode(value.subarray(0, value.length - 1)).split('\0');
}

export function propString(value: Uint8Array): string {
  const list = propStringList(value);
  if (list.length !== 1) throw new FdtParseError('value holds more than one string');
  return list[0];
}

function formatValue(value: Uint8Array): string {
  if (value.length === 0) return '';
  const printable = value[value.length - 1] === 0 && value[0] !== 0
    && value.every((b, i) => (b >= 0x20 && b < 0x7f) || (b === 0 && i > 0 && value[i - 1] !== 0));
  if (printable) return ' = ' + propStringList(value).map((s) => JSON.stringify(s)).join(', ');
  if (value.length % 4 === 0) return ` = <${propU32Array(value).map((c) => '0x' + c.toString(16)).join(' ')}>`;
  return ` = [${Array.from(value, (b) => b.toString(16).padStart(2, '0')).join(' ')}]`;
}

/** A DTS-like rendering for humans (`nodevisor dtb`); dtc is the reference decompiler. */
export function formatFdt(tree: FdtTree): string {
  const lines = ['/dts-v1/;', ''];
  for (const r of tree.reservations) lines.push(`/memreserve/ 0x${r.address.toString(16)} 0x${r.size.toString(16)};`);
  const walk = (node: FdtNode, indent: string): void => {
    lines.push(`${indent}${node.name === '' ? '/' : node.name} {`);
    for (const [name, value] of node.properties) lines.push(`${indent}\t${name}${formatValue(value)};`);
    for (const child of node.children) {
      lines.push('');
      walk(child, indent + '\t');
    }
    lines.push(`${indent}};`);
  };
  walk(tree.root, '');
  return lines.join('\n') + '\n';
}
