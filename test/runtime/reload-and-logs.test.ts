import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { APPS, TsunicornProcess, request, requestLoop, sleep, stopAllServers, waitUntilGone, waitUntilServing } from './tsunicorn-process.js';

const HTTP_FIXTURES = fileURLToPath(new URL('./http/fixtures/', import.meta.url));

function versionedApp(version: string): string {
  return `export default (req, res) => res.end('${version} ' + process.pid + '\\n');\n`;
}

describe('tsunicorn reload, logs and files', function () {
  this.timeout(30000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-reload-'));
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  for (const sharing of ['shared', 'handoff']) {
    it(`serves new code after HUP under continuous requests, with zero failures (--socket-sharing ${sharing})`, async () => {
      const appFile = path.join(directory, 'app.mjs');
      writeFileSync(appFile, versionedApp('v1'));
      const server = await TsunicornProcess.start([appFile, '-b', '127.0.0.1:0', '-w', '2', '--socket-sharing', sharing]);
      const oldWorkers = await server.waitForWorkers(2);
      await waitUntilServing(server.url);
      const load = requestLoop(server.url, 4);
      try {
        while (load.bodies.length < 20) await sleep(20);
        writeFileSync(appFile, versionedApp('v2'));
        server.signal('SIGHUP');
        // Once both old workers are gone, only the new code answers (a few answers may still be on their way).
        await server.waitFor(/Worker exiting/, 2);
        const answered = load.bodies.length;
        const deadline = Date.now() + 15000;
        while (load.bodies.length < answered + 16 && load.failures.length === 0 && Date.now() < deadline) await sleep(20);
      } finally {
        await load.stop();
      }
      expect(load.failures).to.deep.equal([]);
      expect(load.bodies.slice(-8).every((body) => body.startsWith('v2'))).to.equal(true);
      await server.waitFor(/Handling signal: hup/);
      for (const pid of oldWorkers) await waitUntilGone(pid);
    });
  }

  it('keeps the running workers when a HUP brings code that fails to load', async () => {
    const appFile = path.join(directory, 'app.mjs');
    writeFileSync(appFile, versionedApp('v1'));
    const server = await TsunicornProcess.start([appFile, '-b', '127.0.0.1:0']);
    await waitUntilServing(server.url);
    writeFileSync(appFile, 'throw new Error("half-written deploy");\n');
    server.signal('SIGHUP');
    await server.waitFor(/\[ERROR\] Reload failed, keeping the running workers: .*half-written deploy/);
    expect((await request(server.url, '/')).body).to.match(/^v1 /);
    expect(server.exitCode).to.equal(undefined);
  });

  it('restarts the workers with --reload when a source file changes', async () => {
    const appFile = path.join(directory, 'app.mjs');
    writeFileSync(appFile, versionedApp('v1'));
    const server = await TsunicornProcess.start([appFile, '-b', '127.0.0.1:0', '--reload', '--log-level', 'debug']);
    await waitUntilServing(server.url);
    await server.waitFor(/\[DEBUG\] Watching .* for changes \(--reload\)/); // the watcher finished its initial scan
    writeFileSync(appFile, versionedApp('v2'));
    await server.waitFor(/Reloading: .*app\.mjs changed/);
    let body = '';
    for (let attempt = 0; attempt < 100 && !body.startsWith('v2'); attempt++) {
      body = (await request(server.url, '/')).body;
      if (!body.startsWith('v2')) await sleep(50);
    }
    expect(body).to.match(/^v2 /);
  });

  it('writes the access-log line byte for byte', async () => {
    const format = '%(h)s %(l)s %(u)s "%(r)s" %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(b)s "%(f)s" "%(a)s" %({x-trace}i)s %({x-worker}o)s %(p)s';
    const server = await TsunicornProcess.start([path.join(APPS, 'behaviors.mjs'), '-b', '127.0.0.1:0', '--access-logfile', '-', '--access-logformat', format]);
    const [worker] = await server.waitForWorkers(1);
    const answer = await request(server.url, '/hello?x=1', {
      headers: { Referer: 'http://example.test/', 'User-Agent': 'probe/1.0', 'X-Trace': 'abc', Authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}` },
    });
    const size = Buffer.byteLength(answer.body);
    const [line] = await server.waitFor(/^127\.0\.0\.1 /);
    expect(line).to.equal(
      `127.0.0.1 - alice "GET /hello?x=1 HTTP/1.1" GET /hello x=1 HTTP/1.1 200 ${size} ${size} "http://example.test/" "probe/1.0" abc ${worker} <${worker}>`,
    );
  });

  it('writes the default access-log format, with times (%(t)s, %(L)s, %(D)s)', async () => {
    const server = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '--access-logfile', '-']);
    await request(server.url, '/', { headers: { 'User-Agent': 'probe/2.0' } });
    const [line] = await server.waitFor(/^127\.0\.0\.1 /);
    expect(line).to.match(/^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/ HTTP\/1\.1" 200 13 "-" "probe\/2\.0"$/);
    const timed = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '--access-logfile', '-', '--access-logformat', '%(s)s %(L)s %(D)s %(T)s']);
    await request(timed.url, '/');
    const [timing] = await timed.waitFor(/^200 /);
    expect(timing).to.match(/^200 \d+\.\d{6} \d+ \d+$/);
  });

  it('writes the error log to --log-file, reopens it on USR1, and keeps a --pid file while running', async () => {
    const logFile = path.join(directory, 'error.log');
    const pidFile = path.join(directory, 'server.pid');
    const server = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '--log-file', logFile, '--pid', pidFile], { listening: 0 });
    for (let attempt = 0; attempt < 100 && !/Listening at/.test(existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''); attempt++) await sleep(50);
    expect(readFileSync(logFile, 'utf8')).to.match(/^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}\] \[\d+\] \[INFO\] Starting tsunicorn \d+\.\d+\.\d+$/m);
    expect(readFileSync(pidFile, 'utf8')).to.equal(`${server.pid}\n`);
    renameSync(logFile, `${logFile}.1`);
    server.signal('SIGUSR1');
    for (let attempt = 0; attempt < 100 && !existsSync(logFile); attempt++) await sleep(50);
    server.signal('SIGTERM');
    expect((await server.waitForExit()).code).to.equal(0);
    expect(readFileSync(`${logFile}.1`, 'utf8')).to.include('Handling signal: usr1');
    expect(readFileSync(logFile, 'utf8')).to.include('Shutting down: Master');
    expect(existsSync(pidFile)).to.equal(false);
  });

  it('has the --pid file written whole when Listening at is printed, and refuses an unwritable one in one line', async () => {
    const pidFile = path.join(directory, 'server.pid');
    writeFileSync(pidFile, '999999\n'); // a stale file from an earlier run is replaced whole
    const server = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '--pid', pidFile]);
    expect(readFileSync(pidFile, 'utf8')).to.equal(`${server.pid}\n`);
    expect(readdirSync(directory)).to.deep.equal(['server.pid']);
    server.signal('SIGTERM');
    expect((await server.waitForExit()).code).to.equal(0);
    expect(existsSync(pidFile)).to.equal(false);

    const missing = path.join(directory, 'no-such-directory', 'server.pid');
    const refused = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '--pid', missing], { listening: 0 });
    expect((await refused.waitForExit()).code).to.equal(1);
    expect(refused.lines).to.deep.equal([`Cannot write --pid ${missing}: its directory does not exist`]);
  });

  it('serves HTTPS with --certfile and --keyfile', async () => {
    // The fixture pair the HTTP layer's TLS tests use (localhost and 127.0.0.1, valid until 2036).
    const cert = path.join(HTTP_FIXTURES, 'localhost-cert.pem');
    const key = path.join(HTTP_FIXTURES, 'localhost-key.pem');
    const server = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '--certfile', cert, '--keyfile', key]);
    expect(server.url).to.match(/^https:\/\/127\.0\.0\.1:\d+$/);
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.get(`${server.url}/`, { rejectUnauthorized: false, agent: false }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
    });
    expect(body).to.equal('esm listener\n');
  });
});
