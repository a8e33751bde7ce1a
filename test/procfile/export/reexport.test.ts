import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { expect } from 'chai';
import { DEMO, readTree, removeTempDirs, tempDir, tsforeman } from './helpers.js';

/** Re-exporting replaces this app's stale files and leaves everything else in the folder alone. */
describe('tsforeman export: re-exporting over a folder', () => {
  afterEach(removeTempDirs);

  it('removes the units this export no longer writes, and nothing else', () => {
    const out = tempDir();
    // Files that are not this app's: the user's own, one named like the app's but not written by
    // tsforeman, and a whole export of another app whose name starts with this one's.
    writeFileSync(join(out, 'other.service'), '[Service]\nExecStart=/bin/true\n');
    writeFileSync(join(out, 'demo-custom.service'), '[Service]\nExecStart=/bin/true\n');
    const other = tsforeman(['export', 'systemd', out, '-a', 'demo-admin', '-m', 'web=1,worker=0,clock=0'], DEMO);
    expect(other.code, other.stderr).to.equal(0);
    const first = tsforeman(['export', 'systemd', out, '-m', 'web=2,worker=1,clock=1'], DEMO);
    expect(first.code, first.stderr).to.equal(0);
    const before = readTree(out);

    const second = tsforeman(['export', 'systemd', out, '-m', 'web=1,worker=0,clock=0'], DEMO);
    expect(second.code, second.stderr).to.equal(0);
    expect(second.stdout.split('\n').filter((line) => line !== '')).to.deep.equal([
      `wrote ${out}/demo.target`,
      `wrote ${out}/demo.env`,
      `wrote ${out}/demo-web.1.service`,
      `removed ${out}/demo-clock.1.service (no longer exported)`,
      `removed ${out}/demo-web.2.service (no longer exported)`,
      `removed ${out}/demo-worker.1.service (no longer exported)`,
    ]);
    const after = readTree(out);
    expect([...after.keys()]).to.deep.equal([
      'demo-admin-web.1.service', 'demo-admin.env', 'demo-admin.target', 'demo-custom.service', 'demo-web.1.service', 'demo.env',
      'demo.target', 'other.service',
    ]);
    for (const kept of ['other.service', 'demo-custom.service', 'demo-admin.env', 'demo-admin.target', 'demo-admin-web.1.service']) {
      expect(after.get(kept)?.content, kept).to.equal(before.get(kept)?.content);
    }
    expect(after.get('demo.target')?.content).to.match(/^Wants=demo-web\.1\.service$/m);
  });

  it('runit: replaces env/ and stale service folders, keeps what runsv made inside', () => {
    const app = tempDir();
    writeFileSync(join(app, 'Procfile'), 'web: sleep 1\nworker: sleep 2\n');
    writeFileSync(join(app, '.env'), 'OLD=1\nKEEP=2\n');
    const out = tempDir();
    expect(tsforeman(['export', 'runit', out, '-a', 'demo'], app).code).to.equal(0);
    mkdirSync(join(out, 'demo-web.1', 'supervise'));
    writeFileSync(join(out, 'demo-web.1', 'supervise', 'pid'), '123\n');
    mkdirSync(join(out, 'unrelated'));

    writeFileSync(join(app, '.env'), 'KEEP=3\n');
    const again = tsforeman(['export', 'runit', out, '-a', 'demo', '-m', 'worker=0'], app);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.contain(`wrote ${out}/demo-web.1/env/ (KEEP, PATH, PORT, PS, DYNO)`);
    expect(again.stdout).to.contain(`removed ${out}/demo-worker.1 (no longer exported)`);
    expect(existsSync(join(out, 'demo-web.1', 'env', 'OLD'))).to.equal(false);
    expect(readFileSync(join(out, 'demo-web.1', 'env', 'KEEP'), 'utf8')).to.equal('3\n');
    expect(existsSync(join(out, 'demo-web.1', 'supervise', 'pid'))).to.equal(true);
    expect(existsSync(join(out, 'demo-worker.1'))).to.equal(false);
    expect(existsSync(join(out, 'unrelated'))).to.equal(true);
  });
});

describe('tsforeman export: mistakes get one clear line', () => {
  afterEach(removeTempDirs);

  const fails = (args: string[], cwd = DEMO) => {
    const result = tsforeman(['export', ...args], cwd);
    expect(result.code, result.stdout).to.not.equal(0);
    expect(result.stdout).to.equal('');
    const lines = result.stderr.split('\n').filter((line) => line !== '');
    expect(lines, result.stderr).to.have.length(1);
    return lines[0]!;
  };

  it('an unknown format names the formats', () => {
    expect(fails(['upstart', tempDir()])).to.equal(
      'tsforeman: unknown export format "upstart" (formats: systemd, supervisord, launchd, runit, kubernetes, compose)',
    );
  });

  it('a container format without --image says what to add', () => {
    expect(fails(['kubernetes', tempDir()])).to.match(/kubernetes export needs .*--image NAME/);
    expect(fails(['compose', tempDir()])).to.match(/compose export needs .*--image NAME/);
  });

  it('bad names, formations and flags that do not apply', () => {
    expect(fails(['systemd', tempDir(), '-a', 'my app'])).to.contain('-a/--app: "my app" is not a usable name');
    expect(fails(['systemd', tempDir(), '-m', 'web=2,nosuch=1'])).to.contain('unknown process type "nosuch"');
    expect(fails(['systemd', tempDir(), '--image', 'x'])).to.contain('--image is only used by the container formats');
    expect(fails(['kubernetes', tempDir(), '--image', 'x', '-u', 'app'])).to.contain('numeric user id');
    expect(fails(['systemd', tempDir(), '-t', 'soon'])).to.contain('-t/--timeout');
    expect(fails(['systemd', tempDir(), '-T', join(tempDir(), 'missing')])).to.contain('template folder not found');
  });

  it('an env variable name no service can hold is a warning and skipped; --strict-env and strict_env make it an error', () => {
    const app = tempDir();
    writeFileSync(join(app, 'Procfile'), 'web: sleep 1\n');
    writeFileSync(join(app, '.env'), 'my.var=1\nKEPT=2\n');
    const why = '.env:1: variable name "my.var" cannot reach a process (use letters, digits and _, not starting with a digit)';
    const out = tempDir();
    const lenient = tsforeman(['export', 'systemd', out], app);
    expect(lenient.code, lenient.stderr).to.equal(0);
    expect(lenient.stderr).to.equal(`tsforeman: warning: ${why}; skipped (--strict-env makes this an error)\n`);
    const envFile = readFileSync(join(out, `${basename(app)}.env`), 'utf8');
    expect(envFile).to.include('KEPT="2"').and.not.include('my.var');
    expect(fails(['systemd', tempDir(), '--strict-env'], app)).to.equal(`tsforeman: ${why}`);
    writeFileSync(join(app, '.foreman'), 'strict_env: true\n');
    expect(fails(['systemd', tempDir()], app)).to.equal(`tsforeman: ${why}`);
  });

  it('a value dotenv cut at a "#" is one warning line with the fix, and the export goes on', () => {
    const app = tempDir();
    writeFileSync(join(app, 'Procfile'), 'web: sleep 1\n');
    writeFileSync(join(app, '.env'), 'PASS=abc#123\nNOTE=kept # a comment\n');
    const result = tsforeman(['export', 'systemd', tempDir()], app);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stderr).to.equal(
      'tsforeman: warning: .env:1: the value of PASS is cut at "#" ("abc#123" becomes "abc"); quote it to keep the "#": PASS="abc#123"\n',
    );
  });
});
