import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, existsSync } from 'node:fs';
import { delimiter, resolve } from 'node:path';
import type { Command } from 'commander';
import { DescendantMark, signalEach } from './descendant-mark.js';
import { type EnvMap } from './env.js';
import { UserError } from './errors.js';
import { addFlags, basePortFor, parseTimeout, PROJECT_FLAGS } from './options.js';
import { COMMAND_NOT_FOUND, exitStatusCode } from './process.js';
import { descendantsOf, groupAlive, signalGroup, stopGracefully, type Stoppable } from './process-group.js';
import { processEnvironment } from './process-environment.js';
import { readProcfile, type Procfile } from './procfile.js';
import { cleanEnv, locateProject, readEnvironmentFiles, shownPath, type ProjectOptions } from './project.js';
import { programWord, shellArgument, withExec } from './shell.js';
import { expandInstances, parseFormation, portVariables } from './formation.js';
import { optionSource, withForemanDefaults } from './foreman-file.js';
import { Watchdog } from './watchdog.js';

interface RunOptions extends ProjectOptions {
  port?: string;
  timeout: string;
  profile?: boolean;
  strictEnv?: boolean;
}

/** What `run` executes, resolved from its arguments. */
export interface RunSettings {
  script: string;
  cwd: string;
  env: EnvMap;
  /** Grace between SIGTERM and SIGKILL for what the command leaves running. */
  timeoutMs: number;
  /** The command runs in its own process group (stdin is not a terminal; see `runCommand`). */
  ownGroup: boolean;
}

/** Signals `run` passes on to the command (SIGINT and SIGQUIT too when it has its own group). */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
const TERMINAL_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGQUIT'];

export function registerRunCommand(program: Command): void {
  const command = program
    .command('run')
    .description("run one command with the Procfile's environment (env files, PORT); `run web` runs the web command")
    .argument('<command>', 'a shell command, or a process type of the Procfile')
    .argument('[args...]', 'arguments, passed through as they are')
    .passThroughOptions();
  addFlags(command, [...PROJECT_FLAGS, 'port', 'timeout', 'profile', 'noProfile', 'strictEnv']).action(
    async (name: string, args: string[], given: RunOptions, self: Command) => {
      const defaults = withForemanDefaults(self, given);
      // Lenient unless --strict-env: a variable no process can receive is a warning and skipped.
      const options = { ...defaults, strictEnv: defaults.strictEnv ?? false };
      const settings = await resolveRunSettings(name, args, options, process.env, Boolean(process.stdin.isTTY));
      process.exitCode = await runCommand(settings);
    },
  );
}

/**
 * One word is a shell command line (`run 'echo $PORT'`); several words are quoted one by one so each
 * reaches the program unchanged (`run node -e 'console.log(1)'`). A first word naming a process
 * type runs that type's command, with any further words appended. A simple command replaces the
 * shell (`exec`), as in `start`; one whose program cannot be found is reported here, in one line.
 */
export async function resolveRunSettings(
  name: string,
  args: readonly string[],
  options: RunOptions,
  environment: NodeJS.ProcessEnv,
  stdinIsTTY: boolean,
): Promise<RunSettings> {
  const cwd = process.cwd();
  const { procfileFile, root } = locateProject(options, cwd);
  // The Procfile is optional for `run` unless named: `tsforeman run bash` works in any folder.
  let procfile: Procfile | null = null;
  if (options.procfile !== undefined || existsSync(procfileFile)) {
    procfile = readProcfile(procfileFile, shownPath(procfileFile, cwd));
  }
  const entry = procfile?.entries.find((candidate) => candidate.name === name);
  const head = entry ? entry.command : args.length === 0 ? name : shellArgument(name);
  const command = [head, ...args.map(shellArgument)].join(' ');
  const script = withExec(command);

  const inherited = cleanEnv(environment);
  const { fileEnv } = readEnvironmentFiles(options, root, cwd);
  const port = basePortFor(options.port, fileEnv, inherited, optionSource(options, 'port', '-p/--port'));
  // The ports `start` gives each type (one instance each), so a script finds the web app.
  const ports = procfile === null ? {} : portVariables(expandInstances(procfile, parseFormation([]), port));
  const env: EnvMap = { ...(await processEnvironment(root, inherited, fileEnv, options.profile, port)), ...ports, PORT: String(port) };
  const program = programWord(command);
  if (program !== null && !findExecutable(program, env.PATH ?? '', root)) {
    throw new UserError(`command not found: ${program} (not in PATH, or not executable)`, COMMAND_NOT_FOUND);
  }
  return { script, cwd: root, env, timeoutMs: parseTimeout(options.timeout, optionSource(options, 'timeout', '-t/--timeout')), ownGroup: !stdinIsTTY };
}

/** True when `program` resolves as the shell would: a path (with a `/`) or a file in PATH, executable. */
function findExecutable(program: string, path: string, cwd: string): boolean {
  const candidates = program.includes('/')
    ? [resolve(cwd, program)]
    : path.split(delimiter).map((dir) => resolve(cwd, dir === '' ? '.' : dir, program));
  return candidates.some((file) => {
    try {
      accessSync(file, fsConstants.X_OK);
      return !existsSync(`${file}/.`);
    } catch {
      return false;
    }
  });
}

/**
 * Runs the command in the foreground with stdin, stdout and stderr passed through, and exits with
 * its status (128+N for signal N). Every signal the manager handles reaches the command itself:
 * - stdin is not a terminal (scripts, CI, containers): the command leads its own process group, and
 *   SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are sent to that whole group;
 * - stdin is a terminal: the command stays in the terminal's foreground group (so it can read the
 *   terminal, and Ctrl-C and Ctrl-\ reach it from the terminal itself, the manager ignoring them),
 *   and SIGTERM, SIGHUP, SIGUSR1 and SIGUSR2 are sent to it and every descendant.
 * Whatever it leaves behind when it exits (its group, descendants that escaped it) gets SIGTERM,
 * then SIGKILL after the timeout, so nothing outlives `run`.
 */
export async function runCommand(settings: RunSettings): Promise<number> {
  const mark = new DescendantMark('run');
  // The handlers go in before the spawn: a signal that comes while it is under way is passed on
  // once the pid is known, instead of killing the manager (its default action) and orphaning the command.
  const spawned: { pid?: number } = {};
  const early: NodeJS.Signals[] = [];
  const pass = (signal: NodeJS.Signals) => () => {
    const { pid } = spawned;
    if (pid === undefined) early.push(signal);
    else if (settings.ownGroup) signalGroup(pid, signal);
    else signalEach([pid, ...descendantsOf(pid)], signal);
  };
  const handlers: [NodeJS.Signals, () => void][] = [
    ...FORWARDED.map((signal): [NodeJS.Signals, () => void] => [signal, pass(signal)]),
    ...TERMINAL_SIGNALS.map((signal): [NodeJS.Signals, () => void] => [signal, settings.ownGroup ? pass(signal) : () => undefined]),
  ];
  for (const [signal, handler] of handlers) process.on(signal, handler);
  // What the command starts is stopped even if this manager is killed (it carries the mark).
  const watchdog = Watchdog.start(settings.timeoutMs);
  // Node's own spawn: the command shares the terminal, and its status comes from the 'exit' event.
  const child = spawn('/bin/sh', ['-c', settings.script], {
    cwd: settings.cwd,
    env: { ...settings.env, ...mark.env },
    stdio: 'inherit',
    detached: settings.ownGroup,
  });
  spawned.pid = child.pid;
  if (child.pid !== undefined && settings.ownGroup) watchdog.watchGroup(child.pid);
  for (const signal of early.splice(0)) pass(signal)();
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise, reject) => {
    child.once('exit', (code, signal) => resolvePromise({ code, signal }));
    child.once('error', reject);
  });
  if (spawned.pid !== undefined) await stopGracefully(leftoversOf(spawned.pid, settings.ownGroup, mark), settings.timeoutMs);
  watchdog.release();
  for (const [signal, handler] of handlers) process.off(signal, handler);
  return exitStatusCode(result);
}

/** What the command left running: its group (when it has one) and every process carrying its mark. */
function leftoversOf(pid: number, ownGroup: boolean, mark: DescendantMark): Stoppable {
  // Without a group of its own, the command shares the manager's: only marked processes are its.
  const escapees = () => mark.escapees(ownGroup ? pid : -1);
  return {
    signal: (signal) => {
      const grouped = ownGroup && signalGroup(pid, signal);
      return signalEach(escapees(), signal) || grouped;
    },
    groupAlive: () => (ownGroup && groupAlive(pid)) || escapees().length > 0,
  };
}
