// Electron main process: the VMM runs in a utilityProcess (its own process and memory cage;
// HVF allows one VM per process), the renderer shows the console. Built with `tsc` to
// main.js; the executable needs the com.apple.security.hypervisor entitlement for HVF
// (see docs/hvf.md), otherwise nodevisor falls back to the software CPU.
import { app, BrowserWindow, ipcMain, utilityProcess } from 'electron';
import { fileURLToPath } from 'node:url';
import { VirtualMachine, vmmEntryPath, type VmmChannel } from 'nodevisor';

/** The API's process channel around Electron's utilityProcess. */
function utilityChannel(): VmmChannel {
  const child = utilityProcess.fork(vmmEntryPath(), [], { serviceName: 'nodevisor VMM' });
  return {
    send: (m) => child.postMessage(m),
    onMessage: (l) => child.on('message', l),
    onExit: (l) => child.on('exit', (code) => l(code)),
    kill: () => void child.kill(),
  };
}

async function main(): Promise<void> {
  await app.whenReady();
  const win = new BrowserWindow({
    width: 900,
    height: 600,
    webPreferences: { preload: fileURLToPath(new URL('./preload.js', import.meta.url)), contextIsolation: true },
  });
  await win.loadFile(fileURLToPath(new URL('./index.html', import.meta.url)));

  const vm = new VirtualMachine({ memory: '512M', cpus: 2, mode: 'child-process' }, { channel: utilityChannel });
  vm.console.on('data', (b: Buffer) => win.webContents.send('console-out', b.toString('utf8')));
  ipcMain.on('console-in', (_e, text: string) => vm.console.write(text));
  vm.on('exit', (e) => win.webContents.send('console-out', `\r\n[guest ${e.reason}]\r\n`));
  app.on('window-all-closed', () => void vm.stop().finally(() => app.quit()));
  await vm.start();
}

void main();
