import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'dotenv';
import { FileLineError, UserError } from './errors.js';

export type EnvMap = Record<string, string>;

/**
 * Reads env files with dotenv's grammar; later files win over earlier ones.
 * No command substitution or variable expansion ever runs.
 *
 *   loadEnvFiles(['.env', '.env.local'])  // { DATABASE_URL: '...', ... }
 */
export function loadEnvFiles(files: readonly string[]): EnvMap {
  const env: EnvMap = {};
  for (const file of files) Object.assign(env, readEnvFile(file));
  return env;
}

/**
 * The env files to use: the ones named by `-e` (comma separated or repeated), or `ROOT/.env`
 * when none is named and it exists.
 */
export function envFilesFor(named: readonly string[], root: string): string[] {
  const files = named.flatMap((value) => value.split(',')).map((f) => f.trim()).filter((f) => f !== '');
  if (files.length > 0) return files;
  const fallback = resolve(root, '.env');
  return existsSync(fallback) ? [fallback] : [];
}

export function readEnvFile(file: string): EnvMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`env file not found: ${file} (check the -e/--env option)`);
    throw new UserError(`cannot read env file ${file}: ${(error as Error).message}`);
  }
  const parsed = parse(text);
  reportIgnoredLines(text, parsed, file);
  reportUnusableNames(text, parsed, file);
  return parsed;
}

/** Names a POSIX shell, execve's users and every export format can pass on as variables. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * dotenv accepts names such as `1KEY`, `my-key` or `my.key`, but no shell passes them on to the
 * program it runs (every process runs under /bin/sh), so such a variable would silently reach no
 * process: it is an error, named with its line.
 */
function reportUnusableNames(text: string, parsed: EnvMap, file: string): void {
  const bad = Object.keys(parsed).find((key) => !ENV_NAME.test(key));
  if (bad === undefined) return;
  const escaped = bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const assignment = new RegExp(`^\\s*(?:export\\s+)?${escaped}\\s*[=:]`);
  const lines = text.split(/\r\n|\r|\n/);
  let index = lines.length - 1;
  while (index > 0 && !assignment.test(lines[index] ?? '')) index--;
  throw new FileLineError(
    file,
    index + 1,
    `variable name "${bad}" cannot reach a process (use letters, digits and _, not starting with a digit)`,
  );
}

const ASSIGNMENT = /^\s*(?:export\s+)?[\w.-]+\s*[=:]/;

/**
 * dotenv's parser skips lines it cannot read. A skipped line is almost always a mistake
 * (a missing `=`, a stray word), so it is reported with its line number instead of being dropped.
 * Lines that belong to a multi-line quoted value are part of a parsed value and are accepted.
 */
function reportIgnoredLines(text: string, parsed: EnvMap, file: string): void {
  const values = Object.values(parsed);
  text.split(/\r\n|\r|\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || ASSIGNMENT.test(raw)) return;
    const content = line.replace(/["'`]\s*(#.*)?$/, '');
    if (content !== '' && values.some((value) => value.includes(content))) return;
    throw new FileLineError(file, i + 1, `cannot parse line ${JSON.stringify(line)} (expected KEY=VALUE)`);
  });
}
