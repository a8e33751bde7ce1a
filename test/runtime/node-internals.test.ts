import { expect } from 'chai';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { NodeInternalsError, checkChildProcessInternals, takeUnacknowledgedHandles } from '../../runtime/node-internals.js';

describe('Node internals (runtime/node-internals.ts)', function () {
  this.timeout(20000);
  let child: ChildProcess | undefined;
  let server: net.Server | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    server?.close();
    child = undefined;
    server = undefined;
  });

  it('finds what it needs on a forked child of this Node, and refuses one without it in one line, status 3', () => {
    child = fork('-e', ['process.on("message", () => undefined)'], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    expect(() => checkChildProcessInternals(child!)).to.not.throw();
    const bare = {} as ChildProcess;
    expect(() => checkChildProcessInternals(bare)).to.throw(NodeInternalsError);
    try {
      checkChildProcessInternals(bare);
    } catch (error) {
      expect((error as NodeInternalsError).exitCode).to.equal(3);
      expect((error as Error).message).to.match(/^Node v\d+\.\d+\.\d+ lacks ChildProcess\._pendingMessage\/_handleQueue .*: run tsunicorn on Node 20, 22 or 24$/);
    }
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
