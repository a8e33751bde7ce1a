import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { execa } from 'execa';
import { envFilesFor, loadEnvFiles, type EnvMap } from './env.js';
import { COMMAND_NOT_FOUND, exitStatusCode } from './process.js';
import { readProcfile, type Procfile } from './procfile.js';
import {
  addProfileOptions,
  addProjectOptions,
  basePortFor,
  cleanEnv,
  locateProject,
  processEnvironment,
  shownPath,
  type ProjectOptions,
} from './settings.js';

interface RunOptions extends ProjectOptions {
  port?: string;
  profile?: boolean;
}

/** What `run` executes, resolved from its arguments. */
export interface RunSettings {
  script: string;
  cwd: string;
  env: EnvMap;
}

export function registerRunCommand(program: Command): void {
  const command = program
    .command('run')
    .description("run one command with the Procfile's environment (env files, PORT); `run web` runs the web command")
    .argument('<command>', 'a shell command, or a process type of the Procfile')
    .argument('[args...]', 'arguments, passed through as they are')
    .passThroughOptions();
  addProjectOptions(command)
    .option('-p, --port <n>', 'PORT for the command (default: $PORT from the env files or environment, else 5000)');
  addProfileOptions(command).action(async (name: string, args: string[], options: RunOptions) => {
    const settings = await resolveRunSettings(name, args, options, process.env);
    process.exitCode = await runCommand(settings);
  });
}

/**
 * One word is a shell command line (`run 'echo $PORT'`); several words are quoted one by one so each
 * reaches the program unchanged (`run node -e 'console.log(1)'`). A first word naming a process
 * type runs that type's command, with any further words appended.
 */
export async function resolveRunSettings(
  name: string,
  args: readonly string[],
  options: RunOptions,
  environment: NodeJS.ProcessEnv,
): Promise<RunSettings> {
  const { procfileFile, root } = locateProject(options, process.cwd());
  // The Procfile is optional for `run` unless named: `tsforeman run bash` works in any folder.
  let procfile: Procfile | null = null;
  if (options.procfile !== undefined || existsSync(procfileFile)) {
    procfile = readProcfile(procfileFile, shownPath(procfileFile, process.cwd()));
  }
  const entry = procfile?.entries.find((candidate) => candidate.name === name);
  const head = entry ? entry.command : args.length === 0 ? name : shellQuote(name);
  const script = [head, ...args.map(shellQuote)].join(' ');

  const inherited = cleanEnv(environment);
  const fileEnv = loadEnvFiles(envFilesFor(options.env ?? [], root));
  const port = basePortFor(options.port, fileEnv, inherited);
  const env = await processEnvironment(root, inherited, fileEnv, options.profile, port);
  return { script, cwd: root, env: { ...env, PORT: String(port) } };
}

/** Single-quotes a word for /bin/sh. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the command in the foreground with the terminal passed through. Like a shell, the manager
 * ignores the terminal's SIGINT/SIGQUIT (the child gets them too, being in the same process group)
 * and forwards the signals a terminal does not send to the child.
 */
export async function runCommand(settings: RunSettings): Promise<number> {
  const child = execa('/bin/sh', ['-c', settings.script], {
    cwd: settings.cwd,
    env: settings.env,
    extendEnv: false,
    stdio: 'inherit',
    reject: false,
  });
  child.catch(() => undefined);
  const ignore = () => undefined;
  const forward = (signal: NodeJS.Signals) => () => {
    child.kill(signal);
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGINT', ignore],
    ['SIGQUIT', ignore],
    ['SIGTERM', forward('SIGTERM')],
    ['SIGHUP', forward('SIGHUP')],
    ['SIGUSR1', forward('SIGUSR1')],
    ['SIGUSR2', forward('SIGUSR2')],
  ];
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', reject);
  });
  for (const [signal, handler] of handlers) process.off(signal, handler);
  if (result.code === COMMAND_NOT_FOUND) {
    process.stderr.write(`tsforeman: command not found (the shell exited 127 running: ${settings.script})\n`);
  }
  return exitStatusCode(result);
}
