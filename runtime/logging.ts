/**
 * The error log and the access log, in gunicorn's shapes.
 *
 *   const log = new Logger({ errorlog: '-', accesslog: '-', accessLogFormat, loglevel: 'info' });
 *   log.info('Starting tsunicorn 0.1.0');   // [2026-11-23 10:00:00 +0000] [1234] [INFO] Starting tsunicorn 0.1.0
 *   log.access(entry);                      // 127.0.0.1 - - [23/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 2 "-" "curl/8"
 *   log.reopen();                           // USR1: reopen the files (log rotation)
 *
 * Every process (master and workers) opens the files itself in append mode, so lines from several
 * processes interleave whole.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { LogLevel } from './settings.js';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export interface LoggerOptions {
  errorlog: string;
  accesslog: string | undefined;
  accessLogFormat: string;
  loglevel: LogLevel;
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
  constructor(private readonly file: string, private readonly standardFd: number) {
    this.fd = this.open();
  }
  private open(): number {
    return this.file === '-' ? this.standardFd : openSync(this.file, 'a');
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

  constructor(private readonly options: LoggerOptions) {
    this.errorTarget = new LogTarget(options.errorlog, 2);
    this.accessTarget = options.accesslog === undefined ? undefined : new LogTarget(options.accesslog, 1);
    this.formatAccess = this.accessTarget ? compileAccessFormat(options.accessLogFormat) : undefined;
    this.threshold = LEVELS[options.loglevel];
  }

  get accessLogEnabled(): boolean {
    return this.accessTarget !== undefined;
  }

  log(level: LogLevel, message: string): void {
    if (LEVELS[level] < this.threshold) return;
    this.errorTarget.write(`[${formatErrorLogTime(new Date())}] [${process.pid}] [${level.toUpperCase()}] ${message}\n`);
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
    this.error(`${message}\n${detail}`);
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

function headerValue(value: string | number | string[] | undefined): string {
  if (value === undefined) return '-';
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function basicAuthUser(authorization: string | undefined): string {
  if (!authorization || !/^basic\s/i.test(authorization)) return '-';
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? decoded.slice(0, colon) : '-';
}

/** The value of one gunicorn atom (`h`, `r`, `{user-agent}i`, ...) for an entry; '-' when unknown. */
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
    case 'U': {
      const query = entry.url.indexOf('?');
      return query === -1 ? entry.url : entry.url.slice(0, query);
    }
    case 'q': {
      const query = entry.url.indexOf('?');
      return query === -1 ? '' : entry.url.slice(query + 1);
    }
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

/** Compiles a gunicorn access-log format (`%(h)s`, `%%`) into a function of an entry. */
export function compileAccessFormat(format: string): (entry: AccessEntry) => string {
  const parts: (string | { atom: string })[] = [];
  const pattern = /%\(([^)]+)\)s|%%/g;
  let last = 0;
  for (let match = pattern.exec(format); match; match = pattern.exec(format)) {
    parts.push(format.slice(last, match.index));
    parts.push(match[0] === '%%' ? '%' : { atom: match[1]! });
    last = pattern.lastIndex;
  }
  parts.push(format.slice(last));
  return (entry) => {
    let line = '';
    for (const part of parts) line += typeof part === 'string' ? part : accessAtom(part.atom, entry);
    return line;
  };
}
