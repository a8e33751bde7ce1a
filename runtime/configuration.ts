/**
 * Resolves the settings from every layer, highest first: command line > TSUNICORN_CMD_ARGS > config file >
 * environment defaults > built-in defaults. Also loads the config file's hooks. Called at start and again
 * at HUP (with a fresh import of the config file).
 *
 *   const { settings, hooks } = await loadConfiguration({ argv, env, cwd });
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { SettingsError, firstLine } from './errors.js';
import {
  findConfigFile,
  mergeSettings,
  parseCommandLine,
  settingsFromConfigObject,
  settingsFromEnvironment,
  splitShellWords,
  type ParsedArgs,
  type Settings,
} from './settings.js';
import { hooksFromConfigObject, type Hooks } from './hooks.js';
import { importModule } from './typescript-loader.js';

export type { ForkingWorkerInfo, Hooks, ServerInfo, WorkerExitInfo, WorkerInfo } from './hooks.js';

export interface ConfigurationSources {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
}

export interface Configuration {
  settings: Settings;
  hooks: Hooks;
  configFile: string | undefined;
  help: boolean;
  version: boolean;
}

let importGeneration = 0;

export async function loadConfiguration(sources: ConfigurationSources): Promise<Configuration> {
  const cli = parseCommandLine(sources.argv, 'command line');
  const envArgsText = sources.env.TSUNICORN_CMD_ARGS;
  const envArgs: ParsedArgs = envArgsText
    ? parseCommandLine(splitShellWords(envArgsText), 'TSUNICORN_CMD_ARGS')
    : { values: {}, help: false, version: false };
  if (cli.help || cli.version) {
    return { settings: mergeSettings(), hooks: {}, configFile: undefined, help: cli.help, version: cli.version };
  }
  const environment = settingsFromEnvironment(sources.env);
  const configFile = findConfigFile(cli.values.config ?? envArgs.values.config, sources.cwd);
  let fromFile: Partial<Settings> = {};
  let hooks: Hooks = {};
  if (configFile) ({ settings: fromFile, hooks } = await importConfigFile(configFile));
  const settings = mergeSettings(environment, fromFile, envArgs.values, cli.values, {
    app: cli.app ?? envArgs.app ?? (fromFile as { app?: string }).app,
    config: configFile,
  });
  return { settings, hooks, configFile, help: false, version: false };
}

/** The hooks of a config file, for a worker (which gets its settings from the master). */
export async function loadConfigHooks(file: string): Promise<Hooks> {
  return (await importConfigFile(file)).hooks;
}

async function importConfigFile(file: string): Promise<{ settings: Partial<Settings>; hooks: Hooks }> {
  let namespace: Record<string, unknown>;
  try {
    // A query string makes every import (start, each HUP) read the file anew.
    const url = pathToFileURL(file);
    url.searchParams.set('generation', String(importGeneration++));
    namespace = await importModule(file, url.href);
  } catch (error) {
    if (error instanceof SettingsError) throw error;
    throw new SettingsError(`${file}: cannot load config: ${firstLine(error)}`);
  }
  const exported = namespace.default;
  const object: Record<string, unknown> =
    exported && typeof exported === 'object' ? { ...(exported as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(namespace)) {
    if (key !== 'default' && key !== 'module.exports' && !(key in object)) object[key] = value;
  }
  const hooks = hooksFromConfigObject(object, (name) => whereInFile(file, name));
  let app: string | undefined;
  if ('app' in object || 'wsgi_app' in object) {
    const value = object.app ?? object.wsgi_app;
    if (typeof value !== 'string') throw new SettingsError(`${file}: app must be a string like "app.js:handler"`);
    app = value;
    delete object.app;
    delete object.wsgi_app;
  }
  const settings = settingsFromConfigObject(object, file);
  return { settings: app === undefined ? settings : { ...settings, app }, hooks };
}

/** `file:line` of the first line that names `name`, or the file alone. */
function whereInFile(file: string, name: string): string {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    const pattern = new RegExp(`\\b${name.replace(/[$]/g, '\\$&')}\\b`);
    const index = lines.findIndex((line) => pattern.test(line));
    return index === -1 ? file : `${file}:${index + 1}`;
  } catch {
    return file;
  }
}
