/**
 * --metrics-bind: the master serves Prometheus' text format on GET /metrics (404 for any other path, 405
 * for another method), made by prom-client from the master's MasterStats at each scrape, plus
 * prom-client's default metrics of the master process itself.
 *
 *   const metrics = await MetricsServer.listen(settings.metrics_bind, arbiter.stats);
 *   metrics.url;            // http://127.0.0.1:9100/metrics
 *   await metrics.close();
 *
 * Where prom-client does not fit: its own counters and histograms count in the process that observes,
 * and its AggregatorRegistry merges node:cluster workers only (tsunicorn forks its workers itself and
 * keeps their figures in MasterStats). So the counters and gauges here are prom-client metrics whose
 * collect() sets them from MasterStats, and the request-duration histogram, whose buckets are counted in
 * the workers, is a metric object of our own that the registry formats like any other.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import client from 'prom-client';
import { TsunicornError, firstLine } from './errors.js';
import { RESTART_REASONS, type MasterStats } from './master-stats.js';
import type { TcpAddress } from './settings.js';

/**
 * How often prom-client's event-loop monitor of the master takes its sample. Its default, 10 ms, wakes
 * the master 200 times a second while it has nothing else to do, and those wake-ups take the CPU from the
 * workers; at 100 ms an idle master wakes 26 times a second (both counted with `strace -c`).
 */
const MASTER_EVENT_LOOP_PRECISION_MS = 100;

/** The registry of one master: tsunicorn's metrics from `stats`, and the master's process metrics. */
export function metricsRegistry(stats: MasterStats): client.Registry {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: MASTER_EVENT_LOOP_PRECISION_MS });
  new client.Counter({
    name: 'tsunicorn_requests_total',
    help: 'Requests answered, by status code, over every worker (including workers that left).',
    labelNames: ['status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [status, count] of Object.entries(stats.statusCounts())) this.inc({ status }, count);
    },
  });
  registry.registerMetric(durationHistogram(stats));
  new client.Gauge({
    name: 'tsunicorn_requests_in_flight',
    help: 'Requests taken by a worker whose response has not ended yet.',
    registers: [registry],
    collect() {
      this.set(stats.summary().requests.inFlight);
    },
  });
  new client.Gauge({
    name: 'tsunicorn_workers',
    help: 'Worker processes running (booting, serving or draining).',
    registers: [registry],
    collect() {
      this.set(stats.summary().workers.current);
    },
  });
  new client.Counter({
    name: 'tsunicorn_worker_restarts_total',
    help: 'Workers stopped and replaced, by reason: timeout (killed), max-requests, memory (--max-worker-memory), reload (HUP), exited (on its own).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const restarts = stats.summary().restarts;
      for (const reason of RESTART_REASONS) this.inc({ reason }, restarts[reason]);
    },
  });
  new client.Gauge({
    name: 'tsunicorn_worker_rss_bytes',
    help: 'Resident memory of each worker, from its last heartbeat.',
    labelNames: ['pid'],
    registers: [registry],
    collect() {
      this.reset();
      for (const worker of stats.workers()) if (worker.rssBytes !== null) this.set({ pid: String(worker.pid) }, worker.rssBytes);
    },
  });
  new client.Gauge({
    name: 'tsunicorn_event_loop_delay_seconds',
    help: 'Event-loop delay of each worker over its last heartbeat interval (about a second), at the quantile given.',
    labelNames: ['pid', 'quantile'],
    registers: [registry],
    collect() {
      this.reset();
      for (const worker of stats.workers()) {
        if (worker.eventLoopDelayP99Seconds !== null) this.set({ pid: String(worker.pid), quantile: '0.99' }, worker.eventLoopDelayP99Seconds);
      }
    },
  });
  return registry;
}

const DURATION_NAME = 'tsunicorn_request_duration_seconds';

/** The request-duration histogram as prom-client's registry reads a metric (get(): name, type, values). */
function durationHistogram(stats: MasterStats): client.Metric {
  const metric = {
    name: DURATION_NAME,
    help: 'Time from the request taken by a worker to its response ended, over every worker (including workers that left).',
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const histogram = stats.durations();
      const values = histogram.buckets.map(({ le, count }) => ({
        metricName: `${DURATION_NAME}_bucket`,
        labels: { le: le === Infinity ? '+Inf' : String(le) },
        value: count,
      }));
      values.push({ metricName: `${DURATION_NAME}_sum`, labels: {} as { le: string }, value: histogram.sum });
      values.push({ metricName: `${DURATION_NAME}_count`, labels: {} as { le: string }, value: histogram.count });
      return Promise.resolve({ name: DURATION_NAME, help: metric.help, type: 'histogram', aggregator: 'sum', values });
    },
  };
  return metric as unknown as client.Metric;
}

export class MetricsServer {
  private constructor(private readonly server: http.Server, readonly url: string) {}

  /** Listens on `address`; a port in use (or any bind error) is one TsunicornError line. */
  static async listen(address: TcpAddress, stats: MasterStats): Promise<MetricsServer> {
    const registry = metricsRegistry(stats);
    const server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?', 1)[0];
      if (path !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found: metrics are at /metrics\n');
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
        return;
      }
      registry.metrics().then((text) => {
        res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      }, (error: unknown) => {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${firstLine(error)}\n`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        const reason = error.code === 'EADDRINUSE' ? 'the address is in use' : error.code === 'EADDRNOTAVAIL' ? 'the address is not on this machine' : error.code === 'EACCES' ? 'permission denied' : firstLine(error);
        reject(new TsunicornError(`Cannot serve --metrics-bind ${address.text}: ${reason}`, 1));
      });
      server.listen(address.port, address.host, () => resolve());
    });
    server.on('error', () => undefined);
    const bound = server.address() as AddressInfo;
    const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
    return new MetricsServer(server, `http://${host}:${bound.port}/metrics`);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
