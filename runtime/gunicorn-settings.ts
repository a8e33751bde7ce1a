/**
 * gunicorn's settings that tsunicorn does not implement, so that a Procfile line or a config file copied
 * from a Python app is never met with "unknown option": each is either accepted with one warning line
 * saying why it does not apply to Node and what tsunicorn does instead, or refused with one line saying
 * what to do (where ignoring it would change what the server does: client certificates, a PROXY header).
 * The settings tsunicorn does implement are rows of SETTINGS (settings.ts) under gunicorn's spellings.
 * docs/settings.md lists every gunicorn setting with its status, from both tables.
 *
 *   const row = GUNICORN_ONLY.find((row) => row.flags.includes('--threads'));
 *   row.status   // 'ignored'
 *   row.reason   // 'a Node worker runs the app on one thread ...'
 */

export interface GunicornOnlySetting {
  /** gunicorn's setting name, which is also its config-file key. */
  name: string;
  /** gunicorn's command-line flags (none for the config-only ones). */
  flags: string[];
  /** Whether the flag takes a value (`--threads 4`) or is a switch (`--daemon`). */
  takesValue: boolean;
  /** ignored: accepted with one warning line; refused: one line and exit 2. */
  status: 'ignored' | 'refused';
  /** Why it does not apply, and what tsunicorn does instead. */
  reason: string;
}

const SYSLOG = 'tsunicorn has no syslog output: logs go to --error-logfile / --access-logfile or stdout/stderr, which the journal or `logger` can collect';
const BACKLOG_METRIC = 'the master accepts from the listening sockets as fast as it can and keeps no backlog figure; --metrics-bind and --statsd-host report requests, durations and workers';
const PASTE = 'PasteDeploy configures Python apps: name the module on the command line (tsunicorn app.js)';
const TLS_OPTIONS = 'TLS uses Node\'s defaults with --certfile/--keyfile; for other TLS options, export an https.Server built with https.createServer({ ... })';
const STRICT = 'the strict HTTP layer refuses such requests with 400 and has no switch to relax it';
const ASGI = 'there is no ASGI in Node: the app\'s handlers run on the worker\'s event loop';
const HTTP2 = 'tsunicorn speaks HTTP/1.0 and 1.1; terminate HTTP/2 at the proxy in front';
const DIRTY = 'tsunicorn has no dirty arbiters: run background work as its own Procfile process type';

export const GUNICORN_ONLY: readonly GunicornOnlySetting[] = [
  { name: 'worker_class', flags: ['--worker-class', '-k'], takesValue: true, status: 'ignored',
    reason: 'a Node worker serves all its connections concurrently on its event loop (what gevent, eventlet or uvicorn workers give Python); tsunicorn has one kind of worker, scale it with -w' },
  { name: 'threads', flags: ['--threads'], takesValue: true, status: 'ignored',
    reason: 'a Node worker runs the app on one thread, its I/O concurrent on the event loop; use -w for more CPU' },
  { name: 'worker_connections', flags: ['--worker-connections'], takesValue: true, status: 'ignored',
    reason: 'a Node worker takes every connection it is handed on its event loop; slow clients are bounded by --keep-alive and the strict layer\'s timeouts' },
  { name: 'reload_engine', flags: ['--reload-engine'], takesValue: true, status: 'ignored',
    reason: '--reload always watches files with chokidar' },
  { name: 'reload_extra_files', flags: ['--reload-extra-file'], takesValue: true, status: 'ignored',
    reason: '--reload watches every .js, .ts and .json file under the app\'s folder' },
  { name: 'spew', flags: ['--spew'], takesValue: false, status: 'ignored',
    reason: 'Python\'s line tracer; debug a Node app with NODE_OPTIONS=--inspect' },
  { name: 'sendfile', flags: ['--no-sendfile'], takesValue: false, status: 'ignored',
    reason: 'Node\'s http module writes every response itself; there is no sendfile to turn off' },
  { name: 'daemon', flags: ['--daemon', '-D'], takesValue: false, status: 'ignored',
    reason: 'tsunicorn stays in the foreground, as Procfile managers, Heroku and systemd expect (tsforeman export writes service files)' },
  { name: 'worker_tmp_dir', flags: ['--worker-tmp-dir'], takesValue: true, status: 'ignored',
    reason: 'workers heartbeat to the master over their IPC channel, not through a temporary file' },
  { name: 'tmp_upload_dir', flags: [], takesValue: true, status: 'ignored',
    reason: 'request bodies are streamed to the app, which decides where uploads go' },
  { name: 'secure_scheme_headers', flags: [], takesValue: true, status: 'ignored',
    reason: 'fetch handlers take the scheme from X-Forwarded-Proto, trusted from --forwarded-allow-ips' },
  { name: 'disable_redirect_access_to_syslog', flags: ['--disable-redirect-access-to-syslog'], takesValue: false, status: 'ignored', reason: SYSLOG },
  { name: 'logger_class', flags: ['--logger-class'], takesValue: true, status: 'ignored',
    reason: 'the log lines are gunicorn\'s shapes; --access-logformat and --log-format change them' },
  { name: 'logconfig', flags: ['--log-config'], takesValue: true, status: 'ignored',
    reason: 'Python logging configuration; use --error-logfile, --access-logfile, --log-level and --log-format' },
  { name: 'logconfig_json', flags: ['--log-config-json'], takesValue: true, status: 'ignored',
    reason: 'Python logging configuration; use --error-logfile, --access-logfile, --log-level and --log-format' },
  { name: 'logconfig_dict', flags: [], takesValue: true, status: 'ignored',
    reason: 'Python logging configuration; use --error-logfile, --access-logfile, --log-level and --log-format' },
  { name: 'syslog_addr', flags: ['--log-syslog-to'], takesValue: true, status: 'ignored', reason: SYSLOG },
  { name: 'syslog', flags: ['--log-syslog'], takesValue: false, status: 'ignored', reason: SYSLOG },
  { name: 'syslog_prefix', flags: ['--log-syslog-prefix'], takesValue: true, status: 'ignored', reason: SYSLOG },
  { name: 'syslog_facility', flags: ['--log-syslog-facility'], takesValue: true, status: 'ignored', reason: SYSLOG },
  { name: 'enable_stdio_inheritance', flags: ['--enable-stdio-inheritance', '-R'], takesValue: false, status: 'ignored',
    reason: 'workers always write to the master\'s stdout and stderr, unbuffered' },
  { name: 'enable_backlog_metric', flags: ['--enable-backlog-metric'], takesValue: false, status: 'ignored', reason: BACKLOG_METRIC },
  { name: 'default_proc_name', flags: [], takesValue: true, status: 'ignored',
    reason: 'the process titles name the APP unless --name is given' },
  { name: 'pythonpath', flags: ['--pythonpath'], takesValue: true, status: 'ignored',
    reason: 'Python\'s import path; Node resolves modules from node_modules (and NODE_PATH)' },
  { name: 'paste', flags: ['--paste', '--paster'], takesValue: true, status: 'refused', reason: PASTE },
  { name: 'raw_paste_global_conf', flags: ['--paste-global'], takesValue: true, status: 'ignored', reason: PASTE },
  { name: 'proxy_protocol', flags: ['--proxy-protocol'], takesValue: true, status: 'refused',
    reason: 'tsunicorn does not read the PROXY protocol header, so every request would fail to parse: turn it off in the load balancer and trust X-Forwarded-For/-Proto with --forwarded-allow-ips' },
  { name: 'proxy_allow_ips', flags: ['--proxy-allow-from'], takesValue: true, status: 'ignored',
    reason: 'tsunicorn does not read the PROXY protocol header; --forwarded-allow-ips names the proxies it trusts' },
  { name: 'protocol', flags: ['--protocol'], takesValue: true, status: 'ignored',
    reason: 'tsunicorn speaks HTTP only (no uwsgi protocol): point the proxy at it with proxy_pass' },
  { name: 'uwsgi_allow_ips', flags: ['--uwsgi-allow-from'], takesValue: true, status: 'ignored',
    reason: 'tsunicorn speaks HTTP only (no uwsgi protocol)' },
  { name: 'ssl_version', flags: ['--ssl-version'], takesValue: true, status: 'ignored', reason: TLS_OPTIONS },
  { name: 'cert_reqs', flags: ['--cert-reqs'], takesValue: true, status: 'refused',
    reason: 'tsunicorn cannot ask clients for certificates, and serving without the check would let any client in: export an https.Server built with https.createServer({ ca, requestCert: true })' },
  { name: 'ca_certs', flags: ['--ca-certs'], takesValue: true, status: 'refused',
    reason: 'tsunicorn cannot check client certificates, and serving without the check would let any client in: export an https.Server built with https.createServer({ ca, requestCert: true })' },
  { name: 'suppress_ragged_eofs', flags: ['--suppress-ragged-eofs'], takesValue: false, status: 'ignored', reason: TLS_OPTIONS },
  { name: 'do_handshake_on_connect', flags: ['--do-handshake-on-connect'], takesValue: false, status: 'ignored', reason: TLS_OPTIONS },
  { name: 'ciphers', flags: ['--ciphers'], takesValue: true, status: 'ignored', reason: TLS_OPTIONS },
  { name: 'http_protocols', flags: ['--http-protocols'], takesValue: true, status: 'ignored', reason: HTTP2 },
  { name: 'http2_cleartext', flags: ['--http2-cleartext'], takesValue: true, status: 'ignored', reason: HTTP2 },
  { name: 'http2_max_concurrent_streams', flags: ['--http2-max-concurrent-streams'], takesValue: true, status: 'ignored', reason: HTTP2 },
  { name: 'http2_initial_window_size', flags: ['--http2-initial-window-size'], takesValue: true, status: 'ignored', reason: HTTP2 },
  { name: 'http2_max_frame_size', flags: ['--http2-max-frame-size'], takesValue: true, status: 'ignored', reason: HTTP2 },
  { name: 'http2_max_header_list_size', flags: ['--http2-max-header-list-size'], takesValue: true, status: 'ignored', reason: HTTP2 },
  { name: 'permit_obsolete_folding', flags: ['--permit-obsolete-folding'], takesValue: false, status: 'ignored', reason: STRICT },
  { name: 'strip_header_spaces', flags: ['--strip-header-spaces'], takesValue: false, status: 'ignored', reason: STRICT },
  { name: 'permit_unconventional_http_method', flags: ['--permit-unconventional-http-method'], takesValue: false, status: 'ignored', reason: STRICT },
  { name: 'permit_unconventional_http_version', flags: ['--permit-unconventional-http-version'], takesValue: false, status: 'ignored', reason: STRICT },
  { name: 'casefold_http_method', flags: ['--casefold-http-method'], takesValue: false, status: 'ignored',
    reason: 'Node\'s parser takes methods as sent; a lower-case method is refused with 400' },
  { name: 'forwarder_headers', flags: ['--forwarder-headers'], takesValue: true, status: 'ignored',
    reason: 'every request header reaches the app unchanged; fetch handlers read X-Forwarded-Proto from --forwarded-allow-ips' },
  { name: 'header_map', flags: ['--header-map'], takesValue: true, status: 'ignored',
    reason: 'header names reach the app as sent (Node lower-cases them); there is no WSGI environ to map them into' },
  { name: 'asgi_loop', flags: ['--asgi-loop'], takesValue: true, status: 'ignored', reason: ASGI },
  { name: 'asgi_lifespan', flags: ['--asgi-lifespan'], takesValue: true, status: 'ignored', reason: ASGI },
  { name: 'asgi_disconnect_grace_period', flags: ['--asgi-disconnect-grace-period'], takesValue: true, status: 'ignored', reason: ASGI },
  { name: 'http_parser', flags: ['--http-parser'], takesValue: true, status: 'ignored',
    reason: 'Node\'s llhttp parses every request, checked by the strict layer' },
  { name: 'root_path', flags: ['--root-path'], takesValue: true, status: 'ignored',
    reason: 'there is no SCRIPT_NAME in Node: mount the app under its prefix in the app (Express\'s app.use(prefix, router))' },
  { name: 'dirty_apps', flags: ['--dirty-app'], takesValue: true, status: 'ignored', reason: DIRTY },
  { name: 'dirty_workers', flags: ['--dirty-workers'], takesValue: true, status: 'ignored', reason: DIRTY },
  { name: 'dirty_timeout', flags: ['--dirty-timeout'], takesValue: true, status: 'ignored', reason: DIRTY },
  { name: 'dirty_threads', flags: ['--dirty-threads'], takesValue: true, status: 'ignored', reason: DIRTY },
  { name: 'dirty_graceful_timeout', flags: ['--dirty-graceful-timeout'], takesValue: true, status: 'ignored', reason: DIRTY },
  { name: 'control_socket_mode', flags: ['--control-socket-mode'], takesValue: true, status: 'ignored',
    reason: 'the control socket is always mode 0600 (its owner and root only): every command can stop or reload the server' },
];

/**
 * gunicorn's settings that tsunicorn implements, by gunicorn's name and flags (docs/settings.md finds the
 * row of SETTINGS that carries them). `pending`: implemented by a change still to come, listed once the
 * settings table has it.
 */
export const GUNICORN_IMPLEMENTED: readonly { name: string; flags: string[]; pending?: boolean }[] = [
  { name: 'config', flags: ['--config', '-c'] },
  { name: 'wsgi_app', flags: [] },
  { name: 'bind', flags: ['--bind', '-b'] },
  { name: 'backlog', flags: ['--backlog'] },
  { name: 'workers', flags: ['--workers', '-w'] },
  { name: 'max_requests', flags: ['--max-requests'] },
  { name: 'max_requests_jitter', flags: ['--max-requests-jitter'] },
  { name: 'timeout', flags: ['--timeout', '-t'] },
  { name: 'graceful_timeout', flags: ['--graceful-timeout'] },
  { name: 'keepalive', flags: ['--keep-alive'] },
  { name: 'limit_request_line', flags: ['--limit-request-line'] },
  { name: 'limit_request_fields', flags: ['--limit-request-fields'] },
  { name: 'limit_request_field_size', flags: ['--limit-request-field_size'] },
  { name: 'reload', flags: ['--reload'] },
  { name: 'check_config', flags: ['--check-config'] },
  { name: 'print_config', flags: ['--print-config'] },
  { name: 'preload_app', flags: ['--preload'] },
  { name: 'reuse_port', flags: ['--reuse-port'] },
  { name: 'chdir', flags: ['--chdir'] },
  { name: 'raw_env', flags: ['--env', '-e'] },
  { name: 'pidfile', flags: ['--pid', '-p'] },
  { name: 'user', flags: ['--user', '-u'] },
  { name: 'group', flags: ['--group', '-g'] },
  { name: 'umask', flags: ['--umask', '-m'] },
  { name: 'initgroups', flags: ['--initgroups'] },
  { name: 'forwarded_allow_ips', flags: ['--forwarded-allow-ips'] },
  { name: 'accesslog', flags: ['--access-logfile'] },
  { name: 'access_log_format', flags: ['--access-logformat'] },
  { name: 'errorlog', flags: ['--error-logfile', '--log-file'] },
  { name: 'loglevel', flags: ['--log-level'] },
  { name: 'capture_output', flags: ['--capture-output'] },
  { name: 'proc_name', flags: ['--name', '-n'] },
  { name: 'keyfile', flags: ['--keyfile'] },
  { name: 'certfile', flags: ['--certfile'] },
  { name: 'control_socket', flags: ['--control-socket'] },
  { name: 'control_socket_disable', flags: ['--no-control-socket'] },
];

/** gunicorn's server hooks (config-file functions); the ones tsunicorn lacks are refused at start. */
export const GUNICORN_HOOKS: readonly string[] = [
  'on_starting', 'on_reload', 'when_ready', 'pre_fork', 'post_fork', 'post_worker_init', 'worker_int', 'worker_abort',
  'pre_exec', 'pre_request', 'post_request', 'child_exit', 'worker_exit', 'nworkers_changed', 'on_exit', 'ssl_context',
];

/** The warning or refusal for one gunicorn-only setting, as `label` was given (`--threads`, `file: threads`). */
export function gunicornOnlyMessage(setting: GunicornOnlySetting, label: string): string {
  return setting.status === 'refused'
    ? `${label}: not supported: ${setting.reason}`
    : `${label}: ignored: ${setting.reason}`;
}

/**
 * The closest of `candidates` to a misspelt `word` (optimal string alignment distance: one edit is an
 * insertion, deletion, substitution or swap of neighbours), when it is close enough to be what was meant.
 */
export function closestMatch(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best === undefined) return undefined;
  const length = Math.max(word.replace(/^-+/, '').length, 1);
  // As commander's suggestions: similar when fewer than 60 % of the characters differ, at most 3 edits.
  return bestDistance <= 3 && (length - bestDistance) / length > 0.4 ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 0; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) value = Math.min(value, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = value;
    }
  }
  return rows[a.length]![b.length]!;
}
