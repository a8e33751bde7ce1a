import { setTimeout as sleep } from 'node:timers/promises';
import { describeExit, exitStatusCode, ManagedProcess, type ExitStatus, type ProcessSpec } from './process.js';
import type { Printer } from './printer.js';
import { AFTER_KILL_LIMIT_MS, stopGracefully } from './process-group.js';

/**
 * What happens when a process exits on its own:
 * - `stop-all`: the others are stopped and the manager exits with its status (the default);
 * - `restart`: it is started again after an exponential back-off (`--restart`);
 * - `can-die`: nothing; the others keep running (`--can-die`, for one-shot tasks).
 */
export type ExitPolicy = 'stop-all' | 'restart' | 'can-die';

export interface SupervisedSpec extends ProcessSpec {
  policy: ExitPolicy;
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

export interface SupervisorOptions {
  /** Grace between SIGTERM and SIGKILL, at shutdown and when one process is restarted. */
  timeoutMs: number;
  backoff?: RestartBackoff;
}

/** Why the manager is stopping, which decides its exit status. */
export type StopReason = { signal: NodeJS.Signals } | { status: number };

const POLL_MS = 50;

const SIGNAL_STATUS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143, SIGPIPE: 141 };

/** One instance name (`web.1`) and the process currently running under it. */
interface Slot {
  spec: SupervisedSpec;
  current: ManagedProcess | null;
  startedAt: number;
  /** Quick exits in a row (reset when the process stayed up for `stableMs`). */
  quickExits: number;
  restartTimer: NodeJS.Timeout | null;
  /** When the pending back-off restart is due. */
  restartAt: number;
  /** A restart asked for by the user or the watcher is under way: the exit is expected. */
  replacing: boolean;
  /** Stopped on request (`tsforeman stop NAME`): no policy applies until it is restarted. */
  held: boolean;
  /** How its last process ended, for `ps`. */
  lastExit: ExitStatus | null;
}

/** One line of `tsforeman ps`, as data. */
export interface InstanceStatus {
  name: string;
  pid: number | null;
  /** `running`, `restarting`, `restarting in 2s`, `stopped`, `exited with code 3`, `terminated by SIGKILL`, `not started` */
  state: string;
  /** Milliseconds since it started, while it runs. */
  uptimeMs: number | null;
  port: string | undefined;
}

/**
 * Starts every process, watches them, and stops them all: the long-lived object behind `start`.
 *
 *   const supervisor = new Supervisor(specs, printer, { timeoutMs: 5000 });
 *   process.on('SIGINT', () => supervisor.stop({ signal: 'SIGINT' }));
 *   const status = await supervisor.run();   // 130 after Ctrl-C, or the first exiting process's status
 *
 * Shutdown: SIGTERM to every process group, SIGKILL to what is left after `timeoutMs`, then wait
 * until every group is empty, so nothing started here outlives the manager.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private readonly printer: Printer;
  private readonly timeoutMs: number;
  private readonly backoff: RestartBackoff;
  /** Every process started, until its group is seen empty: leftovers of exited leaders included. */
  private readonly started = new Set<ManagedProcess>();
  /** Processes whose exit has not been reported yet. */
  private readonly unreported = new Set<ManagedProcess>();
  private state: 'idle' | 'running' | 'stopping' | 'done' = 'idle';
  private status: number | null = null;
  /** Status of the first can-die process that failed, used when every process ended by itself. */
  private failedTaskStatus: number | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private killed = false;
  private finish: (status: number) => void = () => undefined;
  private readonly finished: Promise<number>;

  constructor(specs: readonly SupervisedSpec[], printer: Printer, options: SupervisorOptions) {
    this.slots = specs.map((spec) => ({
      spec,
      current: null,
      startedAt: 0,
      quickExits: 0,
      restartTimer: null,
      restartAt: 0,
      replacing: false,
      held: false,
      lastExit: null,
    }));
    this.printer = printer;
    this.timeoutMs = options.timeoutMs;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.finished = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  /** Starts every process; resolves with the manager's exit status once everything is gone. */
  run(): Promise<number> {
    if (this.state !== 'idle') return this.finished;
    this.state = 'running';
    for (const slot of this.slots) {
      if (this.state !== 'running') break;
      this.launch(slot);
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
    for (const slot of this.slots) this.cancelRestart(slot);
    this.printer.system('sending SIGTERM to all processes');
    for (const proc of this.started) proc.signal('SIGTERM');
    if (this.timeoutMs <= 0) this.killAll();
    else this.killTimer = setTimeout(() => this.killAll(), this.timeoutMs);
    void this.waitUntilAllGone();
  }

  /** Sends `signal` to every running process group (SIGUSR1/SIGUSR2 forwarding). */
  forward(signal: NodeJS.Signals): void {
    if (this.state !== 'running') return;
    this.printer.system(`sending ${signal} to all processes`);
    for (const slot of this.slots) slot.current?.signal(signal);
  }

  /**
   * Restarts the instances named (e.g. after a file change): SIGTERM to each group, SIGKILL after the
   * timeout, then a fresh start under the same name and port. Instances not running (a can-die task
   * that finished, one waiting for its back-off) are started now.
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
        this.cancelRestart(slot);
        const proc = slot.current;
        if (proc === null) return;
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
  statuses(now = Date.now()): InstanceStatus[] {
    return this.slots.map((slot) => {
      const running = slot.current !== null && !slot.replacing;
      return {
        name: slot.spec.name,
        pid: running ? (slot.current?.pid ?? null) : null,
        state: this.stateOf(slot, now),
        uptimeMs: running ? now - slot.startedAt : null,
        port: slot.spec.env.PORT,
      };
    });
  }

  private stateOf(slot: Slot, now: number): string {
    if (slot.replacing) return 'restarting';
    if (slot.current !== null) return slot.held ? 'stopping' : 'running';
    if (slot.held) return 'stopped';
    if (slot.restartTimer !== null) return `restarting in ${Math.max(0, Math.ceil((slot.restartAt - now) / 1000))}s`;
    if (slot.lastExit !== null) return describeExit('', slot.lastExit, slot.spec.command).trim();
    return 'not started';
  }

  /**
   * Takes new commands and environments (a Procfile or env file edited while running) for the
   * instances already known; they apply from each instance's next start. The policy stays.
   */
  updateSpecs(specs: readonly SupervisedSpec[]): void {
    for (const slot of this.slots) {
      const spec = specs.find((candidate) => candidate.name === slot.spec.name);
      if (spec) slot.spec = { ...spec, policy: slot.spec.policy };
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

  private launch(slot: Slot): void {
    const proc = new ManagedProcess(slot.spec, this.printer);
    let pid: number;
    try {
      pid = proc.start();
    } catch (error) {
      this.printer.system(`${slot.spec.name} could not be started: ${(error as Error).message}`);
      this.stop({ status: 1 });
      return;
    }
    slot.current = proc;
    slot.startedAt = Date.now();
    this.started.add(proc);
    this.unreported.add(proc);
    this.printer.system(`${slot.spec.name} started (pid ${pid})`);
    void proc.exited.then((status) => this.onExit(slot, proc, status));
  }

  private onExit(slot: Slot, proc: ManagedProcess, status: ExitStatus): void {
    this.printer.system(describeExit(slot.spec.name, status, slot.spec.command));
    this.unreported.delete(proc);
    if (slot.current === proc) slot.lastExit = status;
    if (slot.current !== proc || slot.replacing || this.state !== 'running') return;
    slot.current = null;
    if (slot.held) return;
    const code = exitStatusCode(status);
    switch (slot.spec.policy) {
      case 'stop-all':
        this.stop({ status: code });
        return;
      case 'restart':
        // Leftovers of the old group (a background child holding the port) go before the next start.
        proc.signal('SIGTERM');
        this.scheduleRestart(slot);
        return;
      case 'can-die':
        if (code !== 0 && this.failedTaskStatus === null) this.failedTaskStatus = code;
        this.stopIfNothingLeft();
        return;
    }
  }

  private scheduleRestart(slot: Slot): void {
    const ranFor = Date.now() - slot.startedAt;
    slot.quickExits = ranFor >= this.backoff.stableMs ? 1 : slot.quickExits + 1;
    const delay = Math.min(this.backoff.initialMs * 2 ** (slot.quickExits - 1), this.backoff.maxMs);
    const seconds = `${Number((delay / 1000).toFixed(2))}s`;
    if (slot.quickExits >= this.backoff.crashLoopAfter) {
      this.printer.system(
        `${slot.spec.name} is crash looping (${slot.quickExits} quick exits in a row); restarting in ${seconds}`,
      );
    } else {
      this.printer.system(`restarting ${slot.spec.name} in ${seconds}`);
    }
    slot.restartAt = Date.now() + delay;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      if (this.state === 'running') this.launch(slot);
    }, delay);
  }

  private cancelRestart(slot: Slot): void {
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = null;
  }

  private async replace(slot: Slot): Promise<void> {
    if (this.state !== 'running') return;
    slot.replacing = true;
    this.cancelRestart(slot);
    const old = slot.current;
    if (old) {
      await stopGracefully(old, this.timeoutMs, () => this.state !== 'running');
      await old.exited;
    }
    slot.replacing = false;
    if (this.state !== 'running' || slot.held) {
      slot.current = null;
      return;
    }
    slot.quickExits = 0;
    this.launch(slot);
  }

  /** When only finished can-die tasks remain, the manager has nothing left to do. */
  private stopIfNothingLeft(): void {
    if (this.state !== 'running') return;
    // An instance stopped on request can be restarted: the manager waits for that (or for Ctrl-C).
    const active = this.slots.some((slot) => slot.current !== null || slot.restartTimer !== null || slot.replacing || slot.held);
    if (active) return;
    // What the tasks left running (a background child, a daemon) is stopped as at any shutdown.
    if ([...this.started].some((proc) => proc.groupAlive())) {
      this.stop({ status: this.failedTaskStatus ?? 0 });
      return;
    }
    this.state = 'stopping';
    this.status = this.failedTaskStatus ?? 0;
    void this.waitUntilAllGone();
  }

  private killAll(): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.killTimer = null;
    const alive = [...this.started].filter((proc) => proc.groupAlive());
    if (alive.length === 0 || this.killed) {
      for (const proc of alive) proc.signal('SIGKILL');
      return;
    }
    this.killed = true;
    this.printer.system('sending SIGKILL to all processes');
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
          this.printer.system(`process groups still alive after SIGKILL: ${pids}`);
          break;
        }
      }
      await sleep(POLL_MS);
    }
    if (this.killTimer) clearTimeout(this.killTimer);
    this.state = 'done';
    this.finish(this.status ?? 0);
  }
}
