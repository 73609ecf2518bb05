// Start the default guest in a child process, type a command at its shell, print what it
// says, and wait for it to power off.
import { VirtualMachine } from '../../src/index.ts';

const vm = new VirtualMachine({ memory: '512M', cpus: 1, mode: 'child-process' });
let seen = '';
vm.console.on('data', (b: Buffer) => {
  process.stdout.write(b);
  seen += b.toString();
  if (seen.includes('# ') && !seen.includes('poweroff')) {
    seen += 'poweroff';
    vm.console.write('uname -a; poweroff -f\n');
  }
});
vm.on('notice', (m) => console.error(`nodevisor: ${m}`));
vm.on('boot', (r) => console.error(`booted in ${r.elapsedMs.toFixed(0)} ms`));
await vm.start();
const exit = await vm.waitForExit();
console.error(`guest exit: ${exit.reason}`);
