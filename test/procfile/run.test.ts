import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, REPO, cleanup, processAlive, project, runTsforeman, sleep, startManager, track } from './helpers.js';

const SIGNAL_ECHO = join(REPO, 'test', 'fixtures', 'procfile', 'signal-echo.mjs');

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

  it('reports a command that cannot be found in one line, exiting 127', async () => {
    const result = await runTsforeman(['run', 'no-such-command-xyz', '--flag'], project({}));
    expect(result.code).to.equal(127);
    expect(result.stderr).to.equal('tsforeman: command not found: no-such-command-xyz (not in PATH, or not executable)\n');
  });

  it('finds a program through a PATH the command itself sets before it', async () => {
    const dir = project({});
    mkdirSync(join(dir, 'tools'));
    writeFileSync(join(dir, 'tools', 'mytool'), '#!/bin/sh\necho "mytool ran"\n', { mode: 0o755 });
    const result = await runTsforeman(['run', 'PATH=tools:$PATH mytool'], dir);
    expect(result.stderr).to.equal('');
    expect(result.stdout).to.equal('mytool ran\n');
    expect(result.code).to.equal(0);
  });

  it('forwards SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2 and SIGTERM to the program, and exits with its status', async () => {
    const manager = startManager(['run', process.execPath, SIGNAL_ECHO], project({}));
    const pid = Number((await manager.waitFor(/ready (\d+)/))[1]);
    for (const signal of ['SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) {
      manager.signal(signal);
      await manager.waitFor(new RegExp(`got ${signal}`));
    }
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(7);
    expect(manager.stdout).to.include('got SIGTERM\n');
    expect(processAlive(pid)).to.equal(false);
  });

  it('stops a compound command with its whole group on SIGTERM, leaving nothing running', async () => {
    const manager = startManager(['run', 'sleep 300 & echo "grandchild $!"; setsid sleep 300 & echo "grandchild $!"; wait'], project({}));
    await manager.waitFor(/(grandchild \d+[\s\S]*){2}/);
    const pids = [...manager.stdout.matchAll(/grandchild (\d+)/g)].map((m) => Number(m[1]));
    for (const pid of pids) expect(processAlive(pid)).to.equal(true);
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
    for (const pid of pids) expect(processAlive(pid), `pid ${pid}`).to.equal(false);
  });

  it('stops what the command left running when it exits', async () => {
    const result = await runTsforeman(['run', 'sleep 300 & echo "grandchild $!"; exit 4'], project({}));
    expect(result.code).to.equal(4);
    const pid = Number(/grandchild (\d+)/.exec(result.stdout)?.[1]);
    expect(processAlive(pid)).to.equal(false);
  });

  it('on a terminal, keeps the command in the foreground group and forwards SIGTERM to it and its descendants', async () => {
    // script(1) gives run a pseudo-terminal as stdin and stdout.
    const dir = project({
      'go.sh': `exec "$NODE" "$BIN" run sh -c 'if [ -t 0 ]; then echo on-a-tty; fi; trap "echo got-term; exit 5" TERM; echo ready $$; while :; do sleep 0.1; done'\n`,
    });
    const child = spawn('script', ['-qec', 'sh ./go.sh', '/dev/null'], {
      cwd: dir,
      env: { ...process.env, NODE: process.execPath, BIN },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    track(child.pid!);
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('close', resolve));
    for (let i = 0; !/ready \d+/.test(out); i++) {
      if (i > 500) throw new Error(`never ready: ${out}`);
      await sleep(20);
    }
    expect(out).to.include('on-a-tty');
    const program = Number(/ready (\d+)/.exec(out)![1]);
    // A simple command replaced its shell: the program's parent is tsforeman run.
    const manager = Number(readFileSync(`/proc/${program}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
    process.kill(manager, 'SIGTERM');
    expect(await exit, out).to.equal(5);
    expect(out).to.include('got-term');
    expect(processAlive(program)).to.equal(false);
  });
});
