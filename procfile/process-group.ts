import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Process groups: every child of the manager leads its own group, so signalling the group reaches
 * everything it started (a `sleep 300 &` in a shell script included) unless that escaped with setsid.
 *
 *   signalGroup(child.pid, 'SIGTERM');  // kill(-pgid, SIGTERM)
 *   groupAlive(child.pid);              // false once every member is gone
 */

/** Sends `signal` to every process of group `pgid`. Returns false when the group is already empty. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return false;
    // EPERM: a member changed its user id; nothing more can be done from here.
    if (code === 'EPERM') return false;
    throw error;
  }
}

/**
 * True while group `pgid` still has a live member. Zombies do not count: an orphaned grandchild
 * that exited stays a zombie until its new parent reaps it, and some container init processes
 * never do, yet it holds no resources and needs no signal.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  return liveMembersOnLinux(pgid);
}

/** Something that can be signalled as a whole and asked whether any of it is alive. */
export interface Stoppable {
  signal(signal: NodeJS.Signals): boolean;
  groupAlive(): boolean;
}

const POLL_MS = 50;
/** After SIGKILL, how long to wait for the kernel to remove every process before giving up. */
export const AFTER_KILL_LIMIT_MS = 5_000;

/**
 * Stops `target` as tsforeman stops anything: SIGTERM, SIGKILL when it is still alive after
 * `timeoutMs` (or as soon as `hurry()` says so), then waits until it is gone (bounded). Resolves
 * true when SIGKILL was needed.
 */
export async function stopGracefully(target: Stoppable, timeoutMs: number, hurry: () => boolean = () => false): Promise<boolean> {
  if (!target.groupAlive()) return false;
  target.signal('SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (target.groupAlive() && Date.now() < deadline && !hurry()) await sleep(POLL_MS);
  if (!target.groupAlive()) return false;
  target.signal('SIGKILL');
  const limit = Date.now() + AFTER_KILL_LIMIT_MS;
  while (target.groupAlive() && Date.now() < limit) await sleep(POLL_MS);
  return true;
}

/** True while `pid` exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (process.platform !== 'linux') return true;
  const stat = readStat(pid);
  return stat !== null && stat.state !== 'Z';
}

function liveMembersOnLinux(pgid: number): boolean {
  return processTable().some((entry) => entry.pgrp === pgid && entry.state !== 'Z');
}

/** One live process seen in /proc. */
export interface ProcessEntry {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
}

/** How long one reading of /proc serves every question asked about it (a poll asks many). */
const TABLE_TTL_MS = 10;
let table: { at: number; entries: ProcessEntry[] } | null = null;

/** Every process in /proc (Linux; empty elsewhere), read at most once per TABLE_TTL_MS. */
export function processTable(): ProcessEntry[] {
  if (process.platform !== 'linux') return [];
  const now = Date.now();
  if (table !== null && now - table.at < TABLE_TTL_MS) return table.entries;
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  const entries: ProcessEntry[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) entries.push(stat);
  }
  table = { at: now, entries };
  return entries;
}

/** Every live descendant of `pid` (children, their children, ...), from /proc; empty outside Linux. */
export function descendantsOf(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of processTable()) {
    if (entry.state === 'Z') continue;
    children.set(entry.ppid, [...(children.get(entry.ppid) ?? []), entry.pid]);
  }
  const found: number[] = [];
  const queue = [pid];
  for (let parent = queue.shift(); parent !== undefined; parent = queue.shift()) {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Reads state, parent and process group from /proc/PID/stat (the command name may contain spaces and parentheses). */
function readStat(pid: number): ProcessEntry | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state ppid pgrp ...
  return { pid, state: fields[0] ?? '', ppid: Number(fields[1]), pgrp: Number(fields[2]) };
}
