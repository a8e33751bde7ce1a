import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, REPO, cleanup, processAlive, project, runTsforeman, startManager, track } from './helpers.js';

const FIXTURES = join(REPO, 'test', 'fixtures', 'procfile');

/** The output with pids replaced, so it can be compared byte for byte. */
const withoutPids = (bytes: Buffer) => Buffer.from(bytes.toString('latin1').replace(/pid \d+/g, 'pid N'), 'latin1');

describe('tsforeman start', function () {
  this.timeout(30_000);
  afterEach(cleanup);

  describe('output', () => {
    it('prints each line whole with a padded name: partial line, stderr, blank line, invalid UTF-8', async () => {
      const dir = project({
        Procfile:
          "web: printf 'one\\n'; printf 'err\\n' >&2; printf '\\n'; printf 'half'; sleep 0.6; printf ' rest\\n'; printf 'bad \\377\\376 end\\n'; printf 'tail'\n",
      });
      const manager = startManager(['start', '--no-timestamp', '--no-color'], dir);
      expect((await manager.exit).code).to.equal(0);
      const expected = Buffer.concat([
        Buffer.from('system | web.1 started (pid N)\n'),
        Buffer.from('web.1  | one\n'),
        Buffer.from('web.1  | err\n'),
        Buffer.from('web.1  | \n'),
        Buffer.from('web.1  | half\n'),
        Buffer.from('web.1  |  rest\n'),
        Buffer.from('web.1  | bad '),
        Buffer.from([0xff, 0xfe]),
        Buffer.from(' end\n'),
        Buffer.from('web.1  | tail\n'),
        Buffer.from('system | web.1 exited with code 0\n'),
        Buffer.from('system | sending SIGTERM to all processes\n'),
      ]);
      expect(withoutPids(manager.stdoutBytes).equals(expected), manager.stdoutBytes.toString('latin1')).to.equal(true);
    });

    it('keeps every line whole under a slow reader: 3 x 10k lines in 64 KiB writes, read 32 KiB per 50 ms after 2 s', async () => {
      const types = ['alpha', 'beta', 'gamma'];
      const writer = join(FIXTURES, 'write-lines.mjs');
      const dir = project({
        Procfile: types.map((type) => `${type}: exec "$NODE" ${JSON.stringify(writer)} ${type} 10000 65536\n`).join(''),
      });
      const received = join(dir, 'received');
      // A pipeline, so stdout is a pipe whose reader paces itself: the reader's pacing is the input.
      const pipeline = spawn(
        '/bin/sh',
        ['-c', '"$0" "$1" start --no-timestamp --no-color --can-die alpha,beta,gamma | "$0" "$2" "$3" 2000 32768 50', process.execPath, BIN, join(FIXTURES, 'slow-reader.mjs'), received],
        { cwd: dir, env: { ...process.env, NODE: process.execPath }, stdio: 'ignore', detached: true },
      );
      track(pipeline.pid!);
      const code = await new Promise((resolve) => pipeline.once('close', resolve));
      expect(code).to.equal(0);
      const lines = readFileSync(received, 'latin1').split('\n');
      expect(lines.pop()).to.equal('');
      const byName = new Map<string, string[]>();
      for (const line of lines) {
        const match = /^(\S+) +\| (.*)$/.exec(line);
        expect(match, `unprefixed line ${JSON.stringify(line)}`).to.not.equal(null);
        const [, name, text] = match as unknown as [string, string, string];
        byName.set(name, [...(byName.get(name) ?? []), text]);
      }
      for (const type of types) {
        const expected: string[] = [];
        for (let i = 1; i <= 10000; i++) expected.push(`${type} line ${i} ${'.'.repeat(i % 50)}`);
        const got = byName.get(`${type}.1`) ?? [];
        const first = expected.findIndex((text, i) => got[i] !== text);
        expect(first, `${type}: line ${first + 1} is ${JSON.stringify(got.slice(first, first + 2))}`).to.equal(-1);
        expect(`${got.join('\n')}\n`).to.equal(`${expected.join('\n')}\n`);
      }
    });

    it('prefixes lines with HH:MM:SS (also with --timestamp, beside --no-timestamp) and pads names to the longest', async () => {
      const dir = project({ Procfile: 'a: echo from-a\nlonger-name: sleep 0.3; echo from-long\n' });
      const result = await runTsforeman(['start', '--timestamp'], dir);
      expect(result.code).to.equal(0);
      const lines = result.stdout.trimEnd().split('\n');
      for (const line of lines) expect(line).to.match(/^\d\d:\d\d:\d\d (system|a\.1|longer-name\.1) *\| /);
      expect(result.stdout).to.match(/^\d\d:\d\d:\d\d a\.1           \| from-a$/m);
      expect(result.stdout).to.match(/^\d\d:\d\d:\d\d system        \| a\.1 started \(pid \d+\)$/m);
    });

    it('colours prefixes with --color and not by default when stdout is not a terminal', async () => {
      const dir = project({ Procfile: 'web: echo hi\n' });
      const plain = await runTsforeman(['start', '--no-timestamp'], dir);
      expect(plain.stdout).not.to.include('\u001b[');
      const colored = await runTsforeman(['start', '--no-timestamp', '--color'], dir);
      expect(colored.stdout).to.include('\u001b[36mweb.1  |\u001b[0m hi\n');
    });
  });

  describe('ports and formation', () => {
    it('gives every instance of 2 types x 2 its PORT, PS and DYNO', async () => {
      const dir = project({
        Procfile: 'web: echo "ps=$PS port=$PORT dyno=$DYNO"; exec sleep 300\nworker: echo "ps=$PS port=$PORT dyno=$DYNO"; exec sleep 300\n',
      });
      const manager = startManager(['start', '--no-timestamp', '-m', 'all=2', '-p', '6000'], dir);
      await manager.waitFor(/(ps=.*[\s\S]*){4}/);
      manager.signal('SIGTERM');
      expect((await manager.exit).code).to.equal(143);
      const seen = [...manager.stdout.matchAll(/ps=\S+ port=\d+ dyno=\S+/g)].map((m) => m[0]).sort();
      expect(seen).to.deep.equal([
        'ps=web.1 port=6000 dyno=web.1',
        'ps=web.2 port=6001 dyno=web.2',
        'ps=worker.1 port=6100 dyno=worker.1',
        'ps=worker.2 port=6101 dyno=worker.2',
      ]);
    });

    it('takes the base port from PORT in .env, positional web=2 words and named process types', async () => {
      const dir = project({
        Procfile: 'web: echo "is $PS $PORT"; exec sleep 300\nworker: echo "is $PS $PORT"; exec sleep 300\nclock: echo "is $PS $PORT"; exec sleep 300\n',
        '.env': 'PORT=7000\n',
      });
      const manager = startManager(['start', '--no-timestamp', 'clock', 'web=2', 'web'], dir);
      await manager.waitFor(/(is [\s\S]*){3}/);
      manager.signal('SIGTERM');
      expect((await manager.exit).code).to.equal(143);
      const values = [...manager.stdout.matchAll(/\| is (.*)/g)].map((m) => m[1]).sort();
      expect(values).to.deep.equal(['clock.1 7200', 'web.1 7000', 'web.2 7001']);
      expect(manager.stdout).not.to.include('worker.1');
    });

    it('uses 5000 when no port is set anywhere', async () => {
      const env = { ...process.env };
      delete env.PORT;
      const dir = project({ Procfile: 'web: echo "$PORT"\n' });
      const result = await runTsforeman(['start', '--no-timestamp'], dir, { env });
      expect(result.stdout).to.include('web.1  | 5000\n');
    });
  });

  describe('shutdown', () => {
    it('stops the others when one exits with 3, and exits 3', async () => {
      const dir = project({ Procfile: 'quitter: sleep 0.3; exit 3\nserver: exec sleep 300\n' });
      const manager = startManager(['start', '--no-timestamp'], dir);
      const serverPid = Number((await manager.waitFor(/server\.1 started \(pid (\d+)\)/))[1]);
      const exit = await manager.exit;
      expect(exit.code).to.equal(3);
      expect(manager.stdout).to.include('system    | quitter.1 exited with code 3\n');
      expect(manager.stdout).to.include('system    | sending SIGTERM to all processes\n');
      expect(manager.stdout).to.include('system    | server.1 terminated by SIGTERM\n');
      expect(processAlive(serverPid)).to.equal(false);
    });

    it('kills a process that ignores SIGTERM after --timeout', async () => {
      const dir = project({
        Procfile:
          "stubborn: trap '' TERM; touch trapped; while true; do sleep 0.1; done\nquitter: until [ -e trapped ]; do sleep 0.05; done; exit 0\n",
      });
      const manager = startManager(['start', '--no-timestamp', '-t', '1'], dir);
      const pid = Number((await manager.waitFor(/stubborn\.1 started \(pid (\d+)\)/))[1]);
      const exit = await manager.exit;
      expect(exit.code).to.equal(0);
      expect(manager.stdout).to.include('system     | sending SIGKILL to all processes\n');
      expect(manager.stdout).to.include('system     | stubborn.1 terminated by SIGKILL\n');
      expect(processAlive(pid)).to.equal(false);
    });

    it('leaves no grandchild behind: a waiting shell and an orphan of an exited one', async () => {
      const dir = project({
        Procfile:
          "waiter: sh -c 'sleep 300 & echo \"grandchild $!\"; wait'\norphaner: sleep 300 & echo \"grandchild $!\"; until [ -e go ]; do sleep 0.05; done; exit 0\n",
      });
      const manager = startManager(['start', '--no-timestamp'], dir);
      await manager.waitFor(/(grandchild \d+[\s\S]*){2}/);
      const grandchildren = [...manager.stdout.matchAll(/grandchild (\d+)/g)].map((m) => Number(m[1]));
      for (const pid of grandchildren) expect(processAlive(pid), `grandchild ${pid} running`).to.equal(true);
      writeFileSync(join(dir, 'go'), '');
      expect((await manager.exit).code).to.equal(0);
      for (const pid of grandchildren) expect(processAlive(pid), `grandchild ${pid} after exit`).to.equal(false);
    });

    for (const [signal, status] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
      it(`exits ${status} when stopped by ${signal}, and stops every process`, async () => {
        const dir = project({ Procfile: "web: sh -c 'sleep 300 & echo \"grandchild $!\"; wait'\nworker: exec sleep 300\n" });
        const manager = startManager(['start', '--no-timestamp'], dir);
        const grandchild = Number((await manager.waitFor(/grandchild (\d+)/))[1]);
        const worker = Number((await manager.waitFor(/worker\.1 started \(pid (\d+)\)/))[1]);
        manager.signal(signal);
        expect((await manager.exit).code).to.equal(status);
        expect(manager.stdout).to.include('sending SIGTERM to all processes');
        expect(processAlive(grandchild)).to.equal(false);
        expect(processAlive(worker)).to.equal(false);
      });
    }

    it("reports a simple command's own status and pid: the program replaces the shell", async () => {
      const dir = project({
        Procfile: [
          `graceful: GREETING=hi node -e "process.on('SIGTERM', () => process.exit(0)); console.log('pid', process.pid, process.env.GREETING, JSON.stringify(process.argv.slice(1))); console.error('to stderr'); setInterval(() => {}, 1000)" 'a  b' "$PS" x=1`,
          "compound: echo compound; sleep 300",
          '',
        ].join('\n'),
      });
      const manager = startManager(['start', '--no-timestamp'], dir);
      const started = Number((await manager.waitFor(/graceful\.1 started \(pid (\d+)\)/))[1]);
      const printed = await manager.waitFor(/graceful\.1 \| pid (\d+) (.*)/);
      await manager.waitFor(/graceful\.1 \| to stderr/);
      await manager.waitFor(/compound\.1 \| compound/);
      expect(Number(printed[1])).to.equal(started);
      expect(printed[2]).to.equal('hi ["a  b","graceful.1","x=1"]');
      manager.signal('SIGTERM');
      expect((await manager.exit).code).to.equal(143);
      expect(manager.stdout).to.include('system     | graceful.1 exited with code 0\n');
      expect(manager.stdout).to.include('system     | compound.1 terminated by SIGTERM\n');
    });

    describe('escapees: descendants that left their process group', () => {
      const daemonize = join(FIXTURES, 'daemonize.mjs');
      const escapees = (output: string) => [...output.matchAll(/grandchild (\d+)/g)].map((m) => Number(m[1]));

      it('stops a setsid child, a double-forked one and a self-daemonizing program with the rest', async () => {
        const dir = project({
          Procfile: [
            `setsid: setsid sh -c 'echo "grandchild $$"; exec sleep 300' & exec sleep 300`,
            `double: sh -c '(setsid sh -c "echo grandchild \\$\\$; exec sleep 300" &)'; exec sleep 300`,
            `daemon: "$NODE" ${JSON.stringify(daemonize)}; exec sleep 300`,
            '',
          ].join('\n'),
        });
        const manager = startManager(['start', '--no-timestamp'], dir, { ...process.env, NODE: process.execPath });
        await manager.waitFor(/(grandchild \d+[\s\S]*){3}/);
        const pids = escapees(manager.stdout);
        for (const pid of pids) {
          expect(processAlive(pid), `escapee ${pid} running`).to.equal(true);
          expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[2], `escapee ${pid} left its group`).to.equal(String(pid));
        }
        manager.signal('SIGINT');
        expect((await manager.exit).code).to.equal(130);
        for (const pid of pids) expect(processAlive(pid), `escapee ${pid} after exit`).to.equal(false);
      });

      it('kills an escapee that ignores SIGTERM after --timeout', async () => {
        const dir = project({
          Procfile: `stubborn: setsid sh -c 'trap "" TERM; echo "grandchild $$"; while :; do sleep 0.1; done' & sleep 300\n`,
        });
        const manager = startManager(['start', '--no-timestamp', '-t', '1'], dir);
        const [pid] = escapees((await manager.waitFor(/grandchild \d+/))[0]);
        manager.signal('SIGTERM');
        expect((await manager.exit).code).to.equal(143);
        expect(manager.stdout).to.include('sending SIGKILL to all processes');
        expect(processAlive(pid!)).to.equal(false);
      });
    });

    it('kills at once on a second SIGINT', async () => {
      const dir = project({ Procfile: "stubborn: trap '' TERM; echo ready; while true; do sleep 0.1; done\n" });
      const manager = startManager(['start', '--no-timestamp', '-t', '60'], dir);
      const pid = Number((await manager.waitFor(/stubborn\.1 started \(pid (\d+)\)/))[1]);
      await manager.waitFor(/ready/);
      manager.signal('SIGINT');
      await manager.waitFor(/sending SIGTERM to all processes/);
      manager.signal('SIGINT');
      const exit = await manager.exit;
      expect(exit.code).to.equal(130);
      expect(manager.stdout).to.include('sending SIGKILL to all processes');
      expect(processAlive(pid)).to.equal(false);
    });

    it('forwards SIGUSR1 and SIGUSR2 to every process', async () => {
      const dir = project({
        Procfile: "web: trap 'echo got-usr1' USR1; trap 'echo got-usr2' USR2; echo ready; while true; do sleep 0.05; done\n",
      });
      const manager = startManager(['start', '--no-timestamp', '-t', '1'], dir);
      await manager.waitFor(/ready/);
      manager.signal('SIGUSR1');
      await manager.waitFor(/web\.1  \| got-usr1/);
      manager.signal('SIGUSR2');
      await manager.waitFor(/web\.1  \| got-usr2/);
      manager.signal('SIGTERM');
      expect((await manager.exit).code).to.equal(143);
    });

    it('exits 128+N when the first process to exit was killed by signal N', async () => {
      const dir = project({ Procfile: 'victim: kill -9 $$\nother: exec sleep 300\n' });
      const result = await runTsforeman(['start', '--no-timestamp'], dir);
      expect(result.code).to.equal(137);
      expect(result.stdout).to.include('victim.1 terminated by SIGKILL');
    });
  });

  describe('user errors: one line, non-zero exit, nothing started', () => {
    const cases: [string, Record<string, string>, string[], RegExp][] = [
      ['a missing Procfile', {}, ['start'], /^tsforeman: Procfile not found: Procfile \(use -f FILE to name another\)\n$/],
      ['a bad Procfile line', { Procfile: 'web: a\nnonsense\n' }, ['start'], /^tsforeman: Procfile:2: cannot parse line "nonsense"/],
      ['an unknown process name', { Procfile: 'web: echo x\n' }, ['start', 'db'], /^tsforeman: unknown process type "db" \(Procfile has: web\)\n$/],
      ['a bad formation', { Procfile: 'web: echo x\n' }, ['start', '-m', 'web=two'], /^tsforeman: bad formation "web=two" in "web=two" \(expected TYPE=COUNT/],
      ['a formation naming an unknown type', { Procfile: 'web: echo x\n' }, ['start', 'db=2'], /^tsforeman: formation names unknown process type "db"/],
      ['a bad port', { Procfile: 'web: echo x\n' }, ['start', '-p', 'http'], /^tsforeman: -p\/--port: expected a port number, got "http"\n$/],
      ['a bad timeout', { Procfile: 'web: echo x\n' }, ['start', '-t', 'soon'], /^tsforeman: -t\/--timeout: expected a number of seconds/],
      ['an unknown option', { Procfile: 'web: echo x\n' }, ['start', '--frobnicate'], /^tsforeman: unknown option '--frobnicate'\n$/],
    ];
    for (const [what, files, args, pattern] of cases) {
      it(`reports ${what}`, async () => {
        const result = await runTsforeman(args, project(files));
        expect(result.code).to.equal(1);
        expect(result.stdout).to.equal('');
        expect(result.stderr).to.match(pattern);
        expect(result.stderr.trimEnd().split('\n')).to.have.length(1);
      });
    }

    it('reports a command that cannot be found (status 127)', async () => {
      const dir = project({ Procfile: 'web: no-such-command-xyz --flag\nother: exec sleep 300\n' });
      const result = await runTsforeman(['start', '--no-timestamp'], dir);
      expect(result.code).to.equal(127);
      expect(result.stdout).to.include('system  | web.1 exited with code 127: command not found (no-such-command-xyz)\n');
    });
  });
});
