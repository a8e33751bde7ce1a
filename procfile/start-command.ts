import type { Command } from 'commander';
import { UserError } from './errors.js';
import { checkFormation, expandInstances, parseFormation } from './formation.js';
import { nameWidthFor, Printer } from './printer.js';
import {
  addProjectOptions,
  basePortFor,
  collectRepeated,
  loadProject,
  parseTimeout,
  type Project,
  type ProjectOptions,
} from './settings.js';
import { Supervisor, type ExitPolicy, type SupervisedSpec } from './supervisor.js';

interface StartOptions extends ProjectOptions {
  formation: string[];
  port?: string;
  timeout: string;
  timestamp: boolean;
  color?: boolean;
}

/** Everything `start` needs, resolved and validated from the command line and the environment. */
export interface StartSettings {
  project: Project;
  specs: SupervisedSpec[];
  timeoutMs: number;
  timestamp: boolean;
  color: boolean;
}

export function registerStartCommand(program: Command): void {
  const command = program
    .command('start')
    .description('run every process type of the Procfile (or only the ones named), multiplexing their output')
    .argument('[process...]', 'process types to run, and/or formation words such as web=2');
  addProjectOptions(command)
    .option('-m, --formation <spec>', 'instances per type: all=1,web=2,worker=0 (default: all=1)', collectRepeated, [])
    .option('-p, --port <n>', 'base port (default: $PORT from the env files or environment, else 5000)')
    .option('-t, --timeout <seconds>', 'grace between SIGTERM and SIGKILL at shutdown', '5')
    .option('--no-timestamp', 'do not prefix lines with the time')
    .option('--color', 'colour the output even when it is not a terminal')
    .option('--no-color', 'never colour the output')
    .action(async (words: string[], options: StartOptions) => {
      const settings = resolveStartSettings(words, options, process.env, Boolean(process.stdout.isTTY));
      process.exitCode = await runStart(settings);
    });
}

/** Turns `start`'s arguments into settings; every user mistake becomes a UserError here, before anything runs. */
export function resolveStartSettings(
  words: readonly string[],
  options: StartOptions,
  environment: NodeJS.ProcessEnv,
  stdoutIsTTY: boolean,
): StartSettings {
  const project = loadProject(options, environment);
  const formationWords = words.filter((word) => word.includes('='));
  const only = words.filter((word) => !word.includes('='));
  const formation = parseFormation([...options.formation, ...formationWords]);
  checkFormation(formation, project.procfile);
  const basePort = basePortFor(options.port, project.fileEnv, project.inherited);
  const instances = expandInstances(project.procfile, formation, basePort, only);
  if (instances.length === 0) {
    throw new UserError('nothing to run: the formation gives every selected process type 0 instances');
  }
  const timeoutMs = parseTimeout(options.timeout);
  // Inherited environment, then the env files over it (foreman and honcho do the same).
  const baseEnv = { ...project.inherited, ...project.fileEnv };
  const specs = instances.map((instance): SupervisedSpec => ({
    name: instance.name,
    type: instance.entry.name,
    command: instance.entry.command,
    cwd: project.root,
    env: { ...baseEnv, PORT: String(instance.port), PS: instance.name, DYNO: instance.name },
    policy: 'stop-all' satisfies ExitPolicy,
  }));
  const color = options.color ?? (stdoutIsTTY && environment.NO_COLOR === undefined);
  return { project, specs, timeoutMs, timestamp: options.timestamp, color };
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
  process.on('exit', () => supervisor.killEverythingNow());

  // A closed stdout (`tsforeman start | head`) stops everything, like SIGPIPE would.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    printer.markBroken();
    if (error.code === 'EPIPE') supervisor.stop({ signal: 'SIGPIPE' });
    else dieWithChildren(error);
  });

  const status = await supervisor.run();
  printer.flushPartialLines();
  for (const [signal, handler] of handlers) process.off(signal, handler);
  await new Promise<void>((resolve) => printer.drained(resolve));
  return status;
}
