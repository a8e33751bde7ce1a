/**
 * Instructions per request, counted rather than timed: each server runs under valgrind's cachegrind
 * (`--cache-sim=no`, every process of it), once serving a fixed number of keep-alive requests and once
 * serving none after the same warm-up; the difference over the requests is what one request executes.
 * The count does not move with the machine's load, so it tells what the CPU-time figures of
 * tsunicorn.bench.ts cannot: what is the code's own cost and what is the machine.
 *
 *   - a plain http.createServer against the same app behind the strict HTTP layer (one process each);
 *   - a node:cluster server with one worker against tsunicorn -w 1 (every process of each counted).
 *
 * A single count moves by up to 10% from run to run (when V8 compiles on its background threads and when the
 * garbage collector runs fall differently), so each target is counted BENCH_ROUNDS times, interleaved, and
 * the median is reported.
 *
 * With BENCH_CACHE_SIM=1 cachegrind also simulates the caches (about twice as slow) and the misses per
 * request are printed beside the instructions: first-level data-cache misses (D1, reads and writes) and
 * last-level misses (LL, instruction and data), the ones that cost time without costing instructions.
 *
 *   npm run bench -- instructions      # needs valgrind; BENCH_REQUESTS=20000 BENCH_WARM_UP=10000 BENCH_CONNECTIONS=10 BENCH_ROUNDS=3
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVERS = path.join(ROOT, 'bench/servers');
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? '20000');
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? '10');
const WARM_UP = Number(process.env.BENCH_WARM_UP ?? '10000');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '3');
const CACHE_SIM = process.env.BENCH_CACHE_SIM === '1';
const BOOT_TIMEOUT_MS = 180_000;
const LISTENING = /listening (\d+)|Listening at: http:\/\/127\.0\.0\.1:(\d+)/;

interface Target {
  name: string;
  command: string[];
  env?: Record<string, string>;
  /**
   * A process recorded that is not the server's: tsunicorn's master checks at boot that Node still sets
   * up an IPC channel by spawning a program that does not exist (runtime/node-internals.ts), and
   * cachegrind writes a file for that forked child, which never ran a program of its own: it holds a copy
   * of the master's count at that moment, under the master's command line.
   */
  notServing?: (command: string, order: number) => boolean;
}

const PLAIN = 'plain http.createServer, hello';
const STRICT = 'strict layer, hello';
const CLUSTER = 'node:cluster, 1 worker (reference)';
const TSUNICORN = 'tsunicorn -w 1';
const TARGETS: Target[] = [
  { name: PLAIN, command: [path.join(SERVERS, 'single-process.mjs')] },
  { name: STRICT, command: [path.join(SERVERS, 'single-process-strict.mjs')] },
  { name: CLUSTER, command: [path.join(SERVERS, 'cluster-reference.mjs')], env: { WORKERS: '1' } },
  {
    name: TSUNICORN,
    command: [path.join(ROOT, 'dist/runtime/cli.js'), path.join(SERVERS, 'hello-app.mjs'), '-w', '1', '-b', '127.0.0.1:0'],
    notServing: (command, order) => order > 0 && command.includes('dist/runtime/cli.js'),
  },
];

/** `requests` keep-alive GETs over `connections` connections, one in flight per connection. */
async function fixedCount(port: number, requests: number, connections: number): Promise<void> {
  if (requests === 0) return;
  const request = Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  const marker = 'Hello World\n';
  let sent = 0;
  let answered = 0;
  await new Promise<void>((resolve, reject) => {
    for (let index = 0; index < Math.min(connections, requests); index++) {
      const socket = net.connect(port, '127.0.0.1');
      let pending = '';
      const next = (): void => {
        if (sent < requests) {
          sent++;
          socket.write(request);
        } else socket.end();
      };
      socket.on('connect', next);
      socket.on('data', (data) => {
        pending += data.toString('latin1');
        let end: number;
        while ((end = pending.indexOf(marker)) >= 0) {
          pending = pending.slice(end + marker.length);
          if (++answered === requests) resolve();
          next();
        }
      });
      socket.on('error', reject);
    }
  });
}

interface Count {
  /** Instructions of every process of the server in the order they started, with the command line cachegrind recorded. */
  byProcess: { command: string; instructions: number; d1Misses: number; llMisses: number }[];
  total: number;
  d1Misses: number;
  llMisses: number;
}

/** Runs `target` under cachegrind: warm-up, then `requests`, then TERM; returns the counts at exit. */
async function count(target: Target, requests: number): Promise<Count> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-cachegrind-'));
  let child: ChildProcess | undefined;
  try {
    child = spawn('valgrind', [
      '--tool=cachegrind', `--cache-sim=${CACHE_SIM ? 'yes' : 'no'}`, '--smc-check=all-non-file', '--trace-children=yes', '-q',
      `--cachegrind-out-file=${path.join(directory, 'cg.%p')}`, process.execPath, ...target.command,
    ], { cwd: ROOT, env: { ...process.env, ...target.env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const port = await new Promise<number>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`${target.name}: no listening line within ${BOOT_TIMEOUT_MS / 1000} s:\n${output}`)), BOOT_TIMEOUT_MS);
      const read = (data: Buffer): void => {
        output += data.toString();
        const match = LISTENING.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1] ?? match[2]));
        }
      };
      child!.stdout!.on('data', read);
      child!.stderr!.on('data', read);
      child!.on('exit', (code) => reject(new Error(`${target.name} exited (${code}) before listening:\n${output}`)));
    });
    await fixedCount(port, WARM_UP, CONNECTIONS);
    await fixedCount(port, requests, CONNECTIONS);
    const exited = new Promise((resolve) => child!.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    // The master's TERM lets its workers finish; they are gone once no process of the group is left.
    for (let tries = 0; tries < 600 && groupAlive(child.pid!); tries++) await new Promise((resolve) => setTimeout(resolve, 100));
    const pid = (file: string): number => Number(file.slice('cg.'.length));
    const byProcess = readdirSync(directory).sort((a, b) => pid(a) - pid(b)).map((file) => {
      const text = readFileSync(path.join(directory, file), 'utf8');
      // "events: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw" with the cache simulation, "events: Ir" without.
      const names = (/^events: (.*)$/m.exec(text)?.[1] ?? 'Ir').trim().split(/\s+/);
      const values = (/^summary: (.*)$/m.exec(text)?.[1] ?? '').trim().split(/\s+/).map(Number);
      // A miss count cachegrind did not record is 0 (no cache simulation); a missing instruction count is not.
      const event = (name: string): number => (names.includes(name) ? values[names.indexOf(name)] ?? Number.NaN : name === 'Ir' ? Number.NaN : 0);
      return {
        command: /^cmd: (.*)$/m.exec(text)?.[1] ?? file,
        instructions: event('Ir'),
        d1Misses: event('D1mr') + event('D1mw'),
        llMisses: event('ILmr') + event('DLmr') + event('DLmw'),
      };
    }).filter((entry, order) => !target.notServing?.(entry.command, order));
    const sum = (key: 'instructions' | 'd1Misses' | 'llMisses'): number => byProcess.reduce((total, entry) => total + entry[key], 0);
    return { byProcess, total: sum('instructions'), d1Misses: sum('d1Misses'), llMisses: sum('llMisses') };
  } finally {
    if (child?.pid && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
    rmSync(directory, { recursive: true, force: true });
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function valgrindInstalled(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  if (!valgrindInstalled()) {
    console.error('valgrind is not installed (apt-get install valgrind): it counts the instructions of this benchmark');
    process.exit(2);
  }
  console.log(`cachegrind, every process of each server: ${REQUESTS} keep-alive requests over ${CONNECTIONS} connections ` +
    `against none, after ${WARM_UP} requests of warm-up; Node ${process.version}`);
  const rounds = new Map<string, { instructions: number; d1: number; ll: number; parts: string }[]>(TARGETS.map((target) => [target.name, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const target of TARGETS) {
      const idle = await count(target, 0);
      const busy = await count(target, REQUESTS);
      const instructions = (busy.total - idle.total) / REQUESTS;
      const d1 = (busy.d1Misses - idle.d1Misses) / REQUESTS;
      const ll = (busy.llMisses - idle.llMisses) / REQUESTS;
      const misses = CACHE_SIM ? `, D1 misses ${Math.round(d1)}, LL misses ${Math.round(ll)}` : '';
      // Both runs start the same processes in the same order.
      const parts = busy.byProcess.length > 1 && busy.byProcess.length === idle.byProcess.length
        ? '  (' + busy.byProcess.map((entry, order) => {
            const delta = (entry.instructions - idle.byProcess[order]!.instructions) / REQUESTS;
            return `${order === 0 ? 'parent' : path.basename(entry.command.split(' ')[1] ?? entry.command)} ${Math.round(delta)}`;
          }).join(', ') + ')'
        : '';
      rounds.get(target.name)!.push({ instructions, d1, ll, parts });
      console.log(`  round ${round}: ${target.name} ${Math.round(instructions)}${misses}${parts}`);
    }
  }
  type Figures = { instructions: number; d1: number; ll: number };
  const medians = new Map<string, Figures>();
  console.log(`\ntarget (median of ${ROUNDS} rounds)            instructions/request${CACHE_SIM ? '  D1 misses  LL misses' : ''}`);
  const medianOf = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  for (const target of TARGETS) {
    const all = rounds.get(target.name)!;
    const figures = { instructions: medianOf(all.map((entry) => entry.instructions)), d1: medianOf(all.map((entry) => entry.d1)), ll: medianOf(all.map((entry) => entry.ll)) };
    medians.set(target.name, figures);
    const median = all.find((entry) => entry.instructions === figures.instructions)!;
    const range = `${Math.round(Math.min(...all.map((entry) => entry.instructions)))}-${Math.round(Math.max(...all.map((entry) => entry.instructions)))}`;
    const misses = CACHE_SIM ? `  ${Math.round(figures.d1).toString().padStart(9)}  ${Math.round(figures.ll).toString().padStart(9)}` : '';
    console.log(`${target.name.padEnd(38)} ${Math.round(figures.instructions).toString().padStart(8)}${misses}  (rounds ${range})${median.parts}`);
  }
  // A ratio of counts under one per request (the last-level misses, when the working set fits) says nothing.
  const ratio = (key: keyof Figures, a: string, b: string): string => {
    const [over, under] = [medians.get(a)![key], medians.get(b)![key]];
    return over >= 1 && under >= 1 ? `${(over / under).toFixed(3)}x` : 'n/a (under 1 per request)';
  };
  const line = (a: string, b: string): string =>
    ratio('instructions', a, b) + (CACHE_SIM ? ` (D1 misses ${ratio('d1', a, b)}, LL misses ${ratio('ll', a, b)})` : '');
  console.log(`strict layer / plain: ${line(STRICT, PLAIN)} (target for CPU time: <= 1.10x)`);
  console.log(`tsunicorn -w 1 / node:cluster: ${line(TSUNICORN, CLUSTER)}`);
}

await main();
