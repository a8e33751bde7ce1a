import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { APPS, TsunicornProcess, stopAllServers } from './tsunicorn-process.js';

const app = path.join(APPS, 'esm-listener.mjs');

describe('tsunicorn --check-config and --print-config', function () {
  this.timeout(30000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-check-'));
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  async function run(args: string[], env: Record<string, string> = {}) {
    const server = await TsunicornProcess.start(args, { listening: 0, cwd: directory, env });
    const { code } = await server.waitForExit();
    return { code, stdout: server.stdout.filter((line) => line !== ''), stderr: server.stderr.filter((line) => line !== '') };
  }

  it('prints every setting with its value and where it came from, then checks (exit 0, nothing on stderr)', async () => {
    writeFileSync(path.join(directory, 'tsunicorn.config.mjs'), 'export const workers = 3;\nexport const keepalive = 7;\nexport const timeout = 20;\n');
    const { code, stdout, stderr } = await run(['--print-config', app, '--keep-alive', '9', '--log-format', 'json'], {
      WEB_CONCURRENCY: '2', PORT: '5001', FORWARDED_ALLOW_IPS: '10.0.0.1', TSUNICORN_CMD_ARGS: '--timeout 8 --max-requests 100',
    });
    expect(stderr).to.deep.equal([]);
    expect(code).to.equal(0);
    const rows: Record<string, [string, string]> = Object.fromEntries(stdout.map((line): [string, [string, string]] => {
      const match = /^(\w+) += (.*?) +\((.+)\)$/.exec(line);
      expect(match, line).to.not.equal(null);
      return [match![1]!, [match![2]!, match![3]!]];
    }));
    const config = path.join(directory, 'tsunicorn.config.mjs');
    expect(rows).to.deep.include({
      app: [JSON.stringify(app), 'command line'],
      bind: ['0.0.0.0:5001', 'env $PORT'],
      workers: ['3', `config file ${config}`],
      timeout: ['8', 'TSUNICORN_CMD_ARGS'],
      max_requests: ['100', 'TSUNICORN_CMD_ARGS'],
      keepalive: ['9', 'command line'],
      log_format: ['"json"', 'command line'],
      forwarded_allow_ips: ['"10.0.0.1"', 'env $FORWARDED_ALLOW_IPS'],
      graceful_timeout: ['30', 'default'],
      accesslog: ['(none)', 'default'],
    });
    // One line per setting of the table, and the APP.
    expect(stdout).to.have.length(1 + (await import('../../runtime/settings.js')).SETTINGS.length);
  });

  it('checks a good config and app silently, exit 0, and binds nothing', async () => {
    writeFileSync(path.join(directory, 'tsunicorn.config.mjs'), `export const accesslog = ${JSON.stringify(path.join(directory, 'access.log'))};\nexport function pre_request() {}\n`);
    // The address is taken: a check that bound it would fail.
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const result = await run(['--check-config', app, '-b', `127.0.0.1:${(taken.address() as net.AddressInfo).port}`]);
      expect(result).to.deep.equal({ code: 0, stdout: [], stderr: [] });
    } finally {
      taken.close();
    }
  });

  const failures: [string, (dir: string) => string[], RegExp, string[]?][] = [
    ['an app that does not exist', () => [path.join(APPS, 'no-such-app.mjs')], /^cannot load app .*no-such-app\.mjs: no such file$/],
    ['an app that throws at import', () => [path.join(APPS, 'broken.mjs')], /broken/i],
    ['an app that exports nothing usable', () => [path.join(APPS, 'nothing-usable.mjs')], /exports nothing usable/],
    ['a bad setting', () => [app, '--workers', 'none'], /^--workers: expected a positive integer, got "none"$/],
    ['a config file with a syntax error', (dir) => {
      writeFileSync(path.join(dir, 'bad.config.mjs'), 'export const = 1;\n');
      return [app, '-c', path.join(dir, 'bad.config.mjs')];
    }, /bad\.config\.mjs: cannot load config: SyntaxError: .*bad\.config\.mjs:1:14\)$/, ['export const = 1;', '             ^']],
    ['an access log that cannot be opened', (dir) => [app, '--access-logfile', path.join(dir, 'missing', 'access.log')], /^--access-logfile .*access\.log: cannot open for appending: its directory does not exist$/],
    ['a certificate that cannot be read', (dir) => {
      writeFileSync(path.join(dir, 'key.pem'), 'not checked here\n');
      return [app, '--certfile', path.join(dir, 'cert.pem'), '--keyfile', path.join(dir, 'key.pem')];
    }, /^cannot read --certfile .*cert\.pem: /],
    ['no APP', () => [], /^missing APP/],
  ];
  for (const [what, args, message, where] of failures) {
    // A syntax error is the one line plus the offending source line and a caret under the column.
    it(`reports ${what} in one line${where ? ' with the offending line and a caret' : ''} on stderr and exits 1`, async () => {
      const result = await run(['--check-config', ...args(directory)]);
      expect(result.code).to.equal(1);
      expect(result.stdout).to.deep.equal([]);
      expect(result.stderr[0]).to.match(message);
      expect(result.stderr.slice(1)).to.deep.equal(where ?? []);
    });
  }
});
