/**
 * Where a module that failed to import went wrong, told as node and tsx tell it: the file, line and
 * column, then the offending line with a caret under the fault. Used for the app and the config file,
 * whose load errors are otherwise one line without a place.
 *
 *   describeSyntaxError(error, '/srv/app/app.js')
 *   // 'SyntaxError: missing ) after argument list (/srv/app/app.js:2:11)\n  res.end("x";\n          ^^^'
 *
 * - Node decorates a SyntaxError of a CommonJS module (and a type-stripping error) with the place, ahead
 *   of its stack: that part is read back.
 * - For an ES module it records the place where only its own printer of uncaught errors sees it, so
 *   `node --check FILE` (Node's syntax check, which prints the same decoration) tells it instead.
 * - tsx's esbuild names `file:line:column` in its message (column from 0, as esbuild counts); the full
 *   message is kept and the line is read from the file.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The error, with its place and offending line, when it is a syntax error that names or implies one. */
export function describeSyntaxError(error: unknown, file: string | undefined): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === 'TransformError') return describeTransformError(error);
  // Our own wrapper of a type-stripping error (typescript-loader.ts): its advice first, then Node's place.
  if (!(error instanceof SyntaxError) && error.cause instanceof SyntaxError) {
    const wrapped = placeFromDecoration(error.cause.stack ?? '');
    return wrapped ? `${error.message}\n${wrapped.where}\n${wrapped.excerpt}` : undefined;
  }
  if (!(error instanceof SyntaxError)) return undefined;
  const label = `${error.name}${codeOf(error)}: ${error.message}`;
  const decorated = placeFromDecoration(error.stack ?? '');
  if (decorated) return `${label} (${decorated.where})\n${decorated.excerpt}`;
  if (file === undefined || !/\.(c|m)?js$/.test(file)) return undefined;
  const checked = placeFromDecoration(syntaxCheck(file));
  return checked ? `${label} (${checked.where})\n${checked.excerpt}` : undefined;
}

function codeOf(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code ? ` [${code}]` : '';
}

/**
 * Node's decoration: `FILE:LINE`, the source (one line, or a few around the fault for a type-stripping
 * error), a line of carets, then a blank line before the error's name.
 */
function placeFromDecoration(text: string): { where: string; excerpt: string } | undefined {
  const head = text.split('\n\n')[0] ?? '';
  const lines = head.split('\n');
  const place = /^(.+):(\d+)$/.exec(lines[0] ?? '');
  if (!place) return undefined;
  const caret = lines.findIndex((line, index) => index > 1 && /^\s*\^+\s*$/.test(line));
  if (caret === -1) return undefined;
  const path = place[1]!.startsWith('file://') ? fileURLToPath(place[1]!) : place[1]!;
  const column = lines[caret]!.indexOf('^') + 1;
  return { where: `${path}:${place[2]}:${column}`, excerpt: `${lines[caret - 1]}\n${lines[caret]}` };
}

/** What `node --check FILE` prints for a file with a syntax error ('' when the file parses). */
function syntaxCheck(file: string): string {
  try {
    execFileSync(process.execPath, ['--check', file], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 10_000 });
    return '';
  } catch (error) {
    const stderr = (error as { stderr?: unknown }).stderr;
    return typeof stderr === 'string' ? stderr : '';
  }
}

/** `Transform failed with 1 error:\nFILE:LINE:COLUMN: ERROR: ...`, plus each named line and a caret. */
function describeTransformError(error: Error): string {
  const lines = [`${error.name}: ${error.message.trim()}`];
  for (const match of error.message.matchAll(/^(.+):(\d+):(\d+): ERROR: /gm)) {
    const source = readLine(match[1]!, Number(match[2]));
    if (source !== undefined) lines.push(source, `${' '.repeat(Number(match[3]))}^`);
  }
  return lines.join('\n');
}

function readLine(file: string, line: number): string | undefined {
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/)[line - 1];
  } catch {
    return undefined;
  }
}
