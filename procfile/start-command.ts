import type { Command } from 'commander';
import { UserError } from './errors.js';
import { checkFormation, checkProcessTypes, expandInstances, parseFormation, portVariables } from './formation.js';
import { nameWidthFor, Printer } from './printer.js';
import { addFlags, basePortFor, outputColor, parseCount, parseTimeout, parseTypeList, PROJECT_FLAGS, type FlagName } from './options.js';
import { processEnvironment } from './process-environment.js';
import { loadProject, locateProject, type Project, type ProjectOptions } from './project.js';
import { controlHandlers } from './control-commands.js';
import { ControlServer, controlSocketPath, refuseIfManagerRuns } from './control-socket.js';
import { DEFAULT_LOG_LINES, LogStore } from './log-store.js';
import type { Procfile } from './procfile.js';
import { Supervisor, type ExitPolicy, type Readiness, type SupervisedSpec, type SupervisorEvents } from './supervisor.js';
import { optionSource, withForemanDefaults } from './foreman-file.js';
import { Watchdog } from './watchdog.js';
import { HeldPorts, holdRequests, type HoldRequest } from './held-ports.js';
import type { ChangeWatcher } from './watcher.js';

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
  readyLine?: string[];
  after?: string[];
  logLines?: string;
  holdPort?: string[];
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
  /**
   * Re-reads the Procfile and env files (after a file change, for a restart) into fresh specs;
   * `warn` gets each env file warning line (`.env:3: ...`).
   */
  reload: (warn: (line: string) => void) => Promise<SupervisedSpec[]>;
  /** Path of the control socket (`tsforeman ps|restart|stop|wait|logs`). */
  socketPath: string;
  /** Lines kept per instance for `tsforeman logs`. */
  logLines: number;
  /** The sockets to hold (`--hold-port`), bound when the run starts. */
  holds: HoldRequest[];
}

export function registerStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description('run every process type of the Procfile (or only the ones named), multiplexing their output')
    .argument('[process...]', 'process types to run, and/or formation words such as web=2');
  const flags: FlagName[] = [
    ...PROJECT_FLAGS, 'formation', 'port', 'timeout', 'timestamp', 'noTimestamp', 'color', 'noColor',
    'restart', 'canDie', 'readyLine', 'after', 'holdPort', 'watch', 'profile', 'noProfile', 'socket', 'logLines', 'strictEnv',
  ];
  addFlags(command, flags).action(async (words: string[], given: StartOptions, self: Command) => {
    // Lenient unless --strict-env: a variable no process can receive is a warning and skipped.
    const defaults = withForemanDefaults(self, given);
    const options = { ...defaults, strictEnv: defaults.strictEnv ?? false };
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
  // The root is found once; the socket, and every re-read of the Procfile and env files, use it.
  const cwd = process.cwd();
  const location = locateProject(options, cwd);
  const project = loadProject(options, environment, cwd, location);
  const formationWords = words.filter((word) => word.includes('='));
  const only = words.filter((word) => !word.includes('='));
  // A value from .foreman is named by its file:line in errors (`.foreman:3: after: ...`).
  const source = (option: string, flag: string) => optionSource(options, option, flag);
  const formationLead = source('formation', '') === '' ? '' : `${source('formation', '')}: `;
  checkFormation(parseFormation(options.formation ?? [], formationLead), project.procfile, formationLead);
  const formation = parseFormation([...(options.formation ?? []), ...formationWords]);
  checkFormation(formation, project.procfile);
  const basePort = basePortFor(options.port, project.fileEnv, project.inherited, source('port', '-p/--port'));
  const instances = expandInstances(project.procfile, formation, basePort, only);
  if (instances.length === 0) {
    throw new UserError('nothing to run: the formation gives every selected process type 0 instances');
  }
  const timeoutMs = parseTimeout(options.timeout, source('timeout', '-t/--timeout'));
  const restart = parseTypeList(options.restart, project.procfile, source('restart', '--restart'));
  const canDie = parseTypeList(options.canDie, project.procfile, source('canDie', '--can-die'));
  const both = restart.find((type) => canDie.includes(type));
  if (both !== undefined) throw new UserError(`process type "${both}" cannot be both --restart and --can-die`);
  const after = parseAfter(options.after ?? [], project.procfile, source('after', '--after'));
  // Heroku's release phase is a one-shot task: waited for with --after, it may end without stopping the rest.
  if ([...after.values()].some((types) => types.includes('release')) && !restart.includes('release') && !canDie.includes('release')) {
    canDie.push('release');
  }
  const readyLines = parseReadyLines(options.readyLine ?? [], project.procfile, source('readyLine', '--ready-line'));
  const held = parseTypeList(options.holdPort, project.procfile, source('holdPort', '--hold-port'));
  const readinessOf = (type: string, command: string): Readiness =>
    readyLines.get(type) ?? (type === 'web' || held.includes(type) || /\$\{?PORT\b/.test(command) ? 'port' : 'at-once');
  const policyOf = (type: string): ExitPolicy =>
    restart.includes(type) ? 'restart' : canDie.includes(type) ? 'can-die' : 'stop-all';
  const portsEnv = portVariables(instances);
  const specsOf = async (current: Project): Promise<SupervisedSpec[]> => {
    const baseEnv = { ...(await processEnvironment(current.root, current.inherited, current.fileEnv, options.profile, basePort)), ...portsEnv };
    const entries = new Map(current.procfile.entries.map((entry) => [entry.name, entry]));
    return instances.map((instance): SupervisedSpec => ({
      name: instance.name,
      type: instance.entry.name,
      command: (entries.get(instance.entry.name) ?? instance.entry).command,
      cwd: current.root,
      env: { ...baseEnv, PORT: String(instance.port), PS: instance.name, DYNO: instance.name },
      policy: policyOf(instance.entry.name),
      readiness: readinessOf(instance.entry.name, instance.entry.command),
      after: after.get(instance.entry.name) ?? [],
    }));
  };
  const specs = await specsOf(project);
  const holds = await holdRequests(held, specs);
  const color = outputColor(options.color, environment, stdoutIsTTY);
  const watch = options.watch === undefined ? null : { glob: options.watch === true ? undefined : options.watch };
  return {
    project,
    specs,
    timeoutMs,
    timestamp: options.timestamp ?? true,
    color,
    watch,
    reload: async (warn) => specsOf(loadProject(options, environment, cwd, location, { strict: options.strictEnv !== false, warn })),
    socketPath: controlSocketPath(options, cwd, location),
    logLines: options.logLines === undefined ? DEFAULT_LOG_LINES : parseCount(options.logLines, source('logLines', '--log-lines')),
    holds,
  };
}

/** `--ready-line TYPE=REGEX`, repeatable: a bad type or pattern is a UserError naming it (and `flag`, where it was given). */
export function parseReadyLines(values: readonly string[], procfile: Procfile, flag = '--ready-line'): Map<string, RegExp> {
  const patterns = new Map<string, RegExp>();
  for (const value of values) {
    const equals = value.indexOf('=');
    const type = equals === -1 ? '' : value.slice(0, equals).trim();
    const source = equals === -1 ? '' : value.slice(equals + 1);
    if (type === '' || source === '') throw new UserError(`${flag}: expected TYPE=REGEX, got ${JSON.stringify(value)}`);
    checkProcessTypes([type], procfile, `${flag}: `);
    try {
      patterns.set(type, new RegExp(source));
    } catch (error) {
      throw new UserError(`${flag} ${type}: bad regular expression ${JSON.stringify(source)}: ${(error as Error).message.replace(/^Invalid regular expression: /, '')}`);
    }
  }
  return patterns;
}

/**
 * `--after TYPE=TYPE[,TYPE]`, repeatable: what each type waits for. Unknown types and cycles
 * (`web=worker` with `worker=web`, or `web=web`) are a UserError naming the types (and `flag`, where they were given).
 */
export function parseAfter(values: readonly string[], procfile: Procfile, flag = '--after'): Map<string, string[]> {
  const after = new Map<string, string[]>();
  for (const value of values) {
    const equals = value.indexOf('=');
    const type = equals === -1 ? '' : value.slice(0, equals).trim();
    const needs = equals === -1 ? [] : value.slice(equals + 1).split(',').map((name) => name.trim()).filter((name) => name !== '');
    if (type === '' || needs.length === 0) throw new UserError(`${flag}: expected TYPE=TYPE[,TYPE], got ${JSON.stringify(value)}`);
    checkProcessTypes([type, ...needs], procfile, `${flag}: `);
    const list = after.get(type) ?? [];
    for (const need of needs) if (!list.includes(need)) list.push(need);
    after.set(type, list);
  }
  // A cycle: depth-first search, reporting the path that closes it.
  const done = new Set<string>();
  const visit = (type: string, path: string[]): void => {
    if (path.includes(type)) {
      const cycle = [...path.slice(path.indexOf(type)), type];
      throw new UserError(`${flag}: a cycle, nothing started: ${cycle.join(' waits for ')}`);
    }
    if (done.has(type)) return;
    for (const need of after.get(type) ?? []) visit(need, [...path, type]);
    done.add(type);
  };
  for (const type of after.keys()) visit(type, []);
  return after;
}

/** Runs the supervisor in the foreground, wired to the manager's signals; returns the exit status. */
export async function runStart(settings: StartSettings): Promise<number> {
  // Bound before anything starts: a port in use is a start-up error (after the check for another manager).
  if (settings.holds.length > 0) await refuseIfManagerRuns(settings.socketPath);
  const heldPorts = await HeldPorts.open(settings.holds);
  const withHeld = (spec: SupervisedSpec): SupervisedSpec => {
    const held = heldPorts.get(spec.name);
    return held === undefined ? spec : { ...spec, held };
  };
  const specs = settings.specs.map(withHeld);
  const names = specs.map((spec) => spec.name);
  const printer = new Printer(process.stdout, {
    timestamp: settings.timestamp,
    color: settings.color,
    nameWidth: nameWidthFor(names),
  });
  printer.assignColors(names);
  const logs = new LogStore(settings.logLines);
  // One owner of the output: what the supervisor and its processes report is printed and kept here.
  const events: SupervisorEvents = {
    system: (text, instance) => {
      logs.add(instance ?? 'system', 'system', Buffer.from(text));
      printer.system(text);
    },
    output: (name, stream) =>
      printer.attach(name, stream, (block) => {
        logs.add(name, 'output', block);
        supervisor.lineSeen(name, block);
      }),
  };
  const supervisor = new Supervisor(specs, events, { timeoutMs: settings.timeoutMs });
  const restart = restarter(settings, supervisor, events);
  const commandOf = (name: string) => supervisor.commandOf(name);
  // Before anything starts: a second manager on the same socket is refused here.
  const control = await ControlServer.listen(
    settings.socketPath,
    controlHandlers({ supervisor, say: (text, instance) => events.system(text, instance), restart, logs, commandOf }),
  );
  // Stops every group (and escapee) should this manager die without cleaning up (SIGKILL, OOM).
  const watchdog = Watchdog.start(settings.timeoutMs);
  events.started = (pid) => watchdog.watchGroup(pid);

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
  const watcher = settings.watch ? await startWatching(settings, supervisor, events, restart) : null;
  const status = await running;
  watchdog.release();
  await watcher?.close();
  await control.close();
  heldPorts.close();
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
function restarter(settings: StartSettings, supervisor: Supervisor, events: SupervisorEvents): (names: string[]) => Promise<void> {
  let restarting: Promise<void> = Promise.resolve();
  return (names) => {
    restarting = restarting.then(async () => {
      try {
        // While running, the env files' warnings are the manager's own lines (printed and kept for logs).
        supervisor.updateSpecs(await settings.reload((line) => events.system(`warning: ${line}`)));
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        events.system(`keeping the previous Procfile and env: ${error.message}`);
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
  events: SupervisorEvents,
  restart: (names: string[]) => Promise<void>,
): Promise<ChangeWatcher> {
  // chokidar is loaded with --watch only.
  const { ChangeWatcher, describePaths } = await import('./watcher.js');
  const watcher = new ChangeWatcher({
    root: settings.project.root,
    glob: settings.watch?.glob,
    debounceMs: WATCH_DEBOUNCE_MS,
    onError: (error) => events.system(`watch error: ${error.message}`),
    onChange: (paths) => {
      if (supervisor.stopping) return;
      const names = supervisor.longRunningNames;
      events.system(`changed: ${describePaths(paths)}; restarting ${names.join(', ')}`);
      void restart(names);
    },
  });
  await watcher.ready();
  const what = settings.watch?.glob === undefined ? 'files' : `files matching ${settings.watch.glob}`;
  if (!supervisor.stopping) events.system(`watching ${what} under ${settings.project.root}`);
  return watcher;
}
