import { expect } from 'chai';
import net from 'node:net';
import path from 'node:path';
import { APPS, TsunicornProcess, stopAllServers, waitUntilServing } from './tsunicorn-process.js';

type Outcome = 'answered' | 'refused' | 'reset after connecting' | 'closed unanswered';

/**
 * Opens one connection and sends one request on it as soon as it connects; says what became of it.
 * `onConnect` runs once the TCP handshake is complete (the kernel accepted it, whether or not the server
 * called accept()).
 */
function attempt(port: number, onConnect: () => void): Promise<Outcome> {
  return new Promise((resolve) => {
    let connected = false;
    let answer = '';
    const socket = net.connect(port, '127.0.0.1', () => {
      connected = true;
      onConnect();
      socket.write('GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n');
    });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!connected) resolve(error.code === 'ECONNREFUSED' ? 'refused' : 'closed unanswered');
      else if (!answer.startsWith('HTTP/1.1 200')) resolve('reset after connecting');
    });
    socket.on('close', () => resolve(answer.startsWith('HTTP/1.1 200') ? 'answered' : connected ? 'closed unanswered' : 'refused'));
  });
}

describe('tsunicorn TERM and the kernel backlog', function () {
  this.timeout(60000);
  afterEach(stopAllServers);

  for (const [sharing, target] of [['handoff', 'master'], ['shared', 'master'], ['handoff', 'group'], ['shared', 'group']] as const) {
    const to = target === 'master' ? 'the master' : 'every process (as Heroku does)';
    it(`answers every connection the kernel accepted before TERM, refuses the later ones, resets none (--socket-sharing ${sharing}, TERM to ${to})`, async () => {
      const server = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '-w', '2', '--socket-sharing', sharing]);
      await server.waitForWorkers(2);
      await waitUntilServing(server.url);
      const port = Number(new URL(server.url).port);
      // A burst of 300 connections; TERM goes out once 100 of them have connected, while the rest are still
      // connecting. Connections connect faster than a worker serves them: most wait in the kernel backlog.
      let connected = 0;
      const outcomes = await Promise.all(
        Array.from({ length: 300 }, () =>
          attempt(port, () => {
            if (++connected === 100) process.kill(target === 'master' ? server.pid : -server.pid, 'SIGTERM');
          }),
        ),
      );
      expect((await server.waitForExit()).code).to.equal(0);
      const counts: Record<string, number> = {};
      for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
      // Every connection that completed its handshake was answered: none reset, none closed unanswered.
      expect(counts['reset after connecting'] ?? 0, JSON.stringify(counts)).to.equal(0);
      expect(counts['closed unanswered'] ?? 0, JSON.stringify(counts)).to.equal(0);
      expect(counts.answered, JSON.stringify(counts)).to.be.at.least(100);
      await server.waitFor(/Shutting down: Master/);
    });
  }
});
