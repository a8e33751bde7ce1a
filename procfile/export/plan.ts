import { basename, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { checkFormation, countFor, expandInstances, parseFormation } from '../formation.js';
import { basePortFor, parseTimeout } from '../options.js';
import { loadProject, type ProjectOptions } from '../project.js';
import type { ExportPlan, Exporter } from './exporter.js';
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
}

const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/**
 * Turns the command line into a validated plan: every mistake a user can make (unknown format,
 * missing --image, bad names, bad formation) is reported here, before anything is written.
 */
export function planExport(
  format: string,
  options: ExportOptions,
  inherited: NodeJS.ProcessEnv,
  cwd: string,
): { exporter: Exporter; plan: ExportPlan; templates: TemplateSet } {
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
  if (!exporter.usesLogDir && options.log !== undefined) {
    throw new UserError(`-l/--log is not used by ${format}: containers log to their stdout`);
  }

  const project = loadProject(options, inherited, cwd);
  const app = options.app === undefined ? appNameFromFolder(project.root) : checkedName(options.app, APP_NAME, '-a/--app');
  const user = options.user === undefined ? undefined : checkedName(options.user, USER_NAME, '-u/--user');

  const formation = parseFormation(options.formation ?? []);
  checkFormation(formation, project.procfile);
  const basePort = basePortFor(options.port, project.fileEnv, project.inherited);

  const plan: ExportPlan = {
    format,
    app,
    root: project.root,
    types: project.procfile.entries.map((entry, index) => ({
      entry,
      count: countFor(formation, entry.name),
      port: basePort + 100 * index,
    })),
    instances: expandInstances(project.procfile, formation, basePort),
    env: project.fileEnv,
    user,
    logDir: options.log === undefined ? undefined : resolve(cwd, options.log),
    timeoutMs: parseTimeout(options.timeout),
    image: options.image,
  };
  const templates = new TemplateSet(format, exporter.templates, options.template && resolve(cwd, options.template));
  return { exporter, plan, templates };
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
