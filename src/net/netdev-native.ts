// The nodevisor_netdev addon (native/netdev/): host network endpoints Node cannot open
// itself (a Linux tap device, AF_UNIX SOCK_DGRAM sockets) and FramePort, which polls such an
// fd on the main loop and calls back with each frame. Loaded lazily, only when a --net spec
// needs it; when it cannot be loaded the error names every path tried and why.
import { addonCandidatePaths, errnoName, loadAddon, type AddonLoadOptions, type AddonSpec } from '../host/native-addon.ts';

export const NETDEV_ADDON_NAME = 'nodevisor_netdev';
/** native/netdev/addon.cc kAbiVersion; other versions are refused. */
export const NETDEV_ABI_VERSION = 3;

/** An error of the addon: the failing call and its errno (positive). */
export interface NativeErrnoError extends Error {
  errno: number;
  syscall: string;
  /** On FramePort errors: the port stopped listening. */
  fatal?: boolean;
}

export interface FramePortStats {
  rxFrames: number;
  /** Frames longer than maxFrame (or than the receive buffer): dropped. */
  rxOversize: number;
  rxErrors: number;
  /** Frames the kernel pushed back (EAGAIN/ENOBUFS) that waited in the transmit queue. */
  txQueued: number;
  /** Frames dropped because that queue was full. */
  txQueueFull: number;
  /** Queued frames the kernel then refused (the peer went away meanwhile). */
  txQueueLost: number;
  /** Frames in the queue now. */
  txPending: number;
}

export interface NativeFramePort {
  /** 0 when the frame was handed to the kernel or queued for it, else the errno (dropped). */
  send(frame: Uint8Array): number;
  /** Stops polling and closes the fd; idempotent. */
  close(): void;
  stats(): FramePortStats;
}

export interface NativeNetdev {
  abiVersion: number;
  /** Attaches to (or creates) the tap device; the fd is non-blocking. With vnetHeader, every
   *  read and write starts with a 12-byte virtio_net_hdr. Linux only. */
  openTap(ifname: string, vnetHeader?: boolean): { fd: number; ifname: string };
  /** TUNSETOFFLOAD: the TUN_F_* offloads the reader of a vnet-header tap accepts. */
  setTapOffload(fd: number, flags: number): void;
  /** A datagram socket bound at localPath (created) and connected to peerPath. */
  openDgram(localPath: string, peerPath: string): number;
  /** 0 when a live datagram socket is bound at path, else the errno connecting to it gives
   *  (ENOENT: nothing there; ECONNREFUSED: a socket file no process holds). Sends nothing. */
  probeDgram(path: string): number;
  /** Checks that an inherited fd is a datagram socket and makes it non-blocking. */
  adoptDgram(fd: number): number;
  closeFd(fd: number): void;
  /** Takes over fd (closes it itself, even when construction fails). */
  FramePort: new (fd: number, maxFrame: number, onFrame: (frame: Buffer) => void, onError: (e: NativeErrnoError) => void) => NativeFramePort;
}

export { errnoName };

export class NetdevUnavailableError extends Error {
  override readonly name = 'NetdevUnavailableError';
  constructor(readonly tried: string[]) {
    super(`needs the ${NETDEV_ADDON_NAME} native addon, which \`npm install\` builds on Linux and macOS with python3, make and a C++ compiler (retry: \`npm rebuild nodevisor\` or \`npm run build:netdev\`); tried ${tried.join('; ')}`);
  }
}

export type NetdevLoadOptions = AddonLoadOptions;

const NETDEV: AddonSpec<NativeNetdev> = {
  name: NETDEV_ADDON_NAME,
  dir: 'netdev',
  envVar: 'NODEVISOR_NETDEV_ADDON',
  abiVersion: NETDEV_ABI_VERSION,
  isAddon: (m): m is NativeNetdev => {
    const x = m as Partial<NativeNetdev> | null;
    return !!x && typeof x.openDgram === 'function' && typeof x.probeDgram === 'function' && typeof x.FramePort === 'function' && typeof x.abiVersion === 'number';
  },
  unavailable: (tried) => new NetdevUnavailableError(tried),
};

/**
 * Every path the loader looks at, in order: NODEVISOR_NETDEV_ADDON, then native/netdev's own
 * build (where scripts/install.cjs puts it), then the package build/ (a hand-run node-gyp).
 */
export function netdevCandidatePaths(root: string, env: Record<string, string | undefined> = process.env): string[] {
  return addonCandidatePaths(NETDEV, root, env);
}

let cached: NativeNetdev | undefined;

/** Loads the addon or throws NetdevUnavailableError listing each path and why it failed. */
export function loadNetdev(opts: NetdevLoadOptions = {}): NativeNetdev {
  if (Object.keys(opts).length > 0) return loadAddon(NETDEV, opts);
  return (cached ??= loadAddon(NETDEV));
}

/** `SYSCALL SUBJECT: strerror (ENAME)` for an addon error; other errors as they are. */
export function describeNativeError(e: unknown): string {
  if (e instanceof Error && typeof (e as Partial<NativeErrnoError>).errno === 'number') return `${e.message} (${errnoName((e as NativeErrnoError).errno)})`;
  return e instanceof Error ? e.message : String(e);
}
