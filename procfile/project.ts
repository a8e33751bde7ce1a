import { existsSync, statSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { envFilesFor, loadEnvFiles, type EnvMap, type EnvReading } from './env.js';
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
  /**
   * An env variable no process can receive: an error when true or unset (check, and commands that
   * did not opt in), a warning and skipped when false (`start` and `run` without `--strict-env`).
   */
  strictEnv?: boolean;
}

/** Where the Procfile and the root are: found once per command (see `locateProject`). */
export interface ProjectLocation {
  procfileFile: string;
  root: string;
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
export function locateProject(options: ProjectOptions, cwd: string): ProjectLocation {
  const explicitRoot = options.root === undefined ? undefined : resolve(cwd, options.root);
  const procfileFile = options.procfile
    ? resolve(cwd, options.procfile)
    : resolve(explicitRoot ?? cwd, 'Procfile');
  const root = explicitRoot ?? dirname(procfileFile);
  if (!existsSync(root)) throw new UserError(`root directory not found: ${root} (check -d/--root)`);
  if (!statSync(root).isDirectory()) throw new UserError(`root is not a directory: ${root} (check -d/--root)`);
  return { procfileFile, root };
}

/**
 * Reads the Procfile and env files named by the options. `location`, when given, is where an
 * earlier call found them (a running `start` re-reads the same files, wherever the current folder is).
 * `reading` says how strict env files are read (default: as `options.strictEnv` says, warnings on stderr).
 */
export function loadProject(
  options: ProjectOptions,
  inherited: NodeJS.ProcessEnv,
  cwd = process.cwd(),
  location: ProjectLocation = locateProject(options, cwd),
  reading: EnvReading = { strict: options.strictEnv !== false },
): Project {
  const { procfileFile, root } = location;
  const procfile = readProcfile(procfileFile, shownPath(procfileFile, cwd));
  return { procfileFile, procfile, root, ...readEnvironmentFiles(options, root, cwd, reading), inherited: cleanEnv(inherited) };
}

/** The env files named by `-e` (or ROOT/.env) and what they set; names are as messages show them. */
export function readEnvironmentFiles(
  options: ProjectOptions,
  root: string,
  cwd: string,
  reading: EnvReading = { strict: options.strictEnv !== false },
): { envFiles: string[]; fileEnv: EnvMap } {
  // As typed with -e; the default ROOT/.env relative to the current folder when under it (`.env:2`).
  const envFiles = envFilesFor(options.env ?? [], root).map((file) => shownPath(resolve(cwd, file), cwd));
  return { envFiles, fileEnv: loadEnvFiles(envFiles, reading) };
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
