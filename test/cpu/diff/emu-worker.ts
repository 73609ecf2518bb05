// Worker thread that runs programs on the software CPU, so that a CPU bug which spins
// without ever returning from run() can be stopped by terminating the thread.
import { parentPort } from 'node:worker_threads';
import type { Accelerator } from '../../../src/accel/types.ts';
import { readIdRegisters, runElfOnEmulator, type EmuRunOptions } from './emu-runner.ts';
import { loadEmuAccelerator } from './emu-host.ts';

interface Request {
  id: number;
  /** Absent: report the CPU's ID registers instead of running a program. */
  elf?: Uint8Array;
  options: EmuRunOptions;
}

let accel: Accelerator | undefined;

parentPort?.on('message', async (req: Request) => {
  try {
    if (!accel) {
      const loaded = await loadEmuAccelerator();
      if (!loaded.accelerator) throw new Error(loaded.reason);
      accel = loaded.accelerator;
    }
    if (!req.elf) {
      parentPort?.postMessage({ id: req.id, idRegs: await readIdRegisters(accel) });
      return;
    }
    const result = await runElfOnEmulator(accel, req.elf, req.options);
    parentPort?.postMessage({ id: req.id, result }, [result.stdout.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    parentPort?.postMessage({ id: req.id, thrown: `${err.name}: ${err.message}\n${err.stack ?? ''}` });
  }
});
