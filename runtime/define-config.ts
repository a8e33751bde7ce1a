/**
 * The package's importable API: `defineConfig` for a `tsunicorn.config.ts`. It returns its argument
 * unchanged; its only job is the type, so an editor completes the settings and hooks and `tsc` rejects
 * a misspelled key or a hook with the wrong parameters.
 *
 *   import { defineConfig } from 'tsforeman';
 *   export default defineConfig({ workers: 4, when_ready(server) { console.log(server.pid); } });
 */
// The hooks' types come from Node's (node:http): the emitted declarations name @types/node themselves, so a
// config type-checks under TypeScript's default `types: []` (TypeScript 7) without `--types node`.
/// <reference types="node" preserve="true" />
import type { Hooks } from './hooks.js';
import type { FetchObjects, LogFormat, LogLevel, SocketSharing } from './settings.js';

export type { ForkingWorkerInfo, Hooks, ServerInfo, WorkerExitInfo, WorkerInfo } from './hooks.js';
export type { BindAddress, FetchObjects, LogFormat, LogLevel, Settings, SocketSharing } from './settings.js';

/**
 * Every setting of the table in settings.ts under its config keys, with the values a config file may
 * give (docs/settings.md describes each). A test type-checks every key of the table against this.
 */
export interface ConfigSettings {
  /** `path/to/module[:name]` or a package specifier, when the command line names no APP. */
  app?: string;
  /** gunicorn's spelling of `app`. */
  wsgi_app?: string;
  /** `HOST:PORT`, `[::]:PORT`, `:PORT`, `unix:/path`; several addresses as an array. */
  bind?: string | string[];
  workers?: number;
  timeout?: number;
  graceful_timeout?: number;
  keepalive?: number;
  keep_alive?: number;
  max_requests?: number;
  max_requests_jitter?: number;
  limit_request_line?: number;
  limit_request_fields?: number;
  limit_request_field_size?: number;
  /** Error log file; `-` is stderr. */
  errorlog?: string;
  error_logfile?: string;
  log_file?: string;
  /** Access log file; `-` is stdout. */
  accesslog?: string;
  access_logfile?: string;
  /** gunicorn's atoms (`%(h)s %(r)s ...`), or `json` optionally followed by atoms. */
  access_log_format?: string;
  access_logformat?: string;
  loglevel?: LogLevel;
  log_level?: LogLevel;
  /** Error log lines: `text` (default) or `json`. */
  log_format?: LogFormat;
  config?: string;
  reload?: boolean;
  preload_app?: boolean;
  preload?: boolean;
  pidfile?: string;
  pid?: string;
  /** Comma-separated addresses trusted for X-Forwarded-Proto, or `*`. */
  forwarded_allow_ips?: string;
  certfile?: string;
  keyfile?: string;
  factory?: boolean;
  socket_sharing?: SocketSharing;
  /** gunicorn's spelling of `socket_sharing: 'reuse-port'`. */
  reuse_port?: boolean;
  /** For fetch handlers: `light` (default) or `standard` Request/Response objects. */
  fetch_objects?: FetchObjects;
  /** A path (`/healthz`) the worker answers itself: 200 `ok`, 503 while it drains. */
  health_path?: string;
  check_config?: boolean;
  print_config?: boolean;
  /** The workers run in this folder (the APP is found from it). */
  chdir?: string;
  /** Shown in the process titles: `tsunicorn: master [NAME]`. */
  proc_name?: string;
  /** `KEY=VALUE` environment variables for the app. */
  raw_env?: string | string[];
  backlog?: number;
  capture_output?: boolean;
  /** The workers' user and group (name or id); switching needs root. */
  user?: string | number;
  group?: string | number;
  /** `'022'`, `'0o027'` or a number such as `0o22`. */
  umask?: string | number;
  initgroups?: boolean;
  /** The control socket's path, for tsunicornc (default: see docs/settings.md). */
  control_socket?: string;
  /** No control socket. */
  control_socket_disable?: boolean;
  /** `HOST:PORT` where the master serves Prometheus metrics on GET /metrics. */
  metrics_bind?: string;
  /** `HOST:PORT` of a statsd server (UDP); gunicorn's metric names. */
  statsd_host?: string;
  statsd_prefix?: string;
  /** Datadog tags for every statsd line: `env:prod,app:web`. */
  dogstatsd_tags?: string;
  /** MiB of RSS past which a worker is replaced (a new one first, then the old drains); 0 disables. */
  max_worker_memory?: number;
}

/** What a tsunicorn config module exports: settings and hooks. */
export type TsunicornConfig = ConfigSettings & Hooks;

export function defineConfig(config: TsunicornConfig): TsunicornConfig {
  return config;
}
