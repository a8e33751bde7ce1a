/**
 * Time bounds for clients that send or read too slowly, and the one timer per server that enforces them:
 *
 *   const sweeper = new ConnectionSweeper(timeouts);
 *   sweeper.add(gate);            // gate.sweep(now) is called every tick until it is removed
 *
 * A single coarse tick (at most 1 s, a quarter of the shortest timeout) costs nothing per byte received and
 * scales to thousands of idle or slow connections; deadlines are therefore honoured within one tick.
 */

export interface SlowClientTimeouts {
  /** A request head must be complete this long after its first byte (a new connection: after accept). */
  headersTimeoutMs: number;
  /** A request body that is being read may go this long without a byte arriving. */
  bodyIdleTimeoutMs: number;
  /** A response with bytes waiting to be sent may go this long without the client taking any. */
  writeStallTimeoutMs: number;
  /** After an error response, how long to keep reading (and discarding) before closing hard. */
  lingerMs: number;
}

export const DEFAULT_SLOW_CLIENT_TIMEOUTS: Readonly<SlowClientTimeouts> = Object.freeze({
  headersTimeoutMs: 20_000,
  bodyIdleTimeoutMs: 30_000,
  writeStallTimeoutMs: 30_000,
  lingerMs: 2_000,
});

export interface Sweepable {
  sweep(now: number): void;
}

export class ConnectionSweeper {
  private readonly members = new Set<Sweepable>();
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;

  constructor(timeouts: SlowClientTimeouts) {
    const shortest = Math.min(timeouts.headersTimeoutMs, timeouts.bodyIdleTimeoutMs, timeouts.writeStallTimeoutMs);
    this.tickMs = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
  }

  add(member: Sweepable): void {
    this.members.add(member);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      // Never the reason a process stays up: connections keep it alive on their own.
      this.timer.unref();
    }
  }

  remove(member: Sweepable): void {
    this.members.delete(member);
    if (this.members.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const member of this.members) member.sweep(now);
  }
}
