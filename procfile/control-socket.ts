import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { UserError } from './errors.js';
import { locateProject, shownPath, type ProjectLocation, type ProjectOptions } from './project.js';

/**
 * The control socket of a running `tsforeman start`: a Unix socket (mode 0600) through which
 * `tsforeman ps`, `restart`, `stop`, `wait`, `logs` (and `tsforeman mcp`) from another terminal
 * steer it. One request per connection, a line of JSON; the answer is zero or more `{"item": ...}`
 * lines (what a streaming command such as `logs -f` sends as it happens), then one reply line:
 *
 *   const server = await ControlServer.listen(path, { ps: async (request, session) => ({ ok: true, lines: ['...'] }) });
 *   const reply = await sendControlRequest(path, { command: 'ps', names: [], pid: process.pid, options: {} });
 *   await server.close();   // also removes the socket file
 *
 * A new command is one more entry in the manager's table of handlers (see control-commands.ts)
 * and, for the command line, one more client in the same file; the protocol itself does not change.
 */

export interface ControlRequest {
  command: string;
  /** Instances (`web.1`) or process types (`web`); none means all. */
  names: string[];
  /** Who asked: the pid of the client that sent it. */
  pid: number;
  /** The command's own options (`{ json: true }`, `{ lines: 100 }`), as JSON values. */
  options: Record<string, unknown>;
}

/** `lines` to print on success (exit 0) and, for a script, `data`; or one `error` line (exit 1). */
export type ControlReply = { ok: true; lines: string[]; data?: unknown } | { ok: false; error: string };

/** What a handler may do besides replying: send items before the reply, and learn that the client left. */
export interface ControlSession {
  send(item: unknown): void;
  /** Aborted when the client disconnects or the manager closes the socket. */
  readonly closed: AbortSignal;
}

export type ControlHandler = (request: ControlRequest, session: ControlSession) => Promise<ControlReply>;

/** The manager's commands by name. */
export type ControlHandlers = Readonly<Record<string, ControlHandler>>;

/** The file name of the socket in the root, unless `--socket` names another. */
const SOCKET_NAME = '.tsforeman.sock';

export interface SocketOptions extends ProjectOptions {
  socket?: string;
}

/** `--socket PATH` (relative to the current folder), else ROOT/.tsforeman.sock. */
export function controlSocketPath(options: SocketOptions, cwd: string, location: ProjectLocation = locateProject(options, cwd)): string {
  if (options.socket !== undefined) return resolve(cwd, options.socket);
  return join(location.root, SOCKET_NAME);
}

/** How long a client waits for a manager that accepted the connection but sends nothing (0: no limit). */
const REPLY_LIMIT_MS = 10 * 60_000;

/**
 * Sends one request and resolves with the reply; items sent before it go to `onItem`. A missing
 * socket, or one nobody listens on, is a UserError saying no manager runs there. `signal` ends the
 * request early (the connection is closed; the promise then rejects with the abort reason).
 */
export function sendControlRequest(
  path: string,
  request: ControlRequest,
  {
    cwd = process.cwd(),
    onItem,
    signal,
    idleLimitMs = REPLY_LIMIT_MS,
  }: { cwd?: string; onItem?: (item: unknown) => void; signal?: AbortSignal; idleLimitMs?: number } = {},
): Promise<ControlReply> {
  const shown = shownPath(path, cwd);
  return new Promise((resolvePromise, reject) => {
    const socket = createConnection(path);
    let text = '';
    let reply: ControlReply | null = null;
    const abort = () => {
      socket.destroy();
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    socket.setEncoding('utf8');
    if (idleLimitMs > 0) socket.setTimeout(idleLimitMs, () => socket.destroy(new Error('no reply')));
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => {
      text += chunk;
      for (let newline = text.indexOf('\n'); newline !== -1; newline = text.indexOf('\n')) {
        const line = text.slice(0, newline);
        text = text.slice(newline + 1);
        let message: { item?: unknown; ok?: boolean };
        try {
          message = JSON.parse(line) as { item?: unknown; ok?: boolean };
        } catch {
          continue;
        }
        if ('item' in message) onItem?.(message.item);
        else reply = message as ControlReply;
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      signal?.removeEventListener('abort', abort);
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED' || error.code === 'ENOTSOCK') {
        reject(new UserError(`no tsforeman is running here (no manager listening on ${shown}; start one, or use -d/-f/--socket)`));
      } else {
        reject(new UserError(`control socket ${shown}: ${error.message}`));
      }
    });
    socket.on('end', () => {
      signal?.removeEventListener('abort', abort);
      if (reply !== null) resolvePromise(reply);
      else reject(new UserError(`control socket ${shown}: the manager closed the connection without a reply`));
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
  /** Ends the sessions (a `logs -f` following) when the manager closes. */
  private readonly closing = new AbortController();
  private closed = false;

  private constructor(server: Server, path: string) {
    this.server = server;
    this.path = path;
  }

  /**
   * Listens on `path`. A socket file nobody answers on (a manager that was killed) is replaced; a
   * live one is a UserError naming it, so two managers never share a root by accident.
   */
  static async listen(path: string, handlers: ControlHandlers, cwd = process.cwd()): Promise<ControlServer> {
    const shown = shownPath(path, cwd);
    await removeStaleSocket(path, shown);
    const server = createServer();
    const control = new ControlServer(server, path);
    server.on('connection', (socket) => control.serve(socket, handlers));
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
    this.closing.abort();
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

  private serve(socket: Socket, handlers: ControlHandlers): void {
    this.sockets.add(socket);
    const gone = new AbortController();
    const onClosing = () => gone.abort();
    this.closing.signal.addEventListener('abort', onClosing, { once: true });
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.closing.signal.removeEventListener('abort', onClosing);
      gone.abort();
    });
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
      // The client half-closes after its request on some platforms; reading on keeps 'close' coming.
      socket.on('data', () => undefined);
      let request: ControlRequest;
      let handler: ControlHandler;
      try {
        request = parseRequest(text.slice(0, newline));
        const found = Object.hasOwn(handlers, request.command) ? handlers[request.command] : undefined;
        if (found === undefined) {
          throw new Error(`this manager does not know the request "${request.command}" (it answers: ${Object.keys(handlers).join(', ')}); is it an older tsforeman?`);
        }
        handler = found;
      } catch (error) {
        void this.reply(socket, { ok: false, error: (error as Error).message });
        return;
      }
      const session: ControlSession = {
        send: (item) => {
          if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify({ item })}\n`);
        },
        closed: gone.signal,
      };
      const replied = handler(request, session).then(
        (reply) => this.reply(socket, reply),
        (error: unknown) => this.reply(socket, { ok: false, error: (error as Error).message }),
      );
      this.inFlight.add(replied);
      void replied.then(() => this.inFlight.delete(replied));
    });
  }

  private reply(socket: Socket, reply: ControlReply): Promise<void> {
    return new Promise((resolvePromise) => {
      if (socket.destroyed) return resolvePromise();
      socket.once('close', () => resolvePromise());
      socket.end(`${JSON.stringify(reply)}\n`, () => resolvePromise());
    });
  }
}

function parseRequest(line: string): ControlRequest {
  const value = JSON.parse(line) as Partial<ControlRequest>;
  if (typeof value.command !== 'string') throw new Error('bad control request (no command)');
  const names = Array.isArray(value.names) ? value.names.filter((name): name is string => typeof name === 'string') : [];
  const options = typeof value.options === 'object' && value.options !== null && !Array.isArray(value.options) ? value.options : {};
  return { command: value.command, names, pid: typeof value.pid === 'number' ? value.pid : 0, options };
}

/** Refuses a live socket, removes a stale one, refuses anything that is not a socket. */
/**
 * Refuses (UserError) when a manager already answers on `path`, before anything else is set up
 * (held ports, whose bind would fail with a less useful message); a stale socket file is removed.
 */
export async function refuseIfManagerRuns(path: string, cwd = process.cwd()): Promise<void> {
  await removeStaleSocket(path, shownPath(path, cwd));
}

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
