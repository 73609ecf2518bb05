import { expect } from 'chai';
import * as L from '../../src/arch/arm64/layout.ts';

describe('arm64 memory map', () => {
  it('keeps every device window disjoint and below RAM', () => {
    const windows: [string, number, number][] = [
      ['gicd', L.GIC_DIST_BASE, L.GIC_DIST_SIZE],
      ['gicr', L.GIC_REDIST_BASE, L.GIC_REDIST_REGION_SIZE],
      ['pl011', L.PL011_BASE, L.PL011_SIZE],
      ['pl031', L.PL031_BASE, L.PL031_SIZE],
      ['boot-timer', L.BOOT_TIMER_BASE, L.BOOT_TIMER_SIZE],
      ['virtio', L.VIRTIO_MMIO_BASE, L.VIRTIO_MMIO_SLOTS * L.VIRTIO_MMIO_SLOT_SIZE],
    ];
    windows.sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < windows.length; i++) {
      expect(windows[i][1], `${windows[i][0]} after ${windows[i - 1][0]}`).to.be.at.least(windows[i - 1][1] + windows[i - 1][2]);
    }
    const last = windows[windows.length - 1];
    expect(last[1] + last[2]).to.be.at.most(L.RAM_BASE);
  });

  it('aligns what HVF maps or configures to 16/64 KiB', () => {
    expect(L.RAM_BASE % L.HOST_PAGE_SIZE).to.equal(0);
    expect(L.GIC_DIST_BASE % (64 * 1024)).to.equal(0);
    expect(L.GIC_REDIST_BASE % (64 * 1024)).to.equal(0);
  });

  it('derives the vCPU limit from the redistributor window', () => {
    expect(L.MAX_VCPUS).to.equal(123);
    expect(L.gicRedistributorBase(L.MAX_VCPUS - 1) + L.GIC_REDIST_SIZE_PER_CPU).to.be.at.most(L.PL011_BASE);
    expect(() => L.gicRedistributorBase(L.MAX_VCPUS)).to.throw(RangeError);
  });

  it('numbers interrupts as the GIC and the device tree expect', () => {
    expect(L.VTIMER_INTID).to.equal(27);
    expect(L.spi(L.PL011_SPI)).to.equal(33);
    expect(L.virtioMmioSlotSpi(0)).to.equal(L.VIRTIO_SPI_BASE);
    expect(L.virtioMmioSlotBase(31)).to.equal(0x0a00_3e00);
    expect(() => L.virtioMmioSlotBase(32)).to.throw(RangeError);
    expect(L.spi(L.virtioMmioSlotSpi(31))).to.be.below(L.SPI_BASE + L.SPI_COUNT);
  });

  it('gives each vCPU a GICv3 affinity', () => {
    expect(L.mpidrOf(0)).to.equal(0);
    expect(L.mpidrOf(15)).to.equal(15);
    expect(L.mpidrOf(16)).to.equal(0x100);
  });
});
