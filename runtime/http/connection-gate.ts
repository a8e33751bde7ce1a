/**
 * Sits between one client socket and Node's HTTP parser. Every request head is scanned (HeadScanner) and
 * only handed to llhttp once it passed; bodies are passed through as they arrive, and the gate follows
 * where each message ends so that the next pipelined head is scanned too. The gate also owns the
 * slow-client deadlines of its connection and the way it is closed after an error.
 *
 *   const gate = ConnectionGate.attach(socket, { limits, timeouts, log });   // after Node's own listener
 *   gate.onRequest(req, res);                 // from the server's 'request' listener
 *   gate.fail(new HttpRejection(400, '...')); // from 'clientError'
 *
 * Error responses keep HTTP's order: responses to earlier pipelined requests are finished first, then the
 * error is written, the socket is ended (FIN) and input is read and discarded for a short linger time, so
 * the client reads the response instead of a reset.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { HttpRejection } from './error-response.js';
import { HeadScanner, type HeadLimits } from './head-scanner.js';
import type { SlowClientTimeouts, Sweepable } from './slow-client.js';

type DataListener = (this: Socket, chunk: Buffer) => void;

type Mode =
  /** Scanning the next request head. */
  | 'head'
  /** Passing a Content-Length body through. */
  | 'length-body'
  /** Passing a chunked body through until llhttp reports the message complete. */
  | 'chunked-body'
  /** The last request asked to close: later input is not parsed (Node closes after the response). */
  | 'ignore'
  /** An error response is queued or sent, or the connection is being cut off. */
  | 'closing'
  /** Node took the socket over (upgrade / CONNECT): the gate is out of the way. */
  | 'detached';

interface Exchange {
  gate: ConnectionGate;
  req: IncomingMessage;
  res: ServerResponse;
  done: boolean;
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
  /** Called once per rejected or cut-off connection with a one-line description. */
  log?: (message: string) => void;
  /** Told when the connection is gone, to stop sweeping it. */
  onClose?: (gate: ConnectionGate) => void;
}

const EMPTY = Buffer.alloc(0);
const TERMINATOR = Buffer.from('\r\n\r\n', 'latin1');

/** Node's per-connection parser, as seen on the socket (null once Node freed it for an upgrade). */
function socketParser(socket: Socket): unknown {
  return (socket as unknown as { parser?: unknown }).parser;
}

function parserIncoming(socket: Socket): IncomingMessage | undefined {
  const parser = socketParser(socket) as { incoming?: IncomingMessage } | null | undefined;
  return parser?.incoming ?? undefined;
}

/** Bytes libuv still holds for writing (stream handles expose it; 0 when unknown). */
function handleWriteQueueSize(socket: Socket): number {
  const size = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize;
  return typeof size === 'number' ? size : 0;
}

/**
 * Where a chunked message can end in `data`: just after the first CRLFCRLF, which may start in the last
 * bytes already passed on (`tail`). -1 when there is none. A chunked message always ends with CRLFCRLF
 * (last-chunk "0" CRLF, optional trailers, CRLF), so llhttp is asked at each of these points whether it is done.
 */
export function endAfterTerminator(tail: Buffer, data: Buffer): number {
  for (let fromTail = Math.min(3, tail.length); fromTail > 0; fromTail--) {
    const need = 4 - fromTail;
    if (data.length < need) continue;
    if (tail.subarray(tail.length - fromTail).equals(TERMINATOR.subarray(0, fromTail)) && data.subarray(0, need).equals(TERMINATOR.subarray(fromTail))) {
      return need;
    }
  }
  const at = data.indexOf(TERMINATOR);
  return at === -1 ? -1 : at + 4;
}

function lastBytes(previous: Buffer, piece: Buffer, count: number): Buffer {
  if (piece.length >= count) return Buffer.from(piece.subarray(piece.length - count));
  return Buffer.concat([previous, piece]).subarray(-count);
}

export class ConnectionGate implements Sweepable {
  /**
   * Puts a gate in front of Node's parser on a socket Node's 'connection' (or 'secureConnection') listener
   * has just set up. Node's data listener is taken off the socket and fed by the gate instead; adding a
   * 'data' listener also makes Node read through JavaScript rather than straight into the parser.
   */
  static attach(socket: Socket, options: GateOptions): ConnectionGate | undefined {
    const downstream = socket.listeners('data') as DataListener[];
    if (downstream.length === 0 || !socketParser(socket)) return undefined;
    for (const listener of downstream) socket.removeListener('data', listener);
    const gate = new ConnectionGate(socket, downstream, options);
    socket.on('data', gate.onData);
    socket.on('resume', gate.onResume);
    socket.once('close', () => gate.closed());
    return gate;
  }

  private mode: Mode = 'head';
  private readonly scanner: HeadScanner;
  /** Received bytes not processed yet because Node paused the socket (pipelining backpressure). */
  private queue: Buffer[] = [];
  private pumping = false;
  private bodyRemaining = 0;
  private terminatorTail: Buffer = EMPTY;
  /** The request whose head went to llhttp last, and its exchange when it reached the app. */
  private currentRequest: IncomingMessage | undefined;
  private currentExchange: Exchange | undefined;
  private captured: Exchange | undefined;
  /** Exchanges whose response has neither finished nor closed (responses finish in request order). */
  private openExchanges = 0;
  private headsForwarded = 0;
  private forwardingHead = false;
  private readonly connectedAt = Date.now();
  private headStartedAt: number | null = null;
  private lastBodyActivity = 0;
  private stallSince: number | null = null;
  private lastCompleted = 0;
  private lastQueued = 0;
  private pendingRejection: { rejection: HttpRejection; broken: Exchange | undefined } | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly parser: unknown;

  private constructor(
    private readonly socket: Socket,
    private readonly downstream: DataListener[],
    private readonly options: GateOptions,
  ) {
    this.scanner = new HeadScanner(options.limits);
    this.parser = socketParser(socket);
  }

  /**
   * True while the current request line is incomplete (for classifying parser overflows). llhttp only ever
   * receives complete heads, so while one is being handed on the request line is complete.
   */
  get inRequestLine(): boolean {
    return this.mode === 'head' && !this.forwardingHead && this.scanner.inRequestLine;
  }

  /** The server's 'request' listener reports each request reaching the app. */
  onRequest(req: IncomingMessage, res: ServerResponse): void {
    const exchange: Exchange = { gate: this, req, res, done: false };
    this.captured = exchange;
    this.openExchanges++;
    (res as TrackedResponse)[EXCHANGE] = exchange;
    res.on('finish', onResponseDone);
    res.on('close', onResponseDone);
  }

  /** A response finished or closed (called once per exchange). */
  exchangeDone(exchange: Exchange): void {
    exchange.done = true;
    this.openExchanges--;
    if (this.pendingRejection) this.sendRejectionWhenReady();
  }

  /** Answers with an error and closes, after the responses already owed on this connection. */
  fail(rejection: HttpRejection): void {
    if (this.mode === 'closing' || this.mode === 'detached') return;
    const inBody = this.mode === 'length-body' || this.mode === 'chunked-body';
    this.mode = 'closing';
    this.queue = [];
    this.log(`${rejection.status} ${rejection.reason}: ${rejection.detail}`);
    this.pendingRejection = { rejection, broken: inBody ? this.currentExchange : undefined };
    // Keep reading (and discarding) so the client's FIN is seen and no unread input turns into a reset.
    if (this.socket.isPaused()) this.socket.resume();
    this.sendRejectionWhenReady();
  }

  /** Stops passing input on; Node closes the connection after the responses it owes. */
  ignoreFurtherInput(): void {
    if (this.mode === 'closing' || this.mode === 'detached') return;
    this.mode = 'ignore';
    this.queue = [];
  }

  /** Ends the connection at once, without a response. */
  cutOff(message: string, reset: boolean): void {
    if (this.mode === 'detached') return;
    this.mode = 'closing';
    this.queue = [];
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
    if (this.socket.destroyed) return;
    const { headersTimeoutMs, bodyIdleTimeoutMs } = this.options.timeouts;
    if (this.mode === 'head') {
      const since = this.headStartedAt ?? (this.headsForwarded === 0 ? this.connectedAt : null);
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

  private readonly onData = (chunk: Buffer): void => {
    if (this.mode === 'closing' || this.mode === 'ignore' || this.mode === 'detached') return;
    if (this.pumping || this.queue.length > 0 || this.socket.isPaused() || this.socket.destroyed) {
      this.queue.push(chunk);
      this.pump();
      return;
    }
    // The usual case, nothing waiting: what pump() does for a queue of one, without the queue.
    this.pumping = true;
    let left: Buffer | undefined;
    try {
      left = this.process(chunk);
    } finally {
      this.pumping = false;
    }
    if (left) this.queue.unshift(left);
    else if (this.queue.length > 0) this.pump();
  };

  private readonly onResume = (): void => {
    if (this.queue.length > 0) this.pump();
  };

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        if (this.socket.isPaused() || this.socket.destroyed) return;
        const chunk = this.queue.shift()!;
        const left = this.process(chunk);
        if (left) {
          this.queue.unshift(left);
          return;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Handles one chunk; returns what is left when Node paused the socket in the middle of it. */
  private process(chunk: Buffer): Buffer | undefined {
    let data = chunk;
    while (data.length > 0) {
      if (this.socket.isPaused()) return data;
      switch (this.mode) {
        case 'head': {
          const result = this.scanner.feed(data);
          if (result.kind === 'partial') {
            // The clock starts at the head's first byte; a head that completes in the chunk it starts in
            // (the usual case) never needs it.
            if (this.headStartedAt === null) this.headStartedAt = Date.now();
            return undefined;
          }
          if (result.kind === 'reject') {
            this.fail(result.rejection);
            return undefined;
          }
          this.headStartedAt = null;
          this.scanner.reset();
          this.captured = undefined;
          this.headsForwarded++;
          this.forwardingHead = true;
          try {
            this.forward(result.head.bytes);
          } finally {
            this.forwardingHead = false;
          }
          if (this.mode !== 'head') return undefined;
          if (socketParser(this.socket) !== this.parser) {
            this.detach([result.rest]);
            return undefined;
          }
          // onRequest ran (synchronously, inside forward) when the request reached the app.
          this.currentExchange = this.takeCaptured();
          this.currentRequest = this.currentExchange?.req ?? parserIncoming(this.socket);
          const head = result.head;
          if (head.chunked) {
            this.mode = 'chunked-body';
            this.terminatorTail = EMPTY;
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
          this.forward(data.subarray(0, take));
          if (this.mode !== 'length-body') return undefined;
          this.bodyRemaining -= take;
          this.lastBodyActivity = Date.now();
          data = data.subarray(take);
          if (this.bodyRemaining === 0) this.messageEnded();
          break;
        }
        case 'chunked-body': {
          const end = endAfterTerminator(this.terminatorTail, data);
          const piece = end === -1 ? data : data.subarray(0, end);
          this.forward(piece);
          if (this.mode !== 'chunked-body') return undefined;
          this.terminatorTail = lastBytes(this.terminatorTail, piece, 3);
          this.lastBodyActivity = Date.now();
          data = data.subarray(piece.length);
          if (end !== -1 && this.currentRequest?.complete) this.messageEnded();
          break;
        }
        default:
          return undefined;
      }
    }
    return undefined;
  }

  private takeCaptured(): Exchange | undefined {
    const exchange = this.captured;
    this.captured = undefined;
    return exchange;
  }

  private messageEnded(): void {
    const keepAlive = this.currentExchange ? this.currentExchange.res.shouldKeepAlive : true;
    this.mode = keepAlive ? 'head' : 'ignore';
  }

  private forward(bytes: Buffer): void {
    const downstream = this.downstream;
    for (let i = 0; i < downstream.length; i++) downstream[i]!.call(this.socket, bytes);
  }

  /** Node freed its parser (upgrade or CONNECT): give the remaining input back to the socket. */
  private detach(rest: Buffer[]): void {
    this.mode = 'detached';
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('resume', this.onResume);
    const remaining = [...rest, ...this.queue].filter((part) => part.length > 0);
    this.queue = [];
    for (let i = remaining.length - 1; i >= 0; i--) this.socket.unshift(remaining[i]!);
    this.options.onClose?.(this);
  }

  private sendRejectionWhenReady(): void {
    const pending = this.pendingRejection;
    if (!pending) return;
    // Every earlier response must be out first; only the one whose body broke may still be open.
    const brokenOpen = pending.broken !== undefined && !pending.broken.done ? 1 : 0;
    if (this.openExchanges > brokenOpen) return;
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
    this.queue = [];
    this.options.onClose?.(this);
  }

  private log(detail: string): void {
    if (!this.options.log) return;
    const address = this.socket.remoteAddress ?? 'unknown';
    this.options.log(`Invalid or slow request from ${address}: ${detail}`);
  }
}
