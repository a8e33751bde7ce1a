import type { Command } from 'commander';
import { controlSocketPath, type SocketOptions } from './control-socket.js';
import { withForemanDefaults } from './foreman-file.js';
import { addFlags } from './options.js';

/**
 * `tsforeman mcp`: a Model Context Protocol server on stdio (the official SDK) for coding
 * assistants. It talks to the manager running in this root through its control socket, as `ps`,
 * `logs`, `wait`, `restart` and `stop` do, and offers them as tools. Every call opens its own
 * connection, so the server may start before the stack, and a tool called while no manager runs
 * answers one error saying so.
 */
export function registerMcpCommand(program: Command): void {
  addFlags(
    program
      .command('mcp')
      .description('serve the running manager as Model Context Protocol tools on stdio: ps, logs, wait, restart, stop'),
    ['procfile', 'root', 'socket'],
  ).action(async (given: SocketOptions, self: Command) => {
    const options = withForemanDefaults(self, given, process.cwd(), ['procfile', 'root', 'socket']);
    const socketPath = controlSocketPath(options, process.cwd());
    const { serveMcpOnStdio } = await import('./mcp-server.js');
    await serveMcpOnStdio(socketPath);
  });
}

