// The machine's guest-physical memory map and interrupt numbers, in one place.
// Every address and INTID of the machine is here, each derived from another;
// devices never see these absolute addresses (the bus hands them offsets).
//
//  0x0000_0000 +---------------------------------------+
//              | unused (no boot ROM: direct kernel boot)|
//  0x0800_0000 +---------------------------------------+ GIC_DIST_BASE
//              | GICv3 distributor           64 KiB    |
//  0x080a_0000 +---------------------------------------+ GIC_REDIST_BASE
//              | GICv3 redistributors  128 KiB per vCPU |  (RD + SGI frames)
//              |   room for MAX_VCPUS = 123             |
//  0x0900_0000 +---------------------------------------+ PL011_BASE
//              | PL011 UART                   4 KiB    |
//  0x0901_0000 +---------------------------------------+ PL031_BASE
//              | PL031 RTC                    4 KiB    |
//  0x0902_0000 +---------------------------------------+ BOOT_TIMER_BASE
//              | boot-timer pseudo device     4 KiB    |
//  0x0a00_0000 +---------------------------------------+ VIRTIO_MMIO_BASE
//              | virtio-mmio slots, 512 B each, 32 slots|
//  0x0a00_4000 +---------------------------------------+
//              | unused                                 |
//  0x4000_0000 +---------------------------------------+ RAM_BASE
//              | guest RAM (kernel, initrd, DTB at top) |
//              |   up to the IPA limit                  |
//              +---------------------------------------+
//
// INTIDs: SGIs 0-15, PPIs 16-31 (timer PPIs per the arm,armv8-timer binding),
// SPIs from 32 (device tree cells count SPIs from 0, so a DT "SPI n" is INTID 32+n).

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

/** Apple Silicon maps stage 2 in 16 KiB pages; every mapped region aligns to this. */
export const HOST_PAGE_SIZE = 16 * KiB;

export const GIC_DIST_BASE = 0x0800_0000;
export const GIC_DIST_SIZE = 64 * KiB;
/** One redistributor = an RD_base frame and an SGI_base frame of 64 KiB each. */
export const GIC_REDIST_FRAME_SIZE = 64 * KiB;
export const GIC_REDIST_SIZE_PER_CPU = 2 * GIC_REDIST_FRAME_SIZE;
export const GIC_REDIST_BASE = GIC_DIST_BASE + 0xa * GIC_DIST_SIZE;

export const PL011_BASE = 0x0900_0000;
export const PL011_SIZE = 4 * KiB;
/** The redistributor window runs up to the first legacy device. */
export const GIC_REDIST_REGION_SIZE = PL011_BASE - GIC_REDIST_BASE;
/** vCPUs whose redistributors fit in the window. */
export const MAX_VCPUS = Math.floor(GIC_REDIST_REGION_SIZE / GIC_REDIST_SIZE_PER_CPU);

export const PL031_BASE = PL011_BASE + 16 * PL011_SIZE;
export const PL031_SIZE = 4 * KiB;
export const BOOT_TIMER_BASE = PL031_BASE + 16 * PL031_SIZE;
export const BOOT_TIMER_SIZE = 4 * KiB;

export const VIRTIO_MMIO_BASE = 0x0a00_0000;
export const VIRTIO_MMIO_SLOT_SIZE = 0x200;
export const VIRTIO_MMIO_SLOTS = 32;

/** Guest RAM starts at 1 GiB, as on QEMU's virt machine. */
export const RAM_BASE = 0x4000_0000;
export const RAM_DEFAULT_SIZE = 512 * MiB;
/** Smallest RAM that holds the stock kernel, an initramfs and the DTB. */
export const RAM_MIN_SIZE = 64 * MiB;

/** 36-bit IPA, HVF's default: RAM may not reach beyond it unless the IPA is raised. */
export const DEFAULT_IPA_BITS = 36;

// Linux arm64 boot protocol (Documentation/arch/arm64/booting.rst).
/** The kernel Image is placed at a 2 MiB-aligned base plus its text_offset. */
export const KERNEL_ALIGN = 2 * MiB;
/** The DTB must be 8-byte aligned and at most 2 MiB. */
export const FDT_MAX_SIZE = 2 * MiB;
export const FDT_ALIGN = 8;
/** Longest command line Linux accepts on arm64 (COMMAND_LINE_SIZE). */
export const CMDLINE_MAX_SIZE = 2048;

// Interrupts.
export const SGI_BASE = 0;
export const PPI_BASE = 16;
export const SPI_BASE = 32;
export const ppi = (n: number): number => PPI_BASE + n;
export const spi = (n: number): number => SPI_BASE + n;

/** arm,armv8-timer PPIs: secure physical, non-secure physical, virtual, hypervisor. */
export const TIMER_SEC_PHYS_PPI = 13;
export const TIMER_PHYS_PPI = 14;
export const TIMER_VIRT_PPI = 11;
export const TIMER_HYP_PPI = 10;
export const VTIMER_INTID = ppi(TIMER_VIRT_PPI);
/** PMU overflow interrupt, as HVF's in-kernel GIC reserves it. */
export const PMU_PPI = 7;

export const PL011_SPI = 1;
export const PL031_SPI = 2;
/** virtio-mmio slot n raises SPI VIRTIO_SPI_BASE + n. */
export const VIRTIO_SPI_BASE = 16;
/** SPIs the distributor implements (GICD_TYPER.ITLinesNumber covers them). */
export const SPI_COUNT = 96;

export function virtioMmioSlotBase(slot: number): number {
  if (!Number.isInteger(slot) || slot < 0 || slot >= VIRTIO_MMIO_SLOTS) {
    throw new RangeError(`virtio-mmio slot ${slot} outside 0..${VIRTIO_MMIO_SLOTS - 1}`);
  }
  return VIRTIO_MMIO_BASE + slot * VIRTIO_MMIO_SLOT_SIZE;
}

export function virtioMmioSlotSpi(slot: number): number {
  virtioMmioSlotBase(slot);
  return VIRTIO_SPI_BASE + slot;
}

export function gicRedistributorBase(cpu: number): number {
  if (!Number.isInteger(cpu) || cpu < 0 || cpu >= MAX_VCPUS) {
    throw new RangeError(`vCPU ${cpu} outside 0..${MAX_VCPUS - 1}`);
  }
  return GIC_REDIST_BASE + cpu * GIC_REDIST_SIZE_PER_CPU;
}

/** MPIDR_EL1 affinity of vCPU n: Aff0 = n % 16, Aff1 = n / 16 (GICv3 targets 16 per cluster). */
export function mpidrOf(cpu: number): number {
  return ((Math.floor(cpu / 16) & 0xff) << 8) | (cpu % 16);
}

/** Redistributor bytes that `cpus` vCPUs occupy from GIC_REDIST_BASE (one RD+SGI pair each). */
export function gicRedistributorRegionSize(cpus: number): number {
  gicRedistributorBase(cpus - 1);
  return cpus * GIC_REDIST_SIZE_PER_CPU;
}
