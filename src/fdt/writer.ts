// A streaming writer for flattened device trees (DTB format v17, devicetree spec ch. 5),
// modelled on rust-vmm vm-fdt: nodes are opened and closed in order, properties are written
// into the node that is open, and finish() lays out header, reservation map, structure and
// strings blocks. The caller is trusted, but every misuse that would produce a blob Linux or
// dtc rejects is refused with an FdtError, and every size is checked against u32.

export const FDT_MAGIC = 0xd00dfeed;
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
export const FDT_HEADER_SIZE = 40;

export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

/** Deepest nesting accepted, as in vm-fdt and Linux's FDT_MAX_DEPTH. */
export const FDT_MAX_NODE_DEPTH = 64;

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

export type FdtErrorReason =
  | 'property-after-child-node'
  | 'property-outside-node'
  | 'out-of-order-end-node'
  | 'unclosed-node'
  | 'node-depth'
  | 'invalid-node-name'
  | 'invalid-property-name'
  | 'duplicate-node-name'
  | 'duplicate-property'
  | 'invalid-string'
  | 'invalid-value'
  | 'duplicate-phandle'
  | 'invalid-memory-reservation'
  | 'unsorted-memory-reservation'
  | 'overlapping-memory-reservation'
  | 'too-large'
  | 'no-root-node'
  | 'already-finished';

export class FdtError extends Error {
  override readonly name = 'FdtError';
  constructor(readonly reason: FdtErrorReason, message: string) {
    super(`${reason}: ${message}`);
  }
}

/** Returned by beginNode and handed back to endNode, which checks it closes the innermost node. */
export interface FdtWriterNode {
  readonly depth: number;
  readonly id: number;
}

export interface FdtReserveEntry {
  readonly address: bigint;
  readonly size: bigint;
}

interface OpenNode {
  readonly id: number;
  hasChildren: boolean;
  readonly propertyNames: Set<string>;
  readonly childNames: Set<string>;
}

// Devicetree spec 2.2.1 (node names) and 2.2.4 (property names).
const NODE_NAME_CHARS = /^[0-9a-zA-Z,._+-]+$/;
const UNIT_ADDRESS_CHARS = /^[0-9a-zA-Z,._+-]*$/;
const PROPERTY_NAME_CHARS = /^[0-9a-zA-Z,._+?#-]+$/;
const MAX_NAME_LENGTH = 31;

export function isValidNodeName(name: string): boolean {
  const at = name.indexOf('@');
  const base = at < 0 ? name : name.slice(0, at);
  const unit = at < 0 ? '' : name.slice(at + 1);
  if (base.length < 1 || base.length > MAX_NAME_LENGTH) return false;
  if (!/^[a-zA-Z]/.test(base) || !NODE_NAME_CHARS.test(base)) return false;
  if (at >= 0 && (unit.length === 0 || !UNIT_ADDRESS_CHARS.test(unit))) return false;
  return true;
}

export function isValidPropertyName(name: string): boolean {
  return name.length >= 1 && name.length <= MAX_NAME_LENGTH && PROPERTY_NAME_CHARS.test(name);
}

const encoder = new TextEncoder();

/** A growable big-endian byte buffer. */
class ByteSink {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
  }

  u64(v: bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, v);
    this.length += 8;
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** Zero-pad to a multiple of `align`. */
  align(align: number): void {
    const pad = (align - (this.length % align)) % align;
    this.reserve(pad);
    this.buf.fill(0, this.length, this.length + pad);
    this.length += pad;
  }

  contents(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function checkU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new FdtError('invalid-value', `${what} ${value} is not a u32`);
  }
  return value;
}

function toU64(value: number | bigint, what: string): bigint {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new FdtError('invalid-value', `${what} ${value} is not a u64`);
    return BigInt(value);
  }
  if (value < 0n || value > U64_MAX) throw new FdtError('invalid-value', `${what} ${value} is not a u64`);
  return value;
}

function encodeString(value: string, what: string): Uint8Array {
  if (value.includes('\0')) throw new FdtError('invalid-string', `${what} contains a NUL character`);
  return encoder.encode(value);
}

export class FdtWriter {
  private readonly struct = new ByteSink();
  private readonly strings = new ByteSink();
  private readonly stringOffsets = new Map<string, number>();
  private readonly phandles = new Set<number>();
  private readonly reservations: FdtReserveEntry[] = [];
  private readonly stack: OpenNode[] = [];
  private nextNodeId = 1;
  private rootWritten = false;
  private bootCpuId = 0;
  private finished = false;

  constructor(reservations: readonly FdtReserveEntry[] = []) {
    for (const r of reservations) this.addMemoryReservation(r.address, r.size);
  }

  /** Entries must come in ascending address order and must not overlap. */
  addMemoryReservation(address: number | bigint, size: number | bigint): void {
    this.checkOpen();
    const addr = toU64(address, 'reservation address');
    const len = toU64(size, 'reservation size');
    if (len === 0n) throw new FdtError('invalid-memory-reservation', `zero-sized reservation at 0x${addr.toString(16)}`);
    if (addr + len - 1n > U64_MAX) {
      throw new FdtError('invalid-memory-reservation', `reservation 0x${addr.toString(16)}+0x${len.toString(16)} wraps`);
    }
    const last = this.reservations[this.reservations.length - 1];
    if (last) {
      if (addr < last.address) {
        throw new FdtError('unsorted-memory-reservation', `0x${addr.toString(16)} comes after 0x${last.address.toString(16)}`);
      }
      if (addr < last.address + last.size) {
        throw new FdtError('overlapping-memory-reservation', `0x${addr.toString(16)} overlaps the reservation at 0x${last.address.toString(16)}`);
      }
    }
    this.reservations.push({ address: addr, size: len });
  }

  /** boot_cpuid_phys in the header: the physical id (reg) of the boot CPU. */
  setBootCpuId(id: number): void {
    this.checkOpen();
    this.bootCpuId = checkU32(id, 'boot CPU id');
  }

  /** Open a node; the first must be the root, named "". */
  beginNode(name: string): FdtWriterNode {
    this.checkOpen();
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      if (this.rootWritten) throw new FdtError('invalid-node-name', `a second root node "${name}"`);
      if (name !== '') throw new FdtError('invalid-node-name', `the root node must be named "", not "${name}"`);
    } else {
      if (!isValidNodeName(name)) throw new FdtError('invalid-node-name', `"${name}"`);
      if (parent.childNames.has(name)) throw new FdtError('duplicate-node-name', `"${name}" already exists here`);
    }
    if (this.stack.length >= FDT_MAX_NODE_DEPTH) {
      throw new FdtError('node-depth', `nesting deeper than ${FDT_MAX_NODE_DEPTH}`);
    }
    const nameBytes = encodeString(name, 'node name');
    if (parent) {
      parent.childNames.add(name);
      parent.hasChildren = true;
    } else {
      this.rootWritten = true;
    }
    this.struct.u32(FDT_BEGIN_NODE);
    this.struct.bytes(nameBytes);
    this.struct.bytes(Uint8Array.of(0));
    this.struct.align(4);
    const node: OpenNode = { id: this.nextNodeId++, hasChildren: false, propertyNames: new Set(), childNames: new Set() };
    this.stack.push(node);
    return { depth: this.stack.length, id: node.id };
  }

  endNode(handle: FdtWriterNode): void {
    this.checkOpen();
    const top = this.stack[this.stack.length - 1];
    if (!top || top.id !== handle.id || this.stack.length !== handle.depth) {
      throw new FdtError('out-of-order-end-node', `node at depth ${handle.depth} is not the innermost open node`);
    }
    this.struct.u32(FDT_END_NODE);
    this.stack.pop();
  }

  propertyBytes(name: string, value: Uint8Array): void {
    this.checkOpen();
    const node = this.stack[this.stack.length - 1];
    if (!node) throw new FdtError('property-outside-node', `property "${name}" outside any node`);
    if (node.hasChildren) throw new FdtError('property-after-child-node', `property "${name}" after a child node`);
    if (!isValidPropertyName(name)) throw new FdtError('invalid-property-name', `"${name}"`);
    if (node.propertyNames.has(name)) throw new FdtError('duplicate-property', `"${name}" already set in this node`);
    if (value.length > U32_MAX) throw new FdtError('too-large', `property "${name}" value of ${value.length} bytes`);
    const nameOffset = this.internString(name);
    node.propertyNames.add(name);
    this.struct.u32(FDT_PROP);
    this.struct.u32(value.length);
    this.struct.u32(nameOffset);
    this.struct.bytes(value);
    this.struct.align(4);
  }

  propertyNull(name: string): void {
    this.propertyBytes(name, new Uint8Array(0));
  }

  propertyString(name: string, value: string): void {
    const bytes = encodeString(value, `property "${name}"`);
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes);
    this.propertyBytes(name, out);
  }

  propertyStringList(name: string, values: readonly string[]): void {
    const parts = values.map((v) => encodeString(v, `property "${name}"`));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length + 1;
    }
    this.propertyBytes(name, out);
  }

  propertyU32(name: string, value: number): void {
    this.propertyArrayU32(name, [value]);
  }

  propertyU64(name: string, value: number | bigint): void {
    this.propertyArrayU64(name, [value]);
  }

  propertyArrayU32(name: string, values: readonly number[]): void {
    const out = new Uint8Array(values.length * 4);
    const view = new DataView(out.buffer);
    values.forEach((v, i) => view.setUint32(i * 4, checkU32(v, `property "${name}" cell`)));
    this.propertyBytes(name, out);
  }

  propertyArrayU64(name: string, values: readonly (number | bigint)[]): void {
    const out = new Uint8Array(values.length * 8);
    const view = new DataView(out.buffer);
    values.forEach((v, i) => view.setBigUint64(i * 8, toU64(v, `property "${name}" cell`)));
    this.propertyBytes(name, out);
  }

  /** A "phandle" property; each phandle may be given to one node only. */
  propertyPhandle(value: number): void {
    checkU32(value, 'phandle');
    if (value === 0 || value === U32_MAX) throw new FdtError('invalid-value', `phandle 0x${value.toString(16)} is reserved`);
    if (this.phandles.has(value)) throw new FdtError('duplicate-phandle', `phandle ${value} is already in use`);
    this.propertyU32('phandle', value);
    this.phandles.add(value);
  }

  /** Close the structure block and return the DTB. The writer is unusable afterwards. */
  finish(): Uint8Array {
    this.checkOpen();
    if (this.stack.length > 0) throw new FdtError('unclosed-node', `${this.stack.length} node(s) still open`);
    if (!this.rootWritten) throw new FdtError('no-root-node', 'no root node was written');
    this.struct.u32(FDT_END);
    this.finished = true;

    const reserveSize = (this.reservations.length + 1) * 16;
    const offMemRsvmap = FDT_HEADER_SIZE; // 8-byte aligned already
    const offDtStruct = offMemRsvmap + reserveSize;
    const offDtStrings = offDtStruct + this.struct.length;
    const totalSize = offDtStrings + this.strings.length;
    if (totalSize > U32_MAX) throw new FdtError('too-large', `device tree of ${totalSize} bytes`);

    const out = new ByteSink();
    out.u32(FDT_MAGIC);
    out.u32(totalSize);
    out.u32(offDtStruct);
    out.u32(offDtStrings);
    out.u32(offMemRsvmap);
    out.u32(FDT_VERSION);
    out.u32(FDT_LAST_COMP_VERSION);
    out.u32(this.bootCpuId);
    out.u32(this.strings.length);
    out.u32(this.struct.length);
    for (const r of this.reservations) {
      out.u64(r.address);
      out.u64(r.size);
    }
    out.u64(0n);
    out.u64(0n);
    out.bytes(this.struct.contents());
    out.bytes(this.strings.contents());
    return out.contents();
  }

  private internString(s: string): number {
    const known = this.stringOffsets.get(s);
    if (known !== undefined) return known;
    const offset = this.strings.length;
    this.strings.bytes(encodeString(s, 'property name'));
    this.strings.bytes(Uint8Array.of(0));
    this.stringOffsets.set(s, offset);
    return offset;
  }

  private checkOpen(): void {
    if (this.finished) throw new FdtError('already-finished', 'finish() was already called');
  }
}
