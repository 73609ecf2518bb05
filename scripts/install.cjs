#!/usr/bin/env node
// npm install hook: builds the native addons this platform has, and never fails the install.
// - nodevisor_netdev (Linux, macOS; native/netdev/binding.gyp, built into native/netdev/build):
//   tap devices and unix datagram sockets for --net. Without it only `--net tap` and
//   `--net socket,type=dgram` are missing, and they say so.
// - nodevisor_hostfs (Linux, macOS; native/hostfs/binding.gyp, built into native/hostfs/build):
//   xattrs and race-free calls beneath a share's root for virtio-fs, hole punching for virtio-blk
//   DISCARD. Without it shares answer ENOTSUP to xattrs and are confined by path checks that a
//   host process can race, and DISCARD leaves the data in place.
// - nodevisor_hvf (macOS arm64 only; binding.gyp): node-gyp-build loads a prebuilt binary from
//   prebuilds/ or, failing that, compiles native/hvf with node-gyp. Without it the software
//   CPU is used.
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');

if (process.platform !== 'linux' && process.platform !== 'darwin') process.exit(0);
if (process.env.NODEVISOR_SKIP_NATIVE === '1') {
  console.error('nodevisor: NODEVISOR_SKIP_NATIVE=1, not building the native addons');
  process.exit(0);
}

/** node-gyp as npm hands it to install scripts, else npm's bundled copy, else a local one, else PATH. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }));
  } catch {
    // not installed locally
  }
  const found = candidates.find((c) => c && existsSync(c));
  return found ? [process.execPath, found] : ['node-gyp'];
}

const [gyp, ...gypArgs] = nodeGyp();
const netdev = spawnSync(gyp, [...gypArgs, 'rebuild'], { stdio: 'inherit', cwd: path.join(root, 'native', 'netdev') });
if (netdev.status !== 0) {
  const why = netdev.error ? `node-gyp could not be run (${netdev.error.message})` : 'node-gyp failed; it needs python3, make and a C++ compiler';
  console.error(`nodevisor: the netdev addon (native/netdev) was not built: ${why}. --net tap and --net socket,type=dgram are unavailable; everything else works. Retry with \`npm rebuild nodevisor\`.`);
}

const hostfs = spawnSync(gyp, [...gypArgs, 'rebuild'], { stdio: 'inherit', cwd: path.join(root, 'native', 'hostfs') });
if (hostfs.status !== 0) {
  const why = hostfs.error ? `node-gyp could not be run (${hostfs.error.message})` : 'node-gyp failed; it needs python3, make and a C++ compiler';
  console.error(`nodevisor: the hostfs addon (native/hostfs) was not built: ${why}. virtio-fs shares have no xattrs and no protection against host processes racing them, and virtio-blk DISCARD frees no space; everything else works. Retry with \`npm rebuild nodevisor\`.`);
}

if (process.platform === 'darwin' && process.arch === 'arm64') {
  const bin = require.resolve('node-gyp-build/bin.js');
  const r = spawnSync(process.execPath, [bin], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    // The software CPU still works; say so rather than failing the whole install.
    console.error('nodevisor: the HVF addon could not be built; `nodevisor doctor` explains. The software CPU remains available.');
  }
}
process.exit(0);
