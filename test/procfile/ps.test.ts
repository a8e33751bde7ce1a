import { expect } from 'chai';
import { createServer } from 'node:net';
import { cleanup, project, runTsforeman, sleep, startManager } from './helpers.js';

interface Row {
  name: string;
  type: string;
  pid: number | null;
  state: string;
  ready: boolean;
  port: number | null;
  restarts: number;
  startedAt: string | null;
  uptimeMs: number | null;
  exitCode: number | null;
  exitSignal: string | null;
  restartInMs: number | null;
  waitingFor: string[];
}

/** A port nothing listens on now (the OS picks it), for the base port of the stack. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function ps(dir: string): Promise<Map<string, Row>> {
  const result = await runTsforeman(['ps', '--json'], dir);
  expect(result.code, result.stderr).to.equal(0);
  return new Map((JSON.parse(result.stdout) as Row[]).map((row) => [row.name, row]));
}

/** Polls `ps --json` (bounded) until `check` holds for its rows. */
async function psUntil(dir: string, check: (rows: Map<string, Row>) => boolean, what: string): Promise<Map<string, Row>> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows = await ps(dir);
    if (check(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`ps never showed ${what}: ${JSON.stringify([...rows.values()])}`);
    await sleep(50);
  }
}

describe('tsforeman ps: the state of every instance, as text and JSON', function () {
  this.timeout(60_000);
  afterEach(cleanup);

  it('ready, running, exited, crashed (with the exit code or signal), restarting and stopped, in both forms', async () => {
    const base = await freePort();
    const dir = project({
      Procfile: [
        `web: exec node -e "require('net').createServer().listen(process.env.PORT, '127.0.0.1')"`,
        'done: echo finished',
        'task: echo failing; exit 3',
        `killed: sh -c 'kill -9 $$'`,
        'flappy: exit 1',
        'sleeper: exec sleep 300',
        '',
      ].join('\n'),
    });
    const manager = startManager(['start', '-p', String(base), '--can-die', 'done,task,killed', '--restart', 'flappy'], dir);
    await manager.waitFor(/web\.1 ready in/);

    const rows = await psUntil(
      dir,
      (found) =>
        found.get('done.1')?.state === 'exited' &&
        found.get('task.1')?.state === 'crashed' &&
        found.get('killed.1')?.state === 'crashed' &&
        found.get('flappy.1')?.state === 'restarting' &&
        (found.get('flappy.1')?.restarts ?? 0) >= 1,
      'the tasks ended and flappy restarting',
    );
    const web = rows.get('web.1')!;
    expect(web).to.include({ type: 'web', state: 'ready', ready: true, port: base, restarts: 0, exitCode: null, exitSignal: null });
    expect(web.pid).to.be.a('number');
    expect(Date.parse(web.startedAt!)).to.be.closeTo(Date.now(), 60_000);
    expect(rows.get('sleeper.1')).to.include({ state: 'running', ready: true, port: base + 500 });
    expect(rows.get('done.1')).to.include({ state: 'exited', pid: null, exitCode: 0, exitSignal: null, uptimeMs: null });
    expect(rows.get('task.1')).to.include({ state: 'crashed', pid: null, exitCode: 3, exitSignal: null });
    expect(rows.get('killed.1')).to.include({ state: 'crashed', pid: null, exitCode: null, exitSignal: 'SIGKILL' });
    expect(rows.get('flappy.1')).to.include({ state: 'restarting', exitCode: 1 });

    expect(await runTsforeman(['stop', 'sleeper'], dir)).to.include({ code: 0, stdout: 'stopped sleeper.1\n' });
    const stopped = (await ps(dir)).get('sleeper.1')!;
    expect(stopped).to.include({ state: 'stopped', pid: null, exitSignal: 'SIGTERM' });

    // The text form: a header, then the same facts per row.
    // (flappy is in and out of its back-off: polled until the text shows it in one.)
    let text: string[] = [];
    for (const deadline = Date.now() + 15_000; Date.now() < deadline; await sleep(50)) {
      text = (await runTsforeman(['ps'], dir)).stdout.trimEnd().split('\n');
      if (text.some((line) => /^flappy\.1 .* restarting/.test(line))) break;
    }
    expect(text[0]).to.match(/^NAME +TYPE +PID +STATE +PORT +RESTARTS +STARTED +UPTIME +EXIT$/);
    const row = (name: string) => text.find((line) => line.startsWith(`${name} `));
    expect(row('web.1')).to.match(new RegExp(`^web\\.1 +web +\\d+ +ready +${base} +0 +\\d\\d:\\d\\d:\\d\\d +\\d+s +-$`));
    expect(row('done.1')).to.match(/^done\.1 +done +- +exited +\d+ +0 +\d\d:\d\d:\d\d +- +code 0$/);
    expect(row('task.1')).to.match(/^task\.1 +task +- +crashed +\d+ +0 +\d\d:\d\d:\d\d +- +code 3$/);
    expect(row('killed.1')).to.match(/^killed\.1 +killed +- +crashed +\d+ +0 +\d\d:\d\d:\d\d +- +SIGKILL$/);
    expect(row('flappy.1')).to.match(/^flappy\.1 +flappy +- +restarting( in \d+s)? +\d+ +[1-9]\d* +\d\d:\d\d:\d\d +- +code 1$/);
    expect(row('sleeper.1')).to.match(/^sleeper\.1 +sleeper +- +stopped +\d+ +0 +\d\d:\d\d:\d\d +- +SIGTERM$/);

    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });
});
