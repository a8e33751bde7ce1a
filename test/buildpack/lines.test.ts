// Node.js lines: bin/compile on a bare build image installs 22, 24 and 26 from the mirror on 127.0.0.1,
// defaults to the newest LTS line, caps wide ranges to it, warns on ended lines, and takes
// NODE_BINARY_URL. Each built slug is started and answers HTTP.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stageBuildpack } from '../../procfile/build.js';
import {
  cleanEnv,
  copyFixture,
  freePort,
  makeTempDir,
  makeToolPaths,
  NEWEST_LTS,
  removeDir,
  runScript,
  startInSlug,
  startMirrorOfLines,
  waitForAnswer,
  type NodeMirror,
  type RunningApp,
  type ToolPaths,
} from './harness.js';

describe('buildpack: Node.js lines 22, 24, 26 and the default', function () {
  this.timeout(240_000);
  let work: string;
  let mirror: NodeMirror;
  let tools: ToolPaths;
  let buildpack: string;
  let cache: string;
  const running: RunningApp[] = [];

  before(async function () {
    this.timeout(180_000);
    work = await makeTempDir('lines');
    mirror = await startMirrorOfLines();
    tools = await makeToolPaths(work);
    buildpack = await stageBuildpack(path.join(work, 'buildpack'));
    cache = path.join(work, 'cache');
  });

  beforeEach(() => {
    mirror.requests.length = 0;
  });

  afterEach(async () => {
    for (const app of running.splice(0)) await app.stop();
  });

  after(async () => {
    await mirror?.close();
    await removeDir(work);
  });

  const bareEnv = (extra: Record<string, string> = {}) => cleanEnv({ PATH: tools.bare, NODE_MIRROR: mirror.url, ...extra });

  async function app(engines: string | undefined): Promise<string> {
    const dir = await copyFixture('plain-app', await mkdtemp(path.join(work, 'app-')));
    const manifest: Record<string, unknown> = { name: 'lines-app', private: true, main: 'server.js' };
    if (engines !== undefined) manifest.engines = { node: engines };
    await writeFile(path.join(dir, 'package.json'), JSON.stringify(manifest));
    return dir;
  }

  function served(major: number, context: Mocha.Context): string {
    const version = mirror.served.get(major);
    if (version === undefined) {
      console.log(`      (no Node ${major} binary: set TSFOREMAN_TEST_NODES to a folder of NN/node_modules/node, as .ci/run does)`);
      context.skip();
    }
    return version;
  }

  /** Starts the slug's default web process and expects it to answer 200 with the fixture's body. */
  async function expectServes(slug: string): Promise<void> {
    const port = await freePort();
    const started = startInSlug(slug, 'tsunicorn server.js --log-file -', port, tools.bare);
    running.push(started);
    const answer = await waitForAnswer(started, port);
    expect(answer, started.output()).to.deep.equal({ status: 200, body: 'plain app\n' });
  }

  for (const major of [22, 24, 26]) {
    it(`engines.node "${major}.x" on a bare image: downloads ${major} from the mirror, the slug runs on it`, async function () {
      const version = served(major, this);
      const dir = await app(`${major}.x`);
      const result = await runScript(buildpack, 'compile', [dir, cache], bareEnv());
      expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
      expect(result.stdout).to.include(`engines.node "${major}.x" resolves to ${version}`);
      expect(mirror.requests).to.include(`/v${version}/node-v${version}-linux-x64.tar.xz`);
      expect(result.stderr).not.to.include('end of life');
      expect(execFileSync(path.join(dir, '.heroku/node/bin/node'), ['--version'], { encoding: 'utf8' }).trim()).to.equal(`v${version}`);
      await expectServes(dir);
    });
  }

  it(`no engines.node: the newest LTS line (${NEWEST_LTS}.x), not the newer Current line 27`, async function () {
    const version = served(NEWEST_LTS, this);
    const dir = await app(undefined);
    const result = await runScript(buildpack, 'compile', [dir, cache], bareEnv());
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include(`       engines.node is not set: using the newest LTS line, ${NEWEST_LTS}.x (${version})\n`);
    expect(execFileSync(path.join(dir, '.heroku/node/bin/node'), ['--version'], { encoding: 'utf8' }).trim()).to.equal(`v${version}`);
    await expectServes(dir);
  });

  it('a range past the newest LTS (">=22") is capped to it, with a line saying so', async function () {
    const version = served(NEWEST_LTS, this);
    const dir = await app('>=22');
    const result = await runScript(buildpack, 'compile', [dir, cache], bareEnv());
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include(
      `       engines.node ">=22" reaches past the newest LTS line, ${NEWEST_LTS}.x: using ${version} (NODEJS_ALLOW_WIDE_RANGE=true allows 27.2.0)\n`,
    );
    expect(mirror.requests).not.to.include('/v27.2.0/SHASUMS256.txt');
  });

  it('NODEJS_ALLOW_WIDE_RANGE=true takes the newest release of the range (27, which this mirror has no tarball of)', async () => {
    const dir = await app('>=22');
    const result = await runScript(buildpack, 'compile', [dir, cache], bareEnv({ NODEJS_ALLOW_WIDE_RANGE: 'true' }));
    expect(result.stdout, result.stdout + result.stderr).to.include(
      `       engines.node ">=22" resolves to 27.2.0, past the newest LTS line (${NEWEST_LTS}.x): allowed by NODEJS_ALLOW_WIDE_RANGE=true`,
    );
    expect(mirror.requests).to.include('/v27.2.0/SHASUMS256.txt');
    expect(result.exitCode).to.equal(1);
    expect(result.stderr).to.include(`Could not download ${mirror.url}/v27.2.0/SHASUMS256.txt`);
  });

  it('an ended line (20) builds and runs, with one warning line naming the supported lines', async function () {
    const version = served(20, this);
    const dir = await app('20.x');
    const result = await runScript(buildpack, 'compile', [dir, cache], bareEnv());
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    const supported = [...mirror.served.keys()].filter((major) => major >= 22 && major % 2 === 0).map((major) => `${major}.x`);
    const warnings = result.stderr.split('\n').filter((line) => line.includes('end of life'));
    expect(warnings).to.deep.equal([
      ` !     Warning: Node.js 20 reached its end of life on 2026-04-30 and gets no security fixes; supported lines: ${supported.join(', ')} (set engines.node in package.json to one of them)`,
    ]);
    expect(execFileSync(path.join(dir, '.heroku/node/bin/node'), ['--version'], { encoding: 'utf8' }).trim()).to.equal(`v${version}`);
    await expectServes(dir);
  });

  it('NODE_BINARY_URL installs that tarball whatever engines.node says, and a warm build reuses it', async function () {
    const version = served(24, this);
    const dir = await app('22.x');
    const url = `${mirror.url}/v${version}/node-v${version}-linux-x64.tar.xz`;
    const urlCache = path.join(work, 'url-cache');
    const result = await runScript(buildpack, 'compile', [dir, urlCache], bareEnv({ NODE_BINARY_URL: url }));
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include(`       NODE_BINARY_URL is set: downloading Node.js from ${url} (not resolved from engines.node)\n`);
    expect(mirror.requests).to.deep.equal([`/v${version}/node-v${version}-linux-x64.tar.xz`]);
    expect(execFileSync(path.join(dir, '.heroku/node/bin/node'), ['--version'], { encoding: 'utf8' }).trim()).to.equal(`v${version}`);

    mirror.requests.length = 0;
    const again = await app('22.x');
    const warm = await runScript(buildpack, 'compile', [again, urlCache], bareEnv({ NODE_BINARY_URL: url }));
    expect(warm.exitCode, warm.stdout + warm.stderr).to.equal(0);
    expect(warm.stdout).to.include(`       NODE_BINARY_URL is set: Node.js from ${url}\n`);
    expect(warm.stdout).to.include(`       Using Node.js v${version} from the cache (unpacked by an earlier build): nothing to download or unpack\n`);
    expect(mirror.requests).to.deep.equal([]);

    const bad = await runScript(buildpack, 'compile', [await app(undefined), urlCache], bareEnv({ NODE_BINARY_URL: `${mirror.url}/node.zip` }));
    expect(bad.exitCode).to.equal(1);
    expect(bad.stderr).to.include(` !     NODE_BINARY_URL must point at a .tar.gz or .tar.xz of a Node.js build, not ${mirror.url}/node.zip`);
  });
});
