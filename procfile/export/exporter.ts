import type { EnvMap } from '../env.js';
import type { ProcessInstance } from '../formation.js';
import type { ProcfileEntry } from '../procfile.js';
import type { BindAddress } from '../../runtime/settings.js';
import type { CommandFacts } from './commands.js';
import type { TemplateSet } from './template.js';

/** One process type with its instance count, the port of its first instance and what its command is. */
export interface ProcessType {
  entry: ProcfileEntry;
  count: number;
  port: number;
  facts: CommandFacts;
}

/**
 * The process type Heroku runs once per deploy, before the new processes start (migrations):
 * exported as a one-shot unit the others wait for, never as a service that is restarted.
 */
export const RELEASE = 'release';
/** The process type that gets HTTP traffic (a Service, probes, published ports). */
export const WEB = 'web';

/**
 * Everything an exporter needs, resolved and validated by the CLI: absolute paths, the
 * instances of the formation, the env files' variables. Exporters only turn it into text.
 */
export interface ExportPlan {
  format: string;
  app: string;
  /** Absolute working directory of the processes. */
  root: string;
  types: ProcessType[];
  /** Instances to run (types with a count of 0 have none), in Procfile order. */
  instances: ProcessInstance[];
  /** Variables from the env files (not the exporting shell's environment). */
  env: EnvMap;
  /**
   * PATH of every process: the app's node_modules/.bin, a slug's .heroku/*\/bin, the exporting
   * tsforeman's bin/ and the node running it, then the env files' PATH or the system's (host formats);
   * the same folders under the image's app folder (container formats).
   */
  path: string;
  /** Absolute folder the files are written to (systemd's EnvironmentFile= names it). */
  outDir: string;
  /** Container formats: the app's folder inside the image (working directory and PATH). */
  imageRoot?: string;
  /** Types whose instances' ports the supervisor holds (systemd .socket units), with each instance's addresses. */
  heldBinds: ReadonlyMap<string, BindAddress[]>;
  user?: string;
  /** Absolute log folder, when given with -l. */
  logDir?: string;
  timeoutMs: number;
  image?: string;
}

/** A file to write, relative to the export folder. */
export interface ExportFile {
  path: string;
  content: string;
  /** Unix mode; 0o644 unless the file is a script. */
  mode: number;
}

export interface ExportOutput {
  files: ExportFile[];
  /** Folders (relative) whose old contents are removed before writing, e.g. runit's env/. */
  replaceDirs: string[];
}

/**
 * One export format: its built-in templates, how it renders a plan, and which entries of an
 * export folder may be this app's earlier output (so re-exporting can remove stale ones).
 */
export interface Exporter {
  format: string;
  summary: string;
  templates: Readonly<Record<string, string>>;
  /** Whether `--image` is needed (container formats) and whether `-l/--log` means anything. */
  needsImage: boolean;
  usesLogDir: boolean;
  render(plan: ExportPlan, templates: TemplateSet): ExportOutput;
  /**
   * For a top-level entry of the export folder that follows this format's naming for `app`,
   * the relative path of the file that would carry the app's marker; otherwise undefined.
   */
  markerFileFor(entry: string, app: string): string | undefined;
}

/**
 * The text every exported file carries (inside the format's comment syntax) so a later export
 * recognises its own files: `tsforeman export (app demo)`.
 */
export function ownerMarker(app: string): string {
  return `tsforeman export (app ${app})`;
}

export function headerText(app: string): string {
  return `Written by ${ownerMarker(app)}; re-exporting replaces this file.`;
}

/** `demo-web.1`: the name of one instance's unit, program, plist or service folder. */
export function instanceId(app: string, instance: ProcessInstance): string {
  return `${app}-${instance.name}`;
}

/** The env files' variables with `own` (PORT, PS, ...) on top: these win over the files and come last. */
export function envWithOwn(plan: ExportPlan, own: Readonly<Record<string, string>>): [string, string][] {
  const fromFiles = Object.entries(plan.env).filter(([key]) => !(key in own));
  return [...fromFiles, ...Object.entries(own)];
}

/** The variables of one instance: the env files', then its PATH, PORT, PS and DYNO. */
export function instanceEnv(plan: ExportPlan, instance: ProcessInstance): [string, string][] {
  return envWithOwn(plan, ownEnv(plan, instance));
}

/** What tsforeman sets for one instance (not secret, so it may stand in a unit file): PATH, PORT, PS, DYNO. */
export function ownEnv(plan: ExportPlan, instance: ProcessInstance): Record<string, string> {
  return { PATH: plan.path, PORT: String(instance.port), PS: instance.name, DYNO: instance.name };
}

/** Names tsforeman sets itself for each instance (`ownEnv`); the env files' PATH is part of `plan.path`. */
const OWN_NAMES = new Set(['PATH', 'PORT', 'PS', 'DYNO']);

/**
 * The env files' variables less the ones tsforeman sets per instance: what goes in a secret file
 * (systemd's EnvironmentFile= would override Environment=, so an env file's PORT must not be there).
 */
export function secretEnv(plan: ExportPlan): [string, string][] {
  return Object.entries(plan.env).filter(([key]) => !OWN_NAMES.has(key));
}

/** The type of an instance. */
export function typeOf(plan: ExportPlan, instance: ProcessInstance): ProcessType {
  const type = plan.types.find((candidate) => candidate.entry.name === instance.entry.name);
  if (type === undefined) throw new Error(`no process type ${instance.entry.name}`);
  return type;
}

/** `-t` in whole seconds, rounded up. */
export function timeoutSeconds(plan: ExportPlan): number {
  return Math.ceil(plan.timeoutMs / 1000);
}
