// What the NAT modules need from the gateway: a way to send IPv4 to the guest, the mapping of
// guest-side destinations to host addresses, and the addresses of the virtual network.
import type { DeviceLogger } from '../devices/virtio/device.ts';

export interface GuestLink {
  readonly guestIp: number;
  readonly gatewayIp: number;
  readonly log: DeviceLogger;
  /** Send one IPv4 payload to the guest. */
  sendIp(src: number, dst: number, protocol: number, payload: Uint8Array): void;
  /** The host address a guest destination maps to (the gateway is 127.0.0.1), or undefined. */
  hostAddress(ip: number): string | undefined;
}
