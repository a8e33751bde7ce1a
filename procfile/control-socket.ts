import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { UserError } from './errors.js';
import { locateProject, shownPath, type ProjectOptions } from './project.js';

/**
 * The control socket of a running `tsforeman start`: a Unix socket (mode 0600) through which
 * `tsforeman ps`, `restart` and `stop` from another terminal steer it. One request and one reply per
 * connection, each a line of JSON:
 *
 *   const server = await ControlServer.listen(path, async (request) => ({ ok: true, lines: ['...'] }));
 *   const reply = await sendControlRequest(path, { command: 'ps', names: [], pid: process.pid });
 *   await server.close();   // also removes the socket file
 */

export type ControlCommand = 'ps' | 'restart' | 'stop';

export interface ControlRequest {
  command: ControlCommand;
  /** Instances (`web.1`) or process types (`web`); none means all. */
  names: string[];
  /** Who asked: the pid of the `tsforeman ps|restart|stop` that sent it. */
  pid: number;
}

/** `lines` to print on success (exit 0), or one `error` line (exit 1). */
export type ControlReply = { ok: true; lines: string[] } | { ok: false; error: string };

/** The file name of the socket in the root, unless `--socket` names another. */
const SOCKET_NAME = '.tsforeman.sock';

export interface SocketOptions extends ProjectOptions {
  socket?: string;
}

/** `--socket PATH` (relative to the current folder), else ROOT/.tsforeman.sock. */
export function controlSocketPath(options: SocketOptions, cwd: string): string {
  if (options.socket !== undefined) return resolve(cwd, options.socket);
  return join(locateProject(options, cwd).root, SOCKET_NAME);
}

/** How long a client waits for a manager that accepted the connection but never answers. */
const REPLY_LIMIT_MS = 10 * 60_000;

/**
 * Sends one request and resolves with the reply. A missing socket, or one nobody listens on,
 * is a UserError saying no manager runs there.
 */
export function sendControlRequest(path: string, request: ControlRequest, cwd = process.cwd()): Promise<ControlReply> {
  const shown = shownPath(path, cwd);
  return new Promise((resolvePromise, reject) => {
    const socket = createConnection(path);
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(REPLY_LIMIT_MS, () => socket.destroy(new Error('no reply')));
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'ENOTSOCK') {
        reject(new UserError(`no tsforeman is running here (no manager listening on ${shown}; start one, or use -d/-f/--socket)`));
      } else {
        reject(new UserError(`control socket ${shown}: ${error.message}`));
      }
    });
    socket.on('end', () => {
      try {
        resolvePromise(JSON.parse(text) as ControlReply);
      } catch {
        reject(new UserError(`control socket ${shown}: the manager closed the connection without a reply`));
      }
    });
  });
}

/** The listening side, inside `tsforeman start`. */
export class ControlServer {
  private readonly server: Server;
  private readonly path: string;
  private readonly sockets = new Set<Socket>();
  /** Replies still being worked out (a restart in progress): close() lets them finish. */
  private readonly inFlight = new Set<Promise<void>>();
  private closed = false;

  private constructor(server: Server, path: string) {
    this.server = server;
    this.path = path;
  }

  /**
   * Listens on `path`. A socket file nobody answers on (a manager that was killed) is replaced; a
   * live one is a UserError naming it, so two managers never share a root by accident.
   */
  static async listen(path: string, handle: (request: ControlRequest) => Promise<ControlReply>, cwd = process.cwd()): Promise<ControlServer> {
    const shown = shownPath(path, cwd);
    await removeStaleSocket(path, shown);
    const server = createServer();
    const control = new ControlServer(server, path);
    server.on('connection', (socket) => control.serve(socket, handle));
    await new Promise<void>((resolvePromise, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(new UserError(`cannot listen on the control socket ${shown}: ${error.message} (use --socket PATH)`));
      });
      server.listen(path, () => resolvePromise());
    });
    chmodSync(path, 0o600);
    return control;
  }

  /** Stops listening, answers the requests in progress, and removes the socket file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.inFlight);
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolvePromise) => this.server.close(() => resolvePromise()));
    this.removeFile();
  }

  /** For the manager's last moments (`process.on('exit')`): synchronous. */
  removeFile(): void {
    try {
      if (lstatSync(this.path).isSocket()) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  private serve(socket: Socket, handle: (request: ControlRequest) => Promise<ControlReply>): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setEncoding('utf8');
    let text = '';
    socket.on('data', (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline === -1) {
        if (text.length > 64 * 1024) socket.destroy();
        return;
      }
      socket.removeAllListeners('data');
      let request: ControlRequest;
      try {
        request = parseRequest(text.slice(0, newline));
      } catch (error) {
        void this.reply(socket, { ok: false, error: (error as Error).message });
        return;
      }
      const replied = handle(request).then(
        (reply) => this.reply(socket, reply),
        (error: unknown) => this.reply(socket, { ok: false, error: (error as Error).message }),
      );
      this.inFlight.add(replied);
      void replied.then(() => this.inFlight.delete(replied));
    });
  }

  private reply(socket: Socket, reply: ControlReply): Promise<void> {
    return new Promise((resolvePromise) => {
      socket.once('close', () => resolvePromise());
      socket.end(`${JSON.stringify(reply)}\n`, () => resolvePromise());
    });
  }
}

function parseRequest(line: string): ControlRequest {
  const value = JSON.parse(line) as Partial<ControlRequest>;
  const commands: readonly string[] = ['ps', 'restart', 'stop'] satisfies ControlCommand[];
  if (typeof value.command !== 'string' || !commands.includes(value.command)) throw new Error('unknown control request');
  const names = Array.isArray(value.names) ? value.names.filter((name): name is string => typeof name === 'string') : [];
  return { command: value.command, names, pid: typeof value.pid === 'number' ? value.pid : 0 };
}

/** Refuses a live socket, removes a stale one, refuses anything that is not a socket. */
async function removeStaleSocket(path: string, shown: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return;
  }
  if (!isSocket) throw new UserError(`${shown} exists and is not a socket: remove it or use --socket PATH`);
  const live = await new Promise<boolean>((resolvePromise) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolvePromise(true);
    });
    probe.once('error', () => resolvePromise(false));
  });
  if (live) throw new UserError(`a tsforeman is already running on ${shown} (stop it with "tsforeman stop", or use --socket PATH)`);
  unlinkSync(path);
}
