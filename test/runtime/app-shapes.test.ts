import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APPS, TsunicornProcess, request, stopAllServers } from './tsunicorn-process.js';

const app = (file: string) => path.join(APPS, file);
const bind = ['-b', '127.0.0.1:0'];

describe('tsunicorn app shapes', function () {
  this.timeout(20000);
  afterEach(stopAllServers);

  const shapes: [string, string[], string][] = [
    ['an ES module request listener (.mjs)', [app('esm-listener.mjs')], 'esm listener\n'],
    ['a CommonJS request listener (.cjs)', [app('cjs-listener.cjs')], 'cjs listener\n'],
    ['an `app` export when there is no default (.js)', [app('named-exports.js')], 'named app\n'],
    ['a named export (module:name)', [`${app('named-exports.js')}:handler`], 'named handler\n'],
    ['a TypeScript module (.ts), no build step', [app('typed-app.ts')], 'typescript listener\n'],
    ['an object with fetch()', [app('fetch-object.mjs')], 'fetch object /hello\n'],
    ['an object with callback() (Koa)', [app('koa-like.mjs')], 'koa-like callback\n'],
    ['an async factory with --factory', [`${app('factory.mjs')}:createApp`, '--factory'], 'factory-built\n'],
    ['the example app, with the Procfile line\'s flags', ['examples/app.js', '--limit-request-line', '8188', '--log-file', '-'], ''],
  ];

  for (const [shape, args, expected] of shapes) {
    it(`serves ${shape}`, async () => {
      const server = await TsunicornProcess.start([...args, ...bind]);
      const response = await request(server.url, '/hello');
      if (expected) {
        expect(response.status).to.equal(200);
        expect(response.body).to.equal(expected);
      } else {
        expect(response.status).to.equal(404);
        const root = await request(server.url, '/');
        expect(root.body).to.match(/^Hello from tsunicorn/);
        expect((await request(server.url, '/health')).body).to.equal('ok\n');
      }
    });
  }

  it('serves a package specifier resolved from the current directory', async () => {
    const directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-package-'));
    try {
      const packageDirectory = path.join(directory, 'node_modules', 'hello-package');
      mkdirSync(packageDirectory, { recursive: true });
      writeFileSync(path.join(packageDirectory, 'package.json'), JSON.stringify({ name: 'hello-package', main: 'server.cjs' }));
      writeFileSync(path.join(packageDirectory, 'server.cjs'), "exports.handler = (req, res) => res.end('from a package\\n');\n");
      const server = await TsunicornProcess.start(['hello-package', ...bind], { cwd: directory });
      expect((await request(server.url, '/')).body).to.equal('from a package\n');
    } finally {
      await stopAllServers();
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('fails with status 3 and the reason when a worker cannot boot for another reason', async () => {
    const server = await TsunicornProcess.start([app('esm-listener.mjs'), ...bind, '--certfile', '/nonexistent/cert.pem', '--keyfile', '/nonexistent/key.pem'], { listening: 0 });
    expect((await server.waitForExit()).code).to.equal(3);
    const reasons = server.stderr.filter((line) => /\[ERROR\] Worker failed to boot: cannot read --certfile\/--keyfile: ENOENT/.test(line));
    expect(reasons).to.have.length(1);
  });

  it('fails with status 3 and one line, before any worker, when Node lacks an internal the HTTP layer needs', async () => {
    const server = await TsunicornProcess.start([app('esm-listener.mjs'), ...bind], {
      listening: 0,
      env: { NODE_OPTIONS: `--import ${app('without-parser-buffer.mjs')}` },
    });
    expect((await server.waitForExit()).code).to.equal(3);
    expect(server.stderr).to.deep.equal([
      `tsunicorn: Node.js ${process.version} lacks an internal the strict HTTP layer needs (parser.getCurrentBuffer missing); use Node.js 20, 22, 24 or 26`,
    ]);
    expect(server.stdout).to.deep.equal([]);
  });

  it('fails with status 4 and the reason, once, when the app throws at import', async () => {
    const server = await TsunicornProcess.start([app('broken.mjs'), ...bind, '-w', '3'], { listening: 0 });
    const { code } = await server.waitForExit();
    expect(code).to.equal(4);
    const reasons = server.stderr.filter((line) => line.includes('DATABASE_URL is not set'));
    expect(reasons).to.have.length(1);
    expect(reasons[0]).to.match(/\[ERROR\] App failed to load: .*broken\.mjs: DATABASE_URL is not set \(.*broken\.mjs:2:\d+\)$/);
    expect(server.stderr.filter((line) => /Booting worker/.test(line)).length).to.be.at.most(3);
  });

  it('fails with status 4 when the module exports nothing usable', async () => {
    const server = await TsunicornProcess.start([app('nothing-usable.mjs'), ...bind], { listening: 0 });
    expect((await server.waitForExit()).code).to.equal(4);
    expect(server.stderr.join('\n')).to.match(/exports nothing usable: .*\(exports: version\)/);
  });

  it('fails with status 4 for a missing file, and with --preload before any worker starts', async () => {
    const server = await TsunicornProcess.start([app('no-such-app.js'), ...bind, '--preload'], { listening: 0 });
    expect((await server.waitForExit()).code).to.equal(4);
    expect(server.stderr.join('\n')).to.match(/App failed to load: cannot load app .*no-such-app\.js: no such file/);
    expect(server.stderr.some((line) => /Booting worker/.test(line))).to.equal(false);
  });
});
