#!/usr/bin/env node
// CLI entry: runs the TypeScript sources through tsx when not built, dist/ otherwise.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = existsSync(join(root, 'dist', 'src', 'cli', 'main.js'));
if (!built) {
  const { register } = await import('tsx/esm/api');
  register();
}
const load = (module) => import(pathToFileURL(built ? join(root, 'dist', 'src', `${module}.js`) : join(root, 'src', `${module}.ts`)).href);
// On a machine with few cores, first start again with a V8 worker pool that leaves the vCPU
// thread a core (src/host/v8-pool.ts); that run goes on to the CLI.
const { relaunchWithVmmPool } = await load('host/v8-pool');
await relaunchWithVmmPool();
await load('cli/main');
