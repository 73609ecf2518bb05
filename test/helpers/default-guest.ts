// Boot suites need the default guest. Locally they skip without it; in CI its absence means
// `nodevisor guest build` failed in .ci/run, which must fail the run rather than hide it.
import type { Context } from 'mocha';
import { findDefaultGuest } from '../../src/guest/cache.ts';

export function requireDefaultGuest(ctx: Context): NonNullable<ReturnType<typeof findDefaultGuest>> {
  const g = findDefaultGuest();
  if (g) return g;
  if (process.env.CI) throw new Error('the default guest is missing: `nodevisor guest build` failed in .ci/run');
  console.log('      skipped: no default guest (run `nodevisor guest build`)');
  ctx.skip();
}
