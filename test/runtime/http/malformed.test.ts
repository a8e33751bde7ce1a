import { expect } from 'chai';
import { expectRejected, expectServed } from './assertions.js';
import { cleanupAll, exchange, startServer, type RunningServer } from './raw-client.js';

const HOST = 'Host: example.test\r\n';

/** Every row of the strictness table: input, expected status. */
const rows: Array<[string, string, number]> = [
  // 400: malformed request line
  ['request line with two spaces', `GET  / HTTP/1.1\r\n${HOST}\r\n`, 400],
  ['request line without a version', `GET /\r\n${HOST}\r\n`, 400],
  ['request line with a trailing space', `GET / HTTP/1.1 \r\n${HOST}\r\n`, 400],
  ['malformed version token', `GET / HTTP/1.1x\r\n${HOST}\r\n`, 400],
  ['lower-case version token', `GET / http/1.1\r\n${HOST}\r\n`, 400],
  ['invalid method token (left to llhttp)', `G(T / HTTP/1.1\r\n${HOST}\r\n`, 400],
  // 400: malformed header
  ['header line without a colon', `GET / HTTP/1.1\r\n${HOST}NoColon\r\n\r\n`, 400],
  ['header line with an empty name', `GET / HTTP/1.1\r\n${HOST}: value\r\n\r\n`, 400],
  ['whitespace before the colon (left to llhttp)', `GET / HTTP/1.1\r\n${HOST}X-A : 1\r\n\r\n`, 400],
  ['space inside a header name (left to llhttp)', `GET / HTTP/1.1\r\n${HOST}X A: 1\r\n\r\n`, 400],
  ['obs-fold continuation line', `GET / HTTP/1.1\r\n${HOST}X-A: 1\r\n  more\r\n\r\n`, 400],
  ['obs-fold with a tab', `GET / HTTP/1.1\r\n${HOST}X-A: 1\r\n\tmore\r\n\r\n`, 400],
  ['bare LF ending the request line', `GET / HTTP/1.1\n${HOST}\r\n`, 400],
  ['bare LF ending a header line', `GET / HTTP/1.1\r\nHost: example.test\n\r\n`, 400],
  ['bare LF as the empty line', `GET / HTTP/1.1\r\n${HOST}\n`, 400],
  ['bare CR in a header value', `GET / HTTP/1.1\r\n${HOST}X-A: a\rb\r\n\r\n`, 400],
  ['bare CR in the request line', `GET /a\rb HTTP/1.1\r\n${HOST}\r\n`, 400],
  // 400: framing
  ['Content-Length with Transfer-Encoding', `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['duplicate Content-Length (same value)', `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400],
  ['Content-Length list', `POST / HTTP/1.1\r\n${HOST}Content-Length: 5, 5\r\n\r\nhello`, 400],
  ['negative Content-Length', `POST / HTTP/1.1\r\n${HOST}Content-Length: -5\r\n\r\nhello`, 400],
  ['non-numeric Content-Length', `POST / HTTP/1.1\r\n${HOST}Content-Length: five\r\n\r\nhello`, 400],
  ['Content-Length beyond 15 digits', `POST / HTTP/1.1\r\n${HOST}Content-Length: 1234567890123456\r\n\r\n`, 400],
  ['malformed chunk size', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400],
  ['chunk data longer than its size', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n`, 400],
  ['bare LF after a chunk size', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, 400],
  ['chunked twice', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n`, 400],
  ['a coding after chunked', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding without chunked', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip\r\n\r\n`, 400],
  ['empty transfer coding', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: ,chunked\r\n\r\n0\r\n\r\n`, 400],
  ['HTTP/1.0 with Transfer-Encoding: chunked', `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400],
  // 400: Host
  ['HTTP/1.1 without Host', 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n', 400],
  ['empty Host', 'GET / HTTP/1.1\r\nHost: \r\n\r\n', 400],
  ['duplicated Host', `GET / HTTP/1.1\r\n${HOST}${HOST}\r\n`, 400],
  ['duplicated Host with another case', `GET / HTTP/1.1\r\n${HOST}host: other.test\r\n\r\n`, 400],
  ['Host with a space', 'GET / HTTP/1.1\r\nHost: exa mple.test\r\n\r\n', 400],
  ['Host with a path', 'GET / HTTP/1.1\r\nHost: example.test/path\r\n\r\n', 400],
  ['Host with a bad port', 'GET / HTTP/1.1\r\nHost: example.test:80x\r\n\r\n', 400],
  ['Host with userinfo', 'GET / HTTP/1.1\r\nHost: user@example.test\r\n\r\n', 400],
  ['duplicated Host in HTTP/1.0', `GET / HTTP/1.0\r\n${HOST}${HOST}\r\n`, 400],
  // 400: RFC 9112 3.2.4 / RFC 9110 6.5.1 / overlong UTF-8
  ['asterisk-form target on GET', `GET * HTTP/1.1\r\n${HOST}\r\n`, 400],
  ['asterisk-form target on POST', `POST * HTTP/1.1\r\n${HOST}Content-Length: 0\r\n\r\n`, 400],
  ['percent-encoded overlong UTF-8 in the path', `GET /%C0%AE%C0%AE/etc/passwd HTTP/1.1\r\n${HOST}\r\n`, 400],
  ['percent-encoded overlong UTF-8 in the query', `GET /?f=%E0%80%AF HTTP/1.1\r\n${HOST}\r\n`, 400],
  // 400: RFC 9112 3.2 request-target forms, RFC 9110 5.3 Content-Type once, RFC 9110 5.5 field values
  ['authority-form target on GET', `GET example.test:80 HTTP/1.1\r\n${HOST}\r\n`, 400],
  ['relative-reference target', `GET index.html HTTP/1.1\r\n${HOST}\r\n`, 400],
  ['query-only target', `GET ?a=1 HTTP/1.1\r\n${HOST}\r\n`, 400],
  ['CONNECT with an origin-form target', `CONNECT /tunnel HTTP/1.1\r\n${HOST}\r\n`, 400],
  ['duplicate Content-Type', `POST / HTTP/1.1\r\n${HOST}Content-Type: text/plain\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`, 400],
  ['duplicate Content-Type, same value, another case', `POST / HTTP/1.1\r\n${HOST}Content-Type: text/plain\r\ncontent-type: text/plain\r\nContent-Length: 0\r\n\r\n`, 400],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${HOST}X-A: a\x00b\r\n\r\n`, 400],
  ['ESC in a header value', `GET / HTTP/1.1\r\n${HOST}X-A: \x1b[31m\r\n\r\n`, 400],
  ['DEL in a header value', `GET / HTTP/1.1\r\n${HOST}X-A: a\x7f\r\n\r\n`, 400],
  // 505
  ['HTTP/2.0 request line', `GET / HTTP/2.0\r\n${HOST}\r\n`, 505],
  ['HTTP/1.2 request line', `GET / HTTP/1.2\r\n${HOST}\r\n`, 505],
  ['HTTP/0.9 request line', `GET / HTTP/0.9\r\n${HOST}\r\n`, 505],
  ['HTTP/2 connection preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505],
  // 501
  ['unknown transfer coding', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: foo\r\n\r\n`, 501],
  ['unknown coding before chunked', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n`, 501],
  ['chunked with parameters', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n`, 501],
];

describe('strict server: the strictness table', function () {
  let running: RunningServer;
  beforeEach(async function () {
    running = await startServer();
  });
  afterEach(cleanupAll);

  for (const [name, request, status] of rows) {
    it(`${status}: ${name}`, async function () {
      const response = await expectRejected(running.port, request, status);
      // The body names the problem in one line; the app never saw the request.
      expect(response.body.trim().split('\n')).to.have.length(1);
      expect(running.log.join('\n')).to.contain(`${status} `);
    });
  }

  it('the app never sees a request whose head is rejected', async function () {
    let calls = 0;
    const { port } = await startServer({}, (_req, res) => {
      calls++;
      res.end();
    });
    // Chunk framing errors are found in the body, after the (valid) head reached the app.
    const headRows = rows.filter(([, request]) => !/chunked\r\n\r\n(zz|2\r\nhello|5\nhello)/.test(request));
    expect(headRows).to.have.length(rows.length - 3);
    for (const [, request, status] of headRows) await expectRejected(port, request, status);
    expect(calls).to.equal(0);
  });

  describe('the request rules of RFC 9110 and 9112 (as gunicorn 26 refuses them): the exact answer', function () {
    const exact: Array<[string, string, string]> = [
      ['duplicate Content-Type', `POST / HTTP/1.1\r\n${HOST}Content-Type: a/b\r\nContent-Type: a/b\r\nContent-Length: 0\r\n\r\n`, 'Bad Request: duplicate Content-Type header\n'],
      ['authority-form on GET', `GET example.test:443 HTTP/1.1\r\n${HOST}\r\n`, 'Bad Request: authority-form target (host:port) on a method other than CONNECT\n'],
      ['a relative reference', `GET a/b HTTP/1.1\r\n${HOST}\r\n`, 'Bad Request: request target is neither origin-form (/path) nor absolute-form\n'],
      ['CONNECT without host:port', `CONNECT / HTTP/1.1\r\n${HOST}\r\n`, 'Bad Request: CONNECT target is not host:port (authority-form)\n'],
      ['a control character in a value', `GET / HTTP/1.1\r\n${HOST}X-A: 1\x01\r\n\r\n`, 'Bad Request: control character in a header value\n'],
    ];
    for (const [name, request, body] of exact) {
      it(`400: ${name}`, async function () {
        const response = await expectRejected(running.port, Buffer.from(request, 'latin1'), 400);
        expect(response.body).to.equal(body);
      });
    }

    it('400 for a chunked body the client cut short right after 0\\r\\n (its FIN before the empty line); the app never sees the body end', async function () {
      const events: string[] = [];
      const { port } = await startServer({}, (req, res) => {
        req.on('data', () => undefined);
        req.on('end', () => {
          events.push('end');
          res.end('complete\n');
        });
        req.on('error', () => events.push('error'));
      });
      const { connect, parseResponses } = await import('./raw-client.js');
      const client = await connect(port);
      client.socket.end(`POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n`);
      const responses = parseResponses(await client.closed());
      expect(responses.map((r) => [r.status, r.body])).to.deep.equal([
        [400, 'Bad Request: chunked body cut short: the connection ended before the last chunk and the empty line after it\n'],
      ]);
      expect(events).to.not.include('end');
    });
  });

  it('400: raw overlong UTF-8 bytes in the target', async function () {
    await expectRejected(running.port, Buffer.from(`GET /\xc0\xaf HTTP/1.1\r\n${HOST}\r\n`, 'latin1'), 400);
  });

  describe('fields sent as trailers', function () {
    const forbidden = ['Host: evil.test', 'Content-Length: 5', 'Transfer-Encoding: chunked', 'Trailer: X-T', 'Connection: close', 'TE: trailers', 'Upgrade: h2c', 'Keep-Alive: timeout=1', 'Authorization: Basic YTpi'];
    for (const trailer of forbidden) {
      it(`400: ${trailer.split(':')[0]} as a trailer`, async function () {
        let calls = 0;
        // The app only answers once the body (and its trailers) ended; the 400 comes first.
        const { port, log } = await startServer({}, (req, res) => {
          calls++;
          req.resume();
          req.on('end', () => res.end('late\n'));
        });
        const response = await expectRejected(port, `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${trailer}\r\n\r\n`, 400);
        expect(response.body).to.contain('sent as a trailer');
        expect(log.join('\n')).to.contain('400 ');
        expect(calls).to.be.at.most(1);
      });
    }

    it('other trailers pass, and the app reads them', async function () {
      const { port } = await startServer({}, (req, res) => {
        req.resume();
        req.on('end', () => {
          const body = `ok trailers=${JSON.stringify(req.trailers)}`;
          res.writeHead(200, { 'Content-Length': Buffer.byteLength(body) }).end(body);
        });
      });
      const response = await exchange(port, `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nServer-Timing: db;dur=5\r\n\r\n`);
      expect(response.body).to.equal('ok trailers={"x-checksum":"abc","server-timing":"db;dur=5"}');
    });
  });

  it('a chunk framing error after the app already answered closes the connection without a second response', async function () {
    const { port } = await startServer({}, (_req, res) => res.writeHead(200, { 'Content-Length': 6 }).end('early\n'));
    const { connect } = await import('./raw-client.js');
    const client = await connect(port);
    client.socket.write(`POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\nzz\r\n`);
    const bytes = await client.closed();
    const { parseResponses } = await import('./raw-client.js');
    const responses = parseResponses(bytes);
    expect(responses.map((r) => r.status)).to.deep.equal([200]);
  });

  describe('what still passes', function () {
    const good: Array<[string, string]> = [
      ['HTTP/1.0 without Host', 'GET / HTTP/1.0\r\n\r\n'],
      ['Host with a port', 'GET / HTTP/1.1\r\nHost: example.test:8080\r\n\r\n'],
      ['Host as an IPv6 literal', 'GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n'],
      ['header names in any case', 'GET / HTTP/1.1\r\nhOsT: example.test\r\n\r\n'],
      ['a value without a space after the colon', 'GET / HTTP/1.1\r\nHost:example.test\r\n\r\n'],
      ['an empty line before the request line', `\r\nGET / HTTP/1.1\r\n${HOST}\r\n`],
      ['several empty lines before the request line', `\r\n\r\n\r\nGET / HTTP/1.1\r\n${HOST}\r\n`],
      ['an asterisk-form OPTIONS', `OPTIONS * HTTP/1.1\r\n${HOST}\r\n`],
      ['an absolute-form target', `GET http://example.test/a?b=1 HTTP/1.1\r\n${HOST}\r\n`],
      ['a tab and obs-text in a header value', `GET / HTTP/1.1\r\n${HOST}X-A: a\tb \xe9\r\n\r\n`],
      ['one Content-Type', `POST / HTTP/1.1\r\n${HOST}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`],
      ['well-formed percent-encoded UTF-8 in the target', `GET /caf%C3%A9?q=%E2%82%AC&b=%FF HTTP/1.1\r\n${HOST}\r\n`],
      ['a Content-Length body', `POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\n\r\nhello`],
      ['a chunked body with trailers', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n`],
      ['Transfer-Encoding in mixed case', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n`],
      ['gzip then chunked', `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`],
    ];
    for (const [name, request] of good) {
      it(`serves ${name}`, async function () {
        await expectServed(running.port, request);
      });
    }
  });
});
