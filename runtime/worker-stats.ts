/**
 * A worker's own statistics: what its requests did (counted by the request pipeline where each response
 * ends) and what the process costs (RSS, CPU time, event-loop delay), sent to the master with the
 * heartbeat as a `WorkerStatsReport`. Every counter is cumulative over the worker's life, so a lost or
 * late report loses nothing: the master takes differences.
 *
 *   const stats = new WorkerStats();
 *   new RequestPipeline({ stats, ... });              // started() / ended() once per request
 *   send({ type: 'heartbeat', stats: stats.report(openConnections, upgraded) });
 *
 * Per request it only increments numbers in typed arrays made once (and, with `keepSamples`, writes one
 * number into a preallocated reservoir for statsd): no allocation on the request path.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from 'node:perf_hooks';

/** Upper bounds (seconds) of the request-duration histogram: Prometheus' client default buckets. */
export const DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Status codes counted one by one (Node accepts 100-999); anything else lands in slot 0. */
const STATUS_SLOTS = 1000;

/** The most request durations kept between two reports for statsd (a uniform sample beyond that). */
export const SAMPLE_CAPACITY = 2048;

/** What a worker sends with its heartbeat (plain JSON over the IPC channel). */
export interface WorkerStatsReport {
  /** Responses that ended (finished, or closed before finishing) since the worker started. */
  requests: number;
  /** Requests taken by the pipeline whose response has not ended yet. */
  inFlight: number;
  /** Ended responses by status code (codes seen only); a response closed before its head went out counts under its status code too. */
  status: Record<string, number>;
  /** Per-bucket counts of request durations (not cumulative), one more than DURATION_BUCKETS for +Inf. */
  durationCounts: number[];
  /** Sum of the request durations, seconds. */
  durationSum: number;
  rssBytes: number;
  /** User plus system CPU time since the worker started, microseconds. */
  cpuMicros: number;
  /** p99 of the event-loop delay since the previous report, seconds. */
  eventLoopDelayP99: number;
  /** Open HTTP connections (upgraded ones apart). */
  connections: number;
  /** Upgraded connections (WebSockets) still open. */
  upgraded: number;
  /** Only with samples on: request durations (ms) since the previous report, and how many requests they sample. */
  samples?: number[];
  sampledOf?: number;
}

/** How often the event-loop delay is sampled. */
const EVENT_LOOP_RESOLUTION_MS = 10;

export class WorkerStats {
  private requests = 0;
  private inFlight = 0;
  private readonly statusCounts = new Float64Array(STATUS_SLOTS);
  private readonly durationCounts = new Float64Array(DURATION_BUCKETS.length + 1);
  private durationSum = 0;
  private readonly eventLoopDelay: IntervalHistogram;
  private readonly samples: Float64Array | undefined;
  private sampled = 0;
  /** Requests ended since the previous report (the reservoir's population). */
  private sinceReport = 0;

  constructor(options: { keepSamples?: boolean } = {}) {
    this.samples = options.keepSamples ? new Float64Array(SAMPLE_CAPACITY) : undefined;
    this.eventLoopDelay = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS });
    this.eventLoopDelay.enable();
  }

  /** A request was taken; returns the time its duration counts from (performance.now(), ms). */
  started(): number {
    this.inFlight++;
    return performance.now();
  }

  /** Its response finished or closed. */
  ended(status: number, startedAt: number): void {
    this.inFlight--;
    this.requests++;
    this.statusCounts[status >= 0 && status < STATUS_SLOTS ? status : 0]!++;
    const ms = performance.now() - startedAt;
    const seconds = ms / 1000;
    this.durationSum += seconds;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket++;
    this.durationCounts[bucket]!++;
    const samples = this.samples;
    if (samples) {
      // Reservoir sampling: every request of the interval has the same chance of being kept.
      const seen = this.sinceReport++;
      if (seen < SAMPLE_CAPACITY) samples[this.sampled++] = ms;
      else {
        const slot = Math.floor(Math.random() * (seen + 1));
        if (slot < SAMPLE_CAPACITY) samples[slot] = ms;
      }
    }
  }

  /** Everything so far (the counters) and since the previous report (event-loop delay, samples). */
  report(connections: number, upgraded: number): WorkerStatsReport {
    const status: Record<string, number> = {};
    for (let code = 0; code < STATUS_SLOTS; code++) {
      const count = this.statusCounts[code]!;
      if (count > 0) status[String(code)] = count;
    }
    const cpu = process.cpuUsage();
    // The histogram records the time between two of its timer's turns, the resolution included (an idle
    // loop reads 10 ms): the delay is what passes beyond the resolution.
    const p99 = this.eventLoopDelay.count > 0 ? Math.max(0, this.eventLoopDelay.percentile(99) / 1e6 - EVENT_LOOP_RESOLUTION_MS) / 1e3 : 0;
    this.eventLoopDelay.reset();
    const report: WorkerStatsReport = {
      requests: this.requests,
      inFlight: this.inFlight,
      status,
      durationCounts: Array.from(this.durationCounts),
      durationSum: this.durationSum,
      rssBytes: process.memoryUsage.rss(),
      cpuMicros: cpu.user + cpu.system,
      eventLoopDelayP99: p99,
      connections,
      upgraded,
    };
    if (this.samples) {
      report.samples = Array.from(this.samples.subarray(0, this.sampled));
      report.sampledOf = this.sinceReport;
      this.sampled = 0;
      this.sinceReport = 0;
    }
    return report;
  }
}
