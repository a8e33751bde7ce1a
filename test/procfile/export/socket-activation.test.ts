import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { expect } from 'chai';
import { readEnvironmentFile, REPO, removeTempDirs, tempDir, tsforeman, which, shellWords, systemdSettings } from './helpers.js';

/**
 * The systemd export with --hold-port, run the way systemd runs it: the `.socket` unit's address
 * listened on by systemd's own `systemd-socket-activate` (Debian's systemd package), which starts the
 * `.service` unit's ExecStart with the unit's environment only once a connection arrives, handing the
 * socket over as fd 3 (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES from FileDescriptorName=).
 */
const FIXTURE = join(REPO, 'test', 'fixtures', 'export', 'tsunicorn');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** One GET, waiting as long as it takes (the first one is what starts the service). */
function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 60_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer in 60 s')));
    req.end();
  });
}


describe('tsforeman export systemd --hold-port: the .socket + .service pair under systemd-socket-activate', function () {
  this.timeout(90_000);
  let child: ChildProcess | undefined;

  afterEach(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
    }
    child = undefined;
    removeTempDirs();
  });

  it("the ExecStart, started on the socket unit's address with the unit's environment, serves the first connection: HTTP 200", async function () {
    const activate = which('systemd-socket-activate');
    const analyze = which('systemd-analyze');
    if (activate === undefined || analyze === undefined) this.skip(); // Debian package: systemd
    const app = tempDir();
    cpSync(FIXTURE, app, { recursive: true });
    writeFileSync(join(app, 'package.json'), '{ "type": "module", "private": true }\n');
    const port = await freePort();
    const out = tempDir();
    const exported = tsforeman(['export', 'systemd', out, '-a', 'shop', '-p', String(port), '-m', 'web=1,worker=0,release=0', '--hold-port', 'web'], app);
    expect(exported.code, exported.stderr).to.equal(0);

    const socketUnit = readFileSync(join(out, 'shop-web.1.socket'), 'utf8');
    const listen = [...socketUnit.matchAll(/^ListenStream=(.*)$/gm)].map((match) => match[1]!);
    expect(listen).to.deep.equal([`0.0.0.0:${port}`]);
    const fdName = /^FileDescriptorName=(.*)$/m.exec(socketUnit)?.[1];
    expect(fdName).to.equal('web.1');
    expect(/^Service=(.*)$/m.exec(socketUnit)?.[1]).to.equal('shop-web.1.service');

    const setting = systemdSettings(analyze, join(out, 'shop-web.1.service'));
    const unitEnv = [
      ...Object.entries(readEnvironmentFile(setting('EnvironmentFile')[0]!)).map(([key, value]) => `${key}=${value}`),
      ...setting('Environment'),
    ];
    const argv = shellWords(setting('Command Line')[0]!).map((word) => word.replaceAll('$$', '$'));
    expect(argv).to.deep.equal(['/bin/sh', '-c', 'exec tsunicorn app.js --graceful-timeout 20 --workers 1']);

    // systemd-socket-activate gives the program only the -E variables (and its own PATH, TERM, USER,
    // HOME, which the unit's PATH overrides), like a unit's environment; it waits for a connection.
    child = spawn(
      'env',
      ['-i', 'PATH=/usr/bin:/bin', activate, '-l', listen[0]!, `--fdname=${fdName}`, ...unitEnv.flatMap((pair) => ['-E', pair]), ...argv],
      { cwd: setting('WorkingDirectory')[0], detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const listening = new Promise<void>((resolve) => {
      const check = () => (/Listening on/.test(output) ? resolve() : undefined);
      child!.stdout?.on('data', check);
      child!.stderr?.on('data', check);
    });
    await listening;
    const answer = await get(port);
    expect(answer, output).to.deep.equal({ status: 200, body: 'served by web.1 with the secret\n' });
    expect(output).to.match(new RegExp(`Listening at: http://0\\.0\\.0\\.0:${port} \\(\\d+\\), inherited from socket activation, fd 3 "web\\.1"`));
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    process.kill(child.pid!, 'SIGTERM');
    await exited;
    expect(child.exitCode, output).to.equal(0);
  });
});
