/**
 * USR2: a new master started from the same command line (so it runs the code installed now), given the
 * listening sockets as inherited descriptors 3, 4, ... (`TSUNICORN_FD`), as gunicorn re-executes itself.
 * The old master keeps serving; its --pid file becomes `PIDFILE.oldbin` and the new master writes PIDFILE.
 * A TERM to the old master then drains it while the new one serves the same sockets, so no connection is
 * refused. A new master that cannot boot exits: the old one logs it, takes its pid file back and serves on.
 *
 *   const upgrade = new MasterUpgrade({ cwd, env, log, onExit });
 *   upgrade.start(listeners, pidFile);  // returns the pid file this master now owns (PIDFILE.oldbin)
 *   upgrade.running                     // a new master runs: a second USR2 is refused, STOPPING=1 is not sent
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import type { Listener } from './listeners.js';
import { listeningFd } from './node-internals.js';
import { LISTEN_FDS_START } from './socket-activation.js';

export interface UpgradeOptions {
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  info(line: string): void;
  warning(line: string): void;
  error(line: string): void;
  /** The new master exited while this one still runs; `pidFile` is the name this master owns again. */
  onFailed(pidFile: string | undefined): void;
}

/** What a new master must not inherit: the old master's own inherited sockets' variables. */
const NOT_HANDED_ON = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'TSUNICORN_FD'];

export class MasterUpgrade {
  private child: ChildProcess | undefined;
  /** The pid of the master that started this one by USR2, while it still runs. */
  private readonly oldMaster: number | undefined;

  constructor(
    private readonly options: UpgradeOptions,
    startedByUsr2: boolean,
  ) {
    this.oldMaster = startedByUsr2 ? process.ppid : undefined;
  }

  /** This master was started by another one's USR2. */
  get startedByUsr2(): boolean {
    return this.oldMaster !== undefined;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Starts the new master; returns the pid file name this master keeps (PIDFILE.oldbin), or undefined. */
  start(listeners: readonly Listener[], pidFile: string | undefined): string | undefined {
    if (this.child) {
      this.options.warning(`USR2 ignored: a new master (pid ${this.child.pid}) is already running; TERM one of the two first`);
      return pidFile;
    }
    // process.ppid is read anew each time: once the old master exits, this one is reparented.
    if (this.oldMaster !== undefined && process.ppid === this.oldMaster) {
      this.options.warning(`USR2 ignored: the old master (pid ${this.oldMaster}) still runs; TERM it first`);
      return pidFile;
    }
    const fds = listeners.map((listener) => listeningFd(listener.server));
    const env: Record<string, string | undefined> = { ...this.options.env };
    for (const name of NOT_HANDED_ON) delete env[name];
    env.TSUNICORN_FD = fds.map((_, index) => LISTEN_FDS_START + index).join(',');
    let oldbin: string | undefined;
    if (pidFile) {
      oldbin = `${pidFile}.oldbin`;
      try {
        renameSync(pidFile, oldbin);
      } catch (error) {
        this.options.error(`USR2: cannot move --pid ${pidFile} to ${oldbin} (${(error as NodeJS.ErrnoException).code ?? String(error)}); no new master started`);
        return pidFile;
      }
    }
    const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
      cwd: this.options.cwd,
      env,
      stdio: ['inherit', 'inherit', 'inherit', ...fds],
    });
    child.on('error', (error) => this.options.error(`USR2: cannot start a new master: ${error.message}`));
    if (child.pid === undefined) {
      if (pidFile && oldbin) renameSync(oldbin, pidFile);
      return pidFile;
    }
    this.child = child;
    for (const listener of listeners) listener.shared = true;
    this.options.info(`Started a new master (pid ${child.pid}) on the listening sockets; TERM this one (pid ${process.pid}) once the new one serves`);
    child.on('exit', (code, signal) => {
      this.child = undefined;
      for (const listener of listeners) if (listener.inherited === undefined) listener.shared = false;
      let owned = oldbin;
      if (pidFile && oldbin && !this.pidFileHeldByOther(pidFile, child.pid!)) {
        try {
          renameSync(oldbin, pidFile);
          owned = pidFile;
        } catch {
          // Keep .oldbin: it still names this master.
        }
      }
      this.options.onFailed(owned);
      // After the pid file is back: whoever reads this line finds it.
      this.options.error(`The new master (pid ${child.pid}) ${signal ? `was stopped by ${signal}` : `exited with code ${code}`}: this master (pid ${process.pid}) keeps serving`);
    });
    return oldbin;
  }

  /** A pid file some live process other than the failed new master wrote since. */
  private pidFileHeldByOther(pidFile: string, failedPid: number): boolean {
    if (!existsSync(pidFile)) return false;
    try {
      const pid = Number(readFileSync(pidFile, 'utf8').trim());
      if (!(pid > 0) || pid === failedPid) return false;
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}
