import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  DeviceTreeError, PHANDLE_APB_PCLK, PHANDLE_GIC, generateFdt, type MachineDescription,
} from '../../src/arch/arm64/fdt.ts';
import * as L from '../../src/arch/arm64/layout.ts';
import { findNode, parseFdt, propString, propStringList, propU32Array, propU64, type FdtNode } from '../../src/fdt/reader.ts';
import { compile, decompile, hasDtc, labelPhandles } from './dtc.ts';

const DTB_DIR = fileURLToPath(new URL('../../dtb/', import.meta.url));
const UPDATE = process.env.NODEVISOR_UPDATE_DTB === '1';
const PHANDLE_LABELS = new Map([[PHANDLE_GIC, 'intc'], [PHANDLE_APB_PCLK, 'apb_pclk']]);

/** A fixed "random" source so trees are reproducible. */
function fixedEntropy(seed: number): (n: number) => Uint8Array {
  let state = seed;
  return (n) => Uint8Array.from({ length: n }, () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state >>> 24;
  });
}

const CMDLINE = 'console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 panic=-1';

/** Fresh each call: the entropy source is stateful. */
const oneCpu = (): MachineDescription => ({
  cpus: 1,
  memory: { base: L.RAM_BASE, size: L.RAM_DEFAULT_SIZE },
  cmdline: CMDLINE,
  initrd: { start: 0x4240_0000, end: 0x4260_1000 },
  devices: [],
  entropy: fixedEntropy(1),
});

const fourCpuVirtio = (): MachineDescription => ({
  cpus: 4,
  memory: { base: L.RAM_BASE, size: 1 * L.GiB },
  cmdline: `${CMDLINE} root=/dev/vda rw`,
  initrd: { start: 0x4240_0000, end: 0x4280_0000 },
  devices: [
    { slot: 0, kind: 'block' },
    { slot: 1, kind: 'net' },
    { slot: 2, kind: 'rng' },
    { slot: 4, kind: 'vsock' },
    { slot: 3, kind: 'console' },
  ],
  entropy: fixedEntropy(4),
});

const prop = (node: FdtNode | undefined, name: string): Uint8Array => {
  const v = node?.properties.get(name);
  if (!v) throw new Error(`missing ${name}`);
  return v;
};

describe('arm64 machine device tree', () => {
  it('orders the root nodes as QEMU virt does', () => {
    const tree = parseFdt(generateFdt(fourCpuVirtio()));
    expect(tree.root.children.map((c) => c.name)).to.deep.equal([
      'psci', 'memory@40000000',
      'virtio_mmio@a000000', 'virtio_mmio@a000200', 'virtio_mmio@a000400', 'virtio_mmio@a000600', 'virtio_mmio@a000800',
      'pl031@9010000', 'pl011@9000000', 'intc@8000000', 'cpus', 'timer', 'apb-pclk', 'chosen',
    ]);
    const root = tree.root;
    expect(propString(prop(root, 'compatible'))).to.equal('linux,dummy-virt');
    expect(propU32Array(prop(root, '#address-cells'))).to.deep.equal([2]);
    expect(propU32Array(prop(root, 'interrupt-parent'))).to.deep.equal([PHANDLE_GIC]);
  });

  it('describes each vCPU by its MPIDR affinity', () => {
    const desc = { ...oneCpu(), cpus: 20 };
    const cpus = findNode(parseFdt(generateFdt(desc)).root, '/cpus')!;
    expect(cpus.children).to.have.length(20);
    expect(cpus.children[17].name).to.equal('cpu@101');
    cpus.children.forEach((cpu, i) => {
      expect(propU32Array(prop(cpu, 'reg'))).to.deep.equal([L.mpidrOf(i)]);
      expect(propString(prop(cpu, 'enable-method'))).to.equal('psci');
      expect(propString(prop(cpu, 'device_type'))).to.equal('cpu');
    });
  });

  it('uses the layout for RAM, GIC, timer PPIs and device interrupts', () => {
    const root = parseFdt(generateFdt(fourCpuVirtio())).root;
    expect(propU32Array(prop(findNode(root, '/memory@40000000'), 'reg'))).to.deep.equal([0, L.RAM_BASE, 0, L.GiB]);
    const gic = findNode(root, '/intc@8000000');
    expect(propU32Array(prop(gic, 'reg'))).to.deep.equal([
      0, L.GIC_DIST_BASE, 0, L.GIC_DIST_SIZE, 0, L.GIC_REDIST_BASE, 0, 4 * L.GIC_REDIST_SIZE_PER_CPU,
    ]);
    expect(propU32Array(prop(gic, 'phandle'))).to.deep.equal([PHANDLE_GIC]);
    expect(gic!.properties.has('interrupt-controller')).to.equal(true);
    const timer = propU32Array(prop(findNode(root, '/timer'), 'interrupts'));
    // Level-high, as QEMU virt, Firecracker and libkrun describe the timer PPIs.
    expect(timer).to.deep.equal([1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]);
    expect(timer[7] + L.PPI_BASE).to.equal(L.VTIMER_INTID);
    expect(propU32Array(prop(findNode(root, '/pl011@9000000'), 'interrupts'))).to.deep.equal([0, L.PL011_SPI, 4]);
    expect(propU32Array(prop(findNode(root, '/pl011@9000000'), 'clocks'))).to.deep.equal([PHANDLE_APB_PCLK, PHANDLE_APB_PCLK]);
    const vsock = findNode(root, `/virtio_mmio@${L.virtioMmioSlotBase(4).toString(16)}`);
    expect(propU32Array(prop(vsock, 'interrupts'))).to.deep.equal([0, L.virtioMmioSlotSpi(4), 1]);
    expect(vsock!.properties.has('dma-coherent')).to.equal(true);
  });

  it('fills /chosen with bootargs, console, initrd and injected seeds', () => {
    const chosen = findNode(parseFdt(generateFdt(oneCpu())).root, '/chosen');
    expect(propString(prop(chosen, 'bootargs'))).to.equal(CMDLINE);
    expect(propString(prop(chosen, 'stdout-path'))).to.equal('/pl011@9000000');
    expect(propU64(prop(chosen, 'linux,initrd-start'))).to.equal(0x4240_0000n);
    expect(propU64(prop(chosen, 'linux,initrd-end'))).to.equal(0x4260_1000n);
    const again = findNode(parseFdt(generateFdt({ ...oneCpu(), entropy: fixedEntropy(1) })).root, '/chosen');
    expect([...prop(chosen, 'rng-seed')]).to.deep.equal([...prop(again, 'rng-seed')]);
    expect(prop(chosen, 'rng-seed')).to.have.length(32);
    expect(prop(chosen, 'kaslr-seed')).to.have.length(8);
  });

  it('draws fresh seeds from the host when none are injected', () => {
    const { entropy: _, ...desc } = oneCpu();
    const a = findNode(parseFdt(generateFdt(desc)).root, '/chosen');
    const b = findNode(parseFdt(generateFdt(desc)).root, '/chosen');
    expect([...prop(a, 'rng-seed')]).to.not.deep.equal([...prop(b, 'rng-seed')]);
  });

  it('leaves out the serial, RTC, clock and initrd when absent', () => {
    const { initrd: _, ...desc } = oneCpu();
    const root = parseFdt(generateFdt({ ...desc, serial: false, rtc: false })).root;
    const names = root.children.map((c) => c.name);
    expect(names).to.not.include.members(['pl011@9000000', 'pl031@9010000', 'apb-pclk']);
    const chosen = findNode(root, '/chosen')!;
    expect([...chosen.properties.keys()]).to.deep.equal(['bootargs', 'rng-seed', 'kaslr-seed']);
  });

  it('rejects impossible machines', () => {
    const bad: Partial<MachineDescription>[] = [
      { cpus: 0 },
      { cpus: L.MAX_VCPUS + 1 },
      { memory: { base: 0x0900_0000, size: L.MiB } },
      { memory: { base: L.RAM_BASE, size: 0 } },
      { initrd: { start: 0x3000_0000, end: 0x3000_1000 } },
      { initrd: { start: 0x4300_0000, end: 0x4300_0000 } },
      { devices: [{ slot: 32, kind: 'net' }] },
      { devices: [{ slot: 1, kind: 'net' }, { slot: 1, kind: 'block' }] },
      { gic: { distBase: L.GIC_DIST_BASE, redistBase: L.GIC_REDIST_BASE, redistSize: 0 } },
      { entropy: () => new Uint8Array(3) },
    ];
    for (const b of bad) expect(() => generateFdt({ ...oneCpu(), ...b }), JSON.stringify(b)).to.throw(DeviceTreeError);
  });
});

describe('arm64 machine device tree against dtc and the references', function () {
  before(function () {
    if (!hasDtc) this.skip();
  });

  it(`stays warning-free with all ${L.MAX_VCPUS} vCPUs and every virtio slot`, () => {
    const devices = Array.from({ length: L.VIRTIO_MMIO_SLOTS }, (_, slot) => ({ slot, kind: 'block' as const }));
    const r = decompile(generateFdt({ ...fourCpuVirtio(), cpus: L.MAX_VCPUS, devices }));
    expect(r.stderr).to.equal('');
    expect(r.stdout.toString()).to.include(`cpu@${L.mpidrOf(L.MAX_VCPUS - 1).toString(16)} {`);
  });

  const cases: [string, () => MachineDescription][] = [
    ['nodevisor-1cpu.dts', oneCpu],
    ['nodevisor-4cpu-virtio.dts', fourCpuVirtio],
  ];
  for (const [file, desc] of cases) {
    it(`decompiles without warnings and matches dtb/${file}`, () => {
      const dtb = generateFdt(desc());
      const ours = decompile(dtb);
      expect(ours.stderr).to.equal('');
      expect(ours.status).to.equal(0);
      const path = DTB_DIR + file;
      if (UPDATE || !existsSync(path)) {
        if (!UPDATE) expect.fail(`${path} missing: run with NODEVISOR_UPDATE_DTB=1 and review it`);
        const header = `/dts-v1/;\n\n// Reference tree from src/arch/arm64/fdt.ts (test/fdt/machine-fdt.test.ts, fixed seeds).\n`
          + '// Regenerate with NODEVISOR_UPDATE_DTB=1 npx mocha test/fdt/machine-fdt.test.ts and review the diff.\n';
        writeFileSync(path, labelPhandles(ours.stdout.toString(), PHANDLE_LABELS).replace('/dts-v1/;\n', header));
      }
      const reference = compile(readFileSync(path, 'utf8'));
      expect(reference.stderr, 'dtc warnings on the reference').to.equal('');
      expect(reference.status).to.equal(0);
      // Compare as text first for a readable diff, then byte for byte.
      expect(ours.stdout.toString()).to.equal(decompile(reference.stdout).stdout.toString());
      expect(Buffer.compare(Buffer.from(dtb), reference.stdout)).to.equal(0);
    });
  }
});
