/**
 * The pure framing part of a strict connection: bytes in, verdicts out, no socket, no clock. It follows one
 * connection's request stream over the bytes llhttp parsed: each head through HeadScanner, then where its
 * message ends (Content-Length, or ChunkedFraming), so that every pipelined head is scanned from its first
 * byte. What the connection does with a verdict (release the request, answer an error, close) is the
 * connection gate's.
 *
 *   const framing = new MessageFraming(limits);
 *   framing.feed(bytes, Infinity, sink);   // sink.headPassed(head) / sink.messageEnded() / sink.rejected(r)
 *
 * `stopAt` is where llhttp stopped at a parse error: a head that starts after it was never parsed, and a
 * body that ends after it did not end (Node reports the parse error next).
 */
import { ChunkedFraming } from './chunked-framing.js';
import { HttpRejection } from './error-response.js';
import { HeadScanner, type RequestHead } from './head-scanner.js';
import type { HeadLimits } from './limits.js';

/** Where the verdicts go (the connection gate; a recorder in the table tests). */
export interface FramingSink {
  /** A head passed the scan. false: look at nothing more in this read (no request to release, or the connection stopped). */
  headPassed(head: RequestHead): boolean;
  /** The message of the last head ended. false: the connection closes after it, later bytes are not looked at. */
  messageEnded(): boolean;
  /** The stream is invalid from here: nothing more is looked at (inBody still tells where it broke). */
  rejected(rejection: HttpRejection): void;
}

const HEAD = 0;
const LENGTH_BODY = 1;
const CHUNKED_BODY = 2;
const STOPPED = 3;
type State = typeof HEAD | typeof LENGTH_BODY | typeof CHUNKED_BODY | typeof STOPPED;

export class MessageFraming {
  private state: State = HEAD;
  private readonly scanner: HeadScanner;
  private readonly chunked = new ChunkedFraming();
  private bodyRemaining = 0;

  constructor(limits: HeadLimits) {
    this.scanner = new HeadScanner(limits);
  }

  /** True while the current request line is incomplete (for classifying parser overflows). */
  get inRequestLine(): boolean {
    return this.state === HEAD && this.scanner.inRequestLine;
  }

  /** True once a head has begun and is not complete yet (the headers deadline runs). */
  get headInProgress(): boolean {
    return this.state === HEAD && !this.scanner.idle;
  }

  /** True while a body is being followed. */
  get inBody(): boolean {
    return this.state === LENGTH_BODY || this.state === CHUNKED_BODY;
  }

  /** True while a chunked body is being followed. */
  get inChunkedBody(): boolean {
    return this.state === CHUNKED_BODY;
  }

  /** True until a rejection, a closing message or stop(): more bytes are looked at. */
  get open(): boolean {
    return this.state !== STOPPED;
  }

  /** Looks at nothing more (the connection is closing or was taken over). */
  stop(): void {
    this.state = STOPPED;
  }

  feed(bytes: Buffer, stopAt: number, sink: FramingSink): void {
    let data = bytes;
    while (data.length > 0) {
      switch (this.state) {
        case HEAD: {
          if (this.scanner.idle && bytes.length - data.length > stopAt) return;
          const result = this.scanner.feed(data);
          if (result.kind === 'partial') return;
          if (result.kind === 'reject') {
            sink.rejected(result.rejection);
            this.state = STOPPED;
            return;
          }
          this.scanner.reset();
          if (!sink.headPassed(result.head) || this.state !== HEAD) return;
          const head = result.head;
          if (head.chunked) {
            this.state = CHUNKED_BODY;
            this.chunked.reset();
          } else if (head.contentLength !== null && head.contentLength > 0) {
            this.state = LENGTH_BODY;
            this.bodyRemaining = head.contentLength;
          } else {
            this.ended(sink);
          }
          data = result.rest;
          break;
        }
        case LENGTH_BODY: {
          const take = Math.min(this.bodyRemaining, data.length);
          this.bodyRemaining -= take;
          data = data.subarray(take);
          if (this.bodyRemaining === 0) {
            // llhttp stopped inside this body: the message is broken, not ended.
            if (bytes.length - data.length > stopAt) return;
            this.ended(sink);
          }
          break;
        }
        case CHUNKED_BODY: {
          const step = this.chunked.feed(data);
          if (step.state !== 'more' && bytes.length - data.length + step.used > stopAt) return;
          if (step.state === 'invalid') {
            sink.rejected(new HttpRejection(400, 'malformed chunked body'));
            this.state = STOPPED;
            return;
          }
          if (step.state === 'forbidden-trailer') {
            sink.rejected(new HttpRejection(400, `${step.trailer} field sent as a trailer`));
            this.state = STOPPED;
            return;
          }
          data = data.subarray(step.used);
          if (step.state === 'done') this.ended(sink);
          break;
        }
        default:
          return;
      }
    }
  }

  private ended(sink: FramingSink): void {
    const more = sink.messageEnded();
    if (this.state !== STOPPED) this.state = more ? HEAD : STOPPED;
  }
}
