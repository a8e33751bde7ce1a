import type { Command } from 'commander';
import { UserError } from './errors.js';
import { checkFormation, expandInstances, parseFormation } from './formation.js';
import { nameWidthFor, Printer } from './printer.js';
import { addFlags, basePortFor, parseTimeout, parseTypeList, PROJECT_FLAGS, type FlagName } from './options.js';
import { processEnvironment } from './process-environment.js';
import { loadProject, type Project, type ProjectOptions } from './project.js';
import { handleControlRequest } from './control-commands.js';
import { ControlServer, controlSocketPath } from './control-socket.js';
import { Supervisor, type ExitPolicy, type SupervisedSpec } from './supervisor.js';
import { ChangeWatcher, describePaths } from './watcher.js';

/** Quiet time after the last file change before processes are restarted. */
const WATCH_DEBOUNCE_MS = 300;

interface StartOptions extends ProjectOptions {
  formation?: string[];
  port?: string;
  timeout: string;
  timestamp?: boolean;
  color?: boolean;
  socket?: string;
  restart?: string[];
  canDie?: string[];
  watch?: string | true;
  profile?: boolean;
}

/** Everything `start` needs, resolved and validated from the command line and the environment. */
export interface StartSettings {
  project: Project;
  specs: SupervisedSpec[];
  timeoutMs: number;
  timestamp: boolean;
  color: boolean;
  /** Watch the root for changes; `glob` limits which files count. */
  watch: { glob?: string } | null;
  /** Re-reads the Procfile and env files (after a file change) into fresh specs. */
  reload: () => Promise<SupervisedSpec[]>;
  /** Path of the control socket (`tsforeman ps|restart|stop`). */
  socketPath: string;
}

export function registerStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description('run every process type of the Procfile (or only the ones named), multiplexing their output')
    .argument('[process...]', 'process types to run, and/or formation words such as web=2');
  const flags: FlagName[] = [
    ...PROJECT_FLAGS, 'formation', 'port', 'timeout', 'timestamp', 'noTimestamp', 'color', 'noColor',
    'restart', 'canDie', 'watch', 'profile', 'noProfile', 'socket',
  ];
  addFlags(command, flags).action(async (words: string[], options: StartOptions) => {
    const settings = await resolveStartSettings(words, options, process.env, Boolean(process.stdout.isTTY));
    process.exitCode = await runStart(settings);
  });
}

/** Turns `start`'s arguments into settings; every user mistake becomes a UserError here, before anything runs. */
export async function resolveStartSettings(
  words: readonly string[],
  options: StartOptions,
  environment: NodeJS.ProcessEnv,
  stdoutIsTTY: boolean,
): Promise<StartSettings> {
  const project = loadProject(options, environment);
  const formationWords = words.filter((word) => word.includes('='));
  const only = words.filter((word) => !word.includes('='));
  const formation = parseFormation([...(options.formation ?? []), ...formationWords]);
  checkFormation(formation, project.procfile);
  const basePort = basePortFor(options.port, project.fileEnv, project.inherited);
  const instances = expandInstances(project.procfile, formation, basePort, only);
  if (instances.length === 0) {
    throw new UserError('nothing to run: the formation gives every selected process type 0 instances');
  }
  const timeoutMs = parseTimeout(options.timeout);
  const restart = parseTypeList(options.restart, project.procfile, '--restart');
  const canDie = parseTypeList(options.canDie, project.procfile, '--can-die');
  const both = restart.find((type) => canDie.includes(type));
  if (both !== undefined) throw new UserError(`process type "${both}" cannot be both --restart and --can-die`);
  const policyOf = (type: string): ExitPolicy =>
    restart.includes(type) ? 'restart' : canDie.includes(type) ? 'can-die' : 'stop-all';
  const specsOf = async (current: Project): Promise<SupervisedSpec[]> => {
    const baseEnv = await processEnvironment(current.root, current.inherited, current.fileEnv, options.profile, basePort);
    const entries = new Map(current.procfile.entries.map((entry) => [entry.name, entry]));
    return instances.map((instance): SupervisedSpec => ({
      name: instance.name,
      type: instance.entry.name,
      command: (entries.get(instance.entry.name) ?? instance.entry).command,
      cwd: current.root,
      env: { ...baseEnv, PORT: String(instance.port), PS: instance.name, DYNO: instance.name },
      policy: policyOf(instance.entry.name),
    }));
  };
  const color = options.color ?? (stdoutIsTTY && environment.NO_COLOR === undefined);
  const watch = options.watch === undefined ? null : { glob: options.watch === true ? undefined : options.watch };
  return {
    project,
    specs: await specsOf(project),
    timeoutMs,
    timestamp: options.timestamp ?? true,
    color,
    watch,
    reload: async () => specsOf(loadProject(options, environment)),
    socketPath: controlSocketPath(options, process.cwd()),
  };
}

/** Runs the supervisor in the foreground, wired to the manager's signals; returns the exit status. */
export async function runStart(settings: StartSettings): Promise<number> {
  const names = settings.specs.map((spec) => spec.name);
  const printer = new Printer(process.stdout, {
    timestamp: settings.timestamp,
    color: settings.color,
    nameWidth: nameWidthFor(names),
  });
  printer.assignColors(names);
  const supervisor = new Supervisor(settings.specs, printer, { timeoutMs: settings.timeoutMs });
  const restart = restarter(settings, supervisor, printer);
  // Before anything starts: a second manager on the same socket is refused here.
  const control = await ControlServer.listen(settings.socketPath, (request) =>
    handleControlRequest(request, supervisor, printer, restart),
  );

  const stopOn = (signal: NodeJS.Signals) => () => supervisor.stop({ signal });
  const forward = (signal: NodeJS.Signals) => () => supervisor.forward(signal);
  const handlers: [NodeJS.Signals, () => void][] = [
    ['SIGINT', stopOn('SIGINT')],
    ['SIGTERM', stopOn('SIGTERM')],
    ['SIGHUP', stopOn('SIGHUP')],
    ['SIGUSR1', forward('SIGUSR1')],
    ['SIGUSR2', forward('SIGUSR2')],
  ];
  for (const [signal, handler] of handlers) process.on(signal, handler);

  // If the manager itself fails, its children must not outlive it.
  const dieWithChildren = (error: unknown) => {
    supervisor.killEverythingNow();
    process.stderr.write(`tsforeman: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(70);
  };
  process.on('uncaughtException', dieWithChildren);
  process.on('unhandledRejection', dieWithChildren);
  process.on('exit', () => {
    supervisor.killEverythingNow();
    control.removeFile();
  });

  // A closed stdout (`tsforeman start | head`) stops everything, like SIGPIPE would.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    printer.markBroken();
    if (error.code === 'EPIPE') supervisor.stop({ signal: 'SIGPIPE' });
    else dieWithChildren(error);
  });

  const running = supervisor.run();
  const watcher = settings.watch ? await startWatching(settings, supervisor, printer, restart) : null;
  const status = await running;
  await watcher?.close();
  await control.close();
  printer.flushPartialLines();
  for (const [signal, handler] of handlers) process.off(signal, handler);
  await new Promise<void>((resolve) => printer.drained(resolve));
  return status;
}

/**
 * Restarts instances with the Procfile and env files read again first, so an edited command or
 * variable takes effect; if they no longer parse, the error is shown and the old ones are kept.
 * Restarts (file changes, `tsforeman restart`) run one after the other.
 */
function restarter(settings: StartSettings, supervisor: Supervisor, printer: Printer): (names: string[]) => Promise<void> {
  let restarting: Promise<void> = Promise.resolve();
  return (names) => {
    restarting = restarting.then(async () => {
      try {
        supervisor.updateSpecs(await settings.reload());
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        printer.system(`keeping the previous Procfile and env: ${error.message}`);
      }
      await supervisor.restart(names);
    });
    return restarting;
  };
}

/**
 * `--watch`: a batch of changed files restarts every instance that is not `--can-die` (one-shot
 * tasks are not re-run).
 */
async function startWatching(
  settings: StartSettings,
  supervisor: Supervisor,
  printer: Printer,
  restart: (names: string[]) => Promise<void>,
): Promise<ChangeWatcher> {
  const watcher = new ChangeWatcher({
    root: settings.project.root,
    glob: settings.watch?.glob,
    debounceMs: WATCH_DEBOUNCE_MS,
    onError: (error) => printer.system(`watch error: ${error.message}`),
    onChange: (paths) => {
      if (supervisor.stopping) return;
      const names = supervisor.longRunningNames;
      printer.system(`changed: ${describePaths(paths)}; restarting ${names.join(', ')}`);
      void restart(names);
    },
  });
  await watcher.ready();
  const what = settings.watch?.glob === undefined ? 'files' : `files matching ${settings.watch.glob}`;
  if (!supervisor.stopping) printer.system(`watching ${what} under ${settings.project.root}`);
  return watcher;
}
