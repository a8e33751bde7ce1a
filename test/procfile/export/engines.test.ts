import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { parse as parseYaml } from 'yaml';
import { readEnvironmentFile, readTree, REPO, removeTempDirs, tempDir, tsforeman, which, shellWords, systemdSettings } from './helpers.js';
import { readComposeEnvFile, validCompose, validKubernetesObjects } from './validators.js';

/**
 * Exports of an app served by tsunicorn, with a worker, a release phase and a .env of secrets
 * (test/fixtures/export/tsunicorn), checked for what each engine does with them: the exported
 * command starts with the engine's bare PATH and answers HTTP, no secret is in a file others can
 * read, the stop timeout covers tsunicorn's drain, and release runs once.
 */
const FIXTURE = join(REPO, 'test', 'fixtures', 'export', 'tsunicorn');
const IMAGE = 'registry.example.com/shop:2.0';
const SECRETS = ['s3cr3t-value-from-dotenv', 'postgres://app:pa55word@db.internal/app'];

/** A copy of the fixture in a fresh folder (no node_modules: tsunicorn comes from the exporting tsforeman). */
function appCopy(): string {
  const app = tempDir();
  cpSync(FIXTURE, app, { recursive: true });
  writeFileSync(join(app, 'package.json'), '{ "type": "module", "private": true }\n');
  return app;
}

function exportApp(format: string, app: string, args: readonly string[]): string {
  const out = tempDir();
  const result = tsforeman(['export', format, out, '-a', 'shop', ...args], app);
  expect(result.code, result.stderr).to.equal(0);
  return out;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function get(port: number): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/** Polls until the port answers HTTP (or the process exits, or 60 s pass: the machine is loaded). */
async function firstAnswer(port: number, child: ChildProcess, output: () => string) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited (${child.exitCode ?? child.signalCode}) before serving: ${output()}`);
    }
    const answer = await get(port);
    if (answer !== undefined) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing answered on ${port}: ${output()}`);
}

const children: ChildProcess[] = [];

function started(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const child = spawn(file, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  children.push(child);
  return { child, output: () => output };
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}


describe('tsforeman export: right for the engine (a tsunicorn app with worker, release and secrets)', function () {
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited(child);
      }
    }
    removeTempDirs();
  });

  it("systemd: the web unit's ExecStart, under env -i PATH=/usr/bin:/bin with the unit's environment, answers HTTP 200", async function () {
    const analyze = which('systemd-analyze');
    if (analyze === undefined) this.skip(); // Debian package: systemd
    const app = appCopy();
    const port = await freePort();
    const out = exportApp('systemd', app, ['-p', String(port), '-m', 'web=1,worker=1,release=1']);
    const units = readdirSync(out).filter((name) => !name.endsWith('.env')).map((name) => join(out, name));
    const verify = spawnSync(analyze, ['verify', '--man=no', ...units], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).to.equal(0);
    expect(verify.stderr.split('\n').filter((line) => line.includes(out)), 'warnings about the units').to.deep.equal([]);

    const setting = systemdSettings(analyze, join(out, 'shop-web.1.service'));
    expect(setting('Type')).to.deep.equal(['notify']);
    const environment = setting('Environment').map((pair) => pair.split('=')[0]);
    expect(environment, 'no .env value inline in the unit').to.deep.equal(['PATH', 'PORT', 'PS', 'DYNO']);
    const [envFile] = setting('EnvironmentFile');
    expect(envFile).to.equal(join(out, 'shop.env'));
    const path = setting('Environment').find((pair) => pair.startsWith('PATH='))!.slice('PATH='.length).split(':');
    expect(path.slice(0, 3)).to.deep.equal([join(app, 'node_modules', '.bin'), join(REPO, 'bin'), dirname(process.execPath)]);

    // systemd's EnvironmentFile= comes first and Environment= on top, as systemd.exec(5) orders them
    // when their names differ (they do: the env file never holds PATH, PORT, PS, DYNO).
    const unitEnv = [
      ...Object.entries(readEnvironmentFile(envFile!)).map(([key, value]) => `${key}=${value}`),
      ...setting('Environment'),
    ];
    const argv = shellWords(setting('Command Line')[0]!).map((word) => word.replaceAll('$$', '$'));
    expect(argv.slice(0, 2)).to.deep.equal(['/bin/sh', '-c']);
    expect(argv[2]).to.equal('exec tsunicorn app.js --graceful-timeout 20 --workers 1');

    // Without the unit's PATH the command is not found: that is what the export fixes.
    const bare = spawnSync('env', ['-i', 'PATH=/usr/bin:/bin', ...argv], { cwd: app, encoding: 'utf8' });
    expect(bare.status, bare.stderr).to.equal(127);

    const web = started('env', ['-i', 'PATH=/usr/bin:/bin', ...unitEnv, ...argv], { cwd: setting('WorkingDirectory')[0] });
    const answer = await firstAnswer(port, web.child, web.output);
    expect(answer).to.deep.equal({ status: 200, body: 'served by web.1 with the secret\n' });
    process.kill(web.child.pid!, 'SIGTERM');
    await exited(web.child);
    expect(web.child.exitCode, web.output()).to.equal(0);
  });

  it('runit: runsv, started with PATH=/usr/bin:/bin, runs the web service and it answers HTTP 200', async function () {
    const runsv = which('runsv');
    if (runsv === undefined) this.skip(); // Debian package: runit
    const app = appCopy();
    const port = await freePort();
    const logs = tempDir();
    const out = exportApp('runit', app, ['-p', String(port), '-m', 'web=1,worker=0,release=0', '-l', logs]);
    const service = join(out, 'shop-web.1');
    expect(statSync(join(service, 'run')).mode & 0o777).to.equal(0o700);
    for (const name of readdirSync(join(service, 'env'))) expect(statSync(join(service, 'env', name)).mode & 0o777, name).to.equal(0o600);

    const supervisor = started(runsv, [service], { env: { PATH: '/usr/bin:/bin' } });
    const answer = await firstAnswer(port, supervisor.child, supervisor.output);
    expect(answer).to.deep.equal({ status: 200, body: 'served by web.1 with the secret\n' });
    // runsv at TERM stops the service (TERM to tsunicorn, which drains and exits) and exits itself.
    process.kill(supervisor.child.pid!, 'SIGTERM');
    await exited(supervisor.child);
    expect(await get(port), 'nothing serves after runsv stopped').to.equal(undefined);
  });

  it("from a tsforeman build slug: PATH holds the slug's .heroku/node/bin first and its other .heroku/*/bin", () => {
    const slug = appCopy();
    for (const dir of ['.heroku/node/bin', '.heroku/tsforeman/bin']) mkdirSync(join(slug, dir), { recursive: true });
    const unit = readFileSync(join(exportApp('systemd', slug, ['-m', 'release=0']), 'shop-web.1.service'), 'utf8');
    const path = /^Environment="PATH=(.*)"$/m.exec(unit)?.[1]?.split(':');
    expect(path?.slice(0, 5)).to.deep.equal([
      join(slug, '.heroku', 'node', 'bin'), join(slug, 'node_modules', '.bin'), join(slug, '.heroku', 'tsforeman', 'bin'),
      join(REPO, 'bin'), dirname(process.execPath),
    ]);
  });

  it('no .env value is in a file that others can read, in any format', () => {
    const app = appCopy();
    const exports: [string, string[]][] = [
      ['systemd', []], ['supervisord', ['-l', '/var/log/shop']], ['launchd', ['-l', '/var/log/shop']],
      ['runit', ['-m', 'release=0', '-l', '/var/log/shop']], ['kubernetes', ['--image', IMAGE]], ['compose', ['--image', IMAGE]],
    ];
    for (const [format, args] of exports) {
      const tree = readTree(exportApp(format, app, args));
      const holders = [...tree].filter(([, file]) => SECRETS.some((secret) => file.content.includes(secret)));
      expect(holders.length, `${format}: some file holds the secrets`).to.be.greaterThan(0);
      for (const [path, file] of holders) expect(file.mode & 0o077, `${format}: mode of ${path}`).to.equal(0);
    }
  });

  it("the stop timeout covers tsunicorn's drain: --graceful-timeout from the command, or from its config file", () => {
    const app = appCopy();
    const read = (format: string, args: string[]) => readTree(exportApp(format, app, ['-t', '5', ...args]));
    const check = (web: number, worker: number) => {
      const systemd = read('systemd', []);
      expect(systemd.get('shop-web.1.service')?.content).to.match(new RegExp(`^TimeoutStopSec=${web}s$`, 'm'));
      expect(systemd.get('shop-worker.1.service')?.content).to.match(new RegExp(`^TimeoutStopSec=${worker}s$`, 'm'));
      const supervisord = read('supervisord', ['-l', '/var/log/shop']).get('shop.conf')!.content;
      expect([...supervisord.matchAll(/^stopwaitsecs=(\d+)$/gm)].map((m) => Number(m[1]))).to.deep.equal([web, worker, 5]);
      const plist = read('launchd', ['-l', '/var/log/shop']).get('shop-web.1.plist')!.content;
      expect(plist).to.include(`<key>ExitTimeOut</key>\n  <integer>${web}</integer>`);
      const compose = parseYaml(read('compose', ['--image', IMAGE]).get('shop.compose.yaml')!.content) as {
        services: Record<string, { stop_grace_period: string }>;
      };
      expect(compose.services.web!.stop_grace_period).to.equal(`${web}s`);
      expect(compose.services.worker!.stop_grace_period).to.equal(`${worker}s`);
    };
    // --graceful-timeout 20 on the command line: 20 s of drain + 5 s for the master; the worker gets -t.
    check(25, 5);
    // From the config file when the command does not say it.
    writeFileSync(join(app, 'Procfile'), 'web: tsunicorn app.js\nworker: node worker.js\nrelease: node release.js\n');
    writeFileSync(join(app, 'tsunicorn.config.js'), 'export default { graceful_timeout: 40 };\n');
    check(45, 5);
    // A -t beyond the drain wins.
    const long = readTree(exportApp('systemd', app, ['-t', '90'])).get('shop-web.1.service')!.content;
    expect(long).to.match(/^TimeoutStopSec=90s$/m);
  });

  it('systemd: release is a oneshot the other units require; --hold-port web gives each instance a .socket unit', function () {
    const analyze = which('systemd-analyze');
    if (analyze === undefined) this.skip(); // Debian package: systemd
    const app = appCopy();
    writeFileSync(join(app, 'Procfile'), 'web: tsunicorn app.js -b 127.0.0.1:$PORT -b unix:/run/shop-$PS.sock\nworker: node worker.js\nrelease: node release.js\n');
    const out = exportApp('systemd', app, ['-m', 'web=2', '--hold-port', 'web']);
    expect(readdirSync(out).sort()).to.deep.equal([
      'shop-release.1.service', 'shop-web.1.service', 'shop-web.1.socket', 'shop-web.2.service', 'shop-web.2.socket',
      'shop-worker.1.service', 'shop.env', 'shop.target',
    ]);
    const units = readdirSync(out).filter((name) => !name.endsWith('.env')).map((name) => join(out, name));
    const verify = spawnSync(analyze, ['verify', '--man=no', ...units], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).to.equal(0);
    expect(verify.stderr.split('\n').filter((line) => line.includes(out)), 'warnings about the units').to.deep.equal([]);

    const release = systemdSettings(analyze, join(out, 'shop-release.1.service'));
    expect(release('Type')).to.deep.equal(['oneshot']);
    expect(release('RemainAfterExit')).to.deep.equal(['yes']);
    expect(release('Restart')).to.deep.equal(['no']);
    const unit = (name: string) => readFileSync(join(out, name), 'utf8');
    expect(unit('shop-worker.1.service')).to.match(/^Requires=shop-release\.1\.service$/m);
    expect(unit('shop-worker.1.service')).to.match(/^After=network\.target shop-release\.1\.service$/m);
    expect(unit('shop-web.2.service')).to.match(/^Requires=shop-release\.1\.service shop-web\.2\.socket$/m);
    expect(unit('shop-web.2.socket')).to.include('ListenStream=127.0.0.1:5001\nListenStream=/run/shop-web.2.sock\nFileDescriptorName=web.2\nService=shop-web.2.service\n');
    expect(unit('shop.target')).to.match(/^Wants=.*shop-web\.1\.socket/m);
    const web = systemdSettings(analyze, join(out, 'shop-web.1.service'));
    expect(web('Type')).to.deep.equal(['notify']);
    expect(web('NotifyAccess')).to.deep.equal(['all']);
  });

  it('kubernetes: Secret, Deployments with HTTP readiness on the health path, preStop and grace, release as a Job; all valid', async () => {
    const app = appCopy();
    const out = exportApp('kubernetes', app, ['--image', IMAGE, '-m', 'web=3']);
    expect(readdirSync(out).sort()).to.deep.equal(['shop-env.secret.yaml', 'shop.kubernetes.yaml']);
    const secretText = readFileSync(join(out, 'shop-env.secret.yaml'), 'utf8');
    expect(secretText).to.include('.gitignore');
    const [secret] = await validKubernetesObjects(secretText) as [{ kind: string; type: string; stringData: Record<string, string> }];
    expect(secret.kind).to.equal('Secret');
    expect(secret.stringData).to.deep.equal({ SECRET: SECRETS[0], DATABASE_URL: SECRETS[1] });

    const text = readFileSync(join(out, 'shop.kubernetes.yaml'), 'utf8');
    for (const value of SECRETS) expect(text).to.not.include(value);
    interface Pod {
      terminationGracePeriodSeconds: number;
      restartPolicy?: string;
      containers: {
        command: string[];
        readinessProbe?: { httpGet?: { path: string; port: number } };
        lifecycle?: { preStop: { sleep: { seconds: number } } };
        envFrom: unknown[];
      }[];
    }
    const objects = await validKubernetesObjects(text) as {
      kind: string;
      metadata: { name: string };
      spec: { replicas?: number; backoffLimit?: number; strategy?: { rollingUpdate: { maxUnavailable: number } }; template: { spec: Pod } };
    }[];
    expect(objects.map((o) => o.kind)).to.deep.equal(['Deployment', 'Deployment', 'Job', 'Service']);
    const [web, worker, job] = objects as [typeof objects[0], typeof objects[0], typeof objects[0]];
    expect(web.spec.replicas).to.equal(3);
    expect(web.spec.strategy?.rollingUpdate.maxUnavailable).to.equal(0);
    const [webContainer] = web.spec.template.spec.containers;
    // tsunicorn's own --health-path, added to the command since it names none, is what readiness asks.
    expect(webContainer!.command[2]).to.equal('exec tsunicorn app.js --graceful-timeout 20 --workers 1 --health-path /.tsunicorn/health');
    expect(webContainer!.readinessProbe?.httpGet).to.deep.equal({ path: '/.tsunicorn/health', port: 5000 });
    const preStop = webContainer!.lifecycle!.preStop.sleep.seconds;
    // grace >= preStop + drain (20 s) + the master's margin.
    expect(web.spec.template.spec.terminationGracePeriodSeconds).to.equal(preStop + 25);
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).to.equal(5);
    expect(job.metadata.name).to.match(/^shop-release-[0-9a-f]{10}$/);
    // The file says how to start the rest only after this release's Job completed.
    expect(text).to.include(`#   kubectl wait --for=condition=complete --timeout=30m job/${job.metadata.name}\n`);
    expect(job.spec.backoffLimit).to.equal(0);
    expect(job.spec.template.spec.restartPolicy).to.equal('Never');
    expect(job.spec.template.spec.containers[0]!.command[2]).to.equal('exec node release.js');

    // A health path the command names itself is the one probed, and nothing is added.
    writeFileSync(join(app, 'Procfile'), 'web: tsunicorn app.js --health-path /up\nrelease: node release.js\n');
    const again = await validKubernetesObjects(readFileSync(join(exportApp('kubernetes', app, ['--image', IMAGE]), 'shop.kubernetes.yaml'), 'utf8')) as typeof objects;
    const [container] = again[0]!.spec.template.spec.containers;
    expect(container!.command[2]).to.equal('exec tsunicorn app.js --health-path /up');
    expect(container!.readinessProbe?.httpGet?.path).to.equal('/up');
    // Another image is another release, run once more.
    const other = await validKubernetesObjects(readFileSync(join(exportApp('kubernetes', app, ['--image', `${IMAGE}-b`]), 'shop.kubernetes.yaml'), 'utf8')) as typeof objects;
    expect(other[1]!.metadata.name).to.not.equal(again[1]!.metadata.name);
  });

  it('compose: release is a one-shot the others wait for, secrets in env_file, valid against the compose-spec schema', () => {
    const app = appCopy();
    const out = exportApp('compose', app, ['--image', IMAGE]);
    const text = readFileSync(join(out, 'shop.compose.yaml'), 'utf8');
    for (const value of SECRETS) expect(text).to.not.include(value);
    const compose = validCompose(text) as {
      services: Record<string, { restart: string; depends_on?: unknown; env_file: string[]; stop_grace_period: string }>;
    };
    expect(Object.keys(compose.services)).to.deep.equal(['web', 'worker', 'release']);
    expect(compose.services.release!.restart).to.equal('no');
    expect(compose.services.release).to.not.have.property('depends_on');
    for (const name of ['web', 'worker']) {
      expect(compose.services[name]!.restart).to.equal('always');
      expect(compose.services[name]!.depends_on).to.deep.equal({ release: { condition: 'service_completed_successfully' } });
    }
    expect(readComposeEnvFile(join(out, 'shop.env'))).to.deep.equal({ SECRET: SECRETS[0], DATABASE_URL: SECRETS[1] });
  });

  it('.foreman in the root gives export its defaults (formation, timeout), and a flag wins over it', () => {
    const app = appCopy();
    writeFileSync(join(app, '.foreman'), 'formation: { web: 2, release: 0 }\ntimeout: 40\n');
    const out = exportApp('systemd', app, []);
    expect(readdirSync(out).sort()).to.deep.equal(['shop-web.1.service', 'shop-web.2.service', 'shop-worker.1.service', 'shop.env', 'shop.target']);
    expect(readFileSync(join(out, 'shop-worker.1.service'), 'utf8')).to.match(/^TimeoutStopSec=40s$/m);
    const flagged = exportApp('systemd', app, ['-t', '7', '-m', 'web=1,release=0']);
    expect(readFileSync(join(flagged, 'shop-worker.1.service'), 'utf8')).to.match(/^TimeoutStopSec=7s$/m);
    expect(existsSync(join(flagged, 'shop-web.2.service'))).to.equal(false);
  });

  it('supervisord and launchd run release once', () => {
    const app = appCopy();
    const conf = readTree(exportApp('supervisord', app, ['-l', '/var/log/shop'])).get('shop.conf')!.content;
    const release = conf.slice(conf.indexOf('[program:shop-release.1]'));
    expect(release).to.match(/^autorestart=false$/m);
    expect(release).to.match(/^startsecs=0$/m);
    expect(release).to.match(/^startretries=0$/m);
    const plist = readTree(exportApp('launchd', app, ['-l', '/var/log/shop'])).get('shop-release.1.plist')!.content;
    expect(plist).to.include('<key>KeepAlive</key>\n  <false/>');
  });

  it('the validators reject what the engines would: a bad Deployment field type, a bad depends_on condition', async () => {
    let failed = false;
    try {
      await validKubernetesObjects('apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\nspec: { replicas: two, selector: {}, template: {} }\n');
    } catch {
      failed = true;
    }
    expect(failed, 'replicas: two').to.equal(true);
    expect(() => validCompose('services:\n  a:\n    image: x\n    depends_on:\n      b: { condition: service_done }\n')).to.throw();
  });

  it('bad input: release to runit, --hold-port on a compound command, on release, or outside systemd: one line, exit 1, nothing written', () => {
    const app = appCopy();
    const cases: [string[], RegExp][] = [
      [['runit'], /^runit has no one-shot service .*export with -m release=0 and run "tsforeman run release" before "sv up"$/],
      [['systemd', '--hold-port', 'release'], /^--hold-port release: release runs once per deploy and serves no port$/],
      [['compose', '--image', IMAGE, '--hold-port', 'web'], /^--hold-port is only used by systemd/],
      [['systemd', '--hold-port', 'nosuch'], /nosuch/],
    ];
    for (const [args, message] of cases) {
      const out = join(tempDir(), 'out');
      const result = tsforeman(['export', args[0]!, out, ...args.slice(1)], app);
      expect(result.code, args.join(' ')).to.equal(1);
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      expect(lines.length, result.stderr).to.equal(1);
      expect(lines[0]!.replace(/^tsforeman: (error: )?/, ''), args.join(' ')).to.match(message);
      expect(existsSync(out), 'nothing written').to.equal(false);
    }
    // A program that is not tsunicorn may still take LISTEN_FDS: a warning line, and the export goes on.
    writeFileSync(join(app, 'Procfile'), 'web: node server.js\n');
    const other = tsforeman(['export', 'systemd', join(tempDir(), 'out'), '--hold-port', 'web'], app);
    expect(other.code, other.stderr).to.equal(0);
    expect(other.stderr).to.equal('warning: --hold-port web: "node server.js" is not tsunicorn; it must take its socket from LISTEN_FDS (systemd socket activation), or it fails with EADDRINUSE\n');
    writeFileSync(join(app, 'Procfile'), 'web: cd . && tsunicorn app.js\n');
    const compound = tsforeman(['export', 'systemd', join(tempDir(), 'out'), '--hold-port', 'web'], app);
    expect(compound.code).to.equal(1);
    expect(compound.stderr).to.match(/--hold-port web: "cd \. && tsunicorn app\.js" is not one program/);
  });
});
