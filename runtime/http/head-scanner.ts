/**
 * A light byte scan of each request head, over the same bytes Node's llhttp parser reads, to decide the
 * errors llhttp cannot tell apart or does not reject: the request-line and header-line limits (414/431,
 * counted exactly as gunicorn counts them), the request-line shape (single spaces, the target's form:
 * origin or absolute, asterisk only for OPTIONS, authority only for CONNECT; no overlong UTF-8 in the
 * target), bare CR / bare LF, control characters in values, obs-fold, unsupported HTTP versions (505), the
 * message framing rules (Content-Length / Transfer-Encoding, 400/501), Host and a single Content-Type. It builds no request:
 * llhttp parses the head, and the connection holds the request back from the app until the scan passed.
 *
 *   const scanner = new HeadScanner(resolveLimits(options));
 *   const result = scanner.feed(chunk);        // 'partial' | 'head' | 'reject'
 *   if (result.kind === 'head') { release the request; scanner.reset(); continue with result.rest }
 */
import { HttpRejection } from './error-response.js';
import type { HeadLimits } from './limits.js';

/** What the rest of the connection needs to know about a head that passed. */
export interface RequestHead {
  /** The head as received, request line through the empty line (leading empty lines dropped). */
  bytes: Buffer;
  httpMinorVersion: 0 | 1;
  /** The body length when framed by Content-Length; null without one. */
  contentLength: number | null;
  chunked: boolean;
}

export type ScanResult =
  | { kind: 'partial' }
  | { kind: 'head'; head: RequestHead; rest: Buffer }
  | { kind: 'reject'; rejection: HttpRejection };

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const EMPTY = Buffer.alloc(0);
const PARTIAL: ScanResult = { kind: 'partial' };

/** RFC 3986 host (reg-name or IP literal) with an optional port. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?$/;
/** RFC 9112 3.2.3 authority-form, what CONNECT takes: host and port, both required. */
const AUTHORITY_FORM = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+):[0-9]{1,5}$/;
/** RFC 9112 3.2.2 absolute-form as HTTP uses it: an RFC 3986 scheme, then "://". */
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}$/;
const KNOWN_CODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'compress', 'x-compress', 'identity']);

const NO_CODINGS: readonly string[] = Object.freeze([]);
const HOST_NAME = Buffer.from('host', 'latin1');
const CONTENT_TYPE_NAME = Buffer.from('content-type', 'latin1');
const CONTENT_LENGTH_NAME = Buffer.from('content-length', 'latin1');
const TRANSFER_ENCODING_NAME = Buffer.from('transfer-encoding', 'latin1');

const isDigit = (byte: number): boolean => byte >= 0x30 && byte <= 0x39;
const OPTIONS = 'OPTIONS';
const CONNECT = 'CONNECT';
const SLASH = 0x2f;
const DEL = 0x7f;
const PERCENT = 0x25;

/** The value of an ASCII hex digit, -1 for any other byte. */
export function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

/**
 * Whether buffer[from, to) holds an overlong UTF-8 sequence, percent-encoded (`%C0%AE`) or raw: a lead
 * byte C0/C1, E0 followed by 80-9F, or F0 followed by 80-8F. These encode characters such as `/` and `.`
 * a second way, which is how path checks that compare decoded text are bypassed. Other invalid UTF-8 is
 * left alone: a query string may carry any bytes.
 */
export function hasOverlongUtf8(buffer: Buffer, from: number, to: number): boolean {
  let previous = -1;
  for (let at = from; at < to; at++) {
    let byte = buffer[at]!;
    if (byte === PERCENT && at + 2 < to) {
      const high = hexValue(buffer[at + 1]!);
      const low = hexValue(buffer[at + 2]!);
      if (high >= 0 && low >= 0) {
        byte = high * 16 + low;
        at += 2;
      }
    }
    if (byte === 0xc0 || byte === 0xc1) return true;
    if (previous === 0xe0 && byte >= 0x80 && byte <= 0x9f) return true;
    if (previous === 0xf0 && byte >= 0x80 && byte <= 0x8f) return true;
    previous = byte;
  }
  return false;
}

/** Whether the header name at `start` is `lowerName` (ASCII case-insensitive; the caller checked the length). */
function sameName(buffer: Buffer, start: number, lowerName: Buffer): boolean {
  for (let i = 0; i < lowerName.length; i++) {
    let byte = buffer[start + i]!;
    if (byte >= 0x41 && byte <= 0x5a) byte += 0x20;
    if (byte !== lowerName[i]) return false;
  }
  return true;
}

/** Whether buffer[from, to) is exactly `text` (latin1). */
function sameText(buffer: Buffer, from: number, to: number, text: string | null): boolean {
  if (text === null || to - from !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (buffer[from + i] !== text.charCodeAt(i)) return false;
  return true;
}

const reject = (status: 400 | 414 | 431 | 501 | 505, detail: string): ScanResult => ({
  kind: 'reject',
  rejection: new HttpRejection(status, detail),
});

export class HeadScanner {
  /** The bytes of this head so far: a view of `storage`. */
  private buffer: Buffer = EMPTY;
  /** Grows by doubling once a head spans chunks; the first chunk is used in place (not owned). */
  private storage: Buffer = EMPTY;
  private ownsStorage = false;
  /** Offset in buffer where the head starts (after ignored empty lines). */
  private headStart = 0;
  /** Offset in buffer of the first byte of the line not yet complete. */
  private lineStart = 0;
  private sawRequestLine = false;
  private fields = 0;
  private httpMinorVersion: 0 | 1 = 1;
  /** Host lines seen, and where the (trimmed) value of the first one is in buffer. */
  private hostCount = 0;
  private hostFrom = 0;
  private hostTo = 0;
  private contentTypes = 0;
  /** Where the open line's first control character (other than CR, LF and HTAB) is, -1 without one. */
  private lineControl = -1;
  private readonly contentLengths: string[] = [];
  private readonly transferEncodings: string[] = [];
  /** The last Host value that passed HOST: a keep-alive client repeats it on every request. */
  private validHost: string | null = null;

  constructor(private readonly limits: HeadLimits) {}

  /** True while the request line has not ended yet (for classifying parser overflows). */
  get inRequestLine(): boolean {
    return !this.sawRequestLine;
  }

  /** True when no byte of a head has been fed since the last reset (empty lines do not count). */
  get idle(): boolean {
    return this.buffer.length === 0;
  }

  reset(): void {
    this.buffer = EMPTY;
    this.storage = EMPTY;
    this.ownsStorage = false;
    this.headStart = 0;
    this.lineStart = 0;
    this.sawRequestLine = false;
    this.fields = 0;
    this.httpMinorVersion = 1;
    // Emptied in place: the scanner runs once per request and these are almost always empty or one long.
    this.hostCount = 0;
    this.contentTypes = 0;
    this.lineControl = -1;
    if (this.contentLengths.length > 0) this.contentLengths.length = 0;
    if (this.transferEncodings.length > 0) this.transferEncodings.length = 0;
  }

  feed(chunk: Buffer): ScanResult {
    const previousLength = this.buffer.length;
    this.append(chunk);
    const buffer = this.buffer;
    const length = buffer.length;
    for (;;) {
      const start = this.lineStart;
      // Bytes of the open line before previousLength - 1 were searched already: no LF, and no CR (a CR
      // is only allowed as the last byte of an incomplete line, see checkPartialLine). One pass finds the
      // line's end and its first CR; a byte loop beats Buffer#indexOf's call overhead on short lines.
      let at = previousLength - 1 > start ? previousLength - 1 : start;
      // One compare per ordinary byte: CR, LF and the control characters of RFC 9110 5.5 are all below SP
      // or DEL.
      let cr = -1;
      for (; at < length; at++) {
        const byte = buffer[at]!;
        if (byte >= SP && byte !== DEL) continue;
        if (byte === LF) break;
        if (byte === CR) {
          if (cr === -1) cr = at;
        } else if (byte !== HT && this.lineControl === -1) {
          this.lineControl = at;
        }
      }
      if (at === length) return this.checkPartialLine(previousLength);
      const lf = at;
      if (lf === start || buffer[lf - 1] !== CR) return reject(400, 'bare LF line ending in request head');
      const end = lf - 1; // the CR
      if (cr !== -1 && cr < end) return reject(400, 'bare CR in request head');
      this.lineStart = lf + 1;
      const control = this.lineControl;
      this.lineControl = -1;

      if (!this.sawRequestLine) {
        if (end === start) {
          // RFC 9112 2.2: empty lines before the request line are ignored; they are not passed on.
          this.headStart = lf + 1;
          if (this.headStart === length) {
            this.reset();
            return PARTIAL;
          }
          continue;
        }
        const failed = this.checkRequestLine(start, end);
        if (failed) return failed;
        this.sawRequestLine = true;
        continue;
      }

      if (end === start) return this.finish(lf + 1);
      const failed = this.checkHeaderLine(start, end, control);
      if (failed) return failed;
    }
  }

  private append(chunk: Buffer): void {
    const length = this.buffer.length;
    if (length === 0) {
      this.storage = this.buffer = chunk;
      this.ownsStorage = false;
      return;
    }
    const needed = length + chunk.length;
    if (!this.ownsStorage || needed > this.storage.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, 2 * length, 1024));
      this.buffer.copy(grown, 0, 0, length);
      this.storage = grown;
      this.ownsStorage = true;
    }
    chunk.copy(this.storage, length);
    this.buffer = this.storage.subarray(0, needed);
  }

  /** Limits that can already be decided from an incomplete line (a slow or endless sender). */
  private checkPartialLine(previousLength: number): ScanResult {
    const buffer = this.buffer;
    const start = this.lineStart;
    if (start >= buffer.length) return PARTIAL;
    // A CR is only allowed as the last byte so far; earlier bytes were checked on earlier calls.
    const cr = buffer.indexOf(CR, Math.max(start, previousLength - 1));
    if (cr !== -1 && cr < buffer.length - 1) return reject(400, 'bare CR in request head');
    const length = buffer.length - start - (cr === buffer.length - 1 ? 1 : 0);
    if (length === 0) return PARTIAL;
    if (!this.sawRequestLine) {
      if (length > this.limits.requestLine) return this.requestLineTooLong(null);
      return PARTIAL;
    }
    if (buffer[start] === SP || buffer[start] === HT) return reject(400, 'obsolete line folding (obs-fold) in header');
    if (this.fields >= this.limits.fields) return this.tooManyFields();
    if (length + 2 > this.limits.fieldSize) return reject(431, `header line exceeds ${this.limits.fieldSize} bytes`);
    return PARTIAL;
  }

  private requestLineTooLong(length: number | null): ScanResult {
    const limit = this.limits.requestLine;
    if (this.limits.requestLineUnlimited) return reject(414, `request line exceeds ${limit} bytes`);
    return reject(414, length === null ? `request line exceeds limit ${limit}` : `request line is ${length} bytes, limit ${limit}`);
  }

  private tooManyFields(): ScanResult {
    return reject(431, `more than ${this.limits.fields} header fields`);
  }

  private checkRequestLine(start: number, end: number): ScanResult | undefined {
    const length = end - start;
    if (length > this.limits.requestLine) return this.requestLineTooLong(length);
    // Exactly three non-empty parts separated by single spaces: method, target, version.
    const buffer = this.buffer;
    let firstSpace = -1;
    let secondSpace = -1;
    for (let at = start; at < end; at++) {
      if (buffer[at] !== SP) continue;
      if (firstSpace === -1) firstSpace = at;
      else if (secondSpace === -1) secondSpace = at;
      else return reject(400, 'malformed request line');
    }
    if (firstSpace === start || secondSpace === -1 || secondSpace === firstSpace + 1 || secondSpace === end - 1) {
      return reject(400, 'malformed request line');
    }
    // "HTTP/" digit "." digit, and nothing else.
    const v = secondSpace + 1;
    if (
      end - v !== 8 || buffer[v] !== 0x48 || buffer[v + 1] !== 0x54 || buffer[v + 2] !== 0x54 || buffer[v + 3] !== 0x50 ||
      buffer[v + 4] !== 0x2f || !isDigit(buffer[v + 5]!) || buffer[v + 6] !== 0x2e || !isDigit(buffer[v + 7]!)
    ) {
      return reject(400, 'malformed HTTP version');
    }
    const major = buffer[v + 5]! - 0x30;
    const minor = buffer[v + 7]! - 0x30;
    if (major !== 1 || (minor !== 0 && minor !== 1)) return reject(505, `HTTP/${major}.${minor} is not supported`);
    this.httpMinorVersion = minor;
    // RFC 9112 3.2.4: the asterisk-form is only for OPTIONS.
    if (secondSpace === firstSpace + 2 && buffer[firstSpace + 1] === 0x2a && !sameText(buffer, start, firstSpace, OPTIONS)) {
      return reject(400, 'asterisk-form target on a method other than OPTIONS');
    }
    // RFC 9112 3.2: a target in origin-form (/path), absolute-form (http://host/path), asterisk-form (above)
    // or, for CONNECT alone, authority-form (host:port); a relative reference is none of these.
    const target = firstSpace + 1;
    if (sameText(buffer, start, firstSpace, CONNECT)) {
      if (!AUTHORITY_FORM.test(buffer.toString('latin1', target, secondSpace))) return reject(400, 'CONNECT target is not host:port (authority-form)');
    } else if (buffer[target] !== SLASH && !(secondSpace === target + 1 && buffer[target] === 0x2a)) {
      const text = buffer.toString('latin1', target, secondSpace);
      if (!ABSOLUTE_FORM.test(text)) {
        return reject(400, AUTHORITY_FORM.test(text) ? 'authority-form target (host:port) on a method other than CONNECT' : 'request target is neither origin-form (/path) nor absolute-form');
      }
    }
    if (hasOverlongUtf8(buffer, firstSpace + 1, secondSpace)) return reject(400, 'overlong UTF-8 sequence in the request target');
    return undefined;
  }

  private checkHeaderLine(start: number, end: number, control: number): ScanResult | undefined {
    const buffer = this.buffer;
    if (buffer[start] === SP || buffer[start] === HT) return reject(400, 'obsolete line folding (obs-fold) in header');
    if (this.fields >= this.limits.fields) return this.tooManyFields();
    const lineWithCrlf = end - start + 2;
    if (lineWithCrlf > this.limits.fieldSize) {
      return reject(431, `header line is ${lineWithCrlf} bytes with its CRLF, limit ${this.limits.fieldSize}`);
    }
    this.fields++;
    let colon = start;
    while (colon < end && buffer[colon] !== COLON) colon++;
    if (colon === end) return reject(400, 'malformed header line (no colon)');
    if (colon === start) return reject(400, 'malformed header line (empty name)');
    // RFC 9110 5.5: a field value is visible characters, obs-text, SP and HTAB. One in the name is llhttp's to refuse.
    if (control > colon) return reject(400, 'control character in a header value');
    // Only the three framing/authority headers matter here; match their names without building strings.
    const nameLength = colon - start;
    let list: string[] | null;
    if (nameLength === 4 && sameName(buffer, start, HOST_NAME)) list = null;
    else if (nameLength === 14 && sameName(buffer, start, CONTENT_LENGTH_NAME)) list = this.contentLengths;
    else if (nameLength === 17 && sameName(buffer, start, TRANSFER_ENCODING_NAME)) list = this.transferEncodings;
    else {
      if (nameLength === 12 && sameName(buffer, start, CONTENT_TYPE_NAME)) this.contentTypes++;
      return undefined;
    }
    let from = colon + 1;
    let to = end;
    while (from < to && (buffer[from] === SP || buffer[from] === HT)) from++;
    while (to > from && (buffer[to - 1] === SP || buffer[to - 1] === HT)) to--;
    if (list) {
      list.push(buffer.toString('latin1', from, to));
    } else if (this.hostCount++ === 0) {
      // Kept as offsets (they stay valid as the buffer grows): the value is compared, not copied.
      this.hostFrom = from;
      this.hostTo = to;
    }
    return undefined;
  }

  /** The head is complete: the framing and Host rules, in the order documented in the README. */
  private finish(headEnd: number): ScanResult {
    let codings = NO_CODINGS;
    if (this.transferEncodings.length > 0) {
      const listed: string[] = [];
      for (const value of this.transferEncodings) {
        for (const part of value.split(',')) listed.push(part.replace(/^[ \t]+|[ \t]+$/g, '').toLowerCase());
      }
      codings = listed;
    }
    for (const coding of codings) {
      if (coding === '') return reject(400, 'empty transfer coding');
      if (coding !== 'chunked' && !KNOWN_CODINGS.has(coding)) {
        return reject(501, TOKEN.test(coding) ? `transfer coding "${coding}" is not implemented` : 'transfer coding is not implemented');
      }
    }
    const chunkedAt = codings.indexOf('chunked');
    if (codings.length > 0) {
      if (chunkedAt !== codings.lastIndexOf('chunked')) return reject(400, 'chunked applied more than once');
      if (chunkedAt !== codings.length - 1) return reject(400, 'Transfer-Encoding must end with chunked');
    }

    let contentLength: number | null = null;
    if (this.contentLengths.length > 1) return reject(400, 'duplicate Content-Length');
    if (this.contentLengths.length === 1) {
      const raw = this.contentLengths[0] ?? '';
      if (!/^[0-9]{1,15}$/.test(raw)) return reject(400, 'invalid Content-Length');
      contentLength = Number(raw);
    }
    if (contentLength !== null && codings.length > 0) return reject(400, 'both Content-Length and Transfer-Encoding');
    if (codings.length > 0 && this.httpMinorVersion === 0) return reject(400, 'Transfer-Encoding in an HTTP/1.0 request');

    if (this.hostCount > 1) return reject(400, 'duplicate Host header');
    if (this.hostCount === 0 && this.httpMinorVersion === 1) return reject(400, 'missing Host header');
    const buffer = this.buffer;
    if (this.hostCount === 1 && !sameText(buffer, this.hostFrom, this.hostTo, this.validHost)) {
      if (this.hostFrom === this.hostTo) return reject(400, 'empty Host header');
      const host = buffer.toString('latin1', this.hostFrom, this.hostTo);
      if (!HOST.test(host)) return reject(400, 'malformed Host header');
      this.validHost = host;
    }
    // RFC 9110 5.3 and 8.3: Content-Type takes one value; two lines cannot be combined into one.
    if (this.contentTypes > 1) return reject(400, 'duplicate Content-Type header');

    // The usual case, one head in one chunk, hands the chunk itself on: no views to allocate.
    const whole = this.headStart === 0 && headEnd === buffer.length;
    return {
      kind: 'head',
      head: {
        bytes: whole ? buffer : buffer.subarray(this.headStart, headEnd),
        httpMinorVersion: this.httpMinorVersion,
        contentLength,
        chunked: codings.length > 0,
      },
      rest: whole ? EMPTY : buffer.subarray(headEnd),
    };
  }
}
