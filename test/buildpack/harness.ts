// What the buildpack tests share: a Node.js mirror on 127.0.0.1, a PATH without node (a bare
// build image), a staged copy of the buildpack, fixture apps in temp dirs, and running the scripts.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'buildpack');
export const NODE_VERSION = process.version.slice(1);
export const NODE_MAJOR = Number(NODE_VERSION.split('.')[0]);
const TARBALL_NAME = `node-v${NODE_VERSION}-linux-x64.tar.xz`;

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

/**
 * A node-vX-linux-x64.tar.xz made from the Node running the tests: its binary plus npm and corepack
 * from the same install prefix (docs and man pages left out to keep it small). A Node that came
 * without them (the npm registry's `node` package is the binary alone) gets the machine's npm and
 * corepack, laid out as a release tarball lays them out, so that the build finds `npm` as on Heroku.
 */
export async function buildNodeTarball(dir: string): Promise<string> {
  const prefix = path.dirname(path.dirname(realpathSync(process.execPath)));
  const top = `node-v${NODE_VERSION}-linux-x64`;
  const own: string[] = ['bin/node'];
  const sources: Array<{ from: string; entries: string[] }> = [{ from: prefix, entries: own }];
  const links = path.join(dir, 'tarball-links');
  for (const [name, commands] of Object.entries(BUNDLED)) {
    if (existsSync(path.join(prefix, 'lib', 'node_modules', name))) {
      const entries = [`lib/node_modules/${name}`, ...Object.keys(commands).map((command) => `bin/${command}`)];
      own.push(...entries.filter((entry) => existsSync(path.join(prefix, entry))));
      continue;
    }
    const machine = machinePackage(name);
    if (!machine) throw new Error(`${process.execPath} comes without ${name}, and the machine has none on PATH to add`);
    await mkdir(path.join(links, 'bin'), { recursive: true });
    for (const [command, target] of Object.entries(commands)) {
      await symlink(`../lib/node_modules/${target}`, path.join(links, 'bin', command));
    }
    sources.push({ from: links, entries: Object.keys(commands).map((command) => `bin/${command}`) });
    // Stored as lib/node_modules/NAME by the transform below.
    sources.push({ from: path.dirname(machine), entries: [name] });
  }
  const output = path.join(dir, TARBALL_NAME);
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

export interface NodeMirror {
  url: string;
  /** Paths requested since the last clear, in order. */
  requests: string[];
  /** Serve a SHASUMS256.txt whose hash for the tarball is wrong. */
  corruptChecksum: boolean;
  close(): Promise<void>;
}

/** A Node.js dist mirror on 127.0.0.1: index.json (a few releases), SHASUMS256.txt, the tarball. */
export async function startMirror(tarball: string): Promise<NodeMirror> {
  const sha = createHash('sha256').update(await readFile(tarball)).digest('hex');
  const size = (await stat(tarball)).size;
  const index = JSON.stringify([
    { version: `v${NODE_MAJOR + 3}.0.0`, date: '2099-01-01', files: ['linux-x64', 'osx-arm64-tar'], lts: false },
    { version: `v${NODE_VERSION}`, date: '2098-01-01', files: ['linux-x64', 'src'], lts: 'Testing', security: false },
    { version: `v${NODE_MAJOR}.0.0`, date: '2097-01-01', files: ['linux-x64'], lts: false },
    { version: `v${NODE_MAJOR - 2}.9.9`, date: '2096-01-01', files: ['linux-x64'], lts: 'Older' },
    { version: 'v7.7.7', date: '2095-01-01', files: ['win-x64-zip'], lts: false },
  ]);
  const mirror: NodeMirror = {
    url: '',
    requests: [],
    corruptChecksum: false,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((request, response) => {
    const url = request.url ?? '/';
    mirror.requests.push(url);
    if (url === '/index.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(index);
    } else if (url === `/v${NODE_VERSION}/SHASUMS256.txt`) {
      const hash = mirror.corruptChecksum ? sha.replace(/^./, (c) => (c === '0' ? '1' : '0')) : sha;
      response
        .writeHead(200, { 'content-type': 'text/plain' })
        .end(`${'a'.repeat(64)}  node-v${NODE_VERSION}-darwin-arm64.tar.xz\n${hash}  ${TARBALL_NAME}\n`);
    } else if (url === `/v${NODE_VERSION}/${TARBALL_NAME}`) {
      response.writeHead(200, { 'content-type': 'application/x-xz', 'content-length': size });
      createReadStream(tarball).pipe(response);
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
  script: 'detect' | 'compile' | 'release',
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
