import { expect } from 'chai';
import { UserError } from '../../procfile/errors.js';
import { parseProcfile } from '../../procfile/procfile.js';

const entries = (text: string) => parseProcfile(text, 'Procfile').entries.map(({ name, command }) => [name, command]);

function errorOf(text: string): string {
  try {
    parseProcfile(text, 'Procfile');
  } catch (error) {
    expect(error).to.be.instanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error('expected a UserError');
}

describe('Procfile grammar', () => {
  const valid: [string, string, string[][]][] = [
    ['two entries', 'web: node app.js\nworker: node worker.js\n', [['web', 'node app.js'], ['worker', 'node worker.js']]],
    ['comments and blank lines', '# comment\n\n   # indented comment\nweb: a\n\n', [['web', 'a']]],
    ['CRLF endings', 'web: a\r\nworker: b\r\n', [['web', 'a'], ['worker', 'b']]],
    ['CR endings', 'web: a\rworker: b', [['web', 'a'], ['worker', 'b']]],
    ['a UTF-8 BOM', '\uFEFFweb: a\n', [['web', 'a']]],
    ['colons inside the command', 'web: node app.js --bind 0.0.0.0:$PORT --url http://x:1/\n', [['web', 'node app.js --bind 0.0.0.0:$PORT --url http://x:1/']]],
    ['names with - and _', 'web-api: a\nlong_worker_2: b\n', [['web-api', 'a'], ['long_worker_2', 'b']]],
    ['indentation and spaces around the command', '  web:   a b  \n', [['web', 'a b']]],
    ['no space after the colon', 'web:a\n', [['web', 'a']]],
    ['no final newline', 'web: a', [['web', 'a']]],
    ['a # inside a command is kept', 'web: echo a # b\n', [['web', 'echo a # b']]],
  ];
  for (const [what, text, expected] of valid) {
    it(`accepts ${what}`, () => expect(entries(text)).to.deep.equal(expected));
  }

  it('keeps the line number of each entry', () => {
    const parsed = parseProcfile('# c\n\nweb: a\nworker: b\n', 'Procfile');
    expect(parsed.entries.map((e) => e.line)).to.deep.equal([3, 4]);
  });

  const invalid: [string, string, string][] = [
    ['a space before the colon (Heroku rejects it)', 'web: a\nworker : b\n', 'Procfile:2: space before the colon in "worker : b" (write "worker: ...")'],
    ['a tab before the colon', 'web\t: a\n', 'Procfile:1: space before the colon in "web\\t: a" (write "web: ...")'],
    ['a line without a colon', 'web: a\n\nnot a process line\n', 'Procfile:3: cannot parse line "not a process line" (expected "name: command")'],
    ['a name with a space', 'web: a\nmy web: b\n', 'Procfile:2: cannot parse line "my web: b" (expected "name: command")'],
    ['a name with a dot', 'web.1: a\n', 'Procfile:1: cannot parse line "web.1: a" (expected "name: command")'],
    ['an empty name', ': a\n', 'Procfile:1: cannot parse line ": a" (expected "name: command")'],
    ['an empty command', 'web: a\nworker:   \n', 'Procfile:2: process type "worker" has an empty command'],
    ['a duplicate, naming both lines', 'web: a\n# x\nweb: b\n', 'Procfile:3: duplicate process type "web" (first defined on line 1)'],
    ['line numbers with CRLF', 'web: a\r\n\r\n???\r\n', 'Procfile:3: cannot parse line "???" (expected "name: command")'],
    ['an empty file', '', 'Procfile: no process types found (expected lines like "web: node app.js")'],
    ['a file of comments only', '# only\n\n', 'Procfile: no process types found (expected lines like "web: node app.js")'],
  ];
  for (const [what, text, message] of invalid) {
    it(`rejects ${what}`, () => expect(errorOf(text)).to.equal(message));
  }
});
