// `--net tap,ifname=NAME[,mtu=N]`: frames to and from a Linux tap device, opened through the
// netdev addon (TUNSETIFF with IFF_TAP|IFF_NO_PI|IFF_VNET_HDR: one read or write is one frame
// behind a virtio_net_hdr). The kernel takes the guest's TSO segments as they are (the header
// rebuilt from what the device validated), and TUNSETOFFLOAD tells it what the guest accepts
// back (partial checksums, TSO4/6), so large segments cross the tap unsegmented both ways. The
// device is created if it does not exist (needs CAP_NET_ADMIN) and vanishes when nodevisor
// exits; a tap made beforehand with `ip tuntap add NAME mode tap user USER` needs no root.
// Bringing it up, addressing and bridging it are the host's business.
import {
  NET_HDR_BYTES, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
  readNetHeader, rxHeader,
} from '../devices/virtio/net/offload.ts';
import { NetBackendError, type GuestOffloads, type NetBackend, type RxOffload, type TxSegmentation } from './backend.ts';
import { finishChecksum, framePseudoHeaderSum, writeU16 } from './checksum.ts';
import { PROTO_TCP } from './ipv4.ts';
import { TCP_CHECKSUM_OFFSET } from './tcp-segment.ts';
import { FramePortBackend, type FramePortBackendStats, type FramePortLog } from './frame-port-backend.ts';
import { describeNativeError, errnoName, loadNetdev, type NativeErrnoError, type NativeNetdev } from './netdev-native.ts';
import { DEFAULT_LINK_MTU, FRAME_OVERHEAD } from './spec.ts';

const TUN_F_CSUM = 0x01;
const TUN_F_TSO4 = 0x02;
const TUN_F_TSO6 = 0x04;
/** A 64 KiB IP packet behind a VLAN-tagged Ethernet header: the largest TSO frame. */
const MAX_SEGMENT_FRAME = 65535 + FRAME_OVERHEAD;

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
    opened = addon.openTap(ifname, true);
  } catch (e) {
    const hint = typeof (e as NativeErrnoError).errno === 'number' ? openHint(errnoName((e as NativeErrnoError).errno), ifname) : '';
    throw new NetBackendError(`${label}: ${describeNativeError(e)}${hint ? `: ${hint}` : ''}`);
  }
  return new TapBackend(addon, opened.fd, {
    label,
    maxFrame: mtu + FRAME_OVERHEAD,
    log,
    hint: (errno) => (errno === 'EIO' ? `the interface is down: \`ip link set ${opened.ifname} up\`` : undefined),
  });
}

export interface TapBackendStats extends FramePortBackendStats {
  /** Frames from the kernel with a virtio header the guest could not be given (UDP GSO...). */
  rxRefused: number;
}

/** The frames of a vnet-header tap: the header added on the way out, read on the way in. */
export class TapBackend implements NetBackend {
  readonly checksumsTrusted = false;
  readonly acceptsSegmentation = { tcpv4: true, tcpv6: true };
  readonly producesSegmentation = { tcpv4: true, tcpv6: true };
  private readonly port: FramePortBackend;
  private receiver: (frame: Uint8Array, offload?: RxOffload) => void = () => undefined;
  private txOversize = 0;
  private rxRefused = 0;

  constructor(private readonly native: NativeNetdev, private readonly fd: number, private readonly opts: { label: string; maxFrame: number; log: FramePortLog; hint?: (errno: string) => string | undefined }) {
    this.port = new FramePortBackend(native, fd, { ...opts, maxFrame: NET_HDR_BYTES + Math.max(opts.maxFrame, MAX_SEGMENT_FRAME) });
    this.port.onFrame((bytes) => this.fromKernel(bytes));
  }

  onFrame(receiver: (frame: Uint8Array, offload?: RxOffload) => void): void {
    this.receiver = receiver;
  }

  send(frame: Uint8Array, segmentation?: TxSegmentation): void {
    if (!segmentation && frame.length > this.opts.maxFrame) {
      this.txOversize++;
      this.opts.log.debug(`${this.opts.label}: dropping a ${frame.length}-byte frame from the guest (link maximum ${this.opts.maxFrame})`);
      return;
    }
    const out = new Uint8Array(NET_HDR_BYTES + frame.length);
    out.set(frame, NET_HDR_BYTES);
    if (segmentation) {
      const body = out.subarray(NET_HDR_BYTES);
      const ipv6 = segmentation.protocol === 'tcpv6';
      const l4 = ipv6 ? 54 : 14 + (body[14] & 0x0f) * 4;
      // The device completed the checksum; the kernel's segmentation wants the pseudo-header seed.
      writeU16(body, l4 + TCP_CHECKSUM_OFFSET, ~finishChecksum(framePseudoHeaderSum(body, ipv6, l4, PROTO_TCP)) & 0xffff);
      const headerLength = l4 + (body[l4 + 12] >> 4) * 4;
      out.set(rxHeader({ csumStart: l4, csumOffset: TCP_CHECKSUM_OFFSET, gso: { protocol: segmentation.protocol, segmentSize: segmentation.segmentSize, headerLength } }, false));
    }
    this.port.send(out);
  }

  private fromKernel(bytes: Uint8Array): void {
    if (bytes.length <= NET_HDR_BYTES) return;
    const h = readNetHeader(bytes);
    const frame = bytes.subarray(NET_HDR_BYTES);
    let offload: RxOffload | undefined;
    if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) offload = { csumStart: h.csumStart, csumOffset: h.csumOffset };
    if (h.gsoType !== VIRTIO_NET_HDR_GSO_NONE) {
      const protocol = h.gsoType === VIRTIO_NET_HDR_GSO_TCPV4 ? 'tcpv4' : h.gsoType === VIRTIO_NET_HDR_GSO_TCPV6 ? 'tcpv6' : undefined;
      if (!protocol || !offload) {
        this.rxRefused++; // only what TUNSETOFFLOAD allowed should come: anything else cannot be described
        return;
      }
      offload.gso = { protocol, segmentSize: h.gsoSize, headerLength: h.hdrLen };
    } else if (frame.length > this.opts.maxFrame) {
      this.rxRefused++;
      return;
    }
    this.receiver(frame, offload);
  }

  setGuestOffloads(o: GuestOffloads): void {
    const flags = (o.csum ? TUN_F_CSUM : 0) | (o.csum && o.tcpv4 ? TUN_F_TSO4 : 0) | (o.csum && o.tcpv6 ? TUN_F_TSO6 : 0);
    try {
      this.native.setTapOffload(this.fd, flags);
    } catch (e) {
      this.opts.log.warn(`${this.opts.label}: ${describeNativeError(e)}; the kernel keeps segmenting for the guest`);
    }
  }

  stats(): TapBackendStats {
    const s = this.port.stats();
    return { ...s, txOversize: s.txOversize + this.txOversize, rxRefused: this.rxRefused };
  }

  close(): Promise<void> {
    return this.port.close();
  }
}
