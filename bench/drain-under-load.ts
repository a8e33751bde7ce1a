/**
 * Failed requests while workers leave: wrk drives tsunicorn -w 2 (default scheme) with keep-alive load and
 * with `Connection: close` load while the server reloads (HUP x3), grows and shrinks (TTIN, TTOU), recycles
 * workers (--max-requests 2000 --max-requests-jitter 200), recycles workers by memory (--max-worker-memory, an
 * app that leaks 4 KiB per request) and a worker is sent TERM. Every failure wrk sees
 * is counted: socket errors (connect, read, write, timeout) and non-2xx answers. The target is 0 everywhere.
 *
 *   const rows = await measureDrain({ root, app });                          // the default scheme; needs wrk
 *   const rows = await measureDrain({ root, app, sharing: 'reuse-port' });   // another --socket-sharing
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface DrainRow {
  scenario: string;
  load: 'keep-alive' | 'Connection: close';
  requests: number;
  failed: number;
  /** wrk's own breakdown of the failures. */
  detail: string;
  /** What happened during the run (reloads completed, workers recycled). */
  events: string;
  seconds: number;
}

interface Scenario {
  name: string;
  args: string[];
  /** Another app than the run's (in bench/servers), with its environment. */
  app?: string;
  env?: Record<string, string>;
  /** Runs the events under load; returns what happened, for the row. */
  run(server: LoggedServer): Promise<string>;
}

/** How long a scenario may take before the run is reported as incomplete. */
const EVENT_TIMEOUT_MS = 20000;
const KEEP_ALIVE_CONNECTIONS = 32;
const CLOSE_CONNECTIONS = 16;

const EXITING = /\[INFO\] Worker exiting/;
const BOOTING = /Booting worker with pid/;

class LoggedServer {
  readonly lines: string[] = [];
  private exited = false;
  private partial = '';

  constructor(readonly child: ChildProcess) {
    const collect = (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString('utf8')).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    child.on('exit', () => (this.exited = true));
  }

  count(pattern: RegExp): number {
    return this.lines.filter((line) => pattern.test(line)).length;
  }

  async waitForCount(pattern: RegExp, count: number): Promise<void> {
    const deadline = Date.now() + EVENT_TIMEOUT_MS;
    while (this.count(pattern) < count) {
      if (this.exited) throw new Error(`tsunicorn exited:\n${this.lines.join('\n')}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${count}x ${pattern}`);
      await sleep(20);
    }
  }

  /** Sends `signal` to `pid` (the master by default) and waits until `leaving` workers have exited. */
  async signalAndWait(signal: NodeJS.Signals, leaving: number, pid = this.child.pid!): Promise<void> {
    const exited = this.count(EXITING);
    process.kill(pid, signal);
    await this.waitForCount(EXITING, exited + leaving);
  }

  workerPids(): number[] {
    try {
      return execFileSync('ps', ['-o', 'pid=', '--ppid', String(this.child.pid)], { encoding: 'utf8' })
        .split('\n')
        .map((line) => Number(line.trim()))
        .filter((pid) => pid > 0);
    } catch {
      return [];
    }
  }

  stop(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Waits until `count` workers are booted and no old one is left: the pool is settled. */
async function settled(server: LoggedServer, workers: number): Promise<void> {
  const deadline = Date.now() + EVENT_TIMEOUT_MS;
  while (server.workerPids().length !== workers || server.count(BOOTING) - server.count(EXITING) < workers) {
    if (Date.now() > deadline) throw new Error(`the pool did not settle at ${workers} workers`);
    await sleep(50);
  }
}

const SCENARIOS: Scenario[] = [
  {
    name: 'HUP x3',
    args: [],
    async run(server) {
      for (let reload = 1; reload <= 3; reload++) {
        await server.signalAndWait('SIGHUP', 2);
        await sleep(300);
      }
      return '3 reloads, 6 workers drained';
    },
  },
  {
    name: 'TTIN, TTOU x2',
    args: [],
    async run(server) {
      for (let round = 1; round <= 2; round++) {
        process.kill(server.child.pid!, 'SIGTTIN');
        await settled(server, 3);
        await sleep(300);
        await server.signalAndWait('SIGTTOU', 1);
        await sleep(300);
      }
      return '2 workers added, 2 drained';
    },
  },
  {
    name: '--max-requests 2000 --max-requests-jitter 200',
    args: ['--max-requests', '2000', '--max-requests-jitter', '200'],
    async run(server) {
      // At least 3 s, and until two workers have been recycled (slower under Connection: close load).
      await Promise.all([sleep(3000), server.waitForCount(EXITING, 2)]);
      return `${server.count(EXITING)} workers recycled`;
    },
  },
  {
    name: '--max-worker-memory 120, leaking 4 KiB/request',
    args: ['--max-worker-memory', '120'],
    app: 'leaky-app.mjs',
    env: { LEAK_BYTES: '4096' },
    async run(server) {
      // At least 3 s, and until two workers have been replaced for their memory (each drained, not killed).
      await Promise.all([sleep(3000), server.waitForCount(EXITING, 2)]);
      const recycled = server.count(/over --max-worker-memory/);
      const killed = server.count(/SIGKILL|killing it/);
      return `${recycled} workers recycled by memory, ${server.count(EXITING)} exited, ${killed} killed`;
    },
  },
  {
    name: 'TERM to one worker x2',
    args: [],
    async run(server) {
      for (let round = 1; round <= 2; round++) {
        const [worker] = server.workerPids();
        await server.signalAndWait('SIGTERM', 1, worker);
        await settled(server, 2);
        await sleep(300);
      }
      return '2 workers drained and replaced';
    },
  },
];

function parseWrk(output: string): { requests: number; failed: number; detail: string } {
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? NaN);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const [connect, read, write, timeout] = socket ? socket.slice(1).map(Number) : [0, 0, 0, 0];
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const failed = connect! + read! + write! + timeout! + non2xx;
  const detail = failed === 0 ? '' : `connect ${connect}, read ${read}, write ${write}, timeout ${timeout}, non-2xx ${non2xx}`;
  return { requests, failed, detail };
}

async function firstAnswer(port: number): Promise<void> {
  const deadline = Date.now() + EVENT_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return;
    } catch {
      // Not serving yet.
    }
    await sleep(50);
  }
  throw new Error('tsunicorn never answered');
}

async function runScenario(root: string, app: string, scenario: Scenario, load: DrainRow['load'], sharing: string[]): Promise<DrainRow> {
  const served = scenario.app ? path.join(path.dirname(app), scenario.app) : app;
  const command = [path.join(root, 'bin/tsunicorn'), served, '-w', '2', '-b', '127.0.0.1:0', ...sharing, ...scenario.args];
  const child = spawn(process.execPath, command, {
    env: { ...process.env, ...scenario.env, PORT: undefined, WEB_CONCURRENCY: undefined, TSUNICORN_CMD_ARGS: undefined },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const server = new LoggedServer(child);
  try {
    await server.waitForCount(/Listening at: /, 1);
    const port = Number(/Listening at: http:\/\/127\.0\.0\.1:(\d+)/.exec(server.lines.join('\n'))![1]);
    await settled(server, 2);
    await firstAnswer(port);
    const connections = load === 'keep-alive' ? KEEP_ALIVE_CONNECTIONS : CLOSE_CONNECTIONS;
    const headers = load === 'keep-alive' ? [] : ['-H', 'Connection: close'];
    // wrk stops at SIGINT and prints its figures: the run lasts as long as the events take.
    const wrk = spawn('wrk', ['-t', '1', '-c', String(connections), '-d', '120s', ...headers, `http://127.0.0.1:${port}/`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    wrk.stdout.setEncoding('utf8');
    wrk.stdout.on('data', (chunk: string) => (output += chunk));
    const wrkDone = new Promise<void>((resolve) => wrk.on('close', () => resolve()));
    const started = Date.now();
    let events: string;
    try {
      await sleep(500);
      events = await scenario.run(server);
      await sleep(500);
    } catch (error) {
      events = `incomplete: ${(error as Error).message.split('\n')[0]}`;
    } finally {
      wrk.kill('SIGINT');
      await wrkDone;
    }
    return { scenario: scenario.name, load, ...parseWrk(output), events, seconds: (Date.now() - started) / 1000 };
  } finally {
    server.stop();
    await sleep(200);
  }
}

/** Runs every scenario under both loads; prints one line per row as it goes. */
export async function measureDrain(options: { root: string; app: string; sharing?: string; only?: RegExp }): Promise<DrainRow[]> {
  const rows: DrainRow[] = [];
  const sharing = options.sharing ? ['--socket-sharing', options.sharing] : [];
  for (const scenario of SCENARIOS.filter((entry) => !options.only || options.only.test(entry.name))) {
    for (const load of ['keep-alive', 'Connection: close'] as const) {
      const row = await runScenario(options.root, options.app, scenario, load, sharing);
      rows.push(row);
      console.log(
        `${row.scenario.padEnd(46)} ${row.load.padEnd(17)} ${String(row.requests).padStart(7)} requests ` +
          `${String(row.failed).padStart(5)} failed${row.detail ? ` (${row.detail})` : ''}  ${row.seconds.toFixed(1)} s, ${row.events}`,
      );
    }
  }
  return rows;
}
