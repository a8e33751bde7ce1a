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
 *
 * Each request whose head passed goes to the server's RequestPipeline (`options.pipeline`, see
 * request-pipeline.ts), the one place that decides Connection: close, runs the hooks, calls the app and
 * answers its errors. The server's events are intercepted once, in one `emit` of its own.
 */
import http from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkNodeInternals, setParserOptions, setServerResponseClass, type ParserOptions } from '../node-internals.js';
import { ConnectionGate } from './connection-gate.js';
import { ConnectionTable } from './connection-table.js';
import { classifyClientError } from './error-response.js';
import { parserHeaderBudget, resolveLimits, type HttpLimits } from './limits.js';
import {
  EXPECT_CONTINUE, EXPECT_NONE, EXPECT_UNSUPPORTED, GatedServerResponse, gatedResponseClass, RequestPipeline,
  type GatedResponse,
} from './request-pipeline.js';
import { DEFAULT_SLOW_CLIENT_TIMEOUTS, type SlowClientTimeouts } from './slow-client.js';
import { httpsModule, isTlsServer } from './tls-modules.js';

export interface StrictServerOptions extends HttpLimits {
  onClientError?: (message: string) => void;  // for the error log (debug level)
  tls?: { cert: Buffer; key: Buffer };         // when set, an https server
  /** Slow-client bounds; the defaults (DEFAULT_SLOW_CLIENT_TIMEOUTS) suit production, tests shorten them. */
  slowClient?: Partial<SlowClientTimeouts>;
  /** A server the app built and did not start: gated in place of a new one (`tls` does not apply). */
  server?: http.Server | https.Server;
  /** Where the server keeps its connections (one is made when not given). */
  connections?: ConnectionTable;
  /** What the server does with each request that passed (one with no parts when not given). */
  pipeline?: RequestPipeline;
}

export type { HttpLimits } from './limits.js';
export type { SlowClientTimeouts } from './slow-client.js';
export { DEFAULT_SLOW_CLIENT_TIMEOUTS } from './slow-client.js';

type Emit = (this: http.Server, name: string | symbol, ...args: unknown[]) => boolean;
const ignore = (): void => undefined;

export function createStrictServer(listener: http.RequestListener | undefined, options: StrictServerOptions): http.Server | https.Server {
  checkNodeInternals();
  const limits = resolveLimits(options);
  const timeouts: SlowClientTimeouts = { ...DEFAULT_SLOW_CLIENT_TIMEOUTS, ...options.slowClient };
  const keepAliveMs = Math.max(0, Math.round(options.keepAliveSeconds * 1000));
  const connections = options.connections ?? new ConnectionTable();
  const pipeline = options.pipeline ?? new RequestPipeline();

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
    // Each response carries the gate's and the pipeline's per-request state as fields.
    ServerResponse: GatedServerResponse,
  } satisfies http.ServerOptions;

  let server: http.Server | https.Server;
  if (options.server) {
    server = adoptServer(options.server, serverOptions);
    if (listener) server.on('request', listener);
  } else if (options.tls) {
    server = httpsModule().createServer({ ...serverOptions, cert: options.tls.cert, key: options.tls.key, handshakeTimeout: timeouts.headersTimeoutMs });
  } else {
    server = http.createServer(serverOptions);
  }
  // The scan enforces --limit-request-fields; Node's default of 2000 would silently drop the rest.
  server.maxHeadersCount = 0;
  server.keepAliveTimeout = keepAliveMs;

  // One interception of the server's events, installed once: Node emits each request as soon as llhttp
  // parsed its head; the gate holds it until its bytes were scanned and then hands it to the pipeline.
  // Expect headers come as their own events (Node emits them only to a listener, hence the empty ones),
  // so that Node writes no 100 Continue or 417 first. A 'clientError' listener of the app never writes a
  // second reply: the layer answers client errors itself.
  const emit = Reflect.get(server, 'emit') as Emit;
  server.on('checkContinue', ignore);
  server.on('checkExpectation', ignore);
  const held = (res: GatedResponse, expectation: typeof EXPECT_NONE | typeof EXPECT_CONTINUE | typeof EXPECT_UNSUPPORTED): void => {
    const gate = connections.gateOf(res.req.socket);
    if (gate) gate.parsed(res, expectation);
    else res.destroy();
  };
  server.emit = function (this: http.Server, name: string | symbol, a?: unknown, b?: unknown, c?: unknown): boolean {
    switch (name) {
      case 'request':
        held(b as GatedResponse, EXPECT_NONE);
        return true;
      case 'checkContinue':
        held(b as GatedResponse, EXPECT_CONTINUE);
        return true;
      case 'checkExpectation':
        held(b as GatedResponse, EXPECT_UNSUPPORTED);
        return true;
      case 'clientError': {
        const error = a as NodeJS.ErrnoException & { reason?: string };
        const socket = b as Duplex;
        const gate = connections.gateOf(socket);
        if (!gate) {
          socket.destroy();
          return true;
        }
        const action = classifyClientError(error.code, error.reason, gate.inRequestLine, gate.inChunkedBody);
        if (action.kind === 'respond') gate.fail(action.rejection);
        else if (action.kind === 'ignore') gate.ignoreFurtherInput();
        else gate.cutOff(`connection error (${error.code ?? 'unknown'})`, false);
        return true;
      }
      case 'upgrade': {
        const req = a as http.IncomingMessage;
        pipeline.upgrade(req, b as Duplex, c as Buffer, connections.gateOf(req.socket), passUpgrade);
        return true;
      }
      default:
        // Every other event as it came, with its own arguments (no array built for the frequent ones above).
        // eslint-disable-next-line prefer-rest-params
        return Reflect.apply(emit, this, arguments) as boolean;
    }
  } as typeof server.emit;
  const passUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): boolean => emit.call(server, 'upgrade', req, socket, head);

  /** The app's call for a request whose head passed: what Node would have done with it (the app's own Expect listeners first). */
  const emitRequest = (req: http.IncomingMessage, res: http.ServerResponse): unknown => emit.call(server, 'request', req, res);
  // A server tsunicorn built calls its listener directly (the pipeline sees the promise an async app
  // returns); a server the app built keeps its own 'request' listeners.
  const app = listener && !options.server ? listener : emitRequest;
  pipeline.attach((req, res) => {
    const expectation = (res as GatedResponse).expectation;
    if (expectation === EXPECT_NONE) return app(req, res);
    if (expectation === EXPECT_CONTINUE) {
      if (server.listenerCount('checkContinue') > 1) return emit.call(server, 'checkContinue', req, res);
      res.writeContinue();
      return app(req, res);
    }
    if (server.listenerCount('checkExpectation') > 1) return emit.call(server, 'checkExpectation', req, res);
    res.writeHead(417).end();
    return undefined;
  }, keepAliveMs > 0);

  // Registered after Node's own connection listener (added by the constructor), so the parser exists.
  server.on(isTlsServer(server) ? 'secureConnection' : 'connection', (socket: Socket) => {
    let gate: ConnectionGate;
    try {
      gate = ConnectionGate.attach(socket, {
        limits,
        timeouts,
        pipeline,
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

  return server;
}

/** Gives a server the app built the options a server tsunicorn creates gets (its parser's and its response class, through node-internals). */
function adoptServer(server: http.Server | https.Server, serverOptions: ParserOptions & Required<Pick<http.ServerOptions, 'headersTimeout' | 'requestTimeout'>>): http.Server | https.Server {
  setParserOptions(server, serverOptions);
  setServerResponseClass(server, gatedResponseClass);
  server.headersTimeout = serverOptions.headersTimeout;
  server.requestTimeout = serverOptions.requestTimeout;
  return server;
}
