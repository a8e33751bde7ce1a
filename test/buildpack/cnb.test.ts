// The Cloud Native Buildpack (Buildpack API 0.10): bin/detect and bin/build driven as the lifecycle drives
// them (CNB_* variables, the app directory as the working directory, a layers directory per buildpack,
// cached layers restored between builds), then a launch as the launcher does it (launch layers' bin/ on
// PATH, env/ and env.launch/ files, exec.d programs' TOML on fd 3, then the default process of
// launch.toml). Every TOML file the buildpack writes is read with smol-toml.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { parse as parseToml } from 'smol-toml';
import { stageBuildpack } from '../../procfile/build.js';
import {
  cleanEnv,
  FIXTURES,
  freePort,
  makeTempDir,
  makeToolPaths,
  removeDir,
  REPO_ROOT,
  startMirrorOfLines,
  waitForAnswer,
  watch,
  type NodeMirror,
  type RunningApp,
  type ToolPaths,
} from './harness.js';
import { registryBound } from '../registry-bound.js';

type Toml = Record<string, unknown>;

async function readToml(file: string): Promise<Toml> {
  return parseToml(await readFile(file, 'utf8'));
}

/** The names of a layers directory's layers: each <name>.toml but launch.toml and store.toml. */
function layerNames(layers: string): string[] {
  return readdirSync(layers)
    .filter((name) => name.endsWith('.toml') && name !== 'launch.toml' && name !== 'store.toml')
    .map((name) => name.slice(0, -'.toml'.length))
    .sort();
}

/**
 * What the lifecycle does between two builds of the same app: a cached layer keeps its files and its
 * TOML; a launch-only layer keeps its TOML (the analyzer reads it from the previous image) but not its
 * files; any other layer, and launch.toml, is gone.
 */
async function restoreForNextBuild(layers: string): Promise<void> {
  const kept = new Set<string>();
  for (const name of layerNames(layers)) {
    const types = ((await readToml(path.join(layers, `${name}.toml`))).types ?? {}) as Record<string, boolean>;
    if (types.cache) {
      kept.add(name);
      continue;
    }
    await rm(path.join(layers, name), { recursive: true, force: true });
    if (!types.launch) await rm(path.join(layers, `${name}.toml`), { force: true });
  }
  for (const entry of readdirSync(layers)) {
    if (entry.endsWith('.toml') && entry !== 'launch.toml') continue;
    if (!kept.has(entry)) await rm(path.join(layers, entry), { recursive: true, force: true });
  }
}

/** Applies one env directory of a layer to `env`, with the spec's suffixes (no suffix: override). */
function applyEnvDir(dir: string, env: Record<string, string>): void {
  if (!existsSync(dir)) return;
  const files = readdirSync(dir).filter((name) => statSync(path.join(dir, name)).isFile());
  const read = (name: string) => readFileSync(path.join(dir, name), 'utf8');
  for (const file of files.sort()) {
    const dot = file.lastIndexOf('.');
    const [name, suffix] = dot > 0 ? [file.slice(0, dot), file.slice(dot + 1)] : [file, 'override'];
    if (suffix === 'delim') continue;
    const value = read(file);
    const delim = files.includes(`${name}.delim`) ? read(`${name}.delim`) : '';
    const current = env[name];
    if (suffix === 'override') env[name] = value;
    else if (suffix === 'default') env[name] ??= value;
    else if (suffix === 'prepend') env[name] = current ? value + delim + current : value;
    else if (suffix === 'append') env[name] = current ? current + delim + value : value;
    else throw new Error(`unknown env file suffix: ${path.join(dir, file)}`);
  }
}

/** Runs an exec.d program as the launcher does: its TOML on fd 3 sets variables. */
async function runExecD(program: string, env: Record<string, string>): Promise<Record<string, string>> {
  const child = spawn(program, [], { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
  let toml = '';
  let stderr = '';
  (child.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => (toml += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', (status) => resolve(status)));
  expect(code, stderr).to.equal(0);
  const parsed = parseToml(toml) as Record<string, unknown>;
  for (const [name, value] of Object.entries(parsed)) expect(value, name).to.be.a('string');
  return parsed as Record<string, string>;
}

interface Launch {
  env: Record<string, string>;
  command: string[];
}

/** The environment and the command of the default process, as the launcher computes them. */
async function prepareLaunch(layers: string, base: Record<string, string>): Promise<Launch> {
  const env = { ...base };
  const launchLayers: string[] = [];
  for (const name of layerNames(layers)) {
    const types = ((await readToml(path.join(layers, `${name}.toml`))).types ?? {}) as Record<string, boolean>;
    if (types.launch && existsSync(path.join(layers, name))) launchLayers.push(name);
  }
  for (const name of launchLayers) {
    const layer = path.join(layers, name);
    if (existsSync(path.join(layer, 'bin'))) env.PATH = `${path.join(layer, 'bin')}:${env.PATH}`;
    applyEnvDir(path.join(layer, 'env'), env);
    applyEnvDir(path.join(layer, 'env.launch'), env);
  }
  for (const name of launchLayers) {
    const dir = path.join(layers, name, 'exec.d');
    if (!existsSync(dir)) continue;
    for (const program of readdirSync(dir).sort()) {
      if (!statSync(path.join(dir, program)).isFile()) continue;
      Object.assign(env, await runExecD(path.join(dir, program), env));
    }
  }
  const launch = await readToml(path.join(layers, 'launch.toml'));
  const processes = launch.processes as Array<{ type: string; command: string[]; args?: string[]; default?: boolean }>;
  const chosen = processes.find((entry) => entry.default === true);
  expect(chosen, 'a default process').to.not.equal(undefined);
  return { env, command: [...chosen!.command, ...(chosen!.args ?? [])] };
}

describe('Cloud Native Buildpack (buildpack.toml, bin/detect, bin/build)', function () {
  this.timeout(300_000);
  let work: string;
  let tools: ToolPaths;
  let buildpack: string;
  const running: RunningApp[] = [];

  before(async () => {
    work = await makeTempDir('cnb');
    tools = await makeToolPaths(work);
    buildpack = await stageBuildpack(path.join(work, 'buildpack'));
  });

  afterEach(async () => {
    for (const app of running.splice(0)) await app.stop();
  });

  after(async () => {
    await removeDir(work);
  });

  it('buildpack.toml: Buildpack API 0.10, an id, the version of package.json, a licence, linux amd64 and arm64', async () => {
    const descriptor = await readToml(path.join(REPO_ROOT, 'buildpack.toml'));
    const manifest = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; license: string };
    expect(descriptor.api).to.equal('0.10');
    const info = descriptor.buildpack as Record<string, unknown>;
    expect(info.id).to.equal('tsforeman/nodejs');
    expect(info.version).to.equal(manifest.version);
    expect(info.licenses).to.deep.equal([{ type: manifest.license }]);
    expect(descriptor.targets).to.deep.equal([
      { os: 'linux', arch: 'amd64' },
      { os: 'linux', arch: 'arm64' },
    ]);
    expect(existsSync(path.join(buildpack, 'buildpack.toml')), 'staged with the buildpack').to.equal(true);
  });

  describe('bin/detect', () => {
    async function detect(app: string, plan: string) {
      const platform = path.join(work, 'platform-detect');
      await mkdir(path.join(platform, 'env'), { recursive: true });
      return execa(path.join(buildpack, 'bin', 'detect'), [], {
        cwd: app,
        env: cleanEnv({ PATH: tools.bare, CNB_PLATFORM_DIR: platform, CNB_BUILD_PLAN_PATH: plan, CNB_BUILDPACK_DIR: buildpack }),
        extendEnv: false,
        reject: false,
      });
    }

    it('CNB: passes (0) in an app directory with package.json and writes a build plan that provides and requires node', async () => {
      const plan = path.join(work, 'plan-pass.toml');
      const result = await detect(path.join(FIXTURES, 'plain-app'), plan);
      expect(result.exitCode, String(result.stderr)).to.equal(0);
      expect(await readToml(plan)).to.deep.equal({ provides: [{ name: 'node' }], requires: [{ name: 'node' }] });
    });

    it('CNB: fails (100) without package.json and writes no plan', async () => {
      const empty = await mkdtemp(path.join(work, 'not-an-app-'));
      const plan = path.join(work, 'plan-fail.toml');
      const result = await detect(empty, plan);
      expect(result.exitCode).to.equal(100);
      expect(String(result.stdout)).to.equal(`No package.json in ${realpathSync(empty)}: not a Node.js app`);
      expect(existsSync(plan)).to.equal(false);
    });

    it('classic: BUILD_DIR as the argument, exit 0 or 1, whatever the CNB variables say', async () => {
      const env = cleanEnv({ PATH: tools.bare });
      const pass = await execa(path.join(buildpack, 'bin', 'detect'), [path.join(FIXTURES, 'plain-app')], { env, extendEnv: false, reject: false });
      expect(pass).to.include({ exitCode: 0, stdout: 'Node.js (tsforeman)' });
      const empty = await mkdtemp(path.join(work, 'classic-empty-'));
      const fail = await execa(path.join(buildpack, 'bin', 'detect'), [empty], { env, extendEnv: false, reject: false });
      expect(fail).to.include({ exitCode: 1, stdout: '' });
    });
  });

  it('bin/build outside a lifecycle (no CNB_LAYERS_DIR) says what it is, exit 2', async () => {
    const result = await execa(path.join(buildpack, 'bin', 'build'), [], {
      cwd: path.join(FIXTURES, 'plain-app'),
      env: cleanEnv({ PATH: tools.bare }),
      extendEnv: false,
      reject: false,
    });
    expect(result.exitCode).to.equal(2);
    expect(String(result.stderr)).to.match(/^usage: bin\/build is the Cloud Native Buildpack's build: .*CNB_LAYERS_DIR/);
  });

  describe('the exec.d program (WEB_CONCURRENCY, WEB_MEMORY)', () => {
    let program: string;
    const cpus = os.availableParallelism();

    before(async () => {
      // The program bin/build puts in the web-env layer; its sizing part is web-env.sh, as in .profile.d.
      program = path.join(work, 'execd', 'web-env');
      const script = `source "${buildpack}/buildpack/output.sh"; source "${buildpack}/buildpack/profile.sh"; write_web_env_program "$1"`;
      const result = await execa('bash', ['-c', script, 'write', program], { reject: false });
      expect(result.exitCode, String(result.stderr)).to.equal(0);
    });

    async function withCgroup(files: Record<string, string>, env: Record<string, string> = {}) {
      const root = await mkdtemp(path.join(work, 'cgroup-'));
      for (const [name, value] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(root, name)), { recursive: true });
        await writeFile(path.join(root, name), value + '\n');
      }
      return runExecD(program, cleanEnv({ PATH: tools.bare, TSFOREMAN_CGROUP_ROOT: root, ...env }));
    }

    it('cgroup v2 memory.max over 512 MB per worker, no more than the CPUs', async () => {
      expect(await withCgroup({ 'memory.max': String(512 * 1024 * 1024) })).to.deep.equal({ WEB_MEMORY: '512', WEB_CONCURRENCY: '1' });
      expect(await withCgroup({ 'memory.max': String(64 * 1024 * 1024 * 1024) })).to.deep.equal({ WEB_MEMORY: '512', WEB_CONCURRENCY: String(cpus) });
      expect(await withCgroup({ 'memory.max': 'max' })).to.deep.equal({ WEB_MEMORY: '512', WEB_CONCURRENCY: String(cpus) });
      expect(await withCgroup({ 'memory.max': String(100 * 1024 * 1024) })).to.deep.equal({ WEB_MEMORY: '512', WEB_CONCURRENCY: '1' });
    });

    it('cgroup v1 memory.limit_in_bytes when there is no v2 file; its "no limit" number means the CPUs', async () => {
      const v1 = 'memory/memory.limit_in_bytes';
      expect(await withCgroup({ [v1]: String(256 * 1024 * 1024) }, { WEB_MEMORY: '256' })).to.deep.equal({ WEB_CONCURRENCY: '1' });
      expect(await withCgroup({ [v1]: '9223372036854771712' })).to.deep.equal({ WEB_MEMORY: '512', WEB_CONCURRENCY: String(cpus) });
      // v2 wins over v1.
      expect(await withCgroup({ [v1]: String(64 * 1024 * 1024 * 1024), 'memory.max': String(512 * 1024 * 1024) })).to.deep.equal({
        WEB_MEMORY: '512',
        WEB_CONCURRENCY: '1',
      });
    });

    it("never replaces the user's values; HEROKU_AVAILABLE_PARALLELISM is taken as it is", async () => {
      expect(await withCgroup({ 'memory.max': String(512 * 1024 * 1024) }, { WEB_CONCURRENCY: '9', WEB_MEMORY: '2048' })).to.deep.equal({});
      expect(await withCgroup({}, { HEROKU_AVAILABLE_PARALLELISM: '6' })).to.deep.equal({ WEB_MEMORY: '512', WEB_CONCURRENCY: '6' });
    });
  });

  registryBound.describe('builds and launches on Node.js 22, 24 and 26', () => {
    let mirror: NodeMirror;
    let source: string;
    let layersRoot: string;
    let layers: string;
    let platform: string;

    before(async function () {
      this.timeout(180_000);
      mirror = await startMirrorOfLines();
      // The app's source, with its dependency packed and locked (file: tarball: no registry needed).
      source = path.join(work, 'cnb-app-source');
      await cp(path.join(FIXTURES, 'cnb-app'), source, { recursive: true });
      await mkdir(path.join(source, 'vendor'));
      await execa('tar', ['-czf', path.join(source, 'vendor', 'greeting-1.0.0.tgz'), '--transform', 's,^greeting,package,', 'greeting'], { cwd: source });
      await rm(path.join(source, 'greeting'), { recursive: true });
      await execa('npm', ['install', '--package-lock-only', '--offline', '--ignore-scripts'], {
        cwd: source,
        env: cleanEnv({ PATH: process.env.PATH ?? '', npm_config_cache: path.join(work, 'lock-cache') }),
        extendEnv: false,
      });
      layersRoot = path.join(work, 'layers');
      // The lifecycle gives each buildpack <layers>/<id with / as _>.
      layers = path.join(layersRoot, 'tsforeman_nodejs');
      platform = path.join(work, 'platform');
      await mkdir(path.join(platform, 'env'), { recursive: true });
      await writeFile(path.join(platform, 'env', 'NODE_MIRROR'), mirror.url);
      await writeFile(path.join(platform, 'env', 'BUILD_GREETING'), 'platform env');
    });

    beforeEach(() => {
      mirror.requests.length = 0;
    });

    after(async () => {
      await mirror?.close();
    });

    /** A fresh app directory from the source (the lifecycle's /workspace), engines.node set. */
    async function workspace(engines: string, extra: (app: string) => Promise<void> = async () => {}): Promise<string> {
      const app = path.join(await mkdtemp(path.join(work, 'workspace-')), 'workspace');
      await cp(source, app, { recursive: true });
      const manifestPath = path.join(app, 'package.json');
      const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { engines: { node: string } };
      manifest.engines.node = engines;
      await writeFile(manifestPath, JSON.stringify(manifest, null, 2));
      await extra(app);
      return app;
    }

    async function build(app: string) {
      await mkdir(layers, { recursive: true });
      const plan = path.join(work, 'plan.toml');
      const env = cleanEnv({
        PATH: tools.bare,
        CNB_PLATFORM_DIR: platform,
        CNB_BUILD_PLAN_PATH: plan,
        CNB_BUILDPACK_DIR: buildpack,
      });
      const detected = await execa(path.join(buildpack, 'bin', 'detect'), [], { cwd: app, env, extendEnv: false, reject: false });
      expect(detected.exitCode, String(detected.stderr)).to.equal(0);
      await writeFile(path.join(work, 'bp-plan.toml'), '[[entries]]\nname = "node"\n');
      const result = await execa(path.join(buildpack, 'bin', 'build'), [], {
        cwd: app,
        env: { ...env, CNB_LAYERS_DIR: layers, CNB_BP_PLAN_PATH: path.join(work, 'bp-plan.toml'), CNB_TARGET_OS: 'linux', CNB_TARGET_ARCH: 'amd64' },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        timeout: 240_000,
      });
      const output = String(result.stdout) + String(result.stderr);
      expect(result.exitCode, output).to.equal(0);
      // Every layer directory has its TOML (the lifecycle would drop one without), each TOML parses.
      for (const entry of readdirSync(layers)) {
        if (entry.endsWith('.toml')) await readToml(path.join(layers, entry));
        else expect(existsSync(path.join(layers, `${entry}.toml`)), `${entry}.toml`).to.equal(true);
      }
      return { stdout: String(result.stdout), stderr: String(result.stderr) };
    }

    async function launch(app: string, expected: RegExp): Promise<string> {
      const port = await freePort();
      const { env, command } = await prepareLaunch(layers, cleanEnv({ PATH: tools.bare, PORT: String(port), HOME: app, CNB_APP_DIR: app }));
      const child = spawn(command[0]!, command.slice(1), { cwd: app, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const started = watch(child);
      running.push(started);
      const answer = await waitForAnswer(started, port);
      expect(answer?.status, started.output()).to.equal(200);
      expect(answer?.body).to.match(expected);
      return answer!.body;
    }

    for (const major of [22, 24, 26]) {
      it(`Node.js ${major}: layers with their types, launch.toml's default web process answers 200`, async function () {
        const version = mirror.served.get(major);
        if (version === undefined) {
          console.log(`      (no Node ${major} binary: set TSFOREMAN_TEST_NODES to a folder of NN/node_modules/node, as .ci/run does)`);
          this.skip();
        }
        if (existsSync(layers)) await restoreForNextBuild(layers);
        const app = await workspace(`${major}.x`);
        const { stdout } = await build(app);
        expect(stdout).to.include(`engines.node "${major}.x" resolves to ${version}`);
        expect(mirror.requests).to.include(`/v${version}/node-v${version}-linux-x64.tar.xz`);
        expect(stdout).to.include('Config vars for the build: BUILD_GREETING NODE_MIRROR');
        expect(stdout).to.include('wrote dist/message.txt');

        expect(layerNames(layers)).to.deep.equal(['caches', 'node_modules', 'nodejs', 'tsforeman', 'web-env']);
        const types = async (name: string) => (await readToml(path.join(layers, `${name}.toml`))).types;
        expect(await types('nodejs')).to.deep.equal({ launch: true, build: true, cache: true });
        expect(await types('node_modules')).to.deep.equal({ launch: true, build: false, cache: true });
        expect(await types('caches')).to.deep.equal({ launch: false, build: false, cache: true });
        expect(await types('tsforeman')).to.deep.equal({ launch: true, build: false, cache: false });
        expect(await types('web-env')).to.deep.equal({ launch: true, build: false, cache: false });
        expect((await readToml(path.join(layers, 'nodejs.toml'))).metadata).to.deep.equal({ version });
        const modules = (await readToml(path.join(layers, 'node_modules.toml'))).metadata as Record<string, unknown>;
        expect(modules.pruned).to.equal(false);
        expect(modules.key).to.match(new RegExp(`^npm ${version.replace(/\./g, '\\.')} \\S+ [0-9a-f]{64}$`));
        expect(lstatSync(path.join(app, 'node_modules')).isSymbolicLink()).to.equal(true);
        expect(readlinkSync(path.join(app, 'node_modules'))).to.equal(path.join(layers, 'node_modules', 'node_modules'));
        expect(existsSync(path.join(app, '.profile.d')), 'no .profile.d in a CNB build').to.equal(false);
        expect(existsSync(path.join(app, '.heroku')), 'nothing in the app but its own files').to.equal(false);
        expect(await readToml(path.join(layers, 'launch.toml'))).to.deep.equal({
          processes: [{ type: 'web', command: ['bash', '-c', 'tsunicorn server.js --log-file -'], default: true }],
        });

        await launch(app, new RegExp(`^hello, platform env NODE_ENV=production WEB_CONCURRENCY=\\d+ WEB_MEMORY=512 node=v${version.replace(/\./g, '\\.')}\\n$`));
      });
    }

    it('a warm build of the unchanged app downloads nothing and installs nothing', async function () {
      const version = mirror.served.get(26) ?? mirror.served.get(24) ?? mirror.served.get(22);
      if (version === undefined) this.skip();
      const major = Number(version.split('.')[0]);
      await restoreForNextBuild(layers);
      const first = await build(await workspace(`${major}.x`));
      await restoreForNextBuild(layers);
      mirror.requests.length = 0;
      const app = await workspace(`${major}.x`);
      const { stdout } = await build(app);
      expect(mirror.requests, first.stdout).to.deep.equal([]);
      expect(stdout).to.include(`Reusing Node.js v${version} in the nodejs layer (the same release): nothing to download or unpack`);
      expect(stdout).to.include(`Reusing node_modules from the node_modules layer (package-lock.json and Node.js ${version} unchanged): nothing to install`);
      expect(stdout).to.include("adding the buildpack's copy (cached) to the tsforeman layer");
      expect(stdout).not.to.match(/npm ci|added \d+ package/);
      await launch(app, /^hello, platform env NODE_ENV=production /);
    });

    it('a Procfile: its processes in launch.toml (web the default, commands quoted), and web answers', async () => {
      await restoreForNextBuild(layers);
      const app = await workspace('24.x || 26.x || 22.x', async (dir) => {
        await writeFile(
          path.join(dir, 'Procfile'),
          '# processes\nweb: WEB_CONCURRENCY=1 tsunicorn server.js --log-file - --bind "0.0.0.0:$PORT"\nworker: node -e \'console.log("tab\\there")\'\n',
        );
      });
      const { stdout } = await build(app);
      expect(stdout).to.include('launch.toml: the Procfile\'s processes (web worker)');
      expect(await readToml(path.join(layers, 'launch.toml'))).to.deep.equal({
        processes: [
          { type: 'web', command: ['bash', '-c', 'WEB_CONCURRENCY=1 tsunicorn server.js --log-file - --bind "0.0.0.0:$PORT"'], default: true },
          { type: 'worker', command: ['bash', '-c', 'node -e \'console.log("tab\\there")\''], default: false },
        ],
      });
      await launch(app, /^hello, platform env NODE_ENV=production WEB_CONCURRENCY=1 /);
    });
  });
});
