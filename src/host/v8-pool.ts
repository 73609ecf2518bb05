// The size of V8's pool of worker threads for a process that runs a VMM. V8 runs its
// background work there: optimizing (TurboFan) compiles of the translator's hot WebAssembly
// and parts of garbage collection. Node makes 4 workers whatever the machine, and the vCPUs
// run on one thread (the event loop's); with fewer cores than that the workers take turns on
// the vCPU thread's core. On the 2-core bench machine a Debian boot took 7.3-9.3 s of wall
// time with 4 workers and 6.1-7.5 s with 1 (the same main-thread work; the rest was waiting
// for the core). A pool of cores - 1 leaves that thread a core of its own.
//
// The pool is made when Node starts (--v8-pool-size), so the CLI and the bench run
// themselves again with it, and the API passes it to the VMM processes it forks. A size the
// user gives (in execArgv or NODE_OPTIONS) is kept.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';

/** Node's pool size when none is given. */
export const NODE_DEFAULT_POOL_SIZE = 4;

/** What the pool size depends on; each field left out is this process's own. */
export interface PoolContext {
  cores?: number;
  /** Options Node was (or will be) started with. */
  execArgv?: readonly string[];
  /** NODE_OPTIONS, which Node reads too. */
  nodeOptions?: string;
}

/** The Node options a VMM process should start with: --v8-pool-size when cores - 1 is below Node's default, else none. */
export function vmmNodeOptions(ctx: PoolContext = {}): string[] {
  const { cores = availableParallelism(), execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? '' } = ctx;
  const given = (a: string): boolean => a === '--v8-pool-size' || a.startsWith('--v8-pool-size=');
  if (execArgv.some(given) || nodeOptions.split(/\s+/).some(given)) return [];
  const size = Math.max(1, Math.floor(cores) - 1);
  return size < NODE_DEFAULT_POOL_SIZE ? [`--v8-pool-size=${size}`] : [];
}

/** Set in the relaunched process: the launching process's pid. */
const LAUNCHER_ENV = 'NODEVISOR_LAUNCHER_PID';
/** How often a relaunched process checks that its launcher is still there. */
const LAUNCHER_CHECK_MS = 1000;

/**
 * A launcher killed outright (SIGKILL) cannot pass that on: the relaunched process then ends
 * itself as on SIGHUP (the terminal restored), instead of running on without a parent.
 */
function watchLauncher(pid: number): void {
  setInterval(() => {
    if (process.ppid !== pid) process.kill(process.pid, 'SIGHUP');
  }, LAUNCHER_CHECK_MS).unref();
}

/**
 * Run this script again in a Node started with vmmNodeOptions(), when there are any: resolves
 * with false when this process should go on itself, and otherwise never (this process
 * forwards signals to the new one, then exits as it does).
 */
export function relaunchWithVmmPool(): Promise<false> {
  const launcher = process.env[LAUNCHER_ENV];
  if (launcher !== undefined) {
    delete process.env[LAUNCHER_ENV];
    watchLauncher(Number(launcher));
    return Promise.resolve(false);
  }
  const extra = vmmNodeOptions();
  if (extra.length === 0) return Promise.resolve(false);
  const child = spawn(process.execPath, [...extra, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [LAUNCHER_ENV]: String(process.pid) },
  });
  // A terminal's Ctrl-C reaches both processes; a signal sent to this one alone is passed on.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];
  const forward = (s: NodeJS.Signals): void => { child.kill(s); };
  for (const s of signals) process.on(s, forward);
  return new Promise(() => {
    child.on('error', (e) => {
      process.stderr.write(`nodevisor: could not start ${process.execPath}: ${e.message}\n`);
      process.exit(1);
    });
    child.on('exit', (code, signal) => {
      for (const s of signals) process.removeListener(s, forward);
      if (signal !== null) process.kill(process.pid, signal); // end as the child did
      process.exit(code ?? 1);
    });
  });
}
