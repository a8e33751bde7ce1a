/**
 * Apps that start their own server: `app.listen(PORT)` (Express, Koa), `http.createServer(...).listen(...)`,
 * `fastify.listen({ port })`, Socket.IO's or ws's own server. tsunicorn binds the addresses in the master,
 * so a worker never binds: the first http(s) server the app listen()s on the port tsunicorn serves (or on no
 * port, or port 0) becomes the server the worker hands its connections to. Its listen() succeeds as Node's
 * would (callback, 'listening', `listening`, `address()` reporting the address tsunicorn bound); its close()
 * starts the worker's drain and reports 'close' once the worker has finished its requests. A listen() on a
 * port tsunicorn does not serve is refused in one line naming the port: at boot the worker fails (exit 4),
 * later the line is logged and the server gets an 'error' as for a failed bind.
 *
 *   const listens = new AppListens(servedAddressesOf(listeners.map((listener) => listener.server)));
 *   listens.install();                          // before the app's module is imported
 *   await import(app);                          // the app calls app.listen(process.env.PORT)
 *   const server = listens.server ?? await listens.waitForServer(30000, describeNothing);
 */
import cluster from 'node:cluster';
import http from 'node:http';
import type https from 'node:https';
import net from 'node:net';
import { AppLoadError } from './errors.js';
import { isHttpsServer } from './http/tls-modules.js';
import { activeResourceKinds } from './node-internals.js';
import type { BindAddress, Settings } from './settings.js';

/** One address tsunicorn serves, as the master bound it. */
export type ServedAddress =
  | { kind: 'tcp'; address: string; family: string; port: number }
  | { kind: 'unix'; path: string };

/** The addresses of the master's listening servers (the real ports, once bound). */
export function servedAddressesOf(servers: readonly net.Server[]): ServedAddress[] {
  const served: ServedAddress[] = [];
  for (const server of servers) {
    const address = server.address();
    if (typeof address === 'string') served.push({ kind: 'unix', path: address });
    else if (address) served.push({ kind: 'tcp', address: address.address, family: address.family, port: address.port });
  }
  return served;
}

/** The addresses --bind names, before anything is bound (for --check-config). */
export function servedAddressesOfBind(bind: readonly BindAddress[]): ServedAddress[] {
  return bind.map((address) =>
    address.kind === 'unix'
      ? { kind: 'unix', path: address.path }
      : { kind: 'tcp', address: address.host, family: address.host.includes(':') ? 'IPv6' : 'IPv4', port: address.port },
  );
}

/** What an app finds in `process.env.PORT`: the first TCP port tsunicorn serves (nothing without one). */
export function portEnvironment(served: readonly ServedAddress[]): { PORT?: string } {
  const tcp = served.find((address) => address.kind === 'tcp');
  return tcp && tcp.port > 0 ? { PORT: String(tcp.port) } : {};
}

/** How long an app that exports nothing usable is given to call listen(): --timeout, or 30 s without one. */
export function listenWaitMs(settings: Pick<Settings, 'timeout'>): number {
  return (settings.timeout > 0 ? settings.timeout : 30) * 1000;
}

type AppServer = http.Server | https.Server;
type Listen = (this: net.Server, ...args: unknown[]) => net.Server;

/** What a listen() call asked for, read as Node reads its arguments (net.Server#listen). */
interface ListenRequest {
  port: number | undefined;
  host: string | undefined;
  path: string | undefined;
  /** listen(handle) or listen({ fd }): a socket the app opened itself. */
  handle: boolean;
  callback: ((error?: Error) => void) | undefined;
}

function readListenArguments(args: readonly unknown[]): ListenRequest {
  const last = args.at(-1);
  const callback = typeof last === 'function' ? (last as ListenRequest['callback']) : undefined;
  const given = callback ? args.slice(0, -1) : args;
  const first = given[0];
  const request: ListenRequest = { port: undefined, host: undefined, path: undefined, handle: false, callback };
  if (first !== null && typeof first === 'object') {
    const options = first as Record<string, unknown>;
    if ('_handle' in options || 'fd' in options || 'handle' in options) request.handle = true;
    if (typeof options.path === 'string') request.path = options.path;
    request.port = portNumber(options.port);
    if (typeof options.host === 'string') request.host = options.host;
  } else if (typeof first === 'string' && !/^\s*\d+\s*$/.test(first) && first !== '') {
    request.path = first;
  } else {
    request.port = portNumber(first);
    if (typeof given[1] === 'string') request.host = given[1];
  }
  return request;
}

/** A port as Node takes it (a number or a numeric string); undefined for none (Node picks one). */
function portNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) return Number(value);
  return undefined;
}

function describeRequest(request: ListenRequest): string {
  if (request.handle) return 'listen() on a socket it opened itself';
  if (request.path !== undefined) return `listen(${JSON.stringify(request.path)})`;
  return `listen(${request.port}${request.host === undefined ? '' : `, ${JSON.stringify(request.host)}`})`;
}

function describeServed(served: readonly ServedAddress[]): string {
  if (served.length === 0) return 'nothing yet';
  return served.map((address) => (address.kind === 'unix' ? `unix:${address.path}` : `${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`)).join(', ');
}

/** How often a worker looks whether the app is still starting, while it waits for a listen(). */
const STARTING_POLL_MS = 50;

export class AppListens {
  /** The server the worker serves (the first listen() on a served address). */
  server: AppServer | undefined;
  /** Refused listen() calls, one line each, until the worker serves. */
  readonly refusals: string[] = [];
  /** Called when the app closes the server it started (its close() or closeIdleConnections()). */
  onAppClose: (() => void) | undefined;
  /** After boot: where a refused listen() is reported (the worker's error log). */
  private report: ((line: string) => void) | undefined;
  private closeRequested: ((error?: Error) => void)[] = [];
  private appClosed = false;
  private waiting: ((server: AppServer) => void) | undefined;
  private baseline = new Map<string, number>();

  constructor(private readonly served: readonly ServedAddress[]) {}

  /** Takes over listen() of every http and https server from now on (in this process). */
  install(): void {
    // Node creates stdout and stderr lazily: an app's first console.log must not look like work it started.
    void process.stdout;
    void process.stderr;
    this.baseline = activeResources();
    // Both inherit listen() from net.Server; node:https is not loaded for it (an https server's code did).
    const inherited = Reflect.get(net.Server.prototype, 'listen') as Listen;
    const takeOver = (server: AppServer, args: unknown[]): boolean => this.listen(server, args);
    const listen = function (this: net.Server, ...args: unknown[]): net.Server {
      const appServer = this instanceof http.Server || isHttpsServer(this);
      return appServer && takeOver(this as AppServer, args) ? this : Reflect.apply(inherited, this, args);
    };
    Object.defineProperty(net.Server.prototype, 'listen', { value: listen, writable: true, configurable: true });
    // A worker is a plain child process, so cluster.isPrimary is true in it: an app written for
    // node:cluster would fork (and bind) a pool of its own in every worker.
    cluster.fork = () => {
      throw new Error("node:cluster's fork(): tsunicorn's master runs the workers (-w N); serve only the part of the app the cluster workers run");
    };
  }

  /** From now on a refused listen() is logged (the worker serves: it cannot fail its boot any more). */
  serving(report: (line: string) => void): void {
    this.report = report;
  }

  /** Throws the first refusal as the app's load error. */
  checkRefusals(): void {
    if (this.refusals.length > 0) throw new AppLoadError(this.refusals[0]!);
  }

  /**
   * Waits for the app's first listen() on a served address, as long as the app is still starting
   * something (a timer, a socket, a file it reads: what Fastify's plugins or a database connection do
   * before listen()) and for at most `limitMs`. Throws `nothing()` once it has nothing left to do.
   */
  async waitForServer(limitMs: number, nothing: (waitedMs: number) => AppLoadError): Promise<AppServer> {
    if (this.server) return this.server;
    const started = Date.now();
    let poll: NodeJS.Timeout | undefined;
    // The one timer of ours that counts as pending (and keeps a process with nothing else alive): the
    // deadline. The poll is unref'd, so Node never counts it.
    let deadline: NodeJS.Timeout | undefined;
    try {
      return await new Promise<AppServer>((resolve, reject) => {
        this.waiting = resolve;
        deadline = setTimeout(() => reject(nothing(Date.now() - started)), limitMs);
        let idleLooks = 0;
        poll = setInterval(() => {
          const refusal = this.refusals[0];
          if (refusal !== undefined) {
            reject(new AppLoadError(refusal));
            return;
          }
          // Two looks in a row with nothing of the app's pending: it is done, and did not listen.
          idleLooks = this.appStillStarting() ? 0 : idleLooks + 1;
          if (idleLooks >= 2) reject(nothing(Date.now() - started));
        }, STARTING_POLL_MS).unref();
      });
    } finally {
      clearInterval(poll);
      clearTimeout(deadline);
      this.waiting = undefined;
    }
  }

  private appStillStarting(): boolean {
    const now = activeResources();
    // Our own deadline timer.
    now.set('Timeout', (now.get('Timeout') ?? 1) - 1);
    for (const [kind, count] of now) if (count > (this.baseline.get(kind) ?? 0)) return true;
    return false;
  }

  /** The worker finishes: the app's close() callbacks and 'close' now, as Node reports a drained server. */
  emitClosed(): void {
    if (!this.server || !this.appClosed) return;
    const callbacks = this.closeRequested.splice(0);
    for (const callback of callbacks) callback();
    this.server.emit('close');
  }

  /** True when the call is taken over (the server is served or refused); false for Node's own listen(). */
  private listen(server: AppServer, args: readonly unknown[]): boolean {
    const request = readListenArguments(args);
    const match = this.servedMatch(request);
    if (match === undefined) {
      const line = this.refusal(request);
      if (this.report) {
        this.report(line);
        const error = Object.assign(new Error(line), { code: 'EADDRNOTAVAIL' });
        process.nextTick(() => {
          if (server.listenerCount('error') > 0) server.emit('error', error);
        });
      } else {
        this.refusals.push(line);
      }
      return true;
    }
    if (this.server === undefined) {
      this.server = server;
      this.waiting?.(server);
    }
    // Another server on the served port (Fastify listens on each address `localhost` has) is told it
    // listens too; the connections all go to the first one.
    this.pretendListening(server, match, server === this.server, request.callback);
    return true;
  }

  /** The served address a listen() names, or undefined when tsunicorn does not serve it. */
  private servedMatch(request: ListenRequest): ServedAddress | undefined {
    if (request.handle) return undefined;
    if (request.path !== undefined) return this.served.find((address) => address.kind === 'unix' && address.path === request.path);
    if (request.port === undefined || request.port === 0) return this.served[0] ?? { kind: 'tcp', address: '127.0.0.1', family: 'IPv4', port: 0 };
    return this.served.find((address) => address.kind === 'tcp' && (address.port === request.port || address.port === 0));
  }

  private refusal(request: ListenRequest): string {
    const port = portEnvironment(this.served).PORT;
    const where = request.path !== undefined ? `socket ${request.path}` : request.handle ? 'a socket of its own' : `port ${request.port}`;
    const hint = port === undefined
      ? 'call listen() with no port, or bind that address with -b'
      : `listen on process.env.PORT (${port} in the workers) or bind it with -b; a second server (an admin port) runs as its own process`;
    return `the app calls ${describeRequest(request)}, but tsunicorn serves ${describeServed(this.served)}, not ${where}: ${hint}`;
  }

  /** What Node's listen() leaves behind, without a socket: the callback, 'listening', `listening`, `address()`. */
  private pretendListening(server: AppServer, served: ServedAddress, primary: boolean, callback: ListenRequest['callback']): void {
    let listening = true;
    const address = served.kind === 'unix' ? served.path : { address: served.address, family: served.family, port: served.port };
    Object.defineProperty(server, 'listening', { get: () => listening, configurable: true });
    Object.defineProperty(server, 'address', { value: () => (listening ? address : null), writable: true, configurable: true });
    Object.defineProperty(server, 'close', {
      value: (done?: (error?: Error) => void): AppServer => {
        const wasListening = listening;
        listening = false;
        if (!primary) {
          // Never served anything: closed at once, as Node closes an idle server.
          process.nextTick(() => {
            done?.(wasListening ? undefined : Object.assign(new Error('Server is not running.'), { code: 'ERR_SERVER_NOT_RUNNING' }));
            if (wasListening) server.emit('close');
          });
          return server;
        }
        if (done) this.closeRequested.push(done);
        if (!this.appClosed) {
          this.appClosed = true;
          this.onAppClose?.();
        }
        return server;
      },
      writable: true,
      configurable: true,
    });
    if (primary) {
      // Node's closes the idle keep-alive connections at once, under a client that may be sending on
      // one; the worker's drain closes them once they stayed idle a moment.
      Object.defineProperty(server, 'closeIdleConnections', {
        value: () => this.onAppClose?.(),
        writable: true,
        configurable: true,
      });
    }
    if (callback) server.once('listening', callback);
    process.nextTick(() => server.emit('listening'));
  }
}

function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of activeResourceKinds()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}
