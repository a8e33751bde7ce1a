/**
 * The one place a strict server handles a request: every request whose head passed the scan goes through
 * `request()` once, and its response through `done()` once. In that order, and nowhere else, it decides
 * `Connection: close` (the one drain flag, or --keep-alive 0), counts the request, runs pre_request, calls
 * the app and answers 500 for an app that throws (or whose promise rejects); when the response has finished
 * or closed, the worker's statistics, post_request and the access log. The worker plugs its parts in; a server built without one
 * gets the same pipeline with none.
 *
 *   const pipeline = new RequestPipeline({ counted: () => ..., preRequest: (req) => ..., access: (entry) => ... });
 *   createStrictServer(app, { ...limits, pipeline });
 *   pipeline.draining = true;        // from now on every response says Connection: close and closes
 *
 * Per request it allocates nothing of its own: the state it needs lives on the response (GatedResponse,
 * the server's ServerResponse class), the parts are called as plain functions. Only an app that returns a
 * promise costs one rejection handler.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { closeAfterResponse } from '../node-internals.js';
import type { WorkerStats } from '../worker-stats.js';
import { HttpRejection } from './error-response.js';

/** What an Expect header asked for, as Node reported it (the 'checkContinue' / 'checkExpectation' events). */
export type Expectation = 0 | 1 | 2;
export const EXPECT_NONE = 0;
export const EXPECT_CONTINUE = 1;
export const EXPECT_UNSUPPORTED = 2;

/** Where the connection gate keeps a response's state (a field on the socket's gate, not a map). */
export interface ResponseOwner {
  responseDone(res: GatedResponse): void;
  /** Marks the connection as taken over by an upgrade listener. */
  upgraded: boolean;
}

/** The per-request state the gate and the pipeline keep, as fields of the response. */
export interface GatedResponse extends ServerResponse {
  /** The connection's gate, once the request passed the scan (null before). */
  owner: ResponseOwner | null;
  expectation: Expectation;
  /** The next request llhttp parsed on the same connection, still waiting for its scan. */
  nextPending: GatedResponse | null;
  /** Set once the response finished or closed (done() ran). */
  done: boolean;
  /** Body bytes passed to write() and end(). */
  bodyBytes: number;
  /** process.hrtime.bigint() when the pipeline took the request, when a part needs the time (else 0n). */
  startedAt: bigint;
  /** Answered by the server's own route (--health-path): no count, hooks, app or access log. */
  ownRoute: boolean;
  /** When the statistics started timing the request (performance.now(), ms; -1 when they did not). */
  statsStartedAt: number;
}

type ResponseClass = typeof ServerResponse;

/**
 * The server's ServerResponse class: `base` (Node's, or the one an app-built server brought) with the
 * state above as fields and the body bytes counted as they are written.
 */
function gated(base: ResponseClass): ResponseClass {
  class Gated extends base implements GatedResponse {
    owner: ResponseOwner | null = null;
    expectation: Expectation = EXPECT_NONE;
    nextPending: GatedResponse | null = null;
    done = false;
    bodyBytes = 0;
    startedAt = 0n;
    ownRoute = false;
    statsStartedAt = -1;

    override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
      this.bodyBytes += byteLength(chunk, encoding);
      return super.write(chunk, encoding as BufferEncoding, callback as (error: Error | null | undefined) => void);
    }

    override end(chunk?: unknown, encoding?: unknown, callback?: unknown): this {
      if (typeof chunk !== 'function') this.bodyBytes += byteLength(chunk, encoding);
      return super.end(chunk as string, encoding as BufferEncoding, callback as () => void);
    }
  }
  const made = Gated as unknown as ResponseClass;
  GATED.add(made);
  return made;
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

const GATED = new WeakSet<ResponseClass>();
const derived = new WeakMap<ResponseClass, ResponseClass>();
/** Node's own ServerResponse, gated. */
export const GatedServerResponse = gated(ServerResponse);

/** The gated class for a server whose ServerResponse class is `base` (made once per class). */
export function gatedResponseClass(base: ResponseClass): ResponseClass {
  if (base === ServerResponse) return GatedServerResponse;
  if (GATED.has(base)) return base;
  let made = derived.get(base);
  if (!made) {
    made = gated(base);
    derived.set(base, made);
  }
  return made;
}

/** What the access log (and anything else that reports a finished request) gets. */
export interface FinishedRequest {
  req: IncomingMessage;
  res: GatedResponse;
  /** process.hrtime.bigint() at start and end. */
  started: bigint;
  finished: bigint;
}

/** The parts a server's owner plugs in; each is optional and called as a plain function. */
export interface PipelineParts {
  /**
   * A route the server answers itself (--health-path), before everything else: not counted, no hooks, no
   * app, no access log; Connection: close applies as to any request.
   */
  ownRoute?: {
    matches: (req: IncomingMessage) => boolean;
    answer: (req: IncomingMessage, res: ServerResponse, draining: boolean) => void;
  };
  /** Each request passed on (to the app or an upgrade listener): the worker's --max-requests count. */
  counted?: () => void;
  pre_request?: (req: IncomingMessage) => void;
  /** When the response finished or closed, whichever comes first. */
  post_request?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Each response that finished (a closed one without finishing is not logged). */
  access?: (finished: FinishedRequest) => void;
  /** An app (or upgrade listener) that threw, or whose promise rejected; the 500 is the pipeline's. */
  appError?: (error: unknown, req: IncomingMessage) => void;
  /** The worker's statistics: each request passed to the app is started, and ended with its response. */
  stats?: WorkerStats;
}

type App = (req: IncomingMessage, res: ServerResponse) => unknown;
type Upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => unknown;

const INTERNAL_ERROR_BODY = 'Internal Server Error\n';

export class RequestPipeline {
  /**
   * The one drain flag (its owner, the worker, sets it): every request from now on is answered with
   * `Connection: close`, and Node closes its connection after the response.
   */
  draining = false;
  private app: App | undefined;
  private keepAlive = true;

  constructor(private readonly parts: PipelineParts = {}) {}

  /** Called once by the strict server that uses this pipeline. */
  attach(app: App, keepAlive: boolean): void {
    if (this.app) throw new Error('a RequestPipeline serves one server');
    this.app = app;
    this.keepAlive = keepAlive;
  }

  /** The one hook: each request whose head passed the scan, once. */
  request(req: IncomingMessage, res: GatedResponse): void {
    const parts = this.parts;
    if (parts.ownRoute && parts.ownRoute.matches(req)) {
      res.ownRoute = true;
      if (this.draining || !this.keepAlive) closeAfterResponse(res);
      parts.ownRoute.answer(req, res, this.draining);
      return;
    }
    if (parts.counted) parts.counted();
    // After the count: the request that reaches --max-requests starts the drain and closes its connection.
    if (this.draining || !this.keepAlive) closeAfterResponse(res);
    if (parts.access) res.startedAt = process.hrtime.bigint();
    if (parts.stats) res.statsStartedAt = parts.stats.started();
    if (parts.pre_request) parts.pre_request(req);
    let result: unknown;
    try {
      result = this.app!(req, res);
    } catch (error) {
      this.appFailed(error, req, res);
      return;
    }
    if (result !== undefined && result !== null && typeof (result as Promise<unknown>).then === 'function') {
      (result as Promise<unknown>).then(undefined, (error: unknown) => this.appFailed(error, req, res));
    }
  }

  /** Its response finished or closed (once, from the gate's one listener per response). */
  done(res: GatedResponse): void {
    if (res.ownRoute) return;
    const parts = this.parts;
    const req = res.req;
    if (parts.stats && res.statsStartedAt >= 0) parts.stats.ended(res.statusCode, res.statsStartedAt);
    if (parts.post_request) parts.post_request(req, res);
    if (parts.access && res.writableFinished) {
      parts.access({ req, res, started: res.startedAt, finished: process.hrtime.bigint() });
    }
  }

  /**
   * An upgrade an upgrade listener of the app takes (Node answers the others as plain requests): refused
   * while draining, otherwise counted and the connection left to the listener.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, owner: ResponseOwner | undefined, pass: Upgrade): void {
    if (this.draining) {
      socket.end(new HttpRejection(503, 'the worker is shutting down, connect again').responseBytes());
      return;
    }
    if (owner) owner.upgraded = true;
    if (this.parts.counted) this.parts.counted();
    try {
      pass(req, socket, head);
    } catch (error) {
      this.report(error, req);
      socket.destroy();
    }
  }

  /** The 500 for an app that failed (or a reset once its response started), in this one place. */
  private appFailed(error: unknown, req: IncomingMessage, res: ServerResponse): void {
    this.report(error, req);
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': INTERNAL_ERROR_BODY.length, Connection: 'close' });
    res.end(INTERNAL_ERROR_BODY);
  }

  private report(error: unknown, req: IncomingMessage): void {
    if (this.parts.appError) this.parts.appError(error, req);
    else console.error(`Error handling request ${req.url ?? ''}:`, error);
  }
}
