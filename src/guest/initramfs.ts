// Assembles the default guest's initramfs: a gzip-compressed newc cpio holding busybox
// (applet links are made at boot by `busybox --install -s`), /dev/console (the kernel
// opens it for init before devtmpfs is mounted), the modules and /init.
import { gzipSync } from 'node:zlib';
import { CpioWriter } from './cpio.ts';
import { MODULE_LIST_PATH, renderInitScript } from './init-script.ts';

export interface InitramfsModule {
  /** Path under /lib/modules/<release>/, already decompressed (ends in .ko). */
  relPath: string;
  data: Uint8Array;
}

export interface InitramfsInput {
  busybox: Uint8Array;
  kernelRelease: string;
  /** In load order. */
  modules: InitramfsModule[];
}

export function buildInitramfsCpio(input: InitramfsInput): Uint8Array {
  const w = new CpioWriter();
  for (const d of ['bin', 'sbin', 'dev', 'etc', 'etc/nodevisor', 'lib', 'proc', 'sys', 'run', 'tmp', 'mnt', 'root', 'usr', 'usr/bin', 'usr/sbin']) {
    w.directory(d, d === 'tmp' ? 0o1777 : d === 'root' ? 0o700 : 0o755);
  }
  w.charDevice('dev/console', 5, 1, 0o600);
  w.charDevice('dev/null', 1, 3, 0o666);
  w.file('bin/busybox', input.busybox, 0o755);
  w.symlink('bin/sh', 'busybox');
  w.file('init', new TextEncoder().encode(renderInitScript()), 0o755);
  const base = `lib/modules/${input.kernelRelease}`;
  for (const m of input.modules) {
    const path = `${base}/${m.relPath}`;
    w.parents(path);
    w.file(path, m.data, 0o644);
  }
  w.file(MODULE_LIST_PATH, new TextEncoder().encode(input.modules.map((m) => m.relPath).join('\n') + '\n'), 0o644);
  return w.finish();
}

export function buildInitramfs(input: InitramfsInput): Uint8Array {
  return gzipSync(buildInitramfsCpio(input), { level: 9 });
}
