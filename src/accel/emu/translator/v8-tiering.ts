// V8 runs a new wasm function on its baseline compiler (Liftoff) and moves it to the
// optimizing one (TurboFan, in the background) once the function has executed about
// --wasm-tiering-budget bytes of its code: 1.8 M by default in Node 20. A translated block is
// a few hundred bytes, so a hot block would spend thousands of runs on baseline code, and most
// blocks of a boot would never be optimized at all. A smaller budget moves them within a few
// hundred runs. The flag is process-wide and read when a module is instantiated, so it is set
// once before the first module; NODEVISOR_WASM_TIERING_BUDGET overrides the value (0 leaves
// V8's default alone).
import v8 from 'node:v8';

/**
 * On the Debian boot, alternating runs, about 3% faster than V8's default; 20 000 and 4 000
 * were slower than 100 000 to 600 000 (more functions optimized that did not pay back).
 */
export const WASM_TIERING_BUDGET = 300_000;

let applied = false;

export function tuneWasmTiering(env: NodeJS.ProcessEnv = process.env): void {
  if (applied) return;
  applied = true;
  const fromEnv = env.NODEVISOR_WASM_TIERING_BUDGET;
  const budget = fromEnv !== undefined && /^\d+$/.test(fromEnv) ? Number(fromEnv) : WASM_TIERING_BUDGET;
  if (budget > 0) v8.setFlagsFromString(`--wasm-tiering-budget=${budget}`);
}
