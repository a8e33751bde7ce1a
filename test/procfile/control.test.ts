import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, eventually, processAlive, project, runTsforeman, startManager, track, type Manager } from './helpers.js';

/** The pids `ps --json` shows, by instance name (null for an instance it shows none for). */
async function pids(dir: string): Promise<Record<string, number | null>> {
  const ps = await runTsforeman(['ps', '--json'], dir);
  const found: Record<string, number | null> = {};
  for (const row of JSON.parse(ps.stdout) as { name: string; pid: number | null }[]) found[row.name] = row.pid;
  return found;
}

const PROCFILE = 'web: echo "web $PS $PORT $GREETING"; exec sleep 300\nworker: echo "worker $PS"; exec sleep 300\n';

async function started(dir: string, args: string[] = []): Promise<Manager> {
  const manager = startManager(['start', '--no-timestamp', '-m', 'web=2', ...args], dir);
  await manager.waitFor(/(\| (web|worker) [\s\S]*){3}/);
  return manager;
}

describe('tsforeman ps, restart, stop (the control socket)', function () {
  this.timeout(60_000);
  afterEach(cleanup);

  it('ps shows every instance; restart and stop act on instances or types and say who asked', async () => {
    const dir = project({ Procfile: PROCFILE, '.env': 'GREETING=hello\n' });
    // web is ready at its first line: restart answers once the new process is ready.
    const manager = await started(dir, ['--ready-line', 'web=^web ']);
    expect((await runTsforeman(['wait'], dir)).code).to.equal(0);
    expect(lstatSync(join(dir, '.tsforeman.sock')).mode & 0o777).to.equal(0o600);

    const ps = await runTsforeman(['ps'], dir);
    expect(ps.code).to.equal(0);
    const lines = ps.stdout.trimEnd().split('\n');
    expect(lines).to.have.length(4);
    expect(lines[0]).to.match(/^NAME +TYPE +PID +STATE +PORT +RESTARTS +STARTED +UPTIME +EXIT$/);
    expect(lines[1]).to.match(/^web\.1 +web +\d+ +ready +5000 +0 +\d\d:\d\d:\d\d +\d+s +-$/);
    expect(lines[2]).to.match(/^web\.2 +web +\d+ +ready +5001 +0 +\d\d:\d\d:\d\d +\d+s +-$/);
    expect(lines[3]).to.match(/^worker\.1 +worker +\d+ +running +5100 +0 +\d\d:\d\d:\d\d +\d+s +-$/);

    // restart one instance: new process, same name and PORT, env re-read; the others untouched.
    const { 'web.1': web1, 'web.2': web2, 'worker.1': worker } = await pids(dir);
    writeFileSync(join(dir, '.env'), 'GREETING=again\n');
    const restart = await runTsforeman(['restart', 'web.1'], dir);
    expect(restart).to.include({ code: 0, stdout: 'restarted web.1\n', stderr: '' });
    expect(manager.stdout).to.match(/system {3}\| restart web\.1 \(requested by pid \d+\)\n/);
    // Answered once ready: the new process's ready line is out by then.
    expect(manager.stdout).to.match(/web\.1 {4}\| web web\.1 5000 again/);
    expect(processAlive(web1!)).to.equal(false);
    const after = await pids(dir);
    expect(after['web.1']).to.be.a('number').and.not.equal(web1);
    expect(after['web.2']).to.equal(web2);
    expect(after['worker.1']).to.equal(worker);

    // restart a type: all its instances.
    expect((await runTsforeman(['restart', 'web'], dir)).stdout).to.equal('restarted web.1, web.2\n');
    expect(processAlive(web2!)).to.equal(false);

    // stop keeps it stopped (no shutdown, no restart); restart brings it back.
    expect(await runTsforeman(['stop', 'worker'], dir)).to.include({ code: 0, stdout: 'stopped worker.1\n' });
    expect(manager.stdout).to.match(/system {3}\| stop worker\.1 \(requested by pid \d+\)\n/);
    expect(processAlive(worker!)).to.equal(false);
    expect((await runTsforeman(['ps'], dir)).stdout).to.match(/^worker\.1 +worker +- +stopped +5100 +0 +\d\d:\d\d:\d\d +- +SIGTERM$/m);
    expect(manager.child.exitCode).to.equal(null);
    expect((await runTsforeman(['restart', 'worker.1'], dir)).stdout).to.equal('restarted worker.1\n');
    const running = Object.values(await pids(dir));
    expect(running.every((pid) => typeof pid === 'number')).to.equal(true);

    // stop with no name: the whole stack, like Ctrl-C, and the manager exits 0.
    const stop = await runTsforeman(['stop'], dir);
    expect(stop.code).to.equal(0);
    expect(stop.stdout.trimEnd().split('\n')).to.have.length(1);
    expect((await manager.exit).code).to.equal(0);
    expect(manager.stdout).to.match(/system {3}\| stop all processes \(requested by pid \d+\)\n/);
    for (const pid of running) expect(processAlive(pid!), `pid ${pid}`).to.equal(false);
    expect(existsSync(join(dir, '.tsforeman.sock'))).to.equal(false);
  });

  it('exits 1 with one line when no manager runs there, or a name is unknown; -d finds the manager from another folder', async () => {
    const dir = project({ Procfile: PROCFILE });
    for (const command of ['ps', 'restart', 'stop', 'wait', 'logs']) {
      const result = await runTsforeman([command], dir);
      expect(result.code, command).to.equal(1);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.equal(
        'tsforeman: no tsforeman is running here (no manager listening on .tsforeman.sock; start one, or use -d/-f/--socket)\n',
      );
    }
    const manager = await started(dir);
    expect((await runTsforeman(['ps', '-d', dir], project({}))).stdout).to.match(/^web\.1 +web +\d+ +starting/m);
    for (const command of ['restart', 'stop', 'wait', 'logs']) {
      const result = await runTsforeman([command, 'web.1', 'db'], dir);
      expect(result.code, command).to.equal(1);
      expect(result.stderr).to.equal('tsforeman: unknown process "db" (this manager runs: web.1, web.2, worker.1)\n');
    }
    expect(manager.stdout).to.not.match(/requested/);
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });

  it('refuses a second start on a live socket in one line, and replaces a stale socket file', async () => {
    const dir = project({ Procfile: PROCFILE });
    // A manager killed with SIGKILL leaves its socket file behind: stand one up and kill it.
    const stale = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(join(dir, '.tsforeman.sock'))}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    track(stale.pid!);
    await new Promise((resolve) => stale.stdout.once('data', resolve));
    stale.kill('SIGKILL');
    await new Promise((resolve) => stale.once('exit', resolve));
    expect(lstatSync(join(dir, '.tsforeman.sock')).isSocket()).to.equal(true);

    const manager = await started(dir);
    const second = await runTsforeman(['start', '--no-timestamp'], dir);
    expect(second.code).to.equal(1);
    expect(second.stdout).to.equal('');
    expect(second.stderr).to.equal(
      'tsforeman: a tsforeman is already running on .tsforeman.sock (stop it with "tsforeman stop", or use --socket PATH)\n',
    );
    manager.signal('SIGINT');
    expect((await manager.exit).code).to.equal(130);
    expect(existsSync(join(dir, '.tsforeman.sock'))).to.equal(false);
  });

  it('listens on --socket PATH instead of ROOT/.tsforeman.sock, found from any folder', async () => {
    const dir = project({ Procfile: PROCFILE });
    const elsewhere = project({});
    const socket = join(elsewhere, 'control.sock');
    const manager = await started(dir, ['--socket', socket]);
    expect(existsSync(join(dir, '.tsforeman.sock'))).to.equal(false);
    expect((await runTsforeman(['ps', '--socket', socket], '/')).stdout).to.match(/^web\.1 /m);
    // -d names the root, and the socket is not there.
    expect((await runTsforeman(['ps', '-d', dir], elsewhere)).code).to.equal(1);
    const stop = await runTsforeman(['stop', '--socket', 'control.sock'], elsewhere);
    expect(stop.code).to.equal(0);
    expect((await manager.exit).code).to.equal(0);
    await eventually(() => !existsSync(socket), 'socket removed');
  });
});
