// The machine's device tree, built from a typed description with one small function per node.
// Names and order follow QEMU's virt machine (hw/arm/virt.c) so guests see familiar paths
// (/pl011@9000000, /intc@8000000, /virtio_mmio@a000000); every address and interrupt comes
// from layout.ts. Bindings: Documentation/devicetree/bindings/ in Linux (cpus.yaml,
// arm,gic-v3.yaml, arm,arch_timer.yaml, arm,psci.yaml, serial/pl011.yaml, rtc/pl031,
// virtio/mmio.yaml, chosen.yaml).
import { randomBytes } from 'node:crypto';
import { FdtWriter } from '../../fdt/writer.ts';
import {
  GIC_DIST_BASE, GIC_DIST_SIZE, GIC_REDIST_BASE, MAX_VCPUS, PL011_BASE, PL011_SIZE, PL011_SPI, PL031_BASE, PL031_SIZE,
  PL031_SPI, RAM_BASE, TIMER_HYP_PPI, TIMER_PHYS_PPI, TIMER_SEC_PHYS_PPI, TIMER_VIRT_PPI, VIRTIO_MMIO_SLOTS,
  VIRTIO_MMIO_SLOT_SIZE, gicRedistributorRegionSize, mpidrOf, virtioMmioSlotBase, virtioMmioSlotSpi,
} from './layout.ts';

export class DeviceTreeError extends Error {
  override readonly name = 'DeviceTreeError';
}

/** Phandles the tree refers to. */
export const PHANDLE_GIC = 1;
export const PHANDLE_APB_PCLK = 2;

// Interrupt specifier cells (include/dt-bindings/interrupt-controller/arm-gic.h, irq.h).
export const GIC_SPI = 0;
export const GIC_PPI = 1;
export const IRQ_TYPE_EDGE_RISING = 1;
export const IRQ_TYPE_LEVEL_HIGH = 4;
export const IRQ_TYPE_LEVEL_LOW = 8;

/** The fixed clock that feeds the PrimeCell devices, as on QEMU's virt. */
export const APB_PCLK_HZ = 24_000_000;
export const RNG_SEED_BYTES = 32;
export const DEFAULT_CPU_COMPATIBLE: readonly string[] = ['arm,cortex-a72', 'arm,armv8'];

export type VirtioDeviceKind = 'block' | 'net' | 'console' | 'rng' | 'vsock' | 'fs' | 'balloon' | 'gpu' | 'input';

export interface VirtioMmioDevice {
  /** Slot in the virtio-mmio window; address and SPI follow from it. */
  readonly slot: number;
  /** Informational: the transport node is the same for every kind. */
  readonly kind: VirtioDeviceKind;
}

export interface GicDescription {
  readonly distBase: number;
  readonly redistBase: number;
  readonly redistSize: number;
}

export interface MachineDescription {
  readonly cpus: number;
  readonly memory: { readonly base: number; readonly size: number };
  readonly cmdline: string;
  readonly initrd?: { readonly start: number; readonly end: number };
  readonly devices: readonly VirtioMmioDevice[];
  /** PL011 at PL011_BASE, and the console (stdout-path); default true. */
  readonly serial?: boolean;
  /** PL031 at PL031_BASE; default true. */
  readonly rtc?: boolean;
  /** Defaults to the layout's distributor and one redistributor per vCPU. */
  readonly gic?: GicDescription;
  readonly cpuCompatible?: readonly string[];
  /** Host randomness for rng-seed and kaslr-seed; inject a fixed source for reproducible trees. */
  readonly entropy?: (bytes: number) => Uint8Array;
}

const hex = (n: number): string => n.toString(16);
const regOf = (base: number, size: number): number[] => [base, size];

export function defaultGic(cpus: number): GicDescription {
  return { distBase: GIC_DIST_BASE, redistBase: GIC_REDIST_BASE, redistSize: gicRedistributorRegionSize(cpus) };
}

function validate(m: MachineDescription): void {
  if (!Number.isInteger(m.cpus) || m.cpus < 1 || m.cpus > MAX_VCPUS) {
    throw new DeviceTreeError(`vCPU count ${m.cpus} outside 1..${MAX_VCPUS}`);
  }
  const { base, size } = m.memory;
  if (!Number.isSafeInteger(base) || !Number.isSafeInteger(size) || size <= 0 || base < RAM_BASE || !Number.isSafeInteger(base + size)) {
    throw new DeviceTreeError(`memory 0x${hex(base)}+0x${hex(size)} is not a RAM range at or above 0x${hex(RAM_BASE)}`);
  }
  if (m.initrd) {
    const { start, end } = m.initrd;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start >= end || start < base || end > base + size) {
      throw new DeviceTreeError(`initrd 0x${hex(start)}..0x${hex(end)} is not inside RAM`);
    }
  }
  const slots = new Set<number>();
  for (const d of m.devices) {
    if (!Number.isInteger(d.slot) || d.slot < 0 || d.slot >= VIRTIO_MMIO_SLOTS) {
      throw new DeviceTreeError(`virtio-mmio slot ${d.slot} outside 0..${VIRTIO_MMIO_SLOTS - 1}`);
    }
    if (slots.has(d.slot)) throw new DeviceTreeError(`virtio-mmio slot ${d.slot} used twice`);
    slots.add(d.slot);
  }
  const gic = m.gic ?? defaultGic(m.cpus);
  if (gic.redistSize < gicRedistributorRegionSize(m.cpus)) {
    throw new DeviceTreeError(`redistributor region of 0x${hex(gic.redistSize)} bytes cannot hold ${m.cpus} vCPUs`);
  }
}

function createRootProperties(fdt: FdtWriter): void {
  fdt.propertyString('compatible', 'linux,dummy-virt');
  fdt.propertyString('model', 'nodevisor');
  fdt.propertyU32('#address-cells', 2);
  fdt.propertyU32('#size-cells', 2);
  fdt.propertyU32('interrupt-parent', PHANDLE_GIC);
}

function createPsciNode(fdt: FdtWriter): void {
  // PSCI 1.0 function IDs are discoverable, so no cpu_on/cpu_off properties (those are for "arm,psci").
  const node = fdt.beginNode('psci');
  fdt.propertyStringList('compatible', ['arm,psci-1.0', 'arm,psci-0.2']);
  fdt.propertyString('method', 'hvc');
  fdt.endNode(node);
}

function createMemoryNode(fdt: FdtWriter, m: MachineDescription): void {
  const node = fdt.beginNode(`memory@${hex(m.memory.base)}`);
  fdt.propertyString('device_type', 'memory');
  fdt.propertyArrayU64('reg', regOf(m.memory.base, m.memory.size));
  fdt.endNode(node);
}

function createVirtioNode(fdt: FdtWriter, device: VirtioMmioDevice): void {
  const base = virtioMmioSlotBase(device.slot);
  const node = fdt.beginNode(`virtio_mmio@${hex(base)}`);
  fdt.propertyString('compatible', 'virtio,mmio');
  fdt.propertyArrayU64('reg', regOf(base, VIRTIO_MMIO_SLOT_SIZE));
  // Edge-rising, as QEMU's virt: the transport's interrupt status register holds the level.
  fdt.propertyArrayU32('interrupts', [GIC_SPI, virtioMmioSlotSpi(device.slot), IRQ_TYPE_EDGE_RISING]);
  fdt.propertyNull('dma-coherent');
  fdt.endNode(node);
}

function createRtcNode(fdt: FdtWriter): void {
  const node = fdt.beginNode(`pl031@${hex(PL031_BASE)}`);
  fdt.propertyStringList('compatible', ['arm,pl031', 'arm,primecell']);
  fdt.propertyArrayU64('reg', regOf(PL031_BASE, PL031_SIZE));
  fdt.propertyArrayU32('interrupts', [GIC_SPI, PL031_SPI, IRQ_TYPE_LEVEL_HIGH]);
  fdt.propertyU32('clocks', PHANDLE_APB_PCLK);
  fdt.propertyString('clock-names', 'apb_pclk');
  fdt.endNode(node);
}

export const SERIAL_NODE_PATH = `/pl011@${hex(PL011_BASE)}`;

function createSerialNode(fdt: FdtWriter): void {
  const node = fdt.beginNode(SERIAL_NODE_PATH.slice(1));
  fdt.propertyStringList('compatible', ['arm,pl011', 'arm,primecell']);
  fdt.propertyArrayU64('reg', regOf(PL011_BASE, PL011_SIZE));
  fdt.propertyArrayU32('interrupts', [GIC_SPI, PL011_SPI, IRQ_TYPE_LEVEL_HIGH]);
  fdt.propertyArrayU32('clocks', [PHANDLE_APB_PCLK, PHANDLE_APB_PCLK]);
  fdt.propertyStringList('clock-names', ['uartclk', 'apb_pclk']);
  fdt.endNode(node);
}

function createGicNode(fdt: FdtWriter, gic: GicDescription): void {
  const node = fdt.beginNode(`intc@${hex(gic.distBase)}`);
  fdt.propertyString('compatible', 'arm,gic-v3');
  fdt.propertyU32('#interrupt-cells', 3);
  fdt.propertyNull('interrupt-controller');
  // Address cells (and an identity ranges) as on QEMU's virt: dtc wants #address-cells on an
  // interrupt provider, and they leave room for an ITS child node.
  fdt.propertyU32('#address-cells', 2);
  fdt.propertyU32('#size-cells', 2);
  fdt.propertyNull('ranges');
  // One contiguous redistributor region after the distributor.
  fdt.propertyArrayU64('reg', [...regOf(gic.distBase, GIC_DIST_SIZE), ...regOf(gic.redistBase, gic.redistSize)]);
  fdt.propertyU32('#redistributor-regions', 1);
  fdt.propertyPhandle(PHANDLE_GIC);
  fdt.endNode(node);
}

function createCpuNodes(fdt: FdtWriter, m: MachineDescription): void {
  const cpus = fdt.beginNode('cpus');
  // reg holds MPIDR_EL1 Aff0/Aff1, which fits one cell.
  fdt.propertyU32('#address-cells', 1);
  fdt.propertyU32('#size-cells', 0);
  for (let i = 0; i < m.cpus; i++) {
    const mpidr = mpidrOf(i);
    const cpu = fdt.beginNode(`cpu@${hex(mpidr)}`);
    fdt.propertyString('device_type', 'cpu');
    fdt.propertyStringList('compatible', m.cpuCompatible ?? DEFAULT_CPU_COMPATIBLE);
    fdt.propertyU32('reg', mpidr);
    fdt.propertyString('enable-method', 'psci');
    fdt.endNode(cpu);
  }
  fdt.endNode(cpus);
}

function createTimerNode(fdt: FdtWriter): void {
  // arm,arch_timer.yaml: secure phys, non-secure phys, virtual, hypervisor PPIs. GICv3 has no
  // CPU-mask bits in the flags cell (those are GICv2's), so the flags carry the trigger only.
  const node = fdt.beginNode('timer');
  fdt.propertyString('compatible', 'arm,armv8-timer');
  fdt.propertyArrayU32('interrupts', [TIMER_SEC_PHYS_PPI, TIMER_PHYS_PPI, TIMER_VIRT_PPI, TIMER_HYP_PPI]
    .flatMap((ppi) => [GIC_PPI, ppi, IRQ_TYPE_LEVEL_HIGH]));
  fdt.propertyNull('always-on');
  fdt.endNode(node);
}

function createClockNode(fdt: FdtWriter): void {
  const node = fdt.beginNode('apb-pclk');
  fdt.propertyString('compatible', 'fixed-clock');
  fdt.propertyU32('#clock-cells', 0);
  fdt.propertyU32('clock-frequency', APB_PCLK_HZ);
  fdt.propertyString('clock-output-names', 'clk24mhz');
  fdt.propertyPhandle(PHANDLE_APB_PCLK);
  fdt.endNode(node);
}

function createChosenNode(fdt: FdtWriter, m: MachineDescription): void {
  const entropy = m.entropy ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const node = fdt.beginNode('chosen');
  fdt.propertyString('bootargs', m.cmdline);
  if (m.serial ?? true) fdt.propertyString('stdout-path', SERIAL_NODE_PATH);
  if (m.initrd) {
    fdt.propertyU64('linux,initrd-start', m.initrd.start);
    fdt.propertyU64('linux,initrd-end', m.initrd.end);
  }
  // The kernel consumes (and wipes) both: rng-seed feeds the entropy pool, kaslr-seed the
  // KASLR offset when the CPU has no RNDR.
  const rng = entropy(RNG_SEED_BYTES);
  const kaslr = entropy(8);
  if (rng.length !== RNG_SEED_BYTES || kaslr.length !== 8) throw new DeviceTreeError('entropy source returned the wrong length');
  fdt.propertyBytes('rng-seed', rng);
  fdt.propertyBytes('kaslr-seed', kaslr);
  fdt.endNode(node);
}

/** The DTB for machine `m`, in the node order of QEMU's virt machine. */
export function generateFdt(m: MachineDescription): Uint8Array {
  validate(m);
  const fdt = new FdtWriter();
  fdt.setBootCpuId(mpidrOf(0));
  const root = fdt.beginNode('');
  createRootProperties(fdt);
  createPsciNode(fdt);
  createMemoryNode(fdt, m);
  for (const device of [...m.devices].sort((a, b) => a.slot - b.slot)) createVirtioNode(fdt, device);
  if (m.rtc ?? true) createRtcNode(fdt);
  if (m.serial ?? true) createSerialNode(fdt);
  createGicNode(fdt, m.gic ?? defaultGic(m.cpus));
  createCpuNodes(fdt, m);
  createTimerNode(fdt);
  if ((m.serial ?? true) || (m.rtc ?? true)) createClockNode(fdt);
  createChosenNode(fdt, m);
  fdt.endNode(root);
  return fdt.finish();
}
