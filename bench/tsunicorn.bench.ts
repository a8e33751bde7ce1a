/**
 * tsunicorn against references, measured in the same run with the same autocannon settings:
 *   - a single-process http server,
 *   - a hand-written node:cluster server with 2 workers (the reference for the ratios),
 *   - tsunicorn -w 2 with each socket-sharing scheme (shared listening socket / master hand-off),
 *   - tsunicorn -w 2 serving the same app as a fetch handler (`{ fetch: () => new Response(...) }`), with the
 *     default light objects and with --fetch-objects standard; its ratio to the listener is printed too.
 *   - the single-process server again with tsunicorn's strict HTTP layer (what the layer costs on its own).
 * Keep-alive load, 50 connections, 1 s warm-up then 5 s measured per target; targets are interleaved over
 * BENCH_ROUNDS rounds (default 3) and the median round is reported. Prints req/s, p99 latency, ratios vs
 * the cluster reference, and how the requests were spread over the workers. With wrk installed, also the
 * failed requests while workers leave under load (bench/drain-under-load.ts).
 *
 *   npm run bench -- tsunicorn                        # BENCH_DURATION=5 BENCH_CONNECTIONS=50 BENCH_ROUNDS=3
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureDrain } from './drain-under-load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVERS = path.join(ROOT, 'bench/servers');
const DURATION = Number(process.env.BENCH_DURATION ?? '5');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? '50');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
const CLOSE_CONNECTIONS = 20;
const CLOSE_DURATION = 3;
const AUTOCANNON = path.join(ROOT, 'node_modules/autocannon/autocannon.js');

interface Target {
  name: string;
  command: string[];
  /** How to find the port in the server's output. */
  port: RegExp;
}

const tsunicorn = (app: string, ...extra: string[]): string[] => [
  path.join(ROOT, 'bin/tsunicorn'), path.join(SERVERS, app), '-w', '2', '-b', '127.0.0.1:0', ...extra,
];
const TSUNICORN_PORT = /Listening at: https?:\/\/127\.0\.0\.1:(\d+)/;

const TARGETS: Target[] = [
  { name: 'single process http.Server', command: [path.join(SERVERS, 'single-process.mjs')], port: /listening (\d+)/ },
  { name: 'node:cluster, 2 workers (reference)', command: [path.join(SERVERS, 'cluster-reference.mjs')], port: /listening (\d+)/ },
  { name: 'tsunicorn -w 2 (shared socket)', command: tsunicorn('hello-app.mjs', '--socket-sharing', 'shared'), port: TSUNICORN_PORT },
  { name: 'tsunicorn -w 2 (hand-off, default)', command: tsunicorn('hello-app.mjs', '--socket-sharing', 'handoff'), port: TSUNICORN_PORT },
  { name: 'tsunicorn -w 2, fetch handler', command: tsunicorn('hello-fetch.mjs'), port: TSUNICORN_PORT },
  { name: 'tsunicorn -w 2, fetch, standard objects', command: tsunicorn('hello-fetch.mjs', '--fetch-objects', 'standard'), port: TSUNICORN_PORT },
  { name: 'single process, strict HTTP layer', command: [path.join(SERVERS, 'single-process-strict.mjs')], port: /listening (\d+)/ },
];
const PLAIN_SINGLE = TARGETS[0]!.name;
const STRICT_SINGLE = TARGETS[TARGETS.length - 1]!.name;
const REFERENCE = TARGETS[1]!.name;

interface Measurement {
  requestsPerSecond: number;
  p99: number;
  errors: number;
  perWorker: number[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
}

async function startServer(target: Target, countDirectory: string): Promise<{ child: ChildProcess; port: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_COUNT_DIR: countDirectory, WORKERS: '2', PORT: undefined, WEB_CONCURRENCY: undefined };
  const child = spawn(process.execPath, target.command, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = target.port.exec(output)?.[1];
    if (port && (await get(Number(port))) === 200) return { child, port: Number(port) };
    await sleep(50);
  }
  stopServer(child);
  throw new Error(`${target.name} did not start:\n${output}`);
}

function stopServer(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function autocannon(port: number, seconds: number, closeEach = false): { requestsPerSecond: number; p99: number; errors: number } {
  const close = closeEach ? ['-H', 'Connection=close'] : [];
  const connections = closeEach ? CLOSE_CONNECTIONS : CONNECTIONS;
  const output = execFileSync(process.execPath, [AUTOCANNON, '-j', '-c', String(connections), '-d', String(seconds), ...close, `http://127.0.0.1:${port}/`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 16 * 1024 * 1024,
  });
  const result = JSON.parse(output) as {
    requests: { average: number };
    latency: { p99: number };
    errors: number;
    timeouts: number;
    non2xx: number;
  };
  return { requestsPerSecond: result.requests.average, p99: result.latency.p99, errors: result.errors + result.timeouts + result.non2xx };
}

async function measure(target: Target, closeEach = false): Promise<Measurement> {
  const countDirectory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-bench-'));
  const { child, port } = await startServer(target, countDirectory);
  try {
    await sleep(500); // every worker up
    autocannon(port, 1, closeEach); // warm-up: JIT, connections
    await sleep(300);
    const before = readCounts(countDirectory);
    const result = autocannon(port, closeEach ? CLOSE_DURATION : DURATION, closeEach);
    await sleep(400); // the counters are flushed every 200 ms
    const after = readCounts(countDirectory);
    const perWorker = [...after.entries()]
      .map(([pid, count]) => count - (before.get(pid) ?? 0))
      .filter((count) => count > 0)
      .sort((a, b) => b - a);
    return { ...result, perWorker };
  } finally {
    stopServer(child);
    rmSync(countDirectory, { recursive: true, force: true });
    await sleep(300);
  }
}

/** wrk, when installed: a second load generator, written in C, so the figures do not hinge on autocannon. */
function wrkInstalled(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

function parseWrkLatency(text: string): number {
  const match = /^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(text);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

async function measureWithWrk(target: Target): Promise<{ requestsPerSecond: number; p99: number }> {
  const countDirectory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-bench-'));
  const { child, port } = await startServer(target, countDirectory);
  try {
    await sleep(500);
    const args = ['-t', '1', '-c', String(CONNECTIONS), '--latency', `http://127.0.0.1:${port}/`];
    execFileSync('wrk', ['-d', '1s', ...args], { stdio: 'ignore' });
    const output = execFileSync('wrk', ['-d', `${DURATION}s`, ...args], { encoding: 'utf8' });
    return { requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? NaN), p99: parseWrkLatency(output) };
  } finally {
    stopServer(child);
    rmSync(countDirectory, { recursive: true, force: true });
    await sleep(300);
  }
}

function readCounts(directory: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of readdirSync(directory)) counts.set(file, Number(readFileSync(path.join(directory, file), 'utf8')));
  return counts;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  if (!existsSync(path.join(ROOT, 'dist/runtime/cli.js'))) {
    console.log('building dist/ (npx tsc) ...');
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
    } catch {
      // Type errors elsewhere still emit; the check below tells.
    }
    if (!existsSync(path.join(ROOT, 'dist/runtime/cli.js'))) throw new Error('dist/runtime/cli.js is missing: run npm run build');
  }
  console.log(`autocannon: ${CONNECTIONS} keep-alive connections, ${DURATION} s per target after a 1 s warm-up, ` +
    `${ROUNDS} interleaved round(s), median reported; ${os.cpus().length} CPUs, Node ${process.version}`);
  const results = new Map<string, Measurement[]>(TARGETS.map((target) => [target.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of TARGETS) {
      const measurement = await measure(target);
      results.get(target.name)!.push(measurement);
      console.log(`  round ${round}: ${target.name.padEnd(38)} ${measurement.requestsPerSecond.toFixed(0).padStart(7)} req/s  p99 ${measurement.p99} ms  errors ${measurement.errors}  per worker ${measurement.perWorker.join('/')}`);
    }
  }
  const summary = TARGETS.map((target) => {
    const runs = results.get(target.name)!;
    const requestsPerSecond = median(runs.map((run) => run.requestsPerSecond));
    const chosen = runs.reduce((best, run) => (Math.abs(run.requestsPerSecond - requestsPerSecond) < Math.abs(best.requestsPerSecond - requestsPerSecond) ? run : best));
    return { name: target.name, requestsPerSecond, p99: median(runs.map((run) => run.p99)), errors: runs.reduce((sum, run) => sum + run.errors, 0), perWorker: chosen.perWorker };
  });
  const reference = summary.find((row) => row.name === REFERENCE)!;
  console.log('');
  console.log(`${'target'.padEnd(38)} ${'req/s'.padStart(8)} ${'x cluster'.padStart(10)} ${'p99 ms'.padStart(7)} ${'x cluster'.padStart(10)} ${'errors'.padStart(7)}  requests per worker`);
  for (const row of summary) {
    const share = row.perWorker.length > 1 ? ` (${row.perWorker.map((count) => `${((100 * count) / row.perWorker.reduce((a, b) => a + b, 0)).toFixed(0)}%`).join('/')})` : '';
    console.log(
      `${row.name.padEnd(38)} ${row.requestsPerSecond.toFixed(0).padStart(8)} ${(row.requestsPerSecond / reference.requestsPerSecond).toFixed(2).padStart(10)} ` +
        `${String(row.p99).padStart(7)} ${(row.p99 / Math.max(reference.p99, 1)).toFixed(2).padStart(10)} ${String(row.errors).padStart(7)}  ${row.perWorker.join('/')}${share}`,
    );
  }
  // Fetch handlers against a request listener, both tsunicorn -w 2 with the default scheme, same rounds.
  const listenerRow = summary.find((row) => row.name === 'tsunicorn -w 2 (hand-off, default)')!;
  for (const name of ['tsunicorn -w 2, fetch handler', 'tsunicorn -w 2, fetch, standard objects']) {
    const ratio = summary.find((row) => row.name === name)!.requestsPerSecond / listenerRow.requestsPerSecond;
    console.log(`${name} vs a request listener (tsunicorn -w 2): ${ratio.toFixed(2)}x req/s` +
      (name.endsWith('handler') ? ` (target >= 0.8x: ${ratio >= 0.8 ? 'met' : 'NOT met'})` : ''));
  }

  const plain = summary.find((row) => row.name === PLAIN_SINGLE)!;
  const strict = summary.find((row) => row.name === STRICT_SINGLE)!;
  console.log(`\nstrict HTTP layer, single process: ${(strict.requestsPerSecond / plain.requestsPerSecond).toFixed(2)}x a plain http.Server's req/s`);
  // The cost of a new connection: where the schemes differ most (the master passes each one on in hand-off).
  console.log(`\nnew connection per request (Connection: close), ${CLOSE_CONNECTIONS} connections, ${CLOSE_DURATION} s, one round:`);
  const perConnection = TARGETS.slice(1, 4);
  const closeResults: Measurement[] = [];
  for (const target of perConnection) closeResults.push(await measure(target, true));
  for (const [index, target] of perConnection.entries()) {
    const row = closeResults[index]!;
    console.log(`${target.name.padEnd(38)} ${row.requestsPerSecond.toFixed(0).padStart(8)} req/s ${(row.requestsPerSecond / closeResults[0]!.requestsPerSecond).toFixed(2).padStart(6)} x cluster  p99 ${row.p99} ms  errors ${row.errors}  per worker ${row.perWorker.join('/')}`);
  }
  if (wrkInstalled()) {
    console.log(`\nwrk (1 thread, ${CONNECTIONS} keep-alive connections, ${DURATION} s after a 1 s warm-up, one round):`);
    const wrkTargets = TARGETS.slice(1, 4);
    const wrkResults: { requestsPerSecond: number; p99: number }[] = [];
    for (const target of wrkTargets) wrkResults.push(await measureWithWrk(target));
    for (const [index, target] of wrkTargets.entries()) {
      const row = wrkResults[index]!;
      console.log(`${target.name.padEnd(38)} ${row.requestsPerSecond.toFixed(0).padStart(8)} req/s ${(row.requestsPerSecond / wrkResults[0]!.requestsPerSecond).toFixed(2).padStart(6)} x cluster  p99 ${row.p99.toFixed(2)} ms`);
    }
    console.log('\nfailed requests while workers leave (wrk, 1 thread; tsunicorn -w 2, default scheme; target 0 everywhere):');
    const drain = await measureDrain({ root: ROOT, app: path.join(SERVERS, 'hello-app.mjs') });
    const failed = drain.reduce((sum, row) => sum + row.failed, 0);
    console.log(`target: 0 failed requests: ${failed === 0 ? 'met' : `NOT met (${failed} failed)`}`);
  } else {
    console.log('\n(wrk not installed: skipped its figures and the failed-request runs; apt-get install wrk to add them)');
  }
  const chosen = summary.find((row) => row.name.includes('default'))!;
  console.log(`\ntsunicorn -w 2 (default scheme) vs hand-written node:cluster x2: ${(chosen.requestsPerSecond / reference.requestsPerSecond).toFixed(2)}x req/s, ` +
    `p99 ${(chosen.p99 / Math.max(reference.p99, 1)).toFixed(2)}x`);
  console.log(`target: tsunicorn (default scheme) >= 1.0x cluster req/s and p99 <= 1.1x: ` +
    `${chosen.requestsPerSecond / reference.requestsPerSecond >= 1 ? 'met' : 'NOT met'} for req/s, ` +
    `${chosen.p99 <= reference.p99 * 1.1 ? 'met' : 'NOT met'} for p99`);
}

await main();
