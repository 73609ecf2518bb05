// The kernel command line travels in /chosen/bootargs; Linux copies it into a
// COMMAND_LINE_SIZE buffer (2048 on arm64) that includes the terminating NUL.
import { CMDLINE_MAX_SIZE } from '../arch/arm64/layout.ts';
import { BootError } from './error.ts';

export function validateCmdline(cmdline: string): string {
  if (cmdline.includes('\0')) throw new BootError('invalid-cmdline', 'kernel command line contains a NUL character');
  const bytes = Buffer.byteLength(cmdline, 'utf8') + 1;
  if (bytes > CMDLINE_MAX_SIZE) {
    throw new BootError('cmdline-too-long', `kernel command line is ${bytes - 1} bytes; at most ${CMDLINE_MAX_SIZE - 1} fit`);
  }
  return cmdline;
}
