import { expect } from 'chai';
import { join } from 'node:path';
import { cleanup, project, runTsforeman } from './helpers.js';

describe('tsforeman check', function () {
  this.timeout(30_000);
  afterEach(cleanup);

  it('prints the process types of a valid Procfile', async () => {
    const dir = project({ Procfile: '# app\nweb: node app.js\nworker: node worker.js\n', '.env': 'A=1\n' });
    const result = await runTsforeman(['check'], dir);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal('valid procfile detected (web, worker)\n');
  });

  it('reports "web : cmd" (a space before the colon, which Heroku rejects) with file:line', async () => {
    const result = await runTsforeman(['check'], project({ Procfile: 'web : node app.js\n' }));
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal('tsforeman: Procfile:1: space before the colon in "web : node app.js" (write "web: ...")\n');
  });

  it('prints the version with `version`, as --version does', async () => {
    const dir = project({});
    const version = await runTsforeman(['version'], dir);
    expect(version.code).to.equal(0);
    expect(version.stdout).to.match(/^\d+\.\d+\.\d+\S*\n$/);
    expect((await runTsforeman(['--version'], dir)).stdout).to.equal(version.stdout);
  });

  it('lists the same shared flags, with the same help, in every command that takes them', async () => {
    const dir = project({});
    const helps = await Promise.all(['start', 'run', 'check', 'export', 'ps'].map((command) => runTsforeman([command, '--help'], dir)));
    // Each option's entry, its wrapped continuation lines joined and spacing collapsed.
    const flagLines = (text: string) => {
      const entries: string[] = [];
      for (const line of text.split('\n')) {
        if (/^ {2}-/.test(line)) entries.push(line.trim());
        else if (/^ {3,}\S/.test(line) && entries.length > 0) entries[entries.length - 1] += ` ${line.trim()}`;
      }
      return new Map(entries.map((entry) => [entry.split(/\s{2,}/)[0], entry.replace(/\s+/g, ' ')]));
    };
    const seen = new Map<string, string>();
    for (const help of helps) {
      for (const [flag, line] of flagLines(help.stdout)) {
        if (flag === undefined || flag.startsWith('-h')) continue;
        if (seen.has(flag)) expect(line, flag).to.equal(seen.get(flag));
        else seen.set(flag, line);
      }
    }
    expect([...seen.keys()]).to.include.members(['-f, --procfile <file>', '-d, --root <dir>', '-t, --timeout <seconds>', '--socket <path>']);
  });

  it('finds the Procfile with -f and -d', async () => {
    const dir = project({ 'Procfile.dev': 'web: a\n', Procfile: 'clock: b\n' });
    expect((await runTsforeman(['check', '-f', join(dir, 'Procfile.dev')], '/')).stdout).to.equal(
      'valid procfile detected (web)\n',
    );
    expect((await runTsforeman(['check', '-d', dir], '/')).stdout).to.equal('valid procfile detected (clock)\n');
  });

  it('reports a bad Procfile line with file:line', async () => {
    const dir = project({ Procfile: 'web: a\n\nworker b\n' });
    const result = await runTsforeman(['check'], dir);
    expect(result.code).to.equal(1);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.equal(
      'tsforeman: Procfile:3: cannot parse line "worker b" (expected "name: command")\n',
    );
  });

  it('reports duplicates naming both lines', async () => {
    const dir = project({ Procfile: 'web: a\nweb: b\n' });
    const result = await runTsforeman(['check'], dir);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal('tsforeman: Procfile:2: duplicate process type "web" (first defined on line 1)\n');
  });

  it('reports a bad env file with file:line', async () => {
    const dir = project({ Procfile: 'web: a\n', 'extra.env': 'A=1\n\n  oops\n' });
    const result = await runTsforeman(['check', '-e', 'extra.env'], dir);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal('tsforeman: extra.env:3: cannot parse line "oops" (expected KEY=VALUE)\n');
  });

  it('reports a missing Procfile in one line', async () => {
    const result = await runTsforeman(['check'], project({}));
    expect(result.code).to.equal(1);
    expect(result.stderr).to.equal('tsforeman: Procfile not found: Procfile (use -f FILE to name another)\n');
  });
});
