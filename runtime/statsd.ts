/**
 * --statsd-host: gunicorn's statsd metrics, under gunicorn's names, so a gunicorn dashboard keeps working.
 * The master sends them over UDP once a second from what the workers reported (MasterStats' deltas),
 * several lines per datagram (statsd's and DogStatsD's multi-metric packets):
 *
 *   PREFIX.gunicorn.requests:N|c|@1.0                  requests that ended in that second
 *   PREFIX.gunicorn.request.status.NNN:N|c|@1.0        the same, by status code
 *   PREFIX.gunicorn.request.duration:MS|ms[|@RATE]     one line per request (a uniform sample beyond
 *                                                      2048 per worker and second, RATE saying so)
 *   PREFIX.gunicorn.workers:N|g                        worker processes
 *
 * each followed by `|#TAGS` with --dogstatsd-tags. gunicorn sends a datagram per request from each
 * worker; sending from the master once a second keeps the request path free of it and gives the same
 * counts. gunicorn's gunicorn.log.* counters are not sent.
 *
 *   const statsd = new StatsdClient({ host, prefix, tags, workers: () => n, warning });
 *   stats.onDelta = (delta) => statsd.add(delta);
 *   await statsd.close();     // sends what is left
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { firstLine } from './errors.js';
import type { ReportDelta } from './master-stats.js';
import type { TcpAddress } from './settings.js';

/** A safe datagram size on any path (Ethernet MTU minus IP and UDP headers, as DogStatsD clients use). */
const MAX_DATAGRAM = 1432;
const FLUSH_MS = 1000;

/** gunicorn's prefix rule: a non-empty prefix gets exactly one dot after it. */
export function statsdPrefix(prefix: string): string {
  return prefix === '' ? '' : `${prefix.replace(/\.+$/, '')}.`;
}

export interface StatsdOptions {
  host: TcpAddress;
  prefix: string;
  tags: string | undefined;
  workers: () => number;
  warning: (line: string) => void;
  flushMs?: number;
}

export class StatsdClient {
  private readonly socket: dgram.Socket;
  private readonly prefix: string;
  private readonly suffix: string;
  private requests = 0;
  private readonly status = new Map<string, number>();
  private durations: string[] = [];
  private readonly timer: NodeJS.Timeout;
  private warned = false;
  private pending = 0;
  private drained: (() => void) | undefined;

  constructor(private readonly options: StatsdOptions) {
    this.socket = dgram.createSocket(isIP(options.host.host) === 6 ? 'udp6' : 'udp4');
    this.socket.on('error', (error) => this.warn(error));
    this.socket.unref();
    this.prefix = statsdPrefix(options.prefix);
    this.suffix = options.tags ? `|#${options.tags}` : '';
    this.timer = setInterval(() => this.flush(), options.flushMs ?? FLUSH_MS);
    this.timer.unref();
  }

  /** What one worker report added. */
  add(delta: ReportDelta): void {
    this.requests += delta.requests;
    for (const [code, count] of Object.entries(delta.status)) this.status.set(code, (this.status.get(code) ?? 0) + count);
    if (delta.samples.length === 0) return;
    const rate = delta.sampledOf > delta.samples.length ? `|@${(delta.samples.length / delta.sampledOf).toPrecision(3)}` : '';
    for (const ms of delta.samples) this.durations.push(`${this.prefix}gunicorn.request.duration:${Number(ms.toFixed(3))}|ms${rate}${this.suffix}`);
  }

  /** The lines of the past second, in datagrams. */
  flush(): void {
    const lines: string[] = [];
    if (this.requests > 0) lines.push(`${this.prefix}gunicorn.requests:${this.requests}|c|@1.0${this.suffix}`);
    for (const [code, count] of this.status) lines.push(`${this.prefix}gunicorn.request.status.${code}:${count}|c|@1.0${this.suffix}`);
    lines.push(...this.durations);
    lines.push(`${this.prefix}gunicorn.workers:${this.options.workers()}|g${this.suffix}`);
    this.requests = 0;
    this.status.clear();
    this.durations = [];
    let packet = '';
    for (const line of lines) {
      if (packet !== '' && packet.length + 1 + line.length > MAX_DATAGRAM) {
        this.send(packet);
        packet = '';
      }
      packet = packet === '' ? line : `${packet}\n${line}`;
    }
    if (packet !== '') this.send(packet);
  }

  private send(packet: string): void {
    this.pending++;
    this.socket.send(packet, this.options.host.port, this.options.host.host, (error) => {
      if (error) this.warn(error);
      if (--this.pending === 0) this.drained?.();
    });
  }

  /** One warning: a statsd server that is away must not fill the log (UDP drops silently otherwise). */
  private warn(error: unknown): void {
    if (this.warned) return;
    this.warned = true;
    this.options.warning(`statsd: cannot send to ${this.options.host.text}: ${firstLine(error)} (further errors not logged)`);
  }

  /** Sends what is left, then closes the socket. */
  close(): Promise<void> {
    clearInterval(this.timer);
    this.flush();
    // Once the last sends went out (a host name is looked up first), within half a second.
    return new Promise((resolve) => {
      const close = () => {
        clearTimeout(bound);
        this.drained = undefined;
        this.socket.close(() => resolve());
      };
      const bound = setTimeout(close, 500);
      if (this.pending === 0) close();
      else this.drained = close;
    });
  }
}
