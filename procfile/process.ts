import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { EnvMap } from './env.js';
import { DescendantMark, signalEach } from './descendant-mark.js';
import { groupAlive, signalGroup } from './process-group.js';
import type { HeldSockets } from './held-ports.js';
import { processScript } from './shell.js';

/** What to run for one process instance. */
export interface ProcessSpec {
  /** `web.1` */
  name: string;
  /** `web` */
  type: string;
  command: string;
  cwd: string;
  /** The complete environment of the child (nothing else is inherited). */
  env: EnvMap;
  /** Sockets the manager holds for it (`--hold-port`): handed over as fds 3, 4, ... with LISTEN_FDS. */
  held?: HeldSockets;
}

/**
 * The environment and descriptors of socket activation for a held port: LISTEN_FDS and
 * LISTEN_FDNAMES here, LISTEN_PID set by the shell itself (see `processScript`).
 */
function activation(held: HeldSockets | undefined): { env: EnvMap; fds: number[] } {
  if (held === undefined) return { env: {}, fds: [] };
  return {
    env: { LISTEN_FDS: String(held.fds.length), LISTEN_FDNAMES: held.fds.map(() => held.fdName).join(':') },
    fds: held.fds,
  };
}

/** How a child ended: an exit code, or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The shell's status for "command not found". */
export const COMMAND_NOT_FOUND = 127;

/** The status a shell would report: the exit code, or 128 + N for signal N. */
export function exitStatusCode(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  const number = status.signal ? constants.signals[status.signal] : undefined;
  return 128 + (number ?? 0);
}

/** `web.1 exited with code 3`, `worker.1 terminated by SIGKILL`, command not found spelled out. */
export function describeExit(name: string, status: ExitStatus, command: string): string {
  if (status.signal) return `${name} terminated by ${status.signal}`;
  if (status.code === COMMAND_NOT_FOUND) {
    return `${name} exited with code ${COMMAND_NOT_FOUND}: command not found (${firstWord(command)})`;
  }
  return `${name} exited with code ${status.code}`;
}

function firstWord(command: string): string {
  return command.trim().split(/\s+/)[0] ?? command;
}

/**
 * How long to wait, after a child exits, for the last of its output to arrive before reporting the
 * exit. A background grandchild may hold the pipe open for ever, so this is bounded.
 */
const OUTPUT_GRACE_MS = 250;

/**
 * What the supervisor needs of a process; `ManagedProcess` is the real one, tests may give fakes
 * (see `SupervisorOptions.createProcess`).
 */
export interface SupervisedProcess {
  readonly pid: number | undefined;
  /** Resolves when it has exited and its output has been handed on (or the grace ran out). */
  readonly exited: Promise<ExitStatus>;
  /** Starts it and returns its pid; throws when it cannot be started. */
  start(): number;
  /** Signals it and everything it started. False when nothing is left. */
  signal(signal: NodeJS.Signals): boolean;
  /** True while it or anything it started is alive. */
  groupAlive(): boolean;
}

/** Where a process hands its output: each pipe (stdout, stderr) once, as it is opened. */
export type OutputSink = (stream: Readable) => void;

/**
 * One child process: `/bin/sh -c COMMAND` (the program itself for a simple command, see
 * `processScript`) in its own process group (it is the group leader, so its pid is the group id),
 * cwd = root, stdin from /dev/null. It prints nothing itself: its pipes go to `output`, and
 * whoever owns the output (the printer, the log) decides what is shown. Its descendants that leave
 * the group are found by the environment mark they inherit (see `DescendantMark`) and signalled with it.
 *
 *   const proc = new ManagedProcess(spec, (stream) => printer.attach(spec.name, stream));
 *   const pid = proc.start();
 *   const status = await proc.exited;   // after the output it wrote has been read
 *   proc.signal('SIGTERM');             // the whole group, including leftovers of an exited leader
 */
export class ManagedProcess implements SupervisedProcess {
  readonly spec: ProcessSpec;
  /** Resolves when the child has exited and its pipes closed (or the grace ran out). */
  readonly exited: Promise<ExitStatus>;
  private readonly output: OutputSink;
  private resolveExited!: (status: ExitStatus) => void;
  private childPid: number | undefined;
  private running = false;
  /** Once the group is seen empty its id may be reused by strangers: never signal it again. */
  private groupGone = false;
  private readonly mark: DescendantMark;

  constructor(spec: ProcessSpec, output: OutputSink) {
    this.spec = spec;
    this.output = output;
    this.mark = new DescendantMark(spec.name);
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve;
    });
  }

  get pid(): number | undefined {
    return this.childPid;
  }

  /** Spawns the child and returns its pid (also its process group id). */
  start(): number {
    // Node's own spawn: the status comes from 'exit' and the output from the pipes as it arrives (a
    // background grandchild may hold them open long after the exit), so no result object is wanted.
    const given = activation(this.spec.held);
    const child = spawn('/bin/sh', ['-c', processScript(this.spec.command, { listenPid: this.spec.held !== undefined })], {
      cwd: this.spec.cwd,
      env: { ...this.spec.env, ...given.env, ...this.mark.env },
      stdio: ['ignore', 'pipe', 'pipe', ...given.fds],
      detached: true,
    });
    // A shell that cannot start has no pid (thrown below); its 'error' event follows and is not news.
    child.once('error', () => undefined);
    if (child.pid === undefined) {
      throw new Error(`could not start /bin/sh for ${this.spec.name}`);
    }
    this.childPid = child.pid;
    this.running = true;

    let openStreams = 0;
    let outputDone: () => void = () => undefined;
    const outputClosed = new Promise<void>((resolve) => {
      outputDone = resolve;
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      openStreams++;
      this.output(stream);
      stream.once('close', () => {
        if (--openStreams === 0) outputDone();
      });
    }
    if (openStreams === 0) outputDone();

    child.once('exit', (code, signal) => {
      this.running = false;
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, OUTPUT_GRACE_MS);
      });
      void Promise.race([outputClosed, grace]).then(() => {
        clearTimeout(timer);
        this.resolveExited({ code, signal });
      });
    });
    return child.pid;
  }

  /** Signals the child's whole process group and its escapees. False when nothing is left. */
  signal(signal: NodeJS.Signals): boolean {
    if (this.childPid === undefined) return false;
    const escaped = signalEach(this.mark.escapees(this.childPid), signal);
    if (this.groupGone) return escaped;
    if (signalGroup(this.childPid, signal)) return true;
    if (!this.running) this.groupGone = true;
    return escaped;
  }

  /** True while the child, anything left in its group or an escapee of it is alive. */
  groupAlive(): boolean {
    if (this.childPid === undefined) return false;
    if (!this.groupGone) {
      if (this.running || groupAlive(this.childPid)) return true;
      this.groupGone = true;
    }
    return this.mark.escapees(this.childPid).length > 0;
  }
}
