import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT, TsunicornProcess, isAlive, request, requestLoop, sleep, stopAllServers, waitUntilGone, waitUntilServing } from './tsunicorn-process.js';

const CLIENT = path.join(ROOT, 'bin/tsunicornc');

interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Runs the real `tsunicornc` and waits for it (bounded). */
function tsunicornc(args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLIENT, ...args], { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tsunicornc ${args.join(' ')} did not exit:\n${stdout}${stderr}`));
    }, 20000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid: child.pid! });
    });
  });
}

interface WorkerRow {
  pid: number;
  generation: number;
  age: number;
  state: string;
}

async function workersOf(socket: string): Promise<WorkerRow[]> {
  const run = await tsunicornc(['-s', socket, '-j', 'show', 'workers']);
  expect(run.code, run.stderr).to.equal(0);
  return (JSON.parse(run.stdout) as { workers: WorkerRow[] }).workers;
}

/** Polls show workers until `done` holds; bounded. */
async function waitForWorkers(socket: string, done: (workers: WorkerRow[]) => boolean, what: string): Promise<WorkerRow[]> {
  let workers: WorkerRow[] = [];
  for (let attempt = 0; attempt < 150; attempt++) {
    workers = await workersOf(socket);
    if (done(workers)) return workers;
    await sleep(100);
  }
  throw new Error(`never ${what}: ${JSON.stringify(workers)}`);
}

const serving = (count: number, generation = 1) => (workers: WorkerRow[]) =>
  workers.length === count && workers.every((worker) => worker.state === 'serving' && worker.generation === generation);

describe('the control socket and tsunicornc', function () {
  this.timeout(60000);
  let directory: string;
  let socket: string;
  let app: string;

  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-control-'));
    socket = path.join(directory, 'master.sock');
    app = path.join(directory, 'app.mjs');
    writeFileSync(app, "export default (req, res) => res.end(`v1 ${process.pid}\\n`);\n");
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  function start(args: string[], options: Parameters<typeof TsunicornProcess.start>[1] = {}): Promise<TsunicornProcess> {
    return TsunicornProcess.start([app, '-b', '127.0.0.1:0', ...args], { cwd: directory, ...options });
  }

  it('listens with mode 0600 on --control-socket, says where, and removes it when shutdown exits 0', async () => {
    const server = await start(['--control-socket', socket]);
    await server.waitFor(new RegExp(`Control socket: ${socket}$`));
    expect(lstatSync(socket).isSocket()).to.equal(true);
    expect(lstatSync(socket).mode & 0o777).to.equal(0o600);
    const run = await tsunicornc(['-s', socket, 'shutdown']);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal(`shutting down (graceful): master ${server.pid}\n`);
    expect((await server.waitForExit()).code).to.equal(0);
    expect(existsSync(socket)).to.equal(false);
    await server.waitFor(new RegExp(`Control command from pid ${run.pid} \\(tsunicornc, uid ${process.getuid!()}\\): shutdown$`));
  });

  it('shutdown quick stops at once (INT) and exits 0', async () => {
    const server = await start(['--control-socket', socket, '-w', '2']);
    await waitForWorkers(socket, serving(2), 'served with 2 workers');
    const run = await tsunicornc(['-s', socket, '-j', 'shutdown', 'quick']);
    expect(run.code, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout)).to.deep.equal({ mode: 'quick', pid: server.pid });
    expect((await server.waitForExit()).code).to.equal(0);
    expect(existsSync(socket)).to.equal(false);
  });

  it('worker add N grows the pool and worker remove N shrinks it, oldest first, as TTIN and TTOU', async () => {
    const server = await start(['--control-socket', socket]);
    const [first] = await waitForWorkers(socket, serving(1), 'served with 1 worker');
    const added = await tsunicornc(['-s', socket, 'worker', 'add', '2']);
    expect(added.code, added.stderr).to.equal(0);
    expect(added.stdout).to.equal('workers: 1 -> 3 (the master starts the difference)\n');
    const grown = await waitForWorkers(socket, serving(3), 'grew to 3 workers');
    expect(grown.map((worker) => worker.age)).to.deep.equal([1, 2, 3]);
    expect(server.workerPids()).to.have.members(grown.map((worker) => worker.pid));
    await server.waitFor(new RegExp(`Control command from pid ${added.pid} \\(tsunicornc, uid \\d+\\): worker add 2$`));
    await server.waitFor(/Number of workers: 3$/);

    const removed = await tsunicornc(['-s', socket, '-j', 'worker', 'remove', '5']);
    expect(removed.code, removed.stderr).to.equal(0);
    expect(JSON.parse(removed.stdout)).to.deep.equal({ previous: 3, target: 1 });
    const shrunk = await waitForWorkers(socket, serving(1), 'shrank to 1 worker');
    expect(shrunk[0]!.pid).to.not.equal(first!.pid);
    expect(shrunk[0]!.age).to.equal(3);
    await waitUntilGone(first!.pid);
  });

  it('worker kill PID drains that worker and a new one replaces it', async () => {
    const server = await start(['--control-socket', socket, '-w', '2']);
    const before = await waitForWorkers(socket, serving(2), 'served with 2 workers');
    const victim = before[0]!.pid;
    const run = await tsunicornc(['-s', socket, 'worker', 'kill', String(victim)]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal(`worker ${victim} drains; a new worker replaces it\n`);
    await waitUntilGone(victim);
    const after = await waitForWorkers(socket, (workers) => serving(2)(workers) && !workers.some((worker) => worker.pid === victim), 'replaced the worker');
    expect(after.map((worker) => worker.age)).to.deep.equal([2, 3]);
    expect(server.stderr.some((line) => line.includes(`Worker (pid:${victim}) was sent`))).to.equal(false);
  });

  it('reload replaces every worker with new code, and a keep-alive client loses no request', async () => {
    const server = await start(['--control-socket', socket, '-w', '2']);
    const old = await waitForWorkers(socket, serving(2), 'served with 2 workers');
    await waitUntilServing(server.url);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const load = requestLoop(server.url, 4, agent);
    let reload;
    try {
      while (load.answers.length < 20 && load.failures.length === 0) await sleep(20);
      writeFileSync(app, "export default (req, res) => res.end(`v2 ${process.pid}\\n`);\n");
      reload = await tsunicornc(['-s', socket, 'reload']);
      expect(reload.code, reload.stderr).to.equal(0);
      expect(reload.stdout).to.equal('reloading: generation 2 starts; the running workers drain once it serves\n');
      const fresh = await waitForWorkers(socket, serving(2, 2), 'replaced the workers by generation 2');
      for (const worker of old) await waitUntilGone(worker.pid);
      const answered = load.answers.length;
      while (load.answers.length < answered + 20 && load.failures.length === 0) await sleep(20);
      expect(load.bodies.slice(-8).every((body) => /^v2 /.test(body))).to.equal(true);
      expect(fresh.every((worker) => !old.some((previous) => previous.pid === worker.pid))).to.equal(true);
    } finally {
      await load.stop();
      agent.destroy();
    }
    expect(load.failures).to.deep.equal([]);
    expect(load.answers.some((answer) => answer.reusedConnection)).to.equal(true);
    await server.waitFor(new RegExp(`Control command from pid ${reload.pid} \\(tsunicornc, uid \\d+\\): reload$`));
    const stats = await tsunicornc(['-s', socket, '-j', 'show', 'stats']);
    expect(JSON.parse(stats.stdout)).to.include({ reloads: 1, generation: 2, workers_current: 2, workers_target: 2, workers_spawned: 4, pid: server.pid });
  });

  it('reopen reopens the log files (USR1): the next lines go to the new file', async () => {
    const log = path.join(directory, 'error.log');
    const server = await start(['--control-socket', socket, '--error-logfile', log], { listening: 0 });
    // The log goes to the file: wait there for the master to be up.
    for (let attempt = 0; attempt < 200 && !(existsSync(log) && readFileSync(log, 'utf8').includes('Control socket: ')); attempt++) await sleep(50);
    await waitForWorkers(socket, serving(1), 'served');
    renameSync(log, `${log}.1`);
    const run = await tsunicornc(['-s', socket, 'reopen']);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.equal('reopening the log files\n');
    const later = await tsunicornc(['-s', socket, 'worker', 'add']);
    expect(later.code).to.equal(0);
    for (let attempt = 0; attempt < 100 && !(existsSync(log) && readFileSync(log, 'utf8').includes('worker add')); attempt++) await sleep(50);
    expect(readFileSync(`${log}.1`, 'utf8')).to.match(/Control command from pid \d+ \(tsunicornc, uid \d+\): reopen\n/);
    expect(readFileSync(log, 'utf8')).to.match(new RegExp(`Control command from pid ${later.pid} \\(tsunicornc, uid \\d+\\): worker add\\n`));
    expect(server.exitCode).to.equal(undefined);
  });

  it('show workers and show stats: what each worker served, holds in flight and open, its memory, CPU and loop delay; totals by status class', async () => {
    writeFileSync(app, `const held = [];
export default (req, res) => {
  if (req.url === '/hold') return void held.push(res);
  if (req.url === '/release') { for (const waiting of held.splice(0)) waiting.end('released\\n'); return void res.end('ok\\n'); }
  res.statusCode = req.url === '/missing' ? 404 : 200;
  res.end(process.pid + '\\n');
};
`);
    const server = await start(['--control-socket', socket]);
    const [worker] = await waitForWorkers(socket, serving(1), 'served');
    for (let index = 0; index < 5; index++) expect((await request(server.url, '/')).status).to.equal(200);
    for (let index = 0; index < 3; index++) expect((await request(server.url, '/missing')).status).to.equal(404);
    const held = request(server.url, '/hold');
    type Row = WorkerRow & { requests: number; in_flight: number; connections: number; upgraded: number; rss_bytes: number | null; cpu_percent: number | null; event_loop_delay_p99_ms: number | null; last_heartbeat: number };
    const [row] = (await waitForWorkers(socket, (workers) => {
      const [only] = workers as Row[];
      return only !== undefined && only.requests === 8 && only.in_flight === 1 && only.connections === 1 && only.cpu_percent !== null;
    }, 'counted 8 requests, 1 in flight on 1 connection')) as Row[];
    expect(row!.pid).to.equal(worker!.pid);
    expect(row!.upgraded).to.equal(0);
    expect(row!.rss_bytes).to.be.greaterThan(10 * 1024 * 1024);
    expect(row!.cpu_percent).to.be.at.least(0);
    expect(row!.event_loop_delay_p99_ms).to.be.a('number');
    expect(row!.last_heartbeat).to.be.below(10);

    const stats = JSON.parse((await tsunicornc(['-s', socket, '-j', 'show', 'stats'])).stdout) as Record<string, unknown>;
    expect(stats).to.include({ requests_total: 8, requests_in_flight: 1, workers_current: 1, workers_target: 1, workers_spawned: 1, killed_by_timeout: 0, reloads: 0 });
    expect(stats.requests_by_status).to.deep.equal({ '1xx': 0, '2xx': 5, '3xx': 0, '4xx': 3, '5xx': 0, other: 0 });

    const table = (await tsunicornc(['-s', socket, 'show', 'workers'])).stdout.trimEnd().split('\n');
    expect(table[0]!.split(/ {2,}/)).to.deep.equal(['PID', 'GEN', 'AGE', 'UPTIME', 'STATE', 'REQUESTS', 'IN FLIGHT', 'CONNS', 'WEBSOCKETS', 'RSS', 'CPU%', 'LOOP P99', 'HEARTBEAT']);
    expect(table[1]).to.match(new RegExp(`^${worker!.pid} +1 +1 +[\\d.]+s +serving +8 +1 +1 +0 +[\\d.]+M +[\\d.]+ +[\\d.]+ms +[\\d.]+s ago$`));

    expect((await request(server.url, '/release')).body).to.equal('ok\n');
    expect((await held).body).to.equal('released\n');
  });

  it('show config, show listeners and show stats print a table with a header row, or JSON with -j', async () => {
    const server = await start(['--control-socket', socket, '-w', '2', '-e', 'SECRET=hunter2']);
    await waitForWorkers(socket, serving(2), 'served with 2 workers');

    const config = await tsunicornc(['-s', socket, 'show', 'config']);
    expect(config.code, config.stderr).to.equal(0);
    const lines = config.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^SETTING +FROM +VALUE$/);
    expect(lines.filter((line) => /^workers +command line +2$/.test(line))).to.have.length(1);
    expect(lines.filter((line) => /^timeout +default +30$/.test(line))).to.have.length(1);
    expect(config.stdout).to.not.include('hunter2');
    const configJson = JSON.parse((await tsunicornc(['-s', socket, '-j', 'show', 'config'])).stdout) as { settings: { name: string; value: unknown; from: string }[] };
    expect(configJson.settings.find((setting) => setting.name === 'raw_env')).to.deep.equal({ name: 'raw_env', value: ['SECRET=(hidden)'], from: 'command line' });
    expect(configJson.settings.find((setting) => setting.name === 'control_socket')).to.deep.equal({ name: 'control_socket', value: socket, from: 'command line' });

    const listeners = await tsunicornc(['-s', socket, 'show', 'listeners']);
    expect(listeners.stdout.split('\n')[0]).to.match(/^ADDRESS +TYPE +TLS +FD +ACCEPTED BY +INHERITED$/);
    expect(listeners.stdout.split('\n')[1]).to.match(new RegExp(`^${server.url} +tcp +no +\\d+ +master +-$`));
    const listenersJson = JSON.parse((await tsunicornc(['-s', socket, '-j', 'show', 'listeners'])).stdout) as { listeners: { address: string; type: string }[] };
    expect(listenersJson.listeners).to.have.length(1);
    expect(listenersJson.listeners[0]).to.include({ address: server.url, type: 'tcp', tls: false, accepted_by: 'master', inherited: null });

    const stats = await tsunicornc(['-s', socket, 'show', 'stats']);
    expect(stats.stdout.split('\n')[0]).to.match(/^STAT +VALUE$/);
    expect(stats.stdout).to.match(/^workers_current +2$/m);
    const workers = await tsunicornc(['-s', socket, 'show', 'workers']);
    const rows = workers.stdout.trimEnd().split('\n');
    expect(rows[0]).to.match(/^PID +GEN +AGE +UPTIME +STATE\b/);
    expect(rows).to.have.length(3);
    expect(rows[1]).to.match(/^\d+ +1 +1 +[\d.]+s +serving\b/);
  });

  it('takes control_socket from the config file; a reload does not move it (one warning)', async () => {
    const config = path.join(directory, 'tsunicorn.config.mjs');
    writeFileSync(config, `export default { control_socket: ${JSON.stringify(socket)} };\n`);
    const server = await start([]);
    await server.waitFor(new RegExp(`Control socket: ${socket}$`));
    writeFileSync(config, `export default { control_socket: ${JSON.stringify(`${socket}.moved`)} };\n`);
    expect((await tsunicornc(['-s', socket, 'reload'])).code).to.equal(0);
    await server.waitFor(/\[WARNING\] Reload does not move the control socket: restart the server for another --control-socket$/);
    await waitForWorkers(socket, serving(1, 2), 'reloaded');
    const settings = (JSON.parse((await tsunicornc(['-s', socket, '-j', 'show', 'config'])).stdout) as { settings: { name: string; value: unknown }[] }).settings;
    expect(settings.find((setting) => setting.name === 'control_socket')!.value).to.equal(socket);
    expect(existsSync(`${socket}.moved`)).to.equal(false);
  });

  it('refuses to start on a live control socket with one line, exit 1, and leaves the running master alone', async () => {
    const first = await start(['--control-socket', socket]);
    await waitForWorkers(socket, serving(1), 'served');
    const second = await start(['--control-socket', socket], { listening: 0 });
    const { code } = await second.waitForExit();
    expect(code).to.equal(1);
    expect(second.stderr).to.deep.equal([
      `--control-socket: ${socket} is the control socket of a running tsunicorn: stop it (tsunicornc -s ${socket} shutdown), or choose another --control-socket`,
    ]);
    expect(second.workerPids()).to.deep.equal([]);
    expect((await workersOf(socket))[0]!.pid).to.equal(first.workerPids()[0]);
  });

  it('replaces a stale socket left by a killed master', async () => {
    const killed = await start(['--control-socket', socket]);
    await waitForWorkers(socket, serving(1), 'served');
    await killed.kill();
    expect(lstatSync(socket).isSocket()).to.equal(true);
    const stale = await tsunicornc(['-s', socket, 'show', 'stats']);
    expect(stale.code).to.equal(1);
    expect(stale.stderr).to.equal(`tsunicornc: no tsunicorn master listening on ${socket} (a stale socket file)\n`);
    const server = await start(['--control-socket', socket]);
    const stats = JSON.parse((await tsunicornc(['-s', socket, '-j', 'show', 'stats'])).stdout) as { pid: number };
    expect(stats.pid).to.equal(server.pid);
  });

  it('refuses a --control-socket path that is not a socket, or in no directory, with one line and exit 1', async () => {
    writeFileSync(path.join(directory, 'file'), 'data');
    const notSocket = await start(['--control-socket', path.join(directory, 'file')], { listening: 0 });
    expect((await notSocket.waitForExit()).code).to.equal(1);
    expect(notSocket.stderr).to.deep.equal([`--control-socket: ${path.join(directory, 'file')} exists and is not a socket: remove it, or choose another --control-socket`]);
    const nowhere = await start(['--control-socket', path.join(directory, 'none', 'x.sock')], { listening: 0 });
    expect((await nowhere.waitForExit()).code).to.equal(1);
    expect(nowhere.stderr).to.deep.equal([`--control-socket: cannot listen on ${path.join(directory, 'none', 'x.sock')}: its directory does not exist`]);
    expect(readFileSync(path.join(directory, 'file'), 'utf8')).to.equal('data');
  });

  it('no master: one line naming the socket, exit 1; a bad command or argument: one line, exit 2', async () => {
    const none = await tsunicornc(['-s', socket, 'show', 'workers']);
    expect(none).to.include({ code: 1, stdout: '', stderr: `tsunicornc: no tsunicorn master listening on ${socket}\n` });
    for (const [args, message] of [
      [['frobnicate'], 'unknown command "frobnicate" (commands: show workers|stats|config|listeners, worker add|remove [N], worker kill PID, reload, reopen, shutdown [graceful|quick])'],
      [[], 'missing COMMAND (commands: show workers|stats|config|listeners, worker add|remove [N], worker kill PID, reload, reopen, shutdown [graceful|quick])'],
      [['show', 'everything'], 'show: unknown "everything" (expected workers, stats, config or listeners)'],
      [['worker', 'add', 'two'], 'worker add: expected a number of workers from 1 to 1000, got "two"'],
      [['worker', 'remove', '0'], 'worker remove: expected a number of workers from 1 to 1000, got "0"'],
      [['worker', 'kill'], 'worker kill: expected one worker\'s PID, got ""'],
      [['shutdown', 'now'], 'shutdown: expected graceful or quick, got "now"'],
      [['reload', 'please'], 'reload takes no argument, got "please"'],
      [['--frobnicate', 'reload'], "unknown option '--frobnicate' (see tsunicornc --help)"],
      [['reload', '-s'], "-s: expected a value (see tsunicornc --help)"],
    ] as const) {
      const run = await tsunicornc(['-s', socket, ...args]);
      expect(run, args.join(' ')).to.include({ code: 2, stdout: '', stderr: `tsunicornc: ${message}\n` });
    }
  });

  it('--help lists the commands and --version prints the package version, without a master', async () => {
    const helpRun = await tsunicornc(['--help']);
    expect(helpRun.code).to.equal(0);
    expect(helpRun.stdout).to.match(/^Usage: tsunicornc \[-s PATH\] \[-j\] COMMAND\n/);
    for (const command of ['show workers', 'show stats', 'show config', 'show listeners', 'worker add [N]', 'worker remove [N]', 'worker kill PID', 'reload', 'reopen', 'shutdown [graceful|quick]']) {
      expect(helpRun.stdout).to.match(new RegExp(`^  ${command.replace(/[[\]|]/g, '\\$&')}  `, 'm'));
    }
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await tsunicornc(['--version'])).to.include({ code: 0, stdout: `tsunicornc ${version}\n`, stderr: '' });
  });

  it('speaks one JSON line each way to any client, and logs a claimed pid it cannot check as such', async () => {
    const server = await start(['--control-socket', socket]);
    await waitForWorkers(socket, serving(1), 'served');
    const exchange = (line: string) =>
      new Promise<string>((resolve, reject) => {
        const client = net.createConnection(socket);
        let answer = '';
        client.setEncoding('utf8');
        client.on('connect', () => client.write(line));
        client.on('data', (chunk: string) => (answer += chunk));
        client.on('end', () => resolve(answer));
        client.on('error', reject);
      });
    expect(await exchange('{"command":["reopen"],"pid":999999999,"uid":4242}\n')).to.equal('{"ok":true,"data":{}}\n');
    await server.waitFor(/Control command from pid 999999999 \(uid 4242, as the client says: no such process\): reopen$/);
    expect(await exchange(`{"command":["worker","add"],"pid":${process.pid},"uid":4242}\n`)).to.equal('{"ok":true,"data":{"previous":1,"target":2}}\n');
    // This process does hold the connected socket: the uid logged is the kernel's, not the one claimed.
    await server.waitFor(new RegExp(`Control command from pid ${process.pid} \\(\\S+, uid ${process.getuid!()}\\): worker add$`));
    expect(JSON.parse(await exchange('{"command":["worker","frob"]}\n'))).to.deep.equal({ ok: false, error: 'worker: unknown "frob" (expected add [N], remove [N] or kill PID)', usage: true });
    expect(JSON.parse(await exchange('not json\n'))).to.deep.equal({ ok: false, error: 'bad control request: not JSON', usage: true });
  });

  it('worker kill of a pid that is no worker of this master: one line, exit 2', async () => {
    await start(['--control-socket', socket]);
    const [worker] = await waitForWorkers(socket, serving(1), 'served');
    const run = await tsunicornc(['-s', socket, 'worker', 'kill', String(process.pid)]);
    expect(run).to.include({ code: 2, stdout: '', stderr: `tsunicornc: worker kill: ${process.pid} is not a worker of this master (workers: ${worker!.pid})\n` });
  });

  it('USR2: the new master takes the socket over and keeps it when the old one exits; if it cannot boot, the old one takes it back', async () => {
    const pidFile = path.join(directory, 'master.pid');
    const statsPid = async () => (JSON.parse((await tsunicornc(['-s', socket, '-j', 'show', 'stats'])).stdout) as { pid: number }).pid;
    const server = await start(['--control-socket', socket, '--pid', pidFile]);
    await waitForWorkers(socket, serving(1), 'served');

    writeFileSync(app, 'export default ;\n');
    server.signal('SIGUSR2');
    await server.waitFor(/The new master \(pid \d+\) exited with code 4: this master \(pid \d+\) keeps serving/);
    let pid = 0;
    for (let attempt = 0; attempt < 100 && pid !== server.pid; attempt++) {
      pid = await statsPid().catch(() => 0);
      if (pid !== server.pid) await sleep(50);
    }
    expect(pid).to.equal(server.pid);

    writeFileSync(app, "export default (req, res) => res.end(`v2 ${process.pid}\\n`);\n");
    server.signal('SIGUSR2');
    const started = (await server.waitFor(/Started a new master \(pid \d+\)/, 2))[1]!;
    const newMaster = Number(/pid (\d+)/.exec(started)![1]);
    try {
      for (let attempt = 0; attempt < 100 && pid !== newMaster; attempt++) {
        pid = await statsPid().catch(() => 0);
        if (pid !== newMaster) await sleep(50);
      }
      expect(pid).to.equal(newMaster);
      server.signal('SIGTERM');
      expect((await server.waitForExit()).code).to.equal(0);
      expect(lstatSync(socket).isSocket()).to.equal(true);
      expect(await statsPid()).to.equal(newMaster);
      expect((await tsunicornc(['-s', socket, 'shutdown'])).code).to.equal(0);
      await waitUntilGone(newMaster);
      expect(existsSync(socket)).to.equal(false);
    } finally {
      if (isAlive(newMaster)) process.kill(newMaster, 'SIGKILL');
    }
  });

  describe('the default socket', () => {
    let runtime: string;
    let env: Record<string, string>;
    beforeEach(() => {
      runtime = path.join(directory, 'runtime');
      mkdirSync(runtime, { mode: 0o700 });
      env = { XDG_RUNTIME_DIR: runtime };
    });

    function sockets(): string[] {
      return existsSync(path.join(runtime, 'tsunicorn')) ? readdirSync(path.join(runtime, 'tsunicorn')) : [];
    }

    it('is one per folder and listening addresses, in a 0700 directory; tsunicornc finds it from that folder', async () => {
      const server = await start([], { env });
      const [line] = await server.waitFor(/Control socket: /);
      const file = line!.slice(line!.indexOf('Control socket: ') + 'Control socket: '.length);
      const port = new URL(server.url).port;
      expect(path.dirname(file)).to.equal(path.join(runtime, 'tsunicorn'));
      expect(path.basename(file)).to.match(new RegExp(`^${path.basename(directory).replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 20)}-[0-9a-f]{8}-${port}-[0-9a-f]{8}\\.sock$`));
      expect(lstatSync(path.dirname(file)).mode & 0o777).to.equal(0o700);
      expect(lstatSync(file).mode & 0o777).to.equal(0o600);
      await waitUntilServing(server.url);
      const found = await tsunicornc(['-j', 'show', 'stats'], { cwd: directory, env });
      expect(found.code, found.stderr).to.equal(0);
      expect((JSON.parse(found.stdout) as { pid: number }).pid).to.equal(server.pid);

      // A second master in the same folder on another port has its own socket; tsunicornc then wants -s.
      const other = await start([], { env });
      await other.waitFor(/Control socket: /);
      expect(sockets()).to.have.length(2);
      const ambiguous = await tsunicornc(['show', 'stats'], { cwd: directory, env });
      expect(ambiguous.code).to.equal(2);
      expect(ambiguous.stderr).to.match(new RegExp(`^tsunicornc: 2 tsunicorn masters run in ${directory}: choose one with -s \\(.+\\.sock, .+\\.sock\\)\\n$`));

      const elsewhere = mkdtempSync(path.join(directory, 'elsewhere-'));
      const missing = await tsunicornc(['show', 'stats'], { cwd: elsewhere, env });
      expect(missing.code).to.equal(1);
      expect(missing.stderr).to.match(new RegExp(`^tsunicornc: no tsunicorn master listening on ${runtime}/tsunicorn/elsewhere-\\w+-[0-9a-f]{8}-\\*\\.sock \\(none started in ${elsewhere} with the default control socket; give -s PATH\\)\\n$`));

      expect((await tsunicornc(['-s', file, 'shutdown'], { env })).code).to.equal(0);
      expect((await server.waitForExit()).code).to.equal(0);
      expect(existsSync(file)).to.equal(false);
      expect(sockets()).to.have.length(1);
      expect(isAlive(other.pid)).to.equal(true);
    });

    it('--no-control-socket: none is made', async () => {
      const server = await start(['--no-control-socket'], { env });
      await waitUntilServing(server.url);
      expect(server.stderr.some((line) => line.includes('Control socket'))).to.equal(false);
      expect(sockets()).to.deep.equal([]);
      const run = await tsunicornc(['show', 'workers'], { cwd: directory, env });
      expect(run.code).to.equal(1);
    });
  });
});
