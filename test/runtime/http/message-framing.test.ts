import { expect } from 'chai';
import type { HttpRejection } from '../../../runtime/http/error-response.js';
import type { RequestHead } from '../../../runtime/http/head-scanner.js';
import { resolveLimits } from '../../../runtime/http/limits.js';
import { MessageFraming, type FramingSink } from '../../../runtime/http/message-framing.js';

const limits = resolveLimits({ limitRequestLine: 40, limitRequestFields: 3, limitRequestFieldSize: 30 });

/** Records the verdicts as words: `head:<bytes>`, `end`, `<status>:<detail>` (a 414's detail depends on the split: its status). */
class Recorder implements FramingSink {
  readonly verdicts: string[] = [];
  constructor(private readonly keepAlive: (count: number) => boolean = () => true) {}
  headPassed(head: RequestHead): boolean {
    this.verdicts.push(`head:${head.bytes.length}`);
    return true;
  }
  messageEnded(): boolean {
    this.verdicts.push('end');
    return this.keepAlive(this.verdicts.filter((verdict) => verdict === 'end').length);
  }
  rejected(rejection: HttpRejection): void {
    this.verdicts.push(rejection.status === 414 ? '414' : `${rejection.status}:${rejection.detail}`);
  }
}

/** Feeds `input` in pieces of `size` bytes (no socket, no parser) and returns the verdicts in order. */
function frame(input: string, size: number, sink = new Recorder()): string[] {
  const framing = new MessageFraming(limits);
  const bytes = Buffer.from(input, 'latin1');
  for (let at = 0; at < bytes.length && framing.open; at += size) framing.feed(bytes.subarray(at, at + size), Infinity, sink);
  return sink.verdicts;
}

const H = 'Host: h\r\n';
const GET = `GET / HTTP/1.1\r\n${H}\r\n`;
const POST = (framing: string, body: string) => `POST / HTTP/1.1\r\n${H}${framing}\r\n\r\n${body}`;
const postLength = (framing: string) => `POST / HTTP/1.1\r\n${H}${framing}\r\n\r\n`.length;

const table: Array<[string, string, string[]]> = [
  ['one GET', GET, [`head:${GET.length}`, 'end']],
  ['two pipelined GETs', GET + GET, [`head:${GET.length}`, 'end', `head:${GET.length}`, 'end']],
  ['empty lines between pipelined requests', `${GET}\r\n\r\n${GET}`, [`head:${GET.length}`, 'end', `head:${GET.length}`, 'end']],
  ['a Content-Length body, then a GET', POST('Content-Length: 5', 'hello') + GET, [`head:${postLength('Content-Length: 5')}`, 'end', `head:${GET.length}`, 'end']],
  ['a body that looks like a head is a body', POST('Content-Length: 16', 'GET / HTTP/1.1\r\n'), [`head:${postLength('Content-Length: 16')}`, 'end']],
  [
    'a chunked body with a trailer, then a GET',
    POST('Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n') + GET,
    [`head:${postLength('Transfer-Encoding: chunked')}`, 'end', `head:${GET.length}`, 'end'],
  ],
  ['a chunked body not ended yet', POST('Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n'), [`head:${postLength('Transfer-Encoding: chunked')}`]],
  [
    'a forbidden trailer',
    POST('Transfer-Encoding: chunked', '0\r\nHost: x\r\n\r\n') + GET,
    [`head:${postLength('Transfer-Encoding: chunked')}`, '400:host field sent as a trailer'],
  ],
  [
    'malformed chunk size',
    POST('Transfer-Encoding: chunked', 'zz\r\n') + GET,
    [`head:${postLength('Transfer-Encoding: chunked')}`, '400:malformed chunked body'],
  ],
  ['a bad head after a good one: nothing after it', `${GET}GET /  HTTP/1.1\r\n${H}\r\n${GET}`, [`head:${GET.length}`, 'end', '400:malformed request line']],
  ['request line of 41 bytes (limit 40)', `GET /${'a'.repeat(27)} HTTP/1.1\r\n${H}\r\n`, ['414']],
  ['request line of 40 bytes', `GET /${'a'.repeat(26)} HTTP/1.1\r\n${H}\r\n`, [`head:${`GET /${'a'.repeat(26)} HTTP/1.1\r\n${H}\r\n`.length}`, 'end']],
];

describe('MessageFraming: verdicts from raw bytes, however they are split (no socket)', function () {
  for (const [name, input, expected] of table) {
    it(name, function () {
      for (const size of [input.length, 1, 2, 3, 7, 16]) expect(frame(input, size), `pieces of ${size}`).to.deep.equal(expected);
    });
  }

  it('a message whose response closes the connection stops the stream: the next head is not looked at', function () {
    const sink = new Recorder(() => false);
    expect(frame(GET + 'GARBAGE\r\n\r\n', 1000, sink)).to.deep.equal([`head:${GET.length}`, 'end']);
  });

  it('a head that starts after the byte llhttp stopped at is never judged', function () {
    const framing = new MessageFraming(limits);
    const sink = new Recorder();
    // llhttp stopped inside the second request line: the second head is judged, the third never parsed.
    framing.feed(Buffer.from(GET + GET + GET, 'latin1'), GET.length + 3, sink);
    expect(sink.verdicts).to.deep.equal([`head:${GET.length}`, 'end', `head:${GET.length}`, 'end']);
  });

  it('a sink that refuses a head (no request for it) stops the read there', function () {
    const framing = new MessageFraming(limits);
    const verdicts: string[] = [];
    framing.feed(Buffer.from(GET + GET, 'latin1'), Infinity, {
      headPassed: () => (verdicts.push('head'), false),
      messageEnded: () => (verdicts.push('end'), true),
      rejected: (rejection) => void verdicts.push(String(rejection.status)),
    });
    expect(verdicts).to.deep.equal(['head']);
  });

  it('says where it is: request line, head in progress, body', function () {
    const framing = new MessageFraming(limits);
    const sink = new Recorder();
    expect([framing.inRequestLine, framing.headInProgress, framing.inBody]).to.deep.equal([true, false, false]);
    framing.feed(Buffer.from('POST / HT', 'latin1'), Infinity, sink);
    expect([framing.inRequestLine, framing.headInProgress, framing.inBody]).to.deep.equal([true, true, false]);
    framing.feed(Buffer.from(`TP/1.1\r\n${H}Content-Length: 3\r\n\r\nab`, 'latin1'), Infinity, sink);
    expect([framing.inRequestLine, framing.headInProgress, framing.inBody]).to.deep.equal([false, false, true]);
    framing.feed(Buffer.from('c', 'latin1'), Infinity, sink);
    expect([framing.headInProgress, framing.inBody, framing.open]).to.deep.equal([false, false, true]);
    expect(sink.verdicts).to.deep.equal([`head:${postLength('Content-Length: 3')}`, 'end']);
  });
});
