// Messages between a VirtualMachine and the VMM process that hosts it (child process or
// Electron utilityProcess). Plain JSON-compatible objects; console bytes travel as base64.
import type { BootTimeReport } from '../devices/legacy/boot-timer.ts';
import type { VirtualMachineConfig } from './virtual-machine.ts';

export type HostToVmm =
  | { type: 'start'; config: VirtualMachineConfig }
  | { type: 'console-in'; data: string }
  | { type: 'port-in'; name: string; data: string }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' };

export type VmmToHost =
  | { type: 'started' }
  | { type: 'console-out'; data: string }
  | { type: 'port-out'; name: string; data: string }
  | { type: 'state'; state: VmState }
  | { type: 'boot'; report: BootTimeReport }
  | { type: 'reset' }
  | { type: 'notice'; message: string }
  | { type: 'exit'; reason: string; error?: string };

export type VmState = 'created' | 'starting' | 'running' | 'paused' | 'stopped';

/** What the API needs from a process channel: Node's ChildProcess or Electron's UtilityProcess fit it. */
export interface VmmChannel {
  send(message: HostToVmm): void;
  onMessage(listener: (message: VmmToHost) => void): void;
  onExit(listener: (code: number | null) => void): void;
  kill(): void;
}
