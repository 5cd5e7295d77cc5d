/**
 * Runs every `bench/*.bench.ts` one after another, each in its own process so one's memory does not
 * colour another's figures. `npm run bench -- worker` runs only the files whose name contains "worker".
 * Benchmarks print figures and ratios; they never pass or fail.
 */
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(here)
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

for (const file of files) {
  console.log(`\n=== ${file} ===`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', '--expose-gc', join(here, file)], { stdio: 'inherit' });
  if (run.status !== 0) console.log(`(${file} stopped with status ${run.status})`);
}
