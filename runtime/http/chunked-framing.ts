/**
 * Follows a chunked request body (RFC 9112 7.1) over the bytes llhttp has already parsed, to find where
 * the message ends (so the next pipelined head is scanned from the right byte) and to read the names of
 * its trailer fields. llhttp validates the framing itself; this only has to agree with it on valid input,
 * and says 'invalid' where llhttp reports an error in the same read anyway.
 *
 *   const framing = new ChunkedFraming();
 *   const step = framing.feed(bytes);   // { used, state: 'more' | 'done' | 'invalid' | 'forbidden-trailer' }
 *   framing.reset();                    // before the next chunked message
 */
import { hexValue } from './head-scanner.js';

/**
 * Fields that decide how a message is framed, routed, authenticated or kept: never accepted in a trailer
 * (RFC 9110 6.5.1), as their meaning is needed before the content.
 */
export const FORBIDDEN_TRAILERS: ReadonlySet<string> = new Set([
  'host', 'content-length', 'transfer-encoding', 'trailer', 'te', 'connection', 'keep-alive', 'upgrade', 'authorization',
]);

export interface FramingStep {
  /** Bytes of the input that belong to this message. */
  used: number;
  state: 'more' | 'done' | 'invalid' | 'forbidden-trailer';
  /** The trailer field that is not allowed (lower-cased), with state 'forbidden-trailer'. */
  trailer?: string;
}

const CR = 0x0d;
const LF = 0x0a;
const SEMICOLON = 0x3b;
const COLON = 0x3a;
/** llhttp's own bound on a chunk size (64 bits of hex); more digits are an error there too. */
const MAX_SIZE_DIGITS = 16;
/** Longer trailer names cannot be one of the forbidden ones: stop collecting. */
const LONGEST_FORBIDDEN = 17;

type Phase = 'size' | 'extension' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer' | 'end-lf';

export class ChunkedFraming {
  private phase: Phase = 'size';
  private digits = 0;
  /** The current chunk's size, then what is left of its data (a float: sizes reach 2^64). */
  private remaining = 0;
  private trailerName = '';
  private inTrailerName = false;

  reset(): void {
    this.phase = 'size';
    this.digits = 0;
    this.remaining = 0;
    this.trailerName = '';
    this.inTrailerName = false;
  }

  feed(data: Buffer): FramingStep {
    let at = 0;
    const length = data.length;
    while (at < length) {
      switch (this.phase) {
        case 'size': {
          const byte = data[at]!;
          const value = hexValue(byte);
          if (value >= 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return { used: at, state: 'invalid' };
            this.remaining = this.remaining * 16 + value;
            at++;
          } else if (this.digits > 0 && byte === SEMICOLON) {
            this.phase = 'extension';
            at++;
          } else if (this.digits > 0 && byte === CR) {
            this.phase = 'size-lf';
            at++;
          } else {
            return { used: at, state: 'invalid' };
          }
          break;
        }
        case 'extension': {
          const cr = data.indexOf(CR, at);
          if (cr === -1) return { used: length, state: 'more' };
          at = cr + 1;
          this.phase = 'size-lf';
          break;
        }
        case 'size-lf':
          if (data[at] !== LF) return { used: at, state: 'invalid' };
          at++;
          this.phase = this.remaining === 0 ? 'trailer-start' : 'data';
          break;
        case 'data': {
          const take = Math.min(this.remaining, length - at);
          this.remaining -= take;
          at += take;
          if (this.remaining === 0) this.phase = 'data-cr';
          break;
        }
        case 'data-cr':
          if (data[at] !== CR) return { used: at, state: 'invalid' };
          at++;
          this.phase = 'data-lf';
          break;
        case 'data-lf':
          if (data[at] !== LF) return { used: at, state: 'invalid' };
          at++;
          this.phase = 'size';
          this.digits = 0;
          break;
        case 'trailer-start':
          if (data[at] === CR) {
            at++;
            this.phase = 'end-lf';
          } else {
            this.phase = 'trailer';
            this.trailerName = '';
            this.inTrailerName = true;
          }
          break;
        case 'trailer': {
          const byte = data[at]!;
          at++;
          if (byte === LF) {
            this.phase = 'trailer-start';
          } else if (this.inTrailerName) {
            if (byte === COLON) {
              this.inTrailerName = false;
              const name = this.trailerName.toLowerCase();
              if (FORBIDDEN_TRAILERS.has(name)) return { used: at, state: 'forbidden-trailer', trailer: name };
            } else if (this.trailerName.length <= LONGEST_FORBIDDEN) {
              this.trailerName += String.fromCharCode(byte);
            }
          }
          break;
        }
        case 'end-lf':
          if (data[at] !== LF) return { used: at, state: 'invalid' };
          return { used: at + 1, state: 'done' };
      }
    }
    return { used: length, state: 'more' };
  }
}
