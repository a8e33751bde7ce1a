import { readFileSync } from 'node:fs';
import { FileLineError, UserError } from './errors.js';

/** One `name: command` line of a Procfile. */
export interface ProcfileEntry {
  name: string;
  command: string;
  /** 1-based line number in the file, for error messages. */
  line: number;
}

/** A parsed Procfile: entries in file order (the order sets each type's port offset). */
export interface Procfile {
  file: string;
  entries: ProcfileEntry[];
}

const NAME = /^[A-Za-z0-9_-]+$/;

/**
 * Parses Procfile text. `file` is only used in error messages.
 *
 *   parseProcfile('web: node app.js\nworker: node worker.js\n', 'Procfile').entries[1].name === 'worker'
 */
export function parseProcfile(text: string, file: string): Procfile {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split(/\r\n|\r|\n/);
  const entries: ProcfileEntry[] = [];
  const seen = new Map<string, number>();

  lines.forEach((raw, i) => {
    const line = i + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;

    const colon = raw.indexOf(':');
    const name = colon === -1 ? '' : raw.slice(0, colon).trim();
    if (NAME.test(name) && /\s$/.test(raw.slice(0, colon))) {
      // Heroku's Procfile parser fails the build on it: a Procfile that runs here must deploy there.
      throw new FileLineError(file, line, `space before the colon in ${JSON.stringify(trimmed)} (write "${name}: ...")`);
    }
    if (colon === -1 || !NAME.test(name)) {
      throw new FileLineError(file, line, `cannot parse line ${JSON.stringify(trimmed)} (expected "name: command")`);
    }
    const command = raw.slice(colon + 1).trim();
    if (command === '') {
      throw new FileLineError(file, line, `process type "${name}" has an empty command`);
    }
    const earlier = seen.get(name);
    if (earlier !== undefined) {
      throw new FileLineError(file, line, `duplicate process type "${name}" (first defined on line ${earlier})`);
    }
    seen.set(name, line);
    entries.push({ name, command, line });
  });

  if (entries.length === 0) {
    throw new UserError(`${file}: no process types found (expected lines like "web: node app.js")`);
  }
  return { file, entries };
}

/**
 * Reads and parses a Procfile, turning a missing file into one clear line.
 * `shownAs` is how messages (and `Procfile.file`) name it, e.g. the path relative to the current folder.
 */
export function readProcfile(file: string, shownAs: string = file): Procfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`Procfile not found: ${shownAs} (use -f FILE to name another)`);
    if (code === 'EISDIR') throw new UserError(`${shownAs} is a directory, not a Procfile (use -f FILE)`);
    throw new UserError(`cannot read Procfile ${shownAs}: ${(error as Error).message}`);
  }
  return parseProcfile(text, shownAs);
}
