/**
 * One worker process: loads the app, serves HTTP with the strict server (one it builds, or the server the
 * app built), heartbeats to the master from its event loop, counts requests for --max-requests, runs the
 * worker-side hooks, and drains gracefully on TERM (from the master or sent to it directly, as Heroku
 * does). Upgraded connections (WebSockets) are left to the app while draining, until the graceful deadline.
 * Started by the master through worker-main.ts:
 *
 *   const worker = new Worker(settings, cwd, logger, age);
 *   await worker.boot();        // throws AppLoadError / BootError
 *   worker.serve();             // from now on: messages, signals, requests
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import net, { isIP, type Server as NetServer, type Socket } from 'node:net';
import { loadApp } from './app-loader.js';
import { AppListens, listenWaitMs, type ServedAddress } from './app-listen.js';
import { loadConfigHooks } from './configuration.js';
import { BootError, firstLine } from './errors.js';
import { setListenBacklog } from './node-internals.js';
import { callHookNow, runHook, type Hooks, type ServerInfo, type WorkerInfo } from './hooks.js';
import { ConnectionTable } from './http/connection-table.js';
import { RequestPipeline, type FinishedRequest } from './http/request-pipeline.js';
import { createStrictServer } from './http/strict-server.js';
import { Logger } from './logging.js';
import { STATS_INTERVAL_MS, heartbeatIntervalMs, isMasterMessage, type WorkerMessage } from './messages.js';
import type { Settings } from './settings.js';
import { WorkerStats } from './worker-stats.js';

/**
 * How long a draining worker keeps an idle connection open (never longer than --keep-alive): a client
 * reusing a kept-alive connection has usually sent its next request already, and closing under it would
 * fail that request. The next request is answered with `Connection: close` instead (nginx's
 * keepalive_min_timeout, gunicorn's gthread worker).
 */
const DRAIN_IDLE_MS = 1000;
/** INT/QUIT: time for worker_int and worker_exit, under the master's 2 s before it kills. */
const QUICK_EXIT_MS = 1500;

export class Worker {
  private server: Server | undefined;
  /** Per-connection state is the strict server's; the worker reads it. */
  private readonly connections = new ConnectionTable({
    onClose: () => {
      if (this.connections.size === 0) this.connectionsGone?.();
      if (this.draining) this.exitWhenIdle();
    },
  });
  /** The listening sockets it accepts on, with their --bind index. */
  private readonly listeners: { index: number; server: NetServer }[] = [];
  private requestsServed = 0;
  private readonly maxRequests: number;
  /** The master asked it to stop accepting on the shared listening sockets (TERM). */
  private unlistened = false;
  /**
   * The worker's request path: counting, pre_request/post_request, the access log, --health-path, the app
   * and its 500. Its `draining` is the one drain flag (set by drain()).
   */
  private pipeline: RequestPipeline | undefined;
  /** The master has sent `stop`: no connection can be on its way any more. */
  private stopReceived = false;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Requests, in flight, statuses, durations, and the process' own figures, for the master. */
  private readonly stats: WorkerStats;
  private statsSentAt = 0;
  private hooks: Hooks = {};
  /** What worker-side hooks get as `worker`. */
  readonly info: WorkerInfo;
  /** Settles at the graceful deadline, once draining started. */
  private deadline: Promise<void> | undefined;
  private finishing = false;
  private connectionsGone: (() => void) | undefined;
  /** The app's own listen() calls: served on the master's sockets. */
  private readonly listens: AppListens;

  constructor(
    private readonly settings: Settings,
    private readonly cwd: string,
    private readonly log: Logger,
    age: number,
    served: readonly ServedAddress[],
  ) {
    this.listens = new AppListens(served);
    this.stats = new WorkerStats({ keepSamples: settings.statsd_host !== undefined });
    this.info = { pid: process.pid, ppid: process.ppid, age, server: undefined };
    this.maxRequests =
      settings.max_requests > 0
        ? settings.max_requests + Math.floor(Math.random() * (settings.max_requests_jitter + 1))
        : 0;
  }

  /**
   * Starts heartbeating at once, so a worker stuck while booting is a timeout too. With --timeout 0 the
   * heartbeat still carries the statistics (every second).
   */
  startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      if (now - this.statsSentAt < STATS_INTERVAL_MS) {
        this.send({ type: 'heartbeat' });
        return;
      }
      this.statsSentAt = now;
      this.send({ type: 'heartbeat', stats: this.statsReport() });
    }, heartbeatIntervalMs(this.settings.timeout));
  }

  private statsReport() {
    let upgraded = 0;
    for (const connection of this.connections) if (connection.upgraded) upgraded++;
    return this.stats.report(this.connections.size - upgraded, upgraded);
  }

  private get serverInfo(): ServerInfo {
    return { pid: process.ppid, settings: this.settings };
  }

  async boot(): Promise<void> {
    if (this.settings.config) this.hooks = await loadConfigHooks(this.settings.config);
    await runHook(this.log, this.hooks.post_fork, 'post_fork', [this.serverInfo, this.info]);
    const trusted = new Set(this.settings.forwarded_allow_ips);
    const isTrustedProxy = trusted.has('*')
      ? () => true
      : (address: string | undefined) => address !== undefined && trusted.has(stripMappedIPv4(address));
    const app = await loadApp(this.settings.app ?? '', {
      cwd: this.cwd,
      factory: this.settings.factory,
      fetch: { secure: this.settings.certfile !== undefined, isTrustedProxy, objects: this.settings.fetch_objects },
      listens: this.listens,
      listenWaitMs: listenWaitMs(this.settings),
    });
    // The app closing the server it started (its own SIGTERM handler, Fastify's close()) is a drain; after
    // the worker's own handlers for the same signal, so that the master hears why first.
    this.listens.onAppClose = () => setImmediate(() => {
      if (this.draining) return;
      this.send({ type: 'retiring', reason: 'the app closed its server' });
      this.drain('the app closed its server');
    });
    let tls: { cert: Buffer; key: Buffer } | undefined;
    if (app.kind === 'server' && this.settings.certfile) {
      throw new BootError('--certfile/--keyfile apply to servers tsunicorn builds: the app exports its own server, so build it with https.createServer({ cert, key }) instead');
    }
    if (this.settings.certfile && this.settings.keyfile) {
      try {
        tls = { cert: readFileSync(this.settings.certfile), key: readFileSync(this.settings.keyfile) };
      } catch (error) {
        throw new BootError(`cannot read --certfile/--keyfile: ${firstLine(error)}`);
      }
    }
    const { pre_request: preRequest, post_request: postRequest } = this.hooks;
    const healthPath = this.settings.health_path;
    this.pipeline = new RequestPipeline({
      ownRoute: healthPath === undefined ? undefined : {
        matches: (req) => isHealthCheck(req, healthPath),
        answer: (req, res, draining) => answerHealthCheck(req, res, draining),
      },
      counted: () => this.countRequest(),
      pre_request: preRequest ? (req) => callHookNow(this.log, preRequest, 'pre_request', [this.info, req]) : undefined,
      post_request: postRequest ? (req, res) => callHookNow(this.log, postRequest, 'post_request', [this.info, req, res]) : undefined,
      access: this.log.accessLogEnabled ? (finished) => this.logAccess(finished) : undefined,
      stats: this.stats,
      appError: (error, req) => this.log.exception(`Error handling request ${req.url ?? ''}`, error),
    });
    try {
      this.server = createStrictServer(app.kind === 'listener' ? app.listener : undefined, {
        server: app.kind === 'server' ? app.server : undefined,
        limitRequestLine: this.settings.limit_request_line,
        limitRequestFields: this.settings.limit_request_fields,
        limitRequestFieldSize: this.settings.limit_request_field_size,
        keepAliveSeconds: this.settings.keepalive,
        onClientError: (message) => this.log.debug(message),
        tls,
        connections: this.connections,
        pipeline: this.pipeline,
      });
    } catch (error) {
      throw new BootError(`cannot create the HTTP server: ${firstLine(error)}`);
    }
    this.info.server = this.server;
    await runHook(this.log, this.hooks.post_worker_init, 'post_worker_init', [this.info]);
  }

  serve(): void {
    process.on('message', (message: unknown, handle: unknown) => {
      if (!isMasterMessage(message)) return;
      if (message.type === 'listen') this.acceptOn(handle as NetServer, message.index, message.backlog);
      else if (message.type === 'bind') this.bindOwn(message);
      else if (message.type === 'release') this.releaseOne(message.index);
      else if (message.type === 'connection') this.takeConnection(handle as Socket | undefined);
      else if (message.type === 'reopen') this.log.reopen();
      else if (message.type === 'unlisten') this.unlisten();
      else if (message.type === 'stop') {
        this.stopReceived = true;
        this.drain('stopped by the master');
        this.exitWhenIdle();
      }
    });
    process.on('SIGTERM', () => this.drain('received SIGTERM'));
    process.on('SIGINT', () => void this.quit());
    process.on('SIGQUIT', () => void this.quit());
    process.on('SIGUSR1', () => this.log.reopen());
    process.on('SIGHUP', () => undefined);
    // The master is gone: nobody will hand over connections or replace us.
    process.on('disconnect', () => {
      this.drain('master went away');
      this.exitWhenIdle();
    });
    this.listens.serving((line) => this.log.error(line));
    this.log.debug(`Worker booted (pid: ${process.pid})`);
    this.send({ type: 'booted' });
  }

  private send(message: WorkerMessage): void {
    if (process.connected) process.send?.(message);
  }

  /** The master stops (TERM): it accepts what is left in the backlog itself and hands it over. */
  private unlisten(): void {
    this.unlistened = true;
    this.stopAccepting();
    this.send({ type: 'unlistened' });
  }

  /** `backlog` for a socket received over IPC, which Node listened on again with its default. */
  private acceptOn(listening: NetServer | undefined, index: number, backlog?: number): void {
    if (!listening) return;
    if (backlog !== undefined) setListenBacklog(listening, backlog);
    const entry = { index, server: listening };
    if (this.draining || this.unlistened) {
      this.letGo(entry);
      return;
    }
    this.listeners.push(entry);
    listening.on('connection', (socket: Socket) => this.takeConnection(socket));
  }

  /** Reuse-port: a listening socket of its own, SO_REUSEPORT on the master's address. */
  private bindOwn({ index, host, port, backlog }: { index: number; host: string; port: number; backlog: number }): void {
    const own = net.createServer();
    own.once('error', (error) => this.send({ type: 'bound', index, error: firstLine(error) }));
    own.listen({ host, port, backlog, reusePort: true } as net.ListenOptions, () => {
      own.removeAllListeners('error');
      this.acceptOn(own, index);
      this.send({ type: 'bound', index });
    });
  }

  /** Reuse-port: the master asks one socket back (this worker holds two). */
  private releaseOne(index: number): void {
    const at = this.listeners.findIndex((entry) => entry.index === index);
    if (at === -1 || this.listeners.filter((entry) => entry.index === index).length < 2) {
      this.send({ type: 'released', index });
      return;
    }
    this.letGo(this.listeners.splice(at, 1)[0]!);
  }

  private stopAccepting(): void {
    for (const entry of this.listeners.splice(0)) this.letGo(entry);
  }

  /**
   * Stops accepting on a listening socket. A shared one is the master's too: closed. A reuse-port one is
   * this worker's alone, and closing it would reset the connections in its queue (Linux): it goes back
   * to the master, and the descriptor here closes once it is sent.
   */
  private letGo({ index, server }: { index: number; server: NetServer }): void {
    if (this.settings.socket_sharing !== 'reuse-port' || !process.connected) {
      server.close();
      return;
    }
    try {
      process.send!({ type: 'released', index } satisfies WorkerMessage, server, {}, () => server.close());
    } catch {
      server.close();
    }
  }

  private takeConnection(socket: Socket | undefined): void {
    if (!socket || !this.server) return;
    // What http.Server does for sockets it accepts itself: no Nagle delay on responses. The socket is
    // already reading (net.Server and the IPC hand-over both start it); resuming it again would take
    // the http parser off its fast path.
    socket.setNoDelay(true);
    this.server.emit('connection', socket);
  }

  /** One request for --max-requests; the one that reaches the limit starts the drain. */
  private get draining(): boolean {
    return this.pipeline?.draining ?? false;
  }

  private countRequest(): void {
    this.requestsServed++;
    if (this.maxRequests > 0 && this.requestsServed >= this.maxRequests && !this.draining) {
      this.log.info(`Autorestarting worker after current request.`);
      this.send({ type: 'retiring', reason: 'max-requests' });
      this.drain(undefined);
    }
  }

  /** The access log line of a finished request (one place; the format is the logger's). */
  private logAccess({ req, res, started, finished }: FinishedRequest): void {
    this.log.access({
      remoteAddress: req.socket.remoteAddress,
      method: req.method ?? '-',
      url: req.url ?? '-',
      httpVersion: req.httpVersion,
      status: res.statusCode,
      responseLength: req.method === 'HEAD' ? 0 : res.bodyBytes,
      requestHeaders: req.headers,
      responseHeaders: res.getHeaders(),
      started,
      finished,
      startedAt: new Date(Date.now() - Number(finished - started) / 1e6),
    });
  }

  /**
   * Graceful stop: take no new connections or upgrades, let in-flight requests finish, answer the next
   * request on each open connection with Connection: close, close a connection idle for DRAIN_IDLE_MS
   * (never longer than --keep-alive, and within --graceful-timeout); once only upgraded connections (or none)
   * are left, run worker_exit and give the upgraded ones until the graceful deadline. The deadline falls a
   * little before the master's SIGKILL, so the worker still ends its connections and exits by itself.
   */
  drain(reason: string | undefined): void {
    if (this.draining || !this.pipeline) return;
    this.pipeline.draining = true;
    if (reason === 'received SIGTERM') this.send({ type: 'retiring', reason });
    if (reason) this.log.debug(`Worker draining (pid: ${process.pid}): ${reason}`);
    this.stopAccepting();
    const gracefulMs = Math.max(0, this.settings.graceful_timeout * 1000);
    const keepAliveMs = this.settings.keepalive * 1000;
    const idleLimitMs = Math.min(DRAIN_IDLE_MS, keepAliveMs > 0 ? keepAliveMs : DRAIN_IDLE_MS, gracefulMs / 2);
    // A connection idle now may carry a request any moment: its idle time counts from here.
    const drainStartedAt = Date.now();
    const closeIdle = setInterval(() => {
      const idleBefore = Date.now() - idleLimitMs;
      for (const connection of this.connections) {
        if (connection.upgraded || connection.idleSince === null) continue;
        // Ended (FIN) once what is still being written is out, as Node ends an idle keep-alive connection.
        if (Math.max(connection.idleSince, drainStartedAt) <= idleBefore) connection.socket.destroySoon();
      }
      this.exitWhenIdle();
    }, Math.max(10, Math.min(100, idleLimitMs / 4)));
    closeIdle.unref();
    this.deadline = new Promise((resolve) => setTimeout(resolve, gracefulMs - Math.min(1000, gracefulMs / 10)));
    void this.deadline.then(() => this.finish());
    this.exitWhenIdle();
  }

  private exitWhenIdle(): void {
    const idle = () => {
      for (const connection of this.connections) if (!connection.upgraded) return false;
      return this.stopReceived || !process.connected;
    };
    if (idle()) setImmediate(() => idle() && void this.finish());
  }

  /** worker_exit (bounded by the deadline), then the upgraded connections' remaining time, then exit. */
  private async finish(): Promise<void> {
    if (this.finishing) return;
    this.finishing = true;
    const deadline = this.deadline ?? Promise.resolve();
    await runHook(this.log, this.hooks.worker_exit, 'worker_exit', [this.serverInfo, this.info], deadline);
    if (this.connections.size > 0) {
      await Promise.race([new Promise<void>((resolve) => (this.connectionsGone = resolve)), deadline]);
    }
    for (const connection of this.connections) connection.socket.destroy();
    this.exit();
  }

  private exit(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.log.info(`Worker exiting (pid: ${process.pid})`);
    // The last statistics, so the master's totals count every request this worker served; exit once
    // they are out (bounded: a master that went away does not keep the worker).
    const exit = () => process.exit(0);
    const sending = process.connected && process.send !== undefined;
    if (sending) {
      setTimeout(exit, 500).unref();
      process.send!({ type: 'heartbeat', stats: this.statsReport() } satisfies WorkerMessage, undefined, {}, exit);
    }
    // The app's close() callbacks (which may exit themselves) once its requests are done.
    this.listens.emitClosed();
    if (!sending) exit();
  }

  /** INT/QUIT: worker_int, then worker_exit, both bounded by the quick-exit time; open connections end. */
  private async quit(): Promise<void> {
    if (this.finishing) process.exit(0);
    this.finishing = true;
    const bound = new Promise<void>((resolve) => setTimeout(resolve, QUICK_EXIT_MS).unref());
    await runHook(this.log, this.hooks.worker_int, 'worker_int', [this.info], bound);
    await runHook(this.log, this.hooks.worker_exit, 'worker_exit', [this.serverInfo, this.info], bound);
    process.exit(0);
  }
}

/** A GET or HEAD whose target's path (before any query) is exactly `healthPath`. */
function isHealthCheck(req: IncomingMessage, healthPath: string): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const url = req.url ?? '';
  const query = url.indexOf('?');
  return (query === -1 ? url : url.slice(0, query)) === healthPath;
}

function stripMappedIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** --health-path: 200 ok while serving, 503 draining while draining; no hook, no app, no count, no access log. */
function answerHealthCheck(req: IncomingMessage, res: ServerResponse, draining: boolean): void {
  const body = draining ? 'draining' : 'ok';
  res.writeHead(draining ? 503 : 200, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
