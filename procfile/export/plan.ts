import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, posix, resolve } from 'node:path';
import type { BindAddress } from '../../runtime/settings.js';
import type { EnvMap } from '../env.js';
import { UserError } from '../errors.js';
import { checkFormation, countFor, expandInstances, parseFormation } from '../formation.js';
import { basePortFor, parseTimeout, parseTypeList } from '../options.js';
import { PACKAGE_BIN } from '../process-environment.js';
import { optionSource } from '../foreman-file.js';
import { loadProject, type ProjectOptions } from '../project.js';
import { describeCommand } from './commands.js';
import { RELEASE, type ExportPlan, type Exporter, type ProcessType } from './exporter.js';
import { EXPORTERS, FORMAT_NAMES } from './formats.js';
import { TemplateSet } from './template.js';

/** The flags of `tsforeman export`, as commander parses them. */
export interface ExportOptions extends ProjectOptions {
  app?: string;
  user?: string;
  log?: string;
  formation?: string[];
  port?: string;
  timeout: string;
  template?: string;
  image?: string;
  imageRoot?: string;
  holdPort?: string[];
}

/** The PATH a service manager starts processes with when the env files set none (systemd's default). */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The app's folder in images built the Heroku way (herokuish, Dokku, heroku/heroku images). */
export const DEFAULT_IMAGE_ROOT = '/app';

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Turns the command line into a validated plan: every mistake a user can make (unknown format,
 * missing --image, bad names, bad formation) is reported here, before anything is written.
 */
export async function planExport(
  format: string,
  options: ExportOptions,
  inherited: NodeJS.ProcessEnv,
  cwd: string,
  outDir: string,
): Promise<{ exporter: Exporter; plan: ExportPlan; templates: TemplateSet }> {
  const exporter = EXPORTERS.get(format);
  if (exporter === undefined) {
    throw new UserError(`unknown export format "${format}" (formats: ${FORMAT_NAMES.join(', ')})`);
  }
  if (exporter.needsImage && (options.image === undefined || options.image.trim() === '')) {
    throw new UserError(`${format} export needs the container image that holds the app: add --image NAME (e.g. --image registry.example.com/app:1.0)`);
  }
  if (!exporter.needsImage && options.image !== undefined) {
    throw new UserError(`--image is only used by the container formats (kubernetes, compose), not ${format}`);
  }
  if (!exporter.needsImage && options.imageRoot !== undefined) {
    throw new UserError(`--image-root is only used by the container formats (kubernetes, compose), not ${format}`);
  }
  const imageRoot = exporter.needsImage ? checkedImageRoot(options.imageRoot ?? DEFAULT_IMAGE_ROOT) : undefined;
  if (options.holdPort !== undefined && format !== 'systemd') {
    throw new UserError(`--hold-port is only used by systemd (a .socket unit per instance), not ${format}`);
  }
  if (!exporter.usesLogDir && options.log !== undefined) {
    throw new UserError(`-l/--log is not used by ${format}: containers log to their stdout`);
  }

  const project = loadProject(options, inherited, cwd);
  const app = options.app === undefined ? appNameFromFolder(project.root) : checkedName(options.app, APP_NAME, '-a/--app');
  const user = options.user === undefined ? undefined : checkedName(options.user, USER_NAME, '-u/--user');

  const fromFile = optionSource(options, 'formation', '');
  const formationLead = fromFile === '' ? '' : `${fromFile}: `;
  const formation = parseFormation(options.formation ?? [], formationLead);
  checkFormation(formation, project.procfile, formationLead);
  const basePort = basePortFor(options.port, project.fileEnv, project.inherited, optionSource(options, 'port', '-p/--port'));
  const timeoutMs = parseTimeout(options.timeout, optionSource(options, 'timeout', '-t/--timeout'));
  const timeout = Math.ceil(timeoutMs / 1000);
  const fileEnv = project.fileEnv;

  const types: ProcessType[] = [];
  for (const [index, entry] of project.procfile.entries.entries()) {
    const port = basePort + 100 * index;
    const facts = await describeCommand(entry.name, entry.command, fileEnv, project.root, { PORT: String(port), PS: entry.name }, timeout);
    types.push({ entry, count: countFor(formation, entry.name), port, facts });
  }
  const instances = expandInstances(project.procfile, formation, basePort);

  const held = parseTypeList(options.holdPort, project.procfile, '--hold-port');
  const heldBinds = new Map<string, BindAddress[]>();
  for (const name of held) {
    const type = types.find((candidate) => candidate.entry.name === name);
    if (name === RELEASE) throw new UserError('--hold-port release: release runs once per deploy and serves no port');
    if (type !== undefined && !type.facts.execs) {
      throw new UserError(
        `--hold-port ${name}: "${type.entry.command}" is not one program, so /bin/sh would keep the socket's LISTEN_PID: make it a single command`,
      );
    }
    if (type !== undefined && !type.facts.tsunicorn) {
      process.stderr.write(`warning: --hold-port ${name}: "${type.entry.command}" is not tsunicorn; it must take its socket from LISTEN_FDS (systemd socket activation), or it fails with EADDRINUSE\n`);
    }
    for (const instance of instances.filter((candidate) => candidate.entry.name === name)) {
      const own = { PORT: String(instance.port), PS: instance.name, DYNO: instance.name };
      const facts = await describeCommand(name, instance.entry.command, fileEnv, project.root, own, timeout);
      heldBinds.set(instance.name, facts.tsunicorn ? facts.binds : [{ kind: 'tcp', host: '0.0.0.0', port: instance.port, text: `0.0.0.0:${instance.port}` }]);
    }
  }

  const plan: ExportPlan = {
    format,
    app,
    root: project.root,
    types,
    instances,
    env: fileEnv,
    path: imageRoot === undefined ? hostPath(project.root, fileEnv) : imagePath(imageRoot, fileEnv),
    outDir: resolve(cwd, outDir),
    imageRoot,
    heldBinds,
    user,
    logDir: options.log === undefined ? undefined : resolve(cwd, options.log),
    timeoutMs,
    image: options.image,
  };
  const templates = new TemplateSet(format, exporter.templates, options.template && resolve(cwd, options.template));
  return { exporter, plan, templates };
}

/**
 * PATH on the host: what `tsforeman start` finds (a slug's `.profile.d` PATH, node_modules/.bin, its
 * own bin/, the node running it), as absolute folders, then the env files' PATH or the system's.
 * A slug's `.heroku/node/bin` comes first, as its .profile.d puts it.
 */
export function hostPath(root: string, fileEnv: EnvMap): string {
  const heroku = join(root, '.heroku');
  const slugBins = existsSync(heroku) && statSync(heroku).isDirectory()
    ? readdirSync(heroku).sort().map((name) => join(heroku, name, 'bin')).filter((dir) => existsSync(dir) && statSync(dir).isDirectory())
    : [];
  const nodeFirst = slugBins.filter((dir) => dir === join(heroku, 'node', 'bin'));
  const entries = [
    ...nodeFirst,
    join(root, 'node_modules', '.bin'),
    ...slugBins.filter((dir) => !nodeFirst.includes(dir)),
    ...(PACKAGE_BIN === undefined ? [] : [PACKAGE_BIN]),
    dirname(process.execPath),
    ...(fileEnv.PATH ?? SYSTEM_PATH).split(':'),
  ];
  return [...new Set(entries.filter((entry) => entry !== ''))].join(':');
}

/**
 * PATH in a container: the folders a Heroku-built image has under the app folder (its node, the
 * app's node_modules/.bin, the buildpack's tsforeman), then the env files' PATH or the system's.
 */
export function imagePath(imageRoot: string, fileEnv: EnvMap): string {
  const entries = [
    posix.join(imageRoot, '.heroku', 'node', 'bin'),
    posix.join(imageRoot, 'node_modules', '.bin'),
    posix.join(imageRoot, '.heroku', 'tsforeman', 'bin'),
    ...(fileEnv.PATH ?? SYSTEM_PATH).split(':'),
  ];
  return [...new Set(entries.filter((entry) => entry !== ''))].join(':');
}

function checkedImageRoot(value: string): string {
  if (!isAbsolute(value) || !value.startsWith('/') || /[\s:$"'\\]/.test(value)) {
    throw new UserError(`--image-root: "${value}" is not an absolute folder of the image (e.g. /app, /workspace)`);
  }
  return posix.normalize(value);
}

/**
 * Every format uses the app name in file, unit and program names, so it is kept to a safe set;
 * `--` is excluded because XML comments (launchd's marker) cannot hold it.
 */
function checkedName(value: string, pattern: RegExp, flag: string): string {
  if (!pattern.test(value) || value.includes('--')) {
    throw new UserError(`${flag}: "${value}" is not a usable name (letters, digits, ".", "_" and single "-")`);
  }
  return value;
}

/** The default app name: the root folder's name, with anything unusable turned into `-`. */
export function appNameFromFolder(root: string): string {
  const name = basename(root).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-{2,}/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return name === '' ? 'app' : name;
}
