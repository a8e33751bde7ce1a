/**
 * The answers the strict layer gives on its own, before the app ever sees a request:
 *
 *   const rejection = new HttpRejection(414, 'request line is 8189 bytes, limit 8188');
 *   socket.end(rejection.responseBytes());
 *
 * Each is a complete HTTP/1.1 response with a short text body, a Content-Length and `Connection: close`.
 */
import { STATUS_CODES } from 'node:http';

/** Statuses the strict layer produces. */
export type RejectionStatus = 400 | 408 | 413 | 414 | 431 | 501 | 503 | 505;

export class HttpRejection {
  constructor(
    readonly status: RejectionStatus,
    /** One line for the body and the error log; never echoes request bytes. */
    readonly detail: string,
  ) {}

  get reason(): string {
    return STATUS_CODES[this.status] ?? 'Error';
  }

  responseBytes(): Buffer {
    const body = `${this.reason}: ${this.detail}\n`;
    const head =
      `HTTP/1.1 ${this.status} ${this.reason}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n' +
      '\r\n';
    return Buffer.from(head + body, 'latin1');
  }
}

/** What to do with an error Node's HTTP layer reports through 'clientError'. */
export type ClientErrorAction =
  | { kind: 'respond'; rejection: HttpRejection }
  /** Input after a request that asked to close: stop parsing, let the owed responses finish. */
  | { kind: 'ignore' }
  /** The connection is beyond answering (reset, EOF in the middle of a message). */
  | { kind: 'close' };

/**
 * Maps llhttp's HPE_* codes (and Node's own timeout code) to a response. Every malformed-message code is a
 * 400; the scanner in front of llhttp already answers 414/431/505/501 for the cases it can see, so
 * HPE_HEADER_OVERFLOW only remains as a backstop, split by whether the request line was still incomplete.
 */
export function classifyClientError(code: string | undefined, reason: string | undefined, inRequestLine: boolean, inChunkedBody = false): ClientErrorAction {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        kind: 'respond',
        rejection: inRequestLine
          ? new HttpRejection(414, 'request line too long')
          : new HttpRejection(431, 'request header section too large'),
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      // Node's own answer to oversized chunk extensions, kept.
      return { kind: 'respond', rejection: new HttpRejection(413, 'chunk extensions too large') };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { kind: 'respond', rejection: new HttpRejection(408, 'request not received in time') };
    case 'HPE_CLOSED_CONNECTION':
      return { kind: 'ignore' };
    case 'HPE_INVALID_EOF_STATE':
      // RFC 9112 7.1: a chunked body ends with the last chunk and the trailer section's empty line; one the
      // client's FIN cut short (even right after `0\r\n`) is not complete. It can still read the answer.
      if (inChunkedBody) return { kind: 'respond', rejection: new HttpRejection(400, 'chunked body cut short: the connection ended before the last chunk and the empty line after it') };
      return { kind: 'close' };
    default:
      if (code?.startsWith('HPE_')) {
        return { kind: 'respond', rejection: new HttpRejection(400, `malformed request (${describeParserReason(reason)})`) };
      }
      return { kind: 'close' };
  }
}

/** llhttp's reasons are fixed ASCII strings; keep them to one short line without request bytes. */
function describeParserReason(reason: string | undefined): string {
  if (!reason) return 'parse error';
  const clean = reason.replace(/[^\x20-\x7e]/g, '').trim();
  return clean.length > 80 ? clean.slice(0, 80) : clean || 'parse error';
}
