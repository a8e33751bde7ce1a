/**
 * The connection-policy part of a strict connection, and the one owner of its state: the requests llhttp
 * parsed and the scan has not passed yet, the responses still open, the slow-client deadlines, how it
 * closes after an error (linger), and whether an upgrade took it over. The bytes themselves are judged by
 * MessageFraming (the pure part); each request that passes goes to the server's RequestPipeline.
 *
 * Node's llhttp keeps reading the socket natively (no JavaScript 'data' listener, which would cost 10-20%
 * of a small request's throughput). After each read llhttp parsed, the gate hands a copy of the same bytes
 * to its framing before Node handles the read, and only then releases each request llhttp parsed: a
 * request whose head fails the scan never reaches the app.
 *
 *   const gate = ConnectionGate.attach(socket, options);   // from the server's 'connection' listener
 *   gate.parsed(res, EXPECT_NONE);                         // from 'request' (and the Expect events)
 *   gate.fail(new HttpRejection(400, '...'));              // from 'clientError'
 *
 * Error responses keep HTTP's order: responses to earlier pipelined requests are finished first, then the
 * error is written, the socket is ended (FIN) and input is read and discarded for a short linger time, so
 * the client reads the response instead of a reset.
 */
import type { Socket } from 'node:net';
import {
  handleWriteQueueSize, httpParserOf, keepsAlive, onParserExecute, parserCurrentBuffer, parsesNatively,
  takeSocketInput, type NativeHttpParser,
} from '../node-internals.js';
import { HttpRejection } from './error-response.js';
import type { HeadLimits } from './limits.js';
import { MessageFraming, type FramingSink } from './message-framing.js';
import type { Expectation, GatedResponse, RequestPipeline, ResponseOwner } from './request-pipeline.js';
import type { SlowClientTimeouts } from './slow-client.js';
import { isTlsSocket } from './tls-modules.js';

/** Reading and judging requests. */
const OPEN = 0;
/** The last request asked to close: later input is not looked at (Node closes after the response). */
const IGNORE = 1;
/** An error response is queued or sent, or the connection is being cut off. */
const CLOSING = 2;
/** Node took the socket over (upgrade / CONNECT): the gate is out of the way. */
const DETACHED = 3;
type Mode = typeof OPEN | typeof IGNORE | typeof CLOSING | typeof DETACHED;

/** What the worker sees of a connection. */
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
  /** Node handed the socket to an 'upgrade' or 'connect' listener: no more HTTP on it. */
  upgraded: boolean;
}

/** The one listener every response gets (no closure per request): its state is on the response. */
function onResponseClose(this: GatedResponse): void {
  if (!this.done && this.owner) this.owner.responseDone(this);
}

export interface GateOptions {
  limits: HeadLimits;
  timeouts: SlowClientTimeouts;
  /** Where each request whose head passed goes (Expect handled by its app call). */
  pipeline: RequestPipeline;
  /** Called once per rejected or cut-off connection with a one-line description. */
  log?: (message: string) => void;
  /** Told once, when the connection closed. */
  onClose?: (gate: ConnectionGate) => void;
}

const discard = (): void => undefined;

export class ConnectionGate implements ConnectionState, ResponseOwner, FramingSink {
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
    onParserExecute(parser, gate);
    socket.once('close', () => gate.closed());
    return gate;
  }

  readonly acceptedAt = Date.now();
  requests = 0;
  active = 0;
  idleSince: number | null = this.acceptedAt;
  upgraded = false;

  private mode: Mode = OPEN;
  private readonly framing: MessageFraming;
  /** Requests llhttp parsed whose head the scan has not passed yet, oldest first (linked through the responses). */
  private firstPending: GatedResponse | null = null;
  private lastPending: GatedResponse | null = null;
  /** The response whose request body is being followed. */
  private current: GatedResponse | null = null;
  private headStartedAt: number | null = null;
  private lastBodyActivity = 0;
  private stallSince: number | null = null;
  private lastCompleted = 0;
  private lastQueued = 0;
  private pendingRejection: { rejection: HttpRejection; broken: GatedResponse | null } | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;

  private constructor(
    readonly socket: Socket,
    private readonly parser: NativeHttpParser,
    private readonly options: GateOptions,
  ) {
    this.framing = new MessageFraming(options.limits);
  }

  /** True while the current request line is incomplete (for classifying parser overflows). */
  get inRequestLine(): boolean {
    return this.mode === OPEN && this.framing.inRequestLine;
  }

  /** True while a chunked request body is being followed (for classifying an end of input inside it). */
  get inChunkedBody(): boolean {
    return this.mode === OPEN && this.framing.inChunkedBody;
  }

  /** Node parsed a request (its 'request', 'checkContinue' or 'checkExpectation' event): held until scanned. */
  parsed(res: GatedResponse, expectation: Expectation): void {
    res.expectation = expectation;
    if (this.lastPending) this.lastPending.nextPending = res;
    else this.firstPending = res;
    this.lastPending = res;
  }

  /** A response finished or closed (once per response). */
  responseDone(res: GatedResponse): void {
    res.done = true;
    if (--this.active === 0) this.idleSince = Date.now();
    this.options.pipeline.done(res);
    if (this.pendingRejection) this.sendRejectionWhenReady();
  }

  /** Answers with an error and closes, after the responses already owed on this connection. */
  fail(rejection: HttpRejection): void {
    if (this.mode === CLOSING || this.mode === DETACHED) return;
    const inBody = this.mode === OPEN && this.framing.inBody;
    this.stopReading(CLOSING);
    this.log(`${rejection.status} ${rejection.reason}: ${rejection.detail}`);
    this.pendingRejection = { rejection, broken: inBody ? this.current : null };
    // llhttp sees nothing more; input is read and discarded so the client's FIN is seen and no unread
    // input turns into a reset.
    takeSocketInput(this.socket, discard);
    if (this.socket.isPaused()) this.socket.resume();
    this.sendRejectionWhenReady();
  }

  /** Stops looking at input; Node closes the connection after the responses it owes. */
  ignoreFurtherInput(): void {
    if (this.mode === CLOSING || this.mode === DETACHED) return;
    this.stopReading(IGNORE);
  }

  /** Ends the connection at once, without a response. */
  cutOff(message: string, reset: boolean): void {
    if (this.mode === DETACHED) return;
    this.stopReading(CLOSING);
    this.log(message);
    const socket = this.socket;
    if (reset && !isTlsSocket(socket) && typeof socket.resetAndDestroy === 'function') {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        // Not a TCP handle (for example a pipe): a plain close below.
      }
    }
    socket.destroy();
  }

  private stopReading(mode: Mode): void {
    this.mode = mode;
    this.framing.stop();
    this.firstPending = this.lastPending = null;
  }

  sweep(now: number): void {
    if (this.socket.destroyed || this.mode === DETACHED) return;
    const { headersTimeoutMs, bodyIdleTimeoutMs } = this.options.timeouts;
    if (this.mode !== OPEN) {
      // Closing or ignoring input: only the write-stall bound applies.
    } else if (!this.framing.inBody) {
      const since = this.headStartedAt ?? (this.requests === 0 && this.firstPending === null ? this.acceptedAt : null);
      if (since !== null && now - since >= headersTimeoutMs) {
        if (this.headStartedAt === null) {
          this.cutOff(`no request received within ${headersTimeoutMs / 1000} s; connection closed`, false);
        } else {
          this.fail(new HttpRejection(408, `request head not complete within ${headersTimeoutMs / 1000} s`));
        }
        return;
      }
    } else {
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
   * After llhttp parsed a read (Node's kOnExecute, through node-internals): judge the same bytes, release
   * the requests whose heads passed, then let Node handle the read (parse errors, upgrades, pausing)
   * unless the scan already rejected the connection.
   */
  afterParse(ret: number | Error, nodeHandling: (ret: number | Error) => unknown): void {
    if (this.mode === OPEN) {
      // A parse error stops llhttp at bytesParsed: heads starting after it were never parsed.
      const stopAt = typeof ret === 'number' ? Infinity : (ret as Error & { bytesParsed?: number }).bytesParsed ?? 0;
      const framing = this.framing;
      framing.feed(parserCurrentBuffer(this.parser), stopAt, this);
      if (this.mode === OPEN) {
        // The head clock starts at a head's first byte; a head that completes in the read it starts in (the
        // usual case) never reads it.
        if (framing.headInProgress) {
          if (this.headStartedAt === null) this.headStartedAt = Date.now();
        } else {
          this.headStartedAt = null;
          if (framing.inBody) this.lastBodyActivity = Date.now();
        }
      }
    }
    if (this.mode === CLOSING) return;
    nodeHandling(ret);
    if (httpParserOf(this.socket) !== this.parser && (this.mode as Mode) !== CLOSING) {
      // Node freed its parser: an upgrade or CONNECT went to its listener (or was refused and destroyed).
      // The gate stays in its table until the socket closes: an upgraded connection is still open work.
      this.stopReading(DETACHED);
      this.upgraded = true;
    }
  }

  /** FramingSink: a head passed the scan; its request (if llhttp made one) goes to the pipeline. */
  headPassed(): boolean {
    const res = this.firstPending;
    // No request for this head: Node kept it for an upgrade listener (what follows is not HTTP), or
    // llhttp rejected it and Node reports that next.
    if (!res) return false;
    this.firstPending = res.nextPending;
    if (!this.firstPending) this.lastPending = null;
    res.nextPending = null;
    this.current = res;
    this.requests++;
    this.active++;
    this.idleSince = null;
    res.owner = this;
    res.on('close', onResponseClose);
    this.options.pipeline.request(res.req, res);
    return this.mode === OPEN;
  }

  /** FramingSink: the current message ended; the next head follows unless its response closes the connection. */
  messageEnded(): boolean {
    const keepAlive = this.current ? keepsAlive(this.current) : true;
    this.current = null;
    if (!keepAlive && this.mode === OPEN) this.mode = IGNORE;
    return keepAlive;
  }

  /** FramingSink: the bytes are invalid. */
  rejected(rejection: HttpRejection): void {
    this.fail(rejection);
  }

  private sendRejectionWhenReady(): void {
    const pending = this.pendingRejection;
    if (!pending) return;
    // Every earlier response must be out first; only the one whose body broke may still be open.
    const brokenOpen = pending.broken !== null && !pending.broken.done ? 1 : 0;
    if (this.active > brokenOpen) return;
    this.pendingRejection = undefined;
    const socket = this.socket;
    if (socket.destroyed) return;
    if (!socket.writable || pending.broken?.headersSent) {
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
    this.firstPending = this.lastPending = null;
    this.options.onClose?.(this);
  }

  private log(detail: string): void {
    if (!this.options.log) return;
    const address = this.socket.remoteAddress ?? 'unknown';
    this.options.log(`Invalid or slow request from ${address}: ${detail}`);
  }
}
