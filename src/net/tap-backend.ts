// `--net tap,ifname=NAME`: attaching to a Linux tap device means opening /dev/net/tun and
// issuing the TUNSETIFF ioctl, which Node cannot do without a native addon; nodevisor has no
// such addon for Linux, so the backend reports exactly that instead of half-working.
import { NetBackendError, type NetBackend } from './backend.ts';

export const TAP_UNAVAILABLE = 'needs the TUNSETIFF ioctl on /dev/net/tun, which Node cannot issue without a native addon (not part of nodevisor); use --net user or --net socket,path=PATH';

export async function openTap(ifname: string): Promise<NetBackend> {
  if (process.platform !== 'linux') throw new NetBackendError(`--net tap,ifname=${ifname}: tap devices are only supported on Linux`);
  throw new NetBackendError(`--net tap,ifname=${ifname}: ${TAP_UNAVAILABLE}`);
}
