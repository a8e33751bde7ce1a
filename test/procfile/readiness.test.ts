import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { cleanup, eventually, Manager, processAlive, project, runTsforeman, startManager } from './helpers.js';

/** A port nothing listens on right now (the kernel's pick, released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A web process that listens on $PORT once the file `go` exists. */
const LISTEN_WHEN_GO =
  `web: exec node -e "const fs=require('fs');const t=setInterval(()=>{if(fs.existsSync('go')){clearInterval(t);require('http').createServer((q,s)=>s.end('hi')).listen(process.env.PORT,'127.0.0.1',()=>console.log('listening'))}},20)"`;

async function state(dir: string, name: string): Promise<string | undefined> {
  const ps = await runTsforeman(['ps', '--json'], dir);
  return (JSON.parse(ps.stdout) as { name: string; state: string }[]).find((row) => row.name === name)?.state;
}

describe('tsforeman readiness: ports, --ready-line, --after, wait', function () {
  this.timeout(60_000);
  afterEach(cleanup);

  it('web is ready when its PORT accepts connections; --after starts the others in order; wait returns once all are', async () => {
    const port = await freePort();
    const dir = project({
      Procfile: [
        LISTEN_WHEN_GO,
        'release: echo migrating; exit 0',
        `worker: echo booting; until [ -e go2 ]; do sleep 0.02; done; echo "queue ready"; exec sleep 300`,
        'clock: exec sleep 300',
        '',
      ].join('\n'),
    });
    const manager = startManager(
      ['start', '--no-timestamp', '-p', String(port), '--after', 'web=release', '--after', 'worker=web', '--ready-line', 'worker=queue (ready)'],
      dir,
    );
    await manager.waitFor(/release\.1 exited with code 0\n[\s\S]*web\.1 started/);
    await manager.waitFor(/clock\.1 started/);
    expect(await state(dir, 'web.1')).to.equal('starting');
    expect(await state(dir, 'worker.1')).to.equal('starting');
    expect(await state(dir, 'clock.1')).to.equal('running');
    expect(manager.stdout).to.not.match(/worker\.1 started/);
    expect((await runTsforeman(['ps'], dir)).stdout).to.match(/^worker\.1 +worker +- +starting \(after web\) +\d+ +0 +- +- +-$/m);

    // wait, from another terminal: it answers only once everything is ready.
    const wait = startManager(['wait'], dir);
    const waitWeb = startManager(['wait', 'web'], dir);
    writeFileSync(join(dir, 'go'), '');
    await manager.waitFor(new RegExp(`system +\\| web\\.1 ready in \\d+\\.\\d\\ds \\(port ${port} accepts connections\\)\\n`));
    expect((await waitWeb.exit).code).to.equal(0);
    expect(waitWeb.stdout).to.equal('ready: web.1\n');
    await manager.waitFor(/worker\.1 started/);
    expect(manager.stdout.indexOf('web.1 ready in')).to.be.below(manager.stdout.indexOf('worker.1 started'));
    expect(wait.child.exitCode).to.equal(null);
    expect(await state(dir, 'worker.1')).to.equal('starting');
    writeFileSync(join(dir, 'go2'), '');
    await manager.waitFor(/worker\.1 +\| queue ready\nsystem +\| worker\.1 ready in \d+\.\d\ds \(a line matched \/queue \(ready\)\/\)\n/);
    expect((await wait.exit).code).to.equal(0);
    expect(wait.stdout).to.equal('ready: web.1, release.1, worker.1, clock.1\n');
    expect(await state(dir, 'web.1')).to.equal('ready');
    expect(await state(dir, 'release.1')).to.equal('exited');

    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });

  it('wait exits 1 with one line on timeout, when an instance crashed, or when it was stopped', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `${LISTEN_WHEN_GO}\ntask: until [ -e fail ]; do sleep 0.02; done; exit 3\nother: exec sleep 300\n` });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port), '--can-die', 'task'], dir);
    await manager.waitFor(/other\.1 started/);

    const timedOut = await runTsforeman(['wait', 'web', '--timeout', '0.3'], dir);
    expect(timedOut.code).to.equal(1);
    expect(timedOut.stderr).to.equal('tsforeman: timed out after 0.3s waiting for web.1 (starting)\n');

    const waitTask = startManager(['wait', 'task'], dir);
    writeFileSync(join(dir, 'fail'), '');
    expect((await waitTask.exit).code).to.equal(1);
    expect(waitTask.stderr).to.equal('tsforeman: task.1 crashed (exited with code 3)\n');
    expect((await runTsforeman(['ps'], dir)).stdout).to.match(/^task\.1 +task +- +crashed +\d+ +0 +\S+ +- +code 3$/m);

    const waitOther = startManager(['wait', 'other', 'web'], dir);
    expect((await runTsforeman(['stop', 'web'], dir)).code).to.equal(0);
    expect((await waitOther.exit).code).to.equal(1);
    expect(waitOther.stderr).to.equal('tsforeman: web.1 was stopped\n');

    const bad = await runTsforeman(['wait', '--timeout', 'soon'], dir);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.equal('tsforeman: --timeout: expected a number of seconds, got "soon"\n');
    manager.signal('SIGINT');
    expect((await manager.exit).code).to.equal(130);
  });

  it('a failed task that others come --after stops the stack with its status; they never start', async () => {
    const dir = project({ Procfile: 'release: echo broken; exit 4\nweb: exec sleep 300\nworker: exec sleep 300\n' });
    const result = await runTsforeman(['start', '--no-timestamp', '--after', 'web=release', '--after', 'worker=release'], dir);
    expect(result.code).to.equal(4);
    expect(result.stdout).to.include('system    | release.1 exited with code 4\nsystem    | web.1 will not start: release.1 exited with code 4\n');
    expect(result.stdout).to.not.match(/(web|worker)\.1 started/);
  });

  const refusals: [string, string, string[], string][] = [
    ['a cycle', 'web: a\nworker: b\nclock: c\n', ['--after', 'web=worker', '--after', 'worker=clock,web'], 'tsforeman: --after: a cycle, nothing started: web waits for worker waits for web\n'],
    ['a type that waits for itself', 'web: a\n', ['--after', 'web=web'], 'tsforeman: --after: a cycle, nothing started: web waits for web\n'],
    ['an unknown type in --after', 'web: a\n', ['--after', 'web=db'], 'tsforeman: --after: unknown process type "db" (Procfile has: web)\n'],
    ['a malformed --after', 'web: a\n', ['--after', 'web'], 'tsforeman: --after: expected TYPE=TYPE[,TYPE], got "web"\n'],
    ['a bad --ready-line regex', 'web: a\n', ['--ready-line', 'web=(unclosed'], 'tsforeman: --ready-line web: bad regular expression "(unclosed": /(unclosed/: Unterminated group\n'],
    ['an unknown --ready-line type', 'web: a\n', ['--ready-line', 'db=up'], 'tsforeman: --ready-line: unknown process type "db" (Procfile has: web)\n'],
  ];
  for (const [what, procfile, args, message] of refusals) {
    it(`refuses ${what} in one line, exit 1, nothing started`, async () => {
      const dir = project({ Procfile: procfile });
      const result = await runTsforeman(['start', ...args], dir);
      expect(result).to.include({ code: 1, stdout: '', stderr: message });
    });
  }

  it('a server bound to ::1 only (localhost on some systems) is ready too', async function () {
    const probe = createServer();
    const ipv6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => resolve(true));
    });
    if (!ipv6) this.skip();
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const dir = project({ Procfile: `web: exec node -e "require('net').createServer().listen(process.env.PORT, '::1')"\n` });
    const manager = startManager(['start', '--no-timestamp', '-p', String(port)], dir);
    await manager.waitFor(new RegExp(`web\\.1 ready in \\d+\\.\\d\\ds \\(port ${port} accepts connections\\)`));
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });

  it('restart makes an instance starting again until its port answers', async () => {
    const port = await freePort();
    const dir = project({ Procfile: `${LISTEN_WHEN_GO}\n`, go: '' });
    const manager: Manager = startManager(['start', '--no-timestamp', '-p', String(port)], dir);
    await manager.waitFor(/web\.1 ready in/);
    const first = Number((manager.stdout.match(/web\.1 started \(pid (\d+)\)/) ?? [])[1]);
    expect((await runTsforeman(['restart', 'web'], dir)).code).to.equal(0);
    await eventually(() => (manager.stdout.match(/web\.1 ready in/g) ?? []).length === 2, 'ready twice');
    expect(processAlive(first)).to.equal(false);
    const ps = JSON.parse((await runTsforeman(['ps', '--json'], dir)).stdout) as { state: string; restarts: number }[];
    expect(ps[0]).to.include({ state: 'ready', restarts: 1 });
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });
});
