/**
 * The HTTP server a tsunicorn worker serves with: Node's own `http`/`https` (llhttp parses every message,
 * reading the socket natively), with a strict check of the same bytes before a request reaches the app,
 * and bounds on slow clients.
 *
 *   const connections = new ConnectionTable({ onClose: (connection) => ... });
 *   const server = createStrictServer(app, {
 *     limitRequestLine: 4094, limitRequestFields: 100, limitRequestFieldSize: 8190, keepAliveSeconds: 5,
 *     onClientError: (message) => log.debug(message), connections,
 *   });
 *   server.listen(0);                       // or server.emit('connection', socketFromMaster)
 *
 * Both paths get every check: the gate is installed from the server's own connection event. Throws a
 * BootError when this Node.js lacks an internal the checks need (see node-internals.ts).
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
import { checkNodeInternals, setParserOptions, type ParserOptions } from '../node-internals.js';
import { ConnectionGate, type Expectation } from './connection-gate.js';
import { ConnectionTable } from './connection-table.js';
import { interceptEvent } from './event-intercept.js';
import { classifyClientError } from './error-response.js';
import { parserHeaderBudget, resolveLimits, type HttpLimits } from './limits.js';
import { DEFAULT_SLOW_CLIENT_TIMEOUTS, type SlowClientTimeouts } from './slow-client.js';

export interface StrictServerOptions extends HttpLimits {
  onClientError?: (message: string) => void;  // for the error log (debug level)
  tls?: { cert: Buffer; key: Buffer };         // when set, an https server
  /** Slow-client bounds; the defaults (DEFAULT_SLOW_CLIENT_TIMEOUTS) suit production, tests shorten them. */
  slowClient?: Partial<SlowClientTimeouts>;
  /** A server the app built and did not start: gated in place of a new one (`tls` does not apply). */
  server?: http.Server | https.Server;
  /** Where the server keeps its connections (one is made when not given). */
  connections?: ConnectionTable;
  /** Runs for each request the strict layer passed, before the server's 'request' listeners; `pass` emits to them. */
  beforeApp?: (pass: (req: http.IncomingMessage, res: http.ServerResponse) => boolean, req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export type { HttpLimits } from './limits.js';
export type { SlowClientTimeouts } from './slow-client.js';
export { DEFAULT_SLOW_CLIENT_TIMEOUTS } from './slow-client.js';

type RequestArgs = [http.IncomingMessage, http.ServerResponse];
const ignore = (): void => undefined;

export function createStrictServer(listener: http.RequestListener | undefined, options: StrictServerOptions): http.Server | https.Server {
  checkNodeInternals();
  const limits = resolveLimits(options);
  const timeouts: SlowClientTimeouts = { ...DEFAULT_SLOW_CLIENT_TIMEOUTS, ...options.slowClient };
  const keepAliveMs = Math.max(0, Math.round(options.keepAliveSeconds * 1000));
  const connections = options.connections ?? new ConnectionTable();

  const serverOptions = {
    insecureHTTPParser: false,
    // The scan answers a missing Host (with a body saying so) before the app would see the request.
    requireHostHeader: false,
    maxHeaderSize: parserHeaderBudget(limits),
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
  // The scan enforces --limit-request-fields; Node's default of 2000 would silently drop the rest.
  server.maxHeadersCount = 0;
  server.keepAliveTimeout = keepAliveMs;

  // Node emits each request as soon as llhttp parsed its head; the gate holds it until its bytes were
  // scanned, then emits it to whoever listens. Expect headers come as their own events (Node emits them
  // only to a listener, hence the empty ones), so that Node writes no 100 Continue or 417 first.
  const held = (expectation: Expectation) => (_pass: unknown, req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const gate = connections.gateOf(req.socket);
    if (gate) gate.parsed(req, res, expectation);
    else res.destroy();
    return true;
  };
  const emitRequest = interceptEvent<RequestArgs>(server, 'request', held('none'));
  server.on('checkContinue', ignore);
  server.on('checkExpectation', ignore);
  const emitCheckContinue = interceptEvent<RequestArgs>(server, 'checkContinue', held('continue'));
  const emitCheckExpectation = interceptEvent<RequestArgs>(server, 'checkExpectation', held('unsupported'));
  /** What Node would have done with a request whose head passed (the app's own Expect listeners first). */
  const release = (req: http.IncomingMessage, res: http.ServerResponse, expectation: Expectation): void => {
    if (expectation === 'continue') {
      if (server.listenerCount('checkContinue') > 1) {
        emitCheckContinue(req, res);
        return;
      }
      res.writeContinue();
    } else if (expectation === 'unsupported') {
      if (server.listenerCount('checkExpectation') > 1) emitCheckExpectation(req, res);
      else res.writeHead(417).end();
      return;
    }
    if (options.beforeApp) options.beforeApp(emitRequest, req, res);
    else emitRequest(req, res);
  };

  // Registered after Node's own connection listener (added by the constructor), so the parser exists.
  server.on(isTlsServer(server) ? 'secureConnection' : 'connection', (socket: Socket) => {
    let gate: ConnectionGate;
    try {
      gate = ConnectionGate.attach(socket, {
        limits,
        timeouts,
        release,
        keepAlive: keepAliveMs > 0,
        log: options.onClientError,
        onClose: (closed) => connections.remove(closed),
      });
    } catch (error) {
      // Never serve a connection the checks cannot see.
      options.onClientError?.(`connection closed unchecked: ${(error as Error).message}`);
      socket.destroy();
      return;
    }
    connections.add(gate, timeouts);
  });

  // The layer answers client errors itself: a 'clientError' listener of the app never writes a second reply.
  interceptEvent<[NodeJS.ErrnoException & { reason?: string }, Duplex]>(server, 'clientError', (_pass, error, socket) => {
    const gate = connections.gateOf(socket);
    if (!gate) {
      socket.destroy();
      return true;
    }
    const action = classifyClientError(error.code, error.reason, gate.inRequestLine);
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

/** Gives a server the app built the options a server tsunicorn creates gets (its parser's through node-internals). */
function adoptServer(server: http.Server | https.Server, serverOptions: ParserOptions & Required<Pick<http.ServerOptions, 'headersTimeout' | 'requestTimeout'>>): http.Server | https.Server {
  setParserOptions(server, serverOptions);
  server.headersTimeout = serverOptions.headersTimeout;
  server.requestTimeout = serverOptions.requestTimeout;
  return server;
}
