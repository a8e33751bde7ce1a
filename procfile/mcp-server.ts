import { readFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import type { LogsHeader, WireLogLine } from './control-commands.js';
import { sendControlRequest, type ControlReply } from './control-socket.js';
import { linePrefix } from './printer.js';

/**
 * The Model Context Protocol server of `tsforeman mcp` (the official SDK): the manager's ps, logs,
 * wait, restart and stop as tools. Loaded only by that command: the SDK and zod are most of what a
 * tsforeman start-up would otherwise load.
 */

/** Serves the manager on `socketPath` over stdio until the client closes it (or stdin ends). */
export async function serveMcpOnStdio(socketPath: string): Promise<void> {
  const server = mcpServer(socketPath);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close();
}

/** MCP tool results: text, and `isError` for a failure (the assistant sees the one line). */
type ToolResult = { content: { type: 'text'; text: string }[]; isError?: boolean };

const text = (value: string): ToolResult => ({ content: [{ type: 'text', text: value }] });
const failure = (message: string): ToolResult => ({ content: [{ type: 'text', text: message }], isError: true });

const NAMES = z
  .array(z.string())
  .optional()
  .describe('instances (web.1) or process types (web); none means all');

/** The server and its tools, talking to the manager on `socketPath`. */
export function mcpServer(socketPath: string): McpServer {
  const server = new McpServer({ name: 'tsforeman', version: packageVersion() });
  const ask = async (
    command: string,
    names: string[] | undefined,
    options: Record<string, unknown> = {},
    onItem?: (item: unknown) => void,
    signal?: AbortSignal,
  ): Promise<ControlReply> => {
    try {
      return await sendControlRequest(socketPath, { command, names: names ?? [], pid: process.pid, options }, { onItem, signal, idleLimitMs: 0 });
    } catch (error) {
      return { ok: false, error: (error as Error).message };
    }
  };

  server.registerTool(
    'ps',
    {
      description:
        'List the instances of the running tsforeman stack as JSON: name, type, pid, state (starting, ready, running, restarting, stopping, stopped, exited, crashed), ready, port, restarts, startedAt, exitCode, exitSignal.',
      inputSchema: {},
    },
    async () => {
      const reply = await ask('ps', []);
      return reply.ok ? text(JSON.stringify(reply.data, null, 2)) : failure(reply.error);
    },
  );

  server.registerTool(
    'logs',
    {
      description: 'The last lines the stack printed (its output and its system lines), oldest first; never waits for new lines.',
      inputSchema: {
        names: NAMES.describe('instances (web.1), process types (web) or "system"; none means everything'),
        lines: z.number().int().min(1).max(10_000).optional().describe('how many of the last lines (default 100)'),
      },
    },
    async ({ names, lines }) => {
      let header: LogsHeader = { nameWidth: 6, names: [] };
      const out: string[] = [];
      const reply = await ask('logs', names, { lines: lines ?? 100, follow: false }, (item) => {
        const value = item as Partial<LogsHeader & WireLogLine>;
        if (value.nameWidth !== undefined) {
          header = value as LogsHeader;
          return;
        }
        const line = value as WireLogLine;
        const name = line.stream === 'system' ? 'system' : line.instance;
        const prefix = linePrefix({ timestamp: true, color: false, nameWidth: header.nameWidth }, name, line.time, 0);
        out.push(`${prefix}${Buffer.from(line.base64, 'base64').toString('utf8')}`);
      });
      if (!reply.ok) return failure(reply.error);
      return text(out.length === 0 ? '(no lines yet)' : out.join('\n'));
    },
  );

  server.registerTool(
    'wait',
    {
      description: 'Wait until instances are ready (a port answers, a --ready-line matched, or a task exited 0); fails at once when one crashed or was stopped.',
      inputSchema: {
        names: NAMES,
        timeout: z.number().min(0).max(600).optional().describe('seconds to wait at most (default 30)'),
      },
    },
    async ({ names, timeout }) => {
      const reply = await ask('wait', names, { timeoutMs: Math.round((timeout ?? 30) * 1000) });
      return reply.ok ? text(reply.lines.join('\n')) : failure(reply.error);
    },
  );

  server.registerTool(
    'restart',
    {
      description:
        'Restart instances or process types (the Procfile and env files are read again); answers once they are ready again, or fails when one crashed or is not ready within the timeout.',
      inputSchema: {
        names: NAMES,
        timeout: z.number().min(0).max(600).optional().describe('seconds to wait for them to be ready (default 30); the restart goes on'),
      },
    },
    async ({ names, timeout }) => {
      const seconds = timeout ?? 30;
      const limit = AbortSignal.timeout(Math.round(seconds * 1000));
      const reply = await ask('restart', names, {}, undefined, limit);
      if (reply.ok) return text(reply.lines.join('\n'));
      if (!limit.aborted) return failure(reply.error);
      // Given up waiting (the manager goes on): say what they are doing now.
      const ps = await ask('ps', []);
      const rows = ps.ok ? (ps.data as { name: string; type: string; state: string }[]) : [];
      const wanted = names ?? [];
      const pending = rows
        .filter((row) => wanted.length === 0 || wanted.includes(row.name) || wanted.includes(row.type))
        .filter((row) => row.state !== 'ready' && row.state !== 'running' && row.state !== 'exited')
        .map((row) => `${row.name} (${row.state})`);
      return failure(`restarted, but not ready after ${seconds}s: ${pending.join(', ') || 'see ps'}`);
    },
  );

  server.registerTool(
    'stop',
    {
      description: 'Stop instances or process types and keep them stopped; with no names, stop the whole stack (the manager exits).',
      inputSchema: { names: NAMES.describe('instances or process types; none stops the whole stack') },
    },
    async ({ names }) => {
      const reply = await ask('stop', names);
      return reply.ok ? text(reply.lines.join('\n')) : failure(reply.error);
    },
  );
  return server;
}

function packageVersion(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
