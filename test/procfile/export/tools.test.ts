import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import {
  DEMO,
  DEMO_INSTANCES,
  demoCommands,
  demoEnv,
  exportDemo,
  IMAGE,
  instanceVars,
  ownVars,
  readEnvironmentFile,
  removeTempDirs,
  tempDir,
  tsforeman,
  which,
} from './helpers.js';
import { readComposeEnvFile, validCompose, validKubernetesObjects } from './validators.js';

/**
 * The real tools read what `tsforeman export` writes and get back exactly the demo's values:
 * systemd's own unit loader, supervisord's config parser, an XML/plist parser, runit's chpst
 * running the run script, and a YAML parser for the container formats.
 */

/** The parts of an exported Kubernetes object that the tests read. */
interface KubernetesObject {
  kind: string;
  metadata: { name: string };
  stringData?: Record<string, string>;
  spec: {
    replicas?: number;
    strategy?: unknown;
    selector: { matchLabels?: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: { terminationGracePeriodSeconds: number; securityContext: unknown; containers: KubernetesContainer[] };
    };
    ports?: unknown[];
  };
}

interface KubernetesContainer {
  image: string;
  workingDir: string;
  command: string[];
  envFrom: unknown[];
  env: { name: string; value: string }[];
  ports?: unknown[];
  readinessProbe?: { tcpSocket: unknown };
  livenessProbe?: { tcpSocket: unknown };
  lifecycle?: unknown;
}

/** The parts of an exported compose file that the tests read. */
interface ComposeFile {
  services: Record<string, {
    image: string;
    deploy: { replicas: number };
    user: string;
    entrypoint: string[];
    environment: Record<string, string>;
    env_file: string[];
    stop_grace_period: string;
    restart: string;
    ports?: string[];
  }>;
}
describe('tsforeman export: the real tools accept the output', function () {
  afterEach(removeTempDirs);

  const run = (file: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env, cwd?: string) =>
    spawnSync(file, args, { encoding: 'utf8', env, cwd, timeout: 30_000 });

  it('systemd-analyze verify accepts the units and loads the exact environment and command', function () {
    const analyze = which('systemd-analyze');
    if (analyze === undefined) this.skip(); // Debian package: systemd
    const logs = tempDir();
    const out = exportDemo('systemd', ['-m', 'web=2,worker=1,clock=0', '-u', 'daemon', '-t', '8', '-l', logs]);
    const units = readdirSync(out).map((name) => join(out, name));
    expect(units.map((unit) => unit.slice(out.length + 1)).sort()).to.deep.equal(
      ['demo-web.1.service', 'demo-web.2.service', 'demo-worker.1.service', 'demo.env', 'demo.target'],
    );
    // The env files' values are in demo.env (0600), read by systemd as the units' EnvironmentFile=.
    expect(statSync(join(out, 'demo.env')).mode & 0o777).to.equal(0o600);
    expect(readEnvironmentFile(join(out, 'demo.env'))).to.deep.equal(demoEnv());

    const verify = run(analyze, ['verify', '--man=no', ...units.filter((unit) => !unit.endsWith('.env'))]);
    expect(verify.status, verify.stderr).to.equal(0);
    expect(verify.stderr.split('\n').filter((line) => line.includes(out)), 'warnings about the units').to.deep.equal([]);

    const commands = demoCommands();
    for (const instance of DEMO_INSTANCES) {
      // At debug level, verify prints the unit as systemd loaded it.
      const dumped = run(analyze, ['verify', '--man=no', join(out, `${instance.id}.service`)], {
        ...process.env,
        SYSTEMD_LOG_LEVEL: 'debug',
      });
      const dump = dumped.stdout + dumped.stderr;
      const setting = (name: string) => [...dump.matchAll(new RegExp(`^\\s+${name}: (.*)$`, 'gm'))].map((m) => m[1]);
      const environment = Object.fromEntries(setting('Environment').map((pair) => {
        const eq = pair!.indexOf('=');
        return [pair!.slice(0, eq), pair!.slice(eq + 1)];
      }));
      expect(environment).to.deep.equal(ownVars(instance.port, instance.ps));
      expect(setting('EnvironmentFile')).to.deep.equal([`${join(out, 'demo.env')}`]);
      expect({ ...readEnvironmentFile(join(out, 'demo.env')), ...environment }).to.deep.equal(instanceVars(instance.port, instance.ps));
      expect(setting('WorkingDirectory')).to.deep.equal([DEMO]);
      expect(setting('User')).to.deep.equal(['daemon']);
      expect(setting('KillMode')).to.deep.equal(['mixed']);
      expect(setting('TimeoutStopSec')).to.deep.equal(['8s']);
      expect(setting('Restart')).to.deep.equal(['always']);
      expect(setting('StandardOutputFileToAppend')).to.deep.equal([`${logs}/${instance.ps}.log`]);

      // The command line is shown shell-quoted; a shell turns it back into argv. systemd itself
      // turns `$$` into `$` when it starts the process.
      const [commandLine] = setting('Command Line');
      const argv = run('/bin/sh', ['-c', 'eval "set -- $1"; printf "%s\\0" "$@"', 'sh', commandLine!]).stdout.split('\0').slice(0, -1);
      expect(argv.slice(0, 2)).to.deep.equal(['/bin/sh', '-c']);
      expect(argv[2]!.replaceAll('$$', '$')).to.equal(commands[instance.type]);
    }

    const target = readFileSync(join(out, 'demo.target'), 'utf8');
    expect(target).to.match(/^Wants=demo-web\.1\.service demo-web\.2\.service demo-worker\.1\.service$/m);
  });

  it("supervisord's own config parser reads the exact commands, environment and settings", function () {
    const supervisord = which('supervisord');
    if (supervisord === undefined) this.skip(); // Debian package: supervisor
    // Use the Python that supervisord itself runs with, which has the supervisor package.
    const python = readFileSync(supervisord, 'utf8').split('\n')[0]!.replace(/^#!\s*/, '').split(' ')[0]!;
    const logs = tempDir();
    const out = exportDemo('supervisord', ['-m', 'web=2,worker=1,clock=0', '-u', 'daemon', '-t', '8', '-l', logs]);
    writeFileSync(join(out, 'main.conf'), [
      '[supervisord]',
      `logfile=${join(out, 'supervisord.log')}`,
      `pidfile=${join(out, 'supervisord.pid')}`,
      '[include]',
      'files=demo.conf',
      '',
    ].join('\n'));
    const script = `
import json, shlex, sys
from supervisor.options import ServerOptions
options = ServerOptions()
options.realize(['-c', sys.argv[1]])
groups = []
for group in options.process_group_configs:
    programs = [dict(name=p.name, argv=shlex.split(p.command), environment=p.environment, directory=p.directory,
                     uid=p.uid, stopwaitsecs=p.stopwaitsecs, stopasgroup=p.stopasgroup, killasgroup=p.killasgroup,
                     logfile=p.stdout_logfile, autorestart=str(p.autorestart)) for p in group.process_configs]
    groups.append(dict(name=group.name, programs=programs))
print(json.dumps(groups))
`;
    const parsed = run(python, ['-c', script, join(out, 'main.conf')]);
    expect(parsed.status, parsed.stderr + parsed.stdout).to.equal(0);
    const groups = JSON.parse(parsed.stdout) as {
      name: string;
      programs: {
        name: string; argv: string[]; environment: Record<string, string>; directory: string; uid: number;
        stopwaitsecs: number; stopasgroup: boolean; killasgroup: boolean; logfile: string; autorestart: string;
      }[];
    }[];
    expect(groups.map((group) => group.name)).to.deep.equal(['demo']);
    const programs = groups[0]!.programs;
    expect(programs.map((program) => program.name)).to.deep.equal(DEMO_INSTANCES.map((instance) => instance.id));

    const commands = demoCommands();
    const daemonUid = Number(run('id', ['-u', 'daemon']).stdout.trim());
    DEMO_INSTANCES.forEach((instance, index) => {
      const program = programs[index]!;
      // Values supervisord's environment= cannot hold are passed by /usr/bin/env on the command line.
      const argv = [...program.argv];
      const environment = { ...program.environment };
      if (argv[0] === '/usr/bin/env') {
        argv.shift();
        while (argv[0].includes('=')) {
          const pair = argv.shift()!;
          environment[pair.slice(0, pair.indexOf('='))] = pair.slice(pair.indexOf('=') + 1);
        }
      }
      expect(argv).to.deep.equal(['/bin/sh', '-c', commands[instance.type]]);
      expect(environment).to.deep.equal(instanceVars(instance.port, instance.ps));
      expect(program.directory).to.equal(DEMO);
      expect(program.uid).to.equal(daemonUid);
      expect(program.stopwaitsecs).to.equal(8);
      expect(program.stopasgroup && program.killasgroup).to.equal(true);
      expect(program.logfile).to.equal(`${logs}/${instance.ps}.log`);
    });
  });

  it('launchd plists are well-formed XML and a plist parser reads the exact values', function () {
    const xmllint = which('xmllint');
    const python = which('python3');
    if (xmllint === undefined && python === undefined) this.skip(); // Debian packages: libxml2-utils, python3
    const out = exportDemo('launchd');
    const plists = DEMO_INSTANCES.map((instance) => join(out, `${instance.id}.plist`));
    expect(readdirSync(out).sort()).to.deep.equal(DEMO_INSTANCES.map((instance) => `${instance.id}.plist`));
    if (xmllint !== undefined) {
      const lint = run(xmllint, ['--noout', ...plists]);
      expect(lint.status, lint.stderr).to.equal(0);
      expect(lint.stderr).to.equal('');
    }
    if (python === undefined) return;
    const commands = demoCommands();
    DEMO_INSTANCES.forEach((instance, index) => {
      const read = run(python, ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], "rb"))))', plists[index]!]);
      expect(read.status, read.stderr).to.equal(0);
      expect(JSON.parse(read.stdout)).to.deep.equal({
        Label: instance.id,
        ProgramArguments: ['/bin/sh', '-c', commands[instance.type]],
        WorkingDirectory: DEMO,
        UserName: 'app',
        EnvironmentVariables: instanceVars(instance.port, instance.ps),
        RunAtLoad: true,
        KeepAlive: true,
        ExitTimeOut: 8,
        StandardOutPath: `/var/log/demo/${instance.ps}.log`,
        StandardErrorPath: `/var/log/demo/${instance.ps}.log`,
      });
    });
  });

  it("runit's run script, started the way runsv starts it, runs the command with the exact environment", function () {
    if (which('chpst') === undefined) this.skip(); // Debian package: runit
    // A copy of the demo whose web command records its working directory and environment.
    const app = tempDir();
    copyFileSync(join(DEMO, '.env'), join(app, '.env'));
    writeFileSync(join(app, 'dump.cjs'), "require('fs').writeFileSync('seen.json', JSON.stringify({ cwd: process.cwd(), env: process.env }));\n");
    writeFileSync(join(app, 'Procfile'), `web: "${process.execPath}" dump.cjs\n`);
    const out = tempDir();
    const exported = tsforeman(['export', 'runit', out, '-a', 'demo', '-l', join(app, 'logs')], app);
    expect(exported.code, exported.stderr).to.equal(0);

    const service = join(out, 'demo-web.1');
    for (const script of ['run', 'log/run']) {
      expect(run('/bin/sh', ['-n', join(service, script)]).status, `sh -n ${script}`).to.equal(0);
    }
    const started = run('./run', [], { PATH: process.env.PATH }, service);
    expect(started.status, started.stdout + started.stderr).to.equal(0);
    const seen = JSON.parse(readFileSync(join(app, 'seen.json'), 'utf8')) as { cwd: string; env: Record<string, string> };
    expect(seen.cwd).to.equal(app);
    const expected = { ...demoEnv(), PORT: '5000', PS: 'web.1', DYNO: 'web.1' };
    const relevant = Object.fromEntries(Object.keys(expected).map((key) => [key, seen.env[key]]));
    expect(relevant).to.deep.equal(expected);
  });

  it('kubernetes: a Secret file, a Deployment per type and a Service for web, each valid against the API schemas', async () => {
    const out = exportDemo('kubernetes');
    expect(readdirSync(out).sort()).to.deep.equal(['demo-env.secret.yaml', 'demo.kubernetes.yaml']);
    expect(statSync(join(out, 'demo-env.secret.yaml')).mode & 0o777).to.equal(0o600);
    const [secret] = await validKubernetesObjects(readFileSync(join(out, 'demo-env.secret.yaml'), 'utf8')) as [KubernetesObject];
    expect(`${secret.kind}/${secret.metadata.name}`).to.equal('Secret/demo-env');
    expect(secret.stringData).to.deep.equal(demoEnv());
    const objects = await validKubernetesObjects(readFileSync(join(out, 'demo.kubernetes.yaml'), 'utf8')) as KubernetesObject[];
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).to.deep.equal([
      'Deployment/demo-web', 'Deployment/demo-worker', 'Deployment/demo-clock', 'Service/demo-web',
    ]);
    const [web, worker, clock, service] = objects as [KubernetesObject, KubernetesObject, KubernetesObject, KubernetesObject];
    expect([web.spec.replicas, worker.spec.replicas, clock.spec.replicas]).to.deep.equal([2, 1, 0]);

    const commands = demoCommands();
    for (const [deployment, type, port, grace] of [[web, 'web', 5000, 18], [worker, 'worker', 5100, 8], [clock, 'clock', 5200, 8]] as const) {
      const pod = deployment.spec.template;
      expect(deployment.spec.selector.matchLabels).to.deep.equal(pod.metadata.labels);
      expect(deployment.spec.strategy).to.deep.equal({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      // -t 8, plus web's 10 s preStop pause.
      expect(pod.spec.terminationGracePeriodSeconds).to.equal(grace);
      expect(pod.spec.securityContext).to.deep.equal({ runAsUser: 1000 });
      const [container] = pod.spec.containers;
      expect(container!.image).to.equal(IMAGE);
      expect(container!.workingDir).to.equal('/app');
      // Kubernetes turns `$$` into `$` in a command.
      expect(container!.command.map((word) => word.replaceAll('$$', '$'))).to.deep.equal(['/bin/sh', '-c', commands[type]]);
      expect(container!.envFrom).to.deep.equal([{ secretRef: { name: 'demo-env' } }]);
      expect(container!.env.slice(0, 3)).to.deep.equal([
        { name: 'PATH', value: '/app/.heroku/node/bin:/app/node_modules/.bin:/app/.heroku/tsforeman/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' },
        { name: 'PORT', value: String(port) },
        { name: 'PS', value: type },
      ]);
    }
    const [webContainer] = web.spec.template.spec.containers;
    expect(webContainer!.ports).to.deep.equal([{ name: 'http', containerPort: 5000 }]);
    // The demo's web is not tsunicorn: nothing answers a health path, so readiness stays a TCP check.
    expect(webContainer!.readinessProbe?.tcpSocket).to.deep.equal({ port: 5000 });
    expect(webContainer!.livenessProbe?.tcpSocket).to.deep.equal({ port: 5000 });
    expect(webContainer!.lifecycle).to.deep.equal({ preStop: { sleep: { seconds: 10 } } });
    const [workerContainer] = worker.spec.template.spec.containers;
    expect(workerContainer).to.not.have.property('readinessProbe');
    expect(workerContainer).to.not.have.property('lifecycle');
    expect(service.spec.selector).to.deep.equal(web.spec.template.metadata.labels);
    expect(service.spec.ports).to.deep.equal([{ name: 'http', port: 80, targetPort: 5000 }]);
  });

  it('compose: valid against the compose-spec schema; a service per type, the env in env_file, web ports', () => {
    const out = exportDemo('compose');
    expect(readdirSync(out).sort()).to.deep.equal(['demo.compose.yaml', 'demo.env']);
    const text = readFileSync(join(out, 'demo.compose.yaml'), 'utf8');
    const compose = validCompose(text) as ComposeFile;
    expect(Object.keys(compose.services)).to.deep.equal(['web', 'worker', 'clock']);
    // compose turns `$$` into `$` when it reads the file.
    const literal = (value: string) => value.replaceAll('$$', '$');
    const commands = demoCommands();
    for (const [type, replicas, port] of [['web', 2, 5000], ['worker', 1, 5100], ['clock', 0, 5200]] as const) {
      const service = compose.services[type]!;
      expect(service.image).to.equal(IMAGE);
      expect(service.deploy.replicas).to.equal(replicas);
      expect(service.user).to.equal('app');
      expect(service.entrypoint.map(literal)).to.deep.equal(['/bin/sh', '-c', commands[type]]);
      expect(service.env_file).to.deep.equal(['demo.env']);
      expect(service.stop_grace_period).to.equal('8s');
      expect(service.restart).to.equal('always');
      const environment = Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, literal(v)]));
      expect(Object.keys(environment)).to.deep.equal(['PATH', 'PORT', 'PS']);
      expect(environment.PORT).to.equal(String(port));
    }
    for (const value of Object.values(demoEnv()).filter((v) => v.length > 3)) expect(text).to.not.include(value);
    expect(statSync(join(out, 'demo.env')).mode & 0o777).to.equal(0o600);
    expect(readComposeEnvFile(join(out, 'demo.env'))).to.deep.equal(demoEnv());
    expect(compose.services.web!.ports).to.deep.equal(['5000-5001:5000']);
    expect(compose.services.worker).to.not.have.property('ports');
  });
});
