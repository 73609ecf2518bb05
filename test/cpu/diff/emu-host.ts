// Loads the software CPU when it exists and runs programs on it in a worker thread with a
// watchdog: a run that does not come back in time terminates the worker (a fresh one
// serves the next request).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Accelerator } from '../../../src/accel/types.ts';
import { findToolchain, type Toolchain } from '../../helpers/aarch64-toolchain.ts';
import type { EmuRunOptions, EmuRunResult, IdRegisters } from './emu-runner.ts';

const ACCEL_URL = new URL('../../../src/accel/emu/accelerator.ts', import.meta.url);

/** The software CPU, or the reason it cannot be used (yet). */
export async function loadEmuAccelerator(): Promise<{ accelerator?: Accelerator; reason?: string }> {
  if (!existsSync(fileURLToPath(ACCEL_URL))) return { reason: 'src/accel/emu/accelerator.ts does not exist yet' };
  try {
    // A computed specifier keeps type-checking independent of the CPU's progress.
    const mod = (await import(ACCEL_URL.href)) as { EmuAccelerator?: new () => Accelerator };
    if (typeof mod.EmuAccelerator !== 'function') return { reason: 'accelerator.ts exports no EmuAccelerator class' };
    return { accelerator: new mod.EmuAccelerator() };
  } catch (e) {
    return { reason: `cannot load the software CPU: ${(e as Error).message}` };
  }
}

/**
 * For a suite's before hook: the cross toolchain and the software CPU, or the suite is skipped
 * (with the reason on stderr) where either is missing.
 */
export async function toolchainAndEmuOrSkip(ctx: Mocha.Context): Promise<{ tc: Toolchain; accel: Accelerator }> {
  const found = findToolchain();
  if (!found.toolchain) {
    console.warn(`skipping: ${found.reason}`);
    ctx.skip();
  }
  const loaded = await loadEmuAccelerator();
  if (!loaded.accelerator) {
    console.warn(`skipping: ${loaded.reason}`);
    ctx.skip();
  }
  return { tc: found.toolchain!, accel: loaded.accelerator! };
}

export function emuAvailable(): string | undefined {
  return existsSync(fileURLToPath(ACCEL_URL)) ? undefined : 'src/accel/emu/accelerator.ts does not exist yet';
}

export type EmuOutcome = EmuRunResult | { error: string; stdout?: undefined };

export class EmuHost {
  private worker: Worker | undefined;
  private nextId = 1;

  private spawn(): Worker {
    if (!this.worker) {
      // A .ts entry point is not loaded through --import hooks in a Node 20 worker, so the
      // worker starts as plain JavaScript that registers tsx and then imports the real file.
      const entry = new URL('./emu-worker.ts', import.meta.url).href;
      const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
      this.worker = new Worker(bootstrap, { eval: true });
      this.worker.unref();
    }
    return this.worker;
  }

  /** Run on the software CPU; a watchdog ends the worker `graceMs` after the run's own budget. */
  async run(elf: Uint8Array, options: EmuRunOptions, graceMs = 10_000): Promise<EmuOutcome> {
    const r = await this.request(elf, options, graceMs);
    return typeof r === 'string' ? { error: r } : (r as EmuOutcome);
  }

  private request(elf: Uint8Array | undefined, options: EmuRunOptions, graceMs: number): Promise<EmuOutcome | IdRegisters | string> {
    const worker = this.spawn();
    const id = this.nextId++;
    const budget = (options.timeoutMs ?? 30_000) + graceMs;
    return new Promise((resolve) => {
      const done = (outcome: EmuOutcome | IdRegisters | string) => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        resolve(outcome);
      };
      const onMessage = (msg: { id: number; result?: EmuRunResult; idRegs?: IdRegisters; thrown?: string }) => {
        if (msg.id !== id) return;
        if (msg.result) done({ ...msg.result, stdout: new Uint8Array(msg.result.stdout) });
        else if (msg.idRegs) done(msg.idRegs);
        else done(`runner threw: ${msg.thrown}`);
      };
      const onError = (e: Error) => {
        this.worker = undefined;
        done(`worker crashed: ${e.message}`);
      };
      const onExit = (code: number) => {
        this.worker = undefined;
        done(`worker exited with code ${code}`);
      };
      const timer = setTimeout(() => {
        this.worker = undefined;
        void worker.terminate();
        done(`the software CPU did not return within ${budget} ms (hung in run()?)`);
      }, budget);
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      worker.postMessage({ id, elf, options });
    });
  }

  /** The CPU's ID registers (read in the worker), or an error message. */
  async idRegisters(): Promise<IdRegisters | string> {
    const outcome = await this.request(undefined, {}, 10_000);
    return typeof outcome === 'string' || 'isar0' in outcome ? outcome : 'unexpected reply';
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
