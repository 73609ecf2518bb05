#!/usr/bin/env node
// npm install hook. The HVF addon exists only for macOS on Apple Silicon; everywhere
// else this does nothing, so npm never runs node-gyp on Linux, Intel Macs or Windows.
// On macOS arm64 node-gyp-build loads a prebuilt binary from prebuilds/ or, failing
// that, compiles native/hvf with node-gyp.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

if (process.platform !== 'darwin' || process.arch !== 'arm64') {
  process.exit(0);
}
if (process.env.NODEVISOR_SKIP_NATIVE === '1') {
  console.error('nodevisor: NODEVISOR_SKIP_NATIVE=1, not building the HVF addon');
  process.exit(0);
}
const bin = require.resolve('node-gyp-build/bin.js');
const r = spawnSync(process.execPath, [bin], { stdio: 'inherit', cwd: path.join(__dirname, '..') });
if (r.status !== 0) {
  // The software CPU still works; say so rather than failing the whole install.
  console.error('nodevisor: the HVF addon could not be built; `nodevisor doctor` explains. The software CPU remains available.');
}
process.exit(0);
