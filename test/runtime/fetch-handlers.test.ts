import { expect } from 'chai';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { APPS, ROOT, TsunicornProcess, request, sleep, stopAllServers } from './tsunicorn-process.js';

const app = (file: string) => path.join(APPS, file);
const bind = ['-b', '127.0.0.1:0'];
const TLS_FIXTURES = path.join(ROOT, 'test/runtime/http/fixtures');

/** Sends raw bytes, returns everything the server sent until `done` says the answer is complete. */
function rawExchange(url: string, bytes: string, done: (received: string) => boolean): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = net.connect(Number(port), hostname, () => socket.write(bytes));
    socket.setEncoding('latin1');
    socket.setTimeout(10000, () => socket.destroy(new Error(`no complete answer; got ${JSON.stringify(received)}`)));
    socket.on('data', (chunk: string) => {
      received += chunk;
      if (done(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
  });
}

/** Polls `pathname` until its body satisfies `check`; bounded. */
async function pollUntil(base: string, pathname: string, check: (body: string) => boolean): Promise<string> {
  let body = '';
  for (let attempt = 0; attempt < 300; attempt++) {
    body = (await request(base, pathname)).body;
    if (check(body)) return body;
    await sleep(50);
  }
  throw new Error(`${pathname} never satisfied the check; last body ${JSON.stringify(body)}`);
}

for (const objects of ['light', 'standard'] as const) {
  describe(`tsunicorn fetch handlers (--fetch-objects ${objects})`, function () {
    this.timeout(30000);
    afterEach(stopAllServers);

    const start = (extra: string[] = []) =>
      TsunicornProcess.start([app('fetch-handler.mjs'), ...bind, '-w', '1', '--fetch-objects', objects, ...extra]);

    it('serves URL, each Set-Cookie apart, POST bodies, streamed bodies, a trusted X-Forwarded-Proto', async () => {
      const server = await start();
      const port = new URL(server.url).port;
      const get = await request(server.url, '/path?q=1');
      expect(get.status).to.equal(200);
      expect(get.body).to.equal(`fetch handler http://127.0.0.1:${port}/path?q=1\n`);
      expect(get.headers['set-cookie']).to.deep.equal(['a=1', 'b=2']);
      expect(get.headers['content-length']).to.equal(String(Buffer.byteLength(get.body)));
      const post = await request(server.url, '/', { method: 'POST', body: 'payload' });
      expect(post.status).to.equal(201);
      expect(post.body).to.equal('echo:payload');
      expect(post.headers['x-method']).to.equal('POST');
      // A string body with headers that name no type is text, as the standard constructor makes it.
      expect(post.headers['content-type']).to.equal('text/plain;charset=UTF-8');
      const streamed = await request(server.url, '/stream');
      expect(streamed.body).to.equal('one two three\n');
      expect(streamed.headers['transfer-encoding']).to.equal('chunked');
      const proxied = await request(server.url, '/p', { headers: { 'X-Forwarded-Proto': 'https' } });
      expect(proxied.body).to.equal(`fetch handler https://127.0.0.1:${port}/p\n`);
      // A target the URL parser rewrites is seen as the standard Request would spell it.
      const dotted = await request(server.url, "/a/../b?x='y'");
      expect(dotted.body).to.equal(`fetch handler http://127.0.0.1:${port}/b?x=%27y%27\n`);
    });

    it('ignores X-Forwarded-Proto from peers not in --forwarded-allow-ips', async () => {
      const server = await start(['--forwarded-allow-ips', '10.0.0.1']);
      const port = new URL(server.url).port;
      const proxied = await request(server.url, '/p', { headers: { 'X-Forwarded-Proto': 'https' } });
      expect(proxied.body).to.equal(`fetch handler http://127.0.0.1:${port}/p\n`);
    });

    it('gives https URLs under --certfile', async () => {
      const server = await start(['--certfile', path.join(TLS_FIXTURES, 'localhost-cert.pem'), '--keyfile', path.join(TLS_FIXTURES, 'localhost-key.pem')]);
      expect(server.url).to.match(/^https:/);
      const port = new URL(server.url).port;
      const body = await new Promise<string>((resolve, reject) => {
        https.get({ host: '127.0.0.1', port, path: '/secure', rejectUnauthorized: false, agent: false }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      expect(body).to.equal(`fetch handler https://127.0.0.1:${port}/secure\n`);
    });

    it('answers HEAD with the Content-Length of the GET answer and no body', async () => {
      const server = await start();
      const host = new URL(server.url).host;
      const get = await request(server.url, '/path');
      const head = await rawExchange(server.url, `HEAD /path HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, (text) => text.includes('\r\n\r\n'));
      expect(head).to.match(/^HTTP\/1\.1 200 OK\r\n/);
      expect(head).to.match(new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength(get.body)}\\r\\n`, 'i'));
      expect(head.endsWith('\r\n\r\n'), 'nothing after the head').to.equal(true);
      // A response that goes on (server-sent events) ends at once for HEAD instead of hanging.
      const events = await rawExchange(server.url, `HEAD /events HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, () => false);
      expect(events).to.match(/^HTTP\/1\.1 200 OK\r\n/);
      expect(events).to.match(/\r\ncontent-type: text\/event-stream\r\n/i);
      expect(events.endsWith('\r\n\r\n')).to.equal(true);
    });

    it('sends the status text and the bytes as they were when the Response was made; 204 with no length', async () => {
      const server = await start();
      const host = new URL(server.url).host;
      const bytes = await rawExchange(server.url, `GET /bytes HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, () => false);
      expect(bytes).to.match(/^HTTP\/1\.1 201 Made\r\n/);
      expect(bytes).to.match(/\r\ncontent-length: 2\r\n/i);
      expect(bytes.endsWith('\r\n\r\nAB')).to.equal(true);
      const empty = await rawExchange(server.url, `GET /no-content HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, () => false);
      expect(empty).to.match(/^HTTP\/1\.1 204 No Content\r\n/);
      expect(empty).to.match(/\r\nx-empty: yes\r\n/i);
      expect(empty).to.not.match(/content-length|transfer-encoding/i);
      expect(empty.endsWith('\r\n\r\n')).to.equal(true);
    });

    it('sends a streamed response\'s first chunk before the stream has a second one', async () => {
      const server = await start();
      const url = new URL('/events', server.url);
      const received: string[] = [];
      const done = new Promise<number>((resolve, reject) => {
        http.get(url, (res) => {
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => received.push(chunk));
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
      // The second event is only produced after /release: the first must have arrived without it.
      for (let attempt = 0; attempt < 300 && !received.join('').includes('data: first'); attempt++) await sleep(50);
      expect(received.join(''), 'the first event, before the stream had a second').to.equal('data: first\n\n');
      expect((await request(server.url, '/release')).body).to.equal('released\n');
      expect(await done).to.equal(200);
      expect(received.join('')).to.equal('data: first\n\ndata: second\n\n');
    });

    it('pulls a streamed body only as fast as the client reads it (backpressure)', async () => {
      const server = await start();
      const total = 64 * 1024 * 1024;
      let received = 0;
      const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
        http.get(new URL('/big', server.url), { agent: false }, resolve).on('error', reject);
      });
      response.pause();
      // The client reads nothing: production stops once the socket and stream buffers are full.
      let last = -1;
      const stalled = await pollUntil(server.url, '/produced', (body) => {
        const now = Number(body);
        const same = now === last && now > 0;
        last = now;
        return same;
      });
      expect(Number(stalled), 'bytes produced while the client read nothing').to.be.below(total / 4);
      await new Promise<void>((resolve, reject) => {
        response.on('data', (chunk: Buffer) => (received += chunk.length));
        response.on('end', resolve);
        response.on('error', reject);
        response.resume();
      });
      expect(received).to.equal(total);
    });

    it('aborts request.signal when the client goes away', async () => {
      const server = await start();
      expect((await request(server.url, '/aborted')).body).to.equal('no\n');
      const client = http.get(new URL('/hang', server.url), { agent: false });
      client.on('error', () => undefined);
      await pollUntil(server.url, '/aborted', (body) => body === 'waiting\n');
      client.destroy();
      expect(await pollUntil(server.url, '/aborted', (body) => body !== 'no\n')).to.equal('yes: true\n');
    });

    for (const [route, message] of [
      ['/not-a-response', /TypeError: the fetch handler returned an object \(Object\), not a Response/],
      ['/not-a-response-later', /TypeError: the fetch handler returned undefined, not a Response/],
      ['/throw', /^Error: fetch handler exploded$/],
      ['/reject', /^Error: async fetch handler exploded$/],
    ] as const) {
      it(`answers 500 and logs the error for ${route}`, async () => {
        const server = await start();
        const answer = await request(server.url, route);
        expect(answer.status).to.equal(500);
        expect(answer.body).to.equal('Internal Server Error\n');
        await server.waitFor(new RegExp(`\\[ERROR\\] Error handling request ${route}$`));
        await server.waitFor(message);
        expect((await request(server.url, '/path')).status, 'the worker keeps serving').to.equal(200);
      });
    }

    it('keeps the standard API: new Request(request), fetch(request), clone(), Response.json, instanceof', async () => {
      const server = await start();
      const port = new URL(server.url).port;
      const answer = await request(server.url, '/standard?x=1');
      expect(answer.status).to.equal(203);
      expect(answer.headers['content-type']).to.equal('application/json');
      expect(JSON.parse(answer.body)).to.deep.equal({
        url: `http://127.0.0.1:${port}/standard?x=1`,
        method: 'GET',
        copied: 'yes',
        text: 'cloned body',
        isRequest: true,
        isResponse: true,
        okFor204: true,
      });
      const forwarded = await request(server.url, '/forward', { method: 'POST', body: 'parcel' });
      expect(forwarded.body).to.equal('forwarded echo:parcel');
    });
  });
}

describe('tsunicorn fetch handlers: frameworks', function () {
  this.timeout(30000);
  afterEach(stopAllServers);

  it('serves a Hono app: routes, params, JSON bodies, headers, cookies', async () => {
    const server = await TsunicornProcess.start([app('hono-app.mjs'), ...bind, '-w', '1']);
    const hello = await request(server.url, '/hello/ada?greeting=hi');
    expect(hello.status).to.equal(200);
    expect(hello.body).to.equal('hi ada');
    expect(hello.headers['x-framework']).to.equal('hono');
    expect(hello.headers['set-cookie']).to.deep.equal(['seen=1; Path=/', 'theme=dark; Path=/']);
    const posted = await request(server.url, '/items', { method: 'POST', body: '{"name":"pen"}', headers: { 'content-type': 'application/json' } });
    expect(posted.status).to.equal(201);
    expect(JSON.parse(posted.body)).to.deep.equal({ created: 'pen', agent: 'node' });
    expect((await request(server.url, '/missing')).status).to.equal(404);
  });

  it('serves an itty-router app', async () => {
    const server = await TsunicornProcess.start([app('itty-app.mjs'), ...bind, '-w', '1']);
    const answer = await request(server.url, '/things/42');
    expect(answer.status).to.equal(200);
    expect(JSON.parse(answer.body)).to.deep.equal({ id: '42' });
    expect((await request(server.url, '/nothing')).status).to.equal(404);
  });
});
