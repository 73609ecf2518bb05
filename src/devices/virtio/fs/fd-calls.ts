// Node's fd-taking fs calls as Promises (fs/promises offers them only on FileHandles, and the
// share's files are opened by fd-relative calls that hand back plain fds).
import * as fs from 'node:fs';
import type { BigIntStats } from 'node:fs';
import { promisify } from 'node:util';

export const fstat = (fd: number): Promise<BigIntStats> =>
  new Promise((resolve, reject) => fs.fstat(fd, { bigint: true }, (e, st) => (e ? reject(e) : resolve(st))));
export const fchmod = promisify(fs.fchmod);
export const ftruncate = promisify(fs.ftruncate);
export const fsync = promisify(fs.fsync);
export const fdatasync = promisify(fs.fdatasync);
export const close = promisify(fs.close);
export const open = promisify(fs.open);

/** Reads into buf[offset, offset+length) from file position `position`. */
export const read = (fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => fs.read(fd, buf, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
export const write = (fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> =>
  new Promise((resolve, reject) => fs.write(fd, buf, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
