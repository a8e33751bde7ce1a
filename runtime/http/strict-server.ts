/**
 * The HTTP server a tsunicorn worker serves with: Node's own `http`/`https` (llhttp parses every message),
 * with a strict layer in front of the parser and bounds on slow clients.
 *
 *   const server = createStrictServer(app, {
 *     limitRequestLine: 4094, limitRequestFields: 100, limitRequestFieldSize: 8190, keepAliveSeconds: 5,
 *     onClientError: (message) => log.debug(message),
 *   });
 *   server.listen(0);                       // or server.emit('connection', socketFromMaster)
 *
 * Both paths get every check: the gate is installed from the server's own connection event.
 *
 * A server the app built itself (Socket.IO, ws, Fastify's `app.server`) is given as `options.server`: it
 * is configured in place instead (parser options, keep-alive, the gate) and keeps its own listeners.
 * Every 'request' passes the gate first and every 'clientError' is the layer's, whoever listens.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { ConnectionGate } from './connection-gate.js';
import { interceptEvent } from './event-intercept.js';
import { classifyClientError } from './error-response.js';
import { largestHead, resolveLimits } from './head-scanner.js';
import { ConnectionSweeper, DEFAULT_SLOW_CLIENT_TIMEOUTS, type SlowClientTimeouts } from './slow-client.js';

export interface HttpLimits {
  limitRequestLine: number;       // bytes, 0 = unlimited (already clamped to <= 8190 by settings)
  limitRequestFields: number;     // <= 32768
  limitRequestFieldSize: number;  // already mapped 0 -> 8190 by settings
  keepAliveSeconds: number;       // idle keep-alive timeout
}

export interface StrictServerOptions extends HttpLimits {
  onClientError?: (message: string) => void;  // for the error log (debug level)
  tls?: { cert: Buffer; key: Buffer };         // when set, an https server
  /** Slow-client bounds; the defaults (DEFAULT_SLOW_CLIENT_TIMEOUTS) suit production, tests shorten them. */
  slowClient?: Partial<SlowClientTimeouts>;
  /** A server the app built and did not start: gated in place of a new one (`tls` does not apply). */
  server?: http.Server | https.Server;
}

export type { SlowClientTimeouts } from './slow-client.js';
export { DEFAULT_SLOW_CLIENT_TIMEOUTS } from './slow-client.js';

/** Slack above the largest head the scanner lets through, so Node's own header cap never decides first. */
const PARSER_HEADER_SLACK = 4096;

/** Each socket's gate, kept on the socket itself: looked up once per request, cheaper than a WeakMap. */
const GATE = Symbol('tsunicorn.gate');
type GatedSocket = Duplex & { [GATE]?: ConnectionGate };

function gateOf(socket: Duplex | null): ConnectionGate | undefined {
  return socket ? (socket as GatedSocket)[GATE] : undefined;
}

export function createStrictServer(listener: http.RequestListener | undefined, options: StrictServerOptions): http.Server | https.Server {
  const limits = resolveLimits(options);
  const timeouts: SlowClientTimeouts = { ...DEFAULT_SLOW_CLIENT_TIMEOUTS, ...options.slowClient };
  const keepAliveMs = Math.max(0, Math.round(options.keepAliveSeconds * 1000));
  const sweeper = new ConnectionSweeper(timeouts);

  const serverOptions = {
    insecureHTTPParser: false,
    requireHostHeader: true,
    maxHeaderSize: largestHead(limits) + PARSER_HEADER_SLACK,
    // The gate keeps its own, exact deadlines (and covers a connection that never sends a byte); Node's
    // coarse interval check would only race it.
    headersTimeout: 0,
    requestTimeout: 0,
    keepAliveTimeout: keepAliveMs,
  } satisfies http.ServerOptions;

  let server: http.Server | https.Server;
  if (options.server) {
    server = adoptServer(options.server, serverOptions);
    if (listener) server.on('request', listener);
  } else if (options.tls) {
    server = https.createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: timeouts.headersTimeoutMs }, listener);
  } else {
    server = http.createServer(serverOptions, listener);
  }
  // The scanner enforces --limit-request-fields; Node's default of 2000 would silently drop the rest.
  server.maxHeadersCount = 0;
  server.keepAliveTimeout = keepAliveMs;

  interceptEvent<[http.IncomingMessage, http.ServerResponse]>(server, 'request', keepAliveMs === 0
    ? (pass, req, res) => {
      gateOf(req.socket)?.onRequest(req, res);
      // --keep-alive 0: every response closes its connection (Node would read 0 as "never time out").
      res.shouldKeepAlive = false;
      return pass(req, res);
    }
    : (pass, req, res) => {
      gateOf(req.socket)?.onRequest(req, res);
      return pass(req, res);
    });

  // Registered after Node's own connection listener (added by the constructor), so the parser exists.
  const attach = (socket: Socket) => {
    const gate = ConnectionGate.attach(socket, {
      limits,
      timeouts,
      log: options.onClientError,
      onClose: (closed) => sweeper.remove(closed),
    });
    if (!gate) return;
    (socket as GatedSocket)[GATE] = gate;
    sweeper.add(gate);
  };
  server.on(isTlsServer(server) ? 'secureConnection' : 'connection', attach);

  // The layer answers client errors itself: a 'clientError' listener of the app never writes a second reply.
  interceptEvent<[NodeJS.ErrnoException & { reason?: string }, Duplex]>(server, 'clientError', (_pass, error, socket) => {
    const gate = gateOf(socket);
    const action = classifyClientError(error.code, error.reason, gate?.inRequestLine ?? true);
    if (!gate) {
      socket.destroy();
      return true;
    }
    if (action.kind === 'respond') gate.fail(action.rejection);
    else if (action.kind === 'ignore') gate.ignoreFurtherInput();
    else gate.cutOff(`connection error (${error.code ?? 'unknown'})`, false);
    return true;
  });

  return server;
}

export function isTlsServer(server: http.Server | https.Server): server is https.Server {
  return server instanceof tls.Server;
}

/**
 * Gives a server the app built the parser options a new one would get. Node reads them from the server
 * for every connection it sets up (`storeHTTPOptions` keeps them as own properties, set by the constructor),
 * so assigning them before the first connection has the effect of passing them to createServer().
 */
function adoptServer(server: http.Server | https.Server, serverOptions: Required<Pick<http.ServerOptions, 'insecureHTTPParser' | 'requireHostHeader' | 'maxHeaderSize' | 'headersTimeout' | 'requestTimeout' | 'keepAliveTimeout'>>): http.Server | https.Server {
  const settable = server as unknown as Record<string, unknown>;
  for (const name of ['insecureHTTPParser', 'requireHostHeader', 'maxHeaderSize'] as const) {
    if (!Object.hasOwn(server, name)) {
      throw new Error(`this Node's http.Server has no ${name} property to configure (tsunicorn supports Node 20.19, 22 and 24)`);
    }
    settable[name] = serverOptions[name];
  }
  server.headersTimeout = serverOptions.headersTimeout;
  server.requestTimeout = serverOptions.requestTimeout;
  return server;
}
