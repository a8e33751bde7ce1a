/**
 * The server hooks a config file may export, with gunicorn's names and meanings. Master-side hooks run in
 * the master; worker-side hooks run in each worker, which imports the config file itself (functions do not
 * travel over IPC). Every hook is optional and may be sync or async; one that throws or rejects is logged
 * with its stack and changes nothing else. The types are also the package's public API: `defineConfig`
 * (define-config.ts) checks a user's tsunicorn.config.ts against them.
 *
 *   const hooks = hooksFromConfigObject(object, file);          // takes the functions out of `object`
 *   await runHook(log, hooks.worker_exit, 'worker_exit', [server, worker], deadline);
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import { SettingsError } from './errors.js';
import type { Logger } from './logging.js';
import type { Settings } from './settings.js';

/** What a hook learns about the server (the master). */
export interface ServerInfo {
  /** The master's pid. */
  pid: number;
  settings: Settings;
}

/** A worker, as worker-side hooks see it. */
export interface WorkerInfo {
  pid: number;
  /** The master's pid. */
  ppid: number;
  /** Counts the workers this master started, 1 for the first (gunicorn's `worker.age`). */
  age: number;
  /** The worker's HTTP server: undefined in post_fork, set from post_worker_init on. */
  server: Server | HttpsServer | undefined;
}

/** The worker pre_fork sees: not started yet, so no pid and no server. */
export interface ForkingWorkerInfo {
  pid: undefined;
  age: number;
  server: undefined;
}

/** The worker child_exit sees: how it ended. */
export interface WorkerExitInfo {
  pid: number;
  age: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

type HookResult = unknown;

export interface Hooks {
  // Master side.
  on_starting?: (server: ServerInfo) => HookResult;
  when_ready?: (server: ServerInfo) => HookResult;
  on_reload?: (server: ServerInfo) => HookResult;
  pre_fork?: (server: ServerInfo, worker: ForkingWorkerInfo) => HookResult;
  child_exit?: (server: ServerInfo, worker: WorkerExitInfo) => HookResult;
  nworkers_changed?: (server: ServerInfo, newValue: number, oldValue: number) => HookResult;
  on_exit?: (server: ServerInfo) => HookResult;
  // Worker side.
  post_fork?: (server: ServerInfo, worker: WorkerInfo) => HookResult;
  post_worker_init?: (worker: WorkerInfo) => HookResult;
  pre_request?: (worker: WorkerInfo, req: IncomingMessage) => HookResult;
  post_request?: (worker: WorkerInfo, req: IncomingMessage, res: ServerResponse) => HookResult;
  worker_int?: (worker: WorkerInfo) => HookResult;
  worker_exit?: (server: ServerInfo, worker: WorkerInfo) => HookResult;
}

export type HookName = keyof Hooks;

export const HOOK_NAMES: readonly HookName[] = [
  'on_starting', 'when_ready', 'on_reload', 'pre_fork', 'child_exit', 'nworkers_changed', 'on_exit',
  'post_fork', 'post_worker_init', 'pre_request', 'post_request', 'worker_int', 'worker_exit',
];

/** gunicorn hooks that have no meaning here, and why. */
export const UNSUPPORTED_HOOKS: Record<string, string> = {
  pre_exec: "gunicorn runs it in the forked child before the USR2 exec; tsunicorn's USR2 spawns the new master, where no code of the old one runs (use on_starting)",
  worker_abort:
    'gunicorn calls it in a timed-out worker on SIGABRT; tsunicorn ends a timed-out worker with SIGKILL, ' +
    'where no code runs (use child_exit in the master)',
  ssl_context: 'TLS comes from --certfile/--keyfile, or export an https.Server built with your own context',
};

/**
 * Takes the hook functions out of a config object (which then holds settings only). Any other function
 * is an error naming it, as an unknown setting is. `where(name)` says where in the file it is.
 */
export function hooksFromConfigObject(object: Record<string, unknown>, where: (name: string) => string): Hooks {
  const hooks: Hooks = {};
  for (const [name, value] of Object.entries(object)) {
    if (typeof value !== 'function' || name === 'default') continue;
    if ((HOOK_NAMES as readonly string[]).includes(name)) {
      (hooks as Record<string, unknown>)[name] = value;
      delete object[name];
    } else if (name in UNSUPPORTED_HOOKS) {
      throw new SettingsError(`${where(name)}: hook "${name}" is not supported: ${UNSUPPORTED_HOOKS[name]}`);
    } else {
      throw new SettingsError(`${where(name)}: unknown hook "${name}" (hooks: ${HOOK_NAMES.join(', ')})`);
    }
  }
  for (const name of HOOK_NAMES) {
    if (object[name] !== undefined) throw new SettingsError(`${where(name)}: ${name} must be a function`);
  }
  return hooks;
}

/**
 * Calls a hook, awaits it, and logs a throw or rejection with its stack. With `until`, gives up waiting
 * once that promise settles (the hook keeps running; the caller moves on).
 */
export async function runHook(
  log: Logger,
  hook: ((...args: never[]) => unknown) | undefined,
  name: HookName,
  args: unknown[],
  until?: Promise<unknown>,
): Promise<void> {
  if (!hook) return;
  const failed = (error: unknown) => log.exception(`Hook ${name} failed`, error);
  try {
    const result = Promise.resolve((hook as (...values: unknown[]) => unknown)(...args)).then(undefined, failed);
    await (until ? Promise.race([result, until]) : result);
  } catch (error) {
    failed(error);
  }
}

/** Calls a hook on the request path without waiting for it; a throw or rejection is logged. */
export function callHookNow(log: Logger, hook: ((...args: never[]) => unknown) | undefined, name: HookName, args: unknown[]): void {
  if (!hook) return;
  try {
    const result = (hook as (...values: unknown[]) => unknown)(...args);
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(undefined, (error: unknown) => log.exception(`Hook ${name} failed`, error));
    }
  } catch (error) {
    log.exception(`Hook ${name} failed`, error);
  }
}
