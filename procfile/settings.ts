import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { envFilesFor, loadEnvFiles, type EnvMap } from './env.js';
import { UserError } from './errors.js';
import { checkProcessTypes, parsePort } from './formation.js';
import { hasProfileScripts, loadProfileEnv } from './profile.js';
import { readProcfile, type Procfile } from './procfile.js';

/**
 * The options every command that reads a project shares (`-f`, `-d`, `-e`), and what they resolve to.
 * Commands add them with `addProjectOptions(command)` and turn the parsed values into a `Project`
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

export const DEFAULT_PORT = 5000;

/** Commander parser for repeatable flags (no default, so --help shows none). */
export function collectRepeated(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function addProjectOptions(command: Command): Command {
  return command
    .option('-f, --procfile <file>', 'the Procfile (default: ./Procfile, or ROOT/Procfile with -d)')
    .option('-d, --root <dir>', "working directory of every process (default: the Procfile's folder)")
    .option(
      '-e, --env <files>',
      'env files, comma separated or repeated; later files win (default: ROOT/.env if it exists)',
      collectRepeated,
    );
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
  const envFiles = envFilesFor(options.env ?? [], root);
  return { procfileFile, procfile, root, envFiles, fileEnv: loadEnvFiles(envFiles), inherited: cleanEnv(inherited) };
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

/** The base port: `-p`, else `PORT` from the env files, else the inherited `PORT`, else 5000. */
export function basePortFor(flag: string | undefined, fileEnv: EnvMap, inherited: EnvMap): number {
  if (flag !== undefined) return parsePort(flag, '-p/--port');
  if (fileEnv.PORT !== undefined) return parsePort(fileEnv.PORT, 'PORT in the env files');
  if (inherited.PORT !== undefined && inherited.PORT !== '') return parsePort(inherited.PORT, 'PORT in the environment');
  return DEFAULT_PORT;
}

/** Parses `-t/--timeout` (seconds, decimals allowed) into milliseconds. */
export function parseTimeout(value: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new UserError(`-t/--timeout: expected a number of seconds, got ${JSON.stringify(value)}`);
  }
  return Math.round(seconds * 1000);
}

/** Splits `TYPE[,TYPE]` lists (repeatable flags) and checks every name is a Procfile type. */
export function parseTypeList(values: readonly string[] | undefined, procfile: Procfile, flag: string): string[] {
  const names = (values ?? []).flatMap((value) => value.split(',')).map((name) => name.trim()).filter((name) => name !== '');
  checkProcessTypes(names, procfile, `${flag}: `);
  return names;
}

/**
 * The environment every process starts from: the inherited one, the env files over it (foreman and
 * honcho do the same), then, as on a dyno, whatever ROOT/.profile.d/*.sh make of it. The scripts run
 * once, seeing PORT = the base port; each process then gets its own PORT, PS and DYNO on top.
 * `profile`: true requires .profile.d, false skips it, undefined uses it when it exists.
 */
export async function processEnvironment(
  root: string,
  inherited: EnvMap,
  fileEnv: EnvMap,
  profile: boolean | undefined,
  basePort: number,
): Promise<EnvMap> {
  const env: EnvMap = { ...inherited, ...fileEnv };
  const present = hasProfileScripts(root);
  if (profile === true && !present) throw new UserError(`--profile: no .profile.d folder in ${root}`);
  if (profile === false || !present) return withPackageBin(env);
  return withPackageBin(await loadProfileEnv(root, { ...env, PORT: String(basePort) }));
}

/**
 * This package's own `bin/` folder (tsforeman, tsunicorn), found by walking up from this file, so it
 * works from dist/ and from the sources alike.
 */
const PACKAGE_BIN = ((): string | undefined => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'bin', 'tsunicorn')) && existsSync(join(dir, 'package.json'))) return join(dir, 'bin');
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
})();

/**
 * `web: tsunicorn app.js` works wherever tsforeman runs (a global install, npx, this repo): the
 * package's bin folder goes at the END of PATH, so a tsunicorn the app installs itself still wins.
 */
function withPackageBin(env: EnvMap): EnvMap {
  if (PACKAGE_BIN === undefined) return env;
  const entries = (env.PATH ?? '').split(delimiter).filter((entry) => entry !== '');
  if (entries.includes(PACKAGE_BIN)) return env;
  return { ...env, PATH: [...entries, PACKAGE_BIN].join(delimiter) };
}

/** Adds `--profile` / `--no-profile` (sourcing ROOT/.profile.d/*.sh, as a dyno does at boot). */
export function addProfileOptions(command: Command): Command {
  return command
    .option('--profile', 'source ROOT/.profile.d/*.sh into the environment (default: when that folder exists)')
    .option('--no-profile', 'do not source ROOT/.profile.d/*.sh');
}
