import { expect } from 'chai';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { envFilesFor, loadEnvFiles } from '../../procfile/env.js';
import { UserError } from '../../procfile/errors.js';
import { cleanup, project, runTsforeman, startManager } from './helpers.js';

describe('env files', () => {
  afterEach(cleanup);

  it('parses with dotenv: quotes, export, comments, multi-line values, no command substitution', () => {
    const dir = project({
      '.env': 'A=1\nexport B="two words"\n# c\nC=\'$(touch pwned)\'\nD="line1\nline2"\nE=x # trailing\n',
    });
    expect(loadEnvFiles([join(dir, '.env')])).to.deep.equal({
      A: '1',
      B: 'two words',
      C: '$(touch pwned)',
      D: 'line1\nline2',
      E: 'x',
    });
  });

  it('lets later files win', () => {
    const dir = project({ 'one.env': 'A=1\nB=1\n', 'two.env': 'B=2\nC=2\n' });
    expect(loadEnvFiles([join(dir, 'one.env'), join(dir, 'two.env')])).to.deep.equal({ A: '1', B: '2', C: '2' });
  });

  it('takes -e values comma separated or repeated, and ROOT/.env only by default', () => {
    const dir = project({ '.env': 'A=1\n' });
    expect(envFilesFor(['a.env,b.env', 'c.env'], dir)).to.deep.equal(['a.env', 'b.env', 'c.env']);
    expect(envFilesFor([], dir)).to.deep.equal([join(dir, '.env')]);
    expect(envFilesFor([], join(dir, 'missing'))).to.deep.equal([]);
  });

  it('reports an unparsable line with file:line', () => {
    const dir = project({ 'bad.env': 'A=1\nthis is wrong\n' });
    const file = join(dir, 'bad.env');
    expect(() => loadEnvFiles([file])).to.throw(UserError, `${file}:2: cannot parse line "this is wrong"`);
  });

  it('gives children: inherited < env files (in order) < PORT/PS/DYNO', async () => {
    const dir = project({
      Procfile: 'show: echo "A=$A B=$B C=$C INHERITED=$INHERITED PS=$PS"\n',
      '.env': 'A=from-dotenv\n',
      'one.env': 'A=one\nB=one\nPS=ignored\n',
      'two.env': 'B=two\nC=two\n',
    });
    const env = { ...process.env, INHERITED: 'yes', A: 'inherited', C: 'inherited' };
    const manager = startManager(['start', '--no-timestamp', '-e', 'one.env', '-e', 'two.env'], dir, env);
    const exit = await manager.exit;
    expect(exit.code).to.equal(0);
    expect(manager.stdout).to.include('show.1 | A=one B=two C=two INHERITED=yes PS=show.1\n');
  });

  it('uses ROOT/.env when no -e is given, over the inherited environment', async () => {
    const dir = project({ Procfile: 'show: echo "A=$A"\n', '.env': 'A=from-dotenv\n' });
    const result = await runTsforeman(['start', '--no-timestamp'], dir, { env: { ...process.env, A: 'inherited' } });
    expect(result.code).to.equal(0);
    expect(result.stdout).to.include('show.1 | A=from-dotenv\n');
  });

  it('sources ROOT/.profile.d/*.sh after the env files, unless --no-profile', async () => {
    const dir = project({ Procfile: 'show: echo "P=$FROM_PROFILE G=$GREETING PORT=$PORT"\n', '.env': 'GREETING=hi\n' });
    mkdirSync(join(dir, '.profile.d'));
    writeFileSync(join(dir, '.profile.d', 'app.sh'), 'export FROM_PROFILE=yes\nexport GREETING="$GREETING from profile"\n');
    const sourced = await runTsforeman(['start', '--no-timestamp', '-p', '6000'], dir);
    expect(sourced.stdout).to.include('show.1 | P=yes G=hi from profile PORT=6000\n');
    const skipped = await runTsforeman(['start', '--no-timestamp', '-p', '6000', '--no-profile'], dir);
    expect(skipped.stdout).to.include('show.1 | P= G=hi PORT=6000\n');
    const ran = await runTsforeman(['run', 'echo "$FROM_PROFILE $GREETING"'], dir);
    expect(ran.stdout).to.equal('yes hi from profile\n');
  });

  it('fails with one line for --profile without a .profile.d folder', async () => {
    const dir = project({ Procfile: 'web: echo x\n' });
    const result = await runTsforeman(['start', '--profile'], dir);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal(`tsforeman: --profile: no .profile.d folder in ${dir}\n`);
  });

  it('fails with one line for a bad env file and starts nothing', async () => {
    const dir = project({ Procfile: 'web: echo should-not-run\n', '.env': 'A=1\nB\n' });
    const result = await runTsforeman(['start'], dir);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.equal('tsforeman: .env:2: cannot parse line "B" (expected KEY=VALUE)\n');
  });

  it('names the default .env by its full path when the root is outside the current folder', async () => {
    const dir = project({ Procfile: 'web: echo should-not-run\n', '.env': 'A=1\nB\n' });
    const result = await runTsforeman(['check', '-d', dir], project({}));
    expect(result.stderr).to.equal(`tsforeman: ${join(dir, '.env')}:2: cannot parse line "B" (expected KEY=VALUE)\n`);
  });

  for (const name of ['1KEY', 'my-key', 'my.key']) {
    it(`reports the variable name ${name}, which no shell passes on: check and --strict-env fail (file:line), start and run warn and skip it`, async () => {
      const dir = project({ Procfile: 'web: echo "A=$A B=$B"\n', '.env': `A=1\n\n${name}=value\nB=2\n` });
      const why = `.env:3: variable name "${name}" cannot reach a process (use letters, digits and _, not starting with a digit)`;
      for (const args of [['check'], ['start', '--strict-env'], ['run', '--strict-env', 'echo should-not-run']]) {
        const result = await runTsforeman(args, dir);
        expect(result.code, args.join(' ')).to.equal(1);
        expect(result.stdout, args.join(' ')).to.equal('');
        expect(result.stderr, args.join(' ')).to.equal(`tsforeman: ${why}\n`);
      }
      const warning = `tsforeman: warning: ${why}; skipped (--strict-env makes this an error)\n`;
      const started = await runTsforeman(['start', '--no-timestamp'], dir);
      expect(started).to.include({ code: 0, stderr: warning });
      expect(started.stdout).to.include('web.1  | A=1 B=2\n');
      const ran = await runTsforeman(['run', `env | grep -c '^${name}=' || true`], dir);
      expect(ran).to.include({ code: 0, stdout: '0\n', stderr: warning });
      // .foreman's strict_env makes them errors again.
      writeFileSync(join(dir, '.foreman'), 'strict_env: true\n');
      expect(await runTsforeman(['start'], dir)).to.include({ code: 1, stdout: '', stderr: `tsforeman: ${why}\n` });
    });
  }

  it('warns with file:line and the fix when dotenv cut an unquoted value at a "#" no blank precedes (check, start, run)', async () => {
    const dir = project({
      Procfile: 'web: echo "P=$PASS U=$URL C=$COMMENTED Q=$QUOTED"\n',
      '.env': 'PASS=abc#123\nURL=http://x/#frag\nCOMMENTED=kept # a comment\nQUOTED="a#b"\nEMPTY= # nothing\nDOCS=http://y/#top # the docs\nSAID=say"hi"#x\n',
    });
    const warnings =
      'tsforeman: warning: .env:1: the value of PASS is cut at "#" ("abc#123" becomes "abc"); quote it to keep the "#": PASS="abc#123"\n' +
      'tsforeman: warning: .env:2: the value of URL is cut at "#" ("http://x/#frag" becomes "http://x/"); quote it to keep the "#": URL="http://x/#frag"\n' +
      // The fix keeps a comment after a blank out of the value, and quotes so that dotenv reads the value back.
      'tsforeman: warning: .env:6: the value of DOCS is cut at "#" ("http://y/#top" becomes "http://y/"); quote it to keep the "#": DOCS="http://y/#top"\n' +
      'tsforeman: warning: .env:7: the value of SAID is cut at "#" ("say\\"hi\\"#x" becomes "say\\"hi\\""); quote it to keep the "#": SAID=\'say"hi"#x\'\n';
    const fixes = warnings.trimEnd().split('\n').map((line) => line.slice(line.indexOf('keep the "#": ') + 'keep the "#": '.length));
    writeFileSync(join(dir, 'fixed.env'), `${fixes.join('\n')}\n`);
    expect(loadEnvFiles([join(dir, 'fixed.env')])).to.deep.equal({ PASS: 'abc#123', URL: 'http://x/#frag', DOCS: 'http://y/#top', SAID: 'say"hi"#x' });
    expect(await runTsforeman(['check'], dir)).to.include({ code: 0, stdout: 'valid procfile detected (web)\n', stderr: warnings });
    const started = await runTsforeman(['start', '--no-timestamp'], dir);
    expect(started).to.include({ code: 0, stderr: warnings });
    expect(started.stdout).to.include('web.1  | P=abc U=http://x/ C=kept Q=a#b\n');
    expect(await runTsforeman(['run', 'true'], dir)).to.include({ code: 0, stderr: warnings });
  });

  it('a restart reads the env files again: their warnings become system lines of the running manager, kept for logs', async () => {
    const dir = project({ Procfile: 'app: echo "A=$A"; exec sleep 300\n', '.env': 'my-key=1\nA=first\n' });
    const warning = '.env:1: variable name "my-key" cannot reach a process (use letters, digits and _, not starting with a digit); skipped (--strict-env makes this an error)';
    const manager = startManager(['start', '--no-timestamp'], dir);
    await manager.waitFor(/app\.1 +\| A=first\n/);
    writeFileSync(join(dir, '.env'), 'my-key=1\nA=second\nPASS=abc#123\n');
    expect(await runTsforeman(['restart', 'app'], dir)).to.include({ code: 0, stdout: 'restarted app.1\n' });
    await manager.waitFor(/app\.1 +\| A=second\n/);
    expect(manager.stdout).to.include(`system | warning: ${warning}\n`);
    expect(manager.stdout).to.include('system | warning: .env:3: the value of PASS is cut at "#" ("abc#123" becomes "abc"); quote it to keep the "#": PASS="abc#123"\n');
    // Only the first reading, before anything ran, went to stderr.
    expect(manager.stderr).to.equal(`tsforeman: warning: ${warning}\n`);
    const kept = await runTsforeman(['logs', 'system', '--no-timestamp'], dir);
    expect(kept.stdout).to.include(`system | warning: ${warning}\n`);
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });

  it('fails with one line for a missing env file', async () => {
    const dir = project({ Procfile: 'web: echo x\n' });
    const result = await runTsforeman(['start', '-e', 'nope.env'], dir);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal('tsforeman: env file not found: nope.env (check the -e/--env option)\n');
  });
});
