import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs the built `tsforeman` (dist/, from `npx tsc`) as a real child process and keeps track of
 * every pid a test learns of, so `cleanup()` can kill them all even when the test failed.
 */

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = join(REPO, 'bin', 'tsforeman');

const tracked = new Set<number>();
const managers = new Set<Manager>();
const folders = new Set<string>();

/** A temporary project folder holding `files` (name -> content). */
export function project(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsforeman-test-'));
  folders.add(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `tsforeman` with its output collected. */
export class Manager {
  readonly child: ChildProcess;
  readonly exit: Promise<Exit>;
  private out: Buffer[] = [];
  private err: Buffer[] = [];

  constructor(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [BIN, ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    managers.add(this);
    if (this.child.pid) tracked.add(this.child.pid);
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.out.push(chunk);
      for (const match of chunk.toString('latin1').matchAll(/started \(pid (\d+)\)|grandchild (\d+)/g)) {
        tracked.add(Number(match[1] ?? match[2]));
      }
    });
    this.child.stderr!.on('data', (chunk: Buffer) => this.err.push(chunk));
    this.exit = new Promise((resolvePromise) => {
      this.child.once('close', (code, signal) => resolvePromise({ code, signal }));
    });
  }

  get stdoutBytes(): Buffer {
    return Buffer.concat(this.out);
  }

  get stdout(): string {
    return this.stdoutBytes.toString('utf8');
  }

  get stderr(): string {
    return Buffer.concat(this.err).toString('utf8');
  }

  /** Waits (bounded) until stdout matches `pattern`; returns the match. */
  async waitFor(pattern: RegExp, limitMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const match = this.stdout.match(pattern);
      if (match) return match;
      if (Date.now() > deadline) {
        throw new Error(`output never matched ${pattern}; stdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      await sleep(20);
    }
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

export function startManager(args: readonly string[], cwd: string, env?: NodeJS.ProcessEnv): Manager {
  return new Manager(args, cwd, env);
}

/** Runs `tsforeman ARGS` to the end, with optional stdin. */
export async function runTsforeman(
  args: readonly string[],
  cwd: string,
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  const manager = new Manager(args, cwd, options.env);
  manager.child.stdin!.end(options.input ?? '');
  const exit = await manager.exit;
  return { ...exit, stdout: manager.stdout, stderr: manager.stderr };
}

/** Remembers a pid to kill (with its group) in cleanup. */
export function track(pid: number): void {
  tracked.add(pid);
}

/** Kills every manager, process group and pid the tests started or learned of; removes temp folders. */
export async function cleanup(): Promise<void> {
  for (const pid of tracked) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  await Promise.all([...managers].map((manager) => manager.exit));
  tracked.clear();
  managers.clear();
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
  folders.clear();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

/** Waits (bounded) until `check()` is true; throws with `what` otherwise. */
export async function eventually(check: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await sleep(20);
  }
}

export { processAlive } from '../../procfile/process-group.js';
