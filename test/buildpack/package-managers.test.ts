// yarn and pnpm apps on Node.js 26, which ships no corepack: bin/compile on a bare build image installs
// the version package.json names (engines.yarn, engines.pnpm, packageManager) with npm, puts it on PATH
// for the build scripts, installs, builds, prunes with the same pnpm store, and the slug serves. A warm
// build takes the package manager and node_modules from the cache.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import path from 'node:path';
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
  startMirrorOfLines,
  waitForAnswer,
  type NodeMirror,
  type RunningApp,
  type ToolPaths,
} from './harness.js';
import { registryBound } from '../registry-bound.js';

registryBound.describe('buildpack: yarn 1, yarn 4 and pnpm 10 on Node.js 26 (no corepack)', function () {
  this.timeout(300_000);
  let work: string;
  let mirror: NodeMirror;
  let tools: ToolPaths;
  let buildpack: string;
  const running: RunningApp[] = [];

  before(async function () {
    this.timeout(180_000);
    work = await makeTempDir('package-managers');
    mirror = await startMirrorOfLines();
    tools = await makeToolPaths(work);
    buildpack = await stageBuildpack(path.join(work, 'buildpack'));
  });

  beforeEach(function () {
    if (!mirror.served.has(26)) {
      console.log('      (no Node 26 binary: set TSFOREMAN_TEST_NODES to a folder of NN/node_modules/node, as .ci/run does)');
      this.skip();
    }
  });

  afterEach(async () => {
    for (const app of running.splice(0)) await app.stop();
  });

  after(async () => {
    await mirror?.close();
    await removeDir(work);
  });

  async function build(fixture: string, cache: string) {
    const app = await copyFixture(fixture, await mkdtemp(path.join(work, `${fixture}-`)));
    const result = await runScript(buildpack, 'compile', [app, cache], cleanEnv({ PATH: tools.bare, NODE_MIRROR: mirror.url }));
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    expect(result.stdout).to.include(`Installed Node.js v${mirror.served.get(26)}`);
    return { app, ...result };
  }

  async function expectServes(slug: string, body: string): Promise<void> {
    const port = await freePort();
    const started = startInSlug(slug, 'tsunicorn server.js --log-file -', port, tools.bare);
    running.push(started);
    const answer = await waitForAnswer(started, port);
    expect(answer, started.output()).to.deep.equal({ status: 200, body });
  }

  it('yarn 1 from engines.yarn: installs, the build script runs `yarn`, devDependencies pruned, serves', async () => {
    const { app, stdout } = await build('pm-yarn1', path.join(work, 'cache-yarn1'));
    expect(stdout).to.match(/^       Installing yarn 1\.22\.x \(engines\.yarn "1\.22\.x"\) with npm$/m);
    expect(stdout).to.match(/^       yarn\.lock found: yarn install with yarn 1\.22\.\d+$/m);
    const version = (await readFile(path.join(app, 'dist', 'package-manager.txt'), 'utf8')).trim();
    expect(version).to.match(/^1\.22\.\d+$/);
    expect(existsSync(path.join(app, 'node_modules', 'is-odd'))).to.equal(false);
    expect(existsSync(path.join(app, 'node_modules', 'ms'))).to.equal(true);
    await expectServes(app, `built with ${version}, ms(60000)=1m, is-odd pruned\n`);
  });

  it('yarn 4 from packageManager: installs with --immutable, prunes with workspaces focus, serves', async () => {
    const { app, stdout } = await build('pm-yarn4', path.join(work, 'cache-yarn4'));
    expect(stdout).to.include('       Installing yarn 4.9.4 (packageManager "yarn@4.9.4") with npm\n');
    expect(stdout).to.include('       yarn.lock found: yarn install with yarn 4.9.4\n');
    expect(await readFile(path.join(app, 'dist', 'package-manager.txt'), 'utf8')).to.equal('4.9.4\n');
    expect(existsSync(path.join(app, 'node_modules', 'is-odd'))).to.equal(false);
    await expectServes(app, 'built with 4.9.4, ms(60000)=1m, is-odd pruned\n');
  });

  it('pnpm 10 from engines.pnpm: `pnpm` on PATH, prune with the same store (no prompt, no reinstall), serves; a warm build reuses both', async () => {
    const cache = path.join(work, 'cache-pnpm10');
    const { app, stdout } = await build('pm-pnpm10', cache);
    expect(stdout).to.match(/^       Installing pnpm 10\.x \(engines\.pnpm "10\.x"\) with npm$/m);
    const version = (await readFile(path.join(app, 'dist', 'package-manager.txt'), 'utf8')).trim();
    expect(version).to.match(/^10\.\d+\.\d+$/);
    expect(stdout).to.include(`       pnpm-lock.yaml found: pnpm install with pnpm ${version}\n`);
    expect(stdout).not.to.match(/ERR_PNPM|Proceed\?/);
    expect(existsSync(path.join(app, 'node_modules', 'is-odd'))).to.equal(false);
    expect(existsSync(path.join(app, 'node_modules', 'ms'))).to.equal(true);
    await expectServes(app, `built with ${version}, ms(60000)=1m, is-odd pruned\n`);

    const warm = await build('pm-pnpm10', cache);
    expect(warm.stdout).to.include(`       Using pnpm ${version} from the cache (engines.pnpm "10.x")\n`);
    expect(warm.stdout).to.include(`Reusing node_modules from the cache (pnpm-lock.yaml and Node.js ${mirror.served.get(26)} unchanged): nothing to install`);
    expect(warm.stdout).not.to.include('pnpm install with');
    await expectServes(warm.app, `built with ${version}, ms(60000)=1m, is-odd pruned\n`);
  });
});
