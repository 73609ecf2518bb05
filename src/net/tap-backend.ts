// `--net tap,ifname=NAME[,mtu=N]`: frames to and from a Linux tap device, opened through the
// netdev addon (TUNSETIFF with IFF_TAP|IFF_NO_PI: one read or write is one bare frame). The
// device is created if it does not exist (needs CAP_NET_ADMIN) and vanishes when nodevisor
// exits; a tap made beforehand with `ip tuntap add NAME mode tap user USER` needs no root.
// Bringing it up, addressing and bridging it are the host's business.
import { NetBackendError, type NetBackend } from './backend.ts';
import { FramePortBackend, type FramePortLog } from './frame-port-backend.ts';
import { describeNativeError, errnoName, loadNetdev, type NativeErrnoError, type NativeNetdev } from './netdev-native.ts';
import { DEFAULT_LINK_MTU, FRAME_OVERHEAD } from './spec.ts';

/** Why TUNSETIFF failed, in the words a user can act on. */
function openHint(errno: string, ifname: string): string {
  switch (errno) {
    case 'EPERM':
    case 'EACCES':
      return `creating or attaching a tap needs CAP_NET_ADMIN (root), or create it once with \`sudo ip tuntap add ${ifname} mode tap user $USER\``;
    case 'ENOENT':
    case 'ENODEV':
      return 'the tun driver is missing (modprobe tun; in a container, pass --device /dev/net/tun)';
    case 'EBUSY':
      return 'another process has the device open';
    case 'EINVAL':
      return `${ifname} exists but is not a tap device, or the name is invalid`;
    default:
      return '';
  }
}

export async function openTap(ifname: string, log: FramePortLog, mtu = DEFAULT_LINK_MTU, load: () => NativeNetdev = loadNetdev): Promise<NetBackend> {
  const label = `--net tap,ifname=${ifname}`;
  if (process.platform !== 'linux') throw new NetBackendError(`${label}: tap devices are only supported on Linux (on macOS, use --net socket,type=dgram with vmnet-helper or gvproxy)`);
  let addon: NativeNetdev;
  try {
    addon = load();
  } catch (e) {
    throw new NetBackendError(`${label}: ${(e as Error).message}`);
  }
  let opened: { fd: number; ifname: string };
  try {
    opened = addon.openTap(ifname);
  } catch (e) {
    const hint = typeof (e as NativeErrnoError).errno === 'number' ? openHint(errnoName((e as NativeErrnoError).errno), ifname) : '';
    throw new NetBackendError(`${label}: ${describeNativeError(e)}${hint ? `: ${hint}` : ''}`);
  }
  return new FramePortBackend(addon, opened.fd, {
    label,
    maxFrame: mtu + FRAME_OVERHEAD,
    log,
    hint: (errno) => (errno === 'EIO' ? `the interface is down: \`ip link set ${opened.ifname} up\`` : undefined),
  });
}
