// `--net socket,type=dgram,...`: one Ethernet frame per unix datagram, vfkit's protocol, so
// nodevisor can use gvproxy (`--listen-vfkit unixgram://PATH`) and vmnet-helper (vmnet on
// macOS, `--socket PATH` or `--fd N`). With path=, nodevisor binds its own socket (local=, or
// a fresh one in the temp directory, removed on close), connects to PATH and sends the 4-byte
// "VFKT" datagram first: such peers learn our address from the first datagram they receive
// (gvproxy drops that magic; for any other peer it is a runt frame, which is discarded).
// With fd=, an inherited datagram socket (one end of vmnet-run's socketpair) is used as is.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetBackendError, type NetBackend } from './backend.ts';
import { FramePortBackend, type FramePortLog } from './frame-port-backend.ts';
import { describeNativeError, loadNetdev, type NativeNetdev } from './netdev-native.ts';
import { FRAME_OVERHEAD, type DgramSocketNetSpec } from './spec.ts';

/** The first datagram a vfkit-protocol client sends. */
export const VFKIT_MAGIC = new Uint8Array([0x56, 0x46, 0x4b, 0x54]); // "VFKT"

export function dgramLabel(spec: DgramSocketNetSpec): string {
  return spec.fd !== undefined ? `--net socket,type=dgram,fd=${spec.fd}` : `--net socket,type=dgram,path=${spec.path}`;
}

/** A socket path of our own, short enough for sun_path (104 bytes on macOS). */
export function defaultLocalPath(): string {
  return join(tmpdir(), `nodevisor-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
}

export async function openDgram(spec: DgramSocketNetSpec, log: FramePortLog, load: () => NativeNetdev = loadNetdev): Promise<NetBackend> {
  const label = dgramLabel(spec);
  let addon: NativeNetdev;
  try {
    addon = load();
  } catch (e) {
    throw new NetBackendError(`${label}: ${(e as Error).message}`);
  }
  const maxFrame = spec.mtu + FRAME_OVERHEAD;
  if (spec.fd !== undefined) {
    let fd: number;
    try {
      fd = addon.adoptDgram(spec.fd);
    } catch (e) {
      throw new NetBackendError(`${label}: ${describeNativeError(e)}`);
    }
    return new FramePortBackend(addon, fd, { label, maxFrame, log });
  }
  const local = spec.local ?? defaultLocalPath();
  let fd: number;
  try {
    fd = addon.openDgram(local, spec.path);
  } catch (e) {
    throw new NetBackendError(`${label}: ${describeNativeError(e)}`);
  }
  const backend = new FramePortBackend(addon, fd, {
    label,
    maxFrame,
    log,
    hint: (errno) => (errno === 'ECONNREFUSED' || errno === 'ENOTCONN' ? 'the peer socket is gone' : undefined),
    onClose: () => rmSync(local, { force: true }),
  });
  backend.send(VFKIT_MAGIC);
  return backend;
}
