// Opening the backend a parsed --net spec names.
import type { DeviceLogger } from '../devices/virtio/device.ts';
import type { NetBackend } from './backend.ts';
import { openDgram } from './dgram-backend.ts';
import type { NetSpec } from './spec.ts';
import { StreamBackend } from './stream-backend.ts';
import { openTap } from './tap-backend.ts';
import { UserNetwork, type UserNetOptions } from './user-net.ts';

export async function openBackend(spec: NetSpec, guestMac: Uint8Array, log: DeviceLogger, userOpts: Partial<UserNetOptions> = {}): Promise<NetBackend> {
  switch (spec.kind) {
    case 'user':
      return UserNetwork.create(spec, { ...userOpts, guestMac, log });
    case 'socket':
      return StreamBackend.open(spec.path, log);
    case 'dgram':
      return openDgram(spec, log);
    case 'tap':
      return openTap(spec.ifname, log, spec.mtu);
  }
}
