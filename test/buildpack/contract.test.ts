// Heroku's build contract, point by point, on fixture apps of our own: each is built with bin/compile
// (the Node on PATH stands for an earlier buildpack's, so nothing is downloaded) and, where it runs,
// started as a dyno starts it and asked over HTTP.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { stageBuildpack } from '../../procfile/build.js';
import {
  cleanEnv,
  copyFixture,
  freePort,
  makeTempDir,
  makeToolPaths,
  removeDir,
  runScript,
  startInSlug,
  waitForAnswer,
  type RunningApp,
  type ToolPaths,
} from './harness.js';

describe('buildpack: the build contract', function () {
  this.timeout(240_000);
  let work: string;
  let tools: ToolPaths;
  let buildpack: string;
  let cache: string;
  const running: RunningApp[] = [];

  before(async () => {
    work = await makeTempDir('contract');
    tools = await makeToolPaths(work);
    buildpack = await stageBuildpack(path.join(work, 'buildpack'));
    cache = path.join(work, 'cache');
  });

  afterEach(async () => {
    for (const app of running.splice(0)) await app.stop();
  });

  after(async () => {
    await removeDir(work);
  });

  // NODE_MIRROR points nowhere: these builds use the Node on PATH and must download nothing.
  const nodeEnv = () => cleanEnv({ PATH: `${tools.node}:${tools.bare}`, NODE_MIRROR: 'http://127.0.0.1:9' });

  async function fresh(name: string): Promise<string> {
    return copyFixture(name, await mkdtemp(path.join(work, `app-${name}-`)));
  }

  async function configDir(app: string, config: Record<string, string>, name = 'env'): Promise<string> {
    const envDir = path.join(path.dirname(app), name);
    await mkdir(envDir, { recursive: true });
    for (const [variable, value] of Object.entries(config)) await writeFile(path.join(envDir, variable), value);
    return envDir;
  }

  async function compile(app: string, config: Record<string, string> = {}, buildCache = cache) {
    return runScript(buildpack, 'compile', [app, buildCache, await configDir(app, config)], nodeEnv());
  }

  async function expectServes(slug: string, command: string, body: string): Promise<void> {
    const port = await freePort();
    const app = startInSlug(slug, command, port, `${tools.node}:${tools.bare}`);
    running.push(app);
    const answer = await waitForAnswer(app, port, '/contract');
    expect(answer, app.output()).to.deep.equal({ status: 200, body });
  }

  it('nothing to run (no Procfile, main, start or server.js): builds, with the missing-start warning', async () => {
    const app = await fresh('nothing-to-run');
    const result = await compile(app);
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stderr).to.include(
      ' !     Warning: This app has no Procfile, no "start" script, no "main" and no server.js: its default web process, npm start, has nothing to run\n' +
        ' !     Add a Procfile (web: tsunicorn dist/app.js --log-file -), a "start" script, or "main" in package.json.',
    );
    expect(result.stdout).to.match(/^-----> Build succeeded in /m);
    const release = await runScript(buildpack, 'release', [app], nodeEnv());
    expect(parseYaml(release.stdout)).to.deep.equal({ default_process_types: { web: 'npm start' } });
  });

  it('only a server.js: builds without a warning, and `npm start` (the default web process) serves it', async () => {
    const app = await fresh('server-js-app');
    const result = await compile(app);
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include('       web: npm start   (no "start" script: npm runs node server.js)');
    expect(result.stderr).not.to.include('nothing to run');
    await expectServes(app, 'npm start', 'server.js via npm start: /contract\n');
  });

  it('a Procfile written by heroku-postbuild is checked after the build and used', async () => {
    const app = await fresh('dynamic-procfile');
    const result = await compile(app);
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include('       wrote Procfile');
    expect(result.stdout).to.match(/-----> Checking the Procfile\n.*valid procfile detected \(web\)/);
    expect(result.stdout).not.to.include('No Procfile');
    await expectServes(app, 'node server.js', 'Procfile written by heroku-postbuild: /contract\n');
  });

  it('heroku-build runs instead of build, with NODE_BUILD_FLAGS as its arguments', async () => {
    const app = await fresh('heroku-build');
    const result = await compile(app, { NODE_BUILD_FLAGS: '--minify  --target es2024' });
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include('       Running heroku-build with --minify --target es2024\n');
    expect(result.stdout).to.include('       build arguments: ["--minify","--target","es2024"]\n');
    expect(result.stdout).not.to.include('the build script ran');
    await expectServes(app, 'tsunicorn dist/server.js --log-file -', 'plain app\n');
  });

  it('bin/test-compile builds with NODE_ENV=test and devDependencies kept; bin/test runs npm test and returns its status', async () => {
    const app = await fresh('ci-app');
    const built = await runScript(buildpack, 'test-compile', [app, cache, await configDir(app, {})], nodeEnv());
    expect(built.exitCode, built.stdout + built.stderr).to.equal(0);
    expect(built.stdout).to.include('       A test build (bin/test-compile, for Heroku CI): NODE_ENV=test, devDependencies kept\n');
    expect(built.stdout).to.include('       Keeping devDependencies: a test build (bin/test-compile)\n');
    expect(await readFile(path.join(app, 'dist', 'build-env.txt'), 'utf8')).to.equal('test');

    // bin/test runs in the test dyno, whose PATH has the earlier buildpack's Node (here: the one on PATH).
    const passed = await runScript(buildpack, 'test', [app, await configDir(app, {}, 'env-pass')], nodeEnv());
    expect(passed.exitCode, passed.stdout + passed.stderr).to.equal(0);
    expect(passed.stdout).to.include('-----> Running the tests: npm test');
    expect(passed.stdout).to.match(/^# pass 2$/m);
    expect(passed.stdout).to.include('-----> Tests passed');

    const failed = await runScript(buildpack, 'test', [app, await configDir(app, { CI_SHOULD_FAIL: '1' }, 'env-fail')], nodeEnv());
    expect(failed.exitCode).to.equal(1);
    expect(failed.stdout).to.match(/^# fail 1$/m);
    expect(failed.stderr).to.include(' !     The tests failed (npm test exited with 1)');
  });

  it('cacheDirectories: a folder the build fills is restored by the next build; NODE_MODULES_CACHE=false turns it off', async () => {
    // The shared cache: the buildpack's tsforeman copy in it is prepared once for all these tests.
    const buildCache = cache;
    const first = await compile(await fresh('cache-dirs-app'), {}, buildCache);
    expect(first.exitCode, first.stdout + first.stderr).to.equal(0);
    expect(first.stdout).to.include(
      '       Restoring the cacheDirectories of package.json:\n       - .build-cache (not in the cache yet)\n       - node_modules (kept with the lockfile\'s key instead)\n',
    );
    expect(first.stdout).to.include('       build cache miss\n');
    expect(first.stdout).to.include('       Caching the cacheDirectories of package.json:\n       - .build-cache (saved)\n');

    const app = await fresh('cache-dirs-app');
    const second = await compile(app, {}, buildCache);
    expect(second.exitCode, second.stdout + second.stderr).to.equal(0);
    expect(second.stdout).to.include('       - .build-cache (restored)\n');
    const hit = /^ {7}build cache hit: (computed at build \d+)$/m.exec(second.stdout)?.[1];
    expect(hit, second.stdout).to.be.a('string');
    await expectServes(app, 'tsunicorn server.js --log-file -', `${hit}\n`);

    const off = await fresh('cache-dirs-app');
    const third = await compile(off, { NODE_MODULES_CACHE: 'false' }, buildCache);
    expect(third.exitCode, third.stdout + third.stderr).to.equal(0);
    expect(third.stdout).to.include('       NODE_MODULES_CACHE=false: the cacheDirectories are not restored\n');
    expect(third.stdout).to.include('       build cache miss\n');
    expect(existsSync(path.join(buildCache, 'directories'))).to.equal(false);
  });

  it('cache_directories is read too; an entry outside the app fails the build, naming it', async () => {
    const app = await fresh('cache-dirs-app');
    const manifestPath = path.join(app, 'package.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as Record<string, unknown>;
    delete manifest.cacheDirectories;
    manifest.cache_directories = ['../elsewhere'];
    await writeFile(manifestPath, JSON.stringify(manifest));
    const result = await compile(app);
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.include(' !     package.json: "cache_directories" names "../elsewhere", which is not a folder inside the app\n');
  });
});
