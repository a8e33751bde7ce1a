import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, eventually, project, runTsforeman, startManager } from './helpers.js';

describe('tsforeman logs', function () {
  this.timeout(60_000);
  afterEach(cleanup);

  it('prints the last lines byte for byte as the manager printed them, -n, by name, --json, and -f follows until Ctrl-C', async () => {
    const dir = project({
      Procfile: [
        `web: printf 'one\\n'; printf 'bad \\377 end\\n'; printf 'three\\n'; until [ -e more ]; do sleep 0.02; done; printf 'four\\n'; exec sleep 300`,
        `worker: echo "worker up"; echo "worker oops" >&2; exec sleep 300`,
        '',
      ].join('\n'),
    });
    const manager = startManager(['start', '--log-lines', '3'], dir);
    await manager.waitFor(/web\.1 +\| three\n/);
    await manager.waitFor(/worker\.1 \| worker up\n/);
    await manager.waitFor(/worker\.1 \| worker oops\n/);

    // Everything kept, in print order, as printed (time prefix included).
    expect((await runTsforeman(['logs', '-n', '1000'], dir)).code).to.equal(0);
    const printed = manager.stdoutBytes.toString('latin1').split('\n').filter((line) => / (web|worker)\.1 +\| /.test(line));
    const kept = (await runLatin1(['logs', '-n', '1000'], dir)).split('\n');
    // --log-lines 3: web.1 keeps its last 3 lines (its output and the system lines about it).
    const web = kept.filter((line) => / web\.1 +\| | system +\| web\.1 /.test(line));
    expect(web).to.have.length(3);
    expect(kept).to.include(printed.find((line) => line.includes('bad \u00ff end')));
    expect(kept).to.include(printed.find((line) => line.includes('three')));
    // Interleaved as printed: every line kept is a line printed, in the same order.
    const positions = kept.filter((line) => line !== '' && !/ system +\| (web|worker)\.1 /.test(line)).map((line) => printed.indexOf(line));
    expect(positions).to.not.include(-1);
    expect(positions).to.deep.equal([...positions].sort((a, b) => a - b));

    const last = await runTsforeman(['logs', 'web', '-n', '1', '--no-timestamp'], dir);
    expect(last.stdout).to.equal('web.1    | three\n');
    // Colour as for start: each instance in its manager's colour when forced, none with NO_COLOR.
    const plain = { ...process.env };
    delete plain.FORCE_COLOR;
    delete plain.NO_COLOR;
    const forced = { env: { ...plain, FORCE_COLOR: '1' } };
    expect((await runTsforeman(['logs', 'web', '-n', '1', '--no-timestamp'], dir, forced)).stdout).to.equal('\u001b[36mweb.1    |\u001b[0m three\n');
    expect((await runTsforeman(['logs', 'worker', '-n', '1', '--no-timestamp'], dir, forced)).stdout).to.equal('\u001b[33mworker.1 |\u001b[0m worker oops\n');
    const noColour = await runTsforeman(['logs', 'web', '-n', '1', '--no-timestamp'], dir, { env: { ...plain, NO_COLOR: '1' } });
    expect(noColour.stdout).to.equal('web.1    | three\n');
    const json = await runTsforeman(['logs', 'worker.1', '--json'], dir);
    const objects = json.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    // stderr is joined to stdout in the process (one pipe, the order kept): both are its output.
    expect(objects.slice(-2).map((object) => [object.instance, object.stream, object.text])).to.deep.equal([
      ['worker.1', 'output', 'worker up'],
      ['worker.1', 'output', 'worker oops'],
    ]);
    expect(objects[0]).to.include({ instance: 'worker.1', stream: 'system' });
    expect(objects[0]!.text).to.match(/^worker\.1 started \(pid \d+\)$/);
    expect(Number.isNaN(Date.parse(objects[0]!.time!))).to.equal(false);
    expect(objects.every((object) => !('base64' in object))).to.equal(true);
    // A line that is not UTF-8: its text has replacement characters, and base64 holds the exact bytes.
    const raw = (await runTsforeman(['logs', 'web', '--json'], dir)).stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    const bad = raw.find((object) => object.text!.startsWith('bad '))!;
    expect(bad.text).to.equal('bad \ufffd end');
    expect(Buffer.from(bad.base64!, 'base64')).to.deep.equal(Buffer.from('bad \xff end', 'latin1'));

    // -f: the backlog, then new lines as they come; Ctrl-C ends it with 0.
    const follow = startManager(['logs', '-f', 'web', '-n', '1', '--no-timestamp'], dir);
    await follow.waitFor(/web\.1 +\| three\n/);
    writeFileSync(join(dir, 'more'), '');
    await follow.waitFor(/web\.1 +\| four\n/);
    follow.signal('SIGINT');
    expect((await follow.exit).code).to.equal(0);
    expect(follow.stdout).to.equal('web.1    | three\nweb.1    | four\n');

    for (const [args, message] of [
      [['logs', '-n', 'ten'], 'tsforeman: -n/--lines: expected a whole number, got "ten"\n'],
      [['logs', 'db'], 'tsforeman: unknown process "db" (this manager runs: web.1, worker.1)\n'],
    ] as const) {
      expect(await runTsforeman([...args], dir)).to.include({ code: 1, stdout: '', stderr: message });
    }
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
    await eventually(() => manager.child.exitCode !== null, 'manager exited');
  });
});

/** stdout of `tsforeman ARGS` as latin1 text (each byte one character, so bytes compare exactly). */
async function runLatin1(args: string[], cwd: string): Promise<string> {
  const manager = startManager(args, cwd);
  await manager.exit;
  return manager.stdoutBytes.toString('latin1');
}
