// What the buildpack tests share: a Node.js mirror on 127.0.0.1, a PATH without node (a bare
// build image), a staged copy of the buildpack, fixture apps in temp dirs, and running the scripts.
import { createHash } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'buildpack');
export const NODE_VERSION = process.version.slice(1);
export const NODE_MAJOR = Number(NODE_VERSION.split('.')[0]);

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), `tsforeman-${prefix}-`));
}

/**
 * The root of the machine's own copy of a package that ships with Node (npm, corepack), found through
 * its command on PATH (e.g. /usr/bin/npm -> /usr/lib/node_modules/npm/bin/npm-cli.js), or null.
 */
function machinePackage(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, command);
    if (dir === '' || !existsSync(candidate)) continue;
    // The entry script sits in the package's bin/ (npm) or dist/ (corepack).
    const root = path.dirname(path.dirname(realpathSync(candidate)));
    if (path.basename(root) === command && existsSync(path.join(root, 'package.json'))) return root;
  }
  return null;
}

/** The commands a Node.js release links to a package it bundles, as in the official tarballs. */
const BUNDLED: Record<string, Record<string, string>> = {
  npm: { npm: 'npm/bin/npm-cli.js', npx: 'npm/bin/npx-cli.js' },
  corepack: { corepack: 'corepack/dist/corepack.js' },
};

/** A Node.js binary the test mirror serves as a release tarball. */
export interface NodeLine {
  version: string;
  major: number;
  /** The node binary (its install prefix may also hold npm and corepack). */
  binary: string;
}

const LTS_NAMES: Record<number, string> = { 18: 'Hydrogen', 20: 'Iron', 22: 'Jod', 24: 'Krypton', 26: 'Lts26' };

/**
 * The Node.js lines the tests can build with: the Node running them, plus the npm registry's `node`
 * package of each line under TSFOREMAN_TEST_NODES (a folder of NN/node_modules/node/bin/node, as .ci/run
 * installs them; default .ci/nodes of this repository). Majors 22, 24 and 26 are the supported lines.
 */
export function nodeLines(): NodeLine[] {
  const lines = new Map<number, NodeLine>();
  lines.set(NODE_MAJOR, { version: NODE_VERSION, major: NODE_MAJOR, binary: realpathSync(process.execPath) });
  const root = process.env.TSFOREMAN_TEST_NODES ?? path.join(REPO_ROOT, '.ci', 'nodes');
  // The machine's own Node (an ended line, 20, on the CI image) serves the end-of-life tests.
  const candidates = ['/usr/local/bin/node', '/usr/bin/node'];
  for (const major of [22, 24, 26]) candidates.push(path.join(root, String(major), 'node_modules', 'node', 'bin', 'node'));
  for (const binary of candidates) {
    if (!existsSync(binary)) continue;
    const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim().slice(1);
    const major = Number(version.split('.')[0]);
    if (!lines.has(major)) lines.set(major, { version, major, binary: realpathSync(binary) });
  }
  return [...lines.values()].sort((a, b) => b.major - a.major);
}

/**
 * A node-vX-linux-x64.tar.xz made from a Node binary: the binary plus npm (and corepack below Node 25,
 * which stopped shipping it) from the same install prefix (docs and man pages left out to keep it
 * small). A Node that came without them (the npm registry's `node` package is the binary alone) gets
 * the machine's npm and corepack, laid out as a release tarball lays them out, so that the build
 * finds `npm` as on Heroku.
 */
export async function buildNodeTarball(dir: string, line: NodeLine = nodeLines().find((l) => l.major === NODE_MAJOR)!): Promise<string> {
  const prefix = path.dirname(path.dirname(line.binary));
  const top = `node-v${line.version}-linux-x64`;
  const own: string[] = [path.relative(prefix, line.binary)];
  const sources: Array<{ from: string; entries: string[] }> = [{ from: prefix, entries: own }];
  const links = path.join(dir, `tarball-links-${line.major}`);
  const bundled = Object.entries(BUNDLED).filter(([name]) => name !== 'corepack' || line.major < 25);
  for (const [name, commands] of bundled) {
    if (existsSync(path.join(prefix, 'lib', 'node_modules', name))) {
      const entries = [`lib/node_modules/${name}`, ...Object.keys(commands).map((command) => `bin/${command}`)];
      own.push(...entries.filter((entry) => existsSync(path.join(prefix, entry))));
      continue;
    }
    const machine = machinePackage(name);
    if (!machine) throw new Error(`${line.binary} comes without ${name}, and the machine has none on PATH to add`);
    await mkdir(path.join(links, 'bin'), { recursive: true });
    for (const [command, target] of Object.entries(commands)) {
      await symlink(`../lib/node_modules/${target}`, path.join(links, 'bin', command));
    }
    sources.push({ from: links, entries: Object.keys(commands).map((command) => `bin/${command}`) });
    // Stored as lib/node_modules/NAME by the transform below.
    sources.push({ from: path.dirname(machine), entries: [name] });
  }
  const output = path.join(dir, `${top}.tar.xz`);
  const args = sources.flatMap(({ from, entries }) => ['-C', from, ...entries]);
  // 'S': leave symlink targets (../lib/node_modules/npm/bin/npm-cli.js) untouched.
  await execa(
    'bash',
    [
      '-c',
      'set -o pipefail; tar -cf - --exclude=npm/docs --exclude=npm/man ' +
        '--transform "s,^\\(npm\\|corepack\\)\\(/\\|$\\),lib/node_modules/&,S" --transform "s,^,$1/,S" "${@:3}" | ' +
        'xz -T2 -0 > "$2"',
      'pack',
      top,
      output,
      ...args,
    ],
    { stdio: 'inherit' },
  );
  return output;
}

/**
 * The release tarball of a line, made once per machine (kept in the temp folder under the version and
 * the binary's size and time, since making one takes seconds) and shared by the test files.
 */
export async function nodeTarball(line: NodeLine): Promise<string> {
  const info = await stat(line.binary);
  const dir = path.join(os.tmpdir(), `tsforeman-test-node-${os.userInfo().uid}`, `${line.version}-${info.size}-${Math.trunc(info.mtimeMs)}`);
  const done = path.join(dir, `node-v${line.version}-linux-x64.tar.xz`);
  if (existsSync(done)) return done;
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'tsforeman-node-tarball-'));
  try {
    const made = await buildNodeTarball(scratch, line);
    await mkdir(dir, { recursive: true });
    await rename(made, done);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return done;
}

/** A mirror serving every line nodeLines() found. */
export async function startMirrorOfLines(): Promise<NodeMirror> {
  const tarballs = [];
  for (const line of nodeLines()) tarballs.push({ line, tarball: await nodeTarball(line) });
  return startMirror(tarballs);
}

export interface NodeMirror {
  url: string;
  /** Paths requested since the last clear, in order. */
  requests: string[];
  /** Serve a SHASUMS256.txt whose hash for the tarball is wrong. */
  corruptChecksum: boolean;
  /** The versions the mirror serves a tarball of, by major. */
  served: Map<number, string>;
  close(): Promise<void>;
}

/** The newest LTS line of the mirror's index (what an app without engines.node gets). */
export const NEWEST_LTS = 26;

/**
 * A Node.js dist mirror on 127.0.0.1: an index.json listing the given releases (LTS for even lines) and
 * a few others it has no tarball for (a newer Current line 27, an ended odd line 25, an ended LTS 18,
 * a Windows-only release), and SHASUMS256.txt plus the tarball of each given release.
 */
export async function startMirror(tarballs: Array<{ line: NodeLine; tarball: string }>): Promise<NodeMirror> {
  const files = new Map<string, { path: string; size: number }>();
  const sums = new Map<string, string>();
  const entries: Array<Record<string, unknown>> = [
    { version: 'v27.2.0', date: '2026-11-20', files: ['linux-x64', 'osx-arm64-tar'], lts: false },
    { version: 'v25.9.0', date: '2026-04-01', files: ['linux-x64'], lts: false },
    { version: 'v18.20.8', date: '2025-03-27', files: ['linux-x64'], lts: 'Hydrogen' },
    { version: 'v7.7.7', date: '2017-01-01', files: ['win-x64-zip'], lts: false },
  ];
  const served = new Map<number, string>();
  for (const { line, tarball } of tarballs) {
    const name = path.basename(tarball);
    files.set(`/v${line.version}/${name}`, { path: tarball, size: (await stat(tarball)).size });
    sums.set(line.version, createHash('sha256').update(await readFile(tarball)).digest('hex') + `  ${name}`);
    served.set(line.major, line.version);
    entries.push({ version: `v${line.version}`, date: '2026-11-01', files: ['linux-x64', 'src'], lts: LTS_NAMES[line.major] ?? false });
  }
  const byVersion = (entry: Record<string, unknown>) => String(entry.version).slice(1).split('.').map(Number);
  entries.sort((a, b) => {
    const [x, y] = [byVersion(a), byVersion(b)];
    return y[0]! - x[0]! || y[1]! - x[1]! || y[2]! - x[2]!;
  });
  const index = JSON.stringify(entries);
  const mirror: NodeMirror = {
    url: '',
    requests: [],
    corruptChecksum: false,
    served,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    mirror.requests.push(url);
    const sumsOf = /^\/v(\d+\.\d+\.\d+)\/SHASUMS256\.txt$/.exec(url)?.[1];
    const file = files.get(url);
    if (url === '/index.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(index);
    } else if (sumsOf !== undefined && sums.has(sumsOf)) {
      let line = sums.get(sumsOf)!;
      if (mirror.corruptChecksum) line = line.replace(/^./, (c) => (c === '0' ? '1' : '0'));
      response
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(`${'a'.repeat(64)}  node-v${sumsOf}-darwin-arm64.tar.xz\n${line}\n`);
    } else if (file) {
      response.writeHead(200, { 'content-type': 'application/x-xz', 'content-length': file.size });
      createReadStream(file.path).pipe(response);
    } else {
      response.writeHead(404).end('not found\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mirror.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return mirror;
}

/** The tools a bare build image has (no node, npm, jq or python): symlinks in one folder. */
const BARE_TOOLS = [
  'bash', 'sh', 'env', 'cat', 'cp', 'mv', 'rm', 'mkdir', 'rmdir', 'ln', 'ls', 'chmod', 'dirname', 'basename',
  'mktemp', 'sha256sum', 'date', 'tr', 'head', 'tail', 'sort', 'cut', 'wc', 'grep', 'sed', 'curl', 'tar', 'xz',
  'gzip', 'stat', 'nproc', 'getconf', 'uname', 'id', 'readlink', 'realpath', 'touch', 'find', 'tee', 'sleep',
  'true', 'false', 'expr', 'printf', 'test', 'which', 'kill', 'ps',
];

export interface ToolPaths {
  /** A folder with only the bare image's tools. */
  bare: string;
  /** A folder with node, npm, npx and corepack of the machine: "an earlier buildpack's Node". */
  node: string;
}

function findTool(name: string): string | null {
  for (const dir of ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin']) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

export async function makeToolPaths(dir: string): Promise<ToolPaths> {
  const bare = path.join(dir, 'bare-bin');
  const node = path.join(dir, 'node-bin');
  await mkdir(bare, { recursive: true });
  await mkdir(node, { recursive: true });
  for (const tool of BARE_TOOLS) {
    const found = findTool(tool);
    if (found) await symlink(realpathSync(found), path.join(bare, tool));
  }
  const nodeBin = path.dirname(process.execPath);
  for (const tool of ['node', 'npm', 'npx', 'corepack']) {
    const found = existsSync(path.join(nodeBin, tool)) ? path.join(nodeBin, tool) : findTool(tool);
    if (found) await symlink(realpathSync(found), path.join(node, tool));
  }
  return { bare, node };
}

/** The test process's environment without what npm or PATH would leak into a build. */
export function cleanEnv(overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    if (/^npm_/i.test(name) || ['PATH', 'NODE_ENV', 'NODE_OPTIONS', 'INIT_CWD', 'WEB_CONCURRENCY'].includes(name)) continue;
    env[name] = value;
  }
  return { ...env, ...overrides };
}

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export async function runScript(
  buildpack: string,
  script: 'detect' | 'compile' | 'release' | 'test-compile' | 'test',
  args: string[],
  env: Record<string, string>,
): Promise<ScriptResult> {
  const result = await execa(path.join(buildpack, 'bin', script), args, {
    env,
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: 240_000,
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Copies a fixture app into `dir/name` (a fresh BUILD_DIR) and returns its path. */
export async function copyFixture(name: string, dir: string, as = name): Promise<string> {
  const dest = path.join(dir, as);
  await cp(path.join(FIXTURES, name), dest, { recursive: true });
  return dest;
}

/** `npm pack` of this repository (dist/ must be built: `npm test` runs tsc first). */
export async function packThisPackage(dir: string): Promise<string> {
  if (!existsSync(path.join(REPO_ROOT, 'dist', 'runtime', 'cli.js')) || !existsSync(path.join(REPO_ROOT, 'dist', 'procfile', 'cli.js'))) {
    throw new Error('dist/ is not built: run `npx tsc -p tsconfig.json` first');
  }
  const result = await execa('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: REPO_ROOT,
    env: cleanEnv({ PATH: process.env.PATH ?? '' }),
    extendEnv: false,
  });
  const [packed] = JSON.parse(String(result.stdout)) as Array<{ filename: string }>;
  return path.join(dir, packed!.filename);
}

/**
 * The TypeScript fixture ready to build: this package's tarball in vendor/, engines.node set to the
 * running major, and a package-lock.json (so the build takes the `npm ci` path). The lockfile is made
 * with its own npm cache, so the build's cache starts cold.
 */
export async function prepareTsApp(dir: string, packedTarball: string, lockCache: string): Promise<string> {
  const app = await copyFixture('ts-app', dir, 'ts-app-template');
  await mkdir(path.join(app, 'vendor'));
  await cp(packedTarball, path.join(app, 'vendor', 'tsforeman.tgz'));
  const manifestPath = path.join(app, 'package.json');
  const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { engines: { node: string } };
  manifest.engines.node = `${NODE_MAJOR}.x`;
  await writeFile(manifestPath, JSON.stringify(manifest, null, 2) + '\n');
  await execa('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: app,
    env: cleanEnv({ PATH: process.env.PATH ?? '', npm_config_cache: lockCache }),
    extendEnv: false,
  });
  return app;
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function httpGet(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    request.setTimeout(2000, () => request.destroy(new Error('timeout')));
    request.on('error', reject);
  });
}

export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A started app: its process group, its output so far, and how to stop it (SIGKILL to the group). */
export interface RunningApp {
  child: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/**
 * Starts `command` in `slug` as a dyno does (HOME = the app, .profile.d/*.sh sourced, then the command
 * through the shell) with PATH = `path` and PORT = `port`, in its own process group.
 */
export function startInSlug(slug: string, command: string, port: number, pathEnv: string, extra: Record<string, string> = {}): RunningApp {
  const child = spawn('bash', ['-c', 'for f in .profile.d/*.sh; do [ -e "$f" ] && . "$f"; done; eval "exec $WEB_COMMAND"'], {
    cwd: slug,
    env: cleanEnv({ PATH: pathEnv, HOME: slug, PORT: String(port), WEB_COMMAND: command, ...extra }),
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return watch(child);
}

export function watch(child: ChildProcess): RunningApp {
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.pid !== undefined && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await exited;
      for (let attempt = 0; attempt < 100 && child.pid !== undefined && groupAlive(child.pid); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

/** Polls `port` until it answers (or the app exits, or about 60 s of attempts): the first answer, or null. */
export async function waitForAnswer(app: RunningApp, port: number, urlPath = '/'): Promise<{ status: number; body: string } | null> {
  for (let attempt = 0; attempt < 240; attempt++) {
    if (app.child.exitCode !== null || app.child.signalCode !== null) return null;
    const answer = await httpGet(port, urlPath).catch(() => null);
    if (answer) return answer;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return null;
}
