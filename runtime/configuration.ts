/**
 * Resolves the settings from every layer, highest first: command line > TSUNICORN_CMD_ARGS > config file >
 * environment defaults > built-in defaults. Also loads the config file's hooks. Called at start and again
 * at HUP (with a fresh import of the config file).
 *
 *   const { settings, hooks } = await loadConfiguration({ argv, env, cwd });
 */
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
import { enableTypeScript, isTypeScriptFile } from './typescript-loader.js';
import type { Hooks } from './hooks.js';

export type { ForkingWorkerInfo, Hooks, ServerInfo, WorkerExitInfo, WorkerInfo } from './hooks.js';

/** The hooks tsunicorn calls (the master's); the others that hooks.ts declares are not run yet. */
const HOOK_NAMES = ['on_starting', 'when_ready', 'on_reload', 'child_exit', 'on_exit'] as const;

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

async function importConfigFile(file: string): Promise<{ settings: Partial<Settings>; hooks: Hooks }> {
  if (isTypeScriptFile(file)) enableTypeScript();
  let namespace: Record<string, unknown>;
  try {
    // A query string makes every import (start, each HUP) read the file anew.
    const url = pathToFileURL(file);
    url.searchParams.set('generation', String(importGeneration++));
    namespace = (await import(url.href)) as Record<string, unknown>;
  } catch (error) {
    throw new SettingsError(`${file}: cannot load config: ${firstLine(error)}`);
  }
  const exported = namespace.default;
  const object: Record<string, unknown> =
    exported && typeof exported === 'object' ? { ...(exported as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(namespace)) {
    if (key !== 'default' && !(key in object)) object[key] = value;
  }
  const hooks: Hooks = {};
  for (const name of HOOK_NAMES) {
    const hook = object[name];
    if (hook === undefined) continue;
    if (typeof hook !== 'function') throw new SettingsError(`${file}: ${name} must be a function`);
    (hooks as Record<string, unknown>)[name] = hook;
    delete object[name];
  }
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
