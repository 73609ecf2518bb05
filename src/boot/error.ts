// The one error class of the boot module: what the user must fix before a guest can start.

export type BootErrorReason =
  | 'missing-file'
  | 'unreadable-file'
  | 'empty'
  | 'bad-magic'
  | 'big-endian'
  | 'unsupported-page-size'
  | 'decompress'
  | 'kernel-too-large'
  | 'initrd-too-large'
  | 'cmdline-too-long'
  | 'invalid-cmdline'
  | 'dtb-too-large'
  | 'invalid-ram';

export class BootError extends Error {
  override readonly name = 'BootError';
  constructor(readonly reason: BootErrorReason, message: string) {
    super(message);
  }
}
