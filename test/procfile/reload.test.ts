import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { requestLoop } from '../runtime/tsunicorn-process.js';
import { REPO, cleanup, eventually, project, runTsforeman, sleep, startManager } from './helpers.js';

const TSUNICORN = join(REPO, 'bin', 'tsunicorn');
const APP = join(REPO, 'test', 'fixtures', 'apps', 'master-env.mjs');

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('tsforeman reload', function () {
  this.timeout(60_000);
  afterEach(cleanup);

  it('sends web the HUP that reloads tsunicorn in place: no failed request, keep-alive or not, same master', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `web: node ${TSUNICORN} ${APP} -w 2\n` });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port)], dir);
    await manager.waitFor(/web\.1 started/);
    expect((await runTsforeman(['wait', '--timeout', '30'], dir)).code).to.equal(0);
    const url = `http://127.0.0.1:${port}`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const keepAlive = requestLoop(url, 4, agent);
    const closing = requestLoop(url, 4);
    let reply: Awaited<ReturnType<typeof runTsforeman>>;
    try {
      while (keepAlive.answers.length < 20 || closing.answers.length < 20) await sleep(20);
      reply = await runTsforeman(['reload', 'web'], dir);
      // The old generation of workers drains once the new one serves.
      await manager.waitFor(/(Worker exiting[\s\S]*){2}/);
      const answered = keepAlive.answers.length + closing.answers.length;
      await eventually(() => keepAlive.answers.length + closing.answers.length >= answered + 40, 'answers after the reload');
    } finally {
      await keepAlive.stop();
      await closing.stop();
      agent.destroy();
    }
    expect(reply.code).to.equal(0);
    expect(reply.stdout).to.match(/^reloaded web\.1 \(SIGHUP to pid (\d+)\)\n$/);
    const pid = Number(/pid (\d+)/.exec(reply.stdout)![1]);
    expect(manager.stdout).to.match(/system +\| reload web\.1 \(requested by pid \d+\)\n/);
    expect(manager.stdout).to.match(/\[INFO\] Handling signal: hup/);
    expect(keepAlive.failures).to.deep.equal([]);
    expect(closing.failures).to.deep.equal([]);
    // The same master serves: the process was reloaded, not restarted.
    const masters = new Set([...keepAlive.bodies, ...closing.bodies].map((body) => (JSON.parse(body) as { master: number }).master));
    expect([...masters]).to.deep.equal([pid]);
  });

  it('refuses in one line a command the shell runs, an instance not running, and a bad --reload-signal', async () => {
    const dir = project({ Procfile: 'web: echo hi; exec sleep 300\nworker: sleep 300\n' });
    const manager = startManager(['start', '--no-timestamp', '--ready-line', 'web=hi', '--can-die', 'worker'], dir);
    await manager.waitFor(/worker\.1 started/);
    expect((await runTsforeman(['wait', 'web', '--timeout', '30'], dir)).code).to.equal(0);
    const compound = await runTsforeman(['reload', 'web'], dir);
    expect(compound.code).to.equal(1);
    expect(compound.stderr).to.equal(
      'tsforeman: cannot reload web.1: its command is not one program, so the signal would reach the shell (use tsforeman restart, or make the command one program)\n',
    );
    const bad = await runTsforeman(['reload', 'worker', '--reload-signal', 'worker=NOPE'], dir);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.equal('tsforeman: --reload-signal: expected TYPE=SIGNAL such as web=HUP or web=USR2, got "worker=NOPE"\n');
    const unknownType = await runTsforeman(['reload', 'worker', '--reload-signal', 'db=HUP'], dir);
    expect(unknownType.stderr).to.match(/^tsforeman: --reload-signal: unknown process type "db" \(types: web, worker\)\n$/);
    // The chosen signal is what the process gets (sleep ends by TERM; worker may die).
    const term = await runTsforeman(['reload', 'worker', '--reload-signal', 'worker=TERM'], dir);
    expect(term.stdout).to.match(/^reloaded worker\.1 \(SIGTERM to pid \d+\)\n$/);
    await manager.waitFor(/worker\.1 terminated by SIGTERM/);
    const gone = await runTsforeman(['reload', 'worker'], dir);
    expect(gone.code).to.equal(1);
    expect(gone.stderr).to.match(/^tsforeman: cannot reload worker\.1: it is not running \(\w+\); use tsforeman restart\n$/);
  });
});
