import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { cleanup, eventually, processAlive, project, runTsforeman, startManager, track } from './helpers.js';

/** Pids of the watchdogs that watch manager `pid` (from /proc: their command line names it last). */
function watchdogsOf(pid: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.some((word) => /watchdog\.(js|ts)$/.test(word)) && argv.includes(String(pid)) && processAlive(Number(name))) found.push(Number(name));
  }
  return found;
}

const grandchildren = (output: string) => [...output.matchAll(/grandchild (\d+)/g)].map((m) => Number(m[1]));

describe('tsforeman watchdog: nothing survives a killed manager', function () {
  this.timeout(60_000);
  afterEach(cleanup);

  it('kill -9 of start: its groups, a background child and the marked escapees are stopped; a TERM-ignoring one is killed after -t', async () => {
    const dir = project({
      Procfile: [
        `web: sh -c 'sleep 300 & echo "grandchild $!"; wait'`,
        `escapee: setsid sh -c 'echo "grandchild $$"; exec sleep 300' & exec sleep 300`,
        `stubborn: trap '' TERM; echo "grandchild $$"; while :; do sleep 0.05; done`,
        '',
      ].join('\n'),
    });
    const manager = startManager(['start', '--no-timestamp', '-t', '1'], dir);
    await manager.waitFor(/(grandchild \d+[\s\S]*){3}/);
    const started = [...manager.stdout.matchAll(/started \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    const pids = [...started, ...grandchildren(manager.stdout)];
    const watchdogs = watchdogsOf(manager.child.pid!);
    expect(watchdogs).to.have.length(1);
    for (const pid of watchdogs) track(pid);
    for (const pid of pids) expect(processAlive(pid), `pid ${pid} before`).to.equal(true);

    manager.signal('SIGKILL');
    expect((await manager.exit).signal).to.equal('SIGKILL');
    await eventually(() => pids.every((pid) => !processAlive(pid)), `every process gone: ${pids.join(', ')}`, 20_000);
    await eventually(() => watchdogs.every((pid) => !processAlive(pid)), 'the watchdog exited', 20_000);
  });

  it('kill -9 of run: the command and what it started are stopped', async () => {
    const dir = project({});
    const manager = startManager(['run', `sleep 300 & echo "grandchild $!"; setsid sleep 300 & echo "grandchild $!"; exec sleep 300`], dir);
    await manager.waitFor(/(grandchild \d+[\s\S]*){2}/);
    const pids = grandchildren(manager.stdout);
    const watchdogs = watchdogsOf(manager.child.pid!);
    expect(watchdogs).to.have.length(1);
    manager.signal('SIGKILL');
    await manager.exit;
    await eventually(() => pids.every((pid) => !processAlive(pid)), `every process gone: ${pids.join(', ')}`, 20_000);
    await eventually(() => watchdogs.every((pid) => !processAlive(pid)), 'the watchdog exited', 20_000);
  });

  it('after a normal exit the watchdog is gone too, and it exits on its own', async () => {
    const dir = project({ Procfile: 'web: exec sleep 300\n' });
    const manager = startManager(['start', '--no-timestamp'], dir);
    await manager.waitFor(/web\.1 started/);
    const watchdogs = watchdogsOf(manager.child.pid!);
    expect(watchdogs).to.have.length(1);
    expect((await runTsforeman(['stop'], dir)).code).to.equal(0);
    expect((await manager.exit).code).to.equal(0);
    await eventually(() => watchdogs.every((pid) => !processAlive(pid)), 'the watchdog exited');
  });
});
