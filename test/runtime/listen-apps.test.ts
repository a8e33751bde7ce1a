/**
 * Unmodified apps that start their own server with listen() (Express, Fastify, Koa, Socket.IO, under
 * test/fixtures/apps/listen): tsunicorn -w 2 serves them on the master's sockets, under both socket
 * schemes, with the strict layer, limits, --health-path, hooks and the access log, and keep-alive clients
 * lose no request across a HUP and a TERM sent to every process (as Heroku does).
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io, type Socket as SocketIoClient } from 'socket.io-client';
import WebSocket from 'ws';
import { APPS, TsunicornProcess, request, requestLoop, sleep, stopAllServers, waitUntilGone, waitUntilServing } from './tsunicorn-process.js';

const LISTEN_APPS = path.join(APPS, 'listen');

interface ListenApp {
  file: string;
  /** What the app prints from its listen() callback or 'listening' listener: address, port and pid. */
  listening: RegExp;
}

const LISTEN_APP_CASES: ListenApp[] = [
  { file: 'express-app.cjs', listening: /^Example app listening at ([\d.]+):(\d+) \((\d+)\)$/ },
  { file: 'fastify-app.mjs', listening: /^Server listening at http:\/\/([\d.]+):(\d+) \((\d+)\)$/ },
  { file: 'koa-app.mjs', listening: /^koa listening at ([\d.]+):(\d+) \((\d+)\)$/ },
  { file: 'socketio-app.cjs', listening: /^server running at http:\/\/([\d.]+):(\d+) \((\d+)\)$/ },
];

/** The first pid-looking number of a body: every app answers with its process id. */
function pidOf(body: string): number {
  return Number(/(\d{2,})/.exec(body)?.[1]);
}

/** Sends raw bytes on a fresh connection; resolves with the status line of the answer. */
function rawStatusLine(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      answer += chunk;
      if (answer.includes('\r\n')) {
        socket.destroy();
        resolve(answer.slice(0, answer.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(answer));
  });
}

function waitForEvent<T>(socket: SocketIoClient, event: string): Promise<T> {
  return new Promise((resolve) => socket.once(event, (value: T) => resolve(value)));
}

describe('tsunicorn serving apps that call listen() themselves', function () {
  this.timeout(60000);
  let directory: string;
  const clients: { close(): void }[] = [];
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-listen-'));
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  for (const sharing of ['handoff', 'shared'] as const) {
    const termToGroup = sharing === 'handoff';
    for (const app of LISTEN_APP_CASES) {
      it(`${app.file} (--socket-sharing ${sharing}): served on tsunicorn's socket with its checks and hooks; no request lost across HUP and TERM (to ${termToGroup ? 'every process' : 'the master'})`, async () => {
        const hookLog = path.join(directory, 'hooks.log');
        writeFileSync(hookLog, '');
        const server = await TsunicornProcess.start(
          [
            path.join(LISTEN_APPS, app.file), '-b', '127.0.0.1:0', '-w', '2', '--socket-sharing', sharing,
            '--access-logfile', '-', '--limit-request-line', '200', '--health-path', '/healthz',
            '-c', path.join(LISTEN_APPS, 'hooks.config.mjs'),
          ],
          { env: { HOOK_LOG: hookLog } },
        );
        const port = Number(new URL(server.url).port);
        const firstWorkers = await server.waitForWorkers(2);
        const hello = await waitUntilServing(server.url);
        expect(firstWorkers).to.include(pidOf(hello.body));

        // Each worker's listen() callback (or 'listening' listener) ran, and address() gave the bound address.
        const listened = await server.waitFor(app.listening, 2);
        for (const line of listened) {
          const [, address, boundPort] = app.listening.exec(line)!;
          expect(`${address}:${boundPort}`).to.equal(`127.0.0.1:${port}`);
        }
        // One bind, the master's; the workers bound nothing.
        expect(server.urls).to.deep.equal([server.url]);

        // The strict layer and its limits, the pipeline's own route, the hooks and the access log.
        expect(await rawStatusLine(port, `GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: test\r\n\r\n`)).to.equal('HTTP/1.1 414 URI Too Long');
        expect(await rawStatusLine(port, 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')).to.match(/^HTTP\/1\.1 400 /);
        const health = await request(server.url, '/healthz');
        expect([health.status, health.body]).to.deep.equal([200, 'ok']);
        await server.waitFor(/"GET \/ HTTP\/1\.1" 200 /);
        expect(readFileSync(hookLog, 'utf8')).to.match(/^\d+ \/ 200$/m);

        if (app.file === 'socketio-app.cjs') {
          const client = io(server.url, { transports: ['websocket'], reconnection: false });
          clients.push(client);
          const pid = await waitForEvent<number>(client, 'welcome');
          const echoed = waitForEvent<string>(client, 'chat message');
          client.emit('chat message', 'hello');
          expect(await echoed).to.equal(`${pid}: hello`);
          client.close();
        }

        const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
        const load = requestLoop(server.url, 4, agent);
        const reused = () => load.answers.filter((answer) => answer.reusedConnection).length;
        try {
          while (reused() < 20 && load.failures.length === 0) await sleep(20);
          server.signal('SIGHUP');
          for (const pid of firstWorkers) await waitUntilGone(pid);
          const answered = load.answers.length;
          while (load.answers.length < answered + 20 && load.failures.length === 0) await sleep(20);
          expect(load.failures, 'across the HUP').to.deep.equal([]);
          const lately = new Set(load.bodies.slice(-8).map(pidOf));
          for (const pid of firstWorkers) expect(lately).to.not.include(pid);
          // TERM to every process as Heroku stops a dyno (the apps' own SIGTERM handlers run too), or to the master.
          const beforeTerm = load.answers.length;
          while (load.answers.length < beforeTerm + 20 && load.failures.length === 0) await sleep(20);
          process.kill(termToGroup ? -server.pid : server.pid, 'SIGTERM');
          expect((await server.waitForExit()).code).to.equal(0);
        } finally {
          await load.stop();
          agent.destroy();
        }
        // After the master closed its socket a new connection is refused; no keep-alive connection failed.
        // A connection whose handshake the kernel completed between the master's last empty accept and
        // its close (a window as long as the master is kept off the CPU there) is reset: `connect
        // ECONNRESET`, or `read ECONNRESET` once its first request was written (docs/tsunicorn.md, TERM and
        // the backlog). Each loop meets that at most once: its next connection is refused.
        const resets = load.failures.filter((failure) => /^Error: read ECONNRESET$|\bconnect ECONNRESET\b/.test(failure));
        expect(load.failures.filter((failure) => !/\bconnect ECONNREFUSED\b/.test(failure) && !resets.includes(failure))).to.deep.equal([]);
        expect(resets.length).to.be.at.most(4);
        expect(load.answers.length).to.be.at.least(60);
        expect(server.lines.filter((line) => /\[(ERROR|CRITICAL)\]/.test(line))).to.deep.equal([]);
        expect(server.stderr.at(-1)).to.match(/\[INFO\] Shutting down: Master$/);
        if (app.file === 'express-app.cjs' && termToGroup) {
          // Its server.close() callback ran in each worker, once that worker had finished its requests.
          const secondWorkers = server.lines.filter((line) => app.listening.test(line)).slice(2).map((line) => Number(app.listening.exec(line)![3]));
          const closed = server.lines.filter((line) => /^HTTP server closed \(\d+\)$/.test(line)).map(pidOf);
          expect(closed.sort()).to.deep.equal(secondWorkers.sort());
        }
      });
    }
  }

  it("serves the servers Socket.IO (new Server(PORT)) and ws (new WebSocketServer({ port })) start themselves", async () => {
    const ioServer = await TsunicornProcess.start([path.join(LISTEN_APPS, 'socketio-own-server.cjs'), '-b', '127.0.0.1:0', '-w', '2']);
    const ioWorkers = await ioServer.waitForWorkers(2);
    const client = io(ioServer.url, { transports: ['websocket'], reconnection: false });
    clients.push(client);
    expect(ioWorkers).to.include(await waitForEvent<number>(client, 'welcome'));

    const wsServer = await TsunicornProcess.start([path.join(LISTEN_APPS, 'ws-own-server.cjs'), '-b', '127.0.0.1:0', '-w', '2']);
    const wsWorkers = await wsServer.waitForWorkers(2);
    await wsServer.waitFor(new RegExp(`^ws listening on ${new URL(wsServer.url).port} \\(\\d+\\)$`), 2);
    const socket = new WebSocket(wsServer.url.replace(/^http/, 'ws'));
    clients.push(socket);
    const greeting = await new Promise<string>((resolve, reject) => {
      socket.once('message', (data: Buffer) => resolve(data.toString('utf8')));
      socket.once('error', reject);
    });
    expect(wsWorkers.map((pid) => `hello from ${pid}`)).to.include(greeting);
  });

  it("an app's own server.close() drains its worker: the request finishes, close() calls back, a new worker serves", async () => {
    const server = await TsunicornProcess.start([path.join(LISTEN_APPS, 'closes-itself.cjs'), '-b', '127.0.0.1:0']);
    const [first] = await server.waitForWorkers(1);
    expect((await waitUntilServing(server.url, '/close')).body).to.equal(`pid ${first}\n`);
    await server.waitFor(new RegExp(`^closed ${first}$`));
    await waitUntilGone(first!);
    const [second] = await server.waitForWorkers(1);
    expect(second).to.not.equal(first);
    expect((await waitUntilServing(server.url)).body).to.equal(`pid ${second}\n`);
  });

  it('waits for an app that listens only once it is ready (after the module loaded)', async () => {
    const server = await TsunicornProcess.start([path.join(LISTEN_APPS, 'later.cjs'), '-b', '127.0.0.1:0', '-w', '2']);
    const workers = await server.waitForWorkers(2);
    expect(workers).to.include(pidOf((await waitUntilServing(server.url)).body));
    const port = new URL(server.url).port;
    await server.waitFor(new RegExp(`^later listening on ${port}$`), 2);
  });

  it('serves a listen() on port 0 on a unix socket when tsunicorn binds only that', async () => {
    const socketPath = path.join(directory, 'app.sock');
    const server = await TsunicornProcess.start([path.join(APPS, 'listening-server.mjs'), '-b', `unix:${socketPath}`]);
    expect(server.url).to.equal(`unix:${socketPath}`);
    const [worker] = await server.waitForWorkers(1);
    expect((await waitUntilServing(server.url)).body).to.equal(`served by ${worker}`);
  });

  it('refuses a listen() on a port tsunicorn does not serve in one line naming it, exit 4, nothing bound', async () => {
    const server = await TsunicornProcess.start([path.join(LISTEN_APPS, 'admin-port.mjs'), '-b', '127.0.0.1:0', '-w', '2']);
    expect((await server.waitForExit()).code).to.equal(4);
    const port = new URL(server.url).port;
    const refusals = server.stderr.filter((line) => line.includes('listen(9187'));
    expect(refusals[0]).to.match(
      new RegExp(`\\[ERROR\\] App failed to load: the app calls listen\\(9187, "127\\.0\\.0\\.1"\\), but tsunicorn serves 127\\.0\\.0\\.1:${port}, not port 9187: listen on process\\.env\\.PORT \\(${port} in the workers\\) or bind it with -b`),
    );
    const connect = await new Promise<string>((resolve) => {
      const socket = net.connect(9187, '127.0.0.1', () => resolve('connected'));
      socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    });
    expect(connect).to.equal('ECONNREFUSED');
  });

  it('refuses an app written for node:cluster in one line naming where it forks (exit 4)', async () => {
    const file = path.join(LISTEN_APPS, 'cluster-app.cjs');
    const server = await TsunicornProcess.start([file, '-b', '127.0.0.1:0'], { listening: 0 });
    expect((await server.waitForExit()).code).to.equal(4);
    expect(server.stderr.join('\n')).to.include(
      `App failed to load: cannot load app ${file}: node:cluster's fork(): tsunicorn's master runs the workers (-w N); serve only the part of the app the cluster workers run (${file}:7:`,
    );
  });

  it('--check-config accepts an app that listens itself and names a port it would refuse', async () => {
    const accepted = await TsunicornProcess.start(['--check-config', path.join(LISTEN_APPS, 'express-app.cjs'), '-b', '127.0.0.1:8123'], { listening: 0 });
    expect((await accepted.waitForExit()).code).to.equal(0);
    const refused = await TsunicornProcess.start(['--check-config', path.join(LISTEN_APPS, 'admin-port.mjs'), '-b', '127.0.0.1:8123'], { listening: 0 });
    expect((await refused.waitForExit()).code).to.equal(1);
    expect(refused.lines.join('\n')).to.include('the app calls listen(9187, "127.0.0.1"), but tsunicorn serves 127.0.0.1:8123, not port 9187');
  });
});
