import { expect } from 'chai';
import { KernelSymbols } from '../../src/vmm/kernel-symbols.ts';
import { Profiler, VcpuProfile } from '../../src/vmm/profiler.ts';

const MAP = [
  'ffff800008000000 t _head',
  'ffff800008010000 T _stext',
  'ffff800008010800 T vectors',
  'ffff800008011000 T do_idle',
  'ffff800008011400 t arch_cpu_idle',
  'ffff800009000000 D some_data',
  'ffff800008020000 W weak_fn',
  'ffff80000802a000 T last_text',
].join('\n');

describe('profiler: kernel symbols', () => {
  it('parses System.map/kallsyms text symbols and finds the containing function', () => {
    const s = KernelSymbols.parse(MAP);
    expect(s.size).to.equal(7); // data symbol dropped
    expect(s.lookup(0x8000_0801_1000)).to.equal('do_idle');
    expect(s.lookup(0x8000_0801_13fc)).to.equal('do_idle');
    expect(s.lookup(0x8000_0801_1404)).to.equal('arch_cpu_idle');
    expect(s.lookup(0x8000_0802_0010)).to.equal('weak_fn');
    expect(s.lookup(0x8000_07ff_fffc)).to.equal(undefined);
    expect(s.lookup(0x8000_0802_a000 + (2 << 20))).to.equal(undefined); // far past the last symbol
    expect(s.addressOf('vectors')).to.equal(0x8000_0801_0800);
  });

  it('ignores malformed lines', () => {
    const s = KernelSymbols.parse('garbage\n\nffffffffffffffff B The real System.map is in the linux-image-<version>-dbg package\nzz T x');
    expect(s.size).to.equal(0);
    expect(s.lookup(123)).to.equal(undefined);
  });
});

describe('profiler: report', () => {
  it('attributes PC samples to functions, corrects the KASLR slide from VBAR_EL1, and counts exits', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'nv-prof-'));
    const syms = join(dir, 'kallsyms');
    writeFileSync(syms, MAP);
    const p = new Profiler(undefined, syms);
    const v: VcpuProfile = p.forVcpu(0);
    const slide = 0x1234_0000;
    v.vbar = () => 0xffff_8000_0801_0800n + BigInt(slide);
    v.instructions = () => 5 * 1024;
    const hi = (a: number) => Math.floor(a / 2 ** 32) | 0xffff0000;
    const lo = (a: number) => a % 2 ** 32 | 0;
    const idle = 0x8000_0801_1010 + slide;
    for (let i = 0; i < 3; i++) v.sample(lo(idle), hi(idle), 1);
    v.sample(lo(0x8000_0801_1404 + slide), hi(0x8000_0801_1404 + slide), 1);
    v.sample(0x400000, 0, 0);
    v.exit('wfi', 1000);
    v.exit('wfi', 3000);
    v.exit('mmio-write 0x9000000', 500);
    const r = p.report();
    expect(r).to.match(/KASLR slide 0x12340000/);
    expect(r).to.match(/60\.0%\s+3\s+do_idle/);
    expect(r).to.match(/20\.0%\s+1\s+arch_cpu_idle/);
    expect(r).to.match(/EL0 20\.0%/);
    expect(r).to.match(/wfi\s+2\s+0 ms/);
    expect(r).to.match(/mmio-write 0x9000000\s+1/);
  });
});
