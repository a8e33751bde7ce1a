import type { Readable, Writable } from 'node:stream';

/** How output lines look. */
export interface PrinterStyle {
  /** Prefix each line with the local time `HH:MM:SS`. */
  timestamp: boolean;
  /** Wrap each prefix in an ANSI colour, one colour per process. */
  color: boolean;
  /** Width the process names are padded to (the longest name, at least 6). */
  nameWidth: number;
}

/** After this long without a newline, a partial line is printed as it is (a prompt still shows). */
const PARTIAL_LINE_DELAY_MS = 150;
/** A line longer than this is printed in pieces so one runaway writer cannot exhaust memory. */
const MAX_LINE_BYTES = 1024 * 1024;

const NEWLINE = 0x0a;
const RESET = '\u001b[0m';
const PALETTE = [36, 33, 32, 35, 34, 31, 96, 93, 92, 95, 94, 91].map((code) => `\u001b[${code}m`);
const SYSTEM_COLOR = '\u001b[1m';

/** The width names are padded to: the longest of `names` and `system`, at least 6. */
export function nameWidthFor(names: readonly string[]): number {
  return Math.max(6, 'system'.length, ...names.map((name) => name.length));
}

/**
 * The prefix of a line as the printer writes it: `HH:MM:SS name   | ` (time optional), coloured
 * (`system` bold, the others by `colorIndex` in the palette) when `style.color`.
 */
export function linePrefix(style: PrinterStyle, name: string, time: number, colorIndex: number): string {
  const label = `${style.timestamp ? `${formatClock(new Date(time))} ` : ''}${name.padEnd(style.nameWidth)} |`;
  if (!style.color) return `${label} `;
  const color = name === 'system' ? SYSTEM_COLOR : PALETTE[colorIndex % PALETTE.length]!;
  return `${color}${label}${RESET} `;
}

/** `HH:MM:SS` in local time. */
function formatClock(date: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/**
 * Multiplexes the output of many processes onto one stream (the manager's stdout), one prefixed
 * line per line a child wrote:
 *
 *   const printer = new Printer(process.stdout, { timestamp: true, color: false, nameWidth: 6 });
 *   printer.attach('web.1', child.stdout);   // "12:00:01 web.1  | listening"
 *   printer.system('web.1 started (pid 42)'); // "12:00:01 system | web.1 started (pid 42)"
 *
 * Works on Buffers from end to end: bytes that are not valid UTF-8 pass through untouched.
 * When the destination is full, every attached source is paused until it drains, so no line is
 * dropped and children slow down instead of the manager buffering without bound.
 */
export class Printer implements ReadingState {
  private readonly out: Writable;
  private readonly style: PrinterStyle;
  private readonly colors = new Map<string, string>();
  /** Each name's prefix as bytes; with timestamps, valid for the second in `clockSecond` only. */
  private readonly prefixes = new Map<string, Buffer>();
  private readonly sources = new Set<Readable>();
  private readonly pendingFlushes = new Set<LineSplitter>();
  /** Where the lines of the block being written start (reused, so no array per chunk). */
  private readonly lineStarts: number[] = [];
  private blocked = false;
  private broken = false;
  private clockSecond = -1;
  private clockText = '';

  constructor(out: Writable, style: PrinterStyle) {
    this.out = out;
    this.style = style;
    this.out.on('drain', () => this.resume());
  }

  /** Fixes the colour of each process name, in the order given (so colours are stable per run). */
  assignColors(names: readonly string[]): void {
    for (const name of names) this.colorFor(name);
  }

  /**
   * Prints every line read from `source` under `name`, until the source ends. `seen`, when given,
   * gets each block of whole lines (joined by `\n`, without the last newline) as it is printed.
   */
  attach(name: string, source: Readable, seen?: (block: Buffer) => void): void {
    const splitter = new LineSplitter(
      (block) => {
        this.writeBlock(name, block);
        seen?.(block);
      },
      this.pendingFlushes,
      this,
    );
    this.sources.add(source);
    if (this.blocked) source.pause();
    source.on('data', (chunk: Buffer) => splitter.push(chunk));
    const detach = () => {
      splitter.flush();
      this.sources.delete(source);
    };
    source.once('end', detach);
    source.once('close', detach);
    source.once('error', detach);
  }

  /** A line from the manager itself, under the name `system`. */
  system(text: string): void {
    this.writeBlock('system', Buffer.from(text));
  }

  /** Prints every held partial line now (before the manager exits). */
  flushPartialLines(): void {
    for (const splitter of [...this.pendingFlushes]) splitter.flush();
  }

  /** Calls `done` once everything written so far has reached the destination. */
  drained(done: () => void): void {
    if (this.broken) done();
    else this.out.write('', () => done());
  }

  /** Stops writing (the destination is gone, e.g. EPIPE). */
  markBroken(): void {
    this.broken = true;
    this.resume();
  }

  /**
   * Writes `block` (one or more lines joined by `\n`, the last without its newline) as prefixed
   * lines, in one buffer and one write: the only per-line work is finding the newline and copying.
   */
  private writeBlock(name: string, block: Buffer): void {
    if (this.broken) return;
    const prefix = this.prefixFor(name);
    const starts = this.lineStarts;
    starts.length = 0;
    starts.push(0);
    for (let newline = block.indexOf(NEWLINE); newline !== -1; newline = block.indexOf(NEWLINE, newline + 1)) {
      starts.push(newline + 1);
    }
    const out = Buffer.allocUnsafe(starts.length * prefix.length + block.length + 1);
    let written = 0;
    for (let i = 0; i < starts.length; i++) {
      written += prefix.copy(out, written);
      written += block.copy(out, written, starts[i], starts[i + 1] ?? block.length);
    }
    out[written] = NEWLINE;
    const ok = this.out.write(out);
    if (!ok && !this.blocked) {
      this.blocked = true;
      for (const source of this.sources) source.pause();
      // The rest of a held partial line may sit unread in a pipe: its timer waits for reading.
      for (const splitter of this.pendingFlushes) splitter.holdTimer();
    }
  }

  /** True while the destination is full and the sources are paused. */
  get paused(): boolean {
    return this.blocked;
  }

  private resume(): void {
    if (!this.blocked) return;
    this.blocked = false;
    for (const source of this.sources) source.resume();
    // A full delay of reading again before a partial line counts as a prompt.
    for (const splitter of this.pendingFlushes) splitter.startTimer();
  }

  /** Built once per name, and again only when the clock shows a new second. */
  private prefixFor(name: string): Buffer {
    if (this.style.timestamp) this.tickClock();
    let prefix = this.prefixes.get(name);
    if (prefix === undefined) {
      const label = `${this.style.timestamp ? `${this.clockText} ` : ''}${name.padEnd(this.style.nameWidth)} |`;
      prefix = Buffer.from(this.style.color ? `${this.colorFor(name)}${label}${RESET} ` : `${label} `);
      this.prefixes.set(name, prefix);
    }
    return prefix;
  }

  private tickClock(): void {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second === this.clockSecond) return;
    this.clockSecond = second;
    this.clockText = formatClock(new Date(now));
    this.prefixes.clear();
  }

  private colorFor(name: string): string {
    if (name === 'system') return SYSTEM_COLOR;
    let color = this.colors.get(name);
    if (color === undefined) {
      color = PALETTE[this.colors.size % PALETTE.length]!;
      this.colors.set(name, color);
    }
    return color;
  }
}

/** Whether the printer is reading its sources (the partial-line timer only runs while it is). */
interface ReadingState {
  readonly paused: boolean;
}

/**
 * Cuts a byte stream into blocks of whole lines: each block is one or more lines joined by `\n`,
 * without the last line's `\n` (a chunk's complete lines are handed on together, uncopied). A
 * trailing partial line is held until its newline arrives, or printed alone after
 * PARTIAL_LINE_DELAY_MS of reading without it, or at the end of the stream. A `\r` before the `\n`
 * is kept: it is part of what the child wrote. `registry` holds the splitters that have a partial
 * line waiting.
 *
 * The delay only counts time the rest could have been read: it is held while `reading.paused`, and
 * when it ends the partial line is printed only after the event loop has polled the pipes once more
 * (a `setImmediate` runs after the poll phase), so a loop that was merely late reads the rest first.
 */
class LineSplitter {
  private pending: Buffer | null = null;
  private timer: NodeJS.Timeout | null = null;
  private check: NodeJS.Immediate | null = null;
  private readonly emit: (block: Buffer) => void;
  private readonly registry: Set<LineSplitter>;
  private readonly reading: ReadingState;

  constructor(emit: (block: Buffer) => void, registry: Set<LineSplitter>, reading: ReadingState) {
    this.emit = emit;
    this.registry = registry;
    this.reading = reading;
  }

  push(chunk: Buffer): void {
    const held = this.pending;
    const data = held ? Buffer.concat([held, chunk]) : chunk;
    const lastInChunk = chunk.lastIndexOf(NEWLINE);
    const end = lastInChunk === -1 ? -1 : (held ? held.length : 0) + lastInChunk;
    let block = end === -1 ? null : data.subarray(0, end);
    let rest = end + 1 < data.length ? data.subarray(end + 1) : null;
    if (rest && rest.length > MAX_LINE_BYTES) {
      block = data;
      rest = null;
    }
    if (block) this.emit(block);
    this.pending = rest;
    if (rest === null) {
      this.holdTimer();
      this.registry.delete(this);
      return;
    }
    this.registry.add(this);
    // A chunk that ended a line starts the delay over for the new partial line; one that only
    // extended the partial line leaves it running.
    if (end !== -1) this.holdTimer();
    if (this.timer === null && this.check === null) this.startTimer();
  }

  /** Prints the held partial line, if any. */
  flush(): void {
    this.holdTimer();
    this.registry.delete(this);
    if (this.pending) {
      const line = this.pending;
      this.pending = null;
      this.emit(line);
    }
  }

  /** (Re)starts the delay for the held partial line, unless the printer is not reading. */
  startTimer(): void {
    this.holdTimer();
    if (this.pending === null || this.reading.paused) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.check = setImmediate(() => {
        this.check = null;
        if (!this.reading.paused) this.flush();
      });
    }, PARTIAL_LINE_DELAY_MS);
  }

  /** Stops the delay; the partial line stays held. */
  holdTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.check) clearImmediate(this.check);
    this.timer = null;
    this.check = null;
  }
}
