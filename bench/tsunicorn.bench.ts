/**
 * tsunicorn against references measured in the same run, with wrk (1 thread): req/s, p99 and the CPU
 * time the server's processes spent per request (utime + stime of every process of the server's process
 * group, from /proc, over the measured seconds, divided by the requests wrk counted: on a shared machine
 * the figure that holds). Targets are interleaved over BENCH_ROUNDS rounds (default 5); for each, the round
 * with the least CPU per request is reported (other jobs on the machine only ever add to it: the least
 * disturbed round is the closest to the server's own cost), with that round's req/s and p99.
 *
 *   - one process: a plain http.createServer against the same app behind the strict HTTP layer
 *     (createStrictServer), for hello world and for an Express 5 app answering JSON;
 *   - two workers: a hand-written node:cluster server (the reference) against tsunicorn -w 2 with each
 *     socket scheme (handoff, shared, and reuse-port where this Node.js has it), with keep-alive load and
 *     with `Connection: close` load, with the requests per worker (each app process counts what it served);
 *   - tsunicorn -w 2 serving hello world as a fetch handler (light and standard objects), keep-alive;
 *   - the RSS of a worker after 100,000 requests, tsunicorn (default scheme) against a node:cluster worker;
 *   - the failed requests while workers leave (bench/drain-under-load.ts), default scheme and reuse-port;
 *   - the cost of metrics: tsunicorn -w 2 with --metrics-bind, scraped every 250 ms, against metrics off.
 *
 *   npm run bench -- tsunicorn        # BENCH_DURATION=2 BENCH_CONNECTIONS=50 BENCH_ROUNDS=5; needs wrk
 *   BENCH_ONLY=metrics npm run bench -- tsunicorn    # the metrics row only
 *   BENCH_ONLY=memory npm run bench -- tsunicorn     # the --max-worker-memory failed-request rows only
 *   BENCH_ONLY=listen npm run bench -- tsunicorn     # the failed-request rows for an Express app that calls app.listen()
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeHasReusePort } from '../runtime/settings.js';
import { measureDrain } from './drain-under-load.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVERS = path.join(ROOT, 'bench/servers');
const DURATION = Number(process.env.BENCH_DURATION ?? '2');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? '50');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '5');
const CLOSE_CONNECTIONS = 20;
const RSS_REQUESTS = 100_000;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const REUSE_PORT = nodeHasReusePort();
const DEFAULT_SCHEME = 'handoff';

type Load = 'keep-alive' | 'close';

interface Target {
  name: string;
  command: string[];
  env?: Record<string, string>;
  /** How to find the port in the server's output. */
  port: RegExp;
  loads: Load[];
}

const tsunicorn = (app: string, ...extra: string[]): string[] => [
  path.join(ROOT, 'bin/tsunicorn'), path.join(SERVERS, app), '-w', '2', '-b', '127.0.0.1:0', ...extra,
];
const TSUNICORN_PORT = /Listening at: https?:\/\/127\.0\.0\.1:(\d+)/;
const LISTENING = /listening (\d+)/;
const BOTH: Load[] = ['keep-alive', 'close'];

const PLAIN = 'plain http.createServer, hello';
const STRICT = 'strict layer, hello';
const PLAIN_EXPRESS = 'plain http.createServer, Express';
const STRICT_EXPRESS = 'strict layer, Express';
const CLUSTER = 'node:cluster x2 (reference)';
const scheme = (name: string) => `tsunicorn -w 2, ${name}${name === DEFAULT_SCHEME ? ' (default)' : ''}`;
const FETCH = 'tsunicorn -w 2, fetch handler';
const FETCH_STANDARD = 'tsunicorn -w 2, fetch, standard objects';

const TARGETS: Target[] = [
  { name: PLAIN, command: [path.join(SERVERS, 'single-process.mjs')], port: LISTENING, loads: ['keep-alive'] },
  { name: STRICT, command: [path.join(SERVERS, 'single-process-strict.mjs')], port: LISTENING, loads: ['keep-alive'] },
  { name: PLAIN_EXPRESS, command: [path.join(SERVERS, 'single-process.mjs')], env: { BENCH_APP: 'express' }, port: LISTENING, loads: ['keep-alive'] },
  { name: STRICT_EXPRESS, command: [path.join(SERVERS, 'single-process-strict.mjs')], env: { BENCH_APP: 'express' }, port: LISTENING, loads: ['keep-alive'] },
  { name: CLUSTER, command: [path.join(SERVERS, 'cluster-reference.mjs')], port: LISTENING, loads: BOTH },
  { name: scheme('handoff'), command: tsunicorn('hello-app.mjs', '--socket-sharing', 'handoff'), port: TSUNICORN_PORT, loads: BOTH },
  { name: scheme('shared'), command: tsunicorn('hello-app.mjs', '--socket-sharing', 'shared'), port: TSUNICORN_PORT, loads: BOTH },
  ...(REUSE_PORT ? [{ name: scheme('reuse-port'), command: tsunicorn('hello-app.mjs', '--socket-sharing', 'reuse-port'), port: TSUNICORN_PORT, loads: BOTH }] : []),
  { name: FETCH, command: tsunicorn('hello-fetch.mjs'), port: TSUNICORN_PORT, loads: ['keep-alive'] },
  { name: FETCH_STANDARD, command: tsunicorn('hello-fetch.mjs', '--fetch-objects', 'standard'), port: TSUNICORN_PORT, loads: ['keep-alive'] },
];

interface Measurement {
  requestsPerSecond: number;
  p99: number;
  /** CPU µs of the server's processes per request. */
  cpuPerRequest: number;
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

interface Started {
  child: ChildProcess;
  port: number;
  countDirectory: string;
}

async function startServer(target: Target): Promise<Started> {
  const countDirectory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-bench-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env, ...target.env, BENCH_COUNT_DIR: countDirectory, WORKERS: '2', PORT: undefined, WEB_CONCURRENCY: undefined, TSUNICORN_CMD_ARGS: undefined,
  };
  const child = spawn(process.execPath, target.command, { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = target.port.exec(output)?.[1];
    if (port && (await get(Number(port))) === 200) return { child, port: Number(port), countDirectory };
    await sleep(50);
  }
  stopServer({ child, port: 0, countDirectory });
  throw new Error(`${target.name} did not start:\n${output}`);
}

function stopServer(started: Started): void {
  try {
    process.kill(-started.child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
  rmSync(started.countDirectory, { recursive: true, force: true });
}

/** The processes of a process group, from /proc. */
function groupPids(group: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command (which may hold spaces): state ppid pgrp ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === group) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/** utime + stime of every process of the group, in µs (a process that exited meanwhile is not counted). */
function groupCpuMicros(group: number): Map<number, number> {
  const cpu = new Map<number, number>();
  for (const pid of groupPids(group)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu.set(pid, ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS);
    } catch {
      // Gone meanwhile.
    }
  }
  return cpu;
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

function readCounts(directory: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const file of readdirSync(directory)) counts.set(file, Number(readFileSync(path.join(directory, file), 'utf8')));
  return counts;
}

function parseWrkLatency(text: string): number {
  const match = /^\s*99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(text);
  if (!match) return NaN;
  const value = Number(match[1]);
  return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
}

function wrk(port: number, seconds: number, load: Load): { requests: number; requestsPerSecond: number; p99: number; errors: number; text: string } {
  const args = ['-t', '1', '-c', String(load === 'close' ? CLOSE_CONNECTIONS : CONNECTIONS), '-d', `${seconds}s`, '--latency'];
  if (load === 'close') args.push('-H', 'Connection: close');
  const text = execFileSync('wrk', [...args, `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const errors = (socket ? socket.slice(1).reduce((sum, value) => sum + Number(value), 0) : 0) + Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return {
    requests: Number(/(\d+) requests in/.exec(text)?.[1] ?? NaN),
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN),
    p99: parseWrkLatency(text),
    errors,
    text,
  };
}

async function measure(target: Target, load: Load): Promise<Measurement> {
  const started = await startServer(target);
  try {
    await sleep(300);
    wrk(started.port, 1, load); // warm-up: JIT, connections
    await sleep(250); // the counters are flushed every 200 ms
    const countsBefore = readCounts(started.countDirectory);
    const cpuBefore = groupCpuMicros(started.child.pid!);
    const result = wrk(started.port, DURATION, load);
    const cpuAfter = groupCpuMicros(started.child.pid!);
    await sleep(250);
    const countsAfter = readCounts(started.countDirectory);
    let cpu = 0;
    for (const [pid, after] of cpuAfter) cpu += after - (cpuBefore.get(pid) ?? 0);
    const perWorker = [...countsAfter.entries()]
      .map(([pid, count]) => count - (countsBefore.get(pid) ?? 0))
      .filter((count) => count > 0)
      .sort((a, b) => b - a);
    return { requestsPerSecond: result.requestsPerSecond, p99: result.p99, cpuPerRequest: cpu / result.requests, errors: result.errors, perWorker };
  } finally {
    stopServer(started);
    await sleep(200);
  }
}

/** Mean RSS of the app's worker processes (the group's processes that served requests) after RSS_REQUESTS requests. */
async function workerRss(target: Target): Promise<{ rssMb: number; workers: number; served: number }> {
  const started = await startServer(target);
  try {
    await sleep(300);
    const wrkChild = spawn('wrk', ['-t', '1', '-c', String(CONNECTIONS), '-d', '300s', `http://127.0.0.1:${started.port}/`], { stdio: 'ignore' });
    const done = new Promise<void>((resolve) => wrkChild.on('close', () => resolve()));
    let served = 0;
    const deadline = Date.now() + 300_000;
    while (served < RSS_REQUESTS && Date.now() < deadline) {
      await sleep(100);
      served = [...readCounts(started.countDirectory).values()].reduce((sum, count) => sum + count, 0);
    }
    wrkChild.kill('SIGINT');
    await done;
    await sleep(500);
    const workers = [...readCounts(started.countDirectory).keys()].map(Number);
    const rss = workers.map(rssKb);
    return { rssMb: rss.reduce((sum, value) => sum + value, 0) / rss.length / 1024, workers: workers.length, served };
  } finally {
    stopServer(started);
    await sleep(200);
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function wrkInstalled(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk --version exits 1 after printing its version; only a missing binary is ENOENT.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

const fixed = (value: number, digits = 1) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
const verdict = (met: boolean) => (met ? 'met' : 'NOT met');

/** A port free right now on 127.0.0.1 (for a server that is told its port). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** A scraper in its own process (its CPU is not the server's): GET /metrics every `everyMs`; prints its count at SIGTERM. */
function startScraper(port: number, everyMs: number): { stop(): Promise<number> } {
  const script = `let scrapes = 0, failed = 0;
const url = 'http://127.0.0.1:${port}/metrics';
const tick = () => fetch(url).then((r) => r.text()).then(() => scrapes++, () => failed++).finally(() => setTimeout(tick, ${everyMs}));
tick();
process.on('SIGTERM', () => { console.log(JSON.stringify({ scrapes, failed })); process.exit(0); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return {
    stop: () => new Promise((resolve) => {
      child.on('close', () => resolve(Number((JSON.parse(output || '{"scrapes":0}') as { scrapes: number }).scrapes)));
      child.kill('SIGTERM');
    }),
  };
}

/**
 * The cost of --metrics-bind: tsunicorn -w 2 (hello world, keep-alive) with the metrics endpoint scraped
 * every 250 ms (60x a 15 s Prometheus interval) against the same server without it, interleaved over
 * BENCH_ROUNDS rounds, median. The workers count their statistics either way (the control socket shows them).
 */
async function metricsCost(): Promise<void> {
  const SCRAPE_MS = 250;
  const off: Target = { name: 'tsunicorn -w 2, metrics off', command: tsunicorn('hello-app.mjs'), port: TSUNICORN_PORT, loads: ['keep-alive'] };
  const offRuns: Measurement[] = [];
  const onRuns: Measurement[] = [];
  let scrapes = 0;
  const measureOn = async () => {
    const port = await freePort();
    const on: Target = { ...off, name: 'tsunicorn -w 2, --metrics-bind', command: tsunicorn('hello-app.mjs', '--metrics-bind', `127.0.0.1:${port}`) };
    const scraper = startScraper(port, SCRAPE_MS);
    try {
      onRuns.push(await measure(on, 'keep-alive'));
    } finally {
      scrapes += await scraper.stop();
    }
  };
  for (let round = 1; round <= ROUNDS; round++) {
    // Each goes first every other round: on a shared machine, load that drifts hits both alike.
    if (round % 2 === 1) {
      offRuns.push(await measure(off, 'keep-alive'));
      await measureOn();
    } else {
      await measureOn();
      offRuns.push(await measure(off, 'keep-alive'));
    }
    console.log(`  round ${round}: metrics off ${fixed(offRuns.at(-1)!.requestsPerSecond, 0)} req/s ${fixed(offRuns.at(-1)!.cpuPerRequest)} µs CPU/req; ` +
      `on ${fixed(onRuns.at(-1)!.requestsPerSecond, 0)} req/s ${fixed(onRuns.at(-1)!.cpuPerRequest)} µs CPU/req`);
  }
  const offRate = median(offRuns.map((run) => run.requestsPerSecond));
  const onRate = median(onRuns.map((run) => run.requestsPerSecond));
  const offCpu = median(offRuns.map((run) => run.cpuPerRequest));
  const onCpu = median(onRuns.map((run) => run.cpuPerRequest));
  console.log(`
metrics (tsunicorn -w 2, keep-alive, ${CONNECTIONS} connections; --metrics-bind scraped every ${SCRAPE_MS} ms, ${scrapes} scrapes):`);
  console.log(`${'target'.padEnd(34)} ${'req/s'.padStart(8)} ${'µs CPU/req'.padStart(11)} ${'p99 ms'.padStart(7)}`);
  for (const [name, runs] of [['metrics off', offRuns], ['--metrics-bind, scraped', onRuns]] as const) {
    console.log(`${name.padEnd(34)} ${fixed(median(runs.map((run) => run.requestsPerSecond)), 0).padStart(8)} ` +
      `${fixed(median(runs.map((run) => run.cpuPerRequest))).padStart(11)} ${fixed(median(runs.map((run) => run.p99)), 2).padStart(7)}`);
  }
  // Paired by round (the two ran back to back), then the median: steadier than a ratio of medians.
  const ratio = median(onRuns.map((run, index) => run.requestsPerSecond / offRuns[index]!.requestsPerSecond));
  const cpuRatio = median(onRuns.map((run, index) => run.cpuPerRequest / offRuns[index]!.cpuPerRequest));
  console.log(`target: metrics on >= 0.97x metrics off req/s (median of the rounds' ratios): ${verdict(ratio >= 0.97)} (${ratio.toFixed(3)}x; ` +
    `ratio of the medians ${(onRate / offRate).toFixed(3)}x); CPU per request ${cpuRatio.toFixed(3)}x (medians ${(onCpu / offCpu).toFixed(3)}x)`);
}

/** The failed-request rows (bench/drain-under-load.ts) for an unmodified Express app that calls app.listen() itself. */
async function listenApp(): Promise<void> {
  console.log(`
failed requests while workers leave, an Express app that calls app.listen() (wrk, 1 thread; tsunicorn -w 2, default scheme (${DEFAULT_SCHEME}); target 0):`);
  const drain = await measureDrain({ root: ROOT, app: path.join(SERVERS, 'listen-app.mjs') });
  const failed = drain.reduce((sum, entry) => sum + entry.failed, 0);
  console.log(`target: 0 failed requests: ${failed === 0 ? 'met' : `NOT met (${failed} failed)`}`);
}

/** --max-worker-memory's failed-request rows (bench/drain-under-load.ts), default scheme. */
async function memoryRecycling(): Promise<void> {
  console.log(`
failed requests while workers are recycled by memory (wrk, 1 thread; tsunicorn -w 2, default scheme (${DEFAULT_SCHEME}); target 0):`);
  const drain = await measureDrain({ root: ROOT, app: path.join(SERVERS, 'hello-app.mjs'), only: /--max-worker-memory/ });
  const failed = drain.reduce((sum, entry) => sum + entry.failed, 0);
  console.log(`target: 0 failed requests: ${failed === 0 ? 'met' : `NOT met (${failed} failed)`}`);
}

async function main(): Promise<void> {
  if (!wrkInstalled()) {
    console.error('wrk is not installed (apt-get install wrk): it is the load generator of this benchmark');
    process.exit(2);
  }
  if (!existsSync(path.join(ROOT, 'dist/runtime/cli.js'))) {
    console.log('building dist/ (npx tsc) ...');
    try {
      execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
    } catch {
      // Type errors elsewhere still emit; the check below tells.
    }
    if (!existsSync(path.join(ROOT, 'dist/runtime/cli.js'))) throw new Error('dist/runtime/cli.js is missing: run npm run build');
  }
  if (process.env.BENCH_ONLY === 'metrics') return metricsCost();
  if (process.env.BENCH_ONLY === 'memory') return memoryRecycling();
  if (process.env.BENCH_ONLY === 'listen') return listenApp();
  console.log(`wrk 1 thread: ${CONNECTIONS} keep-alive connections or ${CLOSE_CONNECTIONS} with Connection: close, ${DURATION} s per target after a 1 s warm-up, ` +
    `${ROUNDS} interleaved round(s), the round with the least CPU per request reported; CPU = utime+stime of the server's processes per request; ${os.cpus().length} CPUs, Node ${process.version}, ` +
    `load average ${os.loadavg().map((value) => value.toFixed(1)).join(' ')}`);
  const key = (target: Target, load: Load) => `${target.name} [${load}]`;
  const runs = new Map<string, Measurement[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of TARGETS) {
      for (const load of target.loads) {
        const measurement = await measure(target, load);
        const list = runs.get(key(target, load)) ?? [];
        list.push(measurement);
        runs.set(key(target, load), list);
        console.log(`  round ${round}: ${key(target, load).padEnd(46)} ${fixed(measurement.requestsPerSecond, 0).padStart(7)} req/s  ` +
          `${fixed(measurement.cpuPerRequest).padStart(6)} µs CPU/req  p99 ${fixed(measurement.p99, 2)} ms  errors ${measurement.errors}  per worker ${measurement.perWorker.join('/')}`);
      }
    }
  }
  const summary = new Map<string, Measurement>();
  for (const [name, list] of runs) {
    const chosen = list.reduce((best, run) => (run.cpuPerRequest < best.cpuPerRequest ? run : best));
    summary.set(name, { ...chosen, errors: list.reduce((sum, run) => sum + run.errors, 0) });
  }
  const medianCpu = (name: string) => median(runs.get(name)!.map((run) => run.cpuPerRequest));
  const row = (name: string, load: Load = 'keep-alive') => summary.get(`${name} [${load}]`)!;

  console.log('\none process (keep-alive):');
  console.log(`${'target'.padEnd(34)} ${'req/s'.padStart(8)} ${'µs CPU/req'.padStart(11)} ${'x plain CPU'.padStart(12)} ${'x plain req/s'.padStart(14)} ${'p99 ms'.padStart(7)}`);
  const single: [string, string, number][] = [[PLAIN, PLAIN, 0], [STRICT, PLAIN, 1.1], [PLAIN_EXPRESS, PLAIN_EXPRESS, 0], [STRICT_EXPRESS, PLAIN_EXPRESS, 1.05]];
  for (const [name, reference] of single) {
    const measured = row(name);
    const base = row(reference);
    console.log(`${name.padEnd(34)} ${fixed(measured.requestsPerSecond, 0).padStart(8)} ${fixed(measured.cpuPerRequest).padStart(11)} ` +
      `${fixed(measured.cpuPerRequest / base.cpuPerRequest, 2).padStart(12)} ${fixed(measured.requestsPerSecond / base.requestsPerSecond, 2).padStart(14)} ${fixed(measured.p99, 2).padStart(7)}`);
  }
  for (const [name, reference, limit] of single.filter(([, , limit]) => limit > 0)) {
    const ratio = row(name).cpuPerRequest / row(reference).cpuPerRequest;
    const medians = medianCpu(`${name} [keep-alive]`) / medianCpu(`${reference} [keep-alive]`);
    console.log(`target: ${name} CPU per request <= ${limit.toFixed(2)}x ${reference}: ${verdict(ratio <= limit)} (${ratio.toFixed(2)}x; medians of the rounds ${medians.toFixed(2)}x)`);
  }

  const schemes = ['handoff', 'shared', ...(REUSE_PORT ? ['reuse-port'] : [])];
  for (const load of BOTH) {
    console.log(`\ntwo workers, ${load === 'close' ? `Connection: close (${CLOSE_CONNECTIONS} connections)` : `keep-alive (${CONNECTIONS} connections)`}:`);
    console.log(`${'target'.padEnd(34)} ${'req/s'.padStart(8)} ${'x cluster'.padStart(10)} ${'µs CPU/req'.padStart(11)} ${'x cluster'.padStart(10)} ${'p99 ms'.padStart(7)} ${'x cluster'.padStart(10)} ${'errors'.padStart(7)}  requests per worker`);
    const reference = row(CLUSTER, load);
    for (const name of [CLUSTER, ...schemes.map(scheme)]) {
      const measured = row(name, load);
      const total = measured.perWorker.reduce((sum, count) => sum + count, 0);
      const share = measured.perWorker.length > 1 ? ` (${measured.perWorker.map((count) => `${((100 * count) / total).toFixed(0)}%`).join('/')})` : '';
      console.log(`${name.padEnd(34)} ${fixed(measured.requestsPerSecond, 0).padStart(8)} ${fixed(measured.requestsPerSecond / reference.requestsPerSecond, 2).padStart(10)} ` +
        `${fixed(measured.cpuPerRequest).padStart(11)} ${fixed(measured.cpuPerRequest / reference.cpuPerRequest, 2).padStart(10)} ` +
        `${fixed(measured.p99, 2).padStart(7)} ${fixed(measured.p99 / reference.p99, 2).padStart(10)} ${String(measured.errors).padStart(7)}  ${measured.perWorker.join('/')}${share}`);
    }
    const chosen = row(scheme(DEFAULT_SCHEME), load);
    const ratio = chosen.requestsPerSecond / reference.requestsPerSecond;
    const p99 = chosen.p99 / reference.p99;
    console.log(`target: tsunicorn -w 2 (default scheme, ${DEFAULT_SCHEME}) >= 1.0x node:cluster req/s and p99 <= 1.1x, ${load}: ` +
      `${verdict(ratio >= 1)} for req/s (${ratio.toFixed(2)}x), ${verdict(p99 <= 1.1)} for p99 (${p99.toFixed(2)}x); CPU per request ${(chosen.cpuPerRequest / reference.cpuPerRequest).toFixed(2)}x`);
  }

  const listener = row(scheme(DEFAULT_SCHEME));
  for (const name of [FETCH, FETCH_STANDARD]) {
    const measured = row(name);
    const ratio = measured.requestsPerSecond / listener.requestsPerSecond;
    console.log(`\n${name} vs a request listener (tsunicorn -w 2): ${ratio.toFixed(2)}x req/s, ${fixed(measured.cpuPerRequest)} µs CPU/req ` +
      `(${(measured.cpuPerRequest / listener.cpuPerRequest).toFixed(2)}x)${name === FETCH ? ` (target >= 0.8x req/s: ${verdict(ratio >= 0.8)})` : ''}`);
  }

  console.log(`\nRSS of a worker after ${RSS_REQUESTS.toLocaleString('en')} requests (hello world, keep-alive):`);
  const clusterRss = await workerRss(TARGETS.find((target) => target.name === CLUSTER)!);
  const tsunicornRss = await workerRss(TARGETS.find((target) => target.name === scheme(DEFAULT_SCHEME))!);
  console.log(`node:cluster worker ${clusterRss.rssMb.toFixed(1)} MB (mean of ${clusterRss.workers}, ${clusterRss.served} requests); ` +
    `tsunicorn worker ${tsunicornRss.rssMb.toFixed(1)} MB (mean of ${tsunicornRss.workers}, ${tsunicornRss.served} requests)`);
  const rssRatio = tsunicornRss.rssMb / clusterRss.rssMb;
  console.log(`target: tsunicorn worker RSS <= 1.1x a node:cluster worker's: ${verdict(rssRatio <= 1.1)} (${rssRatio.toFixed(2)}x)`);

  for (const sharing of [undefined, ...(REUSE_PORT ? ['reuse-port'] : [])]) {
    console.log(`\nfailed requests while workers leave (wrk, 1 thread; tsunicorn -w 2, ${sharing ?? `default scheme (${DEFAULT_SCHEME})`}; target 0 everywhere):`);
    const drain = await measureDrain({ root: ROOT, app: path.join(SERVERS, 'hello-app.mjs'), sharing });
    const failed = drain.reduce((sum, entry) => sum + entry.failed, 0);
    console.log(`target: 0 failed requests: ${failed === 0 ? 'met' : `NOT met (${failed} failed)`}`);
  }

  console.log('');
  await metricsCost();
}

await main();
