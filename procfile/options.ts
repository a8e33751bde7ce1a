import type { Command } from 'commander';
import type { EnvMap } from './env.js';
import { UserError } from './errors.js';
import { checkProcessTypes, parsePort } from './formation.js';
import { DEFAULT_LOG_LINES } from './log-store.js';
import type { Procfile } from './procfile.js';

/**
 * The flags of tsforeman's commands, each declared once in `FLAGS` (its spelling, help text and
 * parser), the way `runtime/settings.ts` declares tsunicorn's settings. A command picks the ones it
 * takes, so a flag shared by several commands reads the same in every `--help`:
 *
 *   addFlags(program.command('check'), ['procfile', 'root', 'env']);
 */
interface FlagRow {
  /** Commander's spelling: short and long flag, and `<value>` / `[value]` when it takes one. */
  flags: string;
  help: string;
  /** Turns each occurrence into the option's value (given the previous one for repeatable flags). */
  parse?: (value: string, previous: string[] | undefined) => string[];
  default?: string;
}

/** Commander parser for repeatable flags (no default, so --help shows none). */
function collectRepeated(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

const FLAGS = {
  procfile: { flags: '-f, --procfile <file>', help: 'the Procfile (default: ./Procfile, or ROOT/Procfile with -d)' },
  root: { flags: '-d, --root <dir>', help: "working directory of every process (default: the Procfile's folder)" },
  env: {
    flags: '-e, --env <files>',
    help: 'env files, comma separated or repeated; later files win (default: ROOT/.env if it exists)',
    parse: collectRepeated,
  },
  formation: {
    flags: '-m, --formation <spec>',
    help: 'instances per type: all=1,web=2,worker=0 (default: all=1)',
    parse: collectRepeated,
  },
  port: { flags: '-p, --port <n>', help: 'base port (default: $PORT from the env files or environment, else 5000)' },
  timeout: { flags: '-t, --timeout <seconds>', help: 'grace between SIGTERM and SIGKILL when stopping', default: '5' },
  timestamp: { flags: '--timestamp', help: 'prefix lines with the time (the default)' },
  noTimestamp: { flags: '--no-timestamp', help: 'do not prefix lines with the time' },
  color: { flags: '--color', help: 'colour the output even when it is not a terminal' },
  noColor: { flags: '--no-color', help: 'never colour the output' },
  restart: {
    flags: '--restart <types>',
    help: 'restart these process types with back-off when they exit (comma separated)',
    parse: collectRepeated,
  },
  canDie: {
    flags: '--can-die <types>',
    help: 'let these process types exit without stopping the others (comma separated)',
    parse: collectRepeated,
  },
  holdPort: {
    flags: '--hold-port <types>',
    help: 'hold the port of each instance of these types so a restart drops no connection: start hands it over as fd 3 (LISTEN_FDS, as systemd does), export systemd writes a .socket unit per instance (comma separated)',
    parse: collectRepeated,
  },
  watch: { flags: '--watch [glob]', help: 'restart processes when files under the root change (only files matching GLOB if given)' },
  profile: { flags: '--profile', help: 'source ROOT/.profile.d/*.sh into the environment (default: when that folder exists)' },
  noProfile: { flags: '--no-profile', help: 'do not source ROOT/.profile.d/*.sh' },
  socket: { flags: '--socket <path>', help: 'control socket of the running manager (default: ROOT/.tsforeman.sock)' },
  json: { flags: '--json', help: 'print JSON instead of text' },
  waitTimeout: { flags: '--timeout <seconds>', help: 'give up (exit 1) after this many seconds (default: no limit)' },
  lines: { flags: '-n, --lines <n>', help: 'how many of the last lines to print (default: 100)' },
  follow: { flags: '-f, --follow', help: 'keep printing new lines until Ctrl-C' },
  logLines: { flags: '--log-lines <n>', help: `lines kept in memory per instance for "tsforeman logs" (default: ${DEFAULT_LOG_LINES})` },
  reloadSignal: {
    flags: '--reload-signal <type=signal>',
    help: 'the signal that reloads TYPE in place (default: HUP), e.g. web=USR2 (repeatable)',
    parse: collectRepeated,
  },
  readyLine: {
    flags: '--ready-line <type=regex>',
    help: 'TYPE is ready when a line of its output matches REGEX (repeatable)',
    parse: collectRepeated,
  },
  after: {
    flags: '--after <type=types>',
    help: 'start TYPE only once TYPES (comma separated) are ready, or for a task have exited 0 (repeatable)',
    parse: collectRepeated,
  },
  strictEnv: { flags: '--strict-env', help: 'an env file variable no process can receive is an error, not a warning' },
} satisfies Record<string, FlagRow>;

export type FlagName = keyof typeof FLAGS;

/** Adds the named flags to `command`, in the order given. */
export function addFlags(command: Command, names: readonly FlagName[]): Command {
  for (const name of names) {
    const row: FlagRow = FLAGS[name];
    if (row.parse) command.option(row.flags, row.help, row.parse);
    else if (row.default !== undefined) command.option(row.flags, row.help, row.default);
    else command.option(row.flags, row.help);
  }
  return command;
}

/** The flags every command that reads a project takes. */
export const PROJECT_FLAGS: readonly FlagName[] = ['procfile', 'root', 'env'];

const DEFAULT_PORT = 5000;

/** The base port: `-p`, else `PORT` from the env files, else the inherited `PORT`, else 5000. `source` names `-p` in errors. */
export function basePortFor(flag: string | undefined, fileEnv: EnvMap, inherited: EnvMap, source = '-p/--port'): number {
  if (flag !== undefined) return parsePort(flag, source);
  if (fileEnv.PORT !== undefined) return parsePort(fileEnv.PORT, 'PORT in the env files');
  if (inherited.PORT !== undefined && inherited.PORT !== '') return parsePort(inherited.PORT, 'PORT in the environment');
  return DEFAULT_PORT;
}

/** Parses `-t/--timeout` (seconds, decimals allowed) into milliseconds; `source` names it in errors. */
export function parseTimeout(value: string, source = '-t/--timeout'): number {
  return parseSeconds(value, source);
}

/** Seconds (decimals allowed, not negative) into milliseconds; `flag` names it in the error. */
export function parseSeconds(value: string, flag: string): number {
  const seconds = Number(value);
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) {
    throw new UserError(`${flag}: expected a number of seconds, got ${JSON.stringify(value)}`);
  }
  return Math.round(seconds * 1000);
}

/** A whole number, 0 or more; `flag` names it in the error. */
export function parseCount(value: string, flag: string): number {
  if (!/^\d+$/.test(value.trim())) throw new UserError(`${flag}: expected a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * Whether output is coloured: `--color` / `--no-color` win; then `FORCE_COLOR` (any value but `0`
 * or `false` forces colour on, those force it off); then `NO_COLOR` (set and not empty: off); else
 * colour on a terminal only.
 */
export function outputColor(flag: boolean | undefined, environment: NodeJS.ProcessEnv, isTTY: boolean): boolean {
  if (flag !== undefined) return flag;
  const force = environment.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.trim().toLowerCase());
  if (environment.NO_COLOR !== undefined && environment.NO_COLOR !== '') return false;
  return isTTY;
}

/** Splits `TYPE[,TYPE]` lists (repeatable flags) and checks every name is a Procfile type. */
export function parseTypeList(values: readonly string[] | undefined, procfile: Procfile, flag: string): string[] {
  const names = (values ?? []).flatMap((value) => value.split(',')).map((name) => name.trim()).filter((name) => name !== '');
  checkProcessTypes(names, procfile, `${flag}: `);
  return names;
}
