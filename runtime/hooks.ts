/**
 * The server hooks a config file may export, with gunicorn's names and what each one receives. These types
 * are also the package's public API: `defineConfig` (define-config.ts) checks a user's tsunicorn.config.ts
 * against them, so they are declared once, here.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
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
