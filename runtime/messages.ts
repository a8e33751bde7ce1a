/**
 * The IPC messages between the master and its workers. Listening servers and accepted sockets travel as
 * the handle argument of `child.send(message, handle)` next to a `listen` or `connection` message.
 */
import type { ServedAddress } from './app-listen.js';
import type { Settings } from './settings.js';
import type { WorkerStatsReport } from './worker-stats.js';

export type MasterMessage =
  /**
   * First message to a new worker: the settings of its generation, its `age` (the hooks' worker.age), and
   * the addresses the master serves (for an app that calls listen() itself).
   */
  | { type: 'boot'; settings: Settings; cwd: string; age: number; served: ServedAddress[] }
  /** Shared sockets, and reuse-port sockets passed on: the listening server number `index` comes with this message. */
  | { type: 'listen'; index: number; backlog: number }
  /** Reuse-port: bind a listening socket of your own (SO_REUSEPORT) for --bind number `index`, answer `bound`. */
  | { type: 'bind'; index: number; host: string; port: number; backlog: number }
  /** Reuse-port: give one of your listening sockets for --bind number `index` back (`released`), it goes to another worker. */
  | { type: 'release'; index: number }
  /** An accepted connection handed over by the master comes with this message. */
  | { type: 'connection'; index: number }
  /**
   * At TERM: shared sockets: close your copies of the listening sockets; reuse-port: give them back
   * (`released`); keep serving, answer `unlistened`.
   */
  | { type: 'unlisten' }
  /** Reopen the log files (USR1). */
  | { type: 'reopen' }
  /**
   * Drain and exit. Sent over IPC rather than as SIGTERM so that it arrives after every connection handed
   * over before it: a worker never exits with a connection still on its way.
   */
  | { type: 'stop' };

export type WorkerMessage =
  /** The app is loaded and the server built: the worker can take connections. */
  | { type: 'booted' }
  /** The worker closed its copies of the listening sockets (reply to `unlisten`). */
  | { type: 'unlistened' }
  /** Reuse-port: the worker listens on its own socket for --bind number `index` (or could not: `error`). */
  | { type: 'bound'; index: number; error?: string }
  /**
   * Reuse-port: a listening socket for --bind number `index` comes back with this message (a leaving worker's,
   * or one asked back); the worker closes its descriptor only once it is sent, so the socket never closes
   * with connections in its queue.
   */
  | { type: 'released'; index: number }
  /**
   * The event loop is alive; about once a second (STATS_INTERVAL_MS) it carries the worker's statistics.
   * A worker also sends one with its statistics right before it exits.
   */
  | { type: 'heartbeat'; stats?: WorkerStatsReport }
  /** The worker could not boot; it exits with `exitCode` (3 or 4) right after. */
  | { type: 'boot-failed'; exitCode: number; reason: string }
  /** The worker stops taking connections and drains (max-requests, or a TERM sent to it directly). */
  | { type: 'retiring'; reason: string };

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

export function isMasterMessage(value: unknown): value is MasterMessage {
  return isWorkerMessage(value);
}

/** How often, at most, a heartbeat carries the worker's statistics. */
export const STATS_INTERVAL_MS = 1000;

/** How often a worker heartbeats and the master checks on its workers, for a given --timeout. */
export function heartbeatIntervalMs(timeoutSeconds: number): number {
  if (timeoutSeconds <= 0) return 1000;
  return Math.min(1000, Math.max(50, (timeoutSeconds * 1000) / 5));
}
