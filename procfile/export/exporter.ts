import type { EnvMap } from '../env.js';
import type { ProcessInstance } from '../formation.js';
import type { ProcfileEntry } from '../procfile.js';
import type { TemplateSet } from './template.js';

/** One process type with its instance count and the port of its first instance. */
export interface ProcessType {
  entry: ProcfileEntry;
  count: number;
  port: number;
}

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

/** The variables of one instance: the env files', then its PORT, PS and DYNO. */
export function instanceEnv(plan: ExportPlan, instance: ProcessInstance): [string, string][] {
  return envWithOwn(plan, { PORT: String(instance.port), PS: instance.name, DYNO: instance.name });
}

/** Timeout in whole seconds, rounded up (formats that count in seconds). */
export function timeoutSeconds(plan: ExportPlan): number {
  return Math.ceil(plan.timeoutMs / 1000);
}

/** Timeout as a duration: `8s`, or `1500ms` when it is not whole seconds (systemd, compose). */
export function timeoutSpan(plan: ExportPlan): string {
  return plan.timeoutMs % 1000 === 0 ? `${plan.timeoutMs / 1000}s` : `${plan.timeoutMs}ms`;
}
