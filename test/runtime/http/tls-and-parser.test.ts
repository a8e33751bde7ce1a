import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import type https from 'node:https';
import { fileURLToPath } from 'node:url';
import { createStrictServer } from '../../../runtime/http/strict-server.js';
import { expectRejected } from './assertions.js';
import { cleanupAll, DEFAULT_LIMITS, echoApp, onCleanup, parseResponses, startServer, type ParsedResponse } from './raw-client.js';

const HOST = 'Host: example.test\r\n';
const fixture = (name: string) => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)));

/** One raw request over TLS; resolves with what came back once the server closed or `count` responses arrived. */
function tlsExchange(port: number, request: string, count: number): Promise<ParsedResponse[]> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    onCleanup(() => {
      socket.destroy();
    });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('no TLS answer within 5 s')), 5000);
    const settle = () => {
      clearTimeout(timer);
      resolve(parseResponses(Buffer.concat(chunks)));
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (parseResponses(Buffer.concat(chunks)).length >= count) settle();
    });
    socket.on('close', settle);
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => socket.write(request));
  });
}

describe('strict server: TLS and parser errors', function () {
  afterEach(cleanupAll);

  it('with tls set, serves HTTPS and applies the same checks', async function () {
    const server = createStrictServer(echoApp, {
      ...DEFAULT_LIMITS,
      limitRequestLine: 100,
      tls: { cert: fixture('localhost-cert.pem'), key: fixture('localhost-key.pem') },
    }) as https.Server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    const port = (server.address() as AddressInfo).port;

    const good = await tlsExchange(port, `GET /secure HTTP/1.1\r\n${HOST}\r\nGET /again HTTP/1.1\r\n${HOST}\r\n`, 2);
    expect(good.map((r) => r.body)).to.deep.equal(['ok GET /secure body=0\n', 'ok GET /again body=0\n']);

    const long = await tlsExchange(port, `GET /${'a'.repeat(100)} HTTP/1.1\r\n${HOST}\r\n`, 2);
    expect(long.map((r) => [r.status, r.headers['connection']])).to.deep.equal([[414, 'close']]);

    const smuggled = await tlsExchange(port, `POST / HTTP/1.1\r\n${HOST}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`, 2);
    expect(smuggled.map((r) => r.status)).to.deep.equal([400]);
  });

  it("keeps Node's 413 for oversized chunk extensions", async function () {
    const { port } = await startServer();
    await expectRejected(port, `POST / HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n1;ext=${'e'.repeat(20000)}\r\nx\r\n0\r\n\r\n`, 413);
  });

  it('reports each rejection once to onClientError with the peer address and the status', async function () {
    const { port, log } = await startServer();
    await expectRejected(port, `GET / HTTP/2.0\r\n${HOST}\r\n`, 505);
    expect(log).to.have.length(1);
    expect(log[0]).to.match(/^Invalid or slow request from 127\.0\.0\.1: 505 HTTP Version Not Supported: HTTP\/2\.0 is not supported$/);
  });
});
