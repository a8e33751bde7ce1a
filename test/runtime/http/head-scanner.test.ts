import { expect } from 'chai';
import { ChunkedFraming } from '../../../runtime/http/chunked-framing.js';
import { HeadScanner, hasOverlongUtf8, type ScanResult } from '../../../runtime/http/head-scanner.js';
import { resolveLimits } from '../../../runtime/http/limits.js';

const limits = resolveLimits({ limitRequestLine: 40, limitRequestFields: 3, limitRequestFieldSize: 30 });

/** The verdict; for a head its length and everything after it (the rest of this piece and the unfed bytes). */
function outcome(result: ScanResult, unfed: Buffer): string {
  if (result.kind === 'partial') return 'partial';
  if (result.kind === 'reject') return String(result.rejection.status);
  return `head:${result.head.bytes.length}:${result.rest.toString('latin1')}${unfed.toString('latin1')}`;
}

/** Feeds `input` split into pieces of `size` bytes; the first non-partial outcome, or 'partial'. */
function scan(input: string, size: number): string {
  const scanner = new HeadScanner(limits);
  const bytes = Buffer.from(input, 'latin1');
  for (let i = 0; i < bytes.length; i += size) {
    const result = outcome(scanner.feed(bytes.subarray(i, i + size)), bytes.subarray(i + size));
    if (result !== 'partial') return result;
  }
  return 'partial';
}

const H = 'Host: h\r\n';
const cases: Array<[string, string]> = [
  [`GET / HTTP/1.1\r\n${H}\r\n`, `head:${`GET / HTTP/1.1\r\n${H}\r\n`.length}:`],
  [`\r\n\r\nGET / HTTP/1.1\r\n${H}\r\nNEXT`, `head:${`GET / HTTP/1.1\r\n${H}\r\n`.length}:NEXT`],
  [`GET /${'a'.repeat(26)} HTTP/1.1\r\n${H}\r\n`, `head:${`GET /${'a'.repeat(26)} HTTP/1.1\r\n${H}\r\n`.length}:`],
  [`GET /${'a'.repeat(27)} HTTP/1.1\r\n${H}\r\n`, '414'],
  [`GET /${'a'.repeat(27)} HTTP/1.1`, '414'],
  [`GET / HTTP/1.1\r\n${H}X-A: ${'v'.repeat(30 - 'X-A: \r\n'.length)}\r\n\r\n`, `head:${`GET / HTTP/1.1\r\n${H}X-A: ${'v'.repeat(23)}\r\n\r\n`.length}:`],
  [`GET / HTTP/1.1\r\n${H}X-A: ${'v'.repeat(31 - 'X-A: \r\n'.length)}\r\n\r\n`, '431'],
  [`GET / HTTP/1.1\r\n${H}X-A: 1\r\nX-B: 2\r\n\r\n`, `head:${`GET / HTTP/1.1\r\n${H}X-A: 1\r\nX-B: 2\r\n\r\n`.length}:`],
  [`GET / HTTP/1.1\r\n${H}X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n`, '431'],
  [`GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, '400'],
  [`GET / HTTP/1.1\r\n${H}X-A: a\r\r\n\r\n`, '400'],
  [`GET / HTTP/1.1\n${H}\r\n`, '400'],
  [`GET / HTTP/1.1\r\n${H}X-A: 1\r\n continued\r\n\r\n`, '400'],
  [`GET / HTTP/3.0\r\n${H}\r\n`, '505'],
  [`GET / HTTP/1.1\r\n${H}Transfer-Encoding: br\r\n\r\n`, '501'],
  [`GET / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 1\r\n\r\n`, '400'],
  // RFC 9110 5.3: Content-Type once; RFC 9110 5.5: no control characters in a value (HTAB and obs-text are fine)
  [`POST / HTTP/1.1\r\n${H}Content-Type: a/b\r\ncontent-type: a/b\r\n\r\n`, '400'],
  [`POST / HTTP/1.1\r\n${H}Content-Type: a/b\r\n\r\n`, `head:${`POST / HTTP/1.1\r\n${H}Content-Type: a/b\r\n\r\n`.length}:`],
  [`GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, '400'],
  [`GET / HTTP/1.1\r\n${H}X-A: ab\x7f\r\n\r\n`, '400'],
  [`GET / HTTP/1.1\r\n${H}X-A: \x1b[0m\r\n\r\n`, '400'],
  [`GET / HTTP/1.1\r\n${H}X-A: a\tb\xe9\r\n\r\n`, `head:${`GET / HTTP/1.1\r\n${H}X-A: a\tb\xe9\r\n\r\n`.length}:`],
  // RFC 9112 3.2: origin-form, absolute-form, authority-form for CONNECT only
  [`GET h:80 HTTP/1.1\r\n${H}\r\n`, '400'],
  [`GET a/b HTTP/1.1\r\n${H}\r\n`, '400'],
  [`GET ?q HTTP/1.1\r\n${H}\r\n`, '400'],
  [`CONNECT / HTTP/1.1\r\n${H}\r\n`, '400'],
  [`CONNECT h:443 HTTP/1.1\r\n${H}\r\n`, `head:${`CONNECT h:443 HTTP/1.1\r\n${H}\r\n`.length}:`],
  [`GET http://h/a HTTP/1.1\r\n${H}\r\n`, `head:${`GET http://h/a HTTP/1.1\r\n${H}\r\n`.length}:`],
];

describe('HeadScanner: the same verdict however the bytes are split', function () {
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input.slice(0, 60))} -> ${expected.split(':')[0]}`, function () {
      for (const size of [input.length, 1, 2, 3, 5, 7, 16]) {
        expect(scan(input, size), `pieces of ${size}`).to.equal(expected);
      }
    });
  }

  it('the head it hands on is the exact bytes received, without ignored empty lines', function () {
    const scanner = new HeadScanner(limits);
    const result = scanner.feed(Buffer.from(`\r\nGET / HTTP/1.1\r\n${H}\r\nbody`, 'latin1'));
    expect(result.kind).to.equal('head');
    if (result.kind !== 'head') return;
    expect(result.head.bytes.toString('latin1')).to.equal(`GET / HTTP/1.1\r\n${H}\r\n`);
    expect(result.head.httpMinorVersion).to.equal(1);
    expect(result.head.contentLength).to.equal(null);
  });
});

describe('HeadScanner: request line, Host and framing verdicts', function () {
  /** Verdict of one head fed whole: the status and detail of a rejection, or what the head carries. */
  function verdict(input: string, scanner = new HeadScanner(limits)): string {
    const result = scanner.feed(Buffer.from(input, 'latin1'));
    if (result.kind === 'reject') return `${result.rejection.status} ${result.rejection.detail}`;
    if (result.kind === 'partial') return 'partial';
    return `head 1.${result.head.httpMinorVersion} length=${result.head.contentLength} chunked=${result.head.chunked}`;
  }
  const table: Array<[string, string]> = [
    [`GET  / HTTP/1.1\r\n${H}\r\n`, '400 malformed request line'],
    [` GET / HTTP/1.1\r\n${H}\r\n`, '400 malformed request line'],
    [`GET / HTTP/1.1 \r\n${H}\r\n`, '400 malformed request line'],
    [`GET\t/ HTTP/1.1\r\n${H}\r\n`, '400 malformed request line'],
    [`GET /\r\n${H}\r\n`, '400 malformed request line'],
    [`GET / HTTP/1.1x\r\n${H}\r\n`, '400 malformed HTTP version'],
    [`GET / HTTP/11.1\r\n${H}\r\n`, '400 malformed HTTP version'],
    [`GET / http/1.1\r\n${H}\r\n`, '400 malformed HTTP version'],
    [`GET / HTTP/1.\r\n${H}\r\n`, '400 malformed HTTP version'],
    [`GET / HTTP/a.1\r\n${H}\r\n`, '400 malformed HTTP version'],
    [`GET / HTTP/2.0\r\n${H}\r\n`, '505 HTTP/2.0 is not supported'],
    [`GET * HTTP/1.1\r\n${H}\r\n`, '400 asterisk-form target on a method other than OPTIONS'],
    [`OPTIONSX * HTTP/1.1\r\n${H}\r\n`, '400 asterisk-form target on a method other than OPTIONS'],
    [`OPTIONS * HTTP/1.1\r\n${H}\r\n`, 'head 1.1 length=null chunked=false'],
    [`OPTIONS /* HTTP/1.1\r\n${H}\r\n`, 'head 1.1 length=null chunked=false'],
    [`GET /%c0%ae%c0%ae/x HTTP/1.1\r\n${H}\r\n`, '400 overlong UTF-8 sequence in the request target'],
    [`GET /%C3%A9 HTTP/1.1\r\n${H}\r\n`, 'head 1.1 length=null chunked=false'],
    [`GET / HTTP/1.2\r\n${H}\r\n`, '505 HTTP/1.2 is not supported'],
    ['GET / HTTP/1.0\r\n\r\n', 'head 1.0 length=null chunked=false'],
    ['GET / HTTP/1.1\r\n\r\n', '400 missing Host header'],
    ['GET / HTTP/1.1\r\nHost : h\r\n\r\n', '400 missing Host header'],
    ['GET / HTTP/1.1\r\nHost:  h  \r\n\r\n', 'head 1.1 length=null chunked=false'],
    ['GET / HTTP/1.1\r\nhoSt:h\r\n\r\n', 'head 1.1 length=null chunked=false'],
    ['GET / HTTP/1.1\r\nHost:\t\r\n\r\n', '400 empty Host header'],
    ['GET / HTTP/1.1\r\nHOST: h\r\nhost: h\r\n\r\n', '400 duplicate Host header'],
    ['GET / HTTP/1.1\r\nHost: a b\r\n\r\n', '400 malformed Host header'],
    ['GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n', 'head 1.1 length=null chunked=false'],
    [`GET / HTTP/1.1\r\n: x\r\n${H}\r\n`, '400 malformed header line (empty name)'],
    [`GET / HTTP/1.1\r\nnocolon\r\n${H}\r\n`, '400 malformed header line (no colon)'],
    [`POST / HTTP/1.1\r\n${H}Content-Length:  12 \r\n\r\n`, 'head 1.1 length=12 chunked=false'],
    [`POST / HTTP/1.1\r\n${H}content-LENGTH: 1 2\r\n\r\n`, '400 invalid Content-Length'],
    [`POST / HTTP/1.1\r\n${H}Content-Length: +1\r\n\r\n`, '400 invalid Content-Length'],
    [`POST / HTTP/1.1\r\n${H}TE: x\r\nTransfer-Encoding: chunked\r\n\r\n`, 'head 1.1 length=null chunked=true'],
    [`POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n`, '400 Transfer-Encoding in an HTTP/1.0 request'],
  ];
  for (const [input, expected] of table) {
    it(`${JSON.stringify(input.slice(0, 50))} -> ${expected}`, function () {
      expect(verdict(input)).to.equal(expected);
    });
  }

  it('checks every Host on a reused scanner, not only the first one it saw', function () {
    const scanner = new HeadScanner(limits);
    expect(verdict('GET / HTTP/1.1\r\nHost: a\r\n\r\n', scanner)).to.equal('head 1.1 length=null chunked=false');
    scanner.reset();
    expect(verdict('GET / HTTP/1.1\r\nHost: a\r\n\r\n', scanner)).to.equal('head 1.1 length=null chunked=false');
    scanner.reset();
    expect(verdict('GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', scanner)).to.equal('400 malformed Host header');
    scanner.reset();
    expect(verdict('GET / HTTP/1.1\r\nHost:\r\n\r\n', scanner)).to.equal('400 empty Host header');
  });

  it('hands on the chunk itself when it is exactly one head, and views otherwise', function () {
    const chunk = Buffer.from(`GET / HTTP/1.1\r\n${H}\r\n`, 'latin1');
    const whole = new HeadScanner(limits).feed(chunk);
    expect(whole.kind === 'head' && whole.head.bytes === chunk && whole.rest.length === 0).to.equal(true);
    const withRest = new HeadScanner(limits).feed(Buffer.concat([chunk, Buffer.from('X')]));
    expect(withRest.kind === 'head' && withRest.head.bytes.toString('latin1') === chunk.toString('latin1') && withRest.rest.toString() === 'X').to.equal(true);
  });
});

describe('ChunkedFraming: where a chunked message ends, however the bytes are split', function () {
  /** Feeds `input` in pieces of `size`; the outcome and how many bytes belonged to the message. */
  function follow(input: string, size: number): string {
    const framing = new ChunkedFraming();
    const bytes = Buffer.from(input, 'latin1');
    let offset = 0;
    for (let i = 0; i < bytes.length; i += size) {
      const step = framing.feed(bytes.subarray(i, Math.min(i + size, bytes.length)));
      offset = i + step.used;
      if (step.state !== 'more') return `${step.state}${step.trailer ? `:${step.trailer}` : ''}@${offset}`;
    }
    return `more@${offset}`;
  }
  const cases: Array<[string, string]> = [
    ['5\r\nhello\r\n0\r\n\r\nGET', 'done@15'],
    ['4\r\n\r\n\r\n\r\n0\r\n\r\n', 'done@14'],
    ['a;ext="x"\r\n0123456789\r\n0\r\n\r\n', 'done@28'],
    ['1\r\nx\r\n0\r\nX-T: 1\r\n\r\nNEXT', 'done@19'],
    ['1\r\nx\r\n0\r\nX-T: 1\r\nHost: evil\r\n\r\n', 'forbidden-trailer:host@22'],
    ['0\r\ncontent-LENGTH: 5\r\n\r\n', 'forbidden-trailer:content-length@18'],
    ['zz\r\nhello\r\n0\r\n\r\n', 'invalid@0'],
    ['5\nhello\r\n0\r\n\r\n', 'invalid@1'],
    ['2\r\nhello\r\n', 'invalid@5'],
    ['5\r\nhel', 'more@6'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${expected}`, function () {
      for (const size of [input.length, 1, 2, 3, 7]) expect(follow(input, size), `pieces of ${size}`).to.equal(expected);
    });
  }
});

describe('hasOverlongUtf8', function () {
  const check = (target: string | Buffer) => {
    const bytes = typeof target === 'string' ? Buffer.from(target, 'latin1') : target;
    return hasOverlongUtf8(bytes, 0, bytes.length);
  };
  it('finds overlong sequences, percent-encoded or raw', function () {
    expect(check('/%C0%AE%C0%AE/etc/passwd')).to.equal(true);
    expect(check('/a%c1%9c')).to.equal(true);
    expect(check('/%E0%80%AF')).to.equal(true);
    expect(check('/%F0%80%80%AF')).to.equal(true);
    expect(check(Buffer.from([0x2f, 0xc0, 0xaf]))).to.equal(true);
  });
  it('leaves well-formed UTF-8, other bytes and plain targets alone', function () {
    expect(check('/caf%C3%A9?q=%E2%82%AC')).to.equal(false);
    expect(check('/%E0%A0%80/%F0%90%80%80')).to.equal(false);
    expect(check('/?bin=%FF%FE')).to.equal(false);
    expect(check('/100%25/%zz/%C')).to.equal(false);
    expect(check('*')).to.equal(false);
  });
});
