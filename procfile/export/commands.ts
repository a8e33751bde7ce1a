import { basename } from 'node:path';
import { loadConfiguration } from '../../runtime/configuration.js';
import { firstLine } from '../../runtime/errors.js';
import type { BindAddress } from '../../runtime/settings.js';
import type { EnvMap } from '../env.js';
import { UserError } from '../errors.js';
import { expandSimpleCommand, withExec } from '../shell.js';

/**
 * What an exported service needs to know about the command it runs: whether it is tsunicorn (which
 * can tell systemd when it is ready and answer a health path itself), how long it drains at TERM,
 * and where it listens.
 */
export interface CommandFacts {
  /** The command as the exported shell runs it: `exec`'d when it is one program, so signals reach it. */
  shellCommand: string;
  /** True when the command runs one program (so it keeps the shell's pid, as LISTEN_PID needs). */
  execs: boolean;
  tsunicorn: boolean;
  /** Seconds the command drains in-flight work after TERM: tsunicorn's graceful_timeout, else `-t`. */
  drainSeconds: number;
  /** Seconds the supervisor waits between TERM and KILL: at least the drain plus the master's margin. */
  stopSeconds: number;
  /** tsunicorn's health_path when its command line, TSUNICORN_CMD_ARGS or config sets one. */
  healthPath?: string;
  /** Where tsunicorn listens (its resolved --bind), for socket units. */
  binds: BindAddress[];
}

/**
 * Time tsunicorn's master needs after its workers' drain (reaping them, closing its listeners),
 * so the supervisor's KILL never lands in the drain.
 */
export const MASTER_MARGIN_SECONDS = 5;

/** True when the program word is tsunicorn (`tsunicorn`, `./node_modules/.bin/tsunicorn`, `npx tsunicorn`). */
function tsunicornArgs(argv: readonly string[]): string[] | undefined {
  if (argv[0] !== undefined && basename(argv[0]) === 'tsunicorn') return argv.slice(1);
  if (argv[0] === 'npx' && argv[1] === 'tsunicorn') return argv.slice(2);
  return undefined;
}

/**
 * Reads a Procfile command the way the exported service will run it. For tsunicorn, the settings
 * come from tsunicorn's own resolution (command line > TSUNICORN_CMD_ARGS > config file > env),
 * with the env files' variables and `own` (PORT, PS, DYNO) on top, in the app's root folder.
 *
 *   await describeCommand('web', 'tsunicorn app.js --graceful-timeout 20', env, root, { PORT: '5000', PS: 'web.1' }, 5)
 *   // { tsunicorn: true, drainSeconds: 20, stopSeconds: 25, ... }
 */
export async function describeCommand(
  type: string,
  command: string,
  env: EnvMap,
  root: string,
  own: Readonly<Record<string, string>>,
  timeoutSeconds: number,
): Promise<CommandFacts> {
  const shellCommand = withExec(command);
  const execs = shellCommand !== command;
  const processEnv = { ...env, ...own };
  const simple = expandSimpleCommand(command, processEnv);
  const args = simple === null ? undefined : tsunicornArgs(simple.argv);
  if (simple === null || args === undefined) {
    return { shellCommand, execs, tsunicorn: false, drainSeconds: timeoutSeconds, stopSeconds: timeoutSeconds, binds: [] };
  }
  let settings;
  try {
    ({ settings } = await loadConfiguration({ argv: args, env: { ...processEnv, ...simple.assignments }, cwd: root }));
  } catch (error) {
    throw new UserError(`${type}: cannot read the tsunicorn settings of "${command}": ${firstLine(error)}`);
  }
  const drainSeconds = Math.ceil(settings.graceful_timeout);
  return {
    shellCommand,
    execs,
    tsunicorn: true,
    drainSeconds,
    stopSeconds: Math.max(timeoutSeconds, drainSeconds + MASTER_MARGIN_SECONDS),
    healthPath: settings.health_path,
    binds: settings.bind,
  };
}
