/**
 * `tsforeman build` of the TypeScript example app (test/fixtures/buildpack/ts-app: typescript as a
 * devDependency, tsforeman as a dependency, a tsc build, a Procfile), cold then warm, measured in the
 * same run on a bare build image (a PATH with no node: the buildpack downloads Node.js from a mirror on
 * 127.0.0.1 serving this machine's Node as a release tarball, as the tests do):
 *   - cold: an empty cache: the Node.js download, npm ci (from the npm registry), the build, the prune;
 *   - warm: the same app unchanged, the cache kept: nothing may be downloaded (no request to the
 *     mirror) or installed (no npm ci; the log must say node_modules was reused).
 * Wall-clock and CPU time (user + sys of the build and everything it ran) of each, best of
 * BENCH_ROUNDS (default 2) warm builds. Target: the warm build under 15% of the cold one.
 *
 *   npm run bench -- build
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import {
  cleanEnv,
  makeToolPaths,
  nodeLines,
  nodeTarball,
  NODE_MAJOR,
  packThisPackage,
  prepareTsApp,
  startMirror,
} from '../test/buildpack/harness.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '2');

interface Timing {
  real: number;
  cpu: number;
  output: string;
}

/**
 * `tsforeman build` under bash's `time`: wall-clock and CPU seconds (children included), and its output.
 * Spawned without blocking: the mirror answering the build runs in this process.
 */
async function timedBuild(app: string, cache: string, out: string, env: Record<string, string>): Promise<Timing> {
  const work = mkdtempSync(path.join(os.tmpdir(), 'tsforeman-build-bench-time-'));
  const times = path.join(work, 'times');
  const script = `TIMEFORMAT='%R %U %S'; { time { "$NODE" "$TSFOREMAN" build "$APP" --cache "$CACHE" --out "$OUT" 2>&1; } 2>&3; } 3>&2 2>"$TIMES"`;
  try {
    const result = await execa('/bin/bash', ['-c', script], {
      env: { ...env, NODE: process.execPath, TSFOREMAN: path.join(ROOT, 'bin', 'tsforeman'), APP: app, CACHE: cache, OUT: out, TIMES: times },
      extendEnv: false,
      reject: false,
      stdin: 'ignore',
    });
    if (result.exitCode !== 0) throw new Error(`tsforeman build failed (status ${result.exitCode}):\n${result.stdout}${result.stderr}`);
    const [, real, user, sys] = /^([\d.]+) ([\d.]+) ([\d.]+)$/.exec(readFileSync(times, 'utf8').trim()) ?? [];
    if (real === undefined || user === undefined || sys === undefined) throw new Error('cannot read bash\'s time report');
    return { real: Number(real), cpu: Number(user) + Number(sys), output: String(result.stdout) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** "Heading 1.23s, ..." from the buildpack's `-----> Heading` ... `done in 1.23s` lines. */
function steps(output: string): string {
  const found: string[] = [];
  let heading = '';
  for (const line of output.split('\n')) {
    const head = /^-----> (.+)$/.exec(line);
    if (head) heading = head[1]!;
    const done = /^ {7}done in ([\d.]+s)$/.exec(line);
    if (done && heading) found.push(`${heading} ${done[1]}`);
  }
  return found.join(', ');
}

const work = mkdtempSync(path.join(os.tmpdir(), 'tsforeman-build-bench-'));
let failed = false;
const line = nodeLines().find((candidate) => candidate.major === NODE_MAJOR)!;
const mirror = await startMirror([{ line, tarball: await nodeTarball(line) }]);
try {
  const tools = await makeToolPaths(work);
  const packed = await packThisPackage(work);
  const app = await prepareTsApp(path.join(work, 'apps'), packed, path.join(work, 'lock-cache'));
  const cache = path.join(work, 'cache');
  mkdirSync(cache);
  const out = path.join(work, 'slug');
  // A bare build image: no node on PATH, so the buildpack installs one (and its npm) from the mirror.
  const env = cleanEnv({ PATH: tools.bare, NODE_MIRROR: mirror.url, HOME: work });

  mirror.requests.length = 0;
  const cold = await timedBuild(app, cache, out, env);
  const coldRequests = mirror.requests.length;
  const warmRuns: Timing[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    mirror.requests.length = 0;
    const warm = await timedBuild(app, cache, out, env);
    warmRuns.push(warm);
    const problems = [];
    if (mirror.requests.length > 0) problems.push(`asked the mirror for ${mirror.requests.join(', ')}`);
    if (/^ {7}package-lock\.json found: npm ci/m.test(warm.output)) problems.push('ran npm ci');
    if (!warm.output.includes('Reusing node_modules from the cache (package-lock.json and Node.js')) problems.push('did not say node_modules was reused');
    if (problems.length > 0) {
      failed = true;
      console.error(`warm build ${round + 1} ${problems.join('; ')}:\n${warm.output}`);
    }
  }
  const warm = {
    real: Math.min(...warmRuns.map((run) => run.real)),
    cpu: Math.min(...warmRuns.map((run) => run.cpu)),
  };
  const reused = /^ {7}(Reusing node_modules from the cache .*)$/m.exec(warmRuns[0]?.output ?? '')?.[1];

  const row = (name: string, timing: { real: number; cpu: number }) =>
    console.log(`  ${name.padEnd(44)} ${timing.real.toFixed(2).padStart(7)} s  (CPU ${timing.cpu.toFixed(2)} s)`);
  console.log(`tsforeman build of the TypeScript example app, Node.js ${line.version} from a mirror on 127.0.0.1`);
  row(`cold (empty cache, ${coldRequests} mirror requests)`, cold);
  row(`warm (unchanged app, best of ${ROUNDS})`, warm);
  if (reused) console.log(`  warm build log: ${reused}`);
  console.log(`  warm build steps: ${steps(warmRuns[0]?.output ?? '')}`);
  console.log(`  cold build steps: ${steps(cold.output)}`);
  const ratio = warm.real / cold.real;
  console.log(`warm / cold: ${(ratio * 100).toFixed(1)}% wall-clock, ${((warm.cpu / cold.cpu) * 100).toFixed(1)}% CPU`);
  console.log(`target: warm under 15% of cold: ${ratio < 0.15 ? 'met' : 'NOT met'}`);
} finally {
  await mirror.close();
  rmSync(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
