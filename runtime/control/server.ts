/**
 * The master's side of the control socket: a Unix socket, mode 0600 from the moment it exists, that
 * takes one request per connection and answers it (protocol.ts). What a command does is handlers.ts'.
 *
 *   const control = await ControlServer.listen(file, { handle: (request, peer) => handlers.answer(request, peer) });
 *   await control.close();   // stops listening and removes the file, unless another master owns it by now
 *
 * A socket file that nobody answers on (a master that was killed) is replaced; a live one is refused,
 * unless `takeOver` (a master started by USR2 takes the socket of the master it replaces, which then
 * leaves it in place when it exits).
 */
import { chmodSync, lstatSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { CommandError, MAX_LINE_BYTES, encode, parseRequest, type ControlReply, type ControlRequest } from './protocol.js';
import { identifyPeer, type Peer } from './peer.js';
import { checkSocketPathLength } from './socket-path.js';

export interface ControlServerOptions {
  handle(request: ControlRequest, peer: Peer): ControlReply | Promise<ControlReply>;
  /** Replace a live socket rather than refuse it (USR2). */
  takeOver?: boolean;
}

/** The socket cannot be used: one line. */
export class ControlSocketError extends Error {}

/** Another master answers on the socket. */
export class LiveSocketError extends ControlSocketError {}

const LISTEN_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  EADDRINUSE: 'the path is in use',
  ENOTDIR: 'its directory does not exist',
};

/** Numbers the temporary names one master binds (a reclaim binds anew). */
let binds = 0;

/** How long a client may take to send its request line. */
const REQUEST_WAIT_MS = 10_000;

/** Whether something accepts connections on the socket file `file`. */
export function socketIsLive(file: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createConnection(file);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

export class ControlServer {
  private server: Server;
  /** The inode of the socket file this master made: the file is removed only while it is still that one. */
  private inode: number | undefined;
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly options: ControlServerOptions,
  ) {
    this.server = this.createServer();
  }

  static async listen(file: string, options: ControlServerOptions): Promise<ControlServer> {
    checkSocketPathLength(file);
    await clearPath(file, options.takeOver === true);
    const control = new ControlServer(file, options);
    await control.bind();
    return control;
  }

  /**
   * Listens on the path again, replacing whatever is there: after a USR2 whose new master took the
   * path and then exited (removing it), this master is the one serving again.
   */
  async reclaim(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await clearPath(this.file, true);
    this.server = this.createServer();
    await this.bind();
  }

  /** Stops listening, ends the connections, removes the file (if still this master's). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await stopped;
    this.removeFile();
  }

  /** Synchronous, for the master's last moment (`process.on('exit')`). */
  removeFile(): void {
    try {
      const stat = lstatSync(this.file);
      if (stat.isSocket() && stat.ino === this.inode) unlinkSync(this.file);
    } catch {
      // Already gone.
    }
  }

  private createServer(): Server {
    const server = createServer((socket) => this.serve(socket));
    server.on('error', () => undefined);
    return server;
  }

  /**
   * Binds a temporary name beside the path, then renames it onto the path. libuv unlinks the name it
   * bound when the server closes: that is the temporary one, long renamed, so a master that closes
   * never removes a socket another master (USR2) has put at the path since; removeFile() does the
   * removal, only while the file is this master's. The rename also swaps a stale file atomically.
   */
  private async bind(): Promise<void> {
    const directory = path.dirname(this.file);
    // libuv reports a missing directory as EACCES: say which it is.
    if (lstatSync(directory, { throwIfNoEntry: false })?.isDirectory() !== true) {
      throw new ControlSocketError(`cannot listen on ${this.file}: its directory does not exist`);
    }
    const temporary = path.join(directory, `.tsunicorn-${process.pid}-${++binds}.tmp`);
    checkSocketPathLength(temporary);
    rmSync(temporary, { force: true });
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        const reason = LISTEN_ERRORS[error.code ?? ''] ?? error.message;
        reject(new ControlSocketError(`cannot listen on ${this.file}: ${reason}`));
      };
      this.server.once('error', onError);
      // The socket file is created by the bind inside listen(): with this mask it is 0600 from the start.
      const mask = process.umask(0o177);
      try {
        this.server.listen(temporary, () => {
          this.server.removeListener('error', onError);
          resolve();
        });
      } finally {
        process.umask(mask);
      }
    });
    try {
      chmodSync(temporary, 0o600);
      renameSync(temporary, this.file);
    } catch (error) {
      this.server.close();
      throw new ControlSocketError(`cannot listen on ${this.file}: ${LISTEN_ERRORS[(error as NodeJS.ErrnoException).code ?? ''] ?? (error as Error).message}`);
    }
    this.inode = lstatSync(this.file).ino;
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setTimeout(REQUEST_WAIT_MS, () => socket.destroy());
    let text = '';
    const onData = (chunk: string) => {
      text += chunk;
      const newline = text.indexOf('\n');
      if (newline === -1) {
        if (text.length > MAX_LINE_BYTES) socket.destroy();
        return;
      }
      socket.removeListener('data', onData);
      socket.setTimeout(0);
      void this.answer(socket, text.slice(0, newline));
    };
    socket.setEncoding('utf8');
    socket.on('data', onData);
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    let reply: ControlReply;
    try {
      const request = parseRequest(line);
      reply = await this.options.handle(request, await identifyPeer(request));
    } catch (error) {
      reply = { ok: false, error: (error as Error).message, usage: error instanceof CommandError };
    }
    if (!socket.destroyed) socket.end(encode(reply));
  }
}

/** Refuses what is not a socket and a live socket (unless `takeOver`); a stale one is left to the rename. */
async function clearPath(file: string, takeOver: boolean): Promise<void> {
  const stat = lstatSync(file, { throwIfNoEntry: false });
  if (stat === undefined) return;
  if (!stat.isSocket()) throw new ControlSocketError(`${file} exists and is not a socket: remove it, or choose another --control-socket`);
  if (!takeOver && (await socketIsLive(file))) {
    throw new LiveSocketError(`${file} is the control socket of a running tsunicorn: stop it (tsunicornc -s ${file} shutdown), or choose another --control-socket`);
  }
}
