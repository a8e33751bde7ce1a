/**
 * The buildpack's read of package.json: the first step of bin/compile, in bash, before any Node exists.
 * On a generated monorepo-root package.json of BENCH_KB (default 75) KB — workspaces, hundreds of
 * dependencies and scripts, a nested tool config — measured in the same run, best of BENCH_ROUNDS
 * (default 5), wall-clock and CPU time (user + sys, children included) from bash's `time`:
 *   - the reference: `node` reading the file with JSON.parse (its start-up included);
 *   - the buildpack: sourcing its parts and `read_package_json` (the JSON check, the types of the
 *     fields the build uses, engines.node, main, the scripts), what bin/compile does once per build;
 *   - the same on a 1 KB package.json: the fixed cost (sourcing the parts).
 * The values read are checked against JSON.parse's. Target: the 75 KB read under 1 s.
 *
 *   npm run bench -- package-json
 *   BENCH_KB=18 node --import tsx bench/package-json.bench.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const KB = Number(process.env.BENCH_KB ?? '75');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '5');

interface Manifest {
  name: string;
  private: boolean;
  main: string;
  engines: { node: string };
  workspaces: string[];
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  jest: { projects: Array<Record<string, unknown>> };
}

/** A package.json of about `bytes` bytes, shaped like a monorepo root. */
function monorepoManifest(bytes: number): string {
  const manifest: Manifest = {
    name: 'monorepo-root',
    private: true,
    main: 'packages/server/dist/main.js',
    engines: { node: '>=20.0.0-0 <25.0.0-0' },
    workspaces: [],
    scripts: { start: 'node packages/server/dist/main.js', build: 'tsc -b', 'heroku-postbuild': 'npm run build -ws' },
    dependencies: {},
    devDependencies: {},
    jest: { projects: [] },
  };
  for (let i = 0; JSON.stringify(manifest, null, 2).length < bytes; i++) {
    manifest.workspaces.push(`packages/p${i}`);
    manifest.dependencies[`@scope-${i % 37}/package-${i}`] = `^${i % 20}.${i % 7}.${i % 13}`;
    manifest.devDependencies[`tool-${i}`] = `~${i % 9}.0.${i}`;
    manifest.scripts[`test:p${i}`] = `npm --workspace packages/p${i} run test -- --coverage "caf\u00e9 \\"${i}\\""`;
    manifest.jest.projects.push({ displayName: `p${i}`, testMatch: [`<rootDir>/packages/p${i}/**/*.test.ts`], weight: i * 1.5e3, ok: i % 2 === 0, none: null });
  }
  return JSON.stringify(manifest, null, 2) + '\n';
}

interface Timing {
  real: number;
  cpu: number;
  output: string;
}

/** Runs `body` in bash under `time`: the wall-clock and CPU seconds of the body alone (the report goes to a file). */
function timed(body: string, cwd: string): Timing {
  const script = `TIMEFORMAT='%R %U %S'; { time { ${body}; } 2>&3; } 3>&2 2>"$TMPDIR_TIMES"`;
  const times = path.join(cwd, 'times');
  const result = spawnSync('bash', ['-c', script], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR_TIMES: times, BP: path.join(ROOT, 'buildpack'), NODE: process.execPath },
  });
  if (result.status !== 0) throw new Error(`bash failed (status ${result.status}): ${result.stderr}`);
  const report = readFileSync(times, 'utf8').trim();
  const [, real, user, sys] = /^([\d.]+) ([\d.]+) ([\d.]+)$/.exec(report) ?? [];
  if (real === undefined || user === undefined || sys === undefined) throw new Error(`cannot read bash's time report: ${report}`);
  return { real: Number(real), cpu: Number(user) + Number(sys), output: result.stdout };
}

function best(runs: Timing[]): Timing {
  return {
    real: Math.min(...runs.map((run) => run.real)),
    cpu: Math.min(...runs.map((run) => run.cpu)),
    output: runs[0]?.output ?? '',
  };
}

const READ =
  'for part in output json package-json; do source "$BP/$part.sh"; done; read_package_json package.json; ' +
  'printf "%s|%s|%s|%s" "$ENGINES_NODE" "$APP_MAIN" "$APP_START" "$DEFINED_SCRIPTS"';
const REFERENCE = `"$NODE" -e 'JSON.parse(require("fs").readFileSync("package.json", "utf8"))'`;

const work = mkdtempSync(path.join(os.tmpdir(), 'tsforeman-package-json-bench-'));
let failed = false;
try {
  const bigDir = path.join(work, 'big');
  const smallDir = path.join(work, 'small');
  mkdirSync(bigDir);
  mkdirSync(smallDir);
  const text = monorepoManifest(KB * 1000);
  writeFileSync(path.join(bigDir, 'package.json'), text);
  writeFileSync(path.join(smallDir, 'package.json'), monorepoManifest(1000));

  const runs: Record<'reference' | 'buildpack' | 'fixed', Timing[]> = { reference: [], buildpack: [], fixed: [] };
  for (let round = 0; round < ROUNDS; round++) {
    runs.reference.push(timed(REFERENCE, bigDir));
    runs.buildpack.push(timed(READ, bigDir));
    runs.fixed.push(timed(READ, smallDir));
  }
  const reference = best(runs.reference);
  const buildpack = best(runs.buildpack);
  const fixed = best(runs.fixed);

  const manifest = JSON.parse(text) as Manifest;
  const expected = `${manifest.engines.node}|${manifest.main}|${manifest.scripts.start}|heroku-postbuild build`;
  if (buildpack.output !== expected) {
    failed = true;
    console.error(`the buildpack read ${JSON.stringify(buildpack.output)}, JSON.parse ${JSON.stringify(expected)}`);
  }

  const row = (name: string, timing: Timing) =>
    console.log(`  ${name.padEnd(52)} ${timing.real.toFixed(3).padStart(7)} s  (CPU ${timing.cpu.toFixed(3)} s)`);
  console.log(`package.json of ${(text.length / 1000).toFixed(1)} KB, best of ${ROUNDS} rounds`);
  row('node: JSON.parse (reference, start-up included)', reference);
  row('buildpack: read_package_json', buildpack);
  row('buildpack: read_package_json on 1 KB (fixed cost)', fixed);
  console.log(`buildpack / node: ${(buildpack.real / reference.real).toFixed(2)}x wall-clock, ${(buildpack.cpu / Math.max(reference.cpu, 0.001)).toFixed(2)}x CPU`);
  console.log(`target: under 1 s for ${KB} KB: ${buildpack.real < 1 ? 'met' : 'NOT met'} (${buildpack.real.toFixed(3)} s)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
