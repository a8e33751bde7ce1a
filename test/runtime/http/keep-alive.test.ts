import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { cleanupAll, connect, echoApp, eventually, onCleanup, parseResponses, startServer } from './raw-client.js';
import { createStrictServer } from '../../../runtime/http/strict-server.js';
import { DEFAULT_LIMITS } from './raw-client.js';

const HOST = 'Host: example.test\r\n';

describe('strict server: keep-alive and pipelining', function () {
  afterEach(cleanupAll);

  it('serves two requests one after the other on one keep-alive connection', async function () {
    const { port, sockets } = await startServer();
    const client = await connect(port);
    client.socket.write(`GET /one HTTP/1.1\r\n${HOST}\r\n`);
    await client.responses(1);
    client.socket.write(`POST /two HTTP/1.1\r\n${HOST}Content-Length: 3\r\n\r\nabc`);
    const responses = await client.responses(2);
    expect(responses.map((r) => r.body)).to.deep.equal(['ok GET /one body=0\n', 'ok POST /two body=3\n']);
    expect(responses.map((r) => r.headers['connection'])).to.deep.equal(['keep-alive', 'keep-alive']);
    expect(sockets).to.have.length(1);
    expect(client.socket.destroyed).to.equal(false);
  });

  it('answers pipelined requests (with Content-Length and chunked bodies) in order', async function () {
    const { port } = await startServer();
    const client = await connect(port);
    client.socket.write(
      `GET /a HTTP/1.1\r\n${HOST}\r\n` +
        `POST /b HTTP/1.1\r\n${HOST}Content-Length: 4\r\n\r\nbody` +
        `POST /c HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\n\r\n\r\n\r\n0\r\n\r\n` +
        `GET /d HTTP/1.1\r\n${HOST}\r\n`,
    );
    const responses = await client.responses(4);
    expect(responses.map((r) => r.body)).to.deep.equal([
      'ok GET /a body=0\n',
      'ok POST /b body=4\n',
      'ok POST /c body=7\n',
      'ok GET /d body=0\n',
    ]);
  });

  it('pipelined requests sent one byte at a time are all scanned and answered', async function () {
    const { port } = await startServer();
    const client = await connect(port);
    const requests = `GET /a HTTP/1.1\r\n${HOST}\r\nPOST /b HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET /c HTTP/1.1\r\n${HOST}\r\n`;
    for (const byte of requests) client.socket.write(byte);
    const responses = await client.responses(3);
    expect(responses.map((r) => r.body)).to.deep.equal(['ok GET /a body=0\n', 'ok POST /b body=2\n', 'ok GET /c body=0\n']);
  });

  it('a bad request after good pipelined ones: the good ones are answered first, then the error, then close', async function () {
    const slowApp: http.RequestListener = (req, res) => setTimeout(() => echoApp(req, res), 50);
    const { port } = await startServer({}, slowApp);
    const client = await connect(port);
    client.socket.write(`GET /a HTTP/1.1\r\n${HOST}\r\nGET /b HTTP/1.1\r\n${HOST}\r\nGET / HTTP/9.9\r\n${HOST}\r\nGET /never HTTP/1.1\r\n${HOST}\r\n`);
    const bytes = await client.closed();
    const responses = parseResponses(bytes);
    expect(responses.map((r) => r.status)).to.deep.equal([200, 200, 505]);
    expect(responses[2]!.headers['connection']).to.equal('close');
  });

  it('ignores empty lines before a pipelined request line (RFC 9112 2.2)', async function () {
    const { port } = await startServer();
    const client = await connect(port);
    client.socket.write(`GET /a HTTP/1.1\r\n${HOST}\r\n\r\n\r\nGET /b HTTP/1.1\r\n${HOST}\r\n`);
    const responses = await client.responses(2);
    expect(responses.map((r) => r.body)).to.deep.equal(['ok GET /a body=0\n', 'ok GET /b body=0\n']);
    // The empty line in a write of its own (usually a read of its own too), then the request.
    await new Promise((resolve) => client.socket.write('\r\n', resolve));
    client.socket.write(`GET /c HTTP/1.1\r\n${HOST}\r\n`);
    expect((await client.responses(3)).map((r) => r.body)[2]).to.equal('ok GET /c body=0\n');
  });

  it('stops after a request that asked to close, even with more pipelined', async function () {
    const { port } = await startServer();
    const client = await connect(port);
    client.socket.write(`GET /a HTTP/1.1\r\n${HOST}Connection: close\r\n\r\nGET /b HTTP/1.1\r\n${HOST}\r\n`);
    const bytes = await client.closed();
    expect(parseResponses(bytes).map((r) => r.body)).to.deep.equal(['ok GET /a body=0\n']);
  });

  it('many pipelined requests with large responses survive Node pausing the socket', async function () {
    // Large enough that the kernel's socket buffers cannot take all of it while the client does not read.
    const big = Buffer.alloc(1024 * 1024, 'x');
    const { port, server, sockets } = await startServer({}, (req, res) => {
      res.writeHead(200, { 'Content-Length': big.length, 'X-Url': req.url ?? '' });
      res.end(big);
    });
    let pauses = 0;
    server.on('connection', (socket: net.Socket) => socket.on('pause', () => pauses++));
    const client = await connect(port);
    const count = 20;
    const batch = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `GET /${from + i} HTTP/1.1\r\n${HOST}\r\n`).join('');
    // The client reads nothing until the server holds responses it cannot send: the second batch then
    // arrives while Node's outgoing queue is over its high-water mark, and Node pauses the socket.
    client.socket.pause();
    client.socket.write(batch(0, count / 2));
    await eventually(() => sockets.length === 1 && sockets[0]!.writableNeedDrain, 5000, 'server-side socket over its high-water mark');
    client.socket.write(batch(count / 2, count));
    await eventually(() => pauses > 0, 5000, 'Node paused the socket for backpressure');
    client.socket.resume();
    // The bodies alone are count MiB; the heads come on top, so the last response may still be arriving when the
    // byte count passes that: parse (20 MiB, not on every chunk) only from then on, until all are whole.
    await eventually(() => client.received().length >= count * big.length, 20000, 'every response body');
    let responses = parseResponses(client.received());
    await eventually(() => (responses = parseResponses(client.received())).length === count, 5000, 'every response whole');
    expect(responses.map((r) => r.headers['x-url'])).to.deep.equal(Array.from({ length: count }, (_, i) => `/${i}`));
  });

  it('--keep-alive 0 closes the connection after each response', async function () {
    const { port } = await startServer({ keepAliveSeconds: 0 });
    const client = await connect(port);
    client.socket.write(`GET /a HTTP/1.1\r\n${HOST}\r\nGET /b HTTP/1.1\r\n${HOST}\r\n`);
    const bytes = await client.closed();
    const responses = parseResponses(bytes);
    expect(responses.map((r) => r.body)).to.deep.equal(['ok GET /a body=0\n']);
    expect(responses[0]!.headers['connection']).to.equal('close');
  });

  it('Expect: 100-continue gets its interim response and the body after it', async function () {
    const { port } = await startServer();
    const client = await connect(port);
    client.socket.write(`POST /upload HTTP/1.1\r\n${HOST}Content-Length: 5\r\nExpect: 100-continue\r\n\r\n`);
    await eventually(() => client.received().toString('latin1').startsWith('HTTP/1.1 100 Continue\r\n\r\n'), 5000, '100 Continue');
    client.socket.write('hello');
    const responses = await client.responses(2);
    expect(responses.map((r) => r.status)).to.deep.equal([100, 200]);
    expect(responses[1]!.body).to.equal('ok POST /upload body=5\n');
  });

  it('an upgrade handed to an upgrade listener gets the bytes that followed its head', async function () {
    const { port, server } = await startServer();
    server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
      if (head.length > 0) socket.write(head);
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    });
    const client = await connect(port);
    client.socket.write(`GET /ws HTTP/1.1\r\n${HOST}Upgrade: echo\r\nConnection: Upgrade\r\n\r\nfirst-bytes`);
    await eventually(() => client.received().toString('latin1').endsWith('\r\n\r\nfirst-bytes'), 5000, 'echo of the first bytes');
    client.socket.write(' more');
    await eventually(() => client.received().toString('latin1').endsWith('first-bytes more'), 5000, 'echo after the upgrade');
  });

  it('sockets handed over with server.emit("connection") get every check', async function () {
    const log: string[] = [];
    const server = createStrictServer(echoApp, { ...DEFAULT_LIMITS, limitRequestLine: 8188, onClientError: (m) => log.push(m) });
    // A plain listener that only accepts, like a master handing paused connections to a worker, which
    // emits them on its server and resumes them (as stock Node requires too).
    const acceptor = net.createServer({ pauseOnConnect: true }, (socket) => {
      server.emit('connection', socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => acceptor.listen(0, '127.0.0.1', resolve));
    const accepted: net.Socket[] = [];
    acceptor.on('connection', (socket: net.Socket) => accepted.push(socket));
    onCleanup(() => new Promise<void>((resolve) => {
      for (const socket of accepted) socket.destroy();
      acceptor.close(() => resolve());
    }));
    const port = (acceptor.address() as net.AddressInfo).port;

    const good = await connect(port);
    good.socket.write(`GET /${'a'.repeat(8188 - 'GET / HTTP/1.1'.length)} HTTP/1.1\r\n${HOST}\r\n`);
    expect((await good.responses(1))[0]!.status).to.equal(200);

    const bad = await connect(port);
    bad.socket.write(`GET /${'a'.repeat(8189 - 'GET / HTTP/1.1'.length)} HTTP/1.1\r\n${HOST}\r\n`);
    const responses = parseResponses(await bad.closed());
    expect(responses.map((r) => [r.status, r.headers['connection']])).to.deep.equal([[414, 'close']]);

    const smuggle = await connect(port);
    smuggle.socket.write(`POST / HTTP/1.1\r\n${HOST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`);
    expect(parseResponses(await smuggle.closed()).map((r) => r.status)).to.deep.equal([400]);
    expect(log).to.have.length(2);
  });
});
