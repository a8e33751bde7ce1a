import type { Command } from 'commander';
import { isUtf8 } from 'node:buffer';
import { constants as osConstants } from 'node:os';
import {
  controlSocketPath,
  sendControlRequest,
  type ControlHandler,
  type ControlHandlers,
  type ControlReply,
  type ControlRequest,
  type SocketOptions,
} from './control-socket.js';
import { UserError } from './errors.js';
import { withForemanDefaults } from './foreman-file.js';
import type { LogLine, LogStore } from './log-store.js';
import { addFlags, outputColor, parseCount, parseSeconds } from './options.js';
import { linePrefix, nameWidthFor } from './printer.js';
import { withExec } from './shell.js';
import type { InstanceStatus, Supervisor } from './supervisor.js';

/**
 * `tsforeman ps`, `restart`, `stop`, `wait` and `logs`: steer a running `tsforeman start` from
 * another terminal through its control socket (see control-socket.ts), like overmind's commands.
 * `registerControlCommands` adds the clients to the command line; `controlHandlers` is the
 * manager's side, one entry per request (spread it and add entries for more).
 */

/** What the manager's handlers work with. */
export interface ControlContext {
  supervisor: Supervisor;
  /** Prints a system line in the manager's output (and its log), about `instance` when given. */
  say: (text: string, instance?: string) => void;
  /** The command an instance runs now (for reload's check that it is one program). */
  commandOf: (name: string) => string | undefined;
  /** The manager's restart (the Procfile and env files read again first). */
  restart: (names: string[]) => Promise<void>;
  logs: LogStore;
}

/** One line as `logs` sends it over the socket (bytes in base64: a line need not be UTF-8). */
export interface WireLogLine {
  time: number;
  instance: string;
  stream: LogLine['stream'];
  base64: string;
}

/** What `logs` sends first: how to lay the lines out as the manager's printer does. */
export interface LogsHeader {
  nameWidth: number;
  /** Every instance name in Procfile order: its index picks its colour, as in the manager. */
  names: string[];
}

/** The manager's handlers, by request name. */
export function controlHandlers(context: ControlContext): ControlHandlers {
  const { supervisor } = context;
  const asked = (request: ControlRequest) => `(requested by pid ${request.pid})`;
  const named = (request: ControlRequest): string[] => supervisor.instancesNamed(request.names);
  const ps: ControlHandler = () => {
    const statuses = supervisor.statuses();
    return Promise.resolve({ ok: true, lines: formatStatuses(statuses, Date.now()), data: statuses.map(statusJson) });
  };
  const restart: ControlHandler = async (request, session) => {
    if (supervisor.stopping) return { ok: false, error: 'the manager is shutting down' };
    const names = named(request);
    context.say(`restart ${names.join(', ')} ${asked(request)}`);
    await context.restart(names);
    // The answer comes once the new processes are ready (their port accepts, their ready line came).
    const outcome = await supervisor.whenReady(names, session.closed);
    if (!outcome.ok) return { ok: false, error: `restarted ${names.join(', ')}, but ${outcome.error}` };
    return { ok: true, lines: [`restarted ${names.join(', ')}`], data: { restarted: names } };
  };
  const reload: ControlHandler = (request) => Promise.resolve(reloadInstances(context, request));
  const stop: ControlHandler = async (request) => {
    if (supervisor.stopping) return { ok: false, error: 'the manager is shutting down' };
    if (request.names.length === 0) {
      context.say(`stop all processes ${asked(request)}`);
      supervisor.stop({ status: 0 });
      const status = await supervisor.run();
      return { ok: true, lines: [`stopped all processes; the manager exited with status ${status}`], data: { status } };
    }
    const names = named(request);
    context.say(`stop ${names.join(', ')} ${asked(request)}`);
    await supervisor.stopInstances(names);
    return { ok: true, lines: [`stopped ${names.join(', ')}`], data: { stopped: names } };
  };
  const wait: ControlHandler = async (request, session) => {
    const names = named(request);
    const timeoutMs = typeof request.options.timeoutMs === 'number' ? request.options.timeoutMs : null;
    const timer = new AbortController();
    const limit = timeoutMs === null ? null : setTimeout(() => timer.abort(), timeoutMs);
    try {
      const outcome = await supervisor.whenReady(names, AbortSignal.any([timer.signal, session.closed]));
      if (outcome.ok) return { ok: true, lines: [`ready: ${names.join(', ')}`], data: { ready: names } };
      if (!timer.signal.aborted) return { ok: false, error: outcome.error };
      const pending = supervisor
        .statuses()
        .filter((status) => names.includes(status.name) && !status.ready && status.state !== 'exited')
        .map((status) => `${status.name} (${status.state})`);
      return { ok: false, error: `timed out after ${formatSeconds(timeoutMs ?? 0)} waiting for ${pending.join(', ')}` };
    } finally {
      if (limit !== null) clearTimeout(limit);
    }
  };
  const logs: ControlHandler = async (request, session) => {
    const wanted = request.names.flatMap((word) => (word === 'system' ? ['system'] : supervisor.instancesNamed([word])));
    const count = typeof request.options.lines === 'number' ? request.options.lines : 100;
    const all = supervisor.statuses().map((status) => status.name);
    session.send({ nameWidth: nameWidthFor(all), names: all } satisfies LogsHeader);
    const matches = (line: LogLine) => wanted.length === 0 || wanted.includes(line.instance);
    const toWire = (line: LogLine): WireLogLine => ({
      time: line.time,
      instance: line.instance,
      stream: line.stream,
      base64: line.bytes.toString('base64'),
    });
    if (request.options.follow !== true) {
      for (const line of context.logs.last(wanted, count)) session.send(toWire(line));
      return { ok: true, lines: [] };
    }
    // Following: what was kept, then every new line, until the client leaves or the manager ends.
    const backlog = context.logs.last(wanted, count);
    for (const line of backlog) session.send(toWire(line));
    const lastSeq = backlog.at(-1)?.seq ?? 0;
    await new Promise<void>((resolvePromise) => {
      const unfollow = context.logs.follow((line) => {
        if (line.seq > lastSeq && matches(line)) session.send(toWire(line));
      });
      const done = () => {
        unfollow();
        resolvePromise();
      };
      if (session.closed.aborted) done();
      else session.closed.addEventListener('abort', done, { once: true });
    });
    return { ok: true, lines: [] };
  };
  return { ps, restart, reload, stop, wait, logs };
}

/**
 * `reload`: the signal that reloads each named instance in place (HUP, or the type's --reload-signal),
 * sent to its process only, not its group: a tsunicorn master reloads its workers itself. A command
 * the shell runs (not one program) cannot be reloaded: the signal would reach the shell.
 */
function reloadInstances(context: ControlContext, request: ControlRequest): ControlReply {
  const { supervisor } = context;
  if (supervisor.stopping) return { ok: false, error: 'the manager is shutting down' };
  const names = supervisor.instancesNamed(request.names);
  const chosen = (request.options.signals ?? {}) as Record<string, string>;
  const statuses = supervisor.statuses().filter((status) => names.includes(status.name));
  const types = new Set(supervisor.statuses().map((status) => status.type));
  const unknown = Object.keys(chosen).find((type) => !types.has(type));
  if (unknown !== undefined) return { ok: false, error: `--reload-signal: unknown process type "${unknown}" (types: ${[...types].join(', ')})` };
  const notRunning = statuses.find((status) => status.pid === null);
  if (notRunning) return { ok: false, error: `cannot reload ${notRunning.name}: it is not running (${notRunning.state}); use tsforeman restart` };
  // The rule of shell.ts: a simple command is exec'd (its pid is the program's), anything else runs under the shell.
  const compound = statuses.find((status) => {
    const command = context.commandOf(status.name) ?? '';
    return withExec(command) === command;
  });
  if (compound) {
    return { ok: false, error: `cannot reload ${compound.name}: its command is not one program, so the signal would reach the shell (use tsforeman restart, or make the command one program)` };
  }
  const sent: string[] = [];
  context.say(`reload ${names.join(', ')} (requested by pid ${request.pid})`);
  for (const status of statuses) {
    const signal = (chosen[status.type] ?? 'SIGHUP') as NodeJS.Signals;
    try {
      process.kill(status.pid!, signal);
      sent.push(`${status.name} (${signal} to pid ${status.pid})`);
    } catch {
      return { ok: false, error: `cannot reload ${status.name}: pid ${status.pid} is gone` };
    }
  }
  context.say(`sent ${sent.join(', ')}`);
  return { ok: true, lines: [`reloaded ${sent.join(', ')}`], data: { reloaded: names } };
}

/** A status as `ps --json` prints it. */
export function statusJson(status: InstanceStatus): Record<string, unknown> {
  return {
    name: status.name,
    type: status.type,
    pid: status.pid,
    state: status.state,
    ready: status.ready,
    port: status.port,
    restarts: status.restarts,
    startedAt: status.startedAt === null ? null : new Date(status.startedAt).toISOString(),
    uptimeMs: status.uptimeMs,
    exitCode: status.exit?.code ?? null,
    exitSignal: status.exit?.signal ?? null,
    restartInMs: status.restartInMs,
    waitingFor: status.waitingFor,
  };
}

interface ClientOptions extends SocketOptions {
  json?: boolean;
  timeout?: string;
  lines?: string;
  follow?: boolean;
  timestamp?: boolean;
  color?: boolean;
}

/** The clients: each sends one request to the manager of this root and prints the answer. */
export function registerControlCommands(program: Command): void {
  const socketPathOf = (options: SocketOptions) => controlSocketPath(options, process.cwd());
  // `.foreman` may name the Procfile, the root or the socket: those apply here too (not its timeout).
  const withDefaults = <T extends object>(options: T, command: Command): T =>
    withForemanDefaults(command, options, process.cwd(), ['procfile', 'root', 'socket']);
  const send = async (command: string, names: string[], options: Record<string, unknown>, socket: SocketOptions): Promise<ControlReply & { ok: true }> => {
    const reply = await sendControlRequest(socketPathOf(socket), { command, names, pid: process.pid, options });
    if (!reply.ok) throw new UserError(reply.error);
    return reply;
  };
  const print = (lines: readonly string[]) => {
    if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  };

  // -f/-d only locate the root (and so the socket); env files are the running manager's business.
  const locate = ['procfile', 'root', 'socket'] as const;

  addFlags(
    program.command('ps').description('list the instances of the running manager: name, type, pid, state, port, restarts, start time, exit'),
    [...locate, 'json'],
  ).action(async (given: ClientOptions, self: Command) => {
    const options = withDefaults(given, self);
    const reply = await send('ps', [], {}, options);
    if (options.json === true) process.stdout.write(`${JSON.stringify(reply.data)}\n`);
    else print(reply.lines);
  });

  addFlags(
    program
      .command('restart')
      .description('restart instances (web.1) or process types (web) of the running manager; none: all')
      .argument('[name...]', 'instances or process types (default: all)'),
    locate,
  ).action(async (names: string[], given: ClientOptions, self: Command) => print((await send('restart', names, {}, withDefaults(given, self))).lines));

  addFlags(
    program
      .command('reload')
      .description('send instances (web.1) or process types (web) of the running manager the signal that reloads them in place (HUP); none: all')
      .argument('[name...]', 'instances or process types (default: all)'),
    [...locate, 'reloadSignal'],
  ).action(async (names: string[], given: ClientOptions & { reloadSignal?: string[] }, self: Command) => {
    const options = withDefaults(given, self);
    const signals = parseReloadSignals(options.reloadSignal ?? []);
    print((await send('reload', names, { signals }, options)).lines);
  });

  addFlags(
    program
      .command('stop')
      .description('stop instances or process types and keep them stopped; none: stop the whole manager')
      .argument('[name...]', 'instances or process types (default: the manager)'),
    locate,
  ).action(async (names: string[], given: ClientOptions, self: Command) => print((await send('stop', names, {}, withDefaults(given, self))).lines));

  addFlags(
    program
      .command('wait')
      .description('wait until instances (web.1) or process types (web) of the running manager are ready; none: all')
      .argument('[name...]', 'instances or process types (default: all)'),
    [...locate, 'waitTimeout'],
  ).action(async (names: string[], given: ClientOptions, self: Command) => {
    const options = withDefaults(given, self);
    const timeoutMs = options.timeout === undefined ? undefined : parseSeconds(options.timeout, '--timeout');
    const reply = await sendControlRequest(
      socketPathOf(options),
      { command: 'wait', names, pid: process.pid, options: timeoutMs === undefined ? {} : { timeoutMs } },
      { idleLimitMs: 0 },
    );
    if (!reply.ok) throw new UserError(reply.error);
    print(reply.lines);
  });

  addFlags(
    program
      .command('logs')
      .description('print the last lines the running manager printed for instances (web.1) or types (web); none: all')
      .argument('[name...]', 'instances, process types, or system (default: all)'),
    // -f is --follow here, as with tail: the root is found with -d (or --socket).
    ['root', 'socket', 'lines', 'follow', 'json', 'timestamp', 'noTimestamp', 'color', 'noColor'],
  ).action(async (names: string[], given: ClientOptions, self: Command) => {
    const options = withDefaults(given, self);
    const lines = options.lines === undefined ? 100 : parseCount(options.lines, '-n/--lines');
    const color = outputColor(options.color, process.env, Boolean(process.stdout.isTTY));
    let header: LogsHeader = { nameWidth: 6, names: [] };
    const render = (item: unknown) => {
      const value = item as Partial<LogsHeader & WireLogLine>;
      if (value.nameWidth !== undefined) {
        header = value as LogsHeader;
        return;
      }
      const line = value as WireLogLine;
      const bytes = Buffer.from(line.base64, 'base64');
      if (options.json === true) {
        const object: Record<string, string> = { time: new Date(line.time).toISOString(), instance: line.instance, stream: line.stream, text: bytes.toString('utf8') };
        // `text` cannot hold bytes that are not UTF-8: the exact bytes go beside it.
        if (!isUtf8(bytes)) object.base64 = line.base64;
        process.stdout.write(`${JSON.stringify(object)}\n`);
        return;
      }
      const name = line.stream === 'system' ? 'system' : line.instance;
      const style = { timestamp: options.timestamp ?? true, color, nameWidth: header.nameWidth };
      process.stdout.write(Buffer.concat([Buffer.from(linePrefix(style, name, line.time, header.names.indexOf(name))), bytes, Buffer.from('\n')]));
    };
    const request = { command: 'logs', names, pid: process.pid, options: { lines, follow: options.follow === true } };
    // Ctrl-C ends a follow quietly, with status 0.
    const stop = new AbortController();
    const onSignal = () => stop.abort(new Error('interrupted'));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const reply = await sendControlRequest(socketPathOf(options), request, { onItem: render, signal: stop.signal, idleLimitMs: 0 });
      if (!reply.ok) throw new UserError(reply.error);
    } catch (error) {
      if (!stop.signal.aborted) throw error;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}

/** `--reload-signal web=USR2,worker=SIGTERM` (repeatable): the signal by type, spelled SIGNAME. */
export function parseReloadSignals(values: readonly string[]): Record<string, string> {
  const signals: Record<string, string> = {};
  for (const item of values.flatMap((value) => value.split(','))) {
    const match = /^\s*([A-Za-z0-9_-]+)=(?:SIG)?([A-Za-z0-9]+)\s*$/.exec(item);
    const name = match ? `SIG${match[2]!.toUpperCase()}` : '';
    if (!match || !(name in osConstants.signals)) {
      throw new UserError(`--reload-signal: expected TYPE=SIGNAL such as web=HUP or web=USR2, got "${item}"`);
    }
    signals[match[1]!] = name;
  }
  return signals;
}

/** `ps` as text: a header row, then one row per instance, columns aligned. */
export function formatStatuses(statuses: readonly InstanceStatus[], now: number): string[] {
  const header = ['NAME', 'TYPE', 'PID', 'STATE', 'PORT', 'RESTARTS', 'STARTED', 'UPTIME', 'EXIT'];
  const rows = statuses.map((status) => [
    status.name,
    status.type,
    status.pid === null ? '-' : String(status.pid),
    describeState(status),
    status.port === null ? '-' : String(status.port),
    String(status.restarts),
    status.startedAt === null ? '-' : clock(status.startedAt, now),
    status.uptimeMs === null ? '-' : formatDuration(status.uptimeMs),
    status.exit === null ? '-' : status.exit.signal !== null ? status.exit.signal : `code ${status.exit.code}`,
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  return all.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
}

function describeState(status: InstanceStatus): string {
  if (status.restartInMs !== null) return `restarting in ${Math.ceil(status.restartInMs / 1000)}s`;
  if (status.waitingFor.length > 0) return `starting (after ${status.waitingFor.join(', ')})`;
  return status.state;
}

/** `HH:MM:SS` today, `MM-DD HH:MM` before. */
function clock(time: number, now: number): string {
  const date = new Date(time);
  const two = (n: number) => String(n).padStart(2, '0');
  const hms = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return new Date(now).toDateString() === date.toDateString() ? hms : `${two(date.getMonth() + 1)}-${two(date.getDate())} ${hms}`;
}

/** `45s`, `3m05s`, `2h07m`, `3d04h`. */
export function formatDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${two(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${two(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86_400)}d${two(Math.floor(seconds / 3600) % 24)}h`;
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(2))}s`;
}
