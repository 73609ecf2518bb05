#!/usr/bin/env node
// Runs the mocha suites through scripts/summary-reporter.cjs, which closes with
// "N passed, N failed, N skipped". `--unit` leaves out suites tagged @boot
// (whole-guest boots) for a fast edit loop; other arguments go to mocha.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const mochaArgs = [
  'node_modules/mocha/bin/mocha.js',
  '--reporter', './scripts/summary-reporter.cjs',
  ...(unitOnly ? ['--grep', '@boot', '--invert'] : []),
  ...args.filter((a) => a !== '--unit'),
];
// With no spec given, run every suite (.mocharc.json names none so that
// `npx mocha test/<area>/` runs only that area).
const specs = args.filter((a) => !a.startsWith('-'));
if (specs.length === 0) mochaArgs.push('test/**/*.test.ts');
const child = spawn(process.execPath, mochaArgs, { stdio: 'inherit' });
child.on('exit', (code, signal) => {
  if (signal) {
    console.log(`0 passed, 1 failed (mocha ended by ${signal})`);
    process.exit(1);
  }
  process.exit(code ?? 1);
});
