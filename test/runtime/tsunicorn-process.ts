/**
 * Test harness: runs the real `node bin/tsunicorn` in its own process group, collects its output lines,
 * and kills the whole group in `stopAllServers()` (called from afterEach), whatever the test did.
 *
 *   const server = await TsunicornProcess.start(['test/fixtures/apps/esm-listener.mjs', '-b', '127.0.0.1:0']);
 *   const { status, body } = await httpGet(server.url, '/');
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const APPS = path.join(ROOT, 'test/fixtures/apps');
const BIN = path.join(ROOT, 'bin/tsunicorn');

const running = new Set<TsunicornProcess>();

export interface StartOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Wait for this many Listening lines (default 1; 0 to not wait, e.g. for failures). */
  listening?: number;
  /** Another tsunicorn command, e.g. the one of a copy of the package installed into an app. */
  bin?: string;
  /** A program that execs the server, e.g. `['systemd-socket-activate', '-l', ADDRESS]`. */
  wrapper?: string[];
}

export class TsunicornProcess {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitCode: number | null | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exitCode = code;
        this.notify();
        resolve({ code, signal });
      });
    });
    collectLines(child.stdout!, this.stdout, () => this.notify());
    collectLines(child.stderr!, this.stderr, () => this.notify());
  }

  static async start(args: string[], options: StartOptions = {}): Promise<TsunicornProcess> {
    const env: Record<string, string | undefined> = { ...process.env, PORT: undefined, WEB_CONCURRENCY: undefined, TSUNICORN_CMD_ARGS: undefined };
    for (const [key, value] of Object.entries(options.env ?? {})) env[key] = value;
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    const command = [...(options.wrapper ?? []), process.execPath, options.bin ?? BIN, ...args];
    const child = spawn(command[0]!, command.slice(1), {
      cwd: options.cwd ?? ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new TsunicornProcess(child);
    running.add(server);
    const listening = options.listening ?? 1;
    if (listening > 0) {
      for (let count = 1; count <= listening; count++) await server.waitFor(/Listening at: /, count);
    }
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** All output lines, stderr and stdout. */
  get lines(): string[] {
    return [...this.stderr, ...this.stdout];
  }

  /** URLs from the `Listening at:` lines, in order. */
  get urls(): string[] {
    return this.stderr
      .map((line) => /Listening at: (\S+) \(/.exec(line)?.[1])
      .filter((url): url is string => url !== undefined);
  }

  get url(): string {
    return this.urls[0]!;
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
  }

  /** Waits until `count` stderr+stdout lines match; fails with the output after `timeoutMs`. */
  waitFor(pattern: RegExp, count = 1, timeoutMs = 15000): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const matches = this.lines.filter((line) => pattern.test(line));
        if (matches.length >= count) {
          finish();
          resolve(matches);
        } else if (this.exitCode !== undefined) {
          finish();
          reject(new Error(`tsunicorn exited (${this.exitCode}) before ${count}x ${pattern}:\n${this.lines.join('\n')}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out waiting for ${count}x ${pattern}:\n${this.lines.join('\n')}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Pids of the master's live child processes (its workers). */
  workerPids(): number[] {
    try {
      return execFileSync('ps', ['-o', 'pid=', '--ppid', String(this.pid)], { encoding: 'utf8' })
        .split('\n')
        .map((line) => Number(line.trim()))
        .filter((pid) => pid > 0);
    } catch {
      return [];
    }
  }

  /** Polls until the master has exactly `count` workers and every one answers; bounded. */
  async waitForWorkers(count: number, timeoutMs = 15000): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pids = this.workerPids();
      if (pids.length === count && this.bootedCount(pids) === count) return pids;
      if (Date.now() > deadline) throw new Error(`expected ${count} workers, have ${pids.length}:\n${this.lines.join('\n')}`);
      await sleep(100);
    }
  }

  private bootedCount(pids: number[]): number {
    // A worker is up once the master logged it; it serves once it booted (answering is checked by callers).
    const booted = this.lines.filter((line) => /Booting worker with pid: (\d+)/.test(line)).map((line) => Number(/pid: (\d+)/.exec(line)![1]));
    return pids.filter((pid) => booted.includes(pid)).length;
  }

  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  async waitForExit(timeoutMs = 15000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`tsunicorn did not exit:\n${this.lines.join('\n')}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Kills the whole process group (master and workers). */
  async kill(): Promise<void> {
    running.delete(this);
    for (const pid of [...this.workerPids(), this.pid]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // Group already gone.
    }
    if (this.exitCode === undefined) await this.exited;
  }
}

export async function stopAllServers(): Promise<void> {
  await Promise.all([...running].map((server) => server.kill()));
}

function collectLines(stream: NodeJS.ReadableStream, into: string[], onLine: () => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    into.push(...parts);
    onLine();
  });
  stream.on('end', () => {
    if (partial) into.push(partial);
    onLine();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The request went out on a kept-alive connection that had served an earlier one. */
  reusedConnection: boolean;
}

export interface RequestOptions {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  /** For unix: URLs. */
  socketPath?: string;
  /** An agent (e.g. keepAlive) instead of a fresh connection per request. */
  agent?: http.Agent;
}

/** One request, on a fresh connection unless an agent is given. `base` is http://host:port or unix:/path. */
export function request(base: string, pathname: string, options: RequestOptions = {}): Promise<HttpResult> {
  const target: http.RequestOptions = { method: options.method ?? 'GET', path: pathname, agent: options.agent ?? false, headers: options.headers };
  if (base.startsWith('unix:')) {
    target.socketPath = base.slice('unix:'.length);
  } else {
    const url = new URL(base);
    target.host = url.hostname.replace(/^\[|\]$/g, '');
    target.port = url.port;
  }
  return new Promise((resolve, reject) => {
    const req = http.request(target, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedConnection: req.reusedSocket }));
      res.on('error', reject);
    });
    req.setTimeout(10000, () => req.destroy(new Error(`no answer from ${base}${pathname}`)));
    req.on('error', (error) => {
      // A failure on a keep-alive connection that served earlier requests says so (only a fresh one can
      // meet the backlog's reset at TERM: docs/tsunicorn.md, TERM and the backlog).
      if (req.reusedSocket) error.message += ' (on a reused keep-alive connection)';
      reject(error);
    });
    req.end(options.body);
  });
}

/**
 * Sends requests back to back, `parallel` at a time (through `agent` if given, else each on a fresh
 * connection), until stopped; collects the answers and the failures.
 */
export function requestLoop(url: string, parallel: number, agent?: http.Agent) {
  const answers: HttpResult[] = [];
  const failures: string[] = [];
  let running = true;
  const loops = Array.from({ length: parallel }, async () => {
    // Bounded: at most 2000 requests per loop.
    for (let count = 0; running && count < 2000; count++) {
      try {
        const answer = await request(url, '/', { agent });
        if (answer.status === 200) answers.push(answer);
        else failures.push(`status ${answer.status}`);
      } catch (error) {
        failures.push(String(error));
      }
    }
  });
  return {
    answers,
    get bodies(): string[] {
      return answers.map((answer) => answer.body);
    },
    failures,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Waits until process `pid` is gone (reaped by its parent); bounded. */
export async function waitUntilGone(pid: number, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Retries a GET until it answers 200 (the server is up); bounded. */
export async function waitUntilServing(base: string, pathname = '/', attempts = 100): Promise<HttpResult> {
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      const result = await request(base, pathname);
      if (result.status === 200) return result;
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  throw new Error(`${base}${pathname} never answered 200: ${String(lastError)}`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
