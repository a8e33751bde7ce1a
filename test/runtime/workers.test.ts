import { expect } from 'chai';
import http from 'node:http';
import path from 'node:path';
import { APPS, TsunicornProcess, isAlive, request, requestLoop, sleep, stopAllServers, waitUntilGone, waitUntilServing } from './tsunicorn-process.js';

const behaviors = path.join(APPS, 'behaviors.mjs');

/** Keep-alive clients (Node's own agent, which never retries) sending requests back to back. */
function keepAliveLoad(url: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const load = requestLoop(url, 4, agent);
  return {
    load,
    async stop() {
      await load.stop();
      agent.destroy();
    },
    /** Answers that reused a kept-alive connection, and answers that closed theirs (a draining worker). */
    get reused(): number {
      return load.answers.filter((answer) => answer.reusedConnection).length;
    },
    get closed(): number {
      return load.answers.filter((answer) => answer.headers.connection === 'close').length;
    },
  };
}

const SCHEMES = ['handoff', 'shared'] as const;

for (const sharing of SCHEMES) {
  describe(`tsunicorn workers (--socket-sharing ${sharing})`, function () {
    this.timeout(30000);
    /** A test whose outcome does not depend on how the workers get their connections: run under the first scheme only. */
    const schemeIndependent = sharing === SCHEMES[0] ? it : (): void => undefined;
    afterEach(stopAllServers);
    const start = (args: string[], env: Record<string, string> = {}) =>
      TsunicornProcess.start([behaviors, '-b', '127.0.0.1:0', '--socket-sharing', sharing, ...args], { env });

    schemeIndependent('starts -w 3 workers, and $WEB_CONCURRENCY workers without -w', async () => {
      const three = await start(['-w', '3']);
      await three.waitForWorkers(3);
      const two = await start([], { WEB_CONCURRENCY: '2' });
      await two.waitForWorkers(2);
      await waitUntilServing(two.url);
    });

    it('adds a worker on TTIN and removes one on TTOU, never below 1', async () => {
      const server = await start(['-w', '2']);
      await server.waitForWorkers(2);
      server.signal('SIGTTIN');
      await server.waitForWorkers(3);
      server.signal('SIGTTOU');
      await server.waitForWorkers(2);
      server.signal('SIGTTOU');
      await server.waitForWorkers(1);
      server.signal('SIGTTOU');
      await server.waitFor(/Handling signal: ttou/, 3);
      await server.waitFor(/Number of workers: 1/, 2);
      await server.waitForWorkers(1);
      expect((await request(server.url, '/')).status).to.equal(200);
    });

    schemeIndependent('kills a worker whose event loop is blocked past --timeout, replaces it, and serves the next request', async () => {
      const server = await start(['--timeout', '1']);
      const [stuck] = await server.waitForWorkers(1);
      const blocked = request(server.url, '/block').then(
        () => 'answered',
        () => 'failed',
      );
      await server.waitFor(new RegExp(`\\[CRITICAL\\] WORKER TIMEOUT \\(pid:${stuck}\\)$`));
      expect(await blocked).to.equal('failed');
      const next = await waitUntilServing(server.url);
      expect(next.body).to.not.equal(`ok ${stuck}\n`);
      expect(isAlive(stuck!)).to.equal(false);
    });

    it('answers every request sent while a worker is stuck, on the other worker or its replacement', async () => {
      const server = await start(['-w', '2', '--timeout', '1']);
      await server.waitForWorkers(2);
      request(server.url, '/block').catch(() => undefined);
      const [blockedLine] = await server.waitFor(/^blocking in \d+$/);
      const stuck = blockedLine!.split(' ').pop();
      const answers: Promise<string>[] = [];
      for (let index = 0; index < 8; index++) {
        answers.push(request(server.url, '/').then((answer) => answer.body, (error: Error) => `failed: ${error.message}`));
        await sleep(100);
      }
      const bodies = await Promise.all(answers);
      expect(bodies.filter((body) => !/^ok \d+\n$/.test(body))).to.deep.equal([]);
      expect(bodies).to.not.include(`ok ${stuck}\n`);
      await server.waitFor(/WORKER TIMEOUT/);
    });

    schemeIndependent('does not time out a slow request that does not block the event loop', async () => {
      const server = await start(['--timeout', '1']);
      const [worker] = await server.waitForWorkers(1);
      const slow = await request(server.url, '/slow?ms=2500');
      expect(slow.body).to.equal(`slow done ${worker}\n`);
      expect(server.stderr.some((line) => /WORKER TIMEOUT/.test(line))).to.equal(false);
    });

    schemeIndependent('answers 500 to a throwing handler, logs the stack, and keeps the worker', async () => {
      const server = await start([]);
      const [worker] = await server.waitForWorkers(1);
      const thrown = await request(server.url, '/throw');
      expect(thrown.status).to.equal(500);
      expect(thrown.body).to.equal('Internal Server Error\n');
      const rejected = await request(server.url, '/reject');
      expect(rejected.status).to.equal(500);
      await server.waitFor(/\[ERROR\] Error handling request \/throw/);
      expect(server.stderr.some((line) => /^Error: handler exploded$/.test(line))).to.equal(true);
      expect(server.stderr.some((line) => /^\s+at behaviors \(.*behaviors\.mjs:\d+:\d+\)$/.test(line))).to.equal(true);
      expect((await request(server.url, '/')).body).to.equal(`ok ${worker}\n`);
    });

    schemeIndependent('replaces a worker that exits in a handler, logging its status', async () => {
      const server = await start([]);
      const [worker] = await server.waitForWorkers(1);
      await request(server.url, '/exit').catch(() => undefined);
      await server.waitFor(new RegExp(`\\[ERROR\\] Worker \\(pid:${worker}\\) exited with code 1$`));
      const next = await waitUntilServing(server.url);
      expect(next.body).to.match(/^ok \d+\n$/);
      expect(next.body).to.not.equal(`ok ${worker}\n`);
    });

    it('replaces a killed worker and logs the signal; connections meanwhile wait rather than fail', async () => {
      const server = await start([]);
      const [worker] = await server.waitForWorkers(1);
      process.kill(worker!, 'SIGKILL');
      const during = await request(server.url, '/');
      expect(during.status).to.equal(200);
      expect(during.body).to.not.equal(`ok ${worker}\n`);
      await server.waitFor(new RegExp(`Worker \\(pid:${worker}\\) was sent SIGKILL!`));
    });

    it('recycles workers after --max-requests with zero failed requests', async () => {
      const server = await start(['-w', '2', '--max-requests', '5', '--max-requests-jitter', '2']);
      await server.waitForWorkers(2);
      const pids = new Set<string>();
      const failures: string[] = [];
      for (let round = 0; round < 15; round++) {
        const answers = await Promise.allSettled([1, 2, 3].map(() => request(server.url, '/')));
        for (const answer of answers) {
          if (answer.status === 'fulfilled' && answer.value.status === 200) pids.add(answer.value.body);
          else failures.push(answer.status === 'fulfilled' ? `status ${answer.value.status}` : String(answer.reason));
        }
      }
      expect(failures).to.deep.equal([]);
      expect(pids.size).to.be.greaterThan(3);
      await server.waitFor(/Autorestarting worker after current request\./);
    });

    it('loses no request of keep-alive clients sending back to back across a HUP', async () => {
      const server = await start(['-w', '2']);
      const oldWorkers = await server.waitForWorkers(2);
      await waitUntilServing(server.url);
      const clients = keepAliveLoad(server.url);
      try {
        while (clients.reused < 20 && clients.load.failures.length === 0) await sleep(20);
        server.signal('SIGHUP');
        await server.waitFor(/Worker exiting/, 2);
        for (const pid of oldWorkers) await waitUntilGone(pid);
        const answered = clients.load.answers.length;
        while (clients.load.answers.length < answered + 20 && clients.load.failures.length === 0) await sleep(20);
      } finally {
        await clients.stop();
      }
      expect(clients.load.failures).to.deep.equal([]);
      // The old workers answered their connections' next request with Connection: close.
      expect(clients.closed).to.be.at.least(1);
      const servedBy = new Set(clients.load.bodies.slice(-8));
      for (const pid of oldWorkers) expect(servedBy).to.not.include(`ok ${pid}\n`);
    });

    it('loses no request of keep-alive clients sending back to back across --max-requests recycles', async () => {
      const server = await start(['-w', '2', '--max-requests', '30', '--max-requests-jitter', '10']);
      await server.waitForWorkers(2);
      await waitUntilServing(server.url);
      const clients = keepAliveLoad(server.url);
      try {
        await server.waitFor(/Autorestarting worker after current request\./, 3);
        await server.waitFor(/Worker exiting/, 3);
      } finally {
        await clients.stop();
      }
      expect(clients.load.failures).to.deep.equal([]);
      expect(clients.reused).to.be.at.least(20);
      // Three workers exited, so at least one replacement served too.
      expect(new Set(clients.load.bodies).size).to.be.at.least(3);
    });

    it('logs a TERM sent to the whole process group while a worker boots as an orderly stop', async () => {
      const server = await TsunicornProcess.start([path.join(APPS, 'slow-boot.mjs'), '-b', '127.0.0.1:0', '--socket-sharing', sharing, '-w', '2']);
      await server.waitFor(/^slow boot started in \d+$/, 2);
      process.kill(-server.pid, 'SIGTERM');
      expect((await server.waitForExit()).code).to.equal(0);
      expect(server.lines.filter((line) => /\[(ERROR|WARNING)\]/.test(line))).to.deep.equal([]);
      expect(server.lines.filter((line) => /\[INFO\] Worker \(pid:\d+\) stopped by SIGTERM/.test(line))).to.have.length(2);
      expect(server.stderr.at(-1)).to.match(/\[INFO\] Shutting down: Master$/);
    });

    it('drains on SIGTERM: an in-flight request finishes, the master exits 0, no worker is left', async () => {
      const server = await start(['-w', '2']);
      const workers = await server.waitForWorkers(2);
      const slow = request(server.url, '/slow?ms=1000');
      await server.waitFor(/slow request started/);
      server.signal('SIGTERM');
      expect((await slow).body).to.match(/^slow done \d+\n$/);
      expect((await server.waitForExit()).code).to.equal(0);
      await server.waitFor(/Handling signal: term/);
      expect(server.stderr.at(-1)).to.match(/\[INFO\] Shutting down: Master$/);
      for (const pid of workers) expect(isAlive(pid)).to.equal(false);
    });

    it('closes idle keep-alive connections at SIGTERM instead of waiting for --graceful-timeout', async () => {
      const server = await start(['-w', '1', '--graceful-timeout', '60', '--keep-alive', '60']);
      await server.waitForWorkers(1);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const url = new URL(server.url);
      const closed = new Promise<void>((resolve, reject) => {
        const req = http.get({ host: url.hostname, port: url.port, path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => {
            expect(res.headers.connection).to.equal('keep-alive');
            // The connection now sits idle in the agent; the server must close it.
            req.socket!.once('close', () => resolve());
            server.signal('SIGTERM');
          });
        });
        req.on('error', reject);
      });
      try {
        await closed;
        expect((await server.waitForExit(10000)).code).to.equal(0);
      } finally {
        agent.destroy();
      }
    });

    it('drains a worker that receives SIGTERM directly, and the master replaces it', async () => {
      const server = await start(['-w', '1']);
      const [worker] = await server.waitForWorkers(1);
      const slow = request(server.url, '/slow?ms=800');
      await server.waitFor(/slow request started/);
      process.kill(worker!, 'SIGTERM');
      expect((await slow).body).to.equal(`slow done ${worker}\n`);
      await server.waitFor(new RegExp(`\\[${worker}\\] \\[INFO\\] Worker exiting`));
      const next = await waitUntilServing(server.url);
      expect(next.body).to.not.equal(`ok ${worker}\n`);
    });

    it('drains on a TERM that reaches the workers before the master (Heroku signals every process) without booting a replacement', async () => {
      const server = await start(['-w', '2', '--log-level', 'debug']);
      const workers = await server.waitForWorkers(2);
      // Each worker handles TERM once it booted (before, TERM stops it while booting: another test).
      await server.waitFor(/Worker booted \(pid: \d+\)/, 2);
      for (const pid of workers) process.kill(pid, 'SIGTERM');
      // The master's own TERM arrives a moment later, within its settle time: once both workers took theirs.
      await server.waitFor(/Worker draining \(pid: \d+\): received SIGTERM/, 2);
      server.signal('SIGTERM');
      expect((await server.waitForExit()).code).to.equal(0);
      const booted = server.lines.filter((line) => line.includes('Booting worker with pid:'));
      expect(booted, server.lines.join('\n')).to.have.length(2);
      for (let attempt = 0; attempt < 50 && workers.some(isAlive); attempt++) await sleep(50);
      for (const pid of workers) expect(isAlive(pid)).to.equal(false);
    });

    schemeIndependent('stops quickly on SIGINT with status 0', async () => {
      const server = await start(['-w', '2']);
      const workers = await server.waitForWorkers(2);
      server.signal('SIGINT');
      expect((await server.waitForExit()).code).to.equal(0);
      for (let attempt = 0; attempt < 50 && workers.some(isAlive); attempt++) await sleep(50);
      for (const pid of workers) expect(isAlive(pid)).to.equal(false);
    });
  });
}
