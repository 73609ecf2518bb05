import { expect } from 'chai';
import { GicV3, GicError } from '../../../src/devices/gic/gicv3.ts';
import { ICC } from '../../../src/devices/gic/registers.ts';
import { InKernelGicSink } from '../../../src/devices/gic/in-kernel.ts';
import { MmioBus } from '../../../src/bus/mmio-bus.ts';
import { spiLine } from '../../../src/devices/interrupt.ts';
import { sysRegId } from '../../../src/accel/sysregs.ts';
import {
  GIC_DIST_BASE, GIC_DIST_SIZE, GIC_REDIST_BASE, GIC_REDIST_REGION_SIZE, GIC_REDIST_SIZE_PER_CPU,
  SPI_COUNT, VTIMER_INTID, mpidrOf, spi, PL011_SPI,
} from '../../../src/arch/arm64/layout.ts';

// Register offsets, spelled out as a guest driver would use them.
const GICD_CTLR = 0x0, GICD_TYPER = 0x4, GICD_IIDR = 0x8, GICD_IGROUPR = 0x80, GICD_ISENABLER = 0x100,
  GICD_ICENABLER = 0x180, GICD_ISPENDR = 0x200, GICD_ICPENDR = 0x280, GICD_ISACTIVER = 0x300,
  GICD_ICACTIVER = 0x380, GICD_IPRIORITYR = 0x400, GICD_ICFGR = 0xc00, GICD_IROUTER = 0x6000, PIDR2 = 0xffe8;
const GICR_CTLR = 0x0, GICR_TYPER = 0x8, GICR_WAKER = 0x14, SGI = 0x10000;

class Warnings {
  readonly lines: string[] = [];
  warn(msg: string) { this.lines.push(msg); }
  debug() {}
}

function machine(vcpuCount = 4) {
  const log = new Warnings();
  const gic = new GicV3({ vcpuCount, logger: log });
  const bus = new MmioBus();
  bus.insert(gic.distributor, GIC_DIST_BASE, GIC_DIST_SIZE);
  bus.insert(gic.redistributors, GIC_REDIST_BASE, GIC_REDIST_REGION_SIZE);
  const kicks: number[] = [];
  gic.onPendingChange = (cpu) => kicks.push(cpu);
  const rd = (off: number, size = 4, cpu = 0) => {
    const r = bus.read(GIC_DIST_BASE + off, size, cpu);
    if (!r.handled) throw new Error('unhandled');
    return r.value;
  };
  const wd = (off: number, v: number | bigint, size = 4, cpu = 0) => bus.write(GIC_DIST_BASE + off, size, v, cpu);
  const rr = (cpu: number, off: number, size = 4) => {
    const r = bus.read(GIC_REDIST_BASE + cpu * GIC_REDIST_SIZE_PER_CPU + off, size);
    if (!r.handled) throw new Error('unhandled');
    return r.value;
  };
  const wr = (cpu: number, off: number, v: number, size = 4) => bus.write(GIC_REDIST_BASE + cpu * GIC_REDIST_SIZE_PER_CPU + off, size, v);
  const sys = (cpu: number) => gic.cpuInterface(cpu);
  const iar1 = (cpu: number) => Number(sys(cpu).readSysReg(ICC.IAR1_EL1));
  const eoi1 = (cpu: number, intid: number) => sys(cpu).writeSysReg(ICC.EOIR1_EL1, BigInt(intid));
  const bitOf = (off: number, intid: number) => ((rd(off + 4 * (intid >> 5)) as number) >>> (intid & 31)) & 1;

  /** What Linux's gic_dist_init/gic_cpu_init/gic_cpu_sys_reg_init do, in short. */
  function linuxInit() {
    wd(GICD_CTLR, 0);
    for (let n = 1; n <= SPI_COUNT / 32; n++) wd(GICD_IGROUPR + 4 * n, 0xffffffff);
    for (let i = 32; i < 32 + SPI_COUNT; i += 4) wd(GICD_IPRIORITYR + i, 0xa0a0a0a0);
    wd(GICD_CTLR, 0x13); // ARE_NS | EnableGrp1A | EnableGrp1
    for (let cpu = 0; cpu < vcpuCount; cpu++) {
      wr(cpu, GICR_WAKER, (rr(cpu, GICR_WAKER) as number) & ~2);
      expect((rr(cpu, GICR_WAKER) as number) & 4, 'ChildrenAsleep clears').to.equal(0);
      wr(cpu, SGI + 0x80, 0xffffffff); // IGROUPR0: all group 1
      for (let i = 0; i < 32; i += 4) wr(cpu, SGI + 0x400 + i, 0xa0a0a0a0);
      expect(sys(cpu).readSysReg(ICC.SRE_EL1)! & 1n).to.equal(1n);
      sys(cpu).writeSysReg(ICC.PMR_EL1, 0xf0n);
      sys(cpu).writeSysReg(ICC.BPR1_EL1, 0n);
      sys(cpu).writeSysReg(ICC.CTLR_EL1, 0n);
      sys(cpu).writeSysReg(ICC.IGRPEN1_EL1, 1n);
    }
  }
  return { gic, bus, log, kicks, rd, wd, rr, wr, sys, iar1, eoi1, bitOf, linuxInit };
}

describe('GICv3 distributor and redistributor registers', () => {
  it('identifies as a GICv3 with affinity routing, one security state and the layout SPIs', () => {
    const m = machine();
    expect(m.rd(GICD_CTLR)).to.equal(0x50); // ARE | DS, groups disabled at reset
    const typer = m.rd(GICD_TYPER) as number;
    expect(((typer & 0x1f) + 1) * 32).to.equal(32 + SPI_COUNT);
    expect((typer >>> 19) & 0x1f, 'IDbits').to.equal(9);
    expect((m.rd(PIDR2) as number) & 0xf0).to.equal(0x30);
    expect((m.rr(0, PIDR2) as number) & 0xf0).to.equal(0x30);
    expect((m.rr(0, SGI + PIDR2) as number) & 0xf0).to.equal(0x30);
    expect((m.rd(GICD_IIDR) as number) & 0xfff).to.equal(0x43b);
    m.wd(GICD_CTLR, 0); // ARE and DS stay set
    expect(m.rd(GICD_CTLR)).to.equal(0x50);
    expect(m.log.lines).to.deep.equal([]);
  });

  it('reports each redistributor with its MPIDR affinity, processor number and Last on the final one', () => {
    const m = machine(18);
    for (let cpu = 0; cpu < 18; cpu++) {
      const typer = m.rr(cpu, GICR_TYPER, 8) as bigint;
      expect(Number(typer >> 32n), `cpu ${cpu} affinity`).to.equal(mpidrOf(cpu));
      expect(Number((typer >> 8n) & 0xffffn)).to.equal(cpu);
      expect(Number(typer & 0x10n) !== 0, `cpu ${cpu} Last`).to.equal(cpu === 17);
      expect(m.rr(cpu, GICR_TYPER + 4)).to.equal(Number(typer >> 32n));
      expect(m.rr(cpu, GICR_TYPER)).to.equal(Number(typer & 0xffffffffn));
    }
    expect(Number((m.rr(17, GICR_TYPER, 8) as bigint) >> 32n)).to.equal(0x101); // Aff1 = 1, Aff0 = 1
    // A redistributor walk past the last frame finds nothing (PIDR2 reads 0).
    expect(m.rr(18, PIDR2)).to.equal(0);
    expect(m.gic.redistributors.size).to.equal(18 * GIC_REDIST_SIZE_PER_CPU);
  });

  it('runs the GICR_WAKER ProcessorSleep / ChildrenAsleep handshake', () => {
    const m = machine(2);
    expect(m.rr(1, GICR_WAKER)).to.equal(6);
    m.wr(1, GICR_WAKER, 0);
    expect(m.rr(1, GICR_WAKER)).to.equal(0);
    expect(m.rr(0, GICR_WAKER), 'banked per vCPU').to.equal(6);
    m.wr(1, GICR_WAKER, 2);
    expect(m.rr(1, GICR_WAKER)).to.equal(6);
    expect(m.rr(1, GICR_CTLR), 'RWP never set').to.equal(0);
  });

  it('keeps priorities in 5 bits and lets IPRIORITYR be accessed by byte', () => {
    const m = machine();
    const intid = spi(5);
    m.wd(GICD_IPRIORITYR + intid, 0x87, 1);
    expect(m.rd(GICD_IPRIORITYR + intid, 1)).to.equal(0x80);
    m.wd(GICD_IPRIORITYR + (intid & ~3), 0x11223344);
    expect(m.rd(GICD_IPRIORITYR + (intid & ~3))).to.equal(0x10203040);
    expect(m.rd(GICD_IPRIORITYR + (intid & ~3) + 2, 2)).to.equal(0x1020);
    // SGI/PPI priorities live in the redistributor under affinity routing.
    m.wd(GICD_IPRIORITYR + 27, 0x80, 1);
    expect(m.rd(GICD_IPRIORITYR + 27, 1)).to.equal(0);
    m.wr(2, SGI + 0x400 + 27, 0x80, 1);
    expect(m.rr(2, SGI + 0x400 + 27, 1)).to.equal(0x80);
    expect(m.rr(1, SGI + 0x400 + 27, 1)).to.equal(0);
  });

  it('configures edge/level in ICFGR; SGIs are always edge', () => {
    const m = machine();
    expect(m.rr(0, SGI + 0xc00)).to.equal(0xaaaaaaaa);
    m.wr(0, SGI + 0xc00, 0);
    expect(m.rr(0, SGI + 0xc00)).to.equal(0xaaaaaaaa);
    m.wr(0, SGI + 0xc04, 0x2 << 2 * (VTIMER_INTID - 16));
    expect(m.rr(0, SGI + 0xc04)).to.equal(0x2 << 2 * (VTIMER_INTID - 16));
    m.wd(GICD_ICFGR + 8, 0xffffffff); // INTIDs 32..47: reserved bit 0 stays 0
    expect(m.rd(GICD_ICFGR + 8)).to.equal(0xaaaaaaaa);
  });

  it('stores IROUTER as 64 bits or two halves, with IRM read as zero', () => {
    const m = machine();
    const off = GICD_IROUTER + 8 * spi(3);
    m.wd(off, 0x0000_00ff_8001_0203n, 8);
    expect(m.rd(off, 8)).to.equal(0x0000_00ff_0001_0203n);
    m.wd(off, 0x0102, 4);
    m.wd(off + 4, 0, 4);
    expect(m.rd(off, 8)).to.equal(0x0102n);
    expect(m.rd(off, 4)).to.equal(0x0102);
  });

  it('logs unknown, misaligned and wrongly sized accesses, reads them as zero and never throws', () => {
    const m = machine();
    expect(m.rd(0x2, 2)).to.equal(0); // misaligned
    expect(m.rd(GICD_ISENABLER + 4, 1)).to.equal(0); // byte access to a word register
    expect(m.rd(0x5000)).to.equal(0); // reserved
    m.wd(0x5000, 1);
    m.wd(GICD_TYPER, 0);
    expect(m.rr(0, 0x40)).to.equal(0);
    m.wr(0, SGI + 0x2000, 1);
    expect(m.rr(0, GICR_TYPER, 2)).to.equal(0);
    expect(m.log.lines.length).to.equal(8);
    expect(m.log.lines.every((l) => /^gic: /.test(l))).to.equal(true);
  });

  it('rejects impossible configurations from the VMM', () => {
    expect(() => new GicV3({ vcpuCount: 0 })).to.throw(GicError);
    expect(() => new GicV3({ vcpuCount: 124 })).to.throw(GicError);
    expect(() => new GicV3({ vcpuCount: 1, spiCount: 33 })).to.throw(GicError);
    const gic = new GicV3({ vcpuCount: 1 });
    expect(() => gic.setSpi(31, true)).to.throw(GicError);
    expect(() => gic.setSpi(32 + SPI_COUNT, true)).to.throw(GicError);
    expect(() => gic.setPpi(0, 32, true)).to.throw(GicError);
    expect(() => gic.setPpi(1, 27, true)).to.throw(GicError);
  });
});

describe('GICv3 interrupt delivery', () => {
  const UART = spi(PL011_SPI);

  function enableSpi(m: ReturnType<typeof machine>, intid: number, cpu = 0) {
    m.wd(GICD_IROUTER + 8 * intid, BigInt(mpidrOf(cpu)), 8);
    m.wd(GICD_ISENABLER + 4 * (intid >> 5), 1 << (intid & 31));
  }

  it('delivers a level SPI: pending while high, active after IAR, pending again after EOI if still high', () => {
    const m = machine();
    m.linuxInit();
    enableSpi(m, UART);
    const line = spiLine(m.gic, UART);
    expect(m.gic.irqPending(0)).to.equal(false);
    m.kicks.length = 0;
    line.setLevel(true);
    expect(m.gic.irqPending(0)).to.equal(true);
    expect(m.kicks).to.deep.equal([0]);
    expect(Number(m.sys(0).readSysReg(ICC.HPPIR1_EL1))).to.equal(UART);
    expect(m.iar1(0)).to.equal(UART);
    expect(m.bitOf(GICD_ISACTIVER, UART)).to.equal(1);
    expect(m.bitOf(GICD_ISPENDR, UART), 'active and pending: the line is still high').to.equal(1);
    expect(m.gic.irqPending(0), 'an active interrupt is not signalled again').to.equal(false);
    expect(Number(m.sys(0).readSysReg(ICC.RPR_EL1))).to.equal(0xa0);
    expect(m.iar1(0)).to.equal(1023);
    m.eoi1(0, UART);
    expect(m.bitOf(GICD_ISACTIVER, UART)).to.equal(0);
    expect(Number(m.sys(0).readSysReg(ICC.RPR_EL1))).to.equal(0xff);
    expect(m.gic.irqPending(0), 'line still high').to.equal(true);
    expect(m.iar1(0)).to.equal(UART);
    line.setLevel(false);
    m.eoi1(0, UART);
    expect(m.gic.irqPending(0)).to.equal(false);
    expect(m.bitOf(GICD_ISPENDR, UART)).to.equal(0);
    expect(m.iar1(0)).to.equal(1023);
  });

  it('keeps a level interrupt pending through ICPENDR while its line is high; ISPENDR latches', () => {
    const m = machine();
    m.linuxInit();
    enableSpi(m, UART);
    m.gic.setSpi(UART, true);
    m.wd(GICD_ICPENDR + 4, 1 << (UART - 32));
    expect(m.bitOf(GICD_ISPENDR, UART)).to.equal(1);
    m.gic.setSpi(UART, false);
    expect(m.gic.irqPending(0)).to.equal(false);
    m.wd(GICD_ISPENDR + 4, 1 << (UART - 32));
    expect(m.gic.irqPending(0)).to.equal(true);
    expect(m.iar1(0)).to.equal(UART);
    m.eoi1(0, UART);
    expect(m.gic.irqPending(0), 'software pending is consumed by the acknowledge').to.equal(false);
  });

  it('latches edge-triggered interrupts, including a new edge while active', () => {
    const m = machine();
    m.linuxInit();
    const intid = spi(20);
    m.wd(GICD_ICFGR + 4 * (intid >> 4), 2 << 2 * (intid & 15));
    enableSpi(m, intid);
    m.gic.setSpi(intid, true);
    m.gic.setSpi(intid, false);
    expect(m.gic.irqPending(0), 'edge latched after the line dropped').to.equal(true);
    expect(m.iar1(0)).to.equal(intid);
    expect(m.bitOf(GICD_ISPENDR, intid)).to.equal(0);
    m.gic.setSpi(intid, true); // second edge while active
    m.gic.setSpi(intid, true); // holding high is not another edge
    expect(m.bitOf(GICD_ISPENDR, intid)).to.equal(1);
    expect(m.gic.irqPending(0)).to.equal(false);
    m.eoi1(0, intid);
    expect(m.iar1(0)).to.equal(intid);
    m.eoi1(0, intid);
    expect(m.iar1(0), 'one edge, one delivery').to.equal(1023);
  });

  it('masks by PMR, by the distributor and CPU group enables, and by a sleeping redistributor', () => {
    const m = machine();
    m.linuxInit();
    enableSpi(m, UART);
    m.gic.setSpi(UART, true);
    expect(m.gic.irqPending(0)).to.equal(true);
    m.sys(0).writeSysReg(ICC.PMR_EL1, 0xa0n); // equal priority is masked
    expect(m.gic.irqPending(0)).to.equal(false);
    expect(m.iar1(0)).to.equal(1023);
    expect(Number(m.sys(0).readSysReg(ICC.HPPIR1_EL1)), 'HPPIR ignores the mask').to.equal(UART);
    m.sys(0).writeSysReg(ICC.PMR_EL1, 0xa8n);
    expect(m.gic.irqPending(0)).to.equal(true);
    m.wd(GICD_CTLR, 0x10);
    expect(m.gic.irqPending(0)).to.equal(false);
    m.wd(GICD_CTLR, 0x12);
    expect(m.gic.irqPending(0)).to.equal(true);
    m.sys(0).writeSysReg(ICC.IGRPEN1_EL1, 0n);
    expect(m.gic.irqPending(0)).to.equal(false);
    m.sys(0).writeSysReg(ICC.IGRPEN1_EL1, 1n);
    m.wr(0, GICR_WAKER, 2);
    expect(m.gic.irqPending(0)).to.equal(false);
    m.wr(0, GICR_WAKER, 0);
    m.wd(GICD_ICENABLER + 4, 1 << (UART - 32));
    expect(m.gic.irqPending(0)).to.equal(false);
    expect(m.bitOf(GICD_ISPENDR, UART), 'disabled interrupts still pend').to.equal(1);
  });

  it('acknowledges by priority (lowest INTID on ties) and preempts only with a higher group priority', () => {
    const m = machine();
    m.linuxInit();
    const [a, b, c] = [spi(10), spi(11), spi(12)];
    for (const i of [a, b, c]) enableSpi(m, i);
    m.wd(GICD_IPRIORITYR + c, 0x80, 1);
    m.gic.setSpi(b, true);
    m.gic.setSpi(a, true);
    expect(m.iar1(0)).to.equal(a); // a and b tie at 0xa0
    expect(m.gic.irqPending(0), 'b has the running priority: no preemption').to.equal(false);
    m.gic.setSpi(c, true);
    expect(m.gic.irqPending(0), 'c (0x80) preempts a (0xa0)').to.equal(true);
    expect(m.iar1(0)).to.equal(c);
    expect(Number(m.sys(0).readSysReg(ICC.RPR_EL1))).to.equal(0x80);
    expect(m.sys(0).readSysReg(ICC.AP1R0_EL1)).to.equal((1n << 16n) | (1n << 20n));
    m.gic.setSpi(c, false);
    m.eoi1(0, c);
    expect(Number(m.sys(0).readSysReg(ICC.RPR_EL1))).to.equal(0xa0);
    m.gic.setSpi(a, false);
    m.eoi1(0, a);
    expect(m.iar1(0)).to.equal(b);
  });

  it('with a coarse BPR1, equal group priorities do not preempt', () => {
    const m = machine();
    m.linuxInit();
    const [lo, hi] = [spi(1), spi(2)];
    enableSpi(m, lo);
    enableSpi(m, hi);
    m.wd(GICD_IPRIORITYR + lo, 0xb8, 1);
    m.wd(GICD_IPRIORITYR + hi, 0xa8, 1);
    m.sys(0).writeSysReg(ICC.BPR1_EL1, 5n); // group priority = bits [7:5]: 0xb8 and 0xa8 -> 0xa0
    expect(m.sys(0).readSysReg(ICC.BPR1_EL1)).to.equal(5n);
    m.gic.setSpi(lo, true);
    expect(m.iar1(0)).to.equal(lo);
    m.gic.setSpi(hi, true);
    expect(m.gic.irqPending(0)).to.equal(false);
    expect(Number(m.sys(0).readSysReg(ICC.HPPIR1_EL1))).to.equal(hi);
    m.eoi1(0, lo);
    m.gic.setSpi(lo, false);
    expect(m.iar1(0)).to.equal(hi);
    m.sys(0).writeSysReg(ICC.BPR1_EL1, 0n);
    expect(m.sys(0).readSysReg(ICC.BPR1_EL1), 'clamped to the minimum').to.equal(3n);
  });

  it('splits priority drop and deactivation with EOImode = 1 and ICC_DIR_EL1', () => {
    const m = machine();
    m.linuxInit();
    enableSpi(m, UART);
    m.sys(0).writeSysReg(ICC.CTLR_EL1, 2n);
    expect(Number(m.sys(0).readSysReg(ICC.CTLR_EL1)) & 0x702).to.equal(0x402); // PRIbits = 4, EOImode
    m.gic.setSpi(UART, true);
    expect(m.iar1(0)).to.equal(UART);
    m.eoi1(0, UART);
    expect(Number(m.sys(0).readSysReg(ICC.RPR_EL1)), 'priority dropped').to.equal(0xff);
    expect(m.bitOf(GICD_ISACTIVER, UART), 'still active').to.equal(1);
    expect(m.gic.irqPending(0)).to.equal(false);
    m.sys(0).writeSysReg(ICC.DIR_EL1, BigInt(UART));
    expect(m.bitOf(GICD_ISACTIVER, UART)).to.equal(0);
    expect(m.gic.irqPending(0), 'line still high').to.equal(true);
    // In EOImode 0, DIR is ignored.
    m.sys(0).writeSysReg(ICC.CTLR_EL1, 0n);
    expect(m.iar1(0)).to.equal(UART);
    m.sys(0).writeSysReg(ICC.DIR_EL1, BigInt(UART));
    expect(m.bitOf(GICD_ISACTIVER, UART)).to.equal(1);
  });

  it('routes SPIs by IROUTER affinity and drops them for an absent affinity', () => {
    const m = machine(4);
    m.linuxInit();
    enableSpi(m, UART, 2);
    m.gic.setSpi(UART, true);
    expect([0, 1, 2, 3].map((c) => m.gic.irqPending(c))).to.deep.equal([false, false, true, false]);
    m.kicks.length = 0;
    m.wd(GICD_IROUTER + 8 * UART, 0x0100n, 8); // Aff1 = 1: no such vCPU with 4 vCPUs
    expect([0, 1, 2, 3].map((c) => m.gic.irqPending(c))).to.deep.equal([false, false, false, false]);
    expect(m.kicks).to.deep.equal([2]);
    m.wd(GICD_IROUTER + 8 * UART, 3n, 8);
    expect(m.gic.irqPending(3)).to.equal(true);
    expect(m.iar1(3)).to.equal(UART);
  });

  it('raises the virtual timer PPI per vCPU as a level', () => {
    const m = machine(2);
    m.linuxInit();
    m.wr(1, SGI + 0x100, 1 << VTIMER_INTID);
    m.gic.setPpi(1, VTIMER_INTID, true);
    expect(m.gic.irqPending(0)).to.equal(false);
    expect(m.gic.irqPending(1)).to.equal(true);
    expect((m.rr(1, SGI + 0x200) as number) >>> VTIMER_INTID & 1).to.equal(1);
    expect(m.iar1(1)).to.equal(VTIMER_INTID);
    m.gic.setPpi(1, VTIMER_INTID, false);
    m.eoi1(1, VTIMER_INTID);
    expect(m.gic.irqPending(1)).to.equal(false);
  });

  it('lets the VMM resample a level source when the guest deactivates it', () => {
    const m = machine(1);
    m.linuxInit();
    m.wr(0, SGI + 0x100, 1 << VTIMER_INTID);
    let timerFiring = true;
    m.gic.onDeactivate = (cpu, intid) => { if (intid === VTIMER_INTID) m.gic.setPpi(cpu, intid, timerFiring); };
    m.gic.setPpi(0, VTIMER_INTID, true);
    expect(m.iar1(0)).to.equal(VTIMER_INTID);
    timerFiring = false; // the guest reprogrammed CNTV_CVAL in its handler
    m.eoi1(0, VTIMER_INTID);
    expect(m.gic.irqPending(0)).to.equal(false);
    expect((m.rr(0, SGI + 0x200) as number) >>> VTIMER_INTID & 1).to.equal(0);
  });

  it('banks SGI/PPI pending, active and group state in each SGI frame', () => {
    const m = machine(2);
    m.wr(1, SGI + 0x80, 0x0000_00f0);
    expect(m.rr(1, SGI + 0x80)).to.equal(0xf0);
    expect(m.rr(0, SGI + 0x80)).to.equal(0);
    m.wr(1, SGI + 0x200, 0x0001_0002); // ISPENDR0: SGI 1 and PPI 16
    m.wr(1, SGI + 0x300, 0x8000_0000); // ISACTIVER0: PPI 31
    expect([m.rr(1, SGI + 0x200), m.rr(1, SGI + 0x280), m.rr(1, SGI + 0x300)]).to.deep.equal([0x10002, 0x10002, 0x80000000]);
    m.wr(1, SGI + 0x280, 0x2);
    m.wr(1, SGI + 0x380, 0x8000_0000);
    expect([m.rr(1, SGI + 0x200), m.rr(1, SGI + 0x300)]).to.deep.equal([0x10000, 0]);
    m.wr(1, SGI + 0x100, 0xffff_ffff);
    m.wr(1, SGI + 0x180, 0x0000_ffff);
    expect([m.rr(1, SGI + 0x100), m.rr(1, SGI + 0x180), m.rr(0, SGI + 0x100)]).to.deep.equal([0xffff0000, 0xffff0000, 0]);
    expect(m.rr(1, SGI + 0x104), 'no SPIs in the redistributor').to.equal(0);
  });

  it('sends SGIs from ICC_SGI1R_EL1 to the target list, within an Aff1 cluster, and broadcasts with IRM', () => {
    const m = machine(20);
    m.linuxInit();
    for (let cpu = 0; cpu < 20; cpu++) m.wr(cpu, SGI + 0x100, 0xffff);
    const sgi = (from: number, v: bigint) => m.sys(from).writeSysReg(ICC.SGI1R_EL1, v);
    const pending = () => Array.from({ length: 20 }, (_, c) => m.gic.irqPending(c));
    sgi(0, (3n << 24n) | 0b0110n); // INTID 3 to vCPUs 1 and 2
    expect(pending().map((p, c) => (p ? c : -1)).filter((c) => c >= 0)).to.deep.equal([1, 2]);
    expect(m.iar1(1)).to.equal(3);
    expect(m.iar1(2)).to.equal(3);
    m.eoi1(1, 3);
    m.eoi1(2, 3);
    sgi(0, (5n << 24n) | (1n << 16n) | 0b10n); // Aff1 = 1, Aff0 = 1: vCPU 17
    expect(pending().map((p, c) => (p ? c : -1)).filter((c) => c >= 0)).to.deep.equal([17]);
    expect(m.iar1(17)).to.equal(5);
    m.eoi1(17, 5);
    sgi(4, (1n << 40n) | (7n << 24n)); // IRM: everyone but the sender
    expect(pending().map((p, c) => (p ? c : -1)).filter((c) => c >= 0)).to.deep.equal(
      Array.from({ length: 20 }, (_, c) => c).filter((c) => c !== 4));
    expect(m.iar1(19)).to.equal(7);
  });

  it('delivers group 0 interrupts as FIQ and keeps IAR1 from taking them', () => {
    const m = machine(1);
    m.linuxInit();
    m.wr(0, SGI + 0x80, 0xfffffffe); // SGI 0 in group 0
    m.wr(0, SGI + 0x100, 1);
    m.wd(GICD_CTLR, 0x13);
    m.sys(0).writeSysReg(ICC.IGRPEN0_EL1, 1n);
    m.sys(0).writeSysReg(ICC.SGI1R_EL1, 1n); // group 1 SGI to vCPU 0: INTID 0 is group 0, ignored
    expect(m.gic.fiqPending(0)).to.equal(false);
    m.sys(0).writeSysReg(ICC.SGI0R_EL1, 1n);
    expect(m.gic.fiqPending(0)).to.equal(true);
    expect(m.gic.irqPending(0)).to.equal(false);
    expect(m.iar1(0)).to.equal(1023);
    expect(Number(m.sys(0).readSysReg(ICC.IAR0_EL1))).to.equal(0);
    expect(m.sys(0).readSysReg(ICC.AP0R0_EL1)).to.equal(1n << 20n);
    m.sys(0).writeSysReg(ICC.EOIR0_EL1, 0n);
    expect(m.sys(0).readSysReg(ICC.AP0R0_EL1)).to.equal(0n);
  });

  it('exposes the CPU-interface registers Linux probes and ignores the rest of the sysreg space', () => {
    const m = machine(1);
    const cpu = m.sys(0);
    expect(cpu.readSysReg(sysRegId(3, 0, 1, 0, 0))).to.equal(undefined); // SCTLR_EL1
    expect(cpu.writeSysReg(sysRegId(3, 0, 1, 0, 0), 0n)).to.equal(false);
    expect(cpu.readSysReg(ICC.SRE_EL1)).to.equal(7n);
    // gic_has_group0(): PMR keeps BIT(8 - pribits).
    cpu.writeSysReg(ICC.PMR_EL1, 0x08n);
    expect(cpu.readSysReg(ICC.PMR_EL1)).to.equal(0x08n);
    cpu.writeSysReg(ICC.PMR_EL1, 0xffn);
    expect(cpu.readSysReg(ICC.PMR_EL1)).to.equal(0xf8n);
    for (const r of [ICC.AP0R0_EL1, ICC.AP0R3_EL1, ICC.AP1R0_EL1, ICC.AP1R3_EL1]) {
      expect(cpu.writeSysReg(r, 0n)).to.equal(true);
      expect(cpu.readSysReg(r)).to.equal(0n);
    }
    expect(cpu.writeSysReg(ICC.ASGI1R_EL1, 1n)).to.equal(true);
    expect(cpu.readSysReg(ICC.EOIR1_EL1)).to.equal(0n); // write-only: logged
    expect(cpu.writeSysReg(ICC.IAR1_EL1, 5n)).to.equal(true); // read-only: logged
    expect(m.log.lines.length).to.equal(2);
    // CBPR: BPR1 follows BPR0 + 1.
    cpu.writeSysReg(ICC.BPR0_EL1, 4n);
    cpu.writeSysReg(ICC.CTLR_EL1, 1n);
    expect(cpu.readSysReg(ICC.BPR1_EL1)).to.equal(5n);
  });

  it('resets every register back to its power-on value', () => {
    const m = machine(2);
    m.linuxInit();
    enableSpi(m, UART);
    m.gic.setSpi(UART, true);
    expect(m.gic.irqPending(0)).to.equal(true);
    m.gic.reset();
    expect(m.gic.irqPending(0)).to.equal(false);
    expect(m.rd(GICD_CTLR)).to.equal(0x50);
    expect(m.rr(0, GICR_WAKER)).to.equal(6);
    expect(m.bitOf(GICD_ISENABLER, UART)).to.equal(0);
  });
});

describe('in-kernel GIC adapter', () => {
  it('forwards SPIs to HVF behind the same SpiSink and rejects non-SPIs', () => {
    const calls: [number, boolean][] = [];
    const sink = new InKernelGicSink({ setSpi: (i, l) => calls.push([i, l]), reset: () => {} });
    spiLine(sink, 33).setLevel(true);
    expect(calls).to.deep.equal([[33, true]]);
    expect(() => sink.setSpi(27, true)).to.throw(GicError);
  });
});
