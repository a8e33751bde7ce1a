import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { processTable, type ProcessEntry } from './process-group.js';

/**
 * A process that leaves its process group (`setsid`, a double fork, a program that daemonizes
 * itself) is out of reach of `kill(-pgid)`. Every descendant still inherits the environment, so each
 * process the manager starts gets a variable of its own, and on Linux the processes carrying it are
 * found by reading /proc/PID/environ (the environment a program was started with, which it cannot
 * rewrite in place).
 *
 *   const mark = new DescendantMark('web.1');
 *   spawn(cmd, { env: { ...env, ...mark.env } });
 *   mark.escapees(child.pid);   // pids that carry the mark but left group child.pid
 *
 * What cannot be found: a descendant started with a cleared or rebuilt environment (`env -i`,
 * some daemon managers), one running as another user (its environ is unreadable), and anything
 * outside Linux (no /proc).
 */
export class DescendantMark {
  /** `web.1#2`: the instance and which start of it. */
  readonly value: string;

  constructor(label: string) {
    this.value = `${label}#${++starts}`;
  }

  /** The variable to add to the child's environment. */
  get env(): Record<string, string> {
    return { [VARIABLE]: this.value };
  }

  /** Live processes carrying this mark, other than members of process group `pgid`. */
  escapees(pgid: number): number[] {
    return (markedProcesses().get(this.value) ?? []).filter((entry) => entry.pgrp !== pgid).map((entry) => entry.pid);
  }
}

/** How long one reading of every environ serves every mark asked about (a poll asks for each process). */
const SCAN_TTL_MS = 10;
let scan: { at: number; byValue: Map<string, ProcessEntry[]> } | null = null;

/** Live processes carrying this manager's mark variable, by the mark's value. */
function markedProcesses(): Map<string, ProcessEntry[]> {
  const now = Date.now();
  if (scan !== null && now - scan.at < SCAN_TTL_MS) return scan.byValue;
  const byValue = processesCarrying(VARIABLE);
  scan = { at: Date.now(), byValue };
  return byValue;
}

/**
 * Live processes (Linux; none elsewhere) whose environment has `variable`, by its value. The
 * watchdog uses it with the mark variable of a manager that is gone.
 */
export function processesCarrying(variable: string): Map<string, ProcessEntry[]> {
  const byValue = new Map<string, ProcessEntry[]>();
  const needle = Buffer.from(`${variable}=`);
  for (const entry of processTable()) {
    if (entry.state === 'Z' || entry.pid === process.pid) continue;
    let environ: Buffer;
    try {
      environ = readFileSync(`/proc/${entry.pid}/environ`);
    } catch {
      continue;
    }
    let at = environ.indexOf(needle);
    while (at > 0 && environ[at - 1] !== 0) at = environ.indexOf(needle, at + 1);
    if (at === -1) continue;
    const start = at + needle.length;
    const end = environ.indexOf(0, start);
    const value = environ.toString('utf8', start, end === -1 ? environ.length : end);
    byValue.set(value, [...(byValue.get(value) ?? []), entry]);
  }
  return byValue;
}

/** This manager's id in mark names: its pid and a random part (pids are reused). */
const VARIABLE = `TSFOREMAN_MARK_${process.pid}_${randomBytes(4).toString('hex')}`;

/** The name of this manager's mark variable (`TSFOREMAN_MARK_<pid>_<random>`), for its watchdog. */
export const MARK_VARIABLE = VARIABLE;
let starts = 0;

/** Sends `signal` to each pid; those already gone are skipped. True when any was signalled. */
export function signalEach(pids: readonly number[], signal: NodeJS.Signals): boolean {
  let any = false;
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      any = true;
    } catch {
      // gone meanwhile, or no longer ours
    }
  }
  return any;
}
