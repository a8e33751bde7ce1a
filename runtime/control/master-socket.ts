/**
 * Opens the master's control socket as its settings say: none with --no-control-socket, the one
 * --control-socket names (any problem with it stops the start: exit 1), or the default path of
 * socket-path.ts, where a live socket also stops the start but other trouble (a directory that cannot
 * be made, a path too long) is a warning and the master runs without one.
 *
 *   const control = await openControlSocket({ settings, cwd, env, urls, handlers, takeOver, warning });
 */
import { lstatSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { TsunicornError } from '../errors.js';
import type { Settings } from '../settings.js';
import type { ControlHandlers } from './handlers.js';
import { ControlServer, ControlSocketError, LiveSocketError, socketIsLive } from './server.js';
import { SocketPathError, defaultSocketPath, prepareSocketDirectory, socketsOfFolder } from './socket-path.js';

export interface ControlSocketOptions {
  settings: Pick<Settings, 'control_socket' | 'control_socket_disable'>;
  /** Where tsunicorn started: a relative --control-socket is found from there; the default is named after it. */
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** The addresses the master listens on (the real ones). */
  urls: readonly string[];
  handlers: ControlHandlers;
  /** A master started by USR2 takes the socket of the one it replaces. */
  takeOver: boolean;
  warning(line: string): void;
}

/** Removes the sockets of masters of this folder that were killed (nobody answers on them). */
async function sweepStaleSockets(cwd: string, env: ControlSocketOptions['env'], keep: string): Promise<void> {
  for (const file of socketsOfFolder(cwd, env)) {
    if (file === keep || !lstatSync(file, { throwIfNoEntry: false })?.isSocket()) continue;
    if (!(await socketIsLive(file))) {
      try {
        unlinkSync(file);
      } catch {
        // Removed meanwhile.
      }
    }
  }
}

export async function openControlSocket(options: ControlSocketOptions): Promise<ControlServer | undefined> {
  const { settings, handlers } = options;
  if (settings.control_socket_disable) return undefined;
  const serverOptions = { handle: handlers.answer.bind(handlers), takeOver: options.takeOver };
  if (settings.control_socket !== undefined) {
    const file = path.resolve(options.cwd, settings.control_socket);
    try {
      return await ControlServer.listen(file, serverOptions);
    } catch (error) {
      throw new TsunicornError(`--control-socket: ${controlProblem(error, file)}`, 1);
    }
  }
  let file: string | undefined;
  try {
    file = defaultSocketPath(options.cwd, options.urls, options.env);
    prepareSocketDirectory(path.dirname(file));
    await sweepStaleSockets(options.cwd, options.env, file);
    return await ControlServer.listen(file, serverOptions);
  } catch (error) {
    if (error instanceof LiveSocketError) {
      throw new TsunicornError(`Control socket: ${error.message}`, 1);
    }
    options.warning(`No control socket (tsunicornc cannot reach this master): ${controlProblem(error, file)}; set --control-socket PATH, or --no-control-socket`);
    return undefined;
  }
}

function controlProblem(error: unknown, file: string | undefined): string {
  if (error instanceof ControlSocketError || error instanceof SocketPathError) return error.message;
  const code = (error as NodeJS.ErrnoException).code;
  return `cannot use ${file ?? 'the default path'}: ${code ?? (error as Error).message}`;
}
