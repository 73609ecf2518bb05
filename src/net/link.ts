// What the NAT modules need from the gateway: a way to send IPv4 to the guest (large TCP
// segments too, when the guest negotiated TSO), the mapping of guest-side destinations to host
// addresses, and the addresses of the virtual network.
import type { DeviceLogger } from '../devices/virtio/device.ts';

export interface GuestLink {
  readonly guestIp: number;
  readonly gatewayIp: number;
  readonly log: DeviceLogger;
  /** Send one IPv4 payload to the guest; with `segment`, a TCP segment with a partial checksum
   *  and more than segmentSize bytes of payload after its tcpHeader-byte header. */
  sendIp(src: number, dst: number, protocol: number, payload: Uint8Array, segment?: { segmentSize: number; tcpHeader: number }): void;
  /** Largest TCP payload one segment to the guest may carry (0 when the guest takes no TSO). */
  tcpSegmentLimit(): number;
  /** The host address a guest destination maps to (the gateway is 127.0.0.1), or undefined. */
  hostAddress(ip: number): string | undefined;
}
