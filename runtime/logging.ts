/**
 * The error log and the access log, in gunicorn's shapes.
 *
 *   const log = new Logger({ errorlog: '-', accesslog: '-', accessLogFormat, loglevel: 'info' });
 *   log.info('Starting tsunicorn 0.1.0');   // [2026-11-23 10:00:00 +0000] [1234] [INFO] Starting tsunicorn 0.1.0
 *   log.access(entry);                      // 127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl/8"
 *   log.reopen();                           // USR1: reopen the files (log rotation)
 *
 * `logFormat: 'json'` writes each error-log line as one JSON object (time, level, pid, message, stack);
 * an access format of `json` (optionally followed by more atoms) writes one JSON object per request.
 * Every value a client sent is escaped: `"`, `\`, control characters and bytes that are not printable
 * ASCII in the text formats (`\"`, `\\`, `\t`, `\xhh`), anything that is not valid UTF-8 in JSON.
 *
 * Every process (master and workers) opens the files itself in append mode, so lines from several
 * processes interleave whole.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { SettingsError } from './errors.js';
import type { LogFormat, LogLevel } from './settings.js';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface LoggerOptions {
  errorlog: string;
  accesslog: string | undefined;
  accessLogFormat: string;
  loglevel: LogLevel;
  /** The error log's shape: gunicorn's text lines (default) or one JSON object per line. */
  logFormat?: LogFormat;
}

/** One finished request, as the access log sees it. */
export interface AccessEntry {
  remoteAddress: string | undefined;
  method: string;
  url: string;
  httpVersion: string;
  status: number;
  /** Body bytes sent. */
  responseLength: number;
  requestHeaders: IncomingHttpHeaders;
  responseHeaders: OutgoingHttpHeaders;
  /** When the request started and ended, from process.hrtime.bigint(). */
  started: bigint;
  finished: bigint;
  /** Wall-clock time of the request start (for %(t)s). */
  startedAt: Date;
}

/** A log destination: `-` is a standard stream, anything else a file opened for appending. */
class LogTarget {
  private fd: number;
  constructor(private readonly file: string, private readonly standardFd: number, private readonly label: string) {
    this.fd = this.open();
  }
  private open(): number {
    if (this.file === '-') return this.standardFd;
    try {
      return openSync(this.file, 'a');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'its directory does not exist' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
      throw new SettingsError(`${this.label} ${this.file}: cannot open for appending: ${reason}`);
    }
  }
  write(text: string): void {
    try {
      writeSync(this.fd, text);
    } catch {
      // A closed or full log must not take the server down.
    }
  }
  reopen(): void {
    if (this.file === '-') return;
    const old = this.fd;
    this.fd = this.open();
    closeSync(old);
  }
  close(): void {
    if (this.file !== '-') closeSync(this.fd);
  }
}

export class Logger {
  private readonly errorTarget: LogTarget;
  private readonly accessTarget: LogTarget | undefined;
  private readonly threshold: number;
  private readonly formatAccess: ((entry: AccessEntry) => string) | undefined;
  private readonly json: boolean;

  /** Opens the files; throws a SettingsError naming the setting and file when one cannot be opened. */
  constructor(options: LoggerOptions) {
    this.formatAccess = options.accesslog === undefined ? undefined : compileAccessFormat(options.accessLogFormat);
    this.errorTarget = new LogTarget(options.errorlog, 2, '--error-logfile');
    try {
      this.accessTarget = options.accesslog === undefined ? undefined : new LogTarget(options.accesslog, 1, '--access-logfile');
    } catch (error) {
      this.errorTarget.close();
      throw error;
    }
    this.threshold = LEVELS[options.loglevel];
    this.json = options.logFormat === 'json';
  }

  get accessLogEnabled(): boolean {
    return this.accessTarget !== undefined;
  }

  log(level: LogLevel, message: string, stack?: string): void {
    if (LEVELS[level] < this.threshold) return;
    const now = new Date();
    if (this.json) {
      const record: Record<string, unknown> = { time: formatIsoTime(now), level, pid: process.pid, message };
      if (stack !== undefined) record.stack = stack;
      this.errorTarget.write(jsonLine(record) + '\n');
      return;
    }
    const detail = stack === undefined ? '' : `\n${stack}`;
    this.errorTarget.write(`[${formatErrorLogTime(now)}] [${process.pid}] [${level.toUpperCase()}] ${message}${detail}\n`);
  }
  debug(message: string): void {
    this.log('debug', message);
  }
  info(message: string): void {
    this.log('info', message);
  }
  warning(message: string): void {
    this.log('warning', message);
  }
  error(message: string): void {
    this.log('error', message);
  }
  critical(message: string): void {
    this.log('critical', message);
  }
  /** An error with its stack, for bugs in the app. */
  exception(message: string, error: unknown): void {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    this.log('error', message, detail);
  }

  access(entry: AccessEntry): void {
    if (!this.accessTarget || !this.formatAccess) return;
    this.accessTarget.write(this.formatAccess(entry) + '\n');
  }

  reopen(): void {
    this.errorTarget.reopen();
    this.accessTarget?.reopen();
  }

  close(): void {
    this.errorTarget.close();
    this.accessTarget?.close();
  }
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

function utcOffset(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  const sign = minutes >= 0 ? '+' : '-';
  const absolute = Math.abs(minutes);
  return `${sign}${pad(Math.floor(absolute / 60))}${pad(absolute % 60)}`;
}

/** `2026-11-23 10:00:00 +0000`, local time like gunicorn. */
export function formatErrorLogTime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${utcOffset(date)}`
  );
}

/** `[23/Nov/2026:10:00:00 +0000]`, the %(t)s atom. */
export function formatAccessLogTime(date: Date): string {
  return (
    `[${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${utcOffset(date)}]`
  );
}

/** `2026-11-23T10:00:00.123+00:00`, local time with its offset, for the JSON logs. */
export function formatIsoTime(date: Date): string {
  const offset = utcOffset(date);
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}` +
    `${offset.slice(0, 3)}:${offset.slice(3)}`
  );
}

function headerValue(value: string | number | string[] | undefined): string {
  if (value === undefined) return '-';
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function basicAuthUser(authorization: string | undefined): string {
  if (!authorization || !/^basic\s/i.test(authorization)) return '-';
  // Decoded byte for byte (latin1), like every header value: the log's escaping decides how bytes show.
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return colon > 0 ? decoded.slice(0, colon) : '-';
}

const C_ESCAPES: Record<number, string> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0b: '\\v', 0x0c: '\\f', 0x0d: '\\r', 0x22: '\\"', 0x5c: '\\\\' };

function hexByte(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

/**
 * A value for the text access log, the way Apache's mod_log_config writes it (gunicorn escapes `"` only,
 * which leaves `\"` able to close a quoted field): `"` and `\` get a backslash, whitespace controls are
 * C-style (`\t`, `\n`, ...), any other byte outside printable ASCII is `\xhh`. Header values hold one
 * character per byte (Node reads them as latin1); a character above U+00FF is written as its UTF-8 bytes.
 */
export function escapeLogText(value: string): string {
  if (/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/.test(value)) return value;
  let escaped = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code < 0x7f && code !== 0x22 && code !== 0x5c) escaped += char;
    else if (C_ESCAPES[code]) escaped += C_ESCAPES[code];
    else if (code <= 0xff) escaped += hexByte(code);
    else for (const byte of Buffer.from(char, 'utf8')) escaped += hexByte(byte);
  }
  return escaped;
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 sequence length announced by a lead byte (1 for a byte that cannot start one). */
function sequenceLength(byte: number): number {
  if (byte >= 0xc2 && byte <= 0xdf) return 2;
  if (byte >= 0xe0 && byte <= 0xef) return 3;
  if (byte >= 0xf0 && byte <= 0xf4) return 4;
  return 1;
}

/**
 * A byte string (one character per byte, as Node gives header values and targets) as text for JSON:
 * decoded as UTF-8 where it is valid, each byte that is not part of a valid sequence written as the text
 * `\xhh`. A string that already holds characters above U+00FF (an app-set value) is kept as it is.
 */
export function decodeLogBytes(value: string): string {
  if (!/[\u0080-\uffff]/.test(value) || /[\u0100-\uffff]/.test(value)) return value;
  const bytes = Buffer.from(value, 'latin1');
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    // Some bytes are not UTF-8: decode sequence by sequence.
  }
  let text = '';
  for (let index = 0; index < bytes.length; ) {
    const byte = bytes[index]!;
    if (byte < 0x80) {
      text += String.fromCharCode(byte);
      index++;
      continue;
    }
    const length = sequenceLength(byte);
    if (length > 1 && index + length <= bytes.length) {
      try {
        text += fatalUtf8.decode(bytes.subarray(index, index + length));
        index += length;
        continue;
      } catch {
        // Not a valid sequence: this byte alone is escaped.
      }
    }
    text += hexByte(byte);
    index++;
  }
  return text;
}

/**
 * One JSON object as a log line: JSON.stringify escapes quotes, backslashes and C0 controls; DEL, the C1
 * controls and the two line separators JavaScript treats as line ends are escaped too, so a line holds no
 * control character at all.
 */
export function jsonLine(record: Record<string, unknown>): string {
  return JSON.stringify(record).replace(/[\x7f-\x9f\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The value of one gunicorn atom (`h`, `r`, `{user-agent}i`, ...) for an entry, unescaped; '-' when unknown. */
export function accessAtom(name: string, entry: AccessEntry): string {
  const elapsedNs = entry.finished - entry.started;
  switch (name) {
    case 'h':
      return entry.remoteAddress ?? '-';
    case 'l':
      return '-';
    case 'u':
      return basicAuthUser(entry.requestHeaders.authorization);
    case 't':
      return formatAccessLogTime(entry.startedAt);
    case 'r':
      return `${entry.method} ${entry.url} HTTP/${entry.httpVersion}`;
    case 'm':
      return entry.method;
    case 'U':
      return targetPath(entry.url);
    case 'q':
      return targetQuery(entry.url);
    case 'H':
      return `HTTP/${entry.httpVersion}`;
    case 's':
      return String(entry.status);
    case 'B':
      return String(entry.responseLength);
    case 'b':
      return entry.responseLength > 0 ? String(entry.responseLength) : '-';
    case 'f':
      return headerValue(entry.requestHeaders.referer);
    case 'a':
      return headerValue(entry.requestHeaders['user-agent']);
    case 'T':
      return String(elapsedNs / 1_000_000_000n);
    case 'M':
      return String(elapsedNs / 1_000_000n);
    case 'D':
      return String(elapsedNs / 1_000n);
    case 'L':
      return (Number(elapsedNs / 1_000n) / 1_000_000).toFixed(6);
    case 'p':
      return `<${process.pid}>`;
  }
  const header = /^\{(.+)\}([ioe])$/.exec(name);
  if (header) {
    const key = header[1]!.toLowerCase();
    if (header[2] === 'i') return headerValue(entry.requestHeaders[key]);
    if (header[2] === 'o') return headerValue(entry.responseHeaders[key]);
  }
  return '-';
}

function targetPath(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

function targetQuery(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? '' : url.slice(query + 1);
}

const ATOM_PATTERN = /%\(([^)]+)\)s|%%/g;

/**
 * Compiles an access-log format into a function of an entry: gunicorn's printf style (`%(h)s`, `%%`),
 * each atom's value escaped (escapeLogText), or `json` followed by optional atoms (see compileJsonFormat).
 */
export function compileAccessFormat(format: string): (entry: AccessEntry) => string {
  if (/^\s*json(\s|$)/.test(format)) return compileJsonFormat(format.trim().slice('json'.length));
  const parts: (string | { atom: string })[] = [];
  let last = 0;
  for (const match of format.matchAll(ATOM_PATTERN)) {
    parts.push(format.slice(last, match.index));
    parts.push(match[0] === '%%' ? '%' : { atom: match[1]! });
    last = match.index + match[0].length;
  }
  parts.push(format.slice(last));
  return (entry) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : escapeLogText(accessAtom(part.atom, entry));
    return line;
  };
}

type JsonField = (entry: AccessEntry) => unknown;

function orNull(value: string | number | string[] | undefined): string | null {
  return value === undefined ? null : decodeLogBytes(headerValue(value));
}

/** The fields of `--access-logformat json`, in order, and the atom each one stands for. */
const JSON_FIELDS: [atom: string, field: string, value: JsonField][] = [
  ['t', 'time', (entry) => formatIsoTime(entry.startedAt)],
  ['h', 'remote_addr', (entry) => entry.remoteAddress ?? null],
  ['u', 'user', (entry) => { const user = basicAuthUser(entry.requestHeaders.authorization); return user === '-' ? null : decodeLogBytes(user); }],
  ['m', 'method', (entry) => decodeLogBytes(entry.method)],
  ['U', 'path', (entry) => decodeLogBytes(targetPath(entry.url))],
  ['q', 'query', (entry) => decodeLogBytes(targetQuery(entry.url))],
  ['H', 'protocol', (entry) => `HTTP/${entry.httpVersion}`],
  ['s', 'status', (entry) => entry.status],
  ['B', 'bytes', (entry) => entry.responseLength],
  ['f', 'referer', (entry) => orNull(entry.requestHeaders.referer)],
  ['a', 'user_agent', (entry) => orNull(entry.requestHeaders['user-agent'])],
  ['L', 'duration', (entry) => Number(((entry.finished - entry.started) / 1_000n)) / 1_000_000],
  ['p', 'pid', () => process.pid],
];
/** Atoms that are another spelling of a default field, and the atoms only asked for. */
const JSON_EXTRA_FIELDS: Record<string, [field: string, value: JsonField]> = {
  r: ['request_line', (entry) => decodeLogBytes(`${entry.method} ${entry.url} HTTP/${entry.httpVersion}`)],
  l: ['ident', () => null],
};
const JSON_SAME_AS: Record<string, string> = { b: 'B', T: 'L', M: 'L', D: 'L' };

/**
 * `json [ATOMS...]`: one object per request with the default fields (JSON_FIELDS), plus, for each
 * `%({name}i)s` / `%({name}o)s` given, the header under `request_headers` / `response_headers` (null when
 * absent) and `%(r)s` as `request_line`. An atom that names no field is refused.
 */
function compileJsonFormat(rest: string): (entry: AccessEntry) => string {
  const requestHeaders: string[] = [];
  const responseHeaders: string[] = [];
  const extras: [string, JsonField][] = [];
  const leftover = rest.replace(ATOM_PATTERN, (whole, atom: string | undefined) => {
    const header = atom ? /^\{(.+)\}([io])$/.exec(atom) : null;
    if (header) (header[2] === 'i' ? requestHeaders : responseHeaders).push(header[1]!.toLowerCase());
    else if (atom && JSON_EXTRA_FIELDS[atom]) extras.push(JSON_EXTRA_FIELDS[atom]);
    else if (!atom || !(JSON_FIELDS.some(([name]) => name === atom) || JSON_SAME_AS[atom])) {
      throw new Error(`json takes only %(...)s atoms that name a field (see docs/tsunicorn.md#logs), not ${JSON.stringify(whole)}`);
    }
    return '';
  });
  if (leftover.trim() !== '') {
    throw new Error(`json is followed by %(...)s atoms only, not ${JSON.stringify(leftover.trim())}`);
  }
  return (entry) => {
    const record: Record<string, unknown> = {};
    for (const [, field, value] of JSON_FIELDS) record[field] = value(entry);
    for (const [field, value] of extras) record[field] = value(entry);
    if (requestHeaders.length > 0) {
      record.request_headers = Object.fromEntries(requestHeaders.map((name) => [name, orNull(entry.requestHeaders[name])]));
    }
    if (responseHeaders.length > 0) {
      record.response_headers = Object.fromEntries(responseHeaders.map((name) => [name, orNull(entry.responseHeaders[name])]));
    }
    return jsonLine(record);
  };
}
