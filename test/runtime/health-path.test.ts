import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TsunicornProcess, request, stopAllServers, waitUntilServing } from './tsunicorn-process.js';

/** An app that says how often it was called, and a config whose pre_request hook logs each URL it sees. */
const COUNTING_APP = "let calls = 0;\nexport default (req, res) => res.end(`app ${++calls} ${req.method} ${req.url}`);\n";
const HOOK_CONFIG = "export function pre_request(worker, req) { console.error(`pre_request ${req.url}`); }\n";

/** A kept-alive raw connection: each call writes one request and reads one whole response (Content-Length framed). */
function rawConnection(url: string) {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let buffered = Buffer.alloc(0);
  let ended = false;
  const waiters: (() => void)[] = [];
  const wake = () => waiters.splice(0).forEach((waiter) => waiter());
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake();
  });
  socket.on('end', () => {
    ended = true;
    wake();
  });
  socket.on('error', () => {
    ended = true;
    wake();
  });
  const next = async (head: boolean): Promise<{ status: number; headers: string; body: string; ended: boolean }> => {
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end !== -1) {
        const headers = buffered.subarray(0, end).toString('latin1');
        const length = head ? 0 : Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
        if (buffered.length >= end + 4 + length) {
          const body = buffered.subarray(end + 4, end + 4 + length).toString('utf8');
          buffered = buffered.subarray(end + 4 + length);
          return { status: Number(headers.split(' ')[1]), headers, body, ended };
        }
      }
      if (ended) throw new Error(`connection ended before a whole response: ${JSON.stringify(buffered.toString('latin1'))}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return {
    async send(method: string, target: string) {
      socket.write(`${method} ${target} HTTP/1.1\r\nHost: test\r\n\r\n`);
      return next(method === 'HEAD');
    },
    async closed(): Promise<void> {
      while (!ended) await new Promise<void>((resolve) => waiters.push(resolve));
    },
    destroy: () => socket.destroy(),
  };
}

describe('tsunicorn --health-path', function () {
  this.timeout(30000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-health-'));
    writeFileSync(path.join(directory, 'app.mjs'), COUNTING_APP);
    writeFileSync(path.join(directory, 'hooks.mjs'), HOOK_CONFIG);
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  it('answers GET and HEAD on exactly that path itself: no hook, no app, no access-log line', async () => {
    const server = await TsunicornProcess.start([
      path.join(directory, 'app.mjs'), '-b', '127.0.0.1:0', '-c', path.join(directory, 'hooks.mjs'),
      '--health-path', '/healthz', '--access-logfile', '-',
    ]);
    await waitUntilServing(server.url, '/first');
    const get = await request(server.url, '/healthz');
    expect(get.status).to.equal(200);
    expect(get.body).to.equal('ok');
    expect(get.headers['content-type']).to.equal('text/plain; charset=utf-8');
    expect(get.headers['cache-control']).to.equal('no-store');
    const withQuery = await request(server.url, '/healthz?probe=1');
    expect([withQuery.status, withQuery.body]).to.deep.equal([200, 'ok']);
    const head = await request(server.url, '/healthz', { method: 'HEAD' });
    expect([head.status, head.body, head.headers['content-length']]).to.deep.equal([200, '', '2']);
    // Everything else is the app's: another method, a longer path, a trailing slash.
    expect((await request(server.url, '/healthz', { method: 'POST' })).body).to.equal('app 2 POST /healthz');
    expect((await request(server.url, '/healthz/')).body).to.equal('app 3 GET /healthz/');
    expect((await request(server.url, '/healthzz')).body).to.equal('app 4 GET /healthzz');
    await server.waitFor(/pre_request \/healthzz/);
    await server.waitFor(/"GET \/healthzz HTTP\/1.1" 200/);
    expect(server.lines.filter((line) => /pre_request/.test(line))).to.deep.equal([
      'pre_request /first', 'pre_request /healthz', 'pre_request /healthz/', 'pre_request /healthzz',
    ]);
    expect(server.stdout.filter((line) => line.includes('/healthz ') || line.includes('/healthz?'))).to.deep.equal([
      '127.0.0.1 - - ' + /\[[^\]]+\]/.exec(server.stdout.find((line) => line.includes('POST /healthz'))!)![0] + ' "POST /healthz HTTP/1.1" 200 19 "-" "-"',
    ]);
  });

  it('is off by default: the path is the app\'s', async () => {
    const server = await TsunicornProcess.start([path.join(directory, 'app.mjs'), '-b', '127.0.0.1:0']);
    expect((await waitUntilServing(server.url, '/healthz')).body).to.equal('app 1 GET /healthz');
  });

  it('answers 503 draining, with Connection: close, once the worker drains', async () => {
    // --max-requests 1: the first app request starts the drain; health checks do not count.
    const server = await TsunicornProcess.start([
      path.join(directory, 'app.mjs'), '-b', '127.0.0.1:0', '--health-path', '/healthz', '--max-requests', '1',
    ]);
    await server.waitForWorkers(1);
    const probe = rawConnection(server.url);
    const client = rawConnection(server.url);
    try {
      // The probe's connection is on the one worker before the drain starts.
      expect((await probe.send('GET', '/healthz')).status).to.equal(200);
      expect((await probe.send('GET', '/healthz')).body).to.equal('ok');
      const last = await client.send('GET', '/');
      expect(last.body).to.equal('app 1 GET /');
      expect(last.headers).to.match(/\r\nconnection: close/i);
      const draining = await probe.send('GET', '/healthz');
      expect([draining.status, draining.body]).to.deep.equal([503, 'draining']);
      expect(draining.headers).to.match(/\r\nconnection: close/i);
      await probe.closed();
    } finally {
      probe.destroy();
      client.destroy();
    }
    // The replacement serves, and says ok.
    await server.waitFor(/Worker exiting/);
    expect((await waitUntilServing(server.url, '/healthz')).body).to.equal('ok');
  });

  it('refuses a value that is not a path, in one line with status 2', async () => {
    const server = await TsunicornProcess.start([path.join(directory, 'app.mjs'), '--health-path', 'healthz'], { listening: 0 });
    expect((await server.waitForExit()).code).to.equal(2);
    expect(server.stderr).to.deep.equal(['--health-path: expected a path starting with / (no query, no spaces), got "healthz"']);
  });
});
