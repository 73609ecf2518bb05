// nodevisor's public API.
export { VirtualMachine, VirtualMachineError, vmmEntryPath, DEFAULT_CMDLINE, DEFAULT_MEMORY } from './api/virtual-machine.ts';
export type { VirtualMachineConfig, VirtualMachineOptions, VirtualMachineEvents } from './api/virtual-machine.ts';
export type { VmmChannel, VmState } from './api/protocol.ts';
export { vmmNodeOptions } from './host/v8-pool.ts';
export type { MachineExit } from './vmm/machine.ts';
export type { BootTimeReport } from './devices/legacy/boot-timer.ts';
export { selectAccelerator, type AccelChoice } from './accel/select.ts';
export type { Accelerator, Vm, Vcpu, VcpuExit } from './accel/types.ts';
