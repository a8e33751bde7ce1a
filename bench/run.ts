/**
 * `npm run bench`: runs every bench/*.bench.ts (or the ones named on the command line), one after the
 * other, each in its own Node process, and exits non-zero if one fails.
 *
 *   npm run bench                       # all of them
 *   npm run bench -- tsunicorn          # bench/tsunicorn.bench.ts only
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const directory = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(directory).filter((file) => file.endsWith('.bench.ts')).sort();
const wanted = process.argv.slice(2);
const selected = wanted.length === 0
  ? available
  : wanted.map((name) => {
      const file = name.endsWith('.bench.ts') ? path.basename(name) : `${name}.bench.ts`;
      if (!available.includes(file)) {
        console.error(`no such benchmark: ${name} (have: ${available.join(', ') || 'none'})`);
        process.exit(2);
      }
      return file;
    });

let failed = 0;
for (const file of selected) {
  console.log(`\n=== ${file}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(directory, file)], { stdio: 'inherit' });
  if (result.status !== 0) {
    failed++;
    console.error(`${file} failed (status ${result.status ?? result.signal})`);
  }
}
process.exit(failed === 0 ? 0 : 1);
