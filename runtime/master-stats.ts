/**
 * The master's one view of its workers' statistics: each worker's latest report (worker-stats.ts) next to
 * what the master knows of it (pid, generation, age, state, last heartbeat), and totals that keep what the
 * workers that left had counted, so no counter ever goes back. The arbiter feeds it; the metrics endpoint,
 * statsd and the control socket read it.
 *
 *   const stats = new MasterStats({ targetWorkers: () => 2 });
 *   stats.workerStarted({ pid, generation, age });   stats.report(pid, report);   stats.workerLeft(pid);
 *   stats.workers();   // WorkerView[]: one per live worker, oldest first
 *   stats.summary();   // StatsSummary: uptime, workers, restarts, requests by status, durations
 *
 * Read API (plain JSON-able objects, fresh on every call, never the live state):
 *   workers(): WorkerView[]   summary(): StatsSummary   durations(): DurationHistogram   statusCounts(): Record<code, n>
 */
import { DURATION_BUCKETS, type WorkerStatsReport } from './worker-stats.js';

/** What `show workers` calls a worker's state. */
export type WorkerLifeState = 'booting' | 'serving' | 'draining';

/** Why a worker was stopped and replaced (tsunicorn_worker_restarts_total's reason label). */
export type RestartReason = 'timeout' | 'max-requests' | 'memory' | 'reload' | 'exited';
export const RESTART_REASONS: readonly RestartReason[] = ['timeout', 'max-requests', 'memory', 'reload', 'exited'];

export interface WorkerView {
  pid: number;
  /** The reload generation it belongs to (1 for the first workers; each HUP adds one). */
  generation: number;
  /** The order it was started in, 1 for the first worker (the hooks' worker.age). */
  age: number;
  /** Seconds since it was started. */
  uptimeSeconds: number;
  state: WorkerLifeState;
  /** Responses that ended. */
  requests: number;
  inFlight: number;
  /** Open HTTP connections, upgraded ones (WebSockets) apart. */
  connections: number;
  upgraded: number;
  /** Null until its first report. */
  rssBytes: number | null;
  /** CPU time over wall time between its last two reports, percent of one core (null before two). */
  cpuPercent: number | null;
  /** Event-loop delay p99 over its last report interval, seconds (null before its first report). */
  eventLoopDelayP99Seconds: number | null;
  /** Milliseconds since the master last heard from it. */
  lastHeartbeatAgoMs: number;
  /** Set once the master decided to replace it (the new worker boots first). */
  recycling: 'memory' | null;
}

export interface DurationHistogram {
  /** Upper bounds (seconds) with the cumulative count of requests at or under each, +Inf last. */
  buckets: { le: number; count: number }[];
  sum: number;
  count: number;
}

export interface StatsSummary {
  uptimeSeconds: number;
  workers: { current: number; target: number };
  /** Workers started since the master started. */
  spawned: number;
  killedByTimeout: number;
  recycled: { maxRequests: number; memory: number };
  reloads: number;
  /** Workers stopped and replaced, by reason. */
  restarts: Record<RestartReason, number>;
  requests: {
    total: number;
    inFlight: number;
    byStatusClass: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number; other: number };
  };
}

interface WorkerRecord {
  pid: number;
  generation: number;
  age: number;
  startedAt: number;
  state: WorkerLifeState;
  lastHeartbeat: number;
  recycling: 'memory' | null;
  latest: WorkerStatsReport | undefined;
  cpuPercent: number | null;
  reportedAt: number;
}

export interface MasterStatsOptions {
  targetWorkers: () => number;
  now?: () => number;
}

/** What a worker's new report adds to the totals (for statsd, which sends differences). */
export interface ReportDelta {
  requests: number;
  status: Record<string, number>;
  samples: number[];
  sampledOf: number;
}

export class MasterStats {
  private readonly startedAt: number;
  private readonly live = new Map<number, WorkerRecord>();
  /** What the workers that left had counted. */
  private readonly departed = { requests: 0, status: {} as Record<string, number>, durationCounts: new Array<number>(DURATION_BUCKETS.length + 1).fill(0), durationSum: 0 };
  private spawned = 0;
  private reloads = 0;
  private readonly restarts: Record<RestartReason, number> = { timeout: 0, 'max-requests': 0, memory: 0, reload: 0, exited: 0 };
  private readonly now: () => number;
  /** Called with what each report adds (statsd). */
  onDelta: ((delta: ReportDelta) => void) | undefined;

  constructor(private readonly options: MasterStatsOptions) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
  }

  // ------------------------------------------------------------- fed by the arbiter

  workerStarted(worker: { pid: number; generation: number; age: number }): void {
    this.spawned++;
    const now = this.now();
    this.live.set(worker.pid, { ...worker, startedAt: now, state: 'booting', lastHeartbeat: now, recycling: null, latest: undefined, cpuPercent: null, reportedAt: now });
  }

  workerState(pid: number, state: WorkerLifeState): void {
    const record = this.live.get(pid);
    if (record) record.state = state;
  }

  heardFrom(pid: number): void {
    const record = this.live.get(pid);
    if (record) record.lastHeartbeat = this.now();
  }

  /** The master decided to replace this worker for its memory (the new one boots first). */
  recycling(pid: number, reason: 'memory'): void {
    const record = this.live.get(pid);
    if (record) record.recycling = reason;
  }

  /** A worker's statistics arrived (cumulative over its life). */
  report(pid: number, report: WorkerStatsReport): void {
    const record = this.live.get(pid);
    if (!record) return;
    const now = this.now();
    const previous = record.latest;
    if (previous && now > record.reportedAt) {
      record.cpuPercent = Math.max(0, ((report.cpuMicros - previous.cpuMicros) / 1000 / (now - record.reportedAt)) * 100);
    }
    if (this.onDelta) {
      const status: Record<string, number> = {};
      for (const [code, count] of Object.entries(report.status)) {
        const added = count - (previous?.status[code] ?? 0);
        if (added > 0) status[code] = added;
      }
      this.onDelta({
        requests: Math.max(0, report.requests - (previous?.requests ?? 0)),
        status,
        samples: report.samples ?? [],
        sampledOf: report.sampledOf ?? 0,
      });
    }
    record.latest = report;
    record.reportedAt = now;
    record.lastHeartbeat = now;
  }

  /** Counted once per event: a worker killed for --timeout, recycled for --max-requests or memory, or retired by a reload. */
  restarted(reason: RestartReason): void {
    this.restarts[reason]++;
  }

  reloaded(): void {
    this.reloads++;
  }

  /** The worker exited: its last counts go to the totals of the departed. */
  workerLeft(pid: number): void {
    const record = this.live.get(pid);
    if (!record) return;
    this.live.delete(pid);
    const latest = record.latest;
    if (!latest) return;
    this.departed.requests += latest.requests;
    for (const [code, count] of Object.entries(latest.status)) this.departed.status[code] = (this.departed.status[code] ?? 0) + count;
    latest.durationCounts.forEach((count, index) => (this.departed.durationCounts[index]! += count));
    this.departed.durationSum += latest.durationSum;
  }

  // ------------------------------------------------------------- read API

  /** The live workers, oldest first. */
  workers(): WorkerView[] {
    const now = this.now();
    return [...this.live.values()].sort((a, b) => a.age - b.age).map((record) => ({
      pid: record.pid,
      generation: record.generation,
      age: record.age,
      uptimeSeconds: (now - record.startedAt) / 1000,
      state: record.state,
      requests: record.latest?.requests ?? 0,
      inFlight: record.latest?.inFlight ?? 0,
      connections: record.latest?.connections ?? 0,
      upgraded: record.latest?.upgraded ?? 0,
      rssBytes: record.latest?.rssBytes ?? null,
      cpuPercent: record.cpuPercent,
      eventLoopDelayP99Seconds: record.latest ? record.latest.eventLoopDelayP99 : null,
      lastHeartbeatAgoMs: now - record.lastHeartbeat,
      recycling: record.recycling,
    }));
  }

  /** Requests by status code over every worker, live and departed. */
  statusCounts(): Record<string, number> {
    const counts: Record<string, number> = { ...this.departed.status };
    for (const record of this.live.values()) {
      for (const [code, count] of Object.entries(record.latest?.status ?? {})) counts[code] = (counts[code] ?? 0) + count;
    }
    return counts;
  }

  /** The request-duration histogram over every worker, live and departed, with cumulative buckets. */
  durations(): DurationHistogram {
    const counts = [...this.departed.durationCounts];
    let sum = this.departed.durationSum;
    for (const record of this.live.values()) {
      if (!record.latest) continue;
      record.latest.durationCounts.forEach((count, index) => (counts[index]! += count));
      sum += record.latest.durationSum;
    }
    let running = 0;
    const buckets = counts.map((count, index) => {
      running += count;
      return { le: index < DURATION_BUCKETS.length ? DURATION_BUCKETS[index]! : Infinity, count: running };
    });
    return { buckets, sum, count: running };
  }

  summary(): StatsSummary {
    const byStatusClass = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 };
    let total = 0;
    for (const [code, count] of Object.entries(this.statusCounts())) {
      total += count;
      const cls = `${code[0]}xx`;
      if (code.length === 3 && cls in byStatusClass) byStatusClass[cls as keyof typeof byStatusClass] += count;
      else byStatusClass.other += count;
    }
    let inFlight = 0;
    for (const record of this.live.values()) inFlight += record.latest?.inFlight ?? 0;
    return {
      uptimeSeconds: (this.now() - this.startedAt) / 1000,
      workers: { current: this.live.size, target: this.options.targetWorkers() },
      spawned: this.spawned,
      killedByTimeout: this.restarts.timeout,
      recycled: { maxRequests: this.restarts['max-requests'], memory: this.restarts.memory },
      reloads: this.reloads,
      restarts: { ...this.restarts },
      requests: { total, inFlight, byStatusClass },
    };
  }
}
