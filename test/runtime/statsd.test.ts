import { expect } from 'chai';
import dgram from 'node:dgram';
import path from 'node:path';
import { APPS, TsunicornProcess, request, sleep, stopAllServers } from './tsunicorn-process.js';

const APP = path.join(APPS, 'behaviors.mjs');

/** A statsd server: a UDP socket on 127.0.0.1 port 0 keeping every line of every datagram. */
async function statsdServer() {
  const socket = dgram.createSocket('udp4');
  const lines: string[] = [];
  socket.on('message', (message) => lines.push(...message.toString('ascii').split('\n')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { socket, lines, address: `127.0.0.1:${(socket.address()).port}` };
}

/** The sum of the values of the counter lines named `name` (`name:N|c...`). */
function counted(lines: string[], name: string): number {
  return lines.filter((line) => line.startsWith(`${name}:`)).reduce((sum, line) => sum + Number(/^[^:]+:(\d+)\|c/.exec(line)![1]), 0);
}

describe('tsunicorn --statsd-host', function () {
  this.timeout(60000);
  let statsd: Awaited<ReturnType<typeof statsdServer>> | undefined;
  afterEach(async () => {
    await stopAllServers();
    statsd?.socket.close();
    statsd = undefined;
  });

  it('sends gunicorn\'s metric names over UDP, with the prefix and the Datadog tags', async function () {
    statsd = await statsdServer();
    const server = await TsunicornProcess.start([APP, '-w', '2', '-b', '127.0.0.1:0', '--statsd-host', statsd.address, '--statsd-prefix', 'shop.web', '--dogstatsd-tags', 'env:test,team:web']);
    await server.waitFor(new RegExp(`Sending statsd metrics to: ${statsd.address}`));
    await server.waitForWorkers(2);
    for (let i = 0; i < 5; i++) expect((await request(server.url, '/')).status).to.equal(200);
    expect((await request(server.url, '/throw')).status).to.equal(500);
    const lines = statsd.lines;
    for (let attempt = 0; attempt < 100 && counted(lines, 'shop.web.gunicorn.requests') < 6; attempt++) await sleep(100);
    for (let attempt = 0; attempt < 30 && !lines.some((line) => line === 'shop.web.gunicorn.workers:2|g|#env:test,team:web'); attempt++) await sleep(100);
    expect(counted(lines, 'shop.web.gunicorn.requests')).to.equal(6);
    expect(counted(lines, 'shop.web.gunicorn.request.status.200')).to.equal(5);
    expect(counted(lines, 'shop.web.gunicorn.request.status.500')).to.equal(1);
    const durations = lines.filter((line) => line.startsWith('shop.web.gunicorn.request.duration:'));
    expect(durations).to.have.length(6);
    for (const line of durations) expect(line).to.match(/^shop\.web\.gunicorn\.request\.duration:\d+(\.\d+)?\|ms\|#env:test,team:web$/);
    expect(lines).to.include('shop.web.gunicorn.workers:2|g|#env:test,team:web');
    for (const line of lines.filter((line) => line.includes('|c'))) expect(line).to.match(/^shop\.web\.gunicorn\.[a-z0-9.]+:\d+\|c\|@1\.0\|#env:test,team:web$/);
  });

  it('refuses a bad --statsd-host or --dogstatsd-tags with one line and status 2', async function () {
    for (const args of [['--statsd-host', 'unix:/tmp/statsd.sock'], ['--dogstatsd-tags', 'env:a b'], ['--statsd-prefix', 'a:b']]) {
      const server = await TsunicornProcess.start([APP, '-b', '127.0.0.1:0', ...args], { listening: 0 });
      const { code } = await server.waitForExit();
      expect(code, args.join(' ')).to.equal(2);
      const said = server.stderr.filter((line) => line.trim() !== '');
      expect(said, args.join(' ')).to.have.length(1);
      expect(said[0]).to.include(args[0]);
    }
  });
});
