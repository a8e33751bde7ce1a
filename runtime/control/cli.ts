/**
 * The `tsunicornc` command: `tsunicornc [-s PATH] [-j] COMMAND`, one command to a running master
 * through its control socket. Exit 0 when the master did it, 1 when no master listens (the line names
 * the socket) or the master could not, 2 for a command or argument that is wrong.
 *
 * Without -s, the socket is the one a master started in the current folder uses by default
 * (socket-path.ts); when several masters run in this folder, -s chooses.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NoMasterError, sendCommand } from './client.js';
import { COMMAND_USAGE, CommandError, parseCommand, type ControlCommand } from './protocol.js';
import { socketIsLive } from './server.js';
import { folderPattern, socketsOfFolder } from './socket-path.js';
import { formatReply } from './tables.js';

class UsageError extends Error {}
class Failure extends Error {}

function packageVersion(): string {
  for (const relative of ['../../../package.json', '../../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'tsforeman' && manifest.version) return manifest.version;
    } catch {
      // Try the next candidate.
    }
  }
  return '0.0.0';
}

function helpText(): string {
  const width = Math.max(...COMMAND_USAGE.map(([command]) => command.length)) + 2;
  return [
    'Usage: tsunicornc [-s PATH] [-j] COMMAND',
    '',
    'Sends COMMAND to a running tsunicorn master through its control socket.',
    '',
    'Commands:',
    ...COMMAND_USAGE.map(([command, what]) => `  ${command.padEnd(width)}${what}`),
    '',
    'Options:',
    '  -s, --socket PATH  the master\'s control socket (its --control-socket); default: the one a master',
    '                     started in the current folder uses (if several run here, -s chooses)',
    '  -j, --json         print the reply as JSON instead of a table',
    '  -v, --version      print the version and exit',
    '  -h, --help         print this help and exit',
    '',
    'Exit status: 0 done, 1 no master listening (or it could not), 2 a wrong command or argument.',
    '',
  ].join('\n');
}

/** The socket to use: -s, else the one live default socket of this folder. */
async function findSocket(given: string | undefined, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (given !== undefined) return path.resolve(cwd, given);
  const candidates = socketsOfFolder(cwd, env);
  if (candidates.length === 0) throw new NoMasterError(`no tsunicorn master listening on ${folderPattern(cwd, env)} (none started in ${cwd} with the default control socket; give -s PATH)`);
  if (candidates.length === 1) return candidates[0]!;
  const live: string[] = [];
  for (const candidate of candidates) if (await socketIsLive(candidate)) live.push(candidate);
  if (live.length === 1) return live[0]!;
  if (live.length === 0) throw new NoMasterError(`no tsunicorn master listening on ${candidates.join(', ')} (stale socket files)`);
  throw new UsageError(`${live.length} tsunicorn masters run in ${cwd}: choose one with -s (${live.join(', ')})`);
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (error) {
    const message = (error as Error).message;
    const option = /'(-[^' ]+)/.exec(message)?.[1]?.split('=')[0];
    const code = (error as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) throw new UsageError(`unknown option '${option}' (see tsunicornc --help)`);
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) throw new UsageError(`${option.split(',')[0]}: expected a value (see tsunicornc --help)`);
    throw new UsageError(`${message.split('\n')[0]} (see tsunicornc --help)`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(helpText());
    return 0;
  }
  if (values.version) {
    process.stdout.write(`tsunicornc ${packageVersion()}\n`);
    return 0;
  }
  let command: ControlCommand;
  try {
    command = parseCommand(positionals);
  } catch (error) {
    if (error instanceof CommandError) throw new UsageError(error.message);
    throw error;
  }
  const file = await findSocket(values.socket, process.cwd(), process.env);
  const reply = await sendCommand(file, positionals);
  if (!reply.ok) throw reply.usage ? new UsageError(reply.error) : new Failure(reply.error);
  process.stdout.write(values.json ? `${JSON.stringify(reply.data, null, 2)}\n` : formatReply(command, reply.data));
  return 0;
}

function parseOptions(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      socket: { type: 'string', short: 's' },
      json: { type: 'boolean', short: 'j' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  });
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`tsunicornc: ${(error as Error).message}\n`);
  process.exitCode = error instanceof UsageError ? 2 : 1;
}
