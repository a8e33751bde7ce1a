import { expect } from 'chai';
import net from 'node:net';
import path from 'node:path';
import { APPS, TsunicornProcess, request, sleep, stopAllServers } from './tsunicorn-process.js';
import { parsePrometheusText, sampleValue, type Family } from './prometheus-text.js';

const APP = path.join(APPS, 'behaviors.mjs');

async function metricsUrl(server: TsunicornProcess): Promise<string> {
  const [line] = await server.waitFor(/Metrics at: /);
  return /Metrics at: (\S+)/.exec(line!)![1]!;
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const { origin, pathname } = new URL(url);
  const answer = await request(origin, pathname);
  expect(answer.status).to.equal(200);
  expect(answer.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(answer.body);
}

/** Scrapes until `done` holds (bounded), returning the last scrape. */
async function scrapeUntil(url: string, done: (families: Map<string, Family>) => boolean): Promise<Map<string, Family>> {
  let families = await scrape(url);
  for (let attempt = 0; attempt < 150 && !done(families); attempt++) {
    await sleep(100);
    families = await scrape(url);
  }
  return families;
}

function total(families: Map<string, Family>, name: string): number {
  return families.get(name)?.samples.reduce((sum, sample) => sum + sample.value, 0) ?? 0;
}

describe('tsunicorn --metrics-bind', function () {
  this.timeout(60000);
  afterEach(stopAllServers);

  it("reports a worker's event-loop delay: handlers that hold the loop 300 ms back to back show as a p99 near 0.3 s", async function () {
    const server = await TsunicornProcess.start([APP, '-w', '1', '-b', '127.0.0.1:0', '--metrics-bind', '127.0.0.1:0']);
    const url = await metricsUrl(server);
    await server.waitForWorkers(1);
    const p99 = (f: Map<string, Family>) => f.get('tsunicorn_event_loop_delay_seconds')?.samples[0]?.value ?? 0;
    // Back to back, so that most of the loop's turns in a report's second are held ones (p99, not the maximum).
    const busy = (async () => {
      for (let i = 0; i < 10; i++) expect((await request(server.url, '/busy?ms=300')).status).to.equal(200);
    })();
    const families = await scrapeUntil(url, (f) => p99(f) >= 0.2);
    await busy;
    expect(p99(families)).to.be.at.least(0.2).and.below(2);
  });

  it('serves Prometheus text on GET /metrics over every worker, with the master\'s process metrics, and nothing else', async function () {
    const server = await TsunicornProcess.start([APP, '-w', '2', '-b', '127.0.0.1:0', '--metrics-bind', '127.0.0.1:0']);
    const url = await metricsUrl(server);
    await server.waitForWorkers(2);
    for (let i = 0; i < 10; i++) expect((await request(server.url, '/')).status).to.equal(200);
    for (let i = 0; i < 2; i++) expect((await request(server.url, '/throw')).status).to.equal(500);
    const families = await scrapeUntil(url, (f) =>
      sampleValue(f, 'tsunicorn_requests_total', { status: '200' }) === 10 && sampleValue(f, 'tsunicorn_requests_total', { status: '500' }) === 2
      && (f.get('tsunicorn_worker_rss_bytes')?.samples.length ?? 0) === 2 && (f.get('tsunicorn_event_loop_delay_seconds')?.samples.length ?? 0) === 2);
    expect(sampleValue(families, 'tsunicorn_requests_total', { status: '200' })).to.equal(10);
    expect(sampleValue(families, 'tsunicorn_requests_total', { status: '500' })).to.equal(2);
    expect(families.get('tsunicorn_requests_total')!.type).to.equal('counter');
    expect(families.get('tsunicorn_request_duration_seconds')!.type).to.equal('histogram');
    expect(sampleValue(families, 'tsunicorn_request_duration_seconds_count')).to.equal(12);
    expect(sampleValue(families, 'tsunicorn_request_duration_seconds_bucket', { le: '+Inf' })).to.equal(12);
    expect(sampleValue(families, 'tsunicorn_request_duration_seconds_sum')).to.be.greaterThan(0);
    expect(sampleValue(families, 'tsunicorn_requests_in_flight')).to.equal(0);
    expect(sampleValue(families, 'tsunicorn_workers')).to.equal(2);
    expect(families.get('tsunicorn_worker_restarts_total')!.type).to.equal('counter');
    expect(sampleValue(families, 'tsunicorn_worker_restarts_total', { reason: 'max-requests' })).to.equal(0);
    const pids = server.workerPids().map(String).sort();
    const rss = families.get('tsunicorn_worker_rss_bytes')!.samples;
    expect(rss.map((sample) => sample.labels.pid).sort()).to.deep.equal(pids);
    for (const sample of rss) expect(sample.value).to.be.greaterThan(1e6);
    const delay = families.get('tsunicorn_event_loop_delay_seconds')!.samples;
    expect(delay.map((sample) => sample.labels.quantile)).to.deep.equal(['0.99', '0.99']);
    expect(delay.map((sample) => sample.labels.pid).sort()).to.deep.equal(pids);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      expect(families.has(name), name).to.equal(true);
    }
    const { origin } = new URL(url);
    expect((await request(origin, '/')).status).to.equal(404);
    expect((await request(origin, '/metrics/x')).status).to.equal(404);
    const post = await request(origin, '/metrics', { method: 'POST', body: 'x' });
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal('GET, HEAD');
  });

  it('keeps counting across worker restarts: no counter ever goes back', async function () {
    const server = await TsunicornProcess.start([APP, '-w', '1', '--max-requests', '4', '-b', '127.0.0.1:0', '--metrics-bind', '127.0.0.1:0']);
    const url = await metricsUrl(server);
    await server.waitForWorkers(1);
    const seen: { requests: number; durations: number; restarts: number }[] = [];
    const record = (families: Map<string, Family>) => {
      seen.push({
        requests: total(families, 'tsunicorn_requests_total'),
        durations: sampleValue(families, 'tsunicorn_request_duration_seconds_count') ?? 0,
        restarts: sampleValue(families, 'tsunicorn_worker_restarts_total', { reason: 'max-requests' }) ?? 0,
      });
    };
    for (let i = 0; i < 20; i++) {
      expect((await request(server.url, '/')).status).to.equal(200);
      record(await scrape(url));
    }
    const last = await scrapeUntil(url, (f) => total(f, 'tsunicorn_requests_total') === 20
      && sampleValue(f, 'tsunicorn_worker_restarts_total', { reason: 'max-requests' }) === 5);
    record(last);
    expect(seen.at(-1)).to.deep.equal({ requests: 20, durations: 20, restarts: 5 });
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.requests, `scrape ${i}`).to.be.at.least(seen[i - 1]!.requests);
      expect(seen[i]!.durations, `scrape ${i}`).to.be.at.least(seen[i - 1]!.durations);
      expect(seen[i]!.restarts, `scrape ${i}`).to.be.at.least(seen[i - 1]!.restarts);
    }
  });

  it('refuses an address in use with one line and status 1, leaving nothing running', async function () {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = taken.address() as net.AddressInfo;
      const server = await TsunicornProcess.start([APP, '-b', '127.0.0.1:0', '--metrics-bind', `127.0.0.1:${port}`], { listening: 0 });
      const { code } = await server.waitForExit();
      expect(code).to.equal(1);
      expect(server.stderr.filter((line) => line.trim() !== '')).to.deep.equal([`Cannot serve --metrics-bind 127.0.0.1:${port}: the address is in use`]);
      expect(server.workerPids()).to.deep.equal([]);
    } finally {
      taken.close();
    }
  });
});
