import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfiguration } from '../../runtime/configuration.js';
import { SettingsError } from '../../runtime/errors.js';
import { parseBind, parseCommandLine, splitShellWords } from '../../runtime/settings.js';
import { APPS, TsunicornProcess, request, stopAllServers } from './tsunicorn-process.js';

const app = path.join(APPS, 'esm-listener.mjs');

describe('tsunicorn settings', function () {
  this.timeout(20000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-settings-'));
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  describe('parsing', () => {
    it('parses every bind shape', () => {
      expect(parseBind('0.0.0.0:5000')).to.include({ kind: 'tcp', host: '0.0.0.0', port: 5000 });
      expect(parseBind('[::]:5000')).to.include({ kind: 'tcp', host: '::', port: 5000, text: '[::]:5000' });
      expect(parseBind(':5000')).to.include({ kind: 'tcp', host: '0.0.0.0', port: 5000 });
      expect(parseBind('localhost')).to.include({ kind: 'tcp', host: 'localhost', port: 8000 });
      expect(parseBind('unix:/tmp/app.sock')).to.include({ kind: 'unix', path: '/tmp/app.sock' });
      expect(() => parseBind('host:port')).to.throw('expected HOST:PORT');
      expect(() => parseBind('::1:80')).to.throw('expected HOST:PORT');
    });

    it('clamps and maps the request limits as gunicorn does', () => {
      const values = (args: string[]) => parseCommandLine(args, 'command line').values;
      expect(values(['--limit-request-line', '9000']).limit_request_line).to.equal(8190);
      expect(values(['--limit-request-line', '0']).limit_request_line).to.equal(0);
      expect(values(['--limit-request-fields', '40000']).limit_request_fields).to.equal(32768);
      expect(values(['--limit-request-field_size', '0']).limit_request_field_size).to.equal(8190);
      expect(values(['--limit-request-field_size', '100']).limit_request_field_size).to.equal(100);
    });

    it('splits TSUNICORN_CMD_ARGS like a shell', () => {
      expect(splitShellWords(`-w 2 --access-logformat '%(h)s "%(r)s"' -b a\\ b`)).to.deep.equal([
        '-w', '2', '--access-logformat', '%(h)s "%(r)s"', '-b', 'a b',
      ]);
    });

    it('applies precedence: CLI > TSUNICORN_CMD_ARGS > config file > environment > defaults', async () => {
      const config = path.join(directory, 'tsunicorn.config.js');
      writeFileSync(config, 'export const workers = 3;\nexport const timeout = 7;\nexport const graceful_timeout = 9;\nexport const keepalive = 11;\n');
      const load = (argv: string[], env: Record<string, string>) => loadConfiguration({ argv, env, cwd: directory });
      const env = { WEB_CONCURRENCY: '2', PORT: '5001', TSUNICORN_CMD_ARGS: '--timeout 8 --graceful-timeout 12' };
      const { settings } = await load(['--timeout', '6', 'app.js'], env);
      expect(settings.timeout).to.equal(6); // CLI over env args and config
      expect(settings.graceful_timeout).to.equal(12); // env args over config
      expect(settings.workers).to.equal(3); // config over $WEB_CONCURRENCY
      expect(settings.keepalive).to.equal(11);
      expect(settings.bind.map((bind) => bind.text)).to.deep.equal(['0.0.0.0:5001']); // $PORT
      expect(settings.config).to.equal(config);
      rmSync(config);
      const bare = (await load(['app.js'], { WEB_CONCURRENCY: '2' })).settings;
      expect(bare.workers).to.equal(2);
      expect(bare.bind.map((bind) => bind.text)).to.deep.equal(['127.0.0.1:8000']);
      expect(bare.timeout).to.equal(30);
    });

    it('reads hooks and gunicorn-style keys from a config module, and rejects unknown keys', async () => {
      const config = path.join(directory, 'server.config.mjs');
      writeFileSync(config, 'export default { bind: ["127.0.0.1:0", "unix:/tmp/x.sock"], loglevel: "debug", preload_app: true, when_ready() {} };\n');
      const { settings, hooks } = await loadConfiguration({ argv: ['-c', config, 'app.js'], env: {}, cwd: directory });
      expect(settings.bind.map((bind) => bind.text)).to.deep.equal(['127.0.0.1:0', 'unix:/tmp/x.sock']);
      expect(settings.loglevel).to.equal('debug');
      expect(settings.preload_app).to.equal(true);
      expect(hooks.when_ready).to.be.a('function');
      writeFileSync(config, 'export const wrokers = 2;\n');
      let error: unknown;
      try {
        await loadConfiguration({ argv: ['-c', config, 'app.js'], env: {}, cwd: directory });
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(SettingsError);
      expect((error as Error).message).to.equal(`${config}: unknown setting "wrokers" (did you mean workers?)`);
    });
  });

  describe('the command', () => {
    const badValues: [string[], Record<string, string>, string][] = [
      [['-w', 'two'], {}, '--workers: expected a positive integer, got "two"'],
      [['--workers', '0'], {}, '--workers: expected a positive integer, got "0"'],
      [['--timeout', 'soon'], {}, '--timeout: expected a non-negative number of seconds, got "soon"'],
      [['--log-level', 'loud'], {}, '--log-level: expected one of debug, info, warning, error, critical, got "loud"'],
      [['-b', 'nowhere:port'], {}, '--bind: expected HOST:PORT, [IPV6]:PORT or unix:/path, got "nowhere:port"'],
      [['--frobnicate'], {}, "tsunicorn: unknown option '--frobnicate' (see tsunicorn --help)"],
      [[], { WEB_CONCURRENCY: 'many' }, 'WEB_CONCURRENCY: expected a positive integer, got "many"'],
      [[], { TSUNICORN_CMD_ARGS: '--max-requests -5' }, '--max-requests: expected a value (in TSUNICORN_CMD_ARGS)'],
      [['--certfile', 'cert.pem'], {}, '--keyfile: HTTPS needs both --certfile and --keyfile'],
    ];
    for (const [args, env, message] of badValues) {
      it(`rejects ${[...args, ...Object.entries(env).map(([key, value]) => `${key}=${value}`)].join(' ')} with one line and status 2`, async () => {
        const server = await TsunicornProcess.start([app, ...args], { env, listening: 0 });
        expect((await server.waitForExit()).code).to.equal(2);
        expect(server.stderr.filter((line) => line !== '')).to.deep.equal([message]);
        expect(server.stdout.filter((line) => line !== '')).to.deep.equal([]);
      });
    }

    it('prints --version and --help (every flag of the table)', async () => {
      const version = await TsunicornProcess.start(['--version'], { listening: 0 });
      expect((await version.waitForExit()).code).to.equal(0);
      expect(version.stdout[0]).to.match(/^tsunicorn \d+\.\d+\.\d+$/);
      const help = await TsunicornProcess.start(['--help'], { listening: 0 });
      expect((await help.waitForExit()).code).to.equal(0);
      const text = help.stdout.join('\n');
      for (const flag of ['--bind', '--workers', '--timeout', '--graceful-timeout', '--keep-alive', '--max-requests-jitter',
        '--limit-request-line', '--limit-request-fields', '--limit-request-field_size', '--log-file', '--error-logfile',
        '--access-logfile', '--access-logformat', '--log-level', '--config', '--reload', '--preload', '--pid',
        '--forwarded-allow-ips', '--certfile', '--keyfile', '--factory']) {
        expect(text).to.include(flag);
      }
    });

    it('fails with one line and status 1, before any worker, when the port is in use', async () => {
      const blocker = net.createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as net.AddressInfo).port;
      try {
        const server = await TsunicornProcess.start([app, '-b', `127.0.0.1:${port}`], { listening: 0 });
        expect((await server.waitForExit()).code).to.equal(1);
        expect(server.stderr.filter((line) => line !== '')).to.deep.equal([`Cannot bind 127.0.0.1:${port}: address already in use`]);
      } finally {
        blocker.close();
      }
    });

    it('binds 0.0.0.0:$PORT when PORT is set', async () => {
      const probe = net.createServer();
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
      const port = (probe.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      const server = await TsunicornProcess.start([app], { env: { PORT: String(port) } });
      expect(server.urls).to.deep.equal([`http://0.0.0.0:${port}`]);
      expect((await request(`http://127.0.0.1:${port}`, '/')).body).to.equal('esm listener\n');
    });

    it('listens on 127.0.0.1:8000 by default', async () => {
      const server = await TsunicornProcess.start([app], { listening: 0 });
      // Another program may hold port 8000 here: then the bind error must name it.
      await Promise.race([server.waitFor(/Listening at: /), server.waitForExit()]);
      if (server.exitCode === 1) expect(server.stderr[0]).to.equal('Cannot bind 127.0.0.1:8000: address already in use');
      else expect(server.urls).to.deep.equal(['http://127.0.0.1:8000']);
    });

    it('listens on several addresses, a unix socket among them', async () => {
      const socket = path.join(directory, 'app.sock');
      const server = await TsunicornProcess.start([app, '-b', '127.0.0.1:0', '--bind', '127.0.0.1:0', '-b', `unix:${socket}`], { listening: 3 });
      const urls = server.urls;
      expect(urls).to.have.length(3);
      expect(urls[0]).to.not.equal(urls[1]);
      expect(urls[2]).to.equal(`unix:${socket}`);
      for (const url of urls) expect((await request(url, '/')).body).to.equal('esm listener\n');
    });

    it('uses the config file, TSUNICORN_CMD_ARGS over it and the command line over both', async () => {
      writeFileSync(path.join(directory, 'tsunicorn.config.mjs'),
        'export const workers = 3;\nexport const bind = "127.0.0.1:0";\nexport const access_log_format = "from-config %(s)s";\nexport const accesslog = "-";\n');
      const server = await TsunicornProcess.start([app, '-w', '1'], {
        cwd: directory,
        env: { TSUNICORN_CMD_ARGS: '-w 2 --access-logformat "from-env %(s)s"' },
      });
      await server.waitForWorkers(1);
      await request(server.url, '/');
      await server.waitFor(/^from-env 200$/);
      expect(server.stderr.filter((line) => /Booting worker/.test(line))).to.have.length(1);
    });
  });
});
