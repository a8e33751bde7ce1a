import { expect } from 'chai';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { REPO, cleanup, eventually, processAlive, startManager, track } from './helpers.js';

/** A port that was free a moment ago (tsforeman needs a real base port: 0 means nothing to it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the README\'s first command: tsforeman start -f examples/Procfile', () => {
  afterEach(cleanup);

  it('serves the example app through tsunicorn, and Ctrl-C leaves nothing running', async () => {
    const port = await freePort();
    const manager = startManager(['start', '-f', 'examples/Procfile', '--no-color'], REPO, { ...process.env, PORT: String(port) });
    await manager.waitFor(/web\.1 +\| .*Booting worker with pid: \d+/);
    await manager.waitFor(/worker\.1 +\| worker worker\.1 ready/);

    const response = await get(port, '/');
    expect(response.status).to.equal(200);
    expect(response.body).to.match(/^Hello from tsunicorn \(worker \d+\)\n$/);

    const pids = [
      ...[...manager.stdout.matchAll(/\[(\d+)\] \[INFO\] Starting tsunicorn/g)].map((m) => Number(m[1])),
      ...[...manager.stdout.matchAll(/Booting worker with pid: (\d+)/g)].map((m) => Number(m[1])),
      ...[...manager.stdout.matchAll(/ready \(pid (\d+)\)/g)].map((m) => Number(m[1])),
    ];
    pids.forEach(track);
    expect(pids.length).to.be.at.least(3);

    manager.signal('SIGINT');
    const exit = await manager.exit;
    expect(exit.code).to.equal(130);
    // Simple commands replace their shell, so the statuses are the programs' own: both stop cleanly.
    expect(manager.stdout).to.match(/system +\| web\.1 exited with code 0\n/);
    expect(manager.stdout).to.match(/system +\| worker\.1 exited with code 0\n/);
    await eventually(() => pids.every((pid) => !processAlive(pid)), `pids ${pids.join(', ')} gone`);
  });
});
