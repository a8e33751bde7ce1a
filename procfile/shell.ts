/**
 * What tsforeman writes for /bin/sh: the script a Procfile command runs as, and shell quoting,
 * one function per purpose.
 *
 *   processScript('node worker.js')          // "exec 2>&1\nexec node worker.js"
 *   processScript('npm run build && node .') // "exec 2>&1\nnpm run build && node ."
 *   shellArgument('two words')                // "'two words'"   (a command-line argument)
 *   singleQuoted('it\'s')                     // "'it'\\''s'"     (a value in a generated file)
 */

/**
 * Words that make a command anything but one external program: the shell's reserved words and the
 * builtins of dash, bash and busybox ash (a builtin cannot be exec'd: `exec exit 3` fails, and
 * `exec echo` would run a different echo).
 */
const NOT_A_PROGRAM = new Set(
  (
    '! { } case do done elif else esac fi for function if in select then time until while [[ ]] ' +
    '. : [ alias bg bind break builtin caller cd chdir command compgen complete compopt continue ' +
    'declare dirs disown echo enable eval exec exit export false fc fg getopts hash help history jobs ' +
    'kill let local logout mapfile popd printf pushd pwd read readarray readonly return set shift shopt ' +
    'source suspend test times trap true type typeset ulimit umask unalias unset wait'
  ).split(' '),
);

/** Characters a word may hold outside quotes and still mean the same to every shell. */
const PLAIN = /[A-Za-z0-9_./:=@%+,~-]/;
/** `$NAME` or `${NAME}`. */
const PARAMETER_SOURCE = String.raw`\$(?:[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})`;
const PARAMETER = new RegExp(`^${PARAMETER_SOURCE}`);
const PARAMETERS = new RegExp(PARAMETER_SOURCE, 'g');
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

/**
 * The words of `command` when it is a simple command, else null. Conservatively, a simple command is
 * words separated by spaces or tabs, each made only of letters, digits and `_ . / : = @ % + , ~ -`,
 * `$NAME` or `${NAME}`, 'single-quoted' text, and "double-quoted" text holding no backquote,
 * backslash or `$` other than `$NAME`/`${NAME}`. Anything else (`; & | < > ( ) { }`, globs,
 * backslashes, `$(...)`, `${X:-y}`, `#`, newlines) makes it compound.
 */
function simpleCommandWords(command: string): string[] | null {
  const words: string[] = [];
  let word = '';
  let i = 0;
  while (i < command.length) {
    const char = command[i] as string;
    if (char === ' ' || char === '\t') {
      if (word !== '') words.push(word);
      word = '';
      i++;
    } else if (PLAIN.test(char)) {
      word += char;
      i++;
    } else if (char === '$') {
      const parameter = PARAMETER.exec(command.slice(i));
      if (!parameter) return null;
      word += parameter[0];
      i += parameter[0].length;
    } else if (char === "'") {
      const close = command.indexOf("'", i + 1);
      if (close === -1) return null;
      word += command.slice(i, close + 1);
      i = close + 1;
    } else if (char === '"') {
      const close = command.indexOf('"', i + 1);
      if (close === -1) return null;
      const inside = command.slice(i + 1, close);
      if (/[`\\]/.test(inside) || inside.replace(PARAMETERS, '').includes('$')) {
        return null;
      }
      word += command.slice(i, close + 1);
      i = close + 1;
    } else {
      return null;
    }
  }
  if (word !== '') words.push(word);
  return words;
}

/**
 * The index of the program word of a simple command: after any leading `NAME=value` assignments, a
 * plain word that is not a reserved word or builtin. Null when the command is not one program.
 */
function programWordIndex(words: readonly string[]): number | null {
  const index = words.findIndex((word) => !ASSIGNMENT.test(word));
  const program = words[index];
  if (program === undefined || NOT_A_PROGRAM.has(program) || !/^[A-Za-z0-9_./:@%+,~-]+$/.test(program)) return null;
  return index;
}

/**
 * The program a simple command runs (`node` for `node app.js`), when it can be looked up before the
 * shell runs it; null for a compound command, and for one that starts with assignments (`PATH=...`
 * may change where the shell finds it).
 */
export function programWord(command: string): string | null {
  const words = simpleCommandWords(command.trim());
  if (words === null || ASSIGNMENT.test(words[0] ?? '')) return null;
  const index = programWordIndex(words);
  return index === null ? null : (words[index] ?? null);
}

/**
 * The shell script a Procfile command runs as. stderr is joined to stdout first, so both reach the
 * manager through one pipe in the order the child wrote them; then the command on its own line (so
 * even a syntax error in it is reported through the pipe). A simple command (see
 * `simpleCommandWords`) is run with `exec`, as a user would write it: the program replaces the shell,
 * so its pid is the one reported, signals reach it directly and its own exit status is the one
 * reported. `exec` keeps the words' expansion exactly, and leading assignments stay in the program's
 * environment (`A=1 exec prog`). Anything else runs as written, under the shell.
 */
export function processScript(command: string, options: { listenPid?: boolean } = {}): string {
  // A held port's LISTEN_PID: the shell's own pid, which the exec'd program keeps (see `withExec`).
  const listenPid = options.listenPid === true ? 'LISTEN_PID=$$; export LISTEN_PID\n' : '';
  return `exec 2>&1\n${listenPid}${withExec(command)}`;
}

/** True when `command` is one program the shell execs (so that program keeps the shell's pid). */
export function isExecd(command: string): boolean {
  return withExec(command) !== command;
}

/** `command` with `exec` before its program word when it is a simple command, else unchanged. */
export function withExec(command: string): string {
  const words = simpleCommandWords(command.trim());
  const index = words === null ? null : programWordIndex(words);
  if (words === null || index === null) return command;
  return [...words.slice(0, index), 'exec', ...words.slice(index)].join(' ');
}

/** A simple command as the shell would run it: its leading assignments and its argv, words expanded. */
export interface SimpleCommand {
  assignments: Record<string, string>;
  argv: string[];
}

/**
 * The assignments and argv of a simple command (see `simpleCommandWords`), with quotes removed and
 * each `$NAME`/`${NAME}` replaced by its value in `env` (then in the assignments before it), empty
 * when unset; null for a compound command. A value is kept as one word (the Procfile values this
 * reads, such as PORT, hold no spaces).
 *
 *   expandSimpleCommand('tsunicorn app.js -b "0.0.0.0:$PORT"', { PORT: '5000' })
 *   // { assignments: {}, argv: ['tsunicorn', 'app.js', '-b', '0.0.0.0:5000'] }
 */
export function expandSimpleCommand(command: string, env: Readonly<Record<string, string>>): SimpleCommand | null {
  const words = simpleCommandWords(command.trim());
  const index = words === null ? null : programWordIndex(words);
  if (words === null || index === null) return null;
  const assignments: Record<string, string> = {};
  const lookup = (name: string) => assignments[name] ?? env[name] ?? '';
  const expand = (word: string) =>
    word.replace(/'([^']*)'|"([^"]*)"|\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (_match, single?: string, double?: string, name?: string) => {
      if (single !== undefined) return single;
      if (double !== undefined) return double.replace(PARAMETERS, (parameter) => lookup(parameter.replace(/[${}]/g, '')));
      return lookup(name ?? '');
    });
  for (const word of words.slice(0, index)) {
    const equals = word.indexOf('=');
    assignments[word.slice(0, equals)] = expand(word.slice(equals + 1));
  }
  return { assignments, argv: words.slice(index).map(expand) };
}

/**
 * One argument on a command line that /bin/sh runs (`tsforeman run prog ARGS...`): left bare when
 * it holds only characters no shell treats specially, otherwise single-quoted, so it reaches the
 * program unchanged and the command line stays readable.
 */
export function shellArgument(word: string): string {
  return /^[A-Za-z0-9_./=:@%+,-]+$/.test(word) ? word : singleQuoted(word);
}

/**
 * Any string as one single-quoted shell word (also read right by Python's `shlex.split`), each
 * embedded `'` written as `'\''`: for values written into generated files, always quoted so they
 * read alike.
 */
export function singleQuoted(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
