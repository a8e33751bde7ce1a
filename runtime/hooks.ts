/**
 * The hooks a config file may define (gunicorn's names) and what each one receives. These types are
 * part of the package's public API (`defineConfig` in define-config.ts uses them), so a user's
 * `tsunicorn.config.ts` is checked against the same signatures the arbiter and workers call.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { Settings } from './settings.js';

/** What a hook learns about the server: the master's pid and the resolved settings. */
export interface ServerInfo {
  pid: number;
  settings: Settings;
}

/** A worker as its own hooks see it (worker side). */
export interface WorkerInfo {
  pid: number;
  /** Order in which the master started the workers (1, 2, ...), as gunicorn's `worker.age`. */
  age: number;
  /** The worker's HTTP(S) server: attach `upgrade` listeners (WebSockets) here. */
  server: HttpServer | HttpsServer;
}

/** A worker the master is about to start (`pre_fork`): its process does not exist yet. */
export interface WorkerToFork {
  age: number;
}

/** A worker that has exited (`child_exit`). */
export interface WorkerExitInfo {
  pid: number;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** A hook may be synchronous or return a promise, which is awaited. */
type HookResult = void | Promise<void>;

/** Hooks a config module may export. A hook that throws is logged and does not stop the server. */
export interface Hooks {
  // Master side.
  on_starting?: (server: ServerInfo) => HookResult;
  when_ready?: (server: ServerInfo) => HookResult;
  on_reload?: (server: ServerInfo) => HookResult;
  pre_fork?: (server: ServerInfo, worker: WorkerToFork) => HookResult;
  child_exit?: (server: ServerInfo, worker: WorkerExitInfo) => HookResult;
  nworkers_changed?: (server: ServerInfo, newValue: number, oldValue: number) => HookResult;
  on_exit?: (server: ServerInfo) => HookResult;
  // Worker side (each worker is a fresh Node process that loads the config file too).
  post_fork?: (server: ServerInfo, worker: WorkerInfo) => HookResult;
  post_worker_init?: (worker: WorkerInfo) => HookResult;
  pre_request?: (worker: WorkerInfo, req: IncomingMessage) => HookResult;
  post_request?: (worker: WorkerInfo, req: IncomingMessage, res: ServerResponse) => HookResult;
  worker_int?: (worker: WorkerInfo) => HookResult;
  worker_exit?: (server: ServerInfo, worker: WorkerInfo) => HookResult;
}
