/**
 * The control socket's protocol, shared by the master (server.ts) and `tsunicornc` (client.ts): one
 * request per connection, each message one line of JSON. The client sends the command's words and who
 * it is; the master answers with the command's data, or one error line:
 *
 *   -> {"command":["worker","add","2"],"pid":4711,"uid":1000}
 *   <- {"ok":true,"data":{"previous":2,"target":4}}
 *   <- {"ok":false,"error":"worker kill: 123 is not a worker of this master (pids: 4712, 4713)","usage":true}
 *
 * `parseCommand` is the one grammar: the client checks the words before it connects (a bad command is
 * exit 2 without a master), the master checks them again (a client of another version).
 */

export type ShutdownMode = 'graceful' | 'quick';

export type ControlCommand =
  | { name: 'show workers' }
  | { name: 'show stats' }
  | { name: 'show config' }
  | { name: 'show listeners' }
  | { name: 'worker add'; count: number }
  | { name: 'worker remove'; count: number }
  | { name: 'worker kill'; pid: number }
  | { name: 'reload' }
  | { name: 'reopen' }
  | { name: 'shutdown'; mode: ShutdownMode };

export interface ControlRequest {
  /** The command's words, as typed: `['show', 'workers']`. */
  command: string[];
  /** Who asks, as the client says (server.ts checks what it can of it). */
  pid: number;
  uid: number;
}

/** `usage`: the command or an argument is wrong (the client exits 2); else the master could not do it (exit 1). */
export type ControlReply = { ok: true; data: unknown } | { ok: false; error: string; usage?: boolean };

/** A command that is not one, or a bad argument: one line for the user. */
export class CommandError extends Error {}

/** The command set, as `tsunicornc --help` and the errors list it. */
export const COMMAND_USAGE: readonly [string, string][] = [
  ['show workers', 'each worker: pid, generation, age, state, requests, memory, CPU, event-loop delay, heartbeat'],
  ['show stats', 'the master: uptime, workers, restarts, reloads, requests by status class'],
  ['show config', 'every setting in force, with where it came from'],
  ['show listeners', 'the listening sockets'],
  ['worker add [N]', 'N more workers (default 1), as N TTIN'],
  ['worker remove [N]', 'N fewer workers (default 1, never below 1), as N TTOU: the oldest drain'],
  ['worker kill PID', 'drain and replace that worker'],
  ['reload', 'as HUP: re-read the config, a new generation of workers, the old one drains'],
  ['reopen', 'as USR1: reopen the log files'],
  ['shutdown [graceful|quick]', 'as TERM (graceful, the default) or INT (quick)'],
];

const COMMAND_LIST = 'show workers|stats|config|listeners, worker add|remove [N], worker kill PID, reload, reopen, shutdown [graceful|quick]';

/** Longest request or reply line either side reads (a reply of show config is a few kB). */
export const MAX_LINE_BYTES = 1024 * 1024;

function count(words: readonly string[], what: string): number {
  if (words.length === 0) return 1;
  if (words.length > 1) throw new CommandError(`${what}: expected at most one number, got "${words.join(' ')}"`);
  const text = words[0]!;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 1000) {
    throw new CommandError(`${what}: expected a number of workers from 1 to 1000, got "${text}"`);
  }
  return Number(text);
}

function none(words: readonly string[], what: string): void {
  if (words.length > 0) throw new CommandError(`${what} takes no argument, got "${words.join(' ')}"`);
}

/** Reads a command from its words; throws CommandError naming what is wrong. */
export function parseCommand(words: readonly string[]): ControlCommand {
  const [first, second, ...rest] = words;
  switch (first) {
    case 'show': {
      const what = `show ${second ?? ''}`.trim();
      if (second === 'workers' || second === 'stats' || second === 'config' || second === 'listeners') {
        none(rest, what);
        return { name: `show ${second}` };
      }
      throw new CommandError(second === undefined
        ? 'show: expected workers, stats, config or listeners'
        : `show: unknown "${second}" (expected workers, stats, config or listeners)`);
    }
    case 'worker': {
      if (second === 'add' || second === 'remove') return { name: `worker ${second}`, count: count(rest, `worker ${second}`) };
      if (second === 'kill') {
        if (rest.length !== 1 || !/^\d+$/.test(rest[0]!) || Number(rest[0]) < 1) {
          throw new CommandError(`worker kill: expected one worker's PID, got "${rest.join(' ')}"`);
        }
        return { name: 'worker kill', pid: Number(rest[0]) };
      }
      throw new CommandError(second === undefined
        ? 'worker: expected add [N], remove [N] or kill PID'
        : `worker: unknown "${second}" (expected add [N], remove [N] or kill PID)`);
    }
    case 'reload':
    case 'reopen':
      none(words.slice(1), first);
      return { name: first };
    case 'shutdown': {
      if (rest.length > 0 || (second !== undefined && second !== 'graceful' && second !== 'quick')) {
        throw new CommandError(`shutdown: expected graceful or quick, got "${words.slice(1).join(' ')}"`);
      }
      return { name: 'shutdown', mode: second ?? 'graceful' };
    }
    case undefined:
      throw new CommandError(`missing COMMAND (commands: ${COMMAND_LIST})`);
    default:
      throw new CommandError(`unknown command "${words.join(' ')}" (commands: ${COMMAND_LIST})`);
  }
}

/** Reads a request line; throws CommandError for anything that is not one. */
export function parseRequest(line: string): ControlRequest {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new CommandError('bad control request: not JSON');
  }
  const request = value as Partial<ControlRequest> | null;
  if (typeof request !== 'object' || request === null || !Array.isArray(request.command) || !request.command.every((word) => typeof word === 'string')) {
    throw new CommandError('bad control request: expected {"command": [words], "pid": N, "uid": N}');
  }
  return {
    command: request.command,
    pid: Number.isSafeInteger(request.pid) ? request.pid! : 0,
    uid: Number.isSafeInteger(request.uid) ? request.uid! : -1,
  };
}

/** Reads a reply line; undefined for anything that is not one. */
export function parseReply(line: string): ControlReply | undefined {
  try {
    const value = JSON.parse(line) as Partial<ControlReply> | null;
    if (value?.ok === true) return { ok: true, data: (value as { data?: unknown }).data ?? null };
    if (value?.ok === false && typeof (value as { error?: unknown }).error === 'string') {
      const failure = value as { error: string; usage?: unknown };
      return { ok: false, error: failure.error, usage: failure.usage === true };
    }
  } catch {
    // Not JSON: not a reply.
  }
  return undefined;
}

export function encode(message: ControlRequest | ControlReply): string {
  return `${JSON.stringify(message)}\n`;
}
