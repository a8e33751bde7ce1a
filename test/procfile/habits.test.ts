import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, cleanup, project, runTsforeman, startManager, track } from './helpers.js';

const ESC = '\u001b[';

describe('tsforeman habits: .foreman, PORT_<TYPE>, colours', function () {
  this.timeout(30_000);
  afterEach(cleanup);

  it('gives every process the ports of the others as PORT_<TYPE> (and PORT_<TYPE>_<N>), run too', async () => {
    const dir = project({
      Procfile: 'web: echo "W=$PORT_WEB W2=$PORT_WEB_2 K=$PORT_WORKER A=$PORT_API_V2"\nworker: echo "from $PS: $PORT_WEB"\napi-v2: true\n',
    });
    const result = await runTsforeman(['start', '--no-timestamp', '-p', '6000', '-m', 'web=2', '--can-die', 'web,worker,api-v2'], dir);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('web.1    | W=6000 W2=6001 K=6100 A=6200\n');
    expect(result.stdout).to.include('worker.1 | from worker.1: 6000\n');
    const ran = await runTsforeman(['run', '-p', '6000', 'echo $PORT_WEB $PORT_WORKER'], dir);
    expect(ran.stdout).to.equal('6000 6100\n');
  });

  it('reads .foreman from the root: flags win, unknown keys warn with file:line, bad values are one error line', async () => {
    const dir = project({
      'Procfile.dev': 'web: echo "port $PORT $GREETING"\nworker: echo "worker $PS"\n',
      'dev.env': 'GREETING=hello\n',
      '.foreman': 'procfile: Procfile.dev\nport: 7100\nformation:\n  worker: 0\nenv: dev.env\ncolour: true\ncan_die: web\n',
    });
    const result = await runTsforeman(['start', '--no-timestamp'], dir);
    expect(result.code).to.equal(0);
    expect(result.stderr).to.match(/^tsforeman: warning: \.foreman:6: unknown key "colour" ignored \(known: procfile, .*\)\n$/);
    expect(result.stdout).to.include('web.1  | port 7100 hello\n');
    expect(result.stdout).to.not.include('worker');
    const flagged = await runTsforeman(['start', '--no-timestamp', '-p', '7300', '-m', 'worker=1'], dir);
    expect(flagged.stdout).to.include('web.1    | port 7300 hello\n').and.include('worker.1 | worker worker.1\n');
    expect((await runTsforeman(['check'], dir)).stdout).to.equal('valid procfile detected (web, worker)\n');
    // The clients of a manager (ps, wait, logs, ...) read only what locates it, and leave the warning to start.
    expect(await runTsforeman(['ps'], dir)).to.include({
      code: 1,
      stderr: 'tsforeman: no tsforeman is running here (no manager listening on .tsforeman.sock; start one, or use -d/-f/--socket)\n',
    });

    writeFileSync(join(dir, '.foreman'), 'port: [1, 2]\n');
    expect(await runTsforeman(['start'], dir)).to.include({ code: 1, stdout: '', stderr: 'tsforeman: .foreman:1: port: expected a number\n' });
    writeFileSync(join(dir, '.foreman'), 'port: 7100\n  bad: [\n');
    const broken = await runTsforeman(['check'], dir);
    expect(broken.code).to.equal(1);
    expect(broken.stderr).to.match(/^tsforeman: \.foreman:\d+: not valid YAML: .*\n$/);
  });

  it('a .foreman value the Procfile or a range refuses is one line naming .foreman:N and the key; .foreman after and ready_line apply', async () => {
    const dir = project({ Procfile: 'release: echo migrating\napp: echo up; exec sleep 300\n' });
    const refused: [string, string[], string][] = [
      ['after: { app: release, release: app }', ['start'], '.foreman:2: after: a cycle, nothing started: app waits for release waits for app'],
      ['after:\n  app: nosuch', ['start'], '.foreman:2: after: unknown process type "nosuch" (Procfile has: release, app)'],
      ['ready_line: { app: "(" }', ['start'], '.foreman:2: ready_line app: bad regular expression "(": /(/: Unterminated group'],
      ['can_die: nosuch', ['start'], '.foreman:2: can_die: unknown process type "nosuch" (Procfile has: release, app)'],
      ['formation: { nosuch: 1 }', ['start'], '.foreman:2: formation: formation names unknown process type "nosuch" (Procfile has: release, app)'],
      ['formation: { nosuch: 1 }', ['export', 'systemd', 'out'], '.foreman:2: formation: formation names unknown process type "nosuch" (Procfile has: release, app)'],
      ['port: 70000', ['run', 'true'], '.foreman:2: port: port 70000 is out of range (1-65535)'],
      ['timeout: -1', ['start'], '.foreman:2: timeout: expected a number of seconds, got "-1"'],
      ['log_lines: -3', ['start'], '.foreman:2: log_lines: expected a whole number, got "-3"'],
    ];
    for (const [line, args, message] of refused) {
      writeFileSync(join(dir, '.foreman'), `# defaults\n${line}\n`);
      expect(await runTsforeman(args, dir), line).to.include({ code: 1, stdout: '', stderr: `tsforeman: ${message}\n` });
    }
    // The same mistake on the command line names the flag.
    expect((await runTsforeman(['start', '--after', 'app=nosuch'], dir)).stderr).to.equal('tsforeman: --after: unknown process type "nosuch" (Procfile has: release, app)\n');

    writeFileSync(join(dir, '.foreman'), 'after: { app: release }\nready_line: { app: "^up" }\n');
    const manager = startManager(['start', '--no-timestamp'], dir);
    await manager.waitFor(/app\.1 ready in \d+\.\d\ds \(a line matched \/\^up\/\)\n/);
    const order = manager.stdout.split('\n').map((text) => text.replace(/\(pid \d+\)/, '(pid N)'));
    expect(order.slice(0, 6)).to.deep.equal([
      'system    | release.1 started (pid N)',
      'system    | app.1 waits for release to finish',
      'release.1 | migrating',
      'system    | release.1 exited with code 0',
      'system    | app.1 started (pid N)',
      'app.1     | up',
    ]);
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });

  it('colours the prefixes with FORCE_COLOR or on a terminal; not with NO_COLOR, --no-color or into a pipe', async () => {
    const dir = project({ Procfile: 'web: echo hi\n' });
    const env = (extra: Record<string, string>) => {
      const clean = { ...process.env };
      delete clean.FORCE_COLOR;
      delete clean.NO_COLOR;
      return { ...clean, ...extra };
    };
    const piped = await runTsforeman(['start', '--no-timestamp'], dir, { env: env({}) });
    expect(piped.stdout).to.include('web.1  | hi\n').and.not.include(ESC);
    const forced = await runTsforeman(['start', '--no-timestamp'], dir, { env: env({ FORCE_COLOR: '1' }) });
    expect(forced.stdout).to.include(`${ESC}36mweb.1  |${ESC}0m hi\n`).and.include(`${ESC}1msystem |${ESC}0m web.1 started`);
    const off = await runTsforeman(['start', '--no-timestamp'], dir, { env: env({ FORCE_COLOR: '0' }) });
    expect(off.stdout).to.not.include(ESC);
    const flag = await runTsforeman(['start', '--no-timestamp', '--no-color'], dir, { env: env({ FORCE_COLOR: '1' }) });
    expect(flag.stdout).to.not.include(ESC);

    // A terminal: `script` gives the manager a pseudo-terminal as stdout.
    const onTerminal = async (extra: Record<string, string>) => {
      const child = spawn('script', ['-qec', `"${process.execPath}" "${BIN}" start --no-timestamp`, '/dev/null'], {
        cwd: dir,
        env: env(extra),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      track(child.pid!);
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      await new Promise((resolve) => child.once('close', resolve));
      return out;
    };
    expect(await onTerminal({})).to.include(`${ESC}36mweb.1  |${ESC}0m hi`);
    expect(await onTerminal({ NO_COLOR: '1' })).to.include('web.1  | hi').and.not.include(`${ESC}36m`);
  });
});
