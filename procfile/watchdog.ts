import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MARK_VARIABLE, processesCarrying } from './descendant-mark.js';
import { processTable } from './process-group.js';

/**
 * Nothing survives the manager, even when it cannot clean up (SIGKILL, the OOM killer, a crash
 * that skips its handlers): `start` and `run` start this small watchdog first, in a process group
 * of its own, holding a pipe to it. The manager writes `group PGID` for each process group it
 * creates and `done` once it has stopped everything itself. When the pipe closes without `done`
 * (the manager died), the watchdog sends SIGTERM to those groups and to every process carrying the
 * manager's mark variable (escapees included), SIGKILL to what is left after the timeout, and exits.
 *
 *   const watchdog = Watchdog.start(timeoutMs);
 *   watchdog.watchGroup(child.pid);
 *   ...
 *   watchdog.release();   // everything was stopped normally
 *
 * A group is signalled only while a member still carries the mark, so a process group id the
 * kernel gave to a stranger after the manager's own ended is never touched.
 */
export class Watchdog {
  private readonly child: ReturnType<typeof spawn>;
  private released = false;

  private constructor(child: ReturnType<typeof spawn>) {
    this.child = child;
  }

  static start(timeoutMs: number): Watchdog {
    // This very file, run as a program (from the sources, with the loader that runs them).
    const script = fileURLToPath(import.meta.url);
    const loader = script.endsWith('.ts') ? process.execArgv : [];
    const child = spawn(process.execPath, [...loader, script, MARK_VARIABLE, String(timeoutMs), String(process.pid)], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    child.once('error', () => undefined);
    child.stdin?.on('error', () => undefined);
    // Neither the child nor its pipe keeps the manager's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return new Watchdog(child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  watchGroup(pgid: number): void {
    if (!this.released) this.child.stdin?.write(`group ${pgid}\n`);
  }

  /** Everything was stopped: the watchdog exits without touching anything. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.child.stdin?.end('done\n');
  }
}

const POLL_MS = 50;
const AFTER_KILL_LIMIT_MS = 5_000;

/** The watchdog process itself: argv = mark variable, timeout in ms, manager pid (for ps). */
async function watch(variable: string, timeoutMs: number): Promise<void> {
  // Ctrl-C and a closed terminal are the manager's to handle: the watchdog stays until the pipe says.
  for (const signal of ['SIGINT', 'SIGHUP', 'SIGQUIT'] as const) process.on(signal, () => undefined);
  const groups = new Set<number>();
  let text = '';
  let done = false;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    text += chunk;
    let newline = text.indexOf('\n');
    while (newline !== -1) {
      const line = text.slice(0, newline).trim();
      text = text.slice(newline + 1);
      if (line === 'done') done = true;
      const group = /^group (\d+)$/.exec(line);
      if (group) groups.add(Number(group[1]));
      newline = text.indexOf('\n');
    }
  });
  await new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('error', () => resolve());
    process.stdin.once('close', resolve);
  });
  if (done) return;

  /** What is ours and alive: marked pids, and groups that still hold a marked member. */
  const targets = (): { pids: number[]; groups: number[] } => {
    const marked = [...processesCarrying(variable).values()].flat();
    const markedGroups = new Set(marked.map((entry) => entry.pgrp));
    const live = new Set(processTable().filter((entry) => entry.state !== 'Z').map((entry) => entry.pgrp));
    return {
      pids: marked.map((entry) => entry.pid),
      groups: [...groups].filter((pgid) => live.has(pgid) && (markedGroups.has(pgid) || process.platform !== 'linux')),
    };
  };
  const send = (signal: NodeJS.Signals): boolean => {
    const { pids, groups: pgids } = targets();
    for (const target of [...pgids.map((pgid) => -pgid), ...pids]) {
      try {
        process.kill(target, signal);
      } catch {
        // gone meanwhile
      }
    }
    return pids.length + pgids.length > 0;
  };
  if (!send('SIGTERM')) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sleep(POLL_MS);
    const { pids, groups: pgids } = targets();
    if (pids.length + pgids.length === 0) return;
  }
  const limit = Date.now() + AFTER_KILL_LIMIT_MS;
  while (send('SIGKILL') && Date.now() < limit) await sleep(POLL_MS);
}

// Run as a program (not imported): `node watchdog.js VARIABLE TIMEOUT_MS MANAGER_PID`.
if (process.argv[1] !== undefined && existsSync(process.argv[1]) && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [variable, timeout] = process.argv.slice(2);
  if (variable !== undefined && /^TSFOREMAN_MARK_\w+$/.test(variable)) {
    await watch(variable, Number(timeout ?? 5000) || 0);
  }
  process.exit(0);
}
