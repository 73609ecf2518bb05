// Reading boot files (kernel, initrd) from the host with a size cap checked before reading,
// so a wrong path or a huge file fails with a BootError instead of exhausting memory.
import { readFileSync, statSync } from 'node:fs';
import { BootError, type BootErrorReason } from './error.ts';

export function readBootFile(path: string, what: string, maxSize: number, tooLarge: BootErrorReason): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new BootError('unreadable-file', `${what} ${path} is not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof BootError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new BootError('missing-file', `${what} ${path} does not exist`);
    throw new BootError('unreadable-file', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
  if (size === 0) throw new BootError('empty', `${what} ${path} is empty`);
  if (size > maxSize) throw new BootError(tooLarge, `${what} ${path} is ${size} bytes, more than the ${maxSize} that fit`);
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new BootError('unreadable-file', `cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}
