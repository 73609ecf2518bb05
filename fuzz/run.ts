// `npm run fuzz`: runs every fuzz target for a bounded time and prints how many inputs each
// ran. Exits non-zero on any crash, hang or unexpected exception, printing the input so it
// can become a regression test. Options: --seconds N per target (default 5), --seed N,
// --only NAME.
import { fuzz, type FuzzTarget } from './target.ts';
import { allTargets } from './targets/index.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seconds = Number(arg('seconds') ?? 5);
const seed = Number(arg('seed') ?? Date.now() % 0xffffffff);
const only = arg('only');
const targets: FuzzTarget[] = allTargets.filter((t) => !only || t.name === only);
if (targets.length === 0) {
  console.error(`fuzz: no target named ${only}; targets: ${allTargets.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

console.log(`fuzz: ${targets.length} targets, ${seconds}s each, seed ${seed}`);
let failed = 0;
for (const t of targets) {
  const r = await fuzz(t, seconds * 1000, seed);
  console.log(`${r.name.padEnd(28)} ${String(r.inputs).padStart(9)} inputs  ${r.findings.length ? `${r.findings.length} FINDINGS` : 'ok'}`);
  for (const f of r.findings) {
    failed++;
    console.log(`  input (hex): ${Buffer.from(f.input).toString('hex')}`);
    console.log(`  ${f.error.split('\n').slice(0, 6).join('\n  ')}`);
  }
}
console.log(failed ? `fuzz: ${failed} findings` : 'fuzz: no findings');
process.exit(failed ? 1 : 0);
