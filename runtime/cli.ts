/**
 * The `tsunicorn` command: resolves the settings, prints --help / --version, and runs the master.
 * A user error is one line on stderr and a non-zero status (2 settings, 1 bind, 4 app load, 3 boot).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Arbiter } from './arbiter.js';
import { checkConfiguration } from './check-config.js';
import { formatConfiguration, loadConfiguration } from './configuration.js';
import { TsunicornError, reportOf } from './errors.js';
import { checkNodeInternals } from './node-internals.js';
import { helpText, splitShellWords } from './settings.js';

function packageVersion(): string {
  // The package root is two levels up from dist/runtime/cli.js, one level up from runtime/cli.ts (run through tsx).
  for (const relative of ['../../package.json', '../package.json']) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(relative, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (manifest.name === 'tsforeman' && manifest.version) return manifest.version;
    } catch {
      // Try the next candidate.
    }
  }
  return '0.0.0';
}

async function main(): Promise<number> {
  const version = packageVersion();
  const sources = { argv: process.argv.slice(2), env: process.env, cwd: process.cwd() };
  const configuration = await loadConfiguration(sources);
  if (configuration.help) {
    process.stdout.write(helpText(version));
    return 0;
  }
  if (configuration.version) {
    process.stdout.write(`tsunicorn ${version}\n`);
    return 0;
  }
  const { settings } = configuration;
  if (settings.print_config || settings.check_config) {
    if (settings.print_config) process.stdout.write(formatConfiguration(configuration));
    const problems = await checkConfiguration(configuration, sources.cwd);
    for (const problem of problems) process.stderr.write(`${problem}\n`);
    return problems.length === 0 ? 0 : 1;
  }
  if (!configuration.settings.app) {
    process.stderr.write('tsunicorn: missing APP: usage is tsunicorn [OPTIONS] path/to/module[:name] (see --help)\n');
    return 2;
  }
  if (settings.chdir !== undefined && statSync(path.resolve(sources.cwd, settings.chdir), { throwIfNoEntry: false })?.isDirectory() !== true) {
    process.stderr.write(`tsunicorn: --chdir: no such directory: ${settings.chdir}\n`);
    return 2;
  }
  // Set before the sockets are bound (a unix socket's mode follows it); the workers inherit it.
  if (settings.umask !== undefined) process.umask(settings.umask);
  process.title = `tsunicorn: master [${settings.proc_name ?? settings.app}]`;
  // Before any worker starts: a Node.js without what the master or the workers rely on is one line and exit 3.
  checkNodeInternals('master');
  return new Arbiter(configuration, { sources, version }).run();
}

/** --check-config and --print-config exit 1 on any problem, a bad setting included. */
function checking(): boolean {
  let words = process.argv.slice(2);
  try {
    words = [...words, ...splitShellWords(process.env.TSUNICORN_CMD_ARGS ?? '')];
  } catch {
    // An unbalanced quote is reported by main().
  }
  return words.includes('--check-config') || words.includes('--print-config');
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof TsunicornError) {
    process.stderr.write(`${reportOf(error)}\n`);
    process.exitCode = checking() ? 1 : error.exitCode;
  } else {
    throw error;
  }
}
// Listening sockets, watchers and timers are closed by now; exit without waiting on stray handles.
process.exit(process.exitCode);
