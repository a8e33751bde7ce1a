/**
 * Real framework apps under `tsunicorn -w 2`, written the way their own docs write them: Express +
 * Socket.IO, ws (a server the app builds, and a post_worker_init hook), Koa, Hono, Fastify and NestJS.
 * One tsunicorn per app; each test checks everything about its app on that one server.
 */
import { expect } from 'chai';
import path from 'node:path';
import { io, type Socket as SocketIoClient } from 'socket.io-client';
import WebSocket from 'ws';
import { APPS, TsunicornProcess, isAlive, request, sleep, stopAllServers, waitUntilServing } from './tsunicorn-process.js';

const FRAMEWORKS = path.join(APPS, 'frameworks');
const app = (file: string) => path.join(FRAMEWORKS, file);

/** Opens a WebSocket and resolves with it and its first message. */
function openWebSocket(url: string): Promise<{ socket: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url);
    socket.once('message', (data: Buffer) => resolve({ socket, first: data.toString('utf8') }));
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
  });
}

function nextMessage(socket: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('message', (data: Buffer) => resolve(data.toString('utf8')));
    socket.once('close', () => reject(new Error('closed before a message')));
  });
}

function waitForEvent<T>(socket: SocketIoClient, event: string): Promise<T> {
  return new Promise((resolve) => socket.once(event, (value: T) => resolve(value)));
}

describe('tsunicorn with real frameworks (-w 2)', function () {
  this.timeout(40000);
  const clients: { close(): void }[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await stopAllServers();
  });

  const start = (args: string[]) => TsunicornProcess.start([...args, '-b', '127.0.0.1:0', '-w', '2']);

  it('Express + Socket.IO: chat round trips over the websocket transport, on both workers', async () => {
    const server = await start([app('socketio-chat.mjs')]);
    const workers = await server.waitForWorkers(2);
    expect((await waitUntilServing(server.url)).body).to.match(/^<h1>chat served by \d+<\/h1>$/);
    const seen = new Set<number>();
    // Until both workers answered: the second may still be loading the app when the first serves.
    for (let attempt = 0; attempt < 150 && seen.size < 2; attempt++) {
      const client = io(server.url, { transports: ['websocket'], reconnection: false });
      clients.push(client);
      const pid = await waitForEvent<number>(client, 'welcome');
      seen.add(pid);
      const echoed = waitForEvent<string>(client, 'chat message');
      client.emit('chat message', `hello ${attempt}`);
      expect(await echoed).to.equal(`${pid}: hello ${attempt}`);
      client.close();
      if (seen.size < 2) await sleep(100);
    }
    expect([...seen].sort()).to.deep.equal([...workers].sort());
  });

  it('Socket.IO clients connected at a HUP reconnect to the new generation; the old workers exit within --graceful-timeout', async () => {
    const server = await TsunicornProcess.start([app('socketio-chat.mjs'), '-b', '127.0.0.1:0', '-w', '2', '--graceful-timeout', '3']);
    const oldWorkers = await server.waitForWorkers(2);
    const connected: { client: SocketIoClient; pids: number[] }[] = [];
    for (let index = 0; index < 4; index++) {
      const client = io(server.url, { transports: ['websocket'], reconnectionDelay: 100, reconnectionDelayMax: 200 });
      clients.push(client);
      const entry = { client, pids: [] as number[] };
      client.on('welcome', (pid: number) => entry.pids.push(pid));
      connected.push(entry);
    }
    for (const entry of connected) {
      for (let attempt = 0; attempt < 300 && entry.pids.length === 0; attempt++) await sleep(50);
      expect(entry.pids, 'connected before the HUP').to.have.length(1);
    }
    server.signal('SIGHUP');
    // Each client is dropped by its old worker at the graceful deadline and comes back on a new one.
    for (const entry of connected) {
      for (let attempt = 0; attempt < 300 && !(entry.pids.length >= 2 && !oldWorkers.includes(entry.pids.at(-1)!)); attempt++) await sleep(50);
      expect(oldWorkers, 'reconnected to a new worker').to.not.include(entry.pids.at(-1));
      const echoed = waitForEvent<string>(entry.client, 'chat message');
      entry.client.emit('chat message', 'after reload');
      expect(await echoed).to.equal(`${entry.pids.at(-1)}: after reload`);
    }
    for (const pid of oldWorkers) {
      for (let attempt = 0; attempt < 100 && isAlive(pid); attempt++) await sleep(50);
      expect(isAlive(pid)).to.equal(false);
    }
    await server.waitFor(/Worker exiting/, 2);
    expect(server.lines.filter((line) => /did not stop within --graceful-timeout|was sent SIGKILL/.test(line))).to.deep.equal([]);
  });

  for (const sharing of ['handoff', 'shared'] as const) {
    it(`ws on a server the app builds (--socket-sharing ${sharing}): upgrades go to it, plain requests to its request listener`, async () => {
      const server = await start([app('ws-server.mjs'), '--socket-sharing', sharing]);
      const workers = await server.waitForWorkers(2);
      expect((await request(server.url, '/')).body).to.match(/^plain http from \d+\n$/);
      const wsUrl = server.url.replace(/^http/, 'ws');
      const { socket, first } = await openWebSocket(`${wsUrl}/room?x=1`);
      clients.push(socket);
      expect(first).to.match(/^hello (\d+) \/room\?x=1$/);
      expect(workers).to.include(Number(first.split(' ')[1]));
      const echo = nextMessage(socket);
      socket.send('ping');
      expect(await echo).to.equal('echo ping');
    });
  }

  it('ws attached to each worker\'s server from post_worker_init, for a plain listener app', async () => {
    const server = await start([app('ws-listener.mjs'), '-c', app('ws-hook.config.mjs')]);
    const workers = await server.waitForWorkers(2);
    expect((await request(server.url, '/')).body).to.match(/^listener from \d+\n$/);
    const { socket, first } = await openWebSocket(server.url.replace(/^http/, 'ws'));
    clients.push(socket);
    const [, pid, age] = /^hook (\d+) age (\d+)$/.exec(first)!;
    expect(workers).to.include(Number(pid));
    expect(Number(age)).to.be.oneOf([1, 2]);
    const echo = nextMessage(socket);
    socket.send('pong');
    expect(await echo).to.equal('echo pong');
  });

  it('an upgrade request to an app with no upgrade listener is answered as a plain request', async () => {
    const server = await start([app('koa-app.mjs')]);
    const answer = await request(server.url, '/chat', { headers: { Connection: 'Upgrade', Upgrade: 'websocket' } });
    expect(answer.status).to.equal(200);
    expect(answer.body).to.equal('koa GET /chat\n');
  });

  it('Koa', async () => {
    const server = await start([app('koa-app.mjs')]);
    await server.waitForWorkers(2);
    expect((await request(server.url, '/items?x=1')).body).to.equal('koa GET /items\n');
    const post = await request(server.url, '/form', { method: 'POST', body: 'a=1' });
    expect(post.body).to.equal('koa POST /form\n');
  });

  it('Hono (a fetch handler)', async () => {
    const server = await start([app('hono-app.mjs')]);
    await server.waitForWorkers(2);
    expect((await request(server.url, '/')).body).to.equal('hono root\n');
    const json = await request(server.url, '/hello/tsunicorn');
    expect(json.headers['content-type']).to.match(/^application\/json/);
    expect(JSON.parse(json.body)).to.deep.equal({ hello: 'tsunicorn' });
    expect((await request(server.url, '/echo', { method: 'POST', body: 'body bytes' })).body).to.equal('hono echo body bytes');
    expect((await request(server.url, '/missing')).status).to.equal(404);
  });

  it('Fastify, exporting fastify.server', async () => {
    const server = await start([app('fastify-app.mjs'), '--access-logfile', '-']);
    const workers = await server.waitForWorkers(2);
    const root = JSON.parse((await request(server.url, '/')).body) as { hello: string; pid: number };
    expect(root.hello).to.equal('world');
    expect(workers).to.include(root.pid);
    const echo = await request(server.url, '/echo', { method: 'POST', body: '{"n":1}', headers: { 'Content-Type': 'application/json' } });
    expect(JSON.parse(echo.body)).to.deep.equal({ received: { n: 1 } });
    // The strict layer and the access log apply to the app's server as to any other.
    const bad = await request(server.url, `/${'a'.repeat(5000)}`);
    expect(bad.status).to.equal(414);
    await server.waitFor(/"POST \/echo HTTP\/1\.1" 200 /);
  });

  it('NestJS (compiled as `nest build` writes it) through --factory, returning app.getHttpServer()', async () => {
    const server = await start([`${app('nest-app.cjs')}:createApp`, '--factory']);
    const workers = await server.waitForWorkers(2);
    const hello = await waitUntilServing(server.url);
    expect(hello.body).to.match(/^Hello World! \((\d+)\)$/);
    expect(workers).to.include(Number(/\((\d+)\)/.exec(hello.body)![1]));
    expect(JSON.parse((await request(server.url, '/items/42')).body)).to.deep.equal({ id: '42' });
    expect((await request(server.url, '/nope')).status).to.equal(404);
  });

  it('serves a server the app exports after calling listen() on it itself', async () => {
    const server = await start([path.join(APPS, 'listening-server.mjs')]);
    const workers = await server.waitForWorkers(2);
    const answer = await waitUntilServing(server.url);
    expect(workers).to.include(Number(/^served by (\d+)$/.exec(answer.body)?.[1]));
  });
});
