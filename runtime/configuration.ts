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
import { describeSyntaxError } from './source-location.js';
import {
  findConfigFile,
  mergeSettings,
  parseCommandLine,
  settingsFromConfigObject,
  settingsFromEnvironment,
  splitShellWords,
  SETTINGS,
  type BindAddress,
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

/** Where a setting's value came from, as --print-config shows it. */
export type SettingOrigin = 'default' | `env $${string}` | `config file ${string}` | 'TSUNICORN_CMD_ARGS' | 'command line';

export interface Configuration {
  settings: Settings;
  /** For each setting (and `app`), the layer its value came from. */
  origins: Record<keyof Settings, SettingOrigin>;
  hooks: Hooks;
  configFile: string | undefined;
  help: boolean;
  version: boolean;
  /** One line each for gunicorn settings given that do not apply to tsunicorn; the master logs them. */
  warnings: string[];
}

let importGeneration = 0;

export async function loadConfiguration(sources: ConfigurationSources): Promise<Configuration> {
  const cli = parseCommandLine(sources.argv, 'command line');
  const envArgsText = sources.env.TSUNICORN_CMD_ARGS;
  const envArgs: ParsedArgs = envArgsText
    ? parseCommandLine(splitShellWords(envArgsText), 'TSUNICORN_CMD_ARGS')
    : { values: {}, help: false, version: false, warnings: [] };
  if (cli.help || cli.version) {
    const settings = mergeSettings();
    return { settings, origins: originsOf(settings, []), hooks: {}, configFile: undefined, help: cli.help, version: cli.version, warnings: [] };
  }
  const environment = settingsFromEnvironment(sources.env);
  const configFile = findConfigFile(cli.values.config ?? envArgs.values.config, sources.cwd);
  let fromFile: Partial<Settings> = {};
  let hooks: Hooks = {};
  const fileWarnings: string[] = [];
  if (configFile) ({ settings: fromFile, hooks } = await importConfigFile(configFile, fileWarnings));
  const settings = mergeSettings(environment, fromFile, envArgs.values, cli.values, {
    app: cli.app ?? envArgs.app ?? (fromFile as { app?: string }).app,
    config: configFile,
  });
  const envNames = Object.fromEntries(SETTINGS.filter((setting) => setting.env).map((setting) => [setting.name, setting.env!]));
  const origins = originsOf(settings, [
    [environment, (name) => `env $${envNames[name] ?? name}`],
    [fromFile, () => `config file ${configFile ?? ''}`],
    [{ ...envArgs.values, app: envArgs.app, config: envArgs.values.config }, () => 'TSUNICORN_CMD_ARGS'],
    [{ ...cli.values, app: cli.app }, () => 'command line'],
  ]);
  const warnings = [...fileWarnings, ...envArgs.warnings, ...cli.warnings];
  return { settings, origins, hooks, configFile, help: false, version: false, warnings };
}

/** The highest layer that gave each setting a value (layers lowest first), else `default`. */
function originsOf(settings: Settings, layers: [Partial<Settings>, (name: string) => SettingOrigin][]): Record<keyof Settings, SettingOrigin> {
  const origins = {} as Record<keyof Settings, SettingOrigin>;
  for (const name of Object.keys(settings) as (keyof Settings)[]) {
    origins[name] = 'default';
    for (const [layer, origin] of layers) if (layer[name] !== undefined) origins[name] = origin(name);
  }
  return origins;
}

/** `--print-config`: one line per setting, `name = value  (origin)`, APP first, in the table's order. */
export function formatConfiguration(configuration: Configuration): string {
  const names: (keyof Settings)[] = ['app', ...SETTINGS.map((setting) => setting.name)];
  const rows = names.map((name) => [name, showValue(configuration.settings[name]), configuration.origins[name]] as const);
  const nameWidth = Math.max(...rows.map(([name]) => name.length));
  const valueWidth = Math.min(40, Math.max(...rows.map(([, value]) => value.length)));
  return rows.map(([name, value, origin]) => `${name.padEnd(nameWidth)} = ${value.padEnd(valueWidth)}  (${origin})`).join('\n') + '\n';
}

function showValue(value: Settings[keyof Settings] | BindAddress): string {
  if (value === undefined) return '(none)';
  if (Array.isArray(value)) return value.map((item: string | BindAddress) => showValue(item)).join(',');
  if (typeof value === 'object') return value.text;
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** The hooks of a config file, for a worker (which gets its settings from the master). */
export async function loadConfigHooks(file: string): Promise<Hooks> {
  return (await importConfigFile(file)).hooks;
}

async function importConfigFile(file: string, warnings?: string[]): Promise<{ settings: Partial<Settings>; hooks: Hooks }> {
  let namespace: Record<string, unknown>;
  try {
    // A query string makes every import (start, each HUP) read the file anew.
    const url = pathToFileURL(file);
    url.searchParams.set('generation', String(importGeneration++));
    namespace = await importModule(file, url.href);
  } catch (error) {
    if (error instanceof SettingsError) throw error;
    throw new SettingsError(`${file}: cannot load config: ${describeSyntaxError(error, file) ?? firstLine(error)}`);
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
  const settings = settingsFromConfigObject(object, file, warnings);
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
