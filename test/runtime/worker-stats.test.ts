import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConnectionTable } from '../../runtime/http/connection-table.js';
import { RequestPipeline } from '../../runtime/http/request-pipeline.js';
import { createStrictServer } from '../../runtime/http/strict-server.js';
import { MasterStats } from '../../runtime/master-stats.js';
import { DEFAULT_LIMITS } from './http/raw-client.js';
import { DURATION_BUCKETS, WorkerStats, type WorkerStatsReport } from '../../runtime/worker-stats.js';

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    }).on('error', reject);
  });
}

/** A report as a worker would send it, with `requests` 200s of 1 ms and `errors` 500s of 0.2 s. */
function reportOf(requests: number, errors: number, extra: Partial<WorkerStatsReport> = {}): WorkerStatsReport {
  const durationCounts = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  durationCounts[0] = requests;
  durationCounts[DURATION_BUCKETS.indexOf(0.25)] = errors;
  const status: Record<string, number> = {};
  if (requests) status['200'] = requests;
  if (errors) status['500'] = errors;
  return {
    requests: requests + errors, inFlight: 0, status, durationCounts, durationSum: requests * 0.001 + errors * 0.2,
    rssBytes: 50e6, cpuMicros: 0, eventLoopDelayP99: 0.001, connections: 1, upgraded: 0, ...extra,
  };
}

describe('worker statistics', function () {
  const servers: http.Server[] = [];
  afterEach(async () => {
    for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve).closeAllConnections());
  });

  it('counts requests by status, in flight and by duration where each response ends', async function () {
    const stats = new WorkerStats();
    const connections = new ConnectionTable();
    let release: (() => void) | undefined;
    const server = createStrictServer((req, res) => {
      if (req.url === '/slow') {
        release = () => res.end('late');
        return;
      }
      res.statusCode = req.url === '/missing' ? 404 : 200;
      res.end('ok');
    }, { ...DEFAULT_LIMITS, keepAliveSeconds: 5, connections, pipeline: new RequestPipeline({ stats }) });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    expect(await get(port, '/')).to.equal(200);
    expect(await get(port, '/')).to.equal(200);
    expect(await get(port, '/missing')).to.equal(404);
    const slow = get(port, '/slow');
    for (let i = 0; i < 200 && !release; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const during = stats.report(connections.size, 0);
    expect(during.inFlight).to.equal(1);
    expect(during.requests).to.equal(3);
    release!();
    expect(await slow).to.equal(200);
    const after = stats.report(0, 0);
    expect(after.inFlight).to.equal(0);
    expect(after.requests).to.equal(4);
    expect(after.status).to.deep.equal({ 200: 3, 404: 1 });
    expect(after.durationCounts.reduce((a, b) => a + b, 0)).to.equal(4);
    expect(after.durationCounts).to.have.length(DURATION_BUCKETS.length + 1);
    expect(after.rssBytes).to.be.greaterThan(1e6);
    expect(after.cpuMicros).to.be.greaterThan(0);
    expect(after.samples).to.equal(undefined);
  });

  it('keeps request durations for statsd only when asked, a sample of at most its capacity', function () {
    const stats = new WorkerStats({ keepSamples: true });
    for (let i = 0; i < 3; i++) stats.ended(200, stats.started());
    const report = stats.report(0, 0);
    expect(report.samples).to.have.length(3);
    expect(report.sampledOf).to.equal(3);
    for (let i = 0; i < 5000; i++) stats.ended(200, stats.started());
    const next = stats.report(0, 0);
    expect(next.samples).to.have.length(2048);
    expect(next.sampledOf).to.equal(5000);
    expect(stats.report(0, 0).samples).to.have.length(0);
  });

  it('aggregates in the master: counters keep what the workers that left counted', function () {
    let now = 1000;
    const stats = new MasterStats({ targetWorkers: () => 2, now: () => now });
    stats.workerStarted({ pid: 11, generation: 1, age: 1 });
    stats.workerStarted({ pid: 12, generation: 1, age: 2 });
    stats.workerState(11, 'serving');
    stats.report(11, reportOf(10, 1, { cpuMicros: 0 }));
    stats.report(12, reportOf(5, 0));
    now += 1000;
    stats.report(11, reportOf(20, 2, { cpuMicros: 250_000 }));
    expect(stats.summary().requests.total).to.equal(27);
    const [first, second] = stats.workers();
    expect(first).to.include({ pid: 11, state: 'serving', requests: 22, generation: 1, age: 1 });
    expect(first!.cpuPercent).to.be.closeTo(25, 0.001);
    expect(second).to.include({ pid: 12, state: 'booting', cpuPercent: null });
    stats.workerState(11, 'draining');
    stats.restarted('max-requests');
    stats.workerLeft(11);
    stats.workerStarted({ pid: 13, generation: 1, age: 3 });
    const summary = stats.summary();
    expect(summary.requests.total).to.equal(27);
    expect(summary.requests.byStatusClass).to.deep.include({ '2xx': 25, '5xx': 2 });
    expect(summary).to.deep.include({ spawned: 3, recycled: { maxRequests: 1, memory: 0 } });
    expect(summary.workers).to.deep.equal({ current: 2, target: 2 });
    expect(stats.statusCounts()).to.deep.equal({ 200: 25, 500: 2 });
    const durations = stats.durations();
    expect(durations.count).to.equal(27);
    expect(durations.buckets.at(-1)).to.deep.equal({ le: Infinity, count: 27 });
    expect(durations.buckets[0]).to.deep.equal({ le: 0.005, count: 25 });
    stats.report(13, reportOf(1, 0));
    expect(stats.summary().requests.total).to.equal(28);
  });

  it('tells statsd what each report added', function () {
    const stats = new MasterStats({ targetWorkers: () => 1 });
    const deltas: { requests: number; status: Record<string, number> }[] = [];
    stats.onDelta = (delta) => deltas.push(delta);
    stats.workerStarted({ pid: 1, generation: 1, age: 1 });
    stats.report(1, reportOf(3, 0));
    stats.report(1, reportOf(5, 1));
    expect(deltas.map(({ requests, status }) => ({ requests, status }))).to.deep.equal([
      { requests: 3, status: { 200: 3 } },
      { requests: 3, status: { 200: 2, 500: 1 } },
    ]);
  });
});
