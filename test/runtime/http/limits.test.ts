import { expect } from 'chai';
import { expectRejected, expectServed } from './assertions.js';
import { cleanupAll, headerLineOf, requestLineOf, startServer } from './raw-client.js';

const HOST = 'Host: example.test\r\n';

describe('strict server: request limits at their boundaries', function () {
  afterEach(cleanupAll);

  describe('defaults (4094 / 100 / 8190)', function () {
    it('accepts a 4094-byte request line and answers 414 to a 4095-byte one', async function () {
      const { port } = await startServer();
      expect(requestLineOf(4094)).to.have.length(4094);
      await expectServed(port, `${requestLineOf(4094)}\r\n${HOST}\r\n`);
      await expectRejected(port, `${requestLineOf(4095)}\r\n${HOST}\r\n`, 414);
    });

    it('accepts 100 header fields and answers 431 to 101', async function () {
      const { port } = await startServer();
      const fields = (count: number) => HOST + Array.from({ length: count - 1 }, (_, i) => `X-F${i}: v\r\n`).join('');
      await expectServed(port, `GET / HTTP/1.1\r\n${fields(100)}\r\n`);
      await expectRejected(port, `GET / HTTP/1.1\r\n${fields(101)}\r\n`, 431);
    });

    it('accepts an 8190-byte header line (CRLF included) and answers 431 to 8191', async function () {
      const { port } = await startServer();
      expect(headerLineOf(8190)).to.have.length(8190);
      await expectServed(port, `GET / HTTP/1.1\r\n${HOST}${headerLineOf(8190)}\r\n`);
      await expectRejected(port, `GET / HTTP/1.1\r\n${HOST}${headerLineOf(8191)}\r\n`, 431);
    });
  });

  it('--limit-request-line 8188: an 8188-byte line passes, 8189 is 414', async function () {
    const { port } = await startServer({ limitRequestLine: 8188 });
    await expectServed(port, `${requestLineOf(8188)}\r\n${HOST}\r\n`);
    const response = await expectRejected(port, `${requestLineOf(8189)}\r\n${HOST}\r\n`, 414);
    expect(response.body).to.contain('8189').and.contain('8188');
  });

  it('answers 414 before the request line ends when it is already too long', async function () {
    const { port } = await startServer({ limitRequestLine: 100 });
    // No CRLF at all: the limit is decided from the bytes so far.
    await expectRejected(port, `GET /${'a'.repeat(200)}`, 414);
  });

  it('--limit-request-line 0 lifts the limit (a 20000-byte line passes) up to the 65536-byte cap', async function () {
    const { port } = await startServer({ limitRequestLine: 0 });
    await expectServed(port, `${requestLineOf(20000)}\r\n${HOST}\r\n`);
    await expectServed(port, `${requestLineOf(65536)}\r\n${HOST}\r\n`);
    await expectRejected(port, `${requestLineOf(65537)}\r\n${HOST}\r\n`, 414);
  });

  it('custom field count and field size: limit passes, limit + 1 is 431', async function () {
    const { port } = await startServer({ limitRequestFields: 3, limitRequestFieldSize: 64 });
    await expectServed(port, `GET / HTTP/1.1\r\n${HOST}X-A: 1\r\nX-B: 2\r\n\r\n`);
    await expectRejected(port, `GET / HTTP/1.1\r\n${HOST}X-A: 1\r\nX-B: 2\r\nX-C: 3\r\n\r\n`, 431);
    await expectServed(port, `GET / HTTP/1.1\r\n${HOST}${headerLineOf(64)}\r\n`);
    await expectRejected(port, `GET / HTTP/1.1\r\n${HOST}${headerLineOf(65)}\r\n`, 431);
  });

  it('the Host line counts like any other header line', async function () {
    const { port } = await startServer({ limitRequestFields: 1 });
    await expectServed(port, `GET / HTTP/1.1\r\n${HOST}\r\n`);
    await expectRejected(port, `GET / HTTP/1.1\r\n${HOST}X-A: 1\r\n\r\n`, 431);
  });

  it("Node's own 16 KiB header cap does not pre-empt the limits (60 KiB of headers pass)", async function () {
    const { port } = await startServer();
    const headers = Array.from({ length: 60 }, (_, i) => headerLineOf(1024, `X-Big${i}`)).join('');
    await expectServed(port, `GET / HTTP/1.1\r\n${HOST}${headers}\r\n`);
  });

  it('a header section split across many small writes is still counted exactly', async function () {
    const { port } = await startServer({ limitRequestFieldSize: 64 });
    const { connect } = await import('./raw-client.js');
    const client = await connect(port);
    const request = `GET / HTTP/1.1\r\n${HOST}${headerLineOf(65)}\r\n`;
    for (let i = 0; i < request.length; i += 7) client.socket.write(request.slice(i, i + 7));
    const [response] = await client.responses(1);
    expect(response!.status).to.equal(431);
    await client.closed();
  });
});
