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
