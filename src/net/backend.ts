// What the virtio-net device talks to: something that takes the guest's Ethernet frames and
// delivers frames for the guest. The user-mode stack, the stream socket, the datagram socket
// and tap implement it.

export interface NetBackend {
  /** A frame the guest transmitted (Ethernet header onwards, no virtio header). */
  send(frame: Uint8Array): void;
  /** Register the receiver of frames for the guest (the device's rx path). */
  onFrame(receiver: (frame: Uint8Array) => void): void;
  /** Whether frames from this backend carry checksums the stack computed (DATA_VALID on rx). */
  readonly checksumsTrusted: boolean;
  close(): Promise<void>;
}

export class NetBackendError extends Error {
  override readonly name = 'NetBackendError';
}
