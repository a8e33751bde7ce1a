import { readdirSync, readFileSync } from 'node:fs';

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
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat && stat.pgrp === pgid && stat.state !== 'Z') return true;
  }
  return false;
}

interface ProcStat {
  state: string;
  pgrp: number;
}

/** Reads state and process group from /proc/PID/stat (the command name may contain spaces and parentheses). */
function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state ppid pgrp ...
  return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
}
