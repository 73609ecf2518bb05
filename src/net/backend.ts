// What the virtio-net device talks to: something that takes the guest's Ethernet frames and
// delivers frames for the guest. The user-mode stack, the stream socket, the datagram socket
// and tap implement it. Segmentation offload is opt-in on both sides: a backend that can take
// one TCP segment larger than the MTU says so (the device then offers HOST_TSO*), and one that
// can produce such segments is told what the guest negotiated (GUEST_TSO*, GUEST_CSUM).

export type GsoProtocol = 'tcpv4' | 'tcpv6';

/** A guest frame that is one TCP segment larger than the MTU (the device validated it and
 *  completed its checksums); a NIC would cut it into `segmentSize`-byte segments. */
export interface TxSegmentation {
  protocol: GsoProtocol;
  segmentSize: number;
}

/** How a frame for the guest is to be described in its virtio header. */
export interface RxOffload {
  /** The transport checksum at csumStart + csumOffset holds only the pseudo-header sum; the
   *  guest completes it over csumStart..end (NEEDS_CSUM). */
  csumStart: number;
  csumOffset: number;
  /** One TCP segment of more than segmentSize payload bytes (the guest's MSS). */
  gso?: { protocol: GsoProtocol; segmentSize: number; headerLength: number };
}

/** What the guest accepts on receive, as negotiated. */
export interface GuestOffloads {
  /** Partial checksums (GUEST_CSUM). */
  csum: boolean;
  /** Large TCP segments with partial checksums, per IP version (GUEST_TSO4/6 with GUEST_CSUM). */
  tcpv4: boolean;
  tcpv6: boolean;
}

export const NO_GUEST_OFFLOADS: GuestOffloads = { csum: false, tcpv4: false, tcpv6: false };

export interface NetBackend {
  /** A frame the guest transmitted (Ethernet header onwards, no virtio header). */
  send(frame: Uint8Array, segmentation?: TxSegmentation): void;
  /** Register the receiver of frames for the guest (the device's rx path). */
  onFrame(receiver: (frame: Uint8Array, offload?: RxOffload) => void): void;
  /** Whether frames from this backend carry checksums the stack computed (DATA_VALID on rx). */
  readonly checksumsTrusted: boolean;
  /** Large TCP segments this backend takes from the guest, per IP version; none when absent. */
  readonly acceptsSegmentation?: Readonly<Record<GsoProtocol, boolean>>;
  /** Large TCP segments this backend can send to a guest that accepts them, per IP version. */
  readonly producesSegmentation?: Readonly<Record<GsoProtocol, boolean>>;
  /** The guest's receive offloads changed (driver activation, reset). */
  setGuestOffloads?(offloads: GuestOffloads): void;
  close(): Promise<void>;
}

export class NetBackendError extends Error {
  override readonly name = 'NetBackendError';
}
