#!/usr/bin/env node
// Runs the mocha suites through scripts/summary-reporter.cjs, which closes with
// "N passed, N failed, N skipped". `--unit` leaves out suites tagged @boot
// (whole-guest boots) for a fast edit loop; other arguments go to mocha.
// `--both-tiers` (what `npm test` uses) runs the suites (the translation tier is on by
// default, but a block needs 64 visits, so short CPU test programs run interpreted), then the
// software-CPU suites again with every block hot enough to be translated
// (NODEVISOR_TRANSLATE_THRESHOLD=2), so the interpreter and the WebAssembly tier both meet
// the differential tests; the closing line then adds up both runs.
import { spawn } from 'node:child_process';

const SUMMARY = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m;

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const bothTiers = args.includes('--both-tiers');
const rest = args.filter((a) => a !== '--unit' && a !== '--both-tiers');

function mochaArgs(specArgs, unit) {
  const out = [
    'node_modules/mocha/bin/mocha.js',
    '--reporter', './scripts/summary-reporter.cjs',
    ...(unit ? ['--grep', '@boot', '--invert'] : []),
    ...specArgs,
  ];
  // With no spec given, run every suite (.mocharc.json names none so that
  // `npx mocha test/<area>/` runs only that area).
  if (!specArgs.some((a) => !a.startsWith('-'))) out.push('test/**/*.test.ts');
  return out;
}

/** Runs mocha, echoing its output; resolves with its exit code and closing counts. */
function run(argv, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ['inherit', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let tail = '';
    child.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d.toString()).slice(-4096);
    });
    child.on('exit', (code, signal) => {
      const lines = tail.split('\n').filter((l) => SUMMARY.test(l));
      const m = SUMMARY.exec(lines.at(-1) ?? '');
      const counts = m ? { passed: +m[1], failed: +m[2], skipped: +m[3] } : { passed: 0, failed: 1, skipped: 0 };
      if (signal) console.log(`mocha ended by ${signal}`);
      resolve({ code: signal ? 1 : (code ?? 1), counts });
    });
  });
}

if (!bothTiers) {
  const r = await run(mochaArgs(rest, unitOnly), {});
  if (r.code !== 0 && r.counts.failed === 0) console.log(`0 passed, 1 failed (mocha exited with ${r.code})`);
  process.exit(r.code);
}

const first = await run(mochaArgs(rest, unitOnly), {});
console.log('\n== software-CPU suites again with the translation tier on every hot block');
const second = await run(mochaArgs(['test/cpu/**/*.test.ts'], true), { NODEVISOR_TRANSLATE: '1', NODEVISOR_TRANSLATE_THRESHOLD: '2' });
const total = {
  passed: first.counts.passed + second.counts.passed,
  failed: first.counts.failed + second.counts.failed + (first.code !== 0 && first.counts.failed === 0 ? 1 : 0) + (second.code !== 0 && second.counts.failed === 0 ? 1 : 0),
  skipped: first.counts.skipped + second.counts.skipped,
};
console.log(`\n${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed === 0 && first.code === 0 && second.code === 0 ? 0 : 1);
