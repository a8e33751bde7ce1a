import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SettingsError } from '../../runtime/errors.js';
import { GUNICORN_ONLY } from '../../runtime/gunicorn-settings.js';
import { parseCommandLine } from '../../runtime/settings.js';
import { TsunicornProcess, request, sleep, stopAllServers, waitUntilServing } from './tsunicorn-process.js';

/** A Procfile line copied from a Python app, run unchanged (but for the APP) by tsunicorn. */
describe("gunicorn's command line", function () {
  this.timeout(30000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-gunicorn-'));
    // Readable by the user the workers switch to in the --user test.
    chmodSync(directory, 0o755);
    mkdirSync(path.join(directory, 'site'));
    writeFileSync(path.join(directory, 'site', 'app.mjs'), [
      "console.log('printed by the app at import');",
      'export default (req, res) => {',
      "  const groups = process.getgroups().join(',');",
      '  res.end(`${process.cwd()} ${process.env.GREETING} ${process.env.WITH_EQUALS} ${process.getuid()}:${process.getgid()}:${groups}`);',
      '};',
      '',
    ].join('\n'));
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  /** The process title as ps shows it (Node writes it over the command line). */
  const title = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').replace(/\0/g, ' ');

  it('--chdir, --name, -e, --backlog work; -k, --threads, --worker-connections warn once each and the app is served', async () => {
    const server = await TsunicornProcess.start([
      'app.mjs', '--chdir', 'site', '--name', 'web', '-e', 'GREETING=hello', '--env', 'WITH_EQUALS=a=b', '--backlog', '64',
      '-k', 'gevent', '--threads', '4', '--worker-connections', '1000', '-w', '2', '-b', '127.0.0.1:0',
    ], { cwd: directory });
    const [worker] = await server.waitForWorkers(2);
    const response = await waitUntilServing(server.urls[0]!);
    const site = path.join(directory, 'site');
    expect(response.body).to.match(new RegExp(`^${site} hello a=b `));
    expect(title(server.pid)).to.equal('tsunicorn: master [web]');
    // A worker takes its title when the master's boot message arrives: wait for it (bounded).
    for (let attempt = 0; attempt < 200 && title(worker!) !== 'tsunicorn: worker [web]'; attempt++) await sleep(25);
    expect(title(worker!)).to.equal('tsunicorn: worker [web]');
    const warnings = server.stderr.filter((line) => line.includes('[WARNING]'));
    expect(warnings.map((line) => line.replace(/^.*\[WARNING\] /, '').split(':')[0])).to.deep.equal(['--worker-class', '--threads', '--worker-connections']);
    expect(warnings[1]).to.match(/\[WARNING\] --threads: ignored: a Node worker runs the app on one thread, .* use -w for more CPU$/);
    // The listening socket's accept queue (ss shows a listener's backlog as Send-Q).
    const port = new URL(server.urls[0]!).port;
    const listening = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim().split(/\s+/);
    expect(listening[2]).to.equal('64');
    expect(server.stdout).to.include('printed by the app at import');
  });

  it('--backlog holds with --socket-sharing shared too: the workers receiving the socket do not reset it', async () => {
    const server = await TsunicornProcess.start(['site/app.mjs', '--backlog', '64', '-w', '2', '--socket-sharing', 'shared', '-b', '127.0.0.1:0'], { cwd: directory });
    await server.waitForWorkers(2);
    await waitUntilServing(server.urls[0]!);
    const port = new URL(server.urls[0]!).port;
    const listening = execFileSync('ss', ['-Hltn', `sport = :${port}`], { encoding: 'utf8' }).trim().split(/\s+/);
    expect(listening[2]).to.equal('64');
  });

  it('--capture-output sends what the app prints to the --error-logfile file, not to stdout', async () => {
    const logFile = path.join(directory, 'error.log');
    const server = await TsunicornProcess.start(['site/app.mjs', '--capture-output', '--error-logfile', logFile, '-b', `unix:${path.join(directory, 'app.sock')}`], { cwd: directory, listening: 0 });
    await waitUntilServing(`unix:${path.join(directory, 'app.sock')}`);
    const logged = readFileSync(logFile, 'utf8');
    expect(logged).to.match(/\[INFO\] Booting worker with pid: \d+/);
    expect(logged).to.include('printed by the app at import\n');
    expect(server.stdout.join('\n')).to.not.include('printed by the app');
  });

  it('--user, --group (as root): the workers run as that user and group, with no other group; --umask sets the socket mode', async function () {
    if (process.getuid?.() !== 0) this.skip();
    const socket = path.join(directory, 'app.sock');
    const server = await TsunicornProcess.start(['site/app.mjs', '--user', 'nobody', '--group', 'nogroup', '--umask', '027', '-b', `unix:${socket}`], { cwd: directory });
    const response = await waitUntilServing(`unix:${socket}`);
    expect(response.body.split(' ').pop()).to.equal('65534:65534:65534');
    expect(statSync(socket).mode & 0o777).to.equal(0o750);
    // The master stays root, to bind and to signal its workers.
    expect(statSync(`/proc/${server.pid}`).uid).to.equal(0);
  });

  it('--user naming no user: the worker cannot switch, the master stops with one line and exit 3', async () => {
    const server = await TsunicornProcess.start(['site/app.mjs', '--user', 'no-such-user-here', '-b', '127.0.0.1:0'], { cwd: directory, listening: 0 });
    expect((await server.waitForExit()).code).to.equal(3);
    const errors = server.stderr.filter((line) => line.includes('[ERROR]'));
    expect(errors).to.have.length(1);
    expect(errors[0]).to.match(/\[ERROR\] Worker failed to boot: cannot run the workers as --user no-such-user-here: /);
  });

  it('takes every gunicorn-only flag: one warning each, or a refusal for those that would change what the server does', () => {
    for (const setting of GUNICORN_ONLY) {
      for (const flag of setting.flags) {
        const args = setting.takesValue ? [flag, 'x', 'app.js'] : [flag, 'app.js'];
        if (setting.status === 'refused') {
          expect(() => parseCommandLine(args, 'command line'), flag).to.throw(SettingsError, 'not supported: ');
        } else {
          const parsed = parseCommandLine(args, 'command line');
          expect(parsed.app, flag).to.equal('app.js');
          expect(parsed.warnings, flag).to.have.length(1);
          expect(parsed.warnings[0], flag).to.match(/^--[a-z0-9-]+: ignored: \S/);
        }
      }
    }
  });

  const refused: [string[], string][] = [
    [['--wokers', '2'], "tsunicorn: unknown option '--wokers' (did you mean --workers?)"],
    [['--max-request', '5'], "tsunicorn: unknown option '--max-request' (did you mean --max-requests?)"],
    [['--cert-reqs', '2'], '--cert-reqs: not supported: tsunicorn cannot ask clients for certificates, and serving without the check would let any client in: export an https.Server built with https.createServer({ ca, requestCert: true })'],
    [['-e', 'NO_VALUE'], '--env: expected KEY=VALUE, got "NO_VALUE"'],
    [['--chdir', 'nowhere'], 'tsunicorn: --chdir: no such directory: nowhere'],
    [['--umask', 'rw'], '--umask: expected a umask such as 022, 0o027 or 18, got "rw"'],
  ];
  for (const [args, message] of refused) {
    it(`refuses ${args.join(' ')} with one line and status 2`, async () => {
      const server = await TsunicornProcess.start(['site/app.mjs', ...args], { cwd: directory, listening: 0 });
      expect((await server.waitForExit()).code).to.equal(2);
      expect(server.stderr.filter((line) => line !== '')).to.deep.equal([message]);
    });
  }

  it('a config file: a misspelt key gets a suggestion (exit 2), a gunicorn-only key one warning', async () => {
    writeFileSync(path.join(directory, 'tsunicorn.config.mjs'), 'export const wrokers = 2;\n');
    const misspelt = await TsunicornProcess.start(['site/app.mjs'], { cwd: directory, listening: 0 });
    expect((await misspelt.waitForExit()).code).to.equal(2);
    expect(misspelt.stderr.filter((line) => line !== '')).to.deep.equal([
      `${path.join(directory, 'tsunicorn.config.mjs')}: unknown setting "wrokers" (did you mean workers?)`,
    ]);
    writeFileSync(path.join(directory, 'tsunicorn.config.mjs'), "export const threads = 4;\nexport const bind = '127.0.0.1:0';\n");
    const server = await TsunicornProcess.start(['site/app.mjs'], { cwd: directory });
    const warnings = server.stderr.filter((line) => line.includes('[WARNING]'));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include(`[WARNING] ${path.join(directory, 'tsunicorn.config.mjs')}: threads: ignored: a Node worker runs the app on one thread`);
    expect((await request(server.urls[0]!, '/')).status).to.equal(200);
  });
});
