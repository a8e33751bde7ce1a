import { createConnection } from 'node:net';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AcceptProbe } from './held-ports.js';
import { describeExit, exitStatusCode, ManagedProcess, type ExitStatus, type ProcessSpec, type SupervisedProcess } from './process.js';
import { AFTER_KILL_LIMIT_MS, stopGracefully } from './process-group.js';

/**
 * What happens when a process exits on its own:
 * - `stop-all`: the others are stopped and the manager exits with its status (the default);
 * - `restart`: it is started again after an exponential back-off (`--restart`);
 * - `can-die`: nothing; the others keep running (`--can-die`, for one-shot tasks).
 */
export type ExitPolicy = 'stop-all' | 'restart' | 'can-die';

/**
 * When a started instance counts as ready:
 * - `port`: once its PORT accepts a TCP connection on the loopback (127.0.0.1 or ::1); for a held
 *   port (`--hold-port`), which accepts connections even with no process, once the process took a
 *   connection out of the socket's queue (see `AcceptProbe`);
 * - a RegExp: once a line of its output matches (`--ready-line TYPE=REGEX`);
 * - `at-once`: as soon as it started.
 */
export type Readiness = 'port' | 'at-once' | RegExp;

export interface SupervisedSpec extends ProcessSpec {
  policy: ExitPolicy;
  /** How readiness is decided (default: at once). */
  readiness?: Readiness;
  /** Process types that must be ready (a `can-die` task: exited 0) before this one starts (`--after`). */
  after?: readonly string[];
}

/** Back-off of `restart`: the n-th quick restart in a row waits min(initial * 2^(n-1), max). */
export interface RestartBackoff {
  initialMs: number;
  maxMs: number;
  /** A process that ran at least this long is healthy again: its back-off starts over. */
  stableMs: number;
  /** From this many quick exits in a row, the restarts are reported as a crash loop. */
  crashLoopAfter: number;
}

export const DEFAULT_BACKOFF: RestartBackoff = { initialMs: 500, maxMs: 30_000, stableMs: 10_000, crashLoopAfter: 3 };

/** Time as the supervisor sees it: the real one, or a fake that tests move by hand. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

export const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/**
 * What the supervisor reports; the owner of the output (start's printer and log) decides what is
 * shown. `instance` names the instance a system line is about, when there is one.
 */
export interface SupervisorEvents {
  system(text: string, instance?: string): void;
  /** A pipe of a process that just started (its output). */
  output(name: string, stream: Readable): void;
  /** A process group was created (its leader's pid), for whoever must be able to stop it too. */
  started?(pid: number): void;
}

export interface SupervisorOptions {
  /** Grace between SIGTERM and SIGKILL, at shutdown and when one process is restarted. */
  timeoutMs: number;
  backoff?: RestartBackoff;
  /** The clock of back-offs, uptimes and readiness polls (default: the real one). */
  clock?: Clock;
  /** Makes the process of an instance (default: a real `ManagedProcess`). */
  createProcess?: (spec: ProcessSpec, output: (stream: Readable) => void) => SupervisedProcess;
}

/** Why the manager is stopping, which decides its exit status. */
export type StopReason = { signal: NodeJS.Signals } | { status: number };

const POLL_MS = 50;
/** How often a `port` readiness check tries to connect. */
const PORT_POLL_MS = 100;

const SIGNAL_STATUS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143, SIGPIPE: 141 };

/** One instance name (`web.1`) and the process currently running under it. */
interface Slot {
  spec: SupervisedSpec;
  current: SupervisedProcess | null;
  startedAt: number;
  /** How many times it was started again (a restart policy, `tsforeman restart`, a file change). */
  restarts: number;
  launched: boolean;
  /** Held back until the types it comes `--after` are ready. */
  waiting: boolean;
  ready: boolean;
  /** Ends the readiness check of the current process. */
  cancelCheck: (() => void) | null;
  /** Quick exits in a row (reset when the process stayed up for `stableMs`). */
  quickExits: number;
  restartTimer: unknown;
  /** When the pending back-off restart is due. */
  restartAt: number;
  /** A restart asked for by the user or the watcher is under way: the exit is expected. */
  replacing: boolean;
  /** Stopped on request (`tsforeman stop NAME`): no policy applies until it is restarted. */
  held: boolean;
  /** How its last process ended, for `ps`. */
  lastExit: ExitStatus | null;
  /** The last process ended because the manager stopped it (shutdown, `stop NAME`, a restart). */
  stoppedByManager: boolean;
  /** The current process of a held port already got the line saying it binds the port itself. */
  toldBindsItself: boolean;
}

/** How a program says it could not bind a port someone else holds (Node, Python, Go, Ruby...). */
const ADDRESS_IN_USE = /EADDRINUSE|address already in use/i;

/**
 * The state of an instance:
 * - `starting`: waiting for the types it comes `--after`, or started and not ready yet;
 * - `ready`: started and its readiness check (port or line) passed;
 * - `running`: started, with nothing to wait for (ready at once);
 * - `restarting`: being replaced, or waiting for its back-off;
 * - `stopping`: being stopped; `stopped`: stopped by the manager (`stop NAME`, shutdown);
 * - `exited`: ended by itself with status 0; `crashed`: ended by itself otherwise.
 */
export type InstanceState = 'starting' | 'ready' | 'running' | 'restarting' | 'stopping' | 'stopped' | 'exited' | 'crashed';

/** One row of `tsforeman ps`, as data (also what `ps --json` prints). */
export interface InstanceStatus {
  name: string;
  type: string;
  pid: number | null;
  state: InstanceState;
  ready: boolean;
  port: number | null;
  restarts: number;
  /** Epoch milliseconds of the current (or last) start; null before the first. */
  startedAt: number | null;
  /** Milliseconds since it started, while it runs. */
  uptimeMs: number | null;
  /** How its last process ended (`code` or `signal`), once one has. */
  exit: ExitStatus | null;
  /** During a back-off: milliseconds until it starts again. */
  restartInMs: number | null;
  /** While `starting` because of `--after`: the types it waits for. */
  waitingFor: string[];
}

/** What `whenReady` resolves with: all ready, or why not. */
export type ReadyOutcome = { ok: true } | { ok: false; error: string };

/**
 * Starts every process, watches them, and stops them all: the long-lived object behind `start`.
 *
 *   const supervisor = new Supervisor(specs, { system: (text) => ..., output: (name, stream) => ... }, { timeoutMs: 5000 });
 *   process.on('SIGINT', () => supervisor.stop({ signal: 'SIGINT' }));
 *   const status = await supervisor.run();   // 130 after Ctrl-C, or the first exiting process's status
 *
 * Readiness: each instance is `starting` until its check passes (see `Readiness`), and an instance
 * whose type comes `--after` others starts only once they are ready; `whenReady(names)` waits for it.
 * Shutdown: SIGTERM to every process group, SIGKILL to what is left after `timeoutMs`, then wait
 * until every group is empty, so nothing started here outlives the manager.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private readonly events: SupervisorEvents;
  private readonly timeoutMs: number;
  private readonly backoff: RestartBackoff;
  private readonly clock: Clock;
  private readonly createProcess: NonNullable<SupervisorOptions['createProcess']>;
  /** Every process started, until its group is seen empty: leftovers of exited leaders included. */
  private readonly started = new Set<SupervisedProcess>();
  /** Processes whose exit has not been reported yet. */
  private readonly unreported = new Set<SupervisedProcess>();
  /** Called at every change of an instance's state (see `whenReady`). */
  private readonly listeners = new Set<() => void>();
  private state: 'idle' | 'running' | 'stopping' | 'done' = 'idle';
  private status: number | null = null;
  /** Status of the first can-die process that failed, used when every process ended by itself. */
  private failedTaskStatus: number | null = null;
  private killTimer: unknown = null;
  private killed = false;
  private finish: (status: number) => void = () => undefined;
  private readonly finished: Promise<number>;

  constructor(specs: readonly SupervisedSpec[], events: SupervisorEvents, options: SupervisorOptions) {
    this.slots = specs.map((spec) => ({
      spec,
      current: null,
      startedAt: 0,
      restarts: 0,
      launched: false,
      waiting: false,
      ready: false,
      cancelCheck: null,
      quickExits: 0,
      restartTimer: null,
      restartAt: 0,
      replacing: false,
      held: false,
      lastExit: null,
      stoppedByManager: false,
      toldBindsItself: false,
    }));
    this.events = events;
    this.timeoutMs = options.timeoutMs;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.clock = options.clock ?? REAL_CLOCK;
    this.createProcess = options.createProcess ?? ((spec, output) => new ManagedProcess(spec, output));
    this.finished = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /** Starts every process (those `--after` others once they are ready); resolves with the exit status once everything is gone. */
  run(): Promise<number> {
    if (this.state !== 'idle') return this.finished;
    this.state = 'running';
    const present = new Set(this.slots.map((slot) => slot.spec.type));
    const reported = new Set<string>();
    for (const slot of this.slots) {
      for (const type of slot.spec.after ?? []) {
        if (present.has(type) || reported.has(`${slot.spec.type}>${type}`)) continue;
        reported.add(`${slot.spec.type}>${type}`);
        this.events.system(`${slot.spec.type} does not wait for ${type}: no instance of ${type} runs`);
      }
    }
    for (const slot of this.slots) {
      if (this.state !== 'running') break;
      if (this.dependenciesOf(slot).length > 0) {
        slot.waiting = true;
        this.events.system(`${slot.spec.name} waits for ${this.describeDependencies(slot)}`, slot.spec.name);
      } else {
        this.launch(slot);
      }
    }
    this.stopIfNothingLeft();
    return this.finished;
  }

  get stopping(): boolean {
    return this.state === 'stopping' || this.state === 'done';
  }

  /** Begins the shutdown (SIGTERM, then SIGKILL after the timeout). A second call kills at once. */
  stop(reason: StopReason): void {
    if (this.state === 'done') return;
    if (this.state === 'stopping') {
      if ('signal' in reason) this.killAll();
      return;
    }
    this.status = 'signal' in reason ? (SIGNAL_STATUS[reason.signal] ?? 1) : reason.status;
    this.state = 'stopping';
    for (const slot of this.slots) {
      this.cancelRestart(slot);
      if (slot.current !== null) slot.stoppedByManager = true;
    }
    this.events.system('sending SIGTERM to all processes');
    for (const proc of this.started) proc.signal('SIGTERM');
    if (this.timeoutMs <= 0) this.killAll();
    else this.killTimer = this.clock.setTimeout(() => this.killAll(), this.timeoutMs);
    this.notify();
    void this.waitUntilAllGone();
  }

  /** Sends `signal` to every running process group (SIGUSR1/SIGUSR2 forwarding). */
  forward(signal: NodeJS.Signals): void {
    if (this.state !== 'running') return;
    this.events.system(`sending ${signal} to all processes`);
    for (const slot of this.slots) slot.current?.signal(signal);
  }

  /**
   * Restarts the instances named (e.g. after a file change): SIGTERM to each group, SIGKILL after the
   * timeout, then a fresh start under the same name and port. Instances not running (a can-die task
   * that finished, one waiting for its back-off) are started now. Resolves once they have started
   * (not once they are ready: `whenReady` waits for that).
   */
  async restart(names: readonly string[]): Promise<void> {
    const slots = this.slots.filter((slot) => names.includes(slot.spec.name) && !slot.replacing);
    for (const slot of slots) slot.held = false;
    await Promise.all(slots.map((slot) => this.replace(slot)));
  }

  /**
   * Stops the instances named and keeps them stopped (`tsforeman stop web.1`): SIGTERM to each
   * group, SIGKILL after the timeout, no restart policy, the others untouched. `restart` brings
   * them back. A stopped instance keeps the manager running.
   */
  async stopInstances(names: readonly string[]): Promise<void> {
    const slots = this.slots.filter((slot) => names.includes(slot.spec.name));
    await Promise.all(
      slots.map(async (slot) => {
        slot.held = true;
        slot.waiting = false;
        this.cancelRestart(slot);
        this.notify();
        const proc = slot.current;
        if (proc === null) return;
        slot.stoppedByManager = true;
        await stopGracefully(proc, this.timeoutMs, () => this.state !== 'running');
        await proc.exited;
      }),
    );
  }

  /**
   * The instance names that `words` mean: each an instance (`web.1`) or a process type (`web`, all
   * its instances); none means all. Throws a message naming the first unknown word.
   */
  instancesNamed(words: readonly string[]): string[] {
    const all = this.slots.map((slot) => slot.spec.name);
    if (words.length === 0) return all;
    const names: string[] = [];
    for (const word of words) {
      const matched = this.slots.filter((slot) => slot.spec.name === word || slot.spec.type === word).map((slot) => slot.spec.name);
      if (matched.length === 0) throw new Error(`unknown process "${word}" (this manager runs: ${all.join(', ')})`);
      for (const name of matched) if (!names.includes(name)) names.push(name);
    }
    return names;
  }

  /** What `tsforeman ps` shows: every instance, in Procfile order. */
  statuses(): InstanceStatus[] {
    const now = this.clock.now();
    return this.slots.map((slot) => {
      const running = slot.current !== null && !slot.replacing;
      const port = slot.spec.env.PORT === undefined ? null : Number(slot.spec.env.PORT);
      return {
        name: slot.spec.name,
        type: slot.spec.type,
        pid: running ? (slot.current?.pid ?? null) : null,
        state: this.stateOf(slot),
        ready: running && slot.ready,
        port: port !== null && Number.isInteger(port) ? port : null,
        restarts: slot.restarts,
        startedAt: slot.launched ? slot.startedAt : null,
        uptimeMs: running ? now - slot.startedAt : null,
        exit: slot.lastExit,
        restartInMs: slot.restartTimer !== null ? Math.max(0, slot.restartAt - now) : null,
        waitingFor: slot.waiting ? this.dependenciesOf(slot) : [],
      };
    });
  }

  /**
   * Resolves once every instance named is ready (a `can-die` task: has exited 0), or as soon as one
   * cannot become so: it crashed (ended by itself, not with 0, and no restart is pending), it was
   * stopped, or the manager is shutting down. `signal` gives up waiting (the resolution is then an error).
   */
  whenReady(names: readonly string[], signal?: AbortSignal): Promise<ReadyOutcome> {
    const slots = this.slots.filter((slot) => names.includes(slot.spec.name));
    return new Promise((resolvePromise) => {
      const check = () => {
        const outcome = signal?.aborted ? { ok: false as const, error: 'gave up waiting' } : this.readiness(slots);
        if (outcome === null) return;
        this.listeners.delete(check);
        signal?.removeEventListener('abort', check);
        resolvePromise(outcome);
      };
      this.listeners.add(check);
      signal?.addEventListener('abort', check);
      check();
    });
  }

  /**
   * A line (or block of lines) an instance wrote, as its output's owner read it: checked against
   * its `--ready-line` pattern.
   */
  lineSeen(name: string, block: Buffer): void {
    const slot = this.slots.find((candidate) => candidate.spec.name === name);
    const held = slot?.spec.held;
    if (slot !== undefined && held !== undefined && !slot.toldBindsItself && ADDRESS_IN_USE.test(block.toString('utf8'))) {
      slot.toldBindsItself = true;
      this.events.system(
        `${name} tried to bind a port itself, but tsforeman holds ${held.text} for it (--hold-port ${held.type}): ` +
          `the program must serve on the socket it is given (fd 3, LISTEN_FDS), or leave ${held.type} out of --hold-port`,
        name,
      );
    }
    const pattern = slot?.spec.readiness;
    if (slot === undefined || !(pattern instanceof RegExp) || slot.ready || slot.current === null || slot.replacing) return;
    for (const line of block.toString('utf8').split('\n')) {
      pattern.lastIndex = 0;
      if (pattern.test(line)) {
        this.markReady(slot, `a line matched ${String(pattern)}`);
        return;
      }
    }
  }

  /**
   * Takes new commands and environments (a Procfile or env file edited while running) for the
   * instances already known; they apply from each instance's next start. The policy, readiness
   * and start order stay.
   */
  /** The command instance `name` runs (as of its last start or spec update). */
  commandOf(name: string): string | undefined {
    return this.slots.find((slot) => slot.spec.name === name)?.spec.command;
  }

    updateSpecs(specs: readonly SupervisedSpec[]): void {
    for (const slot of this.slots) {
      const spec = specs.find((candidate) => candidate.name === slot.spec.name);
      if (spec) slot.spec = { ...spec, policy: slot.spec.policy, readiness: slot.spec.readiness, after: slot.spec.after, held: slot.spec.held };
    }
  }

  /** Names of the instances whose policy is not `can-die` (what a file change restarts). */
  get longRunningNames(): string[] {
    return this.slots.filter((slot) => slot.spec.policy !== 'can-die').map((slot) => slot.spec.name);
  }

  /** SIGKILL to every group at once, synchronously: for the manager's own last moments. */
  killEverythingNow(): void {
    for (const proc of this.started) proc.signal('SIGKILL');
  }

  private stateOf(slot: Slot): InstanceState {
    if (slot.waiting) return 'starting';
    if (slot.replacing) return 'restarting';
    if (slot.current !== null) {
      if (slot.held || this.stopping) return 'stopping';
      if (!slot.ready) return 'starting';
      return slot.spec.readiness === undefined || slot.spec.readiness === 'at-once' ? 'running' : 'ready';
    }
    if (slot.held) return 'stopped';
    if (slot.restartTimer !== null) return 'restarting';
    if (slot.lastExit === null || slot.stoppedByManager) return slot.launched || this.stopping ? 'stopped' : 'starting';
    return exitStatusCode(slot.lastExit) === 0 ? 'exited' : 'crashed';
  }

  /** Null while undecided; see `whenReady`. */
  private readiness(slots: readonly Slot[]): ReadyOutcome | null {
    if (this.stopping) return { ok: false, error: 'the manager is shutting down' };
    for (const slot of slots) {
      const state = this.stateOf(slot);
      const name = slot.spec.name;
      if (state === 'crashed') return { ok: false, error: `${name} crashed (${describeExit('', slot.lastExit!, slot.spec.command).trim()})` };
      if (state === 'stopped' || state === 'stopping') return { ok: false, error: `${name} was stopped` };
    }
    return slots.every((slot) => this.satisfied(slot)) ? { ok: true } : null;
  }

  /** Ready, or (a can-die task) finished with 0. */
  private satisfied(slot: Slot): boolean {
    const state = this.stateOf(slot);
    if (slot.spec.policy === 'can-die') return state === 'exited';
    return state === 'ready' || state === 'running';
  }

  /** The `--after` types of `slot` that are not yet satisfied (only those that run an instance). */
  private dependenciesOf(slot: Slot): string[] {
    return (slot.spec.after ?? []).filter((type) => {
      const instances = this.slots.filter((candidate) => candidate.spec.type === type);
      return instances.length > 0 && !instances.every((candidate) => this.satisfied(candidate));
    });
  }

  private describeDependencies(slot: Slot): string {
    return this.dependenciesOf(slot)
      .map((type) => {
        const task = this.slots.some((candidate) => candidate.spec.type === type && candidate.spec.policy === 'can-die');
        return task ? `${type} to finish` : `${type} to be ready`;
      })
      .join(' and ');
  }

  /** Starts the instances whose `--after` types are now ready; stops the stack when a task they wait for failed. */
  private startWaiting(): void {
    if (this.state !== 'running') return;
    for (const slot of this.slots) {
      if (!slot.waiting) continue;
      const failed = this.slots.find(
        (candidate) => (slot.spec.after ?? []).includes(candidate.spec.type) && this.stateOf(candidate) === 'crashed',
      );
      if (failed !== undefined) {
        const why = describeExit(failed.spec.name, failed.lastExit!, failed.spec.command);
        this.events.system(`${slot.spec.name} will not start: ${why}`, slot.spec.name);
        this.stop({ status: exitStatusCode(failed.lastExit!) || 1 });
        return;
      }
      if (this.dependenciesOf(slot).length === 0) {
        slot.waiting = false;
        this.launch(slot);
        if (this.state !== 'running') return;
      }
    }
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private launch(slot: Slot): void {
    const name = slot.spec.name;
    const proc = this.createProcess(slot.spec, (stream) => this.events.output(name, stream));
    let pid: number;
    try {
      pid = proc.start();
    } catch (error) {
      this.events.system(`${name} could not be started: ${(error as Error).message}`, name);
      this.stop({ status: 1 });
      return;
    }
    if (slot.launched) slot.restarts++;
    slot.launched = true;
    slot.current = proc;
    slot.startedAt = this.clock.now();
    slot.ready = false;
    slot.stoppedByManager = false;
    slot.toldBindsItself = false;
    this.started.add(proc);
    this.unreported.add(proc);
    this.events.started?.(pid);
    this.events.system(`${name} started (pid ${pid})`, name);
    void proc.exited.then((status) => this.onExit(slot, proc, status));
    this.checkReadiness(slot, proc);
  }

  /** Begins the readiness check of a process just started. */
  private checkReadiness(slot: Slot, proc: SupervisedProcess): void {
    const readiness = slot.spec.readiness ?? 'at-once';
    if (readiness === 'at-once') {
      slot.ready = true;
      this.notify();
      this.startWaiting();
      return;
    }
    this.notify();
    if (readiness !== 'port') return; // a RegExp: see lineSeen
    if (slot.spec.held !== undefined) {
      this.checkAccepted(slot, proc);
      return;
    }
    const port = Number(slot.spec.env.PORT);
    let timer: unknown = null;
    let cancelled = false;
    slot.cancelCheck = () => {
      cancelled = true;
      if (timer !== null) this.clock.clearTimeout(timer);
    };
    // IPv4 and IPv6 loopback in turn: a dev server bound to `localhost` may listen on ::1 only.
    const hosts = ['127.0.0.1', '::1'];
    let tries = 0;
    const attempt = () => {
      timer = null;
      if (cancelled || slot.current !== proc) return;
      const socket = createConnection({ port, host: hosts[tries++ % hosts.length] });
      socket.once('connect', () => {
        socket.destroy();
        if (!cancelled && slot.current === proc) this.markReady(slot, `port ${port} accepts connections`);
      });
      socket.once('error', () => {
        socket.destroy();
        if (!cancelled) timer = this.clock.setTimeout(attempt, tries % hosts.length === 0 ? PORT_POLL_MS : 0);
      });
    };
    attempt();
  }

  /** Readiness of a held port: one probe connection, polled until a process accepted it. */
  private checkAccepted(slot: Slot, proc: SupervisedProcess): void {
    const held = slot.spec.held!;
    const probe = new AcceptProbe(held.probe);
    let timer: unknown = null;
    let cancelled = false;
    slot.cancelCheck = () => {
      cancelled = true;
      probe.close();
      if (timer !== null) this.clock.clearTimeout(timer);
    };
    const poll = () => {
      timer = null;
      if (cancelled || slot.current !== proc) return;
      if (probe.accepted()) this.markReady(slot, `it accepts connections on its held socket ${held.text}`);
      else timer = this.clock.setTimeout(poll, PORT_POLL_MS);
    };
    timer = this.clock.setTimeout(poll, 0);
  }

  private markReady(slot: Slot, how: string): void {
    slot.cancelCheck?.();
    slot.cancelCheck = null;
    slot.ready = true;
    const seconds = ((this.clock.now() - slot.startedAt) / 1000).toFixed(2);
    this.events.system(`${slot.spec.name} ready in ${seconds}s (${how})`, slot.spec.name);
    this.notify();
    this.startWaiting();
  }

  private onExit(slot: Slot, proc: SupervisedProcess, status: ExitStatus): void {
    this.events.system(describeExit(slot.spec.name, status, slot.spec.command), slot.spec.name);
    this.unreported.delete(proc);
    if (slot.current === proc) {
      slot.lastExit = status;
      slot.cancelCheck?.();
      slot.cancelCheck = null;
    }
    if (slot.current !== proc || slot.replacing || this.state !== 'running') {
      if (slot.current === proc && this.state !== 'running') slot.current = null;
      this.notify();
      return;
    }
    slot.current = null;
    slot.ready = false;
    if (slot.held) {
      this.notify();
      return;
    }
    const code = exitStatusCode(status);
    switch (slot.spec.policy) {
      case 'stop-all':
        this.notify();
        this.stop({ status: code });
        return;
      case 'restart':
        // Leftovers of the old group (a background child holding the port) go before the next start.
        proc.signal('SIGTERM');
        this.scheduleRestart(slot);
        this.notify();
        return;
      case 'can-die':
        if (code !== 0 && this.failedTaskStatus === null) this.failedTaskStatus = code;
        this.notify();
        this.startWaiting();
        this.stopIfNothingLeft();
        return;
    }
  }

  private scheduleRestart(slot: Slot): void {
    const now = this.clock.now();
    const ranFor = now - slot.startedAt;
    slot.quickExits = ranFor >= this.backoff.stableMs ? 1 : slot.quickExits + 1;
    const delay = Math.min(this.backoff.initialMs * 2 ** (slot.quickExits - 1), this.backoff.maxMs);
    const seconds = `${Number((delay / 1000).toFixed(2))}s`;
    if (slot.quickExits >= this.backoff.crashLoopAfter) {
      this.events.system(
        `${slot.spec.name} is crash looping (${slot.quickExits} quick exits in a row); restarting in ${seconds}`,
        slot.spec.name,
      );
    } else {
      this.events.system(`restarting ${slot.spec.name} in ${seconds}`, slot.spec.name);
    }
    slot.restartAt = now + delay;
    slot.restartTimer = this.clock.setTimeout(() => {
      slot.restartTimer = null;
      if (this.state === 'running') this.launch(slot);
    }, delay);
  }

  private cancelRestart(slot: Slot): void {
    if (slot.restartTimer !== null) this.clock.clearTimeout(slot.restartTimer);
    slot.restartTimer = null;
  }

  private async replace(slot: Slot): Promise<void> {
    if (this.state !== 'running') return;
    slot.replacing = true;
    slot.waiting = false;
    this.cancelRestart(slot);
    this.notify();
    const old = slot.current;
    if (old) {
      slot.stoppedByManager = true;
      await stopGracefully(old, this.timeoutMs, () => this.state !== 'running');
      await old.exited;
    }
    slot.replacing = false;
    if (this.state !== 'running' || slot.held) {
      slot.current = null;
      this.notify();
      return;
    }
    slot.quickExits = 0;
    this.launch(slot);
  }

  /** When only finished can-die tasks remain, the manager has nothing left to do. */
  private stopIfNothingLeft(): void {
    if (this.state !== 'running') return;
    // An instance stopped on request can be restarted: the manager waits for that (or for Ctrl-C).
    const active = this.slots.some(
      (slot) => slot.current !== null || slot.restartTimer !== null || slot.replacing || slot.held || slot.waiting,
    );
    if (active) return;
    // What the tasks left running (a background child, a daemon) is stopped as at any shutdown.
    if ([...this.started].some((proc) => proc.groupAlive())) {
      this.stop({ status: this.failedTaskStatus ?? 0 });
      return;
    }
    this.state = 'stopping';
    this.status = this.failedTaskStatus ?? 0;
    this.notify();
    void this.waitUntilAllGone();
  }

  private killAll(): void {
    if (this.killTimer !== null) this.clock.clearTimeout(this.killTimer);
    this.killTimer = null;
    const alive = [...this.started].filter((proc) => proc.groupAlive());
    if (alive.length === 0 || this.killed) {
      for (const proc of alive) proc.signal('SIGKILL');
      return;
    }
    this.killed = true;
    this.events.system('sending SIGKILL to all processes');
    for (const proc of alive) proc.signal('SIGKILL');
  }

  private async waitUntilAllGone(): Promise<void> {
    let killedAt: number | null = null;
    for (;;) {
      for (const proc of this.started) if (!proc.groupAlive()) this.started.delete(proc);
      if (this.started.size === 0 && this.unreported.size === 0) break;
      if (this.killed) {
        killedAt ??= Date.now();
        if (Date.now() - killedAt > AFTER_KILL_LIMIT_MS) {
          const pids = [...this.started].map((proc) => proc.pid).join(', ');
          this.events.system(`process groups still alive after SIGKILL: ${pids}`);
          break;
        }
      }
      await sleep(POLL_MS);
    }
    if (this.killTimer !== null) this.clock.clearTimeout(this.killTimer);
    for (const slot of this.slots) if (slot.current !== null) slot.current = null;
    this.state = 'done';
    this.notify();
    this.finish(this.status ?? 0);
  }
}
