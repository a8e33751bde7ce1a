import { expect } from 'chai';
import http from 'node:http';
import path from 'node:path';
import { APPS, TsunicornProcess, requestLoop, sleep, stopAllServers, waitUntilGone } from './tsunicorn-process.js';

const LEAKY = path.join(APPS, 'leaky.mjs');
const RECYCLED = /Worker \(pid:(\d+)\) uses \d+ MB, over --max-worker-memory 90 MB: replacing it/;

describe('tsunicorn --max-worker-memory', function () {
  this.timeout(90000);
  afterEach(stopAllServers);

  it('replaces a worker past the limit (a new one first, then it drains) with no failed request, keep-alive or Connection: close', async function () {
    const server = await TsunicornProcess.start([LEAKY, '-w', '2', '-b', '127.0.0.1:0', '--max-worker-memory', '90'], { env: { LEAK_KB: '1024' } });
    await server.waitForWorkers(2);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    const keptAlive = requestLoop(server.url, 2, agent);
    // agent: false, so every request says Connection: close.
    const closing = requestLoop(server.url, 2);
    let recycled: number[] = [];
    try {
      for (let wait = 0; wait < 600 && recycled.length < 3 && keptAlive.failures.length + closing.failures.length === 0; wait++) {
        recycled = server.lines.filter((line) => RECYCLED.test(line)).map((line) => Number(RECYCLED.exec(line)![1]));
        await sleep(50);
      }
      for (const pid of recycled) await waitUntilGone(pid);
    } finally {
      await keptAlive.stop();
      await closing.stop();
      agent.destroy();
    }
    expect(keptAlive.failures).to.deep.equal([]);
    expect(closing.failures).to.deep.equal([]);
    expect(recycled.length).to.be.at.least(3);
    expect(keptAlive.answers.length).to.be.greaterThan(20);
    expect(closing.answers.length).to.be.greaterThan(20);
    // Drained, not killed: no SIGKILL, every recycled worker said it was exiting.
    expect(server.lines.filter((line) => /SIGKILL|killing it/.test(line))).to.deep.equal([]);
    for (const pid of recycled) expect(server.lines.some((line) => line.includes(`Worker exiting (pid: ${pid})`)), `pid ${pid}`).to.equal(true);
    // Each replacement booted before the worker it replaces drained.
    for (const pid of recycled) {
      const marked = server.lines.findIndex((line) => RECYCLED.test(line) && line.includes(`pid:${pid})`));
      const exiting = server.lines.findIndex((line) => line.includes(`Worker exiting (pid: ${pid})`));
      const booted = server.lines.slice(marked + 1, exiting).some((line) => /Booting worker with pid/.test(line));
      expect(booted, `a new worker booted between ${pid} marked and exiting`).to.equal(true);
    }
  });
});
