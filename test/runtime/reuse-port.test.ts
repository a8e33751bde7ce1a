import { expect } from 'chai';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { nodeHasReusePort } from '../../runtime/settings.js';
import { APPS, TsunicornProcess, requestLoop, sleep, stopAllServers, waitUntilGone, waitUntilServing } from './tsunicorn-process.js';

const behaviors = path.join(APPS, 'behaviors.mjs');

/** The inodes of the sockets listening on TCP `port` (/proc/net/tcp and tcp6, state 0A). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== '0A') continue;
      if (Number.parseInt(fields[1]!.split(':')[1]!, 16) === port) inodes.add(fields[9]!);
    }
  }
  return inodes;
}

/** How many of those sockets process `pid` holds a descriptor of. */
function socketsHeldBy(pid: number, inodes: Set<string>): number {
  const held = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
      if (inode && inodes.has(inode)) held.add(inode);
    } catch {
      // Closed meanwhile.
    }
  }
  return held.size;
}

if (!nodeHasReusePort()) {
  describe('--socket-sharing reuse-port on a Node.js without reusePort', function () {
    afterEach(stopAllServers);
    it('refuses it at start in one line, status 2, and starts nothing', async () => {
      const server = await TsunicornProcess.start([behaviors, '-b', '127.0.0.1:0', '--socket-sharing', 'reuse-port'], { listening: 0 });
      expect((await server.waitForExit()).code).to.equal(2);
      expect(server.stderr).to.deep.equal([
        `--socket-sharing reuse-port: Node.js ${process.version} cannot set SO_REUSEPORT (listen's reusePort needs 22.12 (or 23.1) or later); use handoff or shared, or a newer Node.js`,
      ]);
    });
  });
} else {
  describe('--socket-sharing reuse-port', function () {
    this.timeout(40000);
    afterEach(stopAllServers);
    const start = (args: string[]) => TsunicornProcess.start([behaviors, '-b', '127.0.0.1:0', '--socket-sharing', 'reuse-port', '--log-level', 'debug', ...args]);

    it('refuses a unix: bind in one line, status 2', async () => {
      const server = await TsunicornProcess.start([behaviors, '-b', 'unix:/tmp/tsunicorn-reuse-port-test.sock', '--reuse-port'], { listening: 0 });
      expect((await server.waitForExit()).code).to.equal(2);
      expect(server.stderr).to.deep.equal([
        '--socket-sharing reuse-port: unix:/tmp/tsunicorn-reuse-port-test.sock is a unix socket, which SO_REUSEPORT does not apply to; bind TCP addresses only, or use handoff or shared',
      ]);
    });

    it("takes gunicorn's --reuse-port spelling, and refuses it beside another --socket-sharing", async () => {
      const server = await TsunicornProcess.start([behaviors, '-b', '127.0.0.1:0', '--reuse-port']);
      await server.waitFor(/Using socket sharing: reuse-port/);
      const both = await TsunicornProcess.start([behaviors, '-b', '127.0.0.1:0', '--reuse-port', '--socket-sharing', 'shared'], { listening: 0 });
      expect((await both.waitForExit()).code).to.equal(2);
      expect(both.stderr).to.deep.equal(['--reuse-port: means --socket-sharing reuse-port, but --socket-sharing is shared; give one of them']);
    });

    it('gives each worker a listening socket of its own and leaves the master none, also after a HUP', async () => {
      const server = await start(['-w', '3']);
      const port = Number(new URL(server.url).port);
      const check = async (workers: number[]) => {
        await waitUntilServing(server.url);
        // Each worker binds its own (or takes one given back) once it booted: wait for all three.
        for (let attempt = 0; attempt < 100 && !settled(workers); attempt++) await sleep(50);
        const inodes = listeningInodes(port);
        expect(inodes.size).to.equal(3);
        expect(socketsHeldBy(server.child.pid!, inodes)).to.equal(0);
        for (const pid of workers) expect(socketsHeldBy(pid, inodes), `worker ${pid}`).to.equal(1);
      };
      const settled = (workers: number[]) => {
        const inodes = listeningInodes(port);
        return inodes.size === 3 && socketsHeldBy(server.child.pid!, inodes) === 0 && workers.every((pid) => socketsHeldBy(pid, inodes) === 1);
      };
      // The master's own bind goes to the first worker once it is up.
      const first = await server.waitForWorkers(3);
      await check(first);
      server.signal('SIGHUP');
      for (const pid of first) await waitUntilGone(pid);
      await check(await server.waitForWorkers(3));
    });

    /** Keep-alive clients and Connection: close clients, back to back, while `events` runs; none may fail. */
    async function loseNothing(args: string[], events: (server: TsunicornProcess) => Promise<void>): Promise<void> {
      const server = await start(['-w', '2', ...args]);
      await server.waitForWorkers(2);
      await waitUntilServing(server.url);
      const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 3 });
      const closing = new http.Agent({ keepAlive: false });
      const kept = requestLoop(server.url, 3, keepAlive);
      const closed = requestLoop(server.url, 3, closing);
      try {
        while (kept.answers.length < 20 || closed.answers.length < 20) {
          if (kept.failures.length + closed.failures.length > 0) break;
          await sleep(20);
        }
        await events(server);
        const answered = kept.answers.length + closed.answers.length;
        while (kept.answers.length + closed.answers.length < answered + 40 && kept.failures.length + closed.failures.length === 0) await sleep(20);
      } finally {
        await kept.stop();
        await closed.stop();
        keepAlive.destroy();
        closing.destroy();
      }
      expect([...kept.failures, ...closed.failures]).to.deep.equal([]);
      expect(closed.answers.every((answer) => answer.headers.connection === 'close')).to.equal(true);
    }

    it('loses no request across HUP x2 (keep-alive and Connection: close clients)', async () => {
      await loseNothing([], async (server) => {
        for (let reload = 1; reload <= 2; reload++) {
          server.signal('SIGHUP');
          await server.waitFor(/Worker exiting/, 2 * reload);
          await server.waitForWorkers(2);
        }
      });
    });

    it('loses no request across TTIN then TTOU, twice', async () => {
      await loseNothing([], async (server) => {
        for (let round = 1; round <= 2; round++) {
          server.signal('SIGTTIN');
          await server.waitForWorkers(3);
          server.signal('SIGTTOU');
          await server.waitFor(/Worker exiting/, round);
          await server.waitForWorkers(2);
        }
      });
    });

    it('loses no request across --max-requests recycles', async () => {
      await loseNothing(['--max-requests', '60', '--max-requests-jitter', '20'], async (server) => {
        await server.waitFor(/Worker exiting/, 3, 30000);
      });
    });

    it('loses no request when one worker gets TERM, and the master replaces it', async () => {
      await loseNothing([], async (server) => {
        const [worker] = await server.waitForWorkers(2);
        process.kill(worker!, 'SIGTERM');
        await waitUntilGone(worker!);
        await server.waitForWorkers(2);
      });
    });

    it('drains at TERM with the workers serving what was queued, and exits 0', async () => {
      const server = await start(['-w', '2']);
      await server.waitForWorkers(2);
      await waitUntilServing(server.url);
      server.signal('SIGTERM');
      expect((await server.waitForExit()).code).to.equal(0);
    });
  });
}
