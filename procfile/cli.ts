import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerBuildCommand } from './build.js';
import { registerCheckCommand } from './check-command.js';
import { registerControlCommands } from './control-commands.js';
import { UserError } from './errors.js';
import { registerExportCommand } from './export/index.js';
import { registerMcpCommand } from './mcp-command.js';
import { registerRunCommand } from './run-command.js';
import { registerStartCommand } from './start-command.js';

/**
 * The `tsforeman` command. Each subcommand registers itself on the program; to add one, import its
 * `registerXCommand` and call it below.
 */
const program = new Command('tsforeman')
  .description('run the processes of a Procfile: start, run, check; steer a running one: ps, restart, stop, wait, logs, mcp')
  .version(packageVersion(), '-v, --version')
  .enablePositionalOptions()
  .configureOutput({ outputError: (text, write) => write(`tsforeman: ${text.replace(/^error: /, '')}`) })
  .exitOverride();

registerStartCommand(program);
registerRunCommand(program);
registerCheckCommand(program);
registerControlCommands(program);
registerExportCommand(program);
registerMcpCommand(program);
registerBuildCommand(program);
program
  .command('version')
  .description('print the version (as --version does)')
  .action(() => {
    process.stdout.write(`${packageVersion()}\n`);
  });

try {
  await program.parseAsync(process.argv);
  process.exit(process.exitCode ?? 0);
} catch (error) {
  if (error instanceof CommanderError) {
    // Help and version exit 0; usage errors were already printed by commander.
    process.exit(error.exitCode);
  }
  if (error instanceof UserError) {
    process.stderr.write(`tsforeman: ${error.message}\n`);
    process.exit(error.exitCode);
  }
  throw error;
}

function packageVersion(): string {
  const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}
