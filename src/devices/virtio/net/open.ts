// One --net spec to a virtio-net device: the MAC (mac= or the default plus the interface
// index) and the backend the spec names.
import { openBackend } from '../../../net/backends.ts';
import { defaultMac, type NetSpec } from '../../../net/spec.ts';
import type { DeviceLogger } from '../device.ts';
import { VirtioNet } from './device.ts';

export async function openNetDevice(spec: NetSpec, index: number, log: DeviceLogger): Promise<VirtioNet> {
  const mac = spec.mac ?? defaultMac(index);
  const backend = await openBackend(spec, mac, log);
  return new VirtioNet({ mac, backend, log });
}
