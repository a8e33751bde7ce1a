import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SETTINGS } from '../../runtime/settings.js';
import { registryBound } from '../registry-bound.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = path.join(REPO, 'node_modules', '.bin', 'tsc');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (never through a shell) and returns its status and output. */
async function run(file: string, args: string[], cwd: string): Promise<Run> {
  try {
    const { stdout, stderr } = await promisify(execFile)(file, args, { cwd, encoding: 'utf8', maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

const folders: string[] = [];
function scratch(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsforeman-package-'));
  folders.push(dir);
  return dir;
}

const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

after(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the bins of a clone without dist/ (installed with --ignore-scripts)', () => {
  for (const bin of ['tsforeman', 'tsunicorn', 'tsunicornc']) {
    it(`${bin} prints one line saying to run npm run build, and exits 1`, async () => {
      const clone = scratch();
      mkdirSync(path.join(clone, 'bin'));
      copyFileSync(path.join(REPO, 'package.json'), path.join(clone, 'package.json'));
      copyFileSync(path.join(REPO, 'bin', bin), path.join(clone, 'bin', bin));
      const result = await run(process.execPath, [path.join(clone, 'bin', bin), '--help'], clone);
      expect(result.code).to.equal(1);
      expect(result.stdout).to.equal('');
      expect(result.stderr).to.equal(`${bin}: ${clone}/dist/ is missing: run \`npm run build\` in ${clone}/\n`);
    });
  }
});

registryBound.describe('the packed package in an app: import { defineConfig } from "tsforeman"', function () {
  // npm pack and npm install (the dependencies come from npm's cache or the registry) take a while.
  this.timeout(240_000);
  let app = '';
  let files: string[] = [];
  let installOutput = '';

  before(async () => {
    const packDir = scratch();
    const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], REPO);
    expect(packed.code, packed.stderr).to.equal(0);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    files = info!.files.map((file) => file.path);
    app = scratch();
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'scratch-app', private: true, type: 'module' }));
    // With scripts, as a user installs: npm must find no install-time script of ours to warn about.
    const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund',
      path.join(packDir, info!.filename)], app);
    expect(installed.code, installed.stderr).to.equal(0);
    installOutput = installed.stdout + installed.stderr;
    // The app's own @types/node, as any TypeScript app on Node has.
    mkdirSync(path.join(app, 'node_modules', '@types'), { recursive: true });
    symlinkSync(path.join(REPO, 'node_modules', '@types', 'node'), path.join(app, 'node_modules', '@types', 'node'));
    // TypeScript 7's defaults: no `types` (so `types: []`), and no --types node.
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, noEmit: true },
      files: ['tsunicorn.config.ts'],
    }));
  });

  async function typeCheck(config: string): Promise<Run> {
    writeFileSync(path.join(app, 'tsunicorn.config.ts'), config);
    return run(TSC, ['-p', 'tsconfig.json'], app);
  }

  it('installs without a warning about its scripts (it ships no install-time script)', () => {
    expect(installOutput).to.not.match(/install-scripts|allowScripts|tsforeman@[^\n]*(prepare|install)/);
  });

  it('type-checks with `tsc --noEmit tsunicorn.config.ts` and no tsconfig: the declarations name Node\'s types', async () => {
    // An app folder without a tsconfig.json (tsc would find the one above a subfolder), same node_modules.
    const bare = scratch();
    symlinkSync(path.join(app, 'node_modules'), path.join(bare, 'node_modules'));
    writeFileSync(path.join(bare, 'tsunicorn.config.ts'), `
import { defineConfig } from 'tsforeman';
export default defineConfig({
  workers: 2,
  post_worker_init(worker) { worker.server?.on('upgrade', (req, socket) => socket.end(String(req.url))); },
  post_request(worker, req, res) { console.log(res.statusCode); },
});
`);
    const result = await run(TSC, ['--noEmit', '--strict', 'tsunicorn.config.ts'], bare);
    expect(result.stdout + result.stderr).to.equal('');
    expect(result.code).to.equal(0);
  });

  it('ships declarations and a LICENSE, and no source maps', () => {
    expect(files).to.include.members(['LICENSE', 'package.json', 'dist/runtime/define-config.js', 'dist/runtime/define-config.d.ts']);
    expect(files.filter((file) => file.endsWith('.map'))).to.deep.equal([]);
  });

  it('type-checks a config with settings and every hook, using what the hooks receive', async () => {
    const result = await typeCheck(`
import { defineConfig, type TsunicornConfig } from 'tsforeman';

const config: TsunicornConfig = defineConfig({
  bind: ['0.0.0.0:8080', 'unix:/run/app.sock'],
  workers: 4,
  loglevel: 'debug',
  socket_sharing: 'shared',
  preload_app: true,
  on_starting(server) { console.log(server.pid, server.settings.workers); },
  when_ready: async (server) => { console.log(server.settings.bind[0]?.text); },
  on_reload(server) { console.log(server.pid); },
  pre_fork(server, worker) { console.log(server.pid, worker.age); },
  child_exit(server, worker) { console.log(worker.pid, worker.age, worker.exitCode, worker.signal); },
  nworkers_changed(server, newValue, oldValue) { console.log(newValue - oldValue); },
  on_exit() {},
  post_fork(server, worker) { console.log(worker.pid, worker.age); },
  post_worker_init(worker) { worker.server?.on('upgrade', (req, socket) => socket.end()); },
  pre_request(worker, req) { console.log(req.method, req.url); },
  post_request(worker, req, res) { console.log(res.statusCode); },
  worker_int(worker) { console.log(worker.pid); },
  worker_exit(server, worker) { console.log(worker.age); },
});
export default config;
`);
    expect(result.code, result.stdout).to.equal(0);
  });

  it('accepts every config key of the settings table', async () => {
    const keys = SETTINGS.flatMap((setting) => [setting.name, ...(setting.aliases ?? [])]);
    expect(keys).to.include.members(['bind', 'workers', 'keep_alive', 'preload']);
    const result = await typeCheck(`
import { defineConfig, type ConfigSettings } from 'tsforeman';
type Keys = ${keys.map((key) => `'${key}'`).join(' | ')};
// Fails to compile when the table has a key that ConfigSettings lacks.
const every: Record<Keys, true> = {} as Record<keyof ConfigSettings & Keys, true>;
export default defineConfig({});
export { every };
`);
    expect(result.code, result.stdout).to.equal(0);
  });

  it('rejects a misspelled setting and a hook with the wrong parameters', async () => {
    const result = await typeCheck(`
import { defineConfig } from 'tsforeman';
export default defineConfig({
  wrokers: 4,
});
export const other = defineConfig({
  workers: 'four',
  pre_request(worker, req: string) { console.log(worker, req); },
});
`);
    expect(result.code).to.not.equal(0);
    expect(result.stdout).to.match(/tsunicorn\.config\.ts\(4,3\): error TS\d+: .*'wrokers'/);
    expect(result.stdout).to.match(/tsunicorn\.config\.ts\(7,3\): error TS\d+: Type 'string' is not assignable to type 'number'/);
    expect(result.stdout).to.match(/tsunicorn\.config\.ts\(8,3\): error TS\d+: Type '\(worker: WorkerInfo, req: string\) => void' is not assignable/);
  });

  it('imports at run time: defineConfig returns the config unchanged', async () => {
    const script = "import { defineConfig } from 'tsforeman'; const c = { workers: 2 }; console.log(defineConfig(c) === c);";
    const result = await run(process.execPath, ['--input-type=module', '-e', script], app);
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal('true\n');
  });

  it("serves with the installed tsunicorn, reading a tsunicorn.config.ts that imports defineConfig", async () => {
    writeFileSync(path.join(app, 'app.js'), "export default (req, res) => res.end('ok');\n");
    writeFileSync(path.join(app, 'tsunicorn.config.ts'), `
import { defineConfig } from 'tsforeman';
export default defineConfig({
  bind: 'unix:${path.join(app, 'app.sock')}',
  workers: 2,
  when_ready(server) { console.log(\`ready with \${server.settings.workers} workers\`); },
});
`);
    // tsx is an optional peer: Node >= 22.18 strips the config's types itself, older Node needs tsx
    // installed next to the package (linked here from the repository's own copy).
    if (!(process.features as { typescript?: string | false }).typescript) {
      symlinkSync(path.join(REPO, 'node_modules', 'tsx'), path.join(app, 'node_modules', 'tsx'));
    }
    const child = spawn(path.join(app, 'node_modules', '.bin', 'tsunicorn'), ['app.js'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => { if (output.includes('ready with 2 workers')) resolve(); });
      void exited.then(() => reject(new Error(`tsunicorn exited before it was ready:\n${output}`)));
    });
    const body = await new Promise<string>((resolve, reject) => {
      get({ socketPath: path.join(app, 'app.sock'), path: '/' }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).to.equal('ok');
    child.kill('SIGTERM');
    expect(await exited, output).to.equal(0);
  });

  // About 20 MB measured: 8 of them are tsforeman's own dependencies, 12 come with the MCP SDK (`tsforeman mcp`),
  // which brings express, hono, ajv and jose along with zod.
  it('weighs at most 24 MB installed into a fresh app, dependencies included (tsx is not installed)', () => {
    const size = (entry: string): number => {
      const stat = lstatSync(entry);
      return stat.isDirectory() ? readdirSync(entry).reduce((total, name) => total + size(path.join(entry, name)), 0) : stat.size;
    };
    const modules = path.join(app, 'node_modules');
    const installed = readdirSync(modules).filter((name) => name !== '@types' && name !== 'tsx' && name !== '.bin');
    const bytes = installed.reduce((total, name) => total + size(path.join(modules, name)), 0);
    expect(installed).to.not.include.members(['tsx', 'esbuild', '@esbuild']);
    expect(bytes / 1e6, 'MB of node_modules').to.be.at.most(24);
  });

  it('installs no file outside what the package lists', () => {
    const top = readdirSync(path.join(app, 'node_modules', 'tsforeman')).sort();
    expect(top).to.deep.equal(['LICENSE', 'README.md', 'bin', 'buildpack', 'buildpack.toml', 'dist', 'package.json']);
  });
});
