// Differential test of the software CPU against qemu-aarch64, one generated program per
// instruction group: both must produce the same register/memory dump for every variant.
import { expect } from 'chai';
import { buildElf, findToolchain, readSymbols, runOnQemu, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import {
  REC, caseSymbol, describeDiff, groupAssembly, variantCount, variantRefs, type CaseGroup,
} from './case-program.ts';
import { EmuHost, emuAvailable, type EmuOutcome } from './emu-host.ts';
import { integerGroups } from './cases/integer.ts';
import { memoryGroups } from './cases/memory.ts';
import { fpGroups } from './cases/fp.ts';
import { simdGroups } from './cases/simd.ts';
import { missingFeature, type GuestFault, type IdRegisters } from './emu-runner.ts';

const hex = (v: bigint | number) => `0x${v.toString(16)}`;

/** Which case/variant a faulting PC belongs to, from the case_<c>_<v> symbols. */
function faultOwners(tc: Toolchain, elfPath: string, group: CaseGroup, faults: GuestFault[]): Map<number, string[]> {
  const syms = readSymbols(tc, elfPath);
  const starts: { addr: bigint; ci: number; vi: number }[] = [];
  group.cases.forEach((c, ci) => c.seeds.forEach((_, vi) => {
    const a = syms.get(caseSymbol(ci, vi));
    if (a !== undefined) starts.push({ addr: a, ci, vi });
  }));
  starts.sort((a, b) => (a.addr < b.addr ? -1 : 1));
  const owners = new Map<number, string[]>();
  for (const f of faults) {
    let owner: (typeof starts)[number] | undefined;
    for (const s of starts) if (s.addr <= f.elr) owner = s;
    if (!owner) continue;
    const ec = Number((f.esr >> 26n) & 0x3fn);
    const list = owners.get(owner.ci) ?? [];
    list.push(`[variant ${owner.vi}] guest took an exception at ${hex(f.elr)}: ESR_EL1 ${hex(f.esr)} (EC ${hex(ec)}${ec === 0 ? ', undefined instruction' : ''}), FAR ${hex(f.far)}`);
    owners.set(owner.ci, list);
  }
  return owners;
}

const groups: CaseGroup[] = [...integerGroups(), ...memoryGroups(), ...fpGroups(), ...simdGroups()];

describe('differential: instructions vs qemu-aarch64', function () {
  this.timeout(120_000);
  const found = findToolchain();
  const host = new EmuHost();
  after(() => host.close());
  let idRegs: Promise<IdRegisters | string> | undefined;

  for (const group of groups) {
    describe(group.name, function () {
      let expected: Uint8Array | undefined;
      let actual: EmuOutcome | undefined;
      let faultsByCase = new Map<number, string[]>();
      /** Set when the CPU does not advertise a feature the group needs. */
      let notAdvertised: string | undefined;
      const total = variantCount(group);
      const refs = variantRefs(group);

      before(async function () {
        if (!found.toolchain) {
          console.warn(`skipping: ${found.reason}`);
          this.skip();
        }
        const tc = found.toolchain!;
        const elf = buildElf(tc, { source: groupAssembly(group), language: 'asm', flags: ['-march=armv8.2-a+crc+lse', ...(group.flags ?? [])] });
        let unavailable = emuAvailable();
        if (!unavailable && group.requires) {
          idRegs ??= host.idRegisters();
          const regs = await idRegs;
          if (typeof regs === 'string') throw new Error(`cannot read the CPU's ID registers: ${regs}`);
          notAdvertised = group.requires.map((f) => missingFeature(regs, f)).find((m) => m !== undefined);
          if (notAdvertised) {
            console.warn(`skipping "${group.name}" on the software CPU: ${notAdvertised}`);
            unavailable = notAdvertised;
          }
        }
        const [ref, emu] = await Promise.all([
          runOnQemu(tc, elf.path),
          unavailable ? Promise.resolve(undefined) : host.run(elf.bytes, { timeoutMs: 60_000, resumeAfterFault: true, mmu: group.mmu }),
        ]);
        if (ref.error || ref.exitCode !== 0 || ref.stdout.length !== total * REC.size) {
          throw new Error(`reference run failed: ${ref.error ?? `exit ${ref.exitCode}, ${ref.stdout.length} of ${total * REC.size} bytes`}`);
        }
        expected = ref.stdout;
        actual = emu;
        if (emu && emu.stdout && emu.faults.length) faultsByCase = faultOwners(tc, elf.path, group, emu.faults);
      });

      it('qemu-aarch64 reference run keeps registers the cases do not name', function () {
        if (!expected) this.skip();
        const dv = new DataView(expected.buffer, expected.byteOffset, expected.byteLength);
        for (const ref of refs) {
          const c = group.cases[ref.caseIndex];
          const seed = c.seeds[ref.variant];
          for (let r = 2; r < 30; r++) {
            if (new RegExp(`\\b[xw]${r}\\b`).test(c.asm)) continue;
            const v = seed.x[r];
            if (typeof v !== 'bigint') continue;
            const got = dv.getBigUint64(ref.offset + REC.x + r * 8, true);
            expect(got, `${c.name} [${ref.variant}] x${r}`).to.equal(v);
          }
        }
      });

      it(`runs to completion on the software CPU (${total} variants)`, function () {
        if (!actual) this.skip();
        if (!actual.stdout) throw new Error(actual.error);
        const reached = Math.floor(actual.stdout.length / REC.size);
        const at = refs[reached] ? ` (stopped in "${group.cases[refs[reached].caseIndex].name}" [variant ${refs[reached].variant}])` : '';
        expect(actual.error, `emulator run${at}`).to.equal(undefined);
        expect(actual.exitCode, 'exit status').to.equal(0);
      });

      group.cases.forEach((c, ci) => {
        it(c.name, function () {
          if (!actual) this.skip();
          if (!actual.stdout) throw new Error(`no output from the software CPU: ${actual.error}`);
          const problems: string[] = [...(faultsByCase.get(ci) ?? []).map((f) => `${c.name} ${f}`)];
          const first = refs.find((r) => r.caseIndex === ci)!;
          if (actual.error && actual.stdout.length < first.offset + REC.size) {
            throw new Error(`${c.name}: not reached, the run stopped earlier: ${actual.error}`);
          }
          for (const ref of refs) {
            if (ref.caseIndex !== ci) continue;
            const exp = expected!.subarray(ref.offset, ref.offset + REC.size);
            const act = actual.stdout.subarray(ref.offset, ref.offset + REC.size);
            const d = describeDiff(c, ref.variant, exp, act);
            if (d) problems.push(d);
          }
          if (problems.length) throw new Error(problems.slice(0, 3).join('\n') + (problems.length > 3 ? `\n(+${problems.length - 3} more variants)` : ''));
        });
      });
    });
  }
});
