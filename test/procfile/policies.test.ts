import { expect } from 'chai';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, processAlive, project, runTsforeman, startManager } from './helpers.js';

describe('tsforeman start --restart / --can-die / --watch', function () {
  this.timeout(30_000);
  afterEach(cleanup);

  describe('--restart', () => {
    // The back-off's growth and the crash-loop line are covered with a fake clock (supervisor.test.ts);
    // here, one real restart of a real process.
    it('restarts a crashing process under the same name after the back-off, the others untouched', async () => {
      const dir = project({ Procfile: 'crasher: echo "run $$"; exit 1\nweb: exec sleep 300\n' });
      const manager = startManager(['start', '--no-timestamp', '--restart', 'crasher'], dir);
      const web = Number((await manager.waitFor(/web\.1 started \(pid (\d+)\)/))[1]);
      await manager.waitFor(/(crasher\.1 \| run \d+[\s\S]*){2}/);
      const out = manager.stdout;
      expect(out).to.include('system    | crasher.1 exited with code 1\nsystem    | restarting crasher.1 in 0.5s\n');
      const runs = [...out.matchAll(/crasher\.1 \| run (\d+)/g)].map((match) => match[1]);
      expect(new Set(runs).size).to.equal(runs.length);
      expect(processAlive(web), 'web keeps running').to.equal(true);
      manager.signal('SIGTERM');
      expect((await manager.exit).code).to.equal(143);
      expect(processAlive(web)).to.equal(false);
    });

    it('rejects an unknown type and a type that is both --restart and --can-die', async () => {
      const dir = project({ Procfile: 'web: echo x\n' });
      const unknown = await runTsforeman(['start', '--restart', 'db'], dir);
      expect(unknown.code).to.equal(1);
      expect(unknown.stderr).to.equal('tsforeman: --restart: unknown process type "db" (Procfile has: web)\n');
      const both = await runTsforeman(['start', '--restart', 'web', '--can-die', 'web'], dir);
      expect(both.stderr).to.equal('tsforeman: process type "web" cannot be both --restart and --can-die\n');
    });
  });

  describe('--can-die', () => {
    it('lets a one-shot task exit without stopping the others', async () => {
      const dir = project({ Procfile: 'migrate: echo migrated; exit 0\nweb: echo up; exec sleep 300\n' });
      const manager = startManager(['start', '--no-timestamp', '--can-die', 'migrate'], dir);
      const web = Number((await manager.waitFor(/web\.1 started \(pid (\d+)\)/))[1]);
      await manager.waitFor(/migrate\.1 exited with code 0/);
      await manager.waitFor(/web\.1 +\| up/);
      expect(manager.stdout).not.to.include('sending SIGTERM');
      expect(processAlive(web)).to.equal(true);
      manager.signal('SIGINT');
      expect((await manager.exit).code).to.equal(130);
      expect(processAlive(web)).to.equal(false);
    });

    it('exits when every process was a task: 0, or the first failing status', async () => {
      const dir = project({ Procfile: 'a: exit 0\nb: sleep 0.2; exit 4\nc: sleep 0.4; exit 5\n' });
      const result = await runTsforeman(['start', '--no-timestamp', '--can-die', 'a,b', '--can-die', 'c'], dir);
      expect(result.code).to.equal(4);
      expect(result.stdout).to.include('c.1 exited with code 5');
    });

    it('stops what finished tasks left running (a background child, an escapee) and then exits', async () => {
      const dir = project({ Procfile: `task: sleep 300 & echo "grandchild $!"; setsid sleep 300 & echo "grandchild $!"\n` });
      const result = await runTsforeman(['start', '--no-timestamp', '--can-die', 'task'], dir);
      expect(result.code).to.equal(0);
      const pids = [...result.stdout.matchAll(/grandchild (\d+)/g)].map((m) => Number(m[1]));
      expect(pids).to.have.length(2);
      for (const pid of pids) expect(processAlive(pid), `pid ${pid}`).to.equal(false);
    });
  });

  describe('--watch', () => {
    it('restarts processes when a file changes, with the env files read again', async () => {
      const dir = project({
        Procfile: 'web: echo "boot $(cat version.txt) $GREETING"; exec sleep 300\ntask: echo once\n',
        'version.txt': '1\n',
        '.env': 'GREETING=hello\n',
      });
      const manager = startManager(['start', '--no-timestamp', '--watch', '--can-die', 'task', '-t', '2'], dir);
      const first = Number((await manager.waitFor(/web\.1 started \(pid (\d+)\)/))[1]);
      await manager.waitFor(/watching files under /);
      await manager.waitFor(/boot 1 hello/);
      writeFileSync(join(dir, 'version.txt'), '2\n');
      writeFileSync(join(dir, '.env'), 'GREETING=bonjour\n');
      await manager.waitFor(/changed: \.env, version\.txt; restarting web\.1\n/);
      await manager.waitFor(/web\.1  \| boot 2 bonjour/);
      expect(processAlive(first), 'the old web.1 is gone').to.equal(false);
      expect(manager.stdout.match(/task\.1 \| once/g)).to.have.length(1);
      manager.signal('SIGTERM');
      expect((await manager.exit).code).to.equal(143);
    });

    it('ignores node_modules, .git and files outside the glob', async () => {
      const dir = project({ Procfile: 'web: echo boot; exec sleep 300\n', 'app.js': '1', 'notes.txt': 'x' });
      mkdirSync(join(dir, 'node_modules'));
      mkdirSync(join(dir, '.git'));
      const manager = startManager(['start', '--no-timestamp', '--watch', '**/*.js'], dir);
      await manager.waitFor(/watching files matching \*\*\/\*\.js under /);
      writeFileSync(join(dir, 'notes.txt'), 'changed');
      writeFileSync(join(dir, 'node_modules', 'dep.js'), 'changed');
      writeFileSync(join(dir, '.git', 'index.js'), 'changed');
      // Written last: whichever batch reports it, none of the files above may be listed.
      writeFileSync(join(dir, 'app.js'), '2');
      await manager.waitFor(/changed: app\.js; restarting web\.1\n/);
      expect(manager.stdout.match(/changed:/g)).to.have.length(1);
      manager.signal('SIGTERM');
      expect((await manager.exit).code).to.equal(143);
    });
  });
});
