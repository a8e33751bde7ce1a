/**
 * Listening sockets the master is given instead of binding them: systemd's socket activation
 * (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`, as sd_listen_fds(3) reads them, fds from 3 on) and the
 * sockets an old master hands its new one at USR2 (`TSUNICORN_FD=3,4`: the new master's pid is not known
 * before it is spawned, so LISTEN_PID cannot be set for it, as with gunicorn's GUNICORN_FD).
 *
 *   const given = inheritedSockets(process.env, process.pid);   // undefined: bind as usual
 *   given.warning          // LISTEN_PID names another process: the fds are not used (one line)
 *   const listeners = await listenOnInherited(given, settings.bind, bindGiven, secure);
 *
 * The variables are removed from what the workers get (sd_listen_fds(1) unsets them likewise), so an app
 * that looks for LISTEN_FDS itself does not take the master's sockets.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { BindError } from './errors.js';
import type { Listener } from './listeners.js';
import type { BindAddress } from './settings.js';

/** The first inherited descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/** What only the master reads: never passed on to the workers (and so to the app). */
export const MASTER_ONLY_VARIABLES = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'TSUNICORN_FD', 'NOTIFY_SOCKET'] as const;

export interface InheritedSockets {
  /** Descriptor numbers, in order. */
  fds: number[];
  /** LISTEN_FDNAMES, one per fd ('' when not given). */
  names: string[];
  /** Who passed them, for the `Listening at:` line. */
  from: 'socket activation' | 'the old master';
  /** Set when the variables were there but cannot be used; `fds` is then empty. */
  warning?: string;
}

/** Reads the variables; undefined when none is set. */
export function inheritedSockets(env: Readonly<Record<string, string | undefined>>, pid: number): InheritedSockets | undefined {
  const handed = env.TSUNICORN_FD;
  if (handed !== undefined && handed !== '') {
    const fds = handed.split(',').map((item) => Number(item.trim()));
    if (fds.some((fd) => !Number.isInteger(fd) || fd < LISTEN_FDS_START)) {
      return { fds: [], names: [], from: 'the old master', warning: `TSUNICORN_FD=${handed} is not a list of descriptors from 3 on: binding --bind instead` };
    }
    return { fds, names: fds.map(() => ''), from: 'the old master' };
  }
  const count = env.LISTEN_FDS;
  if (count === undefined || count === '') return undefined;
  const none = (warning: string): InheritedSockets => ({ fds: [], names: [], from: 'socket activation', warning });
  if (!/^\d+$/.test(count)) return none(`LISTEN_FDS=${count} is not a number: the inherited sockets are not used, binding --bind instead`);
  const listenPid = env.LISTEN_PID;
  if (listenPid !== String(pid)) {
    return none(`LISTEN_FDS is set for process ${listenPid ?? '(LISTEN_PID unset)'}, not this one (${pid}): the inherited sockets are not used, binding --bind instead (exec the server so it keeps the pid LISTEN_PID names)`);
  }
  const fds = Array.from({ length: Number(count) }, (_, index) => LISTEN_FDS_START + index);
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  return { fds, names: fds.map((_, index) => names[index] ?? ''), from: 'socket activation' };
}

/** The environment without what only the master reads. */
export function withoutMasterVariables(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  const copy = { ...env };
  for (const name of MASTER_ONLY_VARIABLES) delete copy[name];
  return copy;
}

function listenOnFd(fd: number, backlog: number): Promise<net.Server> {
  // pauseOnConnect: a connection the master accepts is handed to a worker unread (as listeners.ts binds).
  const server = net.createServer({ pauseOnConnect: true });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new BindError(`Cannot listen on inherited fd ${fd}: ${error.code ?? error.message} (is it a listening stream socket?)`)));
    server.listen({ fd, backlog }, () => {
      server.removeAllListeners('error');
      resolve(server);
    });
  });
}

/**
 * The path of an inherited unix socket. Node knows a pipe server's name only when it bound it itself, so
 * it is looked up by the socket's inode in the kernel's table (Linux: /proc/net/unix); '' when unnamed.
 */
function unixSocketPath(fd: number): string {
  try {
    const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
    if (!inode) return '';
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[6] === inode) return fields[7] ?? '';
    }
  } catch {
    // Not Linux: the socket is served all the same, shown by its fd.
  }
  return '';
}

function addressOf(server: net.Server, fd: number): BindAddress {
  const bound = server.address();
  if (typeof bound === 'string' || !bound) {
    const socketPath = typeof bound === 'string' && bound !== '' ? bound : unixSocketPath(fd);
    return { kind: 'unix', path: socketPath, text: socketPath ? `unix:${socketPath}` : `unix:(fd ${fd})` };
  }
  const shownHost = bound.address.includes(':') ? `[${bound.address}]` : bound.address;
  return { kind: 'tcp', host: bound.address, port: bound.port, text: `${shownHost}:${bound.port}` };
}

function sameAddress(wanted: BindAddress, inherited: BindAddress): boolean {
  if (wanted.kind === 'unix' || inherited.kind === 'unix') {
    return wanted.kind === 'unix' && inherited.kind === 'unix' && inherited.path !== '' && path.resolve(wanted.path) === path.resolve(inherited.path);
  }
  return wanted.port === inherited.port && wanted.host.toLowerCase() === inherited.host.toLowerCase();
}

/**
 * Serves on the inherited sockets. With --bind given (command line, TSUNICORN_CMD_ARGS or config file,
 * not the $PORT default), it selects which of them are served, in its order, and an address that none of
 * them has is refused (BindError, one line). Without it, every inherited socket is served.
 */
export async function listenOnInherited(
  given: InheritedSockets,
  bind: readonly BindAddress[],
  bindGiven: boolean,
  secure: boolean,
  backlog: number,
): Promise<Listener[]> {
  const servers: { server: net.Server; address: BindAddress; fd: number; name: string }[] = [];
  const closeAll = () => {
    for (const { server } of servers) server.close();
  };
  try {
    for (const [index, fd] of given.fds.entries()) {
      const server = await listenOnFd(fd, backlog);
      servers.push({ server, address: addressOf(server, fd), fd, name: given.names[index] ?? '' });
    }
  } catch (error) {
    closeAll();
    throw error;
  }
  let chosen = servers;
  if (bindGiven) {
    chosen = [];
    for (const wanted of bind) {
      const match = servers.find((candidate) => sameAddress(wanted, candidate.address));
      if (!match) {
        closeAll();
        const have = servers.map((candidate) => candidate.address.text).join(', ') || 'none';
        throw new BindError(`--bind ${wanted.text} is not among the sockets inherited from ${given.from} (${have}): drop --bind or make it name one of them`);
      }
      if (!chosen.includes(match)) chosen.push(match);
    }
    for (const unused of servers) if (!chosen.includes(unused)) unused.server.close();
  }
  return chosen.map(({ server, address, fd, name }) => {
    const url = address.kind === 'unix' ? address.text : `${secure ? 'https' : 'http'}://${address.text}`;
    const label = name && name !== 'unknown' ? ` "${name}"` : '';
    return { address, server, url, inherited: `inherited from ${given.from}, fd ${fd}${label}` };
  });
}
