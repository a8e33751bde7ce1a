/**
 * One client connection of the strict server, and the one owner of its state: the requests it carries,
 * the responses still open, its slow-client deadlines, how it closes after an error, and the marks the
 * worker sets or reads (draining, upgraded).
 *
 * Node's llhttp keeps reading the socket natively (no JavaScript 'data' listener, which would cost 10-20%
 * of a small request's throughput). After each read llhttp parsed, the gate scans a copy of the same bytes
 * (HeadScanner for heads, ChunkedFraming for chunked bodies) before Node handles the read, and only then
 * releases each request llhttp parsed to the app: a request whose head fails the scan never reaches it.
 *
 *   const gate = ConnectionGate.attach(socket, options);   // from the server's 'connection' listener
 *   gate.parsed(req, res, 'none');                         // from 'request' (and the Expect events)
 *   gate.fail(new HttpRejection(400, '...'));              // from 'clientError'
 *   gate.draining = true;                                  // from now on every response closes it
 *
 * Error responses keep HTTP's order: responses to earlier pipelined requests are finished first, then the
 * error is written, the socket is ended (FIN) and input is read and discarded for a short linger time, so
 * the client reads the response instead of a reset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import {
  closeAfterResponse, handleWriteQueueSize, httpParserOf, keepsAlive, onParserExecute, parserCurrentBuffer, parsesNatively,
  takeSocketInput, type NativeHttpParser,
} from '../node-internals.js';
import { ChunkedFraming } from './chunked-framing.js';
import { HttpRejection } from './error-response.js';
import { HeadScanner } from './head-scanner.js';
import type { HeadLimits } from './limits.js';
import type { SlowClientTimeouts } from './slow-client.js';

type Mode =
  /** Scanning the next request head. */
  | 'head'
  /** Following a Content-Length body. */
  | 'length-body'
  /** Following a chunked body. */
  | 'chunked-body'
  /** The last request asked to close: later input is not looked at (Node closes after the response). */
  | 'ignore'
  /** An error response is queued or sent, or the connection is being cut off. */
  | 'closing'
  /** Node took the socket over (upgrade / CONNECT): the gate is out of the way. */
  | 'detached';

/** What an Expect header asked for, as Node reported it (the 'checkContinue' / 'checkExpectation' events). */
export type Expectation = 'none' | 'continue' | 'unsupported';

interface Exchange {
  gate: ConnectionGate;
  req: IncomingMessage;
  res: ServerResponse;
  expectation: Expectation;
  done: boolean;
}

/** What the worker sees of a connection (and may mark: draining). */
export interface ConnectionState {
  readonly socket: Socket;
  /** When the connection was accepted (ms since the epoch). */
  readonly acceptedAt: number;
  /** Requests released to the app so far. */
  readonly requests: number;
  /** Responses released to the app that have neither finished nor closed. */
  readonly active: number;
  /** When the last response finished (acceptedAt before the first); null while one is open. */
  readonly idleSince: number | null;
  /** Node handed the socket to an 'upgrade' or 'connect' listener: no more HTTP on it (the owner may mark it first). */
  upgraded: boolean;
  /** Set by the owner: every response from now on carries `Connection: close`. */
  draining: boolean;
}

/** Where a response finds its exchange, so one shared listener serves every response (no closure per request). */
const EXCHANGE = Symbol('tsunicorn.exchange');
type TrackedResponse = ServerResponse & { [EXCHANGE]?: Exchange };

function onResponseDone(this: TrackedResponse): void {
  const exchange = this[EXCHANGE];
  if (exchange && !exchange.done) exchange.gate.exchangeDone(exchange);
}

export interface GateOptions {
  limits: HeadLimits;
  timeouts: SlowClientTimeouts;
  /** Hands a request whose head passed on, as Node would have (to the app's listeners). */
  release: (req: IncomingMessage, res: ServerResponse, expectation: Expectation) => void;
  /** false for --keep-alive 0: every response closes its connection. */
  keepAlive: boolean;
  /** Called once per rejected or cut-off connection with a one-line description. */
  log?: (message: string) => void;
  /** Told once, when the connection closed. */
  onClose?: (gate: ConnectionGate) => void;
}

const discard = (): void => undefined;

export class ConnectionGate implements ConnectionState {
  /**
   * Puts a gate on a socket Node's 'connection' (or 'secureConnection') listener has just set up. Throws
   * when Node does not parse the socket natively: the gate would never see its bytes.
   */
  static attach(socket: Socket, options: GateOptions): ConnectionGate {
    const parser = httpParserOf(socket);
    if (!parser || !parsesNatively(parser)) {
      throw new Error("Node's HTTP parser does not read this socket natively; the strict HTTP layer cannot check it");
    }
    const gate = new ConnectionGate(socket, parser, options);
    onParserExecute(parser, (ret, nodeHandling) => gate.afterParse(ret, nodeHandling));
    socket.once('close', () => gate.closed());
    return gate;
  }

  readonly acceptedAt = Date.now();
  requests = 0;
  active = 0;
  idleSince: number | null = this.acceptedAt;
  upgraded = false;
  draining = false;

  private mode: Mode = 'head';
  private readonly scanner: HeadScanner;
  private readonly framing = new ChunkedFraming();
  /** Requests llhttp parsed whose head the scan has not passed yet, oldest first. */
  private pending: Exchange[] = [];
  /** The exchange whose body is being followed. */
  private current: Exchange | undefined;
  private bodyRemaining = 0;
  private headStartedAt: number | null = null;
  private lastBodyActivity = 0;
  private stallSince: number | null = null;
  private lastCompleted = 0;
  private lastQueued = 0;
  private pendingRejection: { rejection: HttpRejection; broken: Exchange | undefined } | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly socket: Socket,
    private readonly parser: NativeHttpParser,
    private readonly options: GateOptions,
  ) {
    this.scanner = new HeadScanner(options.limits);
  }

  /** True while the current request line is incomplete (for classifying parser overflows). */
  get inRequestLine(): boolean {
    return this.mode === 'head' && this.scanner.inRequestLine;
  }

  /** Node parsed a request (its 'request', 'checkContinue' or 'checkExpectation' event): held until scanned. */
  parsed(req: IncomingMessage, res: ServerResponse, expectation: Expectation): void {
    this.pending.push({ gate: this, req, res, expectation, done: false });
  }

  /** A response finished or closed (called once per exchange). */
  exchangeDone(exchange: Exchange): void {
    exchange.done = true;
    if (--this.active === 0) this.idleSince = Date.now();
    if (this.pendingRejection) this.sendRejectionWhenReady();
  }

  /** Answers with an error and closes, after the responses already owed on this connection. */
  fail(rejection: HttpRejection): void {
    if (this.mode === 'closing' || this.mode === 'detached') return;
    const inBody = this.mode === 'length-body' || this.mode === 'chunked-body';
    this.mode = 'closing';
    this.pending = [];
    this.log(`${rejection.status} ${rejection.reason}: ${rejection.detail}`);
    this.pendingRejection = { rejection, broken: inBody ? this.current : undefined };
    // llhttp sees nothing more; input is read and discarded so the client's FIN is seen and no unread
    // input turns into a reset.
    takeSocketInput(this.socket, discard);
    if (this.socket.isPaused()) this.socket.resume();
    this.sendRejectionWhenReady();
  }

  /** Stops looking at input; Node closes the connection after the responses it owes. */
  ignoreFurtherInput(): void {
    if (this.mode === 'closing' || this.mode === 'detached') return;
    this.mode = 'ignore';
    this.pending = [];
  }

  /** Ends the connection at once, without a response. */
  cutOff(message: string, reset: boolean): void {
    if (this.mode === 'detached') return;
    this.mode = 'closing';
    this.pending = [];
    this.log(message);
    const socket = this.socket;
    if (reset && !(socket instanceof TLSSocket) && typeof socket.resetAndDestroy === 'function') {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        // Not a TCP handle (for example a pipe): a plain close below.
      }
    }
    socket.destroy();
  }

  sweep(now: number): void {
    if (this.socket.destroyed || this.mode === 'detached') return;
    const { headersTimeoutMs, bodyIdleTimeoutMs } = this.options.timeouts;
    if (this.mode === 'head') {
      const since = this.headStartedAt ?? (this.requests === 0 && this.pending.length === 0 ? this.acceptedAt : null);
      if (since !== null && now - since >= headersTimeoutMs) {
        if (this.headStartedAt === null) {
          this.cutOff(`no request received within ${headersTimeoutMs / 1000} s; connection closed`, false);
        } else {
          this.fail(new HttpRejection(408, `request head not complete within ${headersTimeoutMs / 1000} s`));
        }
        return;
      }
    } else if (this.mode === 'length-body' || this.mode === 'chunked-body') {
      // A paused socket waits for the app to read, not for the client.
      if (this.socket.isPaused()) this.lastBodyActivity = now;
      else if (now - this.lastBodyActivity >= bodyIdleTimeoutMs) {
        this.fail(new HttpRejection(408, `request body stalled for ${bodyIdleTimeoutMs / 1000} s`));
        return;
      }
    }
    this.checkWriteStall(now);
  }

  private checkWriteStall(now: number): void {
    const socket = this.socket;
    const buffered = socket.writableLength;
    const queued = handleWriteQueueSize(socket);
    if (buffered === 0 && queued === 0) {
      this.stallSince = null;
      return;
    }
    // Bytes whose write completed, and bytes libuv still holds: either moving means the client reads.
    const completed = socket.bytesWritten - buffered;
    const progressed = this.stallSince === null || completed !== this.lastCompleted || queued < this.lastQueued;
    this.lastCompleted = completed;
    this.lastQueued = queued;
    if (progressed) {
      this.stallSince = now;
      return;
    }
    const limit = this.options.timeouts.writeStallTimeoutMs;
    if (now - this.stallSince! >= limit) {
      this.cutOff(`client stopped reading the response for ${limit / 1000} s; connection reset`, true);
    }
  }

  /**
   * After llhttp parsed a read: scan the same bytes, release the requests whose heads passed, then let Node
   * handle the read (parse errors, upgrades, pausing) unless the scan already rejected the connection.
   */
  private afterParse(ret: number | Error, nodeHandling: (ret: number | Error) => unknown): void {
    if (this.mode === 'head' || this.mode === 'length-body' || this.mode === 'chunked-body') {
      // A parse error stops llhttp at bytesParsed: heads starting after it were never parsed.
      const stopAt = ret instanceof Error ? (ret as Error & { bytesParsed?: number }).bytesParsed ?? 0 : Infinity;
      this.scan(parserCurrentBuffer(this.parser), stopAt);
    }
    if (this.mode === 'closing') return;
    nodeHandling(ret);
    if (httpParserOf(this.socket) !== this.parser && (this.mode as Mode) !== 'closing') {
      // Node freed its parser: an upgrade or CONNECT went to its listener (or was refused and destroyed).
      // The gate stays in its table until the socket closes: an upgraded connection is still open work.
      this.mode = 'detached';
      this.upgraded = true;
      this.pending = [];
    }
  }

  private scan(bytes: Buffer, stopAt: number): void {
    let data = bytes;
    while (data.length > 0) {
      switch (this.mode) {
        case 'head': {
          if (this.scanner.idle && bytes.length - data.length > stopAt) return;
          const result = this.scanner.feed(data);
          if (result.kind === 'partial') {
            // The clock starts at the head's first byte; a head that completes in the read it starts in
            // (the usual case) never needs it.
            if (this.headStartedAt === null && !this.scanner.idle) this.headStartedAt = Date.now();
            return;
          }
      if (result.kind === 'reject') {
            this.fail(result.rejection);
            return;
          }
          this.headStartedAt = null;
          this.scanner.reset();
          const exchange = this.pending.shift();
          // No request for this head: Node kept it for an upgrade listener (what follows is not HTTP), or
          // llhttp rejected it and Node reports that next.
          if (!exchange) return;
          this.current = exchange;
          this.dispatch(exchange);
          if (this.mode !== 'head') return;
          const head = result.head;
          if (head.chunked) {
            this.mode = 'chunked-body';
            this.framing.reset();
            this.lastBodyActivity = Date.now();
          } else if (head.contentLength !== null && head.contentLength > 0) {
            this.mode = 'length-body';
            this.bodyRemaining = head.contentLength;
            this.lastBodyActivity = Date.now();
          } else {
            this.messageEnded();
          }
          data = result.rest;
          break;
        }
        case 'length-body': {
          const take = Math.min(this.bodyRemaining, data.length);
          this.bodyRemaining -= take;
          this.lastBodyActivity = Date.now();
          data = data.subarray(take);
          if (this.bodyRemaining === 0) {
            // llhttp stopped inside this body: the message is broken, not ended (Node reports why next).
            if (bytes.length - data.length > stopAt) return;
            this.messageEnded();
          }
          break;
        }
        case 'chunked-body': {
          const step = this.framing.feed(data);
          this.lastBodyActivity = Date.now();
          if (step.state !== 'more' && bytes.length - data.length + step.used > stopAt) return;
          if (step.state === 'invalid') {
            this.fail(new HttpRejection(400, 'malformed chunked body'));
            return;
          }
          if (step.state === 'forbidden-trailer') {
            this.fail(new HttpRejection(400, `${step.trailer} field sent as a trailer`));
            return;
          }
          data = data.subarray(step.used);
          if (step.state === 'done') this.messageEnded();
          break;
        }
        default:
          return;
      }
    }
  }

  /** Hands a request whose head passed to the app. */
  private dispatch(exchange: Exchange): void {
    const { req, res } = exchange;
    this.requests++;
    this.active++;
    this.idleSince = null;
    (res as TrackedResponse)[EXCHANGE] = exchange;
    res.on('finish', onResponseDone);
    res.on('close', onResponseDone);
    if (this.draining || !this.options.keepAlive) closeAfterResponse(res);
    this.options.release(req, res, exchange.expectation);
  }

  private messageEnded(): void {
    const keepAlive = this.current ? keepsAlive(this.current.res) : true;
    this.current = undefined;
    this.mode = keepAlive ? 'head' : 'ignore';
  }

  private sendRejectionWhenReady(): void {
    const pending = this.pendingRejection;
    if (!pending) return;
    // Every earlier response must be out first; only the one whose body broke may still be open.
    const brokenOpen = pending.broken !== undefined && !pending.broken.done ? 1 : 0;
    if (this.active > brokenOpen) return;
    this.pendingRejection = undefined;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (!socket.writable || pending.broken?.res.headersSent) {
      // The client asked to close, or the app already answered part of this request: nothing can follow.
      socket.destroy();
      return;
    }
    socket.end(pending.rejection.responseBytes());
    this.lingerTimer = setTimeout(() => socket.destroy(), this.options.timeouts.lingerMs);
    this.lingerTimer.unref();
  }

  private closed(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.pending = [];
    this.options.onClose?.(this);
  }

  private log(detail: string): void {
    if (!this.options.log) return;
    const address = this.socket.remoteAddress ?? 'unknown';
    this.options.log(`Invalid or slow request from ${address}: ${detail}`);
  }
}
