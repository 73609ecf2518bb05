import { expect } from 'chai';
import fc from 'fast-check';
import { GicV3 } from '../../../src/devices/gic/gicv3.ts';
import { ICC } from '../../../src/devices/gic/registers.ts';
import { GIC_DIST_SIZE, GIC_REDIST_REGION_SIZE, SPI_BASE, SPI_COUNT } from '../../../src/arch/arm64/layout.ts';

const size = fc.constantFrom(1, 2, 4, 8);
const value = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const op = fc.oneof(
  fc.record({ k: fc.constant('gicd' as const), off: fc.integer({ min: 0, max: GIC_DIST_SIZE - 8 }), size, value, write: fc.boolean() }),
  fc.record({ k: fc.constant('gicr' as const), off: fc.integer({ min: 0, max: GIC_REDIST_REGION_SIZE - 8 }), size, value, write: fc.boolean() }),
  fc.record({ k: fc.constant('icc' as const), id: fc.constantFrom(...Object.values(ICC)), value, write: fc.boolean(), cpu: fc.integer({ min: 0, max: 2 }) }),
  fc.record({ k: fc.constant('spi' as const), intid: fc.integer({ min: SPI_BASE, max: SPI_BASE + SPI_COUNT - 1 }), level: fc.boolean() }),
);

describe('GICv3 under arbitrary guest input', () => {
  it('never throws, always answers, and keeps irqPending consistent with IAR', () => {
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const gic = new GicV3({ vcpuCount: 3 });
      for (const o of ops) {
        switch (o.k) {
          case 'gicd':
          case 'gicr': {
            const dev = o.k === 'gicd' ? gic.distributor : gic.redistributors;
            const off = o.off - (o.off % o.size);
            if (o.write) dev.write(off, o.size, o.size === 8 ? o.value : Number(o.value & 0xffff_ffffn), 0);
            else expect(['number', 'bigint']).to.include(typeof dev.read(off, o.size, 0));
            break;
          }
          case 'icc':
            if (o.write) expect(gic.cpuInterface(o.cpu).writeSysReg(o.id, o.value)).to.equal(true);
            else expect(typeof gic.cpuInterface(o.cpu).readSysReg(o.id)).to.equal('bigint');
            break;
          case 'spi':
            gic.setSpi(o.intid, o.level);
            break;
        }
      }
      // A signalled IRQ is acknowledgeable: IAR1 returns a real INTID, not 1023.
      for (let cpu = 0; cpu < 3; cpu++) {
        const pending = gic.irqPending(cpu);
        const intid = Number(gic.cpuInterface(cpu).readSysReg(ICC.IAR1_EL1));
        expect(intid !== 1023, `cpu ${cpu}`).to.equal(pending);
      }
    }), { numRuns: 300 });
  });
});
