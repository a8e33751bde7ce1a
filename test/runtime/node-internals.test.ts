import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { takeUnacknowledgedHandles } from '../../runtime/node-internals.js';
import { APPS, TsunicornProcess, stopAllServers } from './tsunicorn-process.js';

describe('Node internals (runtime/node-internals.ts)', function () {
  this.timeout(20000);
  let child: ChildProcess | undefined;
  let server: net.Server | undefined;
  afterEach(async () => {
    child?.kill('SIGKILL');
    server?.close();
    child = undefined;
    server = undefined;
    await stopAllServers();
  });

  it('finds what the master needs on this Node (HTTP and IPC internals, in a process that checked nothing before)', async () => {
    // In this process earlier tests have already checked (and remembered) the HTTP internals: a fresh
    // process checks the master's whole set.
    const module = pathToFileURL(path.resolve('runtime/node-internals.ts')).href;
    const probe = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `import { checkNodeInternals } from ${JSON.stringify(module)}; checkNodeInternals('master'); console.log('master internals present');`], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = probe;
    let output = '';
    probe.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    probe.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(probe, 'exit')) as [number | null];
    expect(output.trim()).to.equal('master internals present');
    expect(code).to.equal(0);
  });

  it('stops the master with status 3 and one line, before any worker, when Node lacks ChildProcess._handleQueue', async () => {
    const tsunicorn = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0'], {
      listening: 0,
      env: { NODE_OPTIONS: `--import ${path.join(APPS, 'without-child-handle-queue.mjs')}` },
    });
    expect((await tsunicorn.waitForExit()).code).to.equal(3);
    expect(tsunicorn.stderr).to.deep.equal([
      `tsunicorn: Node.js ${process.version} lacks an internal the master needs (ChildProcess._handleQueue missing); use Node.js 20, 22, 24 or 26`,
    ]);
    expect(tsunicorn.stdout).to.deep.equal([]);
  });

  it('stops the master with status 3 and one line, before any worker, when Node lacks process.getActiveResourcesInfo', async () => {
    const tsunicorn = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0'], {
      listening: 0,
      env: { NODE_OPTIONS: `--import ${path.join(APPS, 'without-active-resources-info.mjs')}` },
    });
    expect((await tsunicorn.waitForExit()).code).to.equal(3);
    expect(tsunicorn.stderr).to.deep.equal([
      `tsunicorn: Node.js ${process.version} lacks an internal the wait for an app's listen() needs (process.getActiveResourcesInfo missing); use Node.js 20, 22, 24 or 26`,
    ]);
  });

  it('gives back the connections sent to a child that died before acknowledging them, with their messages', async () => {
    // A child that never reads its IPC channel (not a Node process): the handles stay unacknowledged.
    child = spawn('sleep', ['30'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    server = net.createServer({ pauseOnConnect: true });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const clients = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    for (const client of clients) client.on('error', () => undefined);
    const accepted: net.Socket[] = [];
    while (accepted.length < 2) accepted.push(((await once(server, 'connection')) as [net.Socket])[0]);
    for (const [index, socket] of accepted.entries()) child.send({ type: 'connection', index }, socket);
    child.kill('SIGKILL');
    await once(child, 'exit');
    const taken = takeUnacknowledgedHandles(child);
    expect(taken.map((item) => item.message)).to.deep.equal([{ type: 'connection', index: 0 }, { type: 'connection', index: 1 }]);
    expect(taken.every((item) => item.handle !== undefined && item.handle !== null)).to.equal(true);
    expect(takeUnacknowledgedHandles(child)).to.deep.equal([]);
    for (const client of clients) client.destroy();
  });
});
