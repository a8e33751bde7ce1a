import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { cleanupAll, connect, echoApp, eventually, exchange, parseResponses, sleep, startServer, type RawClient } from './raw-client.js';

const HOST = 'Host: example.test\r\n';

/** Writes `text` one byte at a time, `everyMs` apart, until the text is out or the socket closes. */
function trickle(client: RawClient, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (i >= text.length || client.socket.destroyed || client.socket.writableEnded || client.socket.readableEnded) {
      clearInterval(timer);
      return;
    }
    client.socket.write(text[i++]!);
  }, everyMs);
  client.socket.once('close', () => clearInterval(timer));
}

describe('strict server: slow clients', function () {
  afterEach(cleanupAll);

  it('closes a connection that never sends a byte after the headers timeout, without a response', async function () {
    const { port, log } = await startServer({ slowClient: { headersTimeoutMs: 300 } });
    const client = await connect(port);
    const bytes = await client.closed(5000);
    expect(bytes.length).to.equal(0);
    expect(log.join('\n')).to.contain('no request received');
  });

  it('answers 408 and closes when a request head stops arriving', async function () {
    const { port } = await startServer({ slowClient: { headersTimeoutMs: 300 } });
    const client = await connect(port);
    client.socket.write(`GET / HTTP/1.1\r\n${HOST}X-Half: `);
    const responses = parseResponses(await client.closed(5000));
    expect(responses.map((r) => [r.status, r.headers['connection']])).to.deep.equal([[408, 'close']]);
  });

  it('cuts off a head that keeps trickling in past the headers timeout (slowloris)', async function () {
    const { port } = await startServer({ slowClient: { headersTimeoutMs: 500 } });
    const client = await connect(port);
    trickle(client, `GET / HTTP/1.1\r\n${HOST}X-Slow: ${'x'.repeat(1000)}\r\n\r\n`, 20);
    const responses = parseResponses(await client.closed(5000));
    expect(responses.map((r) => r.status)).to.deep.equal([408]);
  });

  it('serves a head that trickles in but completes within the headers timeout', async function () {
    const { port } = await startServer({ slowClient: { headersTimeoutMs: 5000 } });
    const client = await connect(port);
    trickle(client, `GET /slow HTTP/1.1\r\n${HOST}\r\n`, 5);
    const [response] = await client.responses(1, 5000);
    expect(response!.body).to.equal('ok GET /slow body=0\n');
  });

  it('closes an idle keep-alive connection after --keep-alive seconds', async function () {
    const { port } = await startServer({ keepAliveSeconds: 0.3 });
    const client = await connect(port);
    client.socket.write(`GET / HTTP/1.1\r\n${HOST}\r\n`);
    await client.responses(1);
    const bytes = await client.closed(5000);
    expect(parseResponses(bytes)).to.have.length(1);
  });

  it('answers 408 when a request body stops arriving', async function () {
    const { port } = await startServer({ slowClient: { bodyIdleTimeoutMs: 300 } });
    const client = await connect(port);
    client.socket.write(`POST / HTTP/1.1\r\n${HOST}Content-Length: 10\r\n\r\nabc`);
    const responses = parseResponses(await client.closed(5000));
    expect(responses.map((r) => [r.status, r.headers['connection']])).to.deep.equal([[408, 'close']]);
  });

  it('serves a body that arrives slowly but steadily, longer in total than the idle timeout', async function () {
    const { port } = await startServer({ slowClient: { bodyIdleTimeoutMs: 1000 } });
    const client = await connect(port);
    client.socket.write(`POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n`);
    // 20 pieces 60 ms apart: 1.2 s in all, more than the idle timeout, never idle for long.
    for (let i = 0; i < 20; i++) {
      client.socket.write('1\r\nx\r\n');
      await sleep(60);
    }
    client.socket.write('0\r\n\r\n');
    const [response] = await client.responses(1, 5000);
    expect(response!.body).to.equal('ok POST / body=20\n');
  });

  it('resets a connection whose client stops reading a large response', async function () {
    const total = 64 * 1024 * 1024;
    const body = Buffer.alloc(total, 'z');
    const { port, sockets, log } = await startServer({ slowClient: { writeStallTimeoutMs: 300 } }, (_req, res) => {
      res.writeHead(200, { 'Content-Length': total });
      res.end(body);
    });
    const client = await connect(port);
    client.socket.pause();
    client.socket.write(`GET /big HTTP/1.1\r\n${HOST}\r\n`);
    await eventually(() => sockets.length === 1 && sockets[0]!.destroyed, 10000, 'server-side socket closed');
    expect(log.join('\n')).to.contain('stopped reading');
    client.socket.resume();
    const received = await client.closed(10000);
    expect(received.length).to.be.lessThan(total);
  });

  it('keeps serving a client that reads a large response slowly but steadily', async function () {
    // Node sees progress only when the kernel takes more bytes, in steps of about a third of the socket's
    // send buffer (megabytes on loopback), so the stall timeout here is longer than one such step.
    const total = 4 * 1024 * 1024;
    const body = Buffer.alloc(total, 'z');
    const { port, sockets } = await startServer({ slowClient: { writeStallTimeoutMs: 2500 } }, (_req, res) => {
      res.writeHead(200, { 'Content-Length': total });
      res.end(body);
    });
    const socket = net.connect(port, '127.0.0.1');
    let received = 0;
    socket.on('error', () => undefined);
    // Read one chunk, then pause for 25 ms: far slower than the server writes, but never stalled for long.
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.pause();
      setTimeout(() => socket.resume(), 25);
    });
    socket.write(`GET /big HTTP/1.1\r\n${HOST}\r\n`);
    try {
      await eventually(() => received >= total, 30000, 'whole response read');
      expect(sockets[0]!.destroyed).to.equal(false);
    } finally {
      socket.destroy();
    }
  });

  it('200 slow header senders do not stop a normal request, and are all cut off after the headers timeout', async function () {
    this.timeout(20000);
    const { port } = await startServer({ slowClient: { headersTimeoutMs: 1500 } });
    const slow: RawClient[] = [];
    for (let i = 0; i < 200; i++) {
      const client = await connect(port);
      client.socket.write(`GET /slow${i} HTTP/1.1\r\n${HOST}X-Slow: `);
      trickle(client, 'x'.repeat(100), 100);
      slow.push(client);
    }
    const response = await exchange(port, `GET /normal HTTP/1.1\r\n${HOST}\r\n`);
    expect(response.body).to.equal('ok GET /normal body=0\n');
    const outcomes = await Promise.all(slow.map(async (client) => parseResponses(await client.closed(10000)).map((r) => r.status)));
    expect(outcomes.filter((statuses) => statuses.length === 1 && statuses[0] === 408)).to.have.length(200);
  });

  it('a slow app is not a slow client: a long response time is not cut off', async function () {
    const slowApp: http.RequestListener = (req, res) => setTimeout(() => echoApp(req, res), 800);
    const { port } = await startServer({ slowClient: { headersTimeoutMs: 200, bodyIdleTimeoutMs: 200, writeStallTimeoutMs: 200 } }, slowApp);
    const response = await exchange(port, `POST /late HTTP/1.1\r\n${HOST}Content-Length: 2\r\n\r\nhi`);
    expect(response.body).to.equal('ok POST /late body=2\n');
  });
});
