// Entry point of a VMM process (Node child process or Electron utilityProcess): hosts one
// in-process VirtualMachine and relays the protocol of protocol.ts over the IPC channel.
import { VirtualMachine } from './virtual-machine.ts';
import type { HostToVmm, VmmToHost } from './protocol.ts';

interface ParentPort {
  postMessage(m: VmmToHost): void;
  on(event: 'message', l: (e: { data: HostToVmm } | HostToVmm) => void): void;
}

// Electron's utilityProcess exposes process.parentPort; a Node child process has process.send.
const electronPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
const send = (m: VmmToHost): void => {
  if (electronPort) electronPort.postMessage(m);
  else process.send?.(m);
};
const onMessage = (l: (m: HostToVmm) => void): void => {
  if (electronPort) electronPort.on('message', (e) => l('data' in e ? (e as { data: HostToVmm }).data : e));
  else process.on('message', (m) => l(m as HostToVmm));
};

let vm: VirtualMachine | undefined;

onMessage((m) => {
  switch (m.type) {
    case 'start': {
      if (vm) return;
      vm = new VirtualMachine(m.config);
      vm.console.on('data', (b: Buffer) => send({ type: 'console-out', data: b.toString('base64') }));
      for (const name of ['hvc0', ...(m.config.consolePorts ?? [])]) {
        vm.port(name).on('data', (b: Buffer) => send({ type: 'port-out', name, data: b.toString('base64') }));
      }
      vm.on('boot', (report) => send({ type: 'boot', report }));
      vm.on('reset', () => send({ type: 'reset' }));
      vm.on('notice', (message) => send({ type: 'notice', message }));
      vm.on('state', (state) => send({ type: 'state', state }));
      vm.on('exit', (e) => {
        send({ type: 'exit', reason: e.reason, error: e.error?.message });
        setTimeout(() => process.exit(0), 50);
      });
      vm.start().then(
        () => send({ type: 'started' }),
        (e: Error) => {
          send({ type: 'exit', reason: 'error', error: e.message });
          setTimeout(() => process.exit(1), 50);
        },
      );
      return;
    }
    case 'console-in':
      vm?.console.write(Buffer.from(m.data, 'base64'));
      return;
    case 'port-in':
      if (vm && (m.name === 'hvc0' || vm.config.consolePorts?.includes(m.name))) vm.port(m.name).write(Buffer.from(m.data, 'base64'));
      return;
    case 'pause':
      void vm?.pause().catch(() => undefined);
      return;
    case 'resume':
      void vm?.resume().catch(() => undefined);
      return;
    case 'stop':
      void vm?.stop();
      return;
  }
});
process.on('disconnect', () => {
  // The host went away: do not leave an orphaned VM running.
  void vm?.stop().finally(() => process.exit(0));
});
