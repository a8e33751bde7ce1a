/**
 * One worker process: loads the app, serves HTTP with the strict server, heartbeats to the master from its
 * event loop, counts requests for --max-requests, and drains gracefully on TERM (from the master or sent to
 * it directly, as Heroku does). Started by the master through worker-main.ts:
 *
 *   const worker = new Worker(settings, cwd, logger);
 *   await worker.boot();        // throws AppLoadError / BootError
 *   worker.serve();             // from now on: messages, signals, requests
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import { isIP } from 'node:net';
import { loadApp } from './app-loader.js';
import { BootError, firstLine } from './errors.js';
import { createStrictServer } from './http/strict-server.js';
import { Logger } from './logging.js';
import { heartbeatIntervalMs, isMasterMessage, type WorkerMessage } from './messages.js';
import type { Settings } from './settings.js';

/** How long a connection that has not sent its first request yet may stay once draining starts. */
const FIRST_REQUEST_GRACE_MS = 1000;

interface ConnectionState {
  requests: number;
  active: number;
  acceptedAt: number;
}

export class Worker {
  private server: Server | undefined;
  private readonly connections = new Map<Socket, ConnectionState>();
  private readonly listeners: NetServer[] = [];
  private requestsServed = 0;
  private readonly maxRequests: number;
  private draining = false;
  /** The master has sent `stop`: no connection can be on its way any more. */
  private stopReceived = false;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly cwd: string,
    private readonly log: Logger,
  ) {
    this.maxRequests =
      settings.max_requests > 0
        ? settings.max_requests + Math.floor(Math.random() * (settings.max_requests_jitter + 1))
        : 0;
  }

  /** Starts heartbeating at once, so a worker stuck while booting is a timeout too. */
  startHeartbeat(): void {
    if (this.settings.timeout <= 0) return;
    this.heartbeat = setInterval(() => this.send({ type: 'heartbeat' }), heartbeatIntervalMs(this.settings.timeout));
  }

  async boot(): Promise<void> {
    const trusted = new Set(this.settings.forwarded_allow_ips);
    const isTrustedProxy = trusted.has('*')
      ? () => true
      : (address: string | undefined) => address !== undefined && trusted.has(stripMappedIPv4(address));
    const listener = await loadApp(this.settings.app ?? '', {
      cwd: this.cwd,
      factory: this.settings.factory,
      fetch: { secure: this.settings.certfile !== undefined, isTrustedProxy },
    });
    let tls: { cert: Buffer; key: Buffer } | undefined;
    if (this.settings.certfile && this.settings.keyfile) {
      try {
        tls = { cert: readFileSync(this.settings.certfile), key: readFileSync(this.settings.keyfile) };
      } catch (error) {
        throw new BootError(`cannot read --certfile/--keyfile: ${firstLine(error)}`);
      }
    }
    try {
      this.server = createStrictServer(this.wrap(listener), {
        limitRequestLine: this.settings.limit_request_line,
        limitRequestFields: this.settings.limit_request_fields,
        limitRequestFieldSize: this.settings.limit_request_field_size,
        keepAliveSeconds: this.settings.keepalive,
        onClientError: (message) => this.log.debug(message),
        tls,
      });
    } catch (error) {
      throw new BootError(`cannot create the HTTP server: ${firstLine(error)}`);
    }
    this.server.on(tls ? 'secureConnection' : 'connection', (socket: Socket) => this.track(socket));
  }

  serve(): void {
    process.on('message', (message: unknown, handle: unknown) => {
      if (!isMasterMessage(message)) return;
      if (message.type === 'listen') this.acceptOn(handle as NetServer);
      else if (message.type === 'connection') this.takeConnection(handle as Socket | undefined);
      else if (message.type === 'reopen') this.log.reopen();
      else if (message.type === 'stop') {
        this.stopReceived = true;
        this.drain('stopped by the master');
        this.exitWhenIdle();
      }
    });
    process.on('SIGTERM', () => this.drain('received SIGTERM'));
    process.on('SIGINT', () => this.quit());
    process.on('SIGQUIT', () => this.quit());
    process.on('SIGUSR1', () => this.log.reopen());
    process.on('SIGHUP', () => undefined);
    // The master is gone: nobody will hand over connections or replace us.
    process.on('disconnect', () => {
      this.drain('master went away');
      this.exitWhenIdle();
    });
    this.send({ type: 'booted' });
  }

  private send(message: WorkerMessage): void {
    if (process.connected) process.send?.(message);
  }

  private acceptOn(listening: NetServer | undefined): void {
    if (!listening) return;
    if (this.draining) {
      listening.close();
      return;
    }
    this.listeners.push(listening);
    listening.on('connection', (socket: Socket) => this.takeConnection(socket));
  }

  private takeConnection(socket: Socket | undefined): void {
    if (!socket || !this.server) return;
    // What http.Server does for sockets it accepts itself: no Nagle delay on responses. The socket is
    // already reading (net.Server and the IPC hand-over both start it); resuming it again would take
    // the http parser off its fast path.
    socket.setNoDelay(true);
    this.server.emit('connection', socket);
  }

  private track(socket: Socket): void {
    this.connections.set(socket, { requests: 0, active: 0, acceptedAt: Date.now() });
    socket.once('close', () => {
      this.connections.delete(socket);
      if (this.draining) this.exitWhenIdle();
    });
  }

  /** Wraps the app: counting, Connection: close while draining, the access log, and the 500 boundary. */
  private wrap(app: RequestListener): RequestListener {
    const accessLog = this.log.accessLogEnabled;
    return (req, res) => {
      const state = this.connections.get(req.socket);
      if (state) {
        state.requests++;
        state.active++;
        res.once('close', () => this.requestDone(req.socket, state));
      }
      this.requestsServed++;
      if (this.maxRequests > 0 && this.requestsServed >= this.maxRequests && !this.draining) {
        this.log.info(`Autorestarting worker after current request.`);
        this.send({ type: 'retiring', reason: 'max-requests' });
        this.drain(undefined);
      }
      if (this.draining) res.shouldKeepAlive = false;
      if (accessLog) this.logAccess(req, res);
      let result: unknown;
      try {
        result = app(req, res);
      } catch (error) {
        this.fail(error, req, res);
        return;
      }
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<unknown>).then(undefined, (error: unknown) => this.fail(error, req, res));
      }
    };
  }

  private requestDone(socket: Socket, state: ConnectionState): void {
    state.active--;
    if (this.draining && state.active === 0) {
      // The response is out; a kept-alive connection would otherwise wait for another request.
      setImmediate(() => {
        if (state.active === 0) socket.destroySoon();
      });
    }
  }

  private fail(error: unknown, req: IncomingMessage, res: ServerResponse): void {
    this.log.exception(`Error handling request ${req.url ?? ''}`, error);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const body = 'Internal Server Error\n';
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, Connection: 'close' });
    res.end(body);
  }

  private logAccess(req: IncomingMessage, res: ServerResponse): void {
    const started = process.hrtime.bigint();
    const startedAt = new Date();
    let bytes = 0;
    const write = res.write.bind(res);
    const end = res.end.bind(res);
    const count = (chunk: unknown, encoding: unknown) => {
      if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
    };
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      count(chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      if (typeof chunk !== 'function') count(chunk, rest[0]);
      return (end as (...args: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as ServerResponse['end'];
    res.once('finish', () => {
      if (req.method === 'HEAD') bytes = 0;
      this.log.access({
        remoteAddress: req.socket.remoteAddress,
        method: req.method ?? '-',
        url: req.url ?? '-',
        httpVersion: req.httpVersion,
        status: res.statusCode,
        responseLength: bytes,
        requestHeaders: req.headers,
        responseHeaders: res.getHeaders(),
        started,
        finished: process.hrtime.bigint(),
        startedAt,
      });
    });
  }

  /**
   * Graceful stop: take no new connections, let in-flight requests finish (their responses say
   * Connection: close), close idle keep-alive connections, exit when none is left. The master kills us
   * after --graceful-timeout; the local timer covers a master that is gone.
   */
  drain(reason: string | undefined): void {
    if (this.draining) return;
    this.draining = true;
    if (reason === 'received SIGTERM') this.send({ type: 'retiring', reason });
    if (reason) this.log.debug(`Worker draining (pid: ${process.pid}): ${reason}`);
    for (const listening of this.listeners) listening.close();
    for (const [socket, state] of this.connections) {
      if (state.active === 0 && state.requests > 0) socket.destroySoon();
    }
    const fresh = setInterval(() => {
      const now = Date.now();
      for (const [socket, state] of this.connections) {
        if (state.active === 0 && (state.requests > 0 || now - state.acceptedAt > FIRST_REQUEST_GRACE_MS)) socket.destroy();
      }
      this.exitWhenIdle();
    }, 100);
    fresh.unref();
    setTimeout(() => this.exit(), Math.max(0, this.settings.graceful_timeout * 1000)).unref();
    this.exitWhenIdle();
  }

  private exitWhenIdle(): void {
    const idle = () => this.connections.size === 0 && (this.stopReceived || !process.connected);
    if (idle()) setImmediate(() => idle() && this.exit());
  }

  private exit(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.log.info(`Worker exiting (pid: ${process.pid})`);
    process.exit(0);
  }

  private quit(): void {
    process.exit(0);
  }
}

function stripMappedIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}
