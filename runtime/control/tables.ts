/**
 * What tsunicornc prints without -j: a table with a header row for each show command, one line for a
 * command that changes something. The data is the master's reply (handlers.ts); a field this master
 * does not send shows as `-`.
 *
 *   process.stdout.write(formatReply(parseCommand(['show', 'workers']), reply.data));
 */
import type { ControlCommand } from './protocol.js';

type Row = Record<string, unknown>;
type Column = [header: string, cell: (row: Row) => string];

const missing = '-';

function text(value: unknown): string {
  if (value === undefined || value === null) return missing;
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map(text).join(',');
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? missing;
}

function secondsText(value: unknown): string {
  if (typeof value !== 'number') return missing;
  if (value < 60) return `${value.toFixed(1)}s`;
  const whole = Math.floor(value);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  return hours > 0 ? `${hours}h${String(minutes).padStart(2, '0')}m` : `${minutes}m${String(whole % 60).padStart(2, '0')}s`;
}

function bytesText(value: unknown): string {
  if (typeof value !== 'number') return missing;
  if (value >= 1024 * 1024 * 1024) return `${(value / 1024 ** 3).toFixed(1)}G`;
  if (value >= 1024 * 1024) return `${(value / 1024 ** 2).toFixed(1)}M`;
  return `${Math.round(value / 1024)}K`;
}

function field(name: string, show: (value: unknown) => string = text): (row: Row) => string {
  return (row) => show(row[name]);
}

/** Left-aligned columns two spaces apart, the header first. */
export function table(columns: Column[], rows: Row[]): string {
  const cells = [columns.map(([header]) => header), ...rows.map((row) => columns.map(([, cell]) => cell(row)))];
  const widths = columns.map((_, index) => Math.max(...cells.map((line) => line[index]!.length)));
  return cells.map((line) => line.map((cell, index) => (index === line.length - 1 ? cell : cell.padEnd(widths[index]!))).join('  ')).join('\n') + '\n';
}

/** Each column with the field it shows: a field no worker has (an older master) leaves its column out. */
const WORKER_COLUMNS: [string, Column][] = [
  ['pid', ['PID', field('pid')]],
  ['generation', ['GEN', field('generation')]],
  ['age', ['AGE', field('age')]],
  ['uptime', ['UPTIME', field('uptime', secondsText)]],
  ['state', ['STATE', (row) => (row.recycling ? `${text(row.state)} (recycling: ${text(row.recycling)})` : text(row.state))]],
  ['requests', ['REQUESTS', field('requests')]],
  ['in_flight', ['IN FLIGHT', field('in_flight')]],
  ['connections', ['CONNS', field('connections')]],
  ['upgraded', ['WEBSOCKETS', field('upgraded')]],
  ['rss_bytes', ['RSS', field('rss_bytes', bytesText)]],
  ['cpu_percent', ['CPU%', field('cpu_percent')]],
  ['event_loop_delay_p99_ms', ['LOOP P99', (row) => (typeof row.event_loop_delay_p99_ms === 'number' ? `${row.event_loop_delay_p99_ms}ms` : missing)]],
  ['last_heartbeat', ['HEARTBEAT', (row) => (typeof row.last_heartbeat === 'number' ? `${secondsText(row.last_heartbeat)} ago` : missing)]],
];

function workerTable(rows: Row[]): string {
  const present = WORKER_COLUMNS.filter(([name], index) => index < 5 || rows.some((row) => name in row));
  return table(present.map(([, column]) => column), rows);
}

function asRows(value: unknown): Row[] {
  return Array.isArray(value) ? (value as Row[]) : [];
}

function statsRows(data: Row): Row[] {
  const rows: Row[] = [];
  for (const [name, value] of Object.entries(data)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      for (const [inner, innerValue] of Object.entries(value as Row)) rows.push({ name: `${name}.${inner}`, value: innerValue });
    } else {
      rows.push({ name, value: name === 'uptime' ? secondsText(value) : value });
    }
  }
  return rows;
}

export function formatReply(command: ControlCommand, data: unknown): string {
  const reply = (data ?? {}) as Row;
  switch (command.name) {
    case 'show workers':
      return workerTable(asRows(reply.workers));
    case 'show stats':
      return table([['STAT', field('name')], ['VALUE', field('value')]], statsRows(reply));
    case 'show config':
      // The value last: a long one (an access log format) does not widen the other columns.
      return table([['SETTING', field('name')], ['FROM', field('from')], ['VALUE', field('value')]], asRows(reply.settings));
    case 'show listeners':
      return table(
        [['ADDRESS', field('address')], ['TYPE', field('type')], ['TLS', (row) => (row.tls ? 'yes' : 'no')], ['FD', field('fd')], ['ACCEPTED BY', field('accepted_by')], ['INHERITED', field('inherited')]],
        asRows(reply.listeners),
      );
    case 'worker add':
    case 'worker remove':
      return `workers: ${text(reply.previous)} -> ${text(reply.target)} (the master ${command.name === 'worker add' ? 'starts' : 'drains'} the difference)\n`;
    case 'worker kill':
      return reply.already ? `worker ${text(reply.pid)} was draining already\n` : `worker ${text(reply.pid)} drains; a new worker replaces it\n`;
    case 'reload':
      return `reloading: generation ${text(reply.generation)} starts; the running workers drain once it serves\n`;
    case 'reopen':
      return 'reopening the log files\n';
    case 'shutdown':
      return `shutting down (${text(reply.mode)}): master ${text(reply.pid)}\n`;
  }
}
