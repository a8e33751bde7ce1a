import { expect } from 'chai';
import { cleanup, project, runTsforeman } from './helpers.js';

describe('tsforeman run', function () {
  this.timeout(30_000);
  afterEach(cleanup);

  it('passes the env files and PORT to the command', async () => {
    const dir = project({ Procfile: 'web: echo web\n', '.env': 'GREETING=hello from dotenv\nPORT=6500\n' });
    const result = await runTsforeman(['run', 'echo "$GREETING on $PORT"'], dir);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal('hello from dotenv on 6500\n');
  });

  it('uses -p over PORT from the env files, and 5000 when none is set', async () => {
    const dir = project({ '.env': 'PORT=6500\n' });
    expect((await runTsforeman(['run', '-p', '7100', 'echo $PORT'], dir)).stdout).to.equal('7100\n');
    const env = { ...process.env };
    delete env.PORT;
    const bare = project({});
    expect((await runTsforeman(['run', 'echo $PORT'], bare, { env })).stdout).to.equal('5000\n');
  });

  it('passes stdin through', async () => {
    const dir = project({});
    const result = await runTsforeman(['run', 'tr', 'a-z', 'A-Z'], dir, { input: 'piped input\nline two\n' });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal('PIPED INPUT\nLINE TWO\n');
  });

  it("exits with the command's status, and 128+N when it dies of signal N", async () => {
    const dir = project({});
    expect((await runTsforeman(['run', 'exit 7'], dir)).code).to.equal(7);
    expect((await runTsforeman(['run', 'kill -TERM $$'], dir)).code).to.equal(143);
  });

  it('passes several arguments through unchanged (quoted for the shell)', async () => {
    const dir = project({});
    const result = await runTsforeman(['run', 'printf', '[%s]\\n', 'two words', "it's", '$HOME', '--flag'], dir);
    expect(result.stdout).to.equal("[two words]\n[it's]\n[$HOME]\n[--flag]\n");
  });

  it("runs a process type's command, with extra arguments appended", async () => {
    const dir = project({ Procfile: 'web: echo "web on $PORT"\nargs: printf "[%s]\\n"\n' });
    expect((await runTsforeman(['run', 'web'], dir)).stdout).to.equal('web on 5000\n');
    expect((await runTsforeman(['run', 'args', 'a b', 'c'], dir)).stdout).to.equal('[a b]\n[c]\n');
  });

  it('runs in the root (-d), with the Procfile optional', async () => {
    const dir = project({});
    const result = await runTsforeman(['run', '-d', dir, 'pwd'], '/');
    expect(result.stdout.trim()).to.equal(dir);
  });

  it('reports a command that cannot be found, exiting 127', async () => {
    const result = await runTsforeman(['run', 'no-such-command-xyz'], project({}));
    expect(result.code).to.equal(127);
    expect(result.stderr).to.include('tsforeman: command not found');
  });
});
