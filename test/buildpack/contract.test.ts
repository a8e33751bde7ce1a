// Heroku's build contract, point by point, on fixture apps of our own: each is built with bin/compile
// (the Node on PATH stands for an earlier buildpack's, so nothing is downloaded) and, where it runs,
// started as a dyno starts it and asked over HTTP.
import { expect } from 'chai';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
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

  async function compile(app: string, config: Record<string, string> = {}) {
    const envDir = path.join(path.dirname(app), 'env');
    await mkdir(envDir, { recursive: true });
    for (const [name, value] of Object.entries(config)) await writeFile(path.join(envDir, name), value);
    return runScript(buildpack, 'compile', [app, cache, envDir], nodeEnv());
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
});
