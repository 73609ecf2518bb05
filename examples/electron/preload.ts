// Exposes only two console functions to the page (contextIsolation stays on).
import { contextBridge, ipcRenderer } from 'electron';

contextBridge.exposeInMainWorld('guestConsole', {
  write: (text: string) => ipcRenderer.send('console-in', text),
  onData: (listener: (text: string) => void) => ipcRenderer.on('console-out', (_e, text: string) => listener(text)),
});
