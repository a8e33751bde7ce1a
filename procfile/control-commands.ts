import type { Command } from 'commander';
import { controlSocketPath, sendControlRequest, type ControlCommand, type ControlReply, type ControlRequest, type SocketOptions } from './control-socket.js';
import { UserError } from './errors.js';
import { addFlags } from './options.js';
import type { Printer } from './printer.js';
import type { InstanceStatus, Supervisor } from './supervisor.js';

/**
 * `tsforeman ps`, `restart [NAME...]` and `stop [NAME...]`: steer a running `tsforeman start` from
 * another terminal through its control socket (see control-socket.ts), like overmind's commands.
 * The client side registers the commands; `handleControlRequest` is the manager's side.
 */
export function registerControlCommands(program: Command): void {
  const commands: [ControlCommand, string, string | null][] = [
    ['ps', 'list the instances of the running manager: name, pid, state, uptime, port', null],
    ['restart', 'restart instances (web.1) or process types (web) of the running manager; none: all', 'instances or process types (default: all)'],
    ['stop', 'stop instances or process types and keep them stopped; none: stop the whole manager', 'instances or process types (default: the manager)'],
  ];
  for (const [name, description, argument] of commands) {
    const command = program.command(name).description(description);
    if (argument !== null) command.argument('[name...]', argument);
    // -f/-d only locate the root (and so the socket); env files are the running manager's business.
    addFlags(command, ['procfile', 'root', 'socket']).action(async (...args: unknown[]) => {
      const names = argument === null ? [] : (args[0] as string[]);
      const options = args[argument === null ? 0 : 1] as SocketOptions;
      const path = controlSocketPath(options, process.cwd());
      const reply = await sendControlRequest(path, { command: name, names, pid: process.pid });
      if (!reply.ok) throw new UserError(reply.error);
      if (reply.lines.length > 0) process.stdout.write(`${reply.lines.join('\n')}\n`);
    });
  }
}

/** What the manager does for one request; `restart` is the manager's own (it re-reads the Procfile and env). */
export async function handleControlRequest(
  request: ControlRequest,
  supervisor: Supervisor,
  printer: Printer,
  restart: (names: string[]) => Promise<void>,
): Promise<ControlReply> {
  if (request.command === 'ps') return { ok: true, lines: formatStatuses(supervisor.statuses()) };
  if (supervisor.stopping) return { ok: false, error: 'the manager is shutting down' };
  const asked = `(requested by pid ${request.pid})`;
  if (request.command === 'stop' && request.names.length === 0) {
    printer.system(`stop all processes ${asked}`);
    supervisor.stop({ status: 0 });
    const status = await supervisor.run();
    return { ok: true, lines: [`stopped all processes; the manager exited with status ${status}`] };
  }
  let names: string[];
  try {
    names = supervisor.instancesNamed(request.names);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  printer.system(`${request.command} ${names.join(', ')} ${asked}`);
  if (request.command === 'stop') {
    await supervisor.stopInstances(names);
    return { ok: true, lines: [`stopped ${names.join(', ')}`] };
  }
  await restart(names);
  return { ok: true, lines: [`restarted ${names.join(', ')}`] };
}

/** `web.1  pid 4242  running  up 3m05s  port 5000`, columns aligned. */
function formatStatuses(statuses: readonly InstanceStatus[]): string[] {
  const rows = statuses.map((status) => [
    status.name,
    status.pid === null ? '-' : `pid ${status.pid}`,
    status.state,
    status.uptimeMs === null ? '-' : `up ${formatDuration(status.uptimeMs)}`,
    status.port === undefined ? '' : `port ${status.port}`,
  ]);
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd());
}

/** `45s`, `3m05s`, `2h07m`, `3d04h`. */
function formatDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${two(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h${two(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86_400)}d${two(Math.floor(seconds / 3600) % 24)}h`;
}
