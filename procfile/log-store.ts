/**
 * The last lines of each instance, kept in memory by `tsforeman start` so that `tsforeman logs`
 * can read them back: bounded per instance (`--log-lines N`), each line whole, with the time it was
 * printed. System lines about an instance (started, ready, exited) are kept with it; the manager's
 * own (`sending SIGTERM to all processes`) under `system`.
 *
 *   const logs = new LogStore(2000);
 *   logs.add('web.1', 'output', Buffer.from('listening\nready'));   // two lines
 *   logs.last(['web.1'], 100);   // oldest first, interleaved in time order
 *   const stop = logs.follow((line) => ...);   // every line added from now on
 */

/** Where a line came from: the instance's output (stdout and stderr are one pipe), or the manager. */
export type LogStream = 'output' | 'system';

export interface LogLine {
  /** Increasing across the whole store: the order the lines were printed in. */
  seq: number;
  /** Epoch milliseconds. */
  time: number;
  /** The instance (`web.1`), or `system` for the manager's own lines. */
  instance: string;
  stream: LogStream;
  /** The line's bytes as printed after the prefix, without the newline. */
  bytes: Buffer;
}

export const DEFAULT_LOG_LINES = 5000;

/** Besides the line count, the bytes kept per instance are bounded: the oldest lines go first. */
export const LOG_BYTES_PER_INSTANCE = 8 * 1024 * 1024;

/** A fixed-size ring of lines, also bounded in bytes. */
class Ring {
  private readonly lines: (LogLine | undefined)[];
  private next = 0;
  private count = 0;
  private bytes = 0;

  constructor(size: number) {
    this.lines = new Array<LogLine | undefined>(size);
  }

  push(line: LogLine): void {
    const size = this.lines.length;
    if (size === 0) return;
    if (this.count === size) this.bytes -= this.lines[this.next]?.bytes.length ?? 0;
    this.lines[this.next] = line;
    this.bytes += line.bytes.length;
    this.next = (this.next + 1) % size;
    this.count = Math.min(this.count + 1, size);
    // Too many bytes: drop the oldest, keeping at least the newest line.
    while (this.bytes > LOG_BYTES_PER_INSTANCE && this.count > 1) {
      const oldest = (this.next - this.count + size) % size;
      this.bytes -= this.lines[oldest]?.bytes.length ?? 0;
      this.lines[oldest] = undefined;
      this.count--;
    }
  }

  /** The last `n` lines, oldest first. */
  last(n: number): LogLine[] {
    const take = Math.min(n, this.count);
    const out: LogLine[] = [];
    for (let i = take; i > 0; i--) {
      const line = this.lines[(this.next - i + this.lines.length) % this.lines.length];
      if (line) out.push(line);
    }
    return out;
  }
}

export class LogStore {
  private readonly perInstance: number;
  private readonly rings = new Map<string, Ring>();
  private readonly followers = new Set<(line: LogLine) => void>();
  private seq = 0;

  constructor(perInstance: number, private readonly clock: () => number = Date.now) {
    this.perInstance = perInstance;
  }

  /** Adds a block of lines (joined by `\n`, without the last newline), as the printer printed it. */
  add(instance: string, stream: LogStream, block: Buffer): void {
    if (this.perInstance === 0 && this.followers.size === 0) return;
    let ring = this.rings.get(instance);
    if (ring === undefined) {
      ring = new Ring(this.perInstance);
      this.rings.set(instance, ring);
    }
    const time = this.clock();
    let start = 0;
    for (;;) {
      const newline = block.indexOf(0x0a, start);
      const end = newline === -1 ? block.length : newline;
      // Copied: the printer's block may be a view on a chunk Node reuses.
      const line: LogLine = { seq: ++this.seq, time, instance, stream, bytes: Buffer.from(block.subarray(start, end)) };
      ring.push(line);
      for (const follower of this.followers) follower(line);
      if (newline === -1) break;
      start = newline + 1;
    }
  }

  /** The last `n` lines of `instances` together (every one known, `system` too, when empty), in print order. */
  last(instances: readonly string[], n: number): LogLine[] {
    const names = instances.length === 0 ? [...this.rings.keys()] : instances;
    const merged = names.flatMap((name) => this.rings.get(name)?.last(n) ?? []).sort((a, b) => a.seq - b.seq);
    return n <= 0 ? [] : merged.slice(-n);
  }

  /** Calls `listener` with every line added from now on; returns the function that stops it. */
  follow(listener: (line: LogLine) => void): () => void {
    this.followers.add(listener);
    return () => this.followers.delete(listener);
  }
}
