// The buildpack end to end: bin/detect, bin/compile and bin/release run for real (bash, curl, tar,
// npm from the registry) on fixture apps, against a Node.js mirror on 127.0.0.1; then the slug is
// started from its Procfile the way a dyno does.
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { parse as parseYaml } from 'yaml';
import { stageBuildpack } from '../../procfile/build.js';
import { loadProfileEnv } from '../../procfile/profile.js';
import {
  cleanEnv,
  copyFixture,
  makeTempDir,
  makeToolPaths,
  NODE_VERSION,
  NODE_MAJOR,
  packThisPackage,
  prepareTsApp,
  removeDir,
  REPO_ROOT,
  runScript,
  startMirrorOfLines,
  type NodeMirror,
  type ToolPaths,
} from './harness.js';
import { registryBound } from '../registry-bound.js';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function get(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: '/hello', agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.setTimeout(2000, () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('buildpack (bin/detect, bin/compile, bin/release)', function () {
  this.timeout(240_000);
  let work: string;
  let mirror: NodeMirror;
  let tools: ToolPaths;
  let buildpack: string;
  let packed: string;
  let smallCache: string;
  /** The warm build's slug, for the tests that start it. */
  let builtSlug: string | undefined;
  const started: ChildProcess[] = [];

  before(async function () {
    this.timeout(120_000);
    work = await makeTempDir('buildpack');
    mirror = await startMirrorOfLines();
    tools = await makeToolPaths(work);
    buildpack = await stageBuildpack(path.join(work, 'buildpack'));
    packed = await packThisPackage(work);
    smallCache = path.join(work, 'small-cache');
  });

  beforeEach(() => {
    mirror.requests.length = 0;
    mirror.corruptChecksum = false;
  });

  afterEach(() => {
    for (const child of started.splice(0)) {
      if (child.pid !== undefined && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
    }
  });

  after(async () => {
    await mirror?.close();
    await removeDir(work);
  });

  /** A build image with no Node at all: the buildpack must download one. */
  const bareEnv = (extra: Record<string, string> = {}) =>
    cleanEnv({ PATH: tools.bare, NODE_MIRROR: mirror.url, ...extra });
  /** A build image where an earlier buildpack left a Node on PATH. */
  const nodeEnv = (extra: Record<string, string> = {}) =>
    cleanEnv({ PATH: `${tools.node}:${tools.bare}`, NODE_MIRROR: mirror.url, ...extra });

  /** A fresh copy of a fixture in its own folder under `work` (removed after the tests). */
  async function fresh(name: string): Promise<string> {
    const dir = await mkdtemp(path.join(work, `app-${name}-`));
    return copyFixture(name, dir);
  }

  describe('bin/detect', () => {
    it('prints its name and exits 0 for an app with a package.json', async () => {
      const result = await runScript(buildpack, 'detect', [path.join(REPO_ROOT, 'test/fixtures/buildpack/plain-app')], bareEnv());
      expect(result).to.include({ exitCode: 0, stdout: 'Node.js (tsforeman)' });
    });

    it('exits 1 and prints nothing without a package.json', async () => {
      const empty = path.join(work, 'not-an-app');
      await mkdir(empty, { recursive: true });
      const result = await runScript(buildpack, 'detect', [empty], bareEnv());
      expect(result).to.include({ exitCode: 1, stdout: '' });
    });
  });

  describe('bin/release', () => {
    it('proposes `tsunicorn <main> --log-file -` as valid YAML', async () => {
      const result = await runScript(buildpack, 'release', [path.join(REPO_ROOT, 'test/fixtures/buildpack/ts-app')], bareEnv());
      expect(result.exitCode).to.equal(0);
      expect(parseYaml(result.stdout)).to.deep.equal({
        default_process_types: { web: 'tsunicorn dist/app.js --log-file -' },
      });
    });

    it('falls back to `npm start` without "main", and quotes an odd entry for the shell', async () => {
      const app = await fresh('plain-app');
      await writeFile(path.join(app, 'package.json'), '{"name": "x", "scripts": {"start": "node s.js"}}');
      const start = await runScript(buildpack, 'release', [app], bareEnv());
      expect(parseYaml(start.stdout)).to.deep.equal({ default_process_types: { web: 'npm start' } });
      await writeFile(path.join(app, 'package.json'), '{"main": "my app\'s: #server.js"}');
      const odd = await runScript(buildpack, 'release', [app], bareEnv());
      expect(parseYaml(odd.stdout)).to.deep.equal({
        default_process_types: { web: "tsunicorn 'my app'\\''s: #server.js' --log-file -" },
      });
    });
  });

  describe('bin/compile failures: one clear message each, exit 1', () => {
    it('a bad package.json fails before anything is downloaded, with the line', async () => {
      const app = await fresh('bad-package-json');
      const result = await runScript(buildpack, 'compile', [app, path.join(work, 'cache-bad')], bareEnv());
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include(" !     package.json:5: unexpected '}', a trailing comma before '}' (JSON allows none)");
      expect(result.stderr).to.match(/ !     Fix package\.json/);
      expect(result.stdout).not.to.include('Installing Node.js');
      expect(mirror.requests).to.deep.equal([]);
    });

    it('an unsatisfiable engines.node fails listing the releases that exist', async () => {
      const app = await fresh('engines-unsatisfiable');
      const result = await runScript(buildpack, 'compile', [app, path.join(work, 'cache-engines')], bareEnv());
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include(' !     No Node.js release satisfies engines.node ">=99" in package.json');
      const served = [...mirror.served.entries()].map(([major, version]) => ({ major, version }));
      const newest = [{ major: 27, version: '27.2.0' }, { major: 25, version: '25.9.0' }, { major: 18, version: '18.20.8' }, ...served]
        .sort((a, b) => b.major - a.major)
        .map(({ version }) => version);
      expect(result.stderr).to.include(`(newest of each major): ${newest.join(', ')}\n`);
      expect(mirror.requests).to.deep.equal(['/index.json']);
    });

    it('an invalid engines.node range fails with the reason', async () => {
      const app = await fresh('plain-app');
      await writeFile(path.join(app, 'package.json'), '{"main": "server.js", "engines": {"node": "twenty"}}');
      const result = await runScript(buildpack, 'compile', [app, path.join(work, 'cache-range')], bareEnv());
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include('engines.node "twenty" in package.json is not a valid version range');
      expect(mirror.requests).to.deep.equal([]);
    });

    it('two lockfiles fail before Node is installed', async () => {
      const app = await fresh('plain-app');
      await writeFile(path.join(app, 'package-lock.json'), '{}');
      await writeFile(path.join(app, 'yarn.lock'), '');
      const result = await runScript(buildpack, 'compile', [app, path.join(work, 'cache-locks')], bareEnv());
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.include(' !     Two lockfiles: package-lock.json yarn.lock');
      expect(mirror.requests).to.deep.equal([]);
    });

    it('a checksum mismatch fails, installs nothing and caches nothing', async () => {
      mirror.corruptChecksum = true;
      const app = await fresh('plain-app');
      await writeFile(path.join(app, 'package.json'), JSON.stringify({ main: 'server.js', engines: { node: NODE_VERSION } }));
      const cache = path.join(work, 'cache-checksum');
      const result = await runScript(buildpack, 'compile', [app, cache], bareEnv());
      expect(result.exitCode).to.equal(1);
      expect(result.stderr).to.match(new RegExp(` !     Checksum mismatch for node-v${NODE_VERSION}-linux-x64\\.tar\\.xz: SHASUMS256\\.txt says [0-9a-f]{64}, the download is [0-9a-f]{64}`));
      expect(mirror.requests).to.include(`/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz`);
      expect(existsSync(path.join(app, '.heroku', 'node'))).to.equal(false);
      expect((await readdir(path.join(cache, 'node'))).filter((name) => name.startsWith('node-v'))).to.deep.equal([]);
    });

    it('a failing build script fails the build with its output shown', async () => {
      const app = await fresh('build-fails');
      const result = await runScript(buildpack, 'compile', [app, path.join(work, 'cache-build-fails')], nodeEnv());
      expect(result.exitCode).to.equal(1);
      expect(result.stdout).to.include(`Using Node.js v${NODE_VERSION} already on PATH`);
      expect(result.stdout).to.include('       src/app.ts(3,7): error TS2322: the fixture build fails on purpose');
      expect(result.stderr).to.include(' !     The "build" script of package.json failed (exit 2); its output is above');
      expect(mirror.requests).to.deep.equal([]);
    });

    it('a Procfile error fails the build with the file and line (tsforeman check)', async () => {
      const app = await fresh('procfile-error');
      const result = await runScript(buildpack, 'compile', [app, smallCache], nodeEnv());
      expect(result.exitCode, result.stderr).to.equal(1);
      expect(result.stdout).to.include("adding the buildpack's copy to .heroku/tsforeman");
      expect(result.stderr).to.include(
        ' !     The Procfile is invalid: tsforeman: Procfile:3: cannot parse line "worker node worker.js" (expected "name: command")',
      );
    });
  });

  registryBound.describe('package.json as npm reads it', () => {
    it('a byte order mark, a repeated "engines" (the last wins) with a pre-release range: builds with the Node on PATH', async () => {
      const app = await fresh('plain-app');
      const range = `>=${NODE_MAJOR}.0.0-0 <${NODE_MAJOR + 1}.0.0-0`;
      const manifest = `{"name": "bom-app", "engines": {"node": "18"}, "main": "server.js", "engines": {"node": "${range}"}}`;
      await writeFile(path.join(app, 'package.json'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(manifest)]));
      const result = await runScript(buildpack, 'compile', [app, smallCache], nodeEnv());
      expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
      expect(result.stdout).to.include(`       engines.node: ${range}\n`);
      expect(result.stdout).to.include(`Using Node.js v${NODE_VERSION} already on PATH`);
      expect(mirror.requests).to.deep.equal([]);
      const release = await runScript(buildpack, 'release', [app], bareEnv());
      expect(parseYaml(release.stdout)).to.deep.equal({ default_process_types: { web: 'tsunicorn server.js --log-file -' } });
    });
  });

  registryBound.describe('other package managers, installed with npm', () => {
    it('yarn.lock: installs and builds with yarn; no devDependencies, so nothing to prune', async () => {
      const app = await fresh('yarn-app');
      const result = await runScript(buildpack, 'compile', [app, smallCache], nodeEnv());
      expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
      expect(result.stdout).to.match(/^       yarn\.lock found: yarn install with yarn 1\.\d+\.\d+$/m);
      expect(result.stdout).to.match(/^       built with yarn\/1\./m);
      expect(result.stdout).to.match(/-----> Pruning devDependencies\n       Keeping devDependencies: none in package\.json\n/);
    });

    it('pnpm-lock.yaml: installs and builds with pnpm; KEEP_DEV_DEPENDENCIES=true skips the prune', async () => {
      const app = await fresh('pnpm-app');
      const envDir = path.join(path.dirname(app), 'env');
      await mkdir(envDir);
      await writeFile(path.join(envDir, 'KEEP_DEV_DEPENDENCIES'), 'true');
      const result = await runScript(buildpack, 'compile', [app, smallCache, envDir], nodeEnv());
      expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
      expect(result.stdout).to.match(/^       pnpm-lock\.yaml found: pnpm install with pnpm \d+\.\d+\.\d+$/m);
      expect(result.stderr).to.include(' !     Warning: No pnpm version named: installing the latest pnpm');
      expect(result.stdout).to.match(/^       built with pnpm\//m);
      expect(result.stdout).to.include('       Keeping devDependencies: KEEP_DEV_DEPENDENCIES=true');
    });
  });

  registryBound.describe('a TypeScript app: cold build, warm build, then the slug serves', () => {
    let template: string;
    let cache: string;
    let slug: string;
    let coldMs = 0;

    before(async function () {
      this.timeout(120_000);
      template = await prepareTsApp(await mkdtemp(path.join(work, 'ts-template-')), packed, path.join(work, 'lock-cache'));
      cache = path.join(work, 'ts-cache');
    });

    async function build(
      label: string,
      config: Record<string, string> = {},
      { cacheDir = cache, edit }: { cacheDir?: string; edit?: (dir: string) => Promise<void> } = {},
    ): Promise<{ dir: string; result: Awaited<ReturnType<typeof runScript>>; ms: number }> {
      const dir = path.join(await mkdtemp(path.join(work, `ts-${label}-`)), 'app');
      await execa('cp', ['-R', template, dir]);
      await edit?.(dir);
      const envDir = path.join(dir, '..', 'env');
      await mkdir(envDir);
      await writeFile(path.join(envDir, 'BUILD_GREETING'), 'hello-from-env-dir\n');
      await writeFile(path.join(envDir, 'PATH'), '/nowhere');
      for (const [name, value] of Object.entries(config)) await writeFile(path.join(envDir, name), value);
      const startedAt = Date.now();
      const result = await runScript(buildpack, 'compile', [dir, cacheDir, envDir], bareEnv());
      return { dir, result, ms: Date.now() - startedAt };
    }

    it('cold: downloads and verifies Node, installs, builds with the devDependency, prunes it', async () => {
      const { dir, result, ms } = await build('cold');
      coldMs = ms;
      expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
      expect(mirror.requests).to.deep.equal([
        '/index.json',
        `/v${NODE_VERSION}/SHASUMS256.txt`,
        `/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz`,
      ]);
      expect(result.stdout).to.match(/^       Verified SHA-256 [0-9a-f]{64}$/m);
      expect(result.stdout).to.include(`engines.node "${NODE_MAJOR}.x" resolves to ${NODE_VERSION}`);
      expect(result.stdout).to.include('prebuild saw BUILD_GREETING=hello-from-env-dir');
      expect(result.stdout).to.include('cleanup ran');
      expect(result.stdout + result.stderr).not.to.include('npm warn');
      expect(result.stdout).to.match(/^-----> Build succeeded in \d+\.\d\ds$/m);
      expect(result.stdout).to.match(/^       done in \d+\.\d\ds$/m);
      expect(existsSync(path.join(dir, '.heroku/node/bin/node'))).to.equal(true);
      expect(existsSync(path.join(dir, 'dist/app.js'))).to.equal(true);
      expect(existsSync(path.join(dir, 'node_modules/typescript'))).to.equal(false);
      expect(existsSync(path.join(dir, 'node_modules/.bin/tsunicorn'))).to.equal(true);
      const profile = await readFile(path.join(dir, '.profile.d/tsforeman-nodejs.sh'), 'utf8');
      expect(profile).not.to.include(dir);
      const exported = await readFile(path.join(buildpack, 'export'), 'utf8');
      expect(exported).to.include(`${dir}/.heroku/node/bin`);
      expect(result.stdout).to.include('valid procfile detected (web)');
    });

    it('warm: the same cache downloads nothing', async () => {
      const { dir, result, ms } = await build('warm');
      expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
      expect(mirror.requests).to.deep.equal([]);
      expect(result.stdout).to.include(`Using Node.js v${NODE_VERSION} from the cache (unpacked by an earlier build): nothing to download or unpack`);
      expect(result.stdout).to.include(
        `       Reusing node_modules from the cache (package-lock.json and Node.js ${NODE_VERSION} unchanged): nothing to install\n`,
      );
      expect(result.stdout).not.to.include('npm ci');
      expect(result.stdout).not.to.match(/^       added \d+ packages?/m);
      expect(existsSync(path.join(dir, 'dist/app.js'))).to.equal(true);
      expect(existsSync(path.join(dir, 'node_modules/typescript'))).to.equal(false);
      // The slug's prune left the cached tree whole, npm's own record of it included.
      expect(existsSync(path.join(cache, 'node_modules/node_modules/typescript'))).to.equal(true);
      expect(await readFile(path.join(cache, 'node_modules/node_modules/.package-lock.json'), 'utf8')).to.include('"node_modules/typescript"');
      // The slug's files are the cache's (hard links), but for npm's record, which the prune rewrote.
      const inode = async (root: string, file: string) => (await stat(path.join(root, file))).ino;
      expect(await inode(dir, 'node_modules/tsforeman/package.json')).to.equal(await inode(cache, 'node_modules/node_modules/tsforeman/package.json'));
      expect(await inode(dir, 'node_modules/.package-lock.json')).to.not.equal(await inode(cache, 'node_modules/node_modules/.package-lock.json'));
      console.log(`      cold build ${(coldMs / 1000).toFixed(1)}s, warm build ${(ms / 1000).toFixed(1)}s`);
      slug = dir;
      builtSlug = dir;
    });

    it('a build that writes into node_modules in place: the cache drops its copy and keeps a plain one from then on', async () => {
      const cacheDir = path.join(work, 'ts-cache-in-place');
      await execa('cp', ['-a', cache, cacheDir]);
      const manifestFile = 'node_modules/typescript/package.json';
      const cached = path.join(cacheDir, 'node_modules/node_modules/typescript/package.json');
      // As code generators do (prisma generate): the build rewrites a file of an installed package.
      const edit = async (dir: string) => {
        const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
        manifest.scripts.build += ` && node -e "require('fs').appendFileSync('${manifestFile}', '\\n')"`;
        await writeFile(path.join(dir, 'package.json'), JSON.stringify(manifest, null, 2));
      };
      const linked = await build('in-place-linked', {}, { cacheDir, edit });
      expect(linked.result.exitCode, linked.result.stdout + linked.result.stderr).to.equal(0);
      expect(linked.result.stdout).to.include('Reusing node_modules from the cache');
      expect(linked.result.stdout).to.include(
        '       The build wrote into node_modules in place (typescript/package.json): the cache drops its copy; the next build installs again and keeps a plain copy\n',
      );
      expect(existsSync(cached)).to.equal(false);

      // From now on a plain copy: the next build installs and saves one (test/buildpack/bash-parts.test.ts).
      expect(existsSync(path.join(cacheDir, 'node_modules/copy'))).to.equal(true);
    });

    it('NODE_MODULES_CACHE=false: installs again (npm ci), and the build still works', async () => {
      const { dir, result } = await build('no-modules-cache', { NODE_MODULES_CACHE: 'false' });
      expect(result.exitCode, result.stdout + result.stderr).to.equal(0);
      expect(result.stdout).to.include('       NODE_MODULES_CACHE=false: node_modules is installed afresh, not taken from the cache\n');
      expect(result.stdout).to.include('package-lock.json found: npm ci');
      expect(result.stdout).not.to.include('Reusing node_modules');
      expect(existsSync(path.join(dir, 'dist/app.js'))).to.equal(true);
    });

    it('the slug, started from its Procfile with .profile.d sourced, answers 200 and stops on SIGTERM with 0', async function () {
      if (!slug) this.skip();
      const procfile = await readFile(path.join(slug, 'Procfile'), 'utf8');
      const web = /^web:\s*(.+)$/m.exec(procfile)?.[1];
      expect(web).to.equal('tsunicorn dist/app.js --log-file -');
      const port = await freePort();
      // As a dyno boots: HOME is the app, .profile.d is sourced, then the Procfile command runs.
      const child = spawn('bash', ['-c', 'for f in .profile.d/*.sh; do . "$f"; done; eval "exec $WEB_COMMAND"'], {
        cwd: slug,
        env: cleanEnv({ PATH: tools.bare, HOME: slug, PORT: String(port), WEB_COMMAND: web ?? '' }),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.push(child);
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('exit', (code, signal) => resolve({ code, signal })),
      );

      let answer: { status: number; body: string } | null = null;
      for (let attempt = 0; attempt < 120 && answer === null && child.exitCode === null; attempt++) {
        answer = await get(port).catch(() => null);
        if (answer === null) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(answer, output).to.not.equal(null);
      expect(answer?.status).to.equal(200);
      expect(answer?.body).to.equal('hello from the slug: /hello NODE_ENV=production\n');

      process.kill(child.pid!, 'SIGTERM');
      expect(await exited, output).to.deep.equal({ code: 0, signal: null });
      for (let attempt = 0; attempt < 50 && groupAlive(child.pid!); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(groupAlive(child.pid!), 'workers left running').to.equal(false);
    });
  });

  registryBound.describe('tsforeman start in the slug', () => {
    it('sources .profile.d by itself, serves, and stops on SIGTERM', async function () {
      const slug = builtSlug;
      if (!slug) this.skip();
      const port = await freePort();
      // PATH has no node: the processes find the slug's own Node through .profile.d.
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'tsforeman'), 'start', '--no-timestamp'], {
        cwd: slug,
        env: cleanEnv({ PATH: tools.bare, PORT: String(port) }),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      started.push(child);
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let answer: { status: number; body: string } | null = null;
      for (let attempt = 0; attempt < 120 && answer === null && child.exitCode === null; attempt++) {
        answer = await get(port).catch(() => null);
        if (answer === null) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(answer?.status, output).to.equal(200);
      expect(answer?.body).to.equal('hello from the slug: /hello NODE_ENV=production\n');
      process.kill(child.pid!, 'SIGTERM');
      expect(await exited, output).to.equal(143);
      for (let attempt = 0; attempt < 50 && groupAlive(child.pid!); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(groupAlive(child.pid!), 'processes left running').to.equal(false);
    });
  });

  registryBound.describe('tsforeman build', () => {
    const tsforeman = path.join(REPO_ROOT, 'bin', 'tsforeman');

    it('builds a slug next to the app, writes the default Procfile, and the slug env comes from .profile.d', async () => {
      const app = await fresh('plain-app');
      const out = path.join(path.dirname(app), 'plain-app-slug');
      const result = await execa(process.execPath, [tsforeman, 'build', app, '--cache', smallCache], {
        env: nodeEnv(),
        extendEnv: false,
        reject: false,
      });
      expect(result.exitCode, String(result.stderr)).to.equal(0);
      expect(String(result.stdout)).to.include('-----> Build succeeded in');
      expect(String(result.stdout)).to.include(`-----> Slug ready: ${out}`);
      expect(await readFile(path.join(out, 'Procfile'), 'utf8')).to.equal('web: tsunicorn server.js --log-file -\n');
      expect(existsSync(path.join(app, 'Procfile'))).to.equal(false);
      expect(existsSync(path.join(out, '.heroku/tsforeman/bin/tsunicorn'))).to.equal(true);

      const env = await loadProfileEnv(out, { PATH: tools.bare, HOME: '/home/someone' });
      expect(env.PATH?.split(':')).to.include(`${out}/.heroku/tsforeman/bin`);
      expect(env).to.include({ NODE_ENV: 'production', HOME: '/home/someone' });
      expect(Number(env.WEB_CONCURRENCY)).to.be.greaterThan(0);

      // A rebuild replaces the slug: the old one, and one an interrupted build left aside, are gone.
      await writeFile(path.join(out, 'stale.txt'), 'from the last build');
      const leftover = path.join(path.dirname(out), '.plain-app-slug.tsforeman-old-1');
      await mkdir(path.join(leftover, 'node_modules'), { recursive: true });
      const again = await execa(process.execPath, [tsforeman, 'build', app, '--cache', smallCache], { env: nodeEnv(), extendEnv: false, reject: false });
      expect(again.exitCode, String(again.stderr)).to.equal(0);
      expect(existsSync(path.join(out, 'stale.txt'))).to.equal(false);
      expect(existsSync(path.join(out, 'server.js'))).to.equal(true);
      expect((await readdir(path.dirname(out))).filter((name) => name.includes('tsforeman-old'))).to.deep.equal([]);
    });

    it('works from an installed copy of the package (no package-lock.json, no sources)', async function () {
      if (!builtSlug) this.skip();
      const installed = path.join(builtSlug, 'node_modules', 'tsforeman');
      expect(existsSync(path.join(installed, 'package-lock.json'))).to.equal(false);
      const app = await fresh('plain-app');
      const out = path.join(path.dirname(app), 'elsewhere');
      const result = await execa(process.execPath, [path.join(installed, 'bin', 'tsforeman'), 'build', app, '--cache', smallCache, '--out', out], {
        env: nodeEnv(),
        extendEnv: false,
        reject: false,
      });
      expect(result.exitCode, String(result.stdout) + String(result.stderr)).to.equal(0);
      const tsunicorn = await execa(path.join(out, '.heroku/tsforeman/bin/tsunicorn'), ['--version'], { env: nodeEnv(), extendEnv: false });
      expect(String(tsunicorn.stdout)).to.match(/^tsunicorn \d+\.\d+\.\d+/);
    });

    it('exits non-zero when the build fails, and refuses to replace a folder it did not make', async () => {
      const app = await fresh('build-fails');
      const failed = await execa(process.execPath, [tsforeman, 'build', app, '--cache', path.join(work, 'cache-cli-fails')], {
        env: nodeEnv(),
        extendEnv: false,
        reject: false,
      });
      expect(failed.exitCode).to.equal(1);
      expect(String(failed.stderr)).to.include('The "build" script of package.json failed');
      expect(String(failed.stderr)).to.include('tsforeman: build failed: bin/compile exited with status 1');

      const precious = path.join(work, 'precious');
      await mkdir(precious, { recursive: true });
      await writeFile(path.join(precious, 'notes.txt'), 'keep me');
      const refused = await execa(process.execPath, [tsforeman, 'build', app, '--out', precious], {
        env: nodeEnv(),
        extendEnv: false,
        reject: false,
      });
      expect(refused.exitCode).to.equal(1);
      expect(String(refused.stderr).trim()).to.equal(
        `tsforeman: refusing to replace ${precious}: it is not empty and was not made by tsforeman build (use --out)`,
      );
      expect(await readFile(path.join(precious, 'notes.txt'), 'utf8')).to.equal('keep me');
      await rm(precious, { recursive: true, force: true });
    });
  });
});
