import { expect } from 'chai';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { SysReg } from '../../src/accel/sysregs.ts';
import { Reg } from '../../src/accel/types.ts';
import * as L from '../../src/arch/arm64/layout.ts';
import { validateCmdline } from '../../src/boot/cmdline.ts';
import { BootError, type BootErrorReason } from '../../src/boot/error.ts';
import { decodeKernelImage, IMAGE_MAGIC, parseImageHeader } from '../../src/boot/image.ts';
import { loadBootImages, loadLinux, prepareLinuxBoot } from '../../src/boot/loader.ts';
import { INITRD_ALIGN, planBoot } from '../../src/boot/plan.ts';
import { applyVcpuBootState, bootVcpuState, secondaryVcpuState } from '../../src/boot/vcpu-state.ts';
import { generateFdt } from '../../src/arch/arm64/fdt.ts';
import { findNode, parseFdt, propString, propU64 } from '../../src/fdt/reader.ts';
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { findDefaultGuest } from '../../src/guest/cache.ts';

function expectBootError(fn: () => unknown, reason: BootErrorReason): BootError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(BootError);
    expect((e as BootError).reason, (e as Error).message).to.equal(reason);
    return e as BootError;
  }
  return expect.fail(`expected BootError(${reason})`);
}

interface ImageSpec {
  textOffset?: bigint;
  imageSize?: bigint;
  flags?: bigint;
  magic?: number;
  length?: number;
}

/** A synthetic arm64 Image: the 64-byte header followed by a recognisable body. */
function makeImage(spec: ImageSpec = {}): Uint8Array {
  const length = spec.length ?? 0x3000;
  const image = new Uint8Array(length);
  const view = new DataView(image.buffer);
  view.setUint32(0, 0x14000010, true); // b #0x40: code0 branches past the header
  view.setUint32(4, 0, true);
  view.setBigUint64(8, spec.textOffset ?? 0n, true);
  view.setBigUint64(16, spec.imageSize ?? 0x10000n, true);
  view.setBigUint64(24, spec.flags ?? 0b1010n, true); // LE, 4K pages, anywhere
  view.setUint32(56, spec.magic ?? IMAGE_MAGIC, true);
  for (let i = 64; i < length; i++) image[i] = i & 0xff;
  return image;
}

const RAM = { base: L.RAM_BASE, size: 64 * L.MiB };

describe('arm64 Image header', () => {
  it('parses text_offset, image_size and the flags', () => {
    const h = parseImageHeader(makeImage({ textOffset: 0x80000n, imageSize: 0x123000n, flags: 0b1010n }));
    expect(h.code0).to.equal(0x14000010);
    expect(h.textOffset).to.equal(0x80000);
    expect(h.imageSize).to.equal(0x123000);
    expect(h.pageSize).to.equal(4096);
    expect(h.placeAnywhere).to.equal(true);
    expect(parseImageHeader(makeImage({ flags: 0b0100n })).pageSize).to.equal(16384);
    expect(parseImageHeader(makeImage({ flags: 0b0110n })).pageSize).to.equal(65536);
    const legacy = parseImageHeader(makeImage({ flags: 0n }));
    expect(legacy.pageSize).to.equal(0);
    expect(legacy.placeAnywhere).to.equal(false);
  });

  it('assumes text_offset 0x80000 when image_size is 0', () => {
    const h = parseImageHeader(makeImage({ textOffset: 0x1234n, imageSize: 0n }));
    expect(h.textOffset).to.equal(0x80000);
    expect(h.imageSize).to.equal(0);
  });

  it('rejects an empty file, a short file and a bad magic', () => {
    expectBootError(() => parseImageHeader(new Uint8Array(0)), 'empty');
    expectBootError(() => decodeKernelImage(new Uint8Array(0), { maxSize: 1e6 }), 'empty');
    expectBootError(() => parseImageHeader(makeImage().subarray(0, 63)), 'bad-magic');
    const err = expectBootError(() => parseImageHeader(makeImage({ magic: 0x464c457f })), 'bad-magic');
    expect(err.message).to.match(/ARM/);
  });

  it('rejects a big-endian kernel', () => {
    expectBootError(() => parseImageHeader(makeImage({ flags: 0b1011n })), 'big-endian');
  });

  it('refuses page sizes the vCPU lacks', () => {
    const image = makeImage({ flags: 0b0110n });
    expectBootError(() => decodeKernelImage(image, { maxSize: 1e6, supportedPageSizes: [4096, 16384] }), 'unsupported-page-size');
    expect(decodeKernelImage(makeImage(), { maxSize: 1e6, supportedPageSizes: [4096, 16384] }).header.pageSize).to.equal(4096);
  });

  it('gunzips an Image.gz, capped', () => {
    const image = makeImage({ length: 0x20000 });
    const k = decodeKernelImage(gzipSync(image), { maxSize: 0x20000 });
    expect(k.wasCompressed).to.equal(true);
    expect(Buffer.compare(Buffer.from(k.bytes), Buffer.from(image))).to.equal(0);
    expectBootError(() => decodeKernelImage(gzipSync(image), { maxSize: 0x1ffff }), 'kernel-too-large');
    const corrupt = gzipSync(image);
    corrupt.fill(0xaa, 20, 60);
    expectBootError(() => decodeKernelImage(corrupt, { maxSize: 0x20000 }), 'decompress');
    expectBootError(() => decodeKernelImage(gzipSync(Buffer.from('not a kernel')), { maxSize: 0x20000 }), 'bad-magic');
  });

  it('rejects an uncompressed Image larger than the cap', () => {
    expectBootError(() => decodeKernelImage(makeImage({ length: 0x2000 }), { maxSize: 0x1fff }), 'kernel-too-large');
  });
});

describe('kernel command line', () => {
  it(`accepts up to ${L.CMDLINE_MAX_SIZE - 1} bytes (the NUL makes ${L.CMDLINE_MAX_SIZE})`, () => {
    expect(validateCmdline('x'.repeat(L.CMDLINE_MAX_SIZE - 1))).to.have.length(L.CMDLINE_MAX_SIZE - 1);
    expectBootError(() => validateCmdline('x'.repeat(L.CMDLINE_MAX_SIZE)), 'cmdline-too-long');
    // Counted in UTF-8 bytes, not UTF-16 code units.
    expectBootError(() => validateCmdline('\u00e9'.repeat(L.CMDLINE_MAX_SIZE / 2)), 'cmdline-too-long');
    expectBootError(() => validateCmdline('a\0b'), 'invalid-cmdline');
  });
});

describe('boot placement plan', () => {
  const kernel = (spec: ImageSpec = {}) => {
    const bytes = makeImage(spec);
    return { header: parseImageHeader(bytes), length: bytes.length };
  };

  it('puts the kernel at the first 2 MiB boundary + text_offset, the initrd after it, the DTB on top', () => {
    const plan = planBoot({ ram: RAM, kernel: kernel({ textOffset: 0x80000n, imageSize: 0x150100n }), initrdSize: 0x12345 });
    expect(plan.kernelLoad).to.equal(L.RAM_BASE + 0x80000);
    expect(plan.kernelEntry).to.equal(plan.kernelLoad);
    expect(plan.kernelEnd).to.equal(L.RAM_BASE + 0x80000 + 0x150100);
    expect(plan.initrd!.start).to.equal(L.RAM_BASE + 0x1e0000);
    expect(plan.initrd!.start % INITRD_ALIGN).to.equal(0);
    expect(plan.initrd!.end).to.equal(plan.initrd!.start + 0x12345);
    expect(plan.dtbAddress).to.equal(L.RAM_BASE + RAM.size - L.FDT_MAX_SIZE);
    expect(plan.dtbAddress % L.FDT_ALIGN).to.equal(0);
    expect(plan.dtbMaxSize).to.equal(L.FDT_MAX_SIZE);
  });

  it('aligns the kernel base up when RAM starts off a 2 MiB boundary', () => {
    const plan = planBoot({ ram: { base: L.RAM_BASE + 0x4000, size: RAM.size }, kernel: kernel() });
    expect(plan.kernelLoad).to.equal(L.RAM_BASE + L.KERNEL_ALIGN);
    expect(plan.initrd).to.equal(undefined);
  });

  it('counts the file when it is longer than image_size', () => {
    const plan = planBoot({ ram: RAM, kernel: kernel({ imageSize: 0x1000n, length: 0x5000 }) });
    expect(plan.kernelEnd - plan.kernelLoad).to.equal(0x5000);
  });

  it('keeps the space after a kernel without image_size free and puts the initrd high', () => {
    const plan = planBoot({ ram: RAM, kernel: kernel({ imageSize: 0n }), initrdSize: 0x10000 });
    expect(plan.kernelLoad).to.equal(L.RAM_BASE + 0x80000);
    expect(plan.initrd!.end).to.be.at.most(plan.dtbAddress);
    expect(plan.initrd!.start).to.equal(plan.dtbAddress - 0x10000);
  });

  it('rejects a kernel too large for RAM', () => {
    expectBootError(() => planBoot({ ram: RAM, kernel: kernel({ imageSize: BigInt(RAM.size - L.FDT_MAX_SIZE) + 1n }) }), 'kernel-too-large');
    expectBootError(() => planBoot({ ram: { base: L.RAM_BASE, size: L.MiB }, kernel: kernel() }), 'kernel-too-large');
    // Exactly fits: image up to the DTB window.
    planBoot({ ram: RAM, kernel: kernel({ imageSize: BigInt(RAM.size - L.FDT_MAX_SIZE) }) });
  });

  it('rejects an initrd too large for the RAM left', () => {
    const k = kernel({ imageSize: 0x100000n });
    const room = RAM.size - L.FDT_MAX_SIZE - 0x100000;
    planBoot({ ram: RAM, kernel: k, initrdSize: room });
    expectBootError(() => planBoot({ ram: RAM, kernel: k, initrdSize: room + 1 }), 'initrd-too-large');
    expectBootError(() => planBoot({ ram: RAM, kernel: kernel({ imageSize: 0n }), initrdSize: RAM.size }), 'initrd-too-large');
  });

  it('keeps the initrd inside the 32 GiB window that covers the kernel', () => {
    const big = { base: L.RAM_BASE, size: 40 * L.GiB };
    const k = kernel({ imageSize: 0x100000n });
    planBoot({ ram: big, kernel: k, initrdSize: 31 * L.GiB });
    expectBootError(() => planBoot({ ram: big, kernel: k, initrdSize: 32 * L.GiB }), 'initrd-too-large');
  });

  it('rejects nonsense RAM', () => {
    expectBootError(() => planBoot({ ram: { base: L.RAM_BASE, size: 0 }, kernel: kernel() }), 'invalid-ram');
    expectBootError(() => planBoot({ ram: { base: -1, size: RAM.size }, kernel: kernel() }), 'invalid-ram');
  });
});

describe('loading Linux into guest memory', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'nodevisor-boot-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const memory = () => new GuestMemory([{ gpa: RAM.base, bytes: new Uint8Array(RAM.size) }]);
  const dtb = Uint8Array.of(0xd0, 0x0d, 0xfe, 0xed, 1, 2, 3, 4);

  it('writes kernel, initrd and DTB where the plan says and zeroes the BSS', () => {
    const image = makeImage({ textOffset: 0x80000n, imageSize: 0x8000n, length: 0x3000 });
    const initrd = Uint8Array.from({ length: 0x1800 }, (_, i) => (i * 7) & 0xff);
    const boot = prepareLinuxBoot({ ram: RAM, kernel: image, initrd, cmdline: 'console=ttyAMA0' });
    const mem = memory();
    mem.slice(boot.plan.kernelLoad, 0x8000).fill(0xee); // stale contents from an earlier boot
    const state = loadLinux(mem, boot, dtb);
    expect([...mem.slice(boot.plan.kernelLoad, image.length)]).to.deep.equal([...image]);
    expect(mem.slice(boot.plan.kernelLoad + image.length, 0x8000 - image.length).every((b) => b === 0)).to.equal(true);
    expect([...mem.slice(boot.plan.initrd!.start, initrd.length)]).to.deep.equal([...initrd]);
    expect([...mem.slice(boot.plan.dtbAddress, dtb.length)]).to.deep.equal([...dtb]);
    expect(state.pc).to.equal(BigInt(L.RAM_BASE + 0x80000));
    expect(state.x).to.deep.equal([BigInt(boot.plan.dtbAddress), 0n, 0n, 0n]);
  });

  it('reads kernel and initrd from files', () => {
    const kernelPath = join(dir, 'Image.gz');
    const initrdPath = join(dir, 'initrd.cpio');
    writeFileSync(kernelPath, gzipSync(makeImage()));
    writeFileSync(initrdPath, new Uint8Array(100).fill(7));
    const boot = prepareLinuxBoot({ ram: RAM, kernel: kernelPath, initrd: initrdPath, cmdline: '' });
    expect(boot.kernel.wasCompressed).to.equal(true);
    expect(boot.initrd).to.have.length(100);
  });

  it('reports missing, empty and unreadable files', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    expectBootError(() => prepareLinuxBoot({ ram: RAM, kernel: join(dir, 'nope'), cmdline: '' }), 'missing-file');
    expectBootError(() => prepareLinuxBoot({ ram: RAM, kernel: empty, cmdline: '' }), 'empty');
    expectBootError(() => prepareLinuxBoot({ ram: RAM, kernel: dir, cmdline: '' }), 'unreadable-file');
    expectBootError(() => prepareLinuxBoot({ ram: RAM, kernel: makeImage(), initrd: join(dir, 'nope'), cmdline: '' }), 'missing-file');
    expectBootError(() => prepareLinuxBoot({ ram: RAM, kernel: makeImage(), initrd: empty, cmdline: '' }), 'empty');
  });

  it('rejects an initrd file larger than RAM before reading it', () => {
    const path = join(dir, 'big-initrd');
    writeFileSync(path, new Uint8Array(0x10001));
    expectBootError(() => prepareLinuxBoot({ ram: { base: RAM.base, size: 0x10000 }, kernel: makeImage(), initrd: path, cmdline: '' }), 'initrd-too-large');
  });

  it('rejects a long command line and an oversized DTB', () => {
    expectBootError(() => prepareLinuxBoot({ ram: RAM, kernel: makeImage(), cmdline: 'x'.repeat(L.CMDLINE_MAX_SIZE) }), 'cmdline-too-long');
    const boot = prepareLinuxBoot({ ram: RAM, kernel: makeImage(), cmdline: '' });
    expectBootError(() => loadLinux(memory(), boot, new Uint8Array(L.FDT_MAX_SIZE + 8)), 'dtb-too-large');
  });

  it('refuses to write outside the guest memory it is given', () => {
    const boot = prepareLinuxBoot({ ram: RAM, kernel: makeImage(), cmdline: '' });
    const small = new GuestMemory([{ gpa: RAM.base, bytes: new Uint8Array(RAM.size / 2) }]);
    expectBootError(() => loadBootImages(small, boot.plan, boot.kernel.bytes, undefined, dtb), 'invalid-ram');
  });
});

/** The whole flow: prepare, build the DTB from the plan, load, and check what the guest will see. */
function bootAndInspect(kernel: string | Uint8Array, ramSize: number) {
  const ram = { base: L.RAM_BASE, size: ramSize };
  const initrd = Uint8Array.from({ length: 0x30000 }, (_, i) => i & 0xff);
  const boot = prepareLinuxBoot({ ram, kernel, initrd, cmdline: 'console=ttyAMA0 rdinit=/init' });
  const dtb = generateFdt({
    cpus: 2, memory: ram, cmdline: boot.cmdline, initrd: boot.plan.initrd, devices: [{ slot: 0, kind: 'block' }],
    entropy: (n) => new Uint8Array(n).fill(0x5a),
  });
  const mem = new GuestMemory([{ gpa: ram.base, bytes: new Uint8Array(ram.size) }]);
  const state = loadLinux(mem, boot, dtb);
  // Read back through guest memory, as the kernel will: X0 -> DTB -> /chosen -> initrd.
  const dtbAddr = Number(state.x[0]);
  const totalSize = new DataView(mem.slice(dtbAddr, 8).slice().buffer).getUint32(4);
  const tree = parseFdt(mem.slice(dtbAddr, totalSize));
  const chosen = findNode(tree.root, '/chosen')!;
  const start = Number(propU64(chosen.properties.get('linux,initrd-start')!));
  const end = Number(propU64(chosen.properties.get('linux,initrd-end')!));
  expect([...mem.slice(start, end - start)]).to.deep.equal([...initrd]);
  expect(propString(chosen.properties.get('bootargs')!)).to.equal('console=ttyAMA0 rdinit=/init');
  expect(dtbAddr % L.FDT_ALIGN).to.equal(0);
  expect(mem.readU32(Number(state.pc) + 56)).to.equal(IMAGE_MAGIC);
  return { boot, state, tree };
}

describe('booting end to end into guest memory', () => {
  it('leaves a DTB at X0 whose /chosen initrd points at the loaded initrd', () => {
    const { state } = bootAndInspect(makeImage({ textOffset: 0x80000n, imageSize: 0x200000n }), 64 * L.MiB);
    expect(state.pc).to.equal(BigInt(L.RAM_BASE + 0x80000));
  });
});

describe('initial vCPU state', () => {
  it('enters the kernel at EL1h with DAIF masked, X0 = DTB and the MMU off', () => {
    const s = bootVcpuState(0x4008_0000, 0x5fe0_0000);
    expect(s.pc).to.equal(0x4008_0000n);
    expect(s.x).to.deep.equal([0x5fe0_0000n, 0n, 0n, 0n]);
    expect(s.cpsr).to.equal(0x3c5n);
    expect(s.sctlrEl1 & 1n).to.equal(0n); // M
    expect(s.sctlrEl1 & (1n << 2n)).to.equal(0n); // C
    expect(s.sctlrEl1 & (1n << 25n)).to.equal(0n); // EE: little-endian
    expect(s.mpidrEl1).to.equal(0x8000_0000n);
  });

  it('starts secondaries with their MPIDR and the PSCI context in X0', () => {
    const s = secondaryVcpuState(17, 0x4010_0000n, 0xabcdn);
    expect(s.mpidrEl1).to.equal(0x8000_0000n | BigInt(L.mpidrOf(17)));
    expect(s.x[0]).to.equal(0xabcdn);
    expect(s.pc).to.equal(0x4010_0000n);
  });

  it('applies through the vCPU register interface', () => {
    const regs = new Map<Reg, bigint>();
    const sys = new Map<number, bigint>();
    applyVcpuBootState({ setReg: (r, v) => regs.set(r, v), setSysReg: (id, v) => sys.set(id, v) }, bootVcpuState(0x4000_0000, 0x4400_0000));
    expect(regs.get(Reg.PC)).to.equal(0x4000_0000n);
    expect(regs.get(Reg.X0)).to.equal(0x4400_0000n);
    expect([regs.get(Reg.X1), regs.get(Reg.X2), regs.get(Reg.X3)]).to.deep.equal([0n, 0n, 0n]);
    expect(regs.get(Reg.CPSR)).to.equal(0x3c5n);
    expect(sys.get(SysReg.SCTLR_EL1)).to.equal(0x30d0_0800n);
    expect(sys.get(SysReg.MPIDR_EL1)).to.equal(0x8000_0000n);
  });
});

// The default guest's kernel (whatever Debian's linux-image-arm64 currently points at).
const DEBIAN_KERNEL = [process.env.NODEVISOR_TEST_KERNEL, findDefaultGuest()?.kernel].find((p): p is string => !!p && existsSync(p));

describe('the Debian 12 arm64 kernel', function () {
  before(function () {
    if (!DEBIAN_KERNEL) this.skip();
  });

  it('has the header the planner expects: LE, 4K pages, text_offset 0, placeable anywhere', () => {
    const boot = prepareLinuxBoot({ ram: { base: L.RAM_BASE, size: L.RAM_DEFAULT_SIZE }, kernel: DEBIAN_KERNEL!, initrd: new Uint8Array(0x100000), cmdline: 'console=ttyAMA0' });
    const h = boot.kernel.header;
    expect(h.pageSize).to.equal(4096);
    expect(h.textOffset).to.equal(0);
    expect(h.placeAnywhere).to.equal(true);
    expect(h.imageSize).to.be.greaterThan(boot.kernel.bytes.length); // BSS beyond the file
    expect(h.peHeaderOffset).to.be.greaterThan(0); // EFI stub present, booted directly here
    const { plan } = boot;
    expect(plan.kernelLoad % L.KERNEL_ALIGN).to.equal(0);
    expect(plan.kernelEnd).to.equal(plan.kernelLoad + h.imageSize);
    expect(plan.initrd!.start).to.be.at.least(plan.kernelEnd);
    expect(plan.initrd!.end).to.be.at.most(plan.dtbAddress);
    expect(plan.dtbAddress + L.FDT_MAX_SIZE).to.equal(L.RAM_BASE + L.RAM_DEFAULT_SIZE);
  });

  it('boots end to end into guest memory', () => {
    const { boot, state } = bootAndInspect(DEBIAN_KERNEL!, L.RAM_DEFAULT_SIZE);
    expect(state.pc).to.equal(BigInt(L.RAM_BASE));
    expect(boot.plan.initrd!.start).to.be.at.least(boot.plan.kernelEnd);
  });

  it(`fits the ${L.RAM_MIN_SIZE / L.MiB} MiB minimum RAM`, () => {
    const boot = prepareLinuxBoot({ ram: { base: L.RAM_BASE, size: L.RAM_MIN_SIZE }, kernel: DEBIAN_KERNEL!, cmdline: '' });
    expect(boot.plan.kernelEnd).to.be.below(boot.plan.dtbAddress);
  });
});
