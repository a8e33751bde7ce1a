/**
 * Who sent a control command, for the master's log. Node has no API for SO_PEERCRED (the kernel's own
 * answer, which needs a native addon), and /proc/net/unix lists sockets without their peers. So the
 * client says its pid and uid in the request, and on Linux the master checks the claim against /proc:
 * the process exists, it holds a connected Unix socket right now (it is waiting for the reply), and its
 * uid is the one /proc/PID/status gives, not the one it said. Only the socket's owner and root can
 * connect at all (mode 0600). Elsewhere the claim is logged as said, marked so.
 *
 *   const peer = await identifyPeer(request);   // { pid: 4711, uid: 1000, program: 'tsunicornc', checked: true }
 *   describePeer(peer)                          // 'pid 4711 (tsunicornc, uid 1000)'
 */
import { readFile, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { ControlRequest } from './protocol.js';

export interface Peer {
  pid: number;
  uid: number | undefined;
  /** The program's name from its command line (`tsunicornc`, `node`, `socat`). */
  program?: string;
  /** The pid was checked against /proc (see above). */
  checked: boolean;
  /** Why it could not be checked. */
  unchecked?: string;
}

/** `/proc/net/unix` states: 03 is SS_CONNECTED. */
const CONNECTED = '03';

async function connectedUnixInodes(): Promise<Set<string>> {
  const table = await readFile('/proc/net/unix', 'utf8');
  const inodes = new Set<string>();
  for (const line of table.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[5] === CONNECTED && fields[6] !== undefined) inodes.add(fields[6]);
  }
  return inodes;
}

async function socketInodesOf(pid: number): Promise<string[]> {
  const directory = `/proc/${pid}/fd`;
  const inodes: string[] = [];
  for (const fd of await readdir(directory)) {
    const target = await readlink(path.join(directory, fd)).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.push(inode);
  }
  return inodes;
}

function programOf(commandLine: string): string | undefined {
  const words = commandLine.split('\0').filter((word) => word !== '');
  const first = words[0] ? path.basename(words[0]) : undefined;
  // `node /path/bin/tsunicornc ...`: the script is the program.
  if (first && /^node(js)?(\d+)?$/.test(first) && words[1] && !words[1].startsWith('-')) return path.basename(words[1]);
  return first;
}

export async function identifyPeer(request: ControlRequest): Promise<Peer> {
  const claimed: Peer = { pid: request.pid, uid: request.uid >= 0 ? request.uid : undefined, checked: false };
  if (request.pid <= 0) return { ...claimed, unchecked: 'no pid given' };
  if (process.platform !== 'linux') return { ...claimed, unchecked: 'no /proc to check it against' };
  try {
    const status = await readFile(`/proc/${request.pid}/status`, 'utf8');
    const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
    const program = programOf(await readFile(`/proc/${request.pid}/cmdline`, 'utf8').catch(() => ''));
    const [inodes, connected] = await Promise.all([socketInodesOf(request.pid), connectedUnixInodes()]);
    if (!inodes.some((inode) => connected.has(inode))) return { ...claimed, program, unchecked: 'that process holds no connected Unix socket' };
    return { pid: request.pid, uid: Number.isInteger(uid) ? uid : undefined, program, checked: true };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { ...claimed, unchecked: code === 'ENOENT' ? 'no such process' : `cannot read /proc/${request.pid} (${code ?? 'error'})` };
  }
}

export function describePeer(peer: Peer): string {
  const details = [peer.program, `uid ${peer.uid ?? '?'}`].filter(Boolean).join(', ');
  if (peer.checked) return `pid ${peer.pid} (${details})`;
  return `pid ${peer.pid || '?'} (${details}, as the client says: ${peer.unchecked ?? 'unchecked'})`;
}
