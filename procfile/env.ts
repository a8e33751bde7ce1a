import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'dotenv';
import { FileLineError, UserError } from './errors.js';

export type EnvMap = Record<string, string>;

/**
 * How strict reading is. `strict`: a variable name no process can receive is an error (`check`,
 * `--strict-env`); otherwise it is skipped with a warning. `warn` gets each warning line
 * (`.env:3: ...`), default: stderr.
 */
export interface EnvReading {
  strict?: boolean;
  warn?: (line: string) => void;
}

/** Writes `tsforeman: warning: LINE` on stderr. */
export function warnOnStderr(line: string): void {
  process.stderr.write(`tsforeman: warning: ${line}\n`);
}

/**
 * Reads env files with dotenv's grammar; later files win over earlier ones.
 * No command substitution or variable expansion ever runs.
 *
 *   loadEnvFiles(['.env', '.env.local'])  // { DATABASE_URL: '...', ... }
 */
export function loadEnvFiles(files: readonly string[], reading: EnvReading = { strict: true }): EnvMap {
  const env: EnvMap = {};
  for (const file of files) Object.assign(env, readEnvFile(file, reading));
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

export function readEnvFile(file: string, reading: EnvReading = { strict: true }): EnvMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`env file not found: ${file} (check the -e/--env option)`);
    throw new UserError(`cannot read env file ${file}: ${(error as Error).message}`);
  }
  const parsed = parse(text);
  const warn = reading.warn ?? warnOnStderr;
  reportIgnoredLines(text, parsed, file);
  reportCutValues(text, parsed, file, warn);
  reportUnusableNames(text, parsed, file, reading.strict === true, warn);
  return parsed;
}

/** `KEY=value` with an unquoted value (the value group), as dotenv reads a line. */
const UNQUOTED_ASSIGNMENT = /^\s*(?:export\s+)?([\w.-]+)\s*[=:]([ \t]*)([^'"`\s][^\r\n]*)$/;

/**
 * dotenv ends an unquoted value at its first `#`, even with no blank before it: `PASS=abc#123`
 * gives `abc`, `URL=http://x/#frag` gives `http://x/`. The grammar stays, but a `#` that no
 * whitespace precedes is most likely part of the value: one warning line with the fix.
 */
function reportCutValues(text: string, parsed: EnvMap, file: string, warn: (line: string) => void): void {
  text.split(/\r\n|\r|\n/).forEach((raw, i) => {
    const match = UNQUOTED_ASSIGNMENT.exec(raw);
    if (!match) return;
    const [, key, blank, value] = match as unknown as [string, string, string, string];
    const hash = value.indexOf('#');
    if (hash === -1 || (hash === 0 && blank !== '') || (hash > 0 && /\s/.test(value[hash - 1] ?? ''))) return;
    const kept = value.slice(0, hash).trim();
    if (parsed[key] !== kept) return;
    // What was meant: up to a `#` after a blank, which starts a comment (`URL=http://x/#frag # docs`).
    const comment = /\s#/.exec(value);
    const meant = (comment ? value.slice(0, comment.index) : value).trimEnd();
    warn(`${file}:${i + 1}: the value of ${key} is cut at "#" (${JSON.stringify(meant)} becomes ${JSON.stringify(kept)}); quote it to keep the "#": ${key}=${quotedForDotenv(meant)}`);
  });
}

/**
 * `value` quoted so dotenv reads it back unchanged: double quotes (dotenv expands `\n` in them, so
 * not with a backslash), else single quotes (taken literally), else backticks.
 */
function quotedForDotenv(value: string): string {
  if (!/["\\]/.test(value)) return `"${value}"`;
  if (!value.includes("'")) return `'${value}'`;
  return `\`${value}\``;
}

/** Names a POSIX shell, execve's users and every export format can pass on as variables. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * dotenv accepts names such as `1KEY`, `my-key` or `my.key`, but no shell passes them on to the
 * program it runs (every process runs under /bin/sh), so such a variable would silently reach no
 * process. Strict (`check`, `--strict-env`): an error, named with its line; otherwise one warning
 * line per name, and the variable is dropped (foreman and honcho drop it silently).
 */
function reportUnusableNames(text: string, parsed: EnvMap, file: string, strict: boolean, warn: (line: string) => void): void {
  const lines = text.split(/\r\n|\r|\n/);
  for (const bad of Object.keys(parsed).filter((key) => !ENV_NAME.test(key))) {
    const escaped = bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const assignment = new RegExp(`^\\s*(?:export\\s+)?${escaped}\\s*[=:]`);
    let index = lines.length - 1;
    while (index > 0 && !assignment.test(lines[index] ?? '')) index--;
    const why = `variable name "${bad}" cannot reach a process (use letters, digits and _, not starting with a digit)`;
    if (strict) throw new FileLineError(file, index + 1, why);
    warn(`${file}:${index + 1}: ${why}; skipped (--strict-env makes this an error)`);
    delete parsed[bad];
  }
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
