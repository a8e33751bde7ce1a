import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { AcceptProbe, HeldPorts } from '../../procfile/held-ports.js';
import { request, requestLoop } from '../runtime/tsunicorn-process.js';
import { REPO, cleanup, eventually, processAlive, project, runTsforeman, startManager, track } from './helpers.js';

const TSUNICORN = join(REPO, 'bin', 'tsunicorn');
const MASTER_ENV = join(REPO, 'test', 'fixtures', 'apps', 'master-env.mjs');
const ACTIVATED = join(REPO, 'test', 'fixtures', 'apps', 'socket-activated.mjs');

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** True when 0.0.0.0:port can be listened on again (nothing holds it). */
async function portFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/** Connections waiting in the accept queue of the socket listening on `port` (Linux: /proc/net/tcp). */
function queuedOn(port: number): number {
  const local = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(local) && fields[3] === '0A') return parseInt(fields[4]!.split(':')[1]!, 16);
  }
  return -1;
}

async function ps(dir: string): Promise<{ name: string; pid: number | null; state: string }[]> {
  const reply = await runTsforeman(['ps', '--json'], dir);
  return JSON.parse(reply.stdout) as { name: string; pid: number | null; state: string }[];
}

describe('tsforeman start --hold-port', function () {
  this.timeout(90_000);
  afterEach(cleanup);

  it('keeps the port of tsunicorn open through three restarts and a reload: no failed request, keep-alive or Connection: close', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `web: node ${TSUNICORN} ${MASTER_ENV} -w 2\n` });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port), '--hold-port', 'web'], dir);
    await manager.waitFor(/web\.1 ready in [\d.]+s \(it accepts connections on its held socket 0\.0\.0\.0:\d+\)/, 30_000);
    expect(manager.stdout).to.include(`Listening at: http://0.0.0.0:${port}`);
    expect(manager.stdout).to.match(/inherited from socket activation, fd 3 "web\.1"/);
    const url = `http://127.0.0.1:${port}`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const keepAlive = requestLoop(url, 4, agent);
    const closing = requestLoop(url, 4);
    const replies: string[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const before = keepAlive.answers.length + closing.answers.length;
        await eventually(() => keepAlive.answers.length + closing.answers.length >= before + 20, 'answers before the restart', 30_000);
        const reply = await runTsforeman(['restart', 'web.1'], dir);
        replies.push(reply.stdout);
        const answered = keepAlive.answers.length + closing.answers.length;
        await eventually(() => keepAlive.answers.length + closing.answers.length >= answered + 20, 'answers after the restart', 30_000);
      }
      // A reload (HUP: tsunicorn replaces its workers in place) on the held socket drops nothing either.
      expect((await runTsforeman(['reload', 'web'], dir)).stdout).to.match(/^reloaded web\.1 \(SIGHUP to pid \d+\)\n$/);
      await manager.waitFor(/Handling signal: hup/);
      const reloaded = keepAlive.answers.length + closing.answers.length;
      await eventually(() => keepAlive.answers.length + closing.answers.length >= reloaded + 40, 'answers after the reload', 30_000);
    } finally {
      await keepAlive.stop();
      await closing.stop();
      agent.destroy();
    }
    expect(replies).to.deep.equal(['restarted web.1\n', 'restarted web.1\n', 'restarted web.1\n']);
    expect(keepAlive.failures).to.deep.equal([]);
    expect(closing.failures).to.deep.equal([]);
    // Four masters served in turn (the first and one per restart); none of the variables reached the app.
    const bodies = [...keepAlive.bodies, ...closing.bodies].map((body) => JSON.parse(body) as { master: number; env: object });
    expect(new Set(bodies.map((body) => body.master)).size).to.equal(4);
    expect(bodies.every((body) => Object.keys(body.env).length === 0)).to.equal(true);
  });

  it('serves a connection made while no process runs, once the next one starts; kill -9 of the manager leaves nothing', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `web: node ${TSUNICORN} ${MASTER_ENV} -w 1\n` });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port), '--hold-port', 'web'], dir);
    await manager.waitFor(/web\.1 ready in/, 30_000);
    expect((await runTsforeman(['stop', 'web.1'], dir)).stdout).to.equal('stopped web.1\n');
    expect((await ps(dir))[0]!.state).to.equal('stopped');
    // Nothing runs: the connection waits in the held socket's queue instead of being refused.
    const waiting = request(`http://127.0.0.1:${port}`, '/');
    await eventually(() => queuedOn(port) >= 1, 'the connection queued on the held socket');
    expect((await runTsforeman(['restart', 'web.1'], dir)).stdout).to.equal('restarted web.1\n');
    const [web] = await ps(dir);
    const answer = await waiting;
    expect(answer.status).to.equal(200);
    expect((JSON.parse(answer.body) as { master: number }).master).to.equal(web!.pid);

    const pids = [web!.pid!, ...(await workersOf(web!.pid!))];
    manager.signal('SIGKILL');
    await manager.exit;
    await eventually(() => pids.every((pid) => !processAlive(pid)), 'every process of web.1 gone', 20_000);
    expect(await portFree(port)).to.equal(true);
  });

  it('hands a program fd 3 with LISTEN_FDS=1, its own pid as LISTEN_PID, LISTEN_FDNAMES and PORT (hold_port in .foreman), and restarts it with --restart on the same port', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `api: node ${ACTIVATED} once\n`, '.foreman': 'hold_port: api\nrestart: api\n' });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port)], dir);
    await manager.waitFor(/api\.1 ready in/, 30_000);
    const seen: { pid: number; LISTEN_FDS: string; LISTEN_PID: string; LISTEN_FDNAMES: string; PORT: string }[] = [];
    // Each answer ends its process; the next request waits in the queue for the restart (back-off included).
    for (let count = 0; count < 3; count++) {
      const answer = await request(`http://127.0.0.1:${port}`, '/');
      expect(answer.status).to.equal(200);
      seen.push(JSON.parse(answer.body) as (typeof seen)[number]);
    }
    expect(new Set(seen.map((body) => body.pid)).size).to.equal(3);
    for (const body of seen) {
      expect(body).to.deep.include({ LISTEN_FDS: '1', LISTEN_PID: String(body.pid), LISTEN_FDNAMES: 'api.1', PORT: String(port) });
    }
    expect(manager.stdout).to.match(/restarting api\.1 in/);
  });

  it('keeps the port through a --watch restart: requests made meanwhile are served by the new process', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `web: node ${ACTIVATED}\n`, 'app.txt': 'one\n' });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port), '--hold-port', 'web', '--watch', '*.txt'], dir);
    await manager.waitFor(/watching files matching/, 30_000);
    await manager.waitFor(/web\.1 ready in/, 30_000);
    const loop = requestLoop(`http://127.0.0.1:${port}`, 4);
    const pids = () => new Set(loop.bodies.map((body) => (JSON.parse(body) as { pid: number }).pid));
    try {
      await eventually(() => loop.answers.length >= 20, 'answers before the change', 30_000);
      writeFileSync(join(dir, 'app.txt'), 'two\n');
      await manager.waitFor(/changed: app\.txt; restarting web\.1/, 30_000);
      await eventually(() => pids().size === 2, 'answers from the new process', 30_000);
    } finally {
      await loop.stop();
    }
    expect(loop.failures).to.deep.equal([]);
  });

  it('says in one line, naming --hold-port, that a program binding PORT itself fails with EADDRINUSE', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `web: node ${ACTIVATED} bind\n` });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port), '--hold-port', 'web'], dir);
    const exit = await manager.exit;
    expect(exit.code).to.not.equal(0);
    expect(manager.stdout).to.match(/EADDRINUSE/);
    expect(manager.stdout).to.include(
      `system | web.1 tried to bind a port itself, but tsforeman holds 0.0.0.0:${port} for it (--hold-port web): ` +
        'the program must serve on the socket it is given (fd 3, LISTEN_FDS), or leave web out of --hold-port\n',
    );
    expect(manager.stdout.match(/tried to bind a port itself/g)).to.have.length(1);
  });

  it('refuses in one line, starting nothing: an unknown type, a type with no instance, release, a command the shell runs, a port in use', async () => {
    const port = await freePort();
    const dir = project({ Procfile: 'web: sleep 300\nworker: sleep 300\nrelease: true\nshell: echo hi && sleep 300\n' });
    const cases: [string[], string][] = [
      [['--hold-port', 'db'], 'tsforeman: --hold-port: unknown process type "db" (Procfile has: web, worker, release, shell)\n'],
      [['--hold-port', 'worker', '-m', 'worker=0'], 'tsforeman: --hold-port worker: no instance of worker runs (the formation gives it 0, or it is not among the types named), so it gets no port to hold\n'],
      [['--hold-port', 'worker', 'web'], 'tsforeman: --hold-port worker: no instance of worker runs (the formation gives it 0, or it is not among the types named), so it gets no port to hold\n'],
      [['--hold-port', 'release'], 'tsforeman: --hold-port release: release runs once per deploy and serves no port\n'],
      [['--hold-port', 'shell'], `tsforeman: --hold-port shell: "echo hi && sleep 300" is not one program, so /bin/sh would keep the socket's LISTEN_PID: make it a single command\n`],
    ];
    for (const [flags, line] of cases) {
      const reply = await runTsforeman(['start', '--no-timestamp', '-p', String(port), ...flags], dir);
      expect(reply.stderr, flags.join(' ')).to.equal(line);
      expect(reply.code, flags.join(' ')).to.equal(1);
      expect(reply.stdout, flags.join(' ')).to.equal('');
    }
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(port, '0.0.0.0', resolve));
    try {
      const reply = await runTsforeman(['start', '--no-timestamp', '-p', String(port), '--hold-port', 'web'], dir);
      expect(reply.code).to.equal(1);
      expect(reply.stderr).to.equal(`tsforeman: --hold-port web: cannot bind 0.0.0.0:${port} for web.1: the port is in use\n`);
      expect(reply.stdout).to.equal('');
    } finally {
      taken.close();
    }
  });
});

describe('held ports and their readiness probe', function () {
  this.timeout(30_000);
  afterEach(cleanup);

  for (const via of ['kernel-table', 'http-answer'] as const) {
    it(`${via}: a queued connection is not accepted; it is once a process serves the socket`, async () => {
      const port = await freePort();
      const held = await HeldPorts.open([{ name: 'web.1', type: 'web', addresses: [{ host: '127.0.0.1', port }] }]);
      const probe = new AcceptProbe({ host: '127.0.0.1', port }, via);
      try {
        await eventually(() => queuedOn(port) === 1, 'the probe queued on the held socket');
        expect(probe.accepted()).to.equal(false);
        // LISTEN_PID must be the server's own pid: a shell that execs it sets it, as tsforeman does.
        const shell = spawn('/bin/sh', ['-c', `LISTEN_PID=$$; export LISTEN_PID; exec ${JSON.stringify(process.execPath)} ${ACTIVATED}`], {
          env: { ...process.env, LISTEN_FDS: '1', PORT: String(port) },
          stdio: ['ignore', 'ignore', 'inherit', held.get('web.1')!.fds[0]!],
        });
        track(shell.pid!);
        await eventually(() => probe.accepted(), 'the probe accepted');
      } finally {
        probe.close();
        held.close();
      }
    });
  }
});

/** The worker pids of a tsunicorn master (its children), from /proc. */
async function workersOf(master: number): Promise<number[]> {
  const { descendantsOf } = await import('../../procfile/process-group.js');
  return descendantsOf(master);
}
