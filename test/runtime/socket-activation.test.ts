import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { APPS, TsunicornProcess, request, requestLoop, sleep, stopAllServers, waitUntilGone, waitUntilServing } from './tsunicorn-process.js';

const APP = path.join(APPS, 'esm-listener.mjs');

/** A port nothing listens on right now (systemd-socket-activate takes no port 0). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A real unix datagram socket that prints each message it receives as one line ('\n' shown as '|'):
 * what systemd's NOTIFY_SOCKET is. Python's socket module, since Node has no unix datagram sockets.
 */
class NotifyListener {
  readonly messages: string[] = [];
  private readonly waiters = new Set<() => void>();
  private constructor(private readonly child: ChildProcess) {
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      this.messages.push(...lines);
      for (const waiter of this.waiters) waiter();
    });
  }

  /** `address` is a path, or `@name` for an abstract socket. */
  static async start(address: string): Promise<NotifyListener> {
    const script = [
      'import socket, sys',
      'address = sys.argv[1]',
      "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)",
      "s.bind('\\0' + address[1:] if address.startswith('@') else address)",
      "print('bound', flush=True)",
      'while True:',
      "    print(s.recv(65536).decode().replace('\\n', '|'), flush=True)",
    ].join('\n');
    const listener = new NotifyListener(spawn('python3', ['-c', script, address], { stdio: ['ignore', 'pipe', 'inherit'] }));
    await listener.waitFor(/^bound$/);
    return listener;
  }

  waitFor(pattern: RegExp, count = 1, timeoutMs = 15000): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const matches = this.messages.filter((message) => pattern.test(message));
        if (matches.length >= count) {
          finish();
          resolve(matches);
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${count}x ${pattern} on the notify socket; got: ${this.messages.join(' / ')}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

describe('tsunicorn socket activation and sd_notify', function () {
  this.timeout(40000);
  let directory: string;
  const listeners: NotifyListener[] = [];
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-activation-'));
  });
  afterEach(async () => {
    await stopAllServers();
    for (const listener of listeners.splice(0)) listener.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  it("serves on systemd-socket-activate's TCP socket instead of binding, and says it was inherited", async () => {
    const port = await freePort();
    const server = await TsunicornProcess.start([APP, '-w', '2'], {
      wrapper: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`],
      env: { PORT: '1' },
      listening: 0,
    });
    // systemd-socket-activate execs the server at the first connection: that one is served too.
    await server.waitFor(/^Listening on .* as 3\.$/);
    const first = request(`http://127.0.0.1:${port}`, '/');
    const [line] = await server.waitFor(/Listening at: /);
    expect(line).to.match(new RegExp(`Listening at: http://127\\.0\\.0\\.1:${port} \\(${server.pid}\\), inherited from socket activation, fd 3$`));
    expect((await first).body).to.equal('esm listener\n');
    expect(server.lines.join('\n')).not.to.match(/Cannot bind|0\.0\.0\.0:1/);
    server.signal('SIGTERM');
    expect((await server.waitForExit()).code).to.equal(0);
  });

  it('serves on an inherited unix socket, leaves its path to its owner, and hands the workers no LISTEN_ variables', async () => {
    const socketPath = path.join(directory, 'web.sock');
    const server = await TsunicornProcess.start([path.join(APPS, 'master-env.mjs'), '--bind', `unix:${socketPath}`], {
      wrapper: ['systemd-socket-activate', '-l', socketPath, '--fdname', 'web'],
      env: { NOTIFY_SOCKET: path.join(directory, 'nobody-listens.sock') },
      listening: 0,
    });
    await server.waitFor(/^Listening on .* as 3\.$/);
    const first = request(`unix:${socketPath}`, '/');
    const [line] = await server.waitFor(/Listening at: /);
    expect(line).to.match(new RegExp(`Listening at: unix:${socketPath.replace(/[.]/g, '\\.')} \\(${server.pid}\\), inherited from socket activation, fd 3 "web"$`));
    const answer = await first;
    expect(answer.status).to.equal(200);
    expect(JSON.parse(answer.body)).to.deep.equal({ master: server.pid, env: {} });
    server.signal('SIGTERM');
    expect((await server.waitForExit()).code).to.equal(0);
    // systemd-socket-activate made the socket: it is the one to remove it.
    expect(existsSync(socketPath)).to.equal(true);
  });

  it('refuses in one line a --bind that names none of the inherited sockets, exit 1', async () => {
    const port = await freePort();
    const server = await TsunicornProcess.start([APP, '-b', `127.0.0.1:${port + 1}`], {
      wrapper: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`],
      listening: 0,
    });
    await server.waitFor(/^Listening on .* as 3\.$/);
    const refused = request(`http://127.0.0.1:${port}`, '/').catch((error: Error) => error);
    expect((await server.waitForExit()).code).to.equal(1);
    expect(server.stderr.filter((line) => line.includes('--bind'))).to.deep.equal([
      `--bind 127.0.0.1:${port + 1} is not among the sockets inherited from socket activation (127.0.0.1:${port}): drop --bind or make it name one of them`,
    ]);
    expect(await refused).to.be.instanceOf(Error);
  });

  it('does not take LISTEN_FDS meant for another process: one warning line, then binds --bind', async () => {
    const server = await TsunicornProcess.start([APP, '-b', '127.0.0.1:0'], { env: { LISTEN_FDS: '1', LISTEN_PID: '1' } });
    const warnings = server.lines.filter((line) => line.includes('LISTEN_FDS'));
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(/\[WARNING\] LISTEN_FDS is set for process 1, not this one \(\d+\): the inherited sockets are not used, binding --bind instead/);
    expect((await waitUntilServing(server.url)).body).to.equal('esm listener\n');
  });

  for (const kind of ['path', 'abstract']) {
    it(`tells NOTIFY_SOCKET (${kind}) READY=1 once workers serve, RELOADING=1 and READY=1 around HUP, STOPPING=1 at TERM`, async () => {
      const address = kind === 'path' ? path.join(directory, 'notify.sock') : `@tsunicorn-test-${process.pid}-${Date.now()}`;
      const notify = await NotifyListener.start(address);
      listeners.push(notify);
      const server = await TsunicornProcess.start([APP, '-b', '127.0.0.1:0', '-w', '2'], { env: { NOTIFY_SOCKET: address } });
      await notify.waitFor(/^READY=1$/);
      // READY=1 comes once the workers serve: a request answers at once.
      expect((await request(server.url, '/')).body).to.equal('esm listener\n');
      server.signal('SIGHUP');
      await notify.waitFor(/^READY=1$/, 2);
      server.signal('SIGTERM');
      expect((await server.waitForExit()).code).to.equal(0);
      await notify.waitFor(/^STOPPING=1$/);
      // systemd-notify follows each message with BARRIER=1 (it waits until the manager read it).
      expect(notify.messages.slice(1).filter((message) => message !== 'BARRIER=1')).to.deep.equal(['READY=1', 'RELOADING=1', 'READY=1', 'STOPPING=1']);
    });
  }
});

describe('tsunicorn USR2: a new master on the same sockets', function () {
  this.timeout(60000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-usr2-'));
  });
  afterEach(async () => {
    await stopAllServers();
    // The new master is the old one's child, in its process group, which stopAllServers kills; one that
    // outlived the old master is killed by the pid it wrote.
    for (const file of ['master.pid', 'master.pid.oldbin']) {
      try {
        process.kill(Number(readFileSync(path.join(directory, file), 'utf8')), 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    rmSync(directory, { recursive: true, force: true });
  });

  const masterOf = async (url: string) => (JSON.parse((await request(url, '/')).body) as { master: number }).master;

  for (const sharing of ['handoff', 'shared']) {
    it(`drops nothing through USR2 and TERM of the old master, keep-alive and Connection: close (--socket-sharing ${sharing})`, async () => {
      const pidFile = path.join(directory, 'master.pid');
      const server = await TsunicornProcess.start([path.join(APPS, 'master-env.mjs'), '-b', '127.0.0.1:0', '-w', '2', '--pid', pidFile, '--socket-sharing', sharing]);
      await server.waitForWorkers(2);
      await waitUntilServing(server.url);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const keepAlive = requestLoop(server.url, 4, agent);
      const closing = requestLoop(server.url, 4);
      try {
        while (keepAlive.answers.length < 20 || closing.answers.length < 20) await sleep(20);
        server.signal('SIGUSR2');
        const [started] = await server.waitFor(/Started a new master \(pid \d+\)/);
        const newMaster = Number(/pid (\d+)/.exec(started!)![1]);
        await server.waitFor(new RegExp(`\\[${newMaster}\\] \\[INFO\\] Booting worker`), 2);
        expect(readFileSync(`${pidFile}.oldbin`, 'utf8').trim()).to.equal(String(server.pid));
        // Both masters serve: wait until the new one's workers answer and it has written its pid file, then drain
        // the old one (bounded, generously: a loaded machine boots the new master's workers slowly).
        const deadline = Date.now() + 30_000;
        while (((await masterOf(server.url)) !== newMaster || !existsSync(pidFile)) && Date.now() < deadline) await sleep(20);
        expect(readFileSync(pidFile, 'utf8').trim()).to.equal(String(newMaster));
        server.signal('SIGTERM');
        expect((await server.waitForExit()).code).to.equal(0);
        const answered = keepAlive.answers.length + closing.answers.length;
        while (keepAlive.answers.length + closing.answers.length < answered + 40) await sleep(20);
      } finally {
        await keepAlive.stop();
        await closing.stop();
        agent.destroy();
      }
      expect(keepAlive.failures).to.deep.equal([]);
      expect(closing.failures).to.deep.equal([]);
      const newMasterPid = Number(readFileSync(pidFile, 'utf8'));
      expect(await masterOf(server.url)).to.equal(newMasterPid);
      expect(existsSync(`${pidFile}.oldbin`)).to.equal(false);
      // Read once: the new master removes its pid file as it exits.
      process.kill(newMasterPid, 'SIGTERM');
      await waitUntilGone(newMasterPid);
    });
  }

  it('keeps the old master serving when the new one cannot boot, and ignores a USR2 while a new master runs', async () => {
    const pidFile = path.join(directory, 'master.pid');
    const appFile = path.join(directory, 'app.mjs');
    writeFileSync(appFile, "export default (req, res) => res.end('old ' + process.ppid);\n");
    const server = await TsunicornProcess.start([appFile, '-b', '127.0.0.1:0', '--pid', pidFile]);
    await waitUntilServing(server.url);
    writeFileSync(appFile, 'export default ;\n');
    server.signal('SIGUSR2');
    await server.waitFor(/The new master \(pid \d+\) exited with code 4: this master \(pid \d+\) keeps serving/);
    expect(readFileSync(pidFile, 'utf8').trim()).to.equal(String(server.pid));
    expect(existsSync(`${pidFile}.oldbin`)).to.equal(false);
    expect((await request(server.url, '/')).body).to.equal(`old ${server.pid}`);

    writeFileSync(appFile, "export default (req, res) => res.end('new ' + process.ppid);\n");
    server.signal('SIGUSR2');
    const started = (await server.waitFor(/Started a new master \(pid \d+\)/, 2))[1]!;
    const newMaster = Number(/new master \(pid (\d+)/.exec(started)![1]);
    await server.waitFor(new RegExp(`\\[${newMaster}\\] \\[INFO\\] Booting worker`));
    server.signal('SIGUSR2');
    const [ignored] = await server.waitFor(/USR2 ignored/);
    expect(ignored).to.match(new RegExp(`\\[WARNING\\] USR2 ignored: a new master \\(pid ${newMaster}\\) is already running; TERM one of the two first$`));
    process.kill(newMaster, 'SIGUSR2');
    await server.waitFor(new RegExp(`\\[${newMaster}\\] \\[WARNING\\] USR2 ignored: the old master \\(pid ${server.pid}\\) still runs; TERM it first$`));
    expect(server.lines.filter((line) => line.includes('USR2 ignored'))).to.have.length(2);
  });
});
