import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { envFilesFor, loadEnvFiles, type EnvMap } from './env.js';
import { UserError } from './errors.js';
import { readProcfile, type Procfile } from './procfile.js';

/**
 * Where a project is and what it holds: the Procfile, the root every process runs in, the env files.
 * Commands take `-f`, `-d`, `-e` (see `PROJECT_FLAGS`) and turn the parsed values into a `Project`
 * with `loadProject(options, process.env)`; nothing below the CLI reads argv or the environment.
 */
export interface ProjectOptions {
  procfile?: string;
  root?: string;
  env?: string[];
}

export interface Project {
  /** Absolute path of the Procfile. */
  procfileFile: string;
  procfile: Procfile;
  /** Absolute working directory of every process. */
  root: string;
  envFiles: string[];
  /** Variables from the env files (later files win). */
  fileEnv: EnvMap;
  /** The manager's own environment, as given by the CLI. */
  inherited: EnvMap;
}

/** Where the Procfile and root are, before reading anything. */
export function locateProject(options: ProjectOptions, cwd: string): { procfileFile: string; root: string } {
  const explicitRoot = options.root === undefined ? undefined : resolve(cwd, options.root);
  const procfileFile = options.procfile
    ? resolve(cwd, options.procfile)
    : resolve(explicitRoot ?? cwd, 'Procfile');
  const root = explicitRoot ?? dirname(procfileFile);
  if (!existsSync(root)) throw new UserError(`root directory not found: ${root} (check -d/--root)`);
  if (!statSync(root).isDirectory()) throw new UserError(`root is not a directory: ${root} (check -d/--root)`);
  return { procfileFile, root };
}

/** Reads the Procfile and env files named by the options. */
export function loadProject(options: ProjectOptions, inherited: NodeJS.ProcessEnv, cwd = process.cwd()): Project {
  const { procfileFile, root } = locateProject(options, cwd);
  const procfile = readProcfile(procfileFile, shownPath(procfileFile, cwd));
  // As typed with -e; the default ROOT/.env relative to the current folder when under it (`.env:2`).
  return { procfileFile, procfile, root, ...readEnvironmentFiles(options, root, cwd), inherited: cleanEnv(inherited) };
}

/** The env files named by `-e` (or ROOT/.env) and what they set; names are as messages show them. */
export function readEnvironmentFiles(options: ProjectOptions, root: string, cwd: string): { envFiles: string[]; fileEnv: EnvMap } {
  // As typed with -e; the default ROOT/.env relative to the current folder when under it (`.env:2`).
  const envFiles = envFilesFor(options.env ?? [], root).map((file) => shownPath(resolve(cwd, file), cwd));
  return { envFiles, fileEnv: loadEnvFiles(envFiles) };
}

/** A path as a user would type it: relative when under the current folder. */
export function shownPath(file: string, cwd: string): string {
  const rel = relative(cwd, file);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? file : rel;
}

/** The environment without unset entries. */
export function cleanEnv(env: NodeJS.ProcessEnv): EnvMap {
  const clean: EnvMap = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined) clean[key] = value;
  return clean;
}
