// Runs a fuzz target for a fixed number of deterministic inputs (for regression tests).
import { mutate, Rng, type FuzzTarget } from '../../fuzz/target.ts';

/** Runs `n` inputs as `npm run fuzz` would (seeds, mutations of them, random bytes); returns the findings. */
export async function runInputs(target: FuzzTarget, n: number, seed: number): Promise<string[]> {
  const rng = new Rng(seed);
  const seeds = target.seeds?.() ?? [];
  const findings: string[] = [];
  for (let i = 0; i < n; i++) {
    const input = i < seeds.length ? seeds[i] : rng.below(4) ? mutate(rng, seeds[rng.below(seeds.length)]) : rng.bytes(rng.below(512));
    try {
      await target.run(input, undefined);
    } catch (e) {
      if (!target.isExpectedError?.(e)) findings.push(`${Buffer.from(input).toString('hex')}: ${String(e)}`);
    }
  }
  return findings;
}
