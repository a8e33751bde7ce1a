import { expect } from 'chai';
import { processScript, shellArgument, singleQuoted, withExec } from '../../procfile/shell.js';

describe('shell: what a Procfile command runs as', () => {
  const simple: [string, string][] = [
    ['node worker.js', 'exec node worker.js'],
    ['tsunicorn app.js --limit-request-line 8188 --log-file -', 'exec tsunicorn app.js --limit-request-line 8188 --log-file -'],
    ['bundle exec puma -p $PORT', 'exec bundle exec puma -p $PORT'],
    ['node -e "console.log(process.env.X ?? 1)"', 'exec node -e "console.log(process.env.X ?? 1)"'],
    ["python3 -c 'import sys; print(sys.argv)' \"${PS}\"", "exec python3 -c 'import sys; print(sys.argv)' \"${PS}\""],
    ['NODE_ENV=production LOG=- node server.js', 'NODE_ENV=production LOG=- exec node server.js'],
    ['./bin/server   --port=$PORT', 'exec ./bin/server --port=$PORT'],
  ];
  for (const [command, script] of simple) {
    it(`execs the simple command ${command}`, () => {
      expect(withExec(command)).to.equal(script);
      expect(processScript(command)).to.equal(`exec 2>&1\n${script}`);
    });
  }

  const compound = [
    'npm run migrate && node server.js',
    'node a.js; node b.js',
    'node app.js | tee log',
    'node app.js > log',
    'node app.js &',
    'exec node app.js',
    'echo $PORT',
    'exit 3',
    'cd web && node .',
    'FOO=1',
    'node $(cat entry)',
    'node `cat entry`',
    'node "${ENTRY:-app.js}"',
    'node *.js',
    'node app.js # comment',
    'node "a\\"b"',
    'if true; then node a.js; fi',
    '(node a.js)',
    '{ node a.js; }',
    "node 'unterminated",
    'node "$1"',
  ];
  for (const command of compound) {
    it(`runs ${JSON.stringify(command)} as written (not a simple command)`, () => {
      expect(withExec(command)).to.equal(command);
    });
  }

  it('quotes an argument only when the shell would change it', () => {
    expect(shellArgument('--flag=1')).to.equal('--flag=1');
    expect(shellArgument('two words')).to.equal("'two words'");
    expect(shellArgument("it's")).to.equal("'it'\\''s'");
    expect(shellArgument('$HOME')).to.equal("'$HOME'");
    expect(singleQuoted('plain')).to.equal("'plain'");
  });
});
