/**
 * The settings of tsunicorn, each declared once in `SETTINGS`. That one table produces the command-line
 * parser, the reading of `TSUNICORN_CMD_ARGS`, the config-file keys, the environment defaults and `--help`.
 *
 *   const settings = await resolveSettings({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() });
 *   settings.workers   // 1, or $WEB_CONCURRENCY, or whatever the config / env args / CLI said
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { SettingsError } from './errors.js';
import { GUNICORN_ONLY, closestMatch, gunicornOnlyMessage, type GunicornOnlySetting } from './gunicorn-settings.js';
import { compileAccessFormat } from './logging.js';
import { DEFAULT_FIELD_SIZE, MAX_HEADER_FIELDS, MAX_REQUEST_LINE, clampRequestFieldSize, clampRequestFields, clampRequestLine } from './http/limits.js';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'critical';
export type SocketSharing = 'shared' | 'handoff' | 'reuse-port';
export type FetchObjects = 'light' | 'standard';
export type LogFormat = 'text' | 'json';

/** A listening address as given by --bind, parsed. */
export type BindAddress =
  | { kind: 'tcp'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; text: string };

/** The resolved settings: every field comes from exactly one row of SETTINGS. */
export interface Settings {
  app: string | undefined;
  bind: BindAddress[];
  workers: number;
  timeout: number;
  graceful_timeout: number;
  keepalive: number;
  max_requests: number;
  max_requests_jitter: number;
  limit_request_line: number;
  limit_request_fields: number;
  limit_request_field_size: number;
  errorlog: string;
  accesslog: string | undefined;
  access_log_format: string;
  loglevel: LogLevel;
  log_format: LogFormat;
  config: string | undefined;
  reload: boolean;
  preload_app: boolean;
  pidfile: string | undefined;
  forwarded_allow_ips: string[];
  certfile: string | undefined;
  keyfile: string | undefined;
  factory: boolean;
  socket_sharing: SocketSharing;
  reuse_port: boolean;
  fetch_objects: FetchObjects;
  health_path: string | undefined;
  check_config: boolean;
  print_config: boolean;
  chdir: string | undefined;
  proc_name: string | undefined;
  raw_env: string[];
  backlog: number;
  capture_output: boolean;
  user: string | undefined;
  group: string | undefined;
  umask: number | undefined;
  initgroups: boolean;
  control_socket: string | undefined;
  control_socket_disable: boolean;
  metrics_bind: TcpAddress | undefined;
  statsd_host: TcpAddress | undefined;
  statsd_prefix: string;
  dogstatsd_tags: string | undefined;
  max_worker_memory: number;
}

/** The Node.js lines whose listen() takes `reusePort` (22.12 on the 22 line, 23.1 on). */
export const REUSE_PORT_NODE = '22.12 (or 23.1)';

/** Whether this Node.js's listen() sets SO_REUSEPORT when asked (`reusePort`, from 22.12.0 and 23.1.0). */
export function nodeHasReusePort(version = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

/** A TCP address (`HOST:PORT`) for the metrics endpoint or the statsd server. */
export interface TcpAddress {
  host: string;
  port: number;
  text: string;
}

export const DEFAULT_ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"';

type SettingName = keyof Settings;

interface SettingRow<K extends SettingName> {
  name: K;
  /** Command-line flags, long first; empty for the positional APP. */
  flags: string[];
  /** Placeholder shown in --help; undefined for boolean switches. */
  meta?: string;
  /** Config-file keys accepted besides `name` (gunicorn's spellings). */
  aliases?: string[];
  /** An environment variable that provides a default (below the config file). */
  env?: string;
  repeatable?: boolean;
  default: Settings[K];
  /** Turns one textual value (flag, env, config) into the typed value; throws a message on bad input. */
  parse: (raw: string) => Settings[K];
  help: string;
}

// ---------------------------------------------------------------- validators

function fail(expected: string, raw: string): never {
  throw new Error(`expected ${expected}, got ${JSON.stringify(raw)}`);
}

function positiveInt(raw: string): number {
  if (!/^\s*\+?\d+\s*$/.test(raw) || Number(raw) < 1) fail('a positive integer', raw);
  return Number(raw);
}

function nonNegativeInt(raw: string): number {
  if (!/^\s*\+?\d+\s*$/.test(raw)) fail('a non-negative integer', raw);
  return Number(raw);
}

function nonNegativeSeconds(raw: string): number {
  if (!/^\s*\+?(\d+(\.\d*)?|\.\d+)\s*$/.test(raw)) fail('a non-negative number of seconds', raw);
  return Number(raw);
}

function bool(raw: string): boolean {
  const value = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(value)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(value)) return false;
  return fail('true or false', raw);
}

function text(raw: string): string {
  if (raw === '') fail('a non-empty value', raw);
  return raw;
}

function oneOf<T extends string>(choices: readonly T[]) {
  return (raw: string): T => {
    const value = raw.trim().toLowerCase() as T;
    if (!choices.includes(value)) fail(`one of ${choices.join(', ')}`, raw);
    return value;
  };
}

/** `HOST:PORT`, `[IPV6]:PORT`, `:PORT`, `HOST` (port 8000) or `unix:/path`. */
export function parseBind(raw: string): BindAddress {
  const value = raw.trim();
  if (value.startsWith('unix:')) {
    const socketPath = value.slice('unix:'.length);
    if (socketPath === '') fail('unix:/path/to/socket', raw);
    return { kind: 'unix', path: socketPath, text: `unix:${socketPath}` };
  }
  let host: string;
  let portText: string;
  const bracketed = /^\[([0-9a-fA-F:.%a-zA-Z]+)\](?::(\d*))?$/.exec(value);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2] ?? '8000';
  } else {
    const colon = value.lastIndexOf(':');
    if (colon === -1) {
      host = value;
      portText = '8000';
    } else {
      host = value.slice(0, colon);
      portText = value.slice(colon + 1);
      if (host.includes(':')) fail('HOST:PORT, [IPV6]:PORT or unix:/path', raw);
    }
  }
  if (host === '') host = '0.0.0.0';
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) fail('HOST:PORT, [IPV6]:PORT or unix:/path', raw);
  if (!/^[A-Za-z0-9.\-_:%]+$/.test(host)) fail('HOST:PORT, [IPV6]:PORT or unix:/path', raw);
  const port = Number(portText);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { kind: 'tcp', host, port, text: `${shownHost}:${port}` };
}

/** `HOST:PORT` (`[IPV6]:PORT`, `:PORT` for every address); a bare HOST gets `defaultPort`, when there is one. */
function tcpAddress(defaultPort: number | undefined) {
  return (raw: string): TcpAddress => {
    const value = raw.trim();
    const hasPort = /^\[.*\]:\d*$/.test(value) || (!value.startsWith('[') && /^[^:]*:\d*$/.test(value));
    if (value.startsWith('unix:') || (!hasPort && defaultPort === undefined)) fail('HOST:PORT', raw);
    const address = parseBind(hasPort ? value : `${value.includes(':') ? `[${value.replace(/^\[|\]$/g, '')}]` : value}:${defaultPort}`);
    if (address.kind !== 'tcp') return fail('HOST:PORT', raw);
    return { host: address.host, port: address.port, text: address.text };
  };
}

/** Datadog tags for --dogstatsd-tags: `name:value` or `name`, comma-separated. */
function dogstatsdTags(raw: string): string {
  const tags = raw.split(',').map((tag) => tag.trim()).filter((tag) => tag !== '');
  if (tags.length === 0 || tags.some((tag) => /[\s|#@]/.test(tag))) fail('comma-separated tags such as env:prod,app:web (no spaces, |, # or @)', raw);
  return tags.join(',');
}

/** A statsd prefix: dotted words, without the metric separators (`:`, `|`, `@`, `#`) or spaces. */
function statsdPrefix(raw: string): string {
  if (/[\s:|@#]/.test(raw)) fail('a dotted prefix such as app.web (no spaces, :, |, @ or #)', raw);
  return raw;
}

function urlPath(raw: string): string {
  const value = raw.trim();
  if (!/^\/[\x21-\x7e]*$/.test(value) || value.includes('?') || value.includes('#')) fail('a path starting with / (no query, no spaces)', raw);
  return value;
}

function accessFormat(raw: string): string {
  compileAccessFormat(text(raw));
  return raw;
}

/** `KEY=VALUE` for --env: a variable name, then the value (which may be empty or hold `=`). */
function environmentAssignment(raw: string): string[] {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(raw)) fail('KEY=VALUE', raw);
  return [raw];
}

/** A umask: octal with a leading 0 or 0o (`022`, `0o027`) or decimal, as gunicorn's int(value, 0) reads. */
function umask(raw: string): number {
  const value = raw.trim();
  let mask: number;
  if (/^0o?[0-7]+$/i.test(value)) mask = parseInt(value.replace(/^0o?/i, '') || '0', 8);
  else if (/^(0x[0-9a-f]+|\d+)$/i.test(value)) mask = Number(value);
  else return fail('a umask such as 022, 0o027 or 18', raw);
  if (mask > 0o777) fail('a umask no larger than 0o777', raw);
  return mask;
}

/** The variables --env sets, as an environment object (a later KEY=VALUE wins). */
export function environmentOf(settings: Pick<Settings, 'raw_env'>): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const assignment of settings.raw_env) {
    const equals = assignment.indexOf('=');
    environment[assignment.slice(0, equals)] = assignment.slice(equals + 1);
  }
  return environment;
}

function ipList(raw: string): string[] {
  const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) fail('a comma-separated list of addresses or *', raw);
  return items;
}

// ---------------------------------------------------------------- the table

export const SETTINGS: readonly SettingRow<SettingName>[] = [
  row({
    name: 'bind', flags: ['--bind', '-b'], meta: 'ADDRESS', repeatable: true, env: 'PORT',
    default: [parseBind('127.0.0.1:8000')],
    parse: (raw) => [parseBind(raw)],
    help: 'Address to listen on: HOST:PORT, [::]:PORT or unix:/path. Repeat for several. Default 0.0.0.0:$PORT if PORT is set, else 127.0.0.1:8000.',
  }),
  row({
    name: 'workers', flags: ['--workers', '-w'], meta: 'INT', env: 'WEB_CONCURRENCY', default: 1, parse: positiveInt,
    help: 'Number of worker processes. Default $WEB_CONCURRENCY, else 1.',
  }),
  row({
    name: 'timeout', flags: ['--timeout', '-t'], meta: 'SECONDS', default: 30, parse: nonNegativeSeconds,
    help: 'A worker whose event loop is blocked (no heartbeat) this long is killed and replaced. 0 disables. Also how long a worker waits for an app that exports nothing to call listen() (30 s when 0).',
  }),
  row({
    name: 'graceful_timeout', flags: ['--graceful-timeout'], meta: 'SECONDS', default: 30, parse: nonNegativeSeconds,
    help: 'Time in-flight requests get at TERM, HUP, TTOU and max-requests before the worker is killed.',
  }),
  row({
    name: 'keepalive', flags: ['--keep-alive'], meta: 'SECONDS', aliases: ['keep_alive'], default: 5, parse: nonNegativeSeconds,
    help: 'Idle keep-alive connections are closed after this many seconds.',
  }),
  row({
    name: 'max_requests', flags: ['--max-requests'], meta: 'INT', default: 0, parse: nonNegativeInt,
    help: 'Recycle a worker after this many requests (plus jitter). 0 disables.',
  }),
  row({
    name: 'max_requests_jitter', flags: ['--max-requests-jitter'], meta: 'INT', default: 0, parse: nonNegativeInt,
    help: 'Add random(0..N) to --max-requests per worker, so workers do not all recycle at once.',
  }),
  row({
    name: 'limit_request_line', flags: ['--limit-request-line'], meta: 'BYTES', default: 4094,
    parse: (raw) => clampRequestLine(nonNegativeInt(raw)),
    help: `Longest request line (414 beyond). 0 = unlimited; values above ${MAX_REQUEST_LINE} clamp to ${MAX_REQUEST_LINE}.`,
  }),
  row({
    name: 'limit_request_fields', flags: ['--limit-request-fields'], meta: 'INT', default: 100,
    parse: (raw) => clampRequestFields(nonNegativeInt(raw)),
    help: `Most header fields in a request (431 beyond). 0 or above ${MAX_HEADER_FIELDS} means ${MAX_HEADER_FIELDS}.`,
  }),
  row({
    name: 'limit_request_field_size', flags: ['--limit-request-field_size', '--limit-request-field-size'], meta: 'BYTES',
    default: DEFAULT_FIELD_SIZE,
    parse: (raw) => clampRequestFieldSize(nonNegativeInt(raw)),
    help: `Longest header line (431 beyond). 0 means ${DEFAULT_FIELD_SIZE}.`,
  }),
  row({
    name: 'errorlog', flags: ['--error-logfile', '--log-file'], meta: 'FILE', aliases: ['error_logfile', 'log_file'], default: '-', parse: text,
    help: 'Error log file; - is stderr.',
  }),
  row({
    name: 'accesslog', flags: ['--access-logfile'], meta: 'FILE', aliases: ['access_logfile'], default: undefined, parse: text,
    help: 'Access log file; - is stdout. Default: no access log.',
  }),
  row({
    name: 'access_log_format', flags: ['--access-logformat'], meta: 'FORMAT', aliases: ['access_logformat'],
    default: DEFAULT_ACCESS_LOG_FORMAT, parse: accessFormat,
    help: 'Access log line, with gunicorn atoms such as %(h)s %(r)s %(s)s %(b)s %(D)s %({header}i)s, plus %(L)s (seconds, decimal); every value is escaped (\\" \\\\ \\t \\xhh). json: one JSON object per request (time, remote_addr, user, method, path, query, protocol, status, bytes, referer, user_agent, duration, pid); json followed by atoms adds fields, e.g. json %({x-request-id}i)s %({content-type}o)s %(r)s.',
  }),
  row({
    name: 'loglevel', flags: ['--log-level'], meta: 'LEVEL', aliases: ['log_level'], default: 'info',
    parse: oneOf(['debug', 'info', 'warning', 'error', 'critical'] as const),
    help: 'Error log level: debug, info, warning, error, critical.',
  }),
  row({
    name: 'log_format', flags: ['--log-format'], meta: 'FORMAT', default: 'text',
    parse: oneOf(['text', 'json'] as const),
    help: 'Error log lines: text (gunicorn\'s [time] [pid] [LEVEL] message) or json (one object per line: time, level, pid, message, and stack for errors).',
  }),
  row({
    name: 'config', flags: ['--config', '-c'], meta: 'FILE', default: undefined, parse: text,
    help: 'Config module exporting settings and hooks. Default ./tsunicorn.config.js or .ts if present.',
  }),
  row({
    name: 'reload', flags: ['--reload'], default: false, parse: bool,
    help: 'Restart the workers when source files change (not node_modules). Development only.',
  }),
  row({
    name: 'preload_app', flags: ['--preload'], aliases: ['preload'], default: false, parse: bool,
    help: 'Load the app in the master before starting workers, so a broken app fails at once.',
  }),
  row({
    name: 'pidfile', flags: ['--pid', '-p'], meta: 'FILE', aliases: ['pid'], default: undefined, parse: text,
    help: 'Write the master pid to this file, whole (temporary file + rename), before Listening at is printed; removed at exit.',
  }),
  row({
    name: 'forwarded_allow_ips', flags: ['--forwarded-allow-ips'], meta: 'IPS', env: 'FORWARDED_ALLOW_IPS',
    default: ['127.0.0.1', '::1'], parse: ipList,
    help: 'Peers trusted to set X-Forwarded-Proto (comma-separated, * = all). Default 127.0.0.1,::1.',
  }),
  row({
    name: 'certfile', flags: ['--certfile'], meta: 'FILE', default: undefined, parse: text,
    help: 'TLS certificate (PEM); with --keyfile the server speaks HTTPS.',
  }),
  row({
    name: 'keyfile', flags: ['--keyfile'], meta: 'FILE', default: undefined, parse: text,
    help: 'TLS private key (PEM); with --certfile the server speaks HTTPS.',
  }),
  row({
    name: 'factory', flags: ['--factory'], default: false, parse: bool,
    help: 'APP names a function (sync or async) that returns the app.',
  }),
  row({
    name: 'socket_sharing', flags: ['--socket-sharing'], meta: 'MODE', default: 'handoff',
    parse: oneOf(['handoff', 'shared', 'reuse-port'] as const),
    help: `handoff (default): the master accepts and hands connections to the workers round-robin; shared: the workers accept on the listening socket themselves (cheaper new connections, uneven spread of keep-alive connections); reuse-port: each worker has its own SO_REUSEPORT socket on every --bind and the kernel spreads the connections (TCP binds only, Node.js ${REUSE_PORT_NODE} or later).`,
  }),
  row({
    name: 'reuse_port', flags: ['--reuse-port'], default: false, parse: bool,
    help: "gunicorn's spelling of --socket-sharing reuse-port.",
  }),
  row({
    name: 'fetch_objects', flags: ['--fetch-objects'], meta: 'MODE', default: 'light',
    parse: oneOf(['light', 'standard'] as const),
    help: 'For fetch handlers. light (default): the Request builds only what the handler reads, and the global Response (also Request, fetch) is replaced by a light one written straight to the socket, several times faster (docs/tsunicorn.md lists what replacing the globals changes); standard: Node\'s own Request and Response for every request, globals untouched.',
  }),
  row({
    name: 'health_path', flags: ['--health-path'], meta: 'PATH', default: undefined, parse: urlPath,
    help: 'A GET or HEAD whose path is exactly PATH (any query string ignored) is answered by the worker itself, before hooks and app: 200 ok while it serves, 503 draining while it drains (a readiness probe). Not counted by --max-requests, not in the access log. Default: off.',
  }),
  row({
    name: 'check_config', flags: ['--check-config'], default: false, parse: bool,
    help: 'Load the config and the app as a worker would (log files, TLS files, hooks, app import), print nothing but errors, and exit 0 (fine) or 1; starts no server.',
  }),
  row({
    name: 'print_config', flags: ['--print-config'], default: false, parse: bool,
    help: 'Print every setting with its value and where it came from (default, env $NAME, config file, TSUNICORN_CMD_ARGS, command line), then check as --check-config does.',
  }),
  row({
    name: 'chdir', flags: ['--chdir'], meta: 'DIR', default: undefined, parse: text,
    help: 'Run the workers in DIR: the APP and everything the app opens by a relative path are found from there (the config file, --pid and log files stay relative to where tsunicorn started).',
  }),
  row({
    name: 'proc_name', flags: ['--name', '-n'], meta: 'NAME', default: undefined, parse: text,
    help: 'Process titles (ps, top): "tsunicorn: master [NAME]" and "tsunicorn: worker [NAME]". Default: the APP.',
  }),
  row({
    name: 'raw_env', flags: ['--env', '-e'], meta: 'KEY=VALUE', repeatable: true, default: [], parse: environmentAssignment,
    help: 'Set an environment variable for the app (master and workers). Repeat for several.',
  }),
  row({
    name: 'backlog', flags: ['--backlog'], meta: 'INT', default: 2048, parse: positiveInt,
    help: 'Most connections the kernel queues on each listening socket before the master accepts them.',
  }),
  row({
    name: 'capture_output', flags: ['--capture-output'], default: false, parse: bool,
    help: 'Send what the app writes to stdout and stderr to the --error-logfile file (no effect when the error log is stderr).',
  }),
  row({
    name: 'user', flags: ['--user', '-u'], meta: 'USER', default: undefined, parse: text,
    help: 'Run the workers as this user (name or uid); the master stays as it started. Needs root unless it is the current user.',
  }),
  row({
    name: 'group', flags: ['--group', '-g'], meta: 'GROUP', default: undefined, parse: text,
    help: 'Run the workers as this group (name or gid). Needs root unless it is the current group.',
  }),
  row({
    name: 'umask', flags: ['--umask', '-m'], meta: 'MASK', default: undefined, parse: umask,
    help: 'File mode mask of the master and the workers (022, 0o027...), set before the sockets are bound. Default: the one tsunicorn was started with.',
  }),
  row({
    name: 'initgroups', flags: ['--initgroups'], default: false, parse: bool,
    help: 'With --user, give the workers every supplementary group of that user (initgroups(3)); without it they keep only --group.',
  }),
  row({
    name: 'control_socket', flags: ['--control-socket'], meta: 'PATH', default: undefined, parse: text,
    help: 'The master\'s control socket, for tsunicornc (show workers, worker add, reload...); mode 0600, removed at exit. Default: $XDG_RUNTIME_DIR/tsunicorn/ (else $TMPDIR or /tmp, tsunicorn-UID/) FOLDER-HASH-PORT-HASH.sock, named after the folder tsunicorn started in and the addresses it listens on, which is where tsunicornc run in that folder looks.',
  }),
  row({
    name: 'control_socket_disable', flags: ['--no-control-socket'], default: false, parse: bool,
    help: 'No control socket (tsunicornc cannot reach this master; signals still work).',
  }),
  row({
    name: 'metrics_bind', flags: ['--metrics-bind'], meta: 'HOST:PORT', default: undefined, parse: tcpAddress(undefined),
    help: 'The master serves Prometheus metrics (text format) on GET /metrics at this address: requests by status, request durations, requests in flight, workers, worker restarts by reason, per-worker RSS and event-loop delay, over every worker including those that left, plus the master\'s process metrics. Default: off.',
  }),
  row({
    name: 'statsd_host', flags: ['--statsd-host'], meta: 'HOST:PORT', default: undefined, parse: tcpAddress(8125),
    help: 'Send gunicorn\'s statsd metrics over UDP to HOST:PORT (port 8125 if left out), from the master once a second: gunicorn.requests, gunicorn.request.status.NNN (counters), gunicorn.request.duration (ms timer) and gunicorn.workers (gauge). Default: off.',
  }),
  row({
    name: 'statsd_prefix', flags: ['--statsd-prefix'], meta: 'PREFIX', default: '', parse: statsdPrefix,
    help: 'Put PREFIX (and a dot, added if missing) before every statsd metric name.',
  }),
  row({
    name: 'dogstatsd_tags', flags: ['--dogstatsd-tags'], meta: 'TAGS', default: undefined, parse: dogstatsdTags,
    help: 'Datadog tags added to every statsd line (|#TAGS): comma-separated name:value or name.',
  }),
  row({
    name: 'max_worker_memory', flags: ['--max-worker-memory'], meta: 'MB', default: 0, parse: nonNegativeInt,
    help: 'A worker whose resident memory (RSS, from its heartbeat, checked every second) passes MB megabytes (MiB) is replaced: a new worker boots first, then the old one drains as at --max-requests, never killed mid-request. 0 disables.',
  }),
];

function row<K extends SettingName>(setting: SettingRow<K>): SettingRow<SettingName> {
  return setting;
}

function flagLabel(setting: SettingRow<SettingName>): string {
  return setting.flags.find((flag) => flag.startsWith('--')) ?? setting.flags[0]!;
}

export function defaultSettings(): Settings {
  const settings: Partial<Record<SettingName, unknown>> = { app: undefined };
  for (const setting of SETTINGS) settings[setting.name] = setting.default;
  return settings as Settings;
}

// ---------------------------------------------------------------- command line

/** What one argument vector said: explicit settings only, plus the APP and the special switches. */
export interface ParsedArgs {
  values: Partial<Settings>;
  app?: string;
  help: boolean;
  version: boolean;
  /** One line for each gunicorn setting given that does not apply to tsunicorn (see gunicorn-settings.ts). */
  warnings: string[];
}

/** Every long flag a user may type, for suggestions. */
function knownLongFlags(): string[] {
  return [...SETTINGS.flatMap((setting) => setting.flags), ...GUNICORN_ONLY.flatMap((setting) => setting.flags), '--help', '--version']
    .filter((flag) => flag.startsWith('--'));
}

export function parseCommandLine(argv: readonly string[], source: string): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
    version: { type: 'boolean', short: 'v' },
  };
  const byOption = new Map<string, SettingRow<SettingName>>();
  const gunicornOnly = new Map<string, GunicornOnlySetting>();
  for (const setting of GUNICORN_ONLY) {
    const short = setting.flags.find((flag) => /^-[a-zA-Z]$/.test(flag))?.slice(1);
    setting.flags.filter((flag) => flag.startsWith('--')).forEach((flag, index) => {
      const option = flag.slice(2);
      options[option] = { type: setting.takesValue ? 'string' : 'boolean', multiple: true };
      if (index === 0 && short) options[option].short = short;
      gunicornOnly.set(option, setting);
    });
  }
  for (const setting of SETTINGS) {
    const short = setting.flags.find((flag) => /^-[a-zA-Z]$/.test(flag))?.slice(1);
    setting.flags.filter((flag) => flag.startsWith('--')).forEach((flag, index) => {
      const option = flag.slice(2);
      options[option] = { type: setting.meta ? 'string' : 'boolean', multiple: true };
      if (index === 0 && short) options[option].short = short;
      byOption.set(option, setting);
    });
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true, tokens: true });
  } catch (error) {
    throw new SettingsError(describeParseError(error, source));
  }
  const values: Partial<Record<SettingName, unknown>> = {};
  const warnings: string[] = [];
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== 'option') continue;
    const other = gunicornOnly.get(token.name);
    if (other) {
      const label = other.flags.find((flag) => flag.startsWith('--'))!;
      if (other.takesValue && token.value === undefined) throw new SettingsError(`${label}: expected a value${sourceSuffix(source)}`);
      if (!other.takesValue && token.value !== undefined) throw new SettingsError(`${label}: takes no value${sourceSuffix(source)}`);
      const message = `${gunicornOnlyMessage(other, label)}${sourceSuffix(source)}`;
      if (other.status === 'refused') throw new SettingsError(message);
      if (!warnings.includes(message)) warnings.push(message);
      continue;
    }
    const setting = byOption.get(token.name);
    if (!setting) continue;
    const label = flagLabel(setting);
    let value: unknown;
    if (!setting.meta) {
      if (token.value !== undefined) throw new SettingsError(`${label}: takes no value${sourceSuffix(source)}`);
      value = true;
    } else {
      const raw = token.value;
      if (raw === undefined) throw new SettingsError(`${label}: expected a value${sourceSuffix(source)}`);
      value = parseValue(setting, raw, label, source);
    }
    values[setting.name] = setting.repeatable
      ? [...((values[setting.name] as unknown[] | undefined) ?? []), ...(value as unknown[])]
      : value;
  }
  const positionals = parsed.positionals;
  if (positionals.length > 1) {
    throw new SettingsError(`expected one APP, got ${positionals.length}: ${positionals.join(' ')}${sourceSuffix(source)}`);
  }
  const flags = parsed.values as Record<string, unknown>;
  return {
    values: values as Partial<Settings>,
    app: positionals[0],
    help: flags.help === true,
    version: flags.version === true,
    warnings,
  };
}

function sourceSuffix(source: string): string {
  return source === 'command line' ? '' : ` (in ${source})`;
}

function parseValue(setting: SettingRow<SettingName>, raw: string, label: string, source: string): unknown {
  try {
    return setting.parse(raw);
  } catch (error) {
    throw new SettingsError(`${label}: ${(error as Error).message}${sourceSuffix(source)}`);
  }
}

function describeParseError(error: unknown, source: string): string {
  const code = (error as { code?: string }).code;
  const message = (error as Error).message;
  const option = /'(-[^' ]+)/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    // As tsforeman's (commander's) own: `tsunicorn: unknown option '--wokers' (did you mean --workers?)`.
    const given = option.split('=')[0]!;
    const suggestion = given.startsWith('--') ? closestMatch(given, knownLongFlags()) : undefined;
    const hint = suggestion ? ` (did you mean ${suggestion}?)` : ' (see tsunicorn --help)';
    return `tsunicorn: unknown option '${given}'${hint}${sourceSuffix(source)}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') return `${option.split(',')[0]}: expected a value${sourceSuffix(source)}`;
  return `${message.split('\n')[0]}${sourceSuffix(source)}`;
}

/** Splits TSUNICORN_CMD_ARGS like a POSIX shell would (quotes and backslashes, no expansion). */
export function splitShellWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === '\\' && quote === '"' && index + 1 < line.length) current += line[++index];
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      inWord = true;
    } else if (char === '\\' && index + 1 < line.length) {
      current += line[++index];
      inWord = true;
    } else if (/\s/.test(char)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += char;
      inWord = true;
    }
  }
  if (quote) throw new SettingsError(`TSUNICORN_CMD_ARGS: unbalanced ${quote} quote`);
  if (inWord) words.push(current);
  return words;
}

// ---------------------------------------------------------------- config file and environment

/** Turns the plain object a config module exports into explicit settings, checking every key. */
export function settingsFromConfigObject(object: Record<string, unknown>, file: string, warnings?: string[]): Partial<Settings> {
  const byKey = new Map<string, SettingRow<SettingName>>();
  for (const setting of SETTINGS) {
    byKey.set(setting.name, setting);
    for (const alias of setting.aliases ?? []) byKey.set(alias, setting);
  }
  const values: Partial<Record<SettingName, unknown>> = {};
  for (const [key, value] of Object.entries(object)) {
    if (typeof value === 'function' || key === 'default') continue;
    const setting = byKey.get(key);
    if (!setting) {
      const other = GUNICORN_ONLY.find((candidate) => candidate.name === key);
      if (other?.status === 'refused') throw new SettingsError(gunicornOnlyMessage(other, `${file}: ${key}`));
      if (other) {
        warnings?.push(gunicornOnlyMessage(other, `${file}: ${key}`));
        continue;
      }
      const suggestion = closestMatch(key, [...byKey.keys(), ...GUNICORN_ONLY.map((candidate) => candidate.name)]);
      throw new SettingsError(`${file}: unknown setting "${key}"${suggestion ? ` (did you mean ${suggestion}?)` : ''}`);
    }
    const label = `${file}: ${key}`;
    const raws = setting.repeatable && Array.isArray(value) ? value : [value];
    const parsed: unknown[] = [];
    for (const item of raws) {
      if (item === undefined || item === null) continue;
      if (typeof item === 'object') throw new SettingsError(`${label}: expected a ${setting.meta ? 'string or number' : 'boolean'}`);
      try {
        parsed.push(setting.parse(String(item)));
      } catch (error) {
        throw new SettingsError(`${label}: ${(error as Error).message}`);
      }
    }
    if (parsed.length === 0) continue;
    values[setting.name] = setting.repeatable ? parsed.flat() : parsed[0];
  }
  return values as Partial<Settings>;
}

/** Defaults that come from the environment: $PORT, $WEB_CONCURRENCY, $FORWARDED_ALLOW_IPS. */
export function settingsFromEnvironment(env: Readonly<Record<string, string | undefined>>): Partial<Settings> {
  const values: Partial<Record<SettingName, unknown>> = {};
  for (const setting of SETTINGS) {
    if (!setting.env) continue;
    const raw = env[setting.env];
    if (raw === undefined || raw === '') continue;
    if (setting.name === 'bind') {
      try {
        values.bind = [parseBind(`0.0.0.0:${nonNegativeInt(raw)}`)];
      } catch (error) {
        throw new SettingsError(`${setting.env}: ${(error as Error).message}`);
      }
      continue;
    }
    values[setting.name] = parseValue(setting, raw, setting.env, 'command line');
  }
  return values as Partial<Settings>;
}

/** The config file to read: the one named, else ./tsunicorn.config.{js,mjs,ts} if present. */
export function findConfigFile(named: string | undefined, cwd: string): string | undefined {
  if (named !== undefined) {
    const file = path.resolve(cwd, named);
    if (!existsSync(file)) throw new SettingsError(`--config: no such file: ${named}`);
    return file;
  }
  for (const candidate of ['tsunicorn.config.js', 'tsunicorn.config.mjs', 'tsunicorn.config.cjs', 'tsunicorn.config.ts']) {
    const file = path.join(cwd, candidate);
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** Merges layers, lowest first: a later layer replaces a setting an earlier one set. */
export function mergeSettings(...layers: Partial<Settings>[]): Settings {
  const merged = defaultSettings() as unknown as Record<string, unknown>;
  for (const layer of layers) {
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) merged[key] = value;
  }
  const settings = merged as unknown as Settings;
  if (settings.reuse_port && settings.socket_sharing !== 'reuse-port') {
    if (layers.some((layer) => layer.socket_sharing !== undefined)) {
      throw new SettingsError(`--reuse-port: means --socket-sharing reuse-port, but --socket-sharing is ${settings.socket_sharing}; give one of them`);
    }
    settings.socket_sharing = 'reuse-port';
  }
  if (settings.socket_sharing === 'reuse-port') {
    if (!nodeHasReusePort()) {
      throw new SettingsError(`--socket-sharing reuse-port: Node.js ${process.version} cannot set SO_REUSEPORT (listen's reusePort needs ${REUSE_PORT_NODE} or later); use handoff or shared, or a newer Node.js`);
    }
    const unix = settings.bind.find((address) => address.kind === 'unix');
    if (unix) throw new SettingsError(`--socket-sharing reuse-port: ${unix.text} is a unix socket, which SO_REUSEPORT does not apply to; bind TCP addresses only, or use handoff or shared`);
  }
  if ((settings.certfile === undefined) !== (settings.keyfile === undefined)) {
    throw new SettingsError(`${settings.certfile ? '--keyfile' : '--certfile'}: HTTPS needs both --certfile and --keyfile`);
  }
  return settings;
}

// ---------------------------------------------------------------- help

export function helpText(version: string): string {
  const lines = [
    `tsunicorn ${version}: a pre-fork HTTP server for Node apps`,
    '',
    'Usage: tsunicorn [OPTIONS] APP',
    '',
    '  APP is path/to/module[:name] (.js .mjs .cjs .ts .mts) or a package specifier; name defaults to',
    '  the default export, then `app`, then `handler`.',
    '',
    'Options:',
  ];
  const entries: [string, string][] = [];
  for (const setting of SETTINGS) {
    const longs = setting.flags.filter((flag) => flag.startsWith('--'));
    const short = setting.flags.find((flag) => /^-[a-zA-Z]$/.test(flag));
    const names = [short, ...longs].filter(Boolean).join(', ');
    entries.push([setting.meta ? `${names} ${setting.meta}` : names, setting.help]);
  }
  entries.push(['-v, --version', 'Print the version and exit.']);
  entries.push(['-h, --help', 'Print this help and exit.']);
  const width = 30;
  for (const [left, right] of entries) {
    const wrapped = wrapWords(right, 100 - width);
    if (left.length + 2 > width) lines.push(`  ${left}`);
    else lines.push(`  ${left.padEnd(width - 2)}${wrapped.shift()}`);
    for (const rest of wrapped) lines.push(`${' '.repeat(width)}${rest}`);
  }
  lines.push(
    '',
    'Settings are read from, highest first: the command line, TSUNICORN_CMD_ARGS, the config file,',
    'the environment ($PORT, $WEB_CONCURRENCY, $FORWARDED_ALLOW_IPS), built-in defaults.',
    'Signals to the master: TERM graceful stop, INT/QUIT quick stop, HUP reload, TTIN/TTOU one more/fewer',
    'worker, USR1 reopen log files. The same, and a view of the workers, through the control socket:',
    'tsunicornc show workers|stats|config|listeners, worker add|remove [N], worker kill PID, reload, reopen,',
    'shutdown [graceful|quick] (see tsunicornc --help).',
  );
  return lines.join('\n') + '\n';
}

function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}
