import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'dotenv';
import { readProcfile } from '../../../procfile/procfile.js';
import { withExec } from '../../../procfile/shell.js';

/**
 * Runs the built `tsforeman export` (dist/, from `npx tsc`) as a real child process, and reads
 * what it wrote back as a tree of relative paths.
 */

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = join(REPO, 'bin', 'tsforeman');
/** The Procfile + .env every format is exported from. */
export const DEMO = join(REPO, 'test', 'fixtures', 'export', 'demo');
export const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'golden');
export const IMAGE = 'registry.example.com/demo:1.0';

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `tsforeman ARGS` in `cwd`, with no PORT inherited so the base port is the documented default. */
export function tsforeman(args: readonly string[], cwd: string): Result {
  const env = { ...process.env };
  delete env.PORT;
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8', timeout: 20_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const folders: string[] = [];

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsforeman-export-'));
  folders.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export interface TreeFile {
  content: string;
  mode: number;
}

/** Every file under `dir`, by path relative to it (with `/`), sorted. */
export function readTree(dir: string): Map<string, TreeFile> {
  const tree = new Map<string, TreeFile>();
  const walk = (sub: string) => {
    for (const name of readdirSync(join(dir, sub)).sort()) {
      const rel = sub === '' ? name : `${sub}/${name}`;
      const stats = statSync(join(dir, rel));
      if (stats.isDirectory()) walk(rel);
      else tree.set(rel, { content: readFileSync(join(dir, rel), 'utf8'), mode: stats.mode & 0o777 });
    }
  };
  if (existsSync(dir)) walk('');
  return tree;
}

/** A Debian tool's path, or undefined when it is not installed. */
export function which(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir, tool);
    if (dir !== '' && existsSync(path)) return path;
  }
  for (const dir of ['/usr/bin', '/usr/sbin', '/bin', '/sbin']) {
    if (existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

/** The flags each format is exported with for its golden files (besides FORMAT DIR). */
export const GOLDEN_ARGS: Record<string, string[]> = {
  systemd: ['-m', 'web=2,worker=1,clock=0', '-u', 'app', '-t', '8'],
  supervisord: ['-m', 'web=2,worker=1,clock=0', '-u', 'app', '-t', '8', '-l', '/var/log/demo'],
  launchd: ['-m', 'web=2,worker=1,clock=0', '-u', 'app', '-t', '8', '-l', '/var/log/demo'],
  runit: ['-m', 'web=2,worker=1,clock=0', '-u', 'app', '-t', '8', '-l', '/var/log/demo'],
  kubernetes: ['-m', 'web=2,worker=1,clock=0', '-u', '1000', '-t', '8', '--image', IMAGE],
  compose: ['-m', 'web=2,worker=1,clock=0', '-u', 'app', '-t', '8', '--image', IMAGE],
};

/** Exports `format` from the demo app into a fresh folder; returns the folder. */
export function exportDemo(format: string, args: readonly string[] = GOLDEN_ARGS[format] ?? []): string {
  const out = tempDir();
  const result = tsforeman(['export', format, out, ...args], DEMO);
  if (result.code !== 0) throw new Error(`export ${format} failed (${result.code}): ${result.stderr}`);
  return out;
}

/** What the demo's env files hold, read with dotenv itself (not through the code under test). */
export function demoEnv(): Record<string, string> {
  return parse(readFileSync(join(DEMO, '.env'), 'utf8'));
}

/**
 * The demo Procfile's commands by process type, as the exported shell runs them: a simple command
 * gets `exec` (as under `tsforeman start`), so the program, not the shell, gets the supervisor's TERM.
 */
export function demoCommands(): Record<string, string> {
  return Object.fromEntries(readProcfile(join(DEMO, 'Procfile')).entries.map((entry) => [entry.name, withExec(entry.command)]));
}

/** What a service manager's processes get when nothing sets PATH (systemd's default). */
export const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The PATH an exported host service must carry for an app in `root`: its node_modules/.bin, the
 * exporting tsforeman's bin/ (this repository's), the node running the tests, then the system's.
 */
export function expectedHostPath(root: string, slugBins: readonly string[] = []): string {
  const node = slugBins.filter((dir) => dir.endsWith('/.heroku/node/bin'));
  const entries = [...node, join(root, 'node_modules', '.bin'), ...slugBins.filter((dir) => !node.includes(dir)), join(REPO, 'bin'), dirname(process.execPath), ...SYSTEM_PATH];
  return [...new Set(entries)].join(':');
}

/** The variables an instance must see: the env files', then PATH, PORT, PS and DYNO. */
export function instanceVars(port: number, ps: string): Record<string, string> {
  return { ...demoEnv(), PATH: expectedHostPath(DEMO), PORT: String(port), PS: ps, DYNO: ps };
}

/** What tsforeman sets per instance (in the unit itself, not in the env file). */
export function ownVars(port: number, ps: string): Record<string, string> {
  return { PATH: expectedHostPath(DEMO), PORT: String(port), PS: ps, DYNO: ps };
}

/**
 * The variables of a systemd EnvironmentFile= as systemd reads them. systemd.exec(5) defines its
 * quoting as POSIX sh's, so /bin/sh reads it here (with nothing else in its environment).
 */
export function readEnvironmentFile(file: string): Record<string, string> {
  const result = spawnSync('env', ['-i', '/bin/sh', '-c', 'set -a; . "$1"; exec env -0', 'sh', file], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`sh cannot read ${file}: ${result.stderr}`);
  const env: Record<string, string> = {};
  for (const pair of result.stdout.split('\0')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) continue;
    const key = pair.slice(0, eq);
    if (!['PWD', 'OLDPWD', 'SHLVL', '_'].includes(key)) env[key] = pair.slice(eq + 1);
  }
  return env;
}

/** The demo's instances for the golden formation web=2,worker=1,clock=0. */
export const DEMO_INSTANCES = [
  { id: 'demo-web.1', type: 'web', ps: 'web.1', port: 5000 },
  { id: 'demo-web.2', type: 'web', ps: 'web.2', port: 5001 },
  { id: 'demo-worker.1', type: 'worker', ps: 'worker.1', port: 5100 },
];

/** The settings of a unit as systemd loaded it (systemd-analyze verify prints them at debug level). */
export function systemdSettings(analyze: string, unit: string): (name: string) => string[] {
  const dumped = spawnSync(analyze, ['verify', '--man=no', unit], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_LEVEL: 'debug' } });
  const dump = dumped.stdout + dumped.stderr;
  return (name) => [...dump.matchAll(new RegExp(`^\\s+${name}: (.*)$`, 'gm'))].map((m) => m[1]!);
}

/** A shell-quoted command line (as systemd shows it) back to argv, by a shell. */
export function shellWords(line: string): string[] {
  return spawnSync('/bin/sh', ['-c', 'eval "set -- $1"; printf "%s\\0" "$@"', 'sh', line], { encoding: 'utf8' }).stdout.split('\0').slice(0, -1);
}
