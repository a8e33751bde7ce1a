// Package managers on Node.js 26, which ships no corepack: bin/compile on a bare build image installs
// the version package.json names (engines.yarn, engines.pnpm, packageManager) with npm, puts it on PATH
// for the build scripts, installs, builds, prunes with the same pnpm store, and the slug serves. A warm
// build takes the package manager and node_modules from the cache. Under npm 12
// (engines.npm) a blocked install script fails the build.
import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
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

registryBound.describe('buildpack: package managers on Node.js 26 (no corepack): yarn 1, yarn 3, yarn 4, pnpm 10, npm 12', function () {
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

  async function compile(fixture: string, cache: string, prepare: (app: string) => Promise<void> = async () => {}) {
    const app = await copyFixture(fixture, await mkdtemp(path.join(work, `${fixture}-`)));
    await prepare(app);
    const result = await runScript(buildpack, 'compile', [app, cache], cleanEnv({ PATH: tools.bare, NODE_MIRROR: mirror.url }));
    return { app, ...result };
  }

  async function build(fixture: string, cache: string) {
    const { app, ...result } = await compile(fixture, cache);
    expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
    const version = mirror.served.get(26)!.replace(/\./g, '\\.');
    expect(result.stdout).to.match(new RegExp(`^ {7}(Installed Node\\.js v${version} |Using Node\\.js v${version} from the cache)`, 'm'));
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

  it('yarn 3 without the workspace-tools plugin: builds, keeps devDependencies with a warning (as Heroku); YARN2_SKIP_PRUNING=true silences it', async () => {
    const cache = path.join(work, 'cache-yarn3');
    const { app, stdout, stderr } = await build('pm-yarn3', cache);
    expect(stdout).to.include('       yarn.lock found: yarn install with yarn 3.8.7\n');
    expect(stderr).to.include(' !     Warning: devDependencies are kept: yarn 3.8.7 prunes them only with the workspace-tools plugin\n');
    await expectServes(app, 'built with 3.8.7, ms(60000)=1m, is-odd kept\n');

    const again = await copyFixture('pm-yarn3', await mkdtemp(path.join(work, 'pm-yarn3-skip-')));
    const envDir = path.join(path.dirname(again), 'env');
    await mkdir(envDir);
    await writeFile(path.join(envDir, 'YARN2_SKIP_PRUNING'), 'true');
    const skipped = await runScript(buildpack, 'compile', [again, cache, envDir], cleanEnv({ PATH: tools.bare, NODE_MIRROR: mirror.url }));
    expect(skipped.exitCode, skipped.stdout + skipped.stderr).to.equal(0);
    expect(skipped.stdout).to.include('       YARN2_SKIP_PRUNING=true: devDependencies are kept\n');
    expect(skipped.stderr).not.to.include('workspace-tools');
  });

  it('pnpm 10 from engines.pnpm: `pnpm` on PATH, prune with the same store (no prompt, no reinstall), serves; a warm build reuses both', async () => {
    const cache = path.join(work, 'cache-pnpm10');
    const { app, stdout, stderr } = await build('pm-pnpm10', cache);
    // npm (for the buildpack's copy of tsforeman) is not given pnpm's store setting, which it would warn of.
    expect(stdout + stderr).not.to.include('Unknown env config');
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
    expect(warm.stdout).to.include(`Using Node.js v${mirror.served.get(26)} from the cache (unpacked by an earlier build): nothing to download or unpack`);
    await expectServes(warm.app, `built with ${version}, ms(60000)=1m, is-odd pruned\n`);
  });

  it('npm 12 (engines.npm) blocks a dependency\'s install script: the build fails with npm\'s message and what to set', async () => {
    const { app, exitCode, stdout, stderr } = await compile('npm12-app', path.join(work, 'cache-npm12'), async (dir) => {
      // The dependency, packed, and a lockfile (file: tarball: only npm 12 itself comes from the registry).
      await mkdir(path.join(dir, 'vendor'));
      await execa('tar', ['-czf', path.join(dir, 'vendor', 'native-dep-1.0.0.tgz'), '--transform', 's,^native-dep,package,', 'native-dep'], { cwd: dir });
      await rm(path.join(dir, 'native-dep'), { recursive: true });
      await execa('npm', ['install', '--package-lock-only', '--offline', '--ignore-scripts', '--engine-strict=false'], {
        cwd: dir,
        env: cleanEnv({ PATH: process.env.PATH ?? '', npm_config_cache: path.join(work, 'lock-cache') }),
        extendEnv: false,
      });
    });
    expect(exitCode, stdout + stderr).to.equal(1);
    expect(stdout).to.match(/^       Installing npm 12\.x \(engines\.npm; this Node\.js has npm \d+\.\d+\.\d+\)$/m);
    expect(stdout).to.match(/^       Installed npm 12\.\d+\.\d+$/m);
    expect(stdout).to.include('npm warn install-scripts 1 package had install scripts blocked because they are not covered by allowScripts:');
    expect(stderr).to.match(/ !     npm 12\.\d+\.\d+ did not run the install scripts of native-dep@1\.0\.0 \(see npm's message above\): what they build is missing\n/);
    expect(stderr).to.include(' !     Allow the ones you trust in the "allowScripts" field of package.json: run "npm install-scripts approve <package>" locally and commit package.json.\n');
    expect(stdout).not.to.include('Build succeeded');
    expect(existsSync(path.join(app, 'node_modules', 'native-dep', 'built.txt'))).to.equal(false);
  });
});
