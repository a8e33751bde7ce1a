/**
 * The master. Binds every address before any worker starts, keeps the listening sockets for its whole
 * life, never handles a request, and runs one small loop: handle a queued signal, kill the silent, reap
 * and replace. Workers are forked Node processes (worker-main.ts) that talk to it over IPC.
 *
 *   const exitCode = await new Arbiter(configuration, { sources, version }).run();
 *
 * Sockets: with `--socket-sharing handoff` (default) only the master accepts, and hands each connection
 * to a ready worker (handover.ts); with `shared` every worker also gets the listening handles and accepts
 * by itself, and whatever the master still accepts is handed over the same way. The listening sockets
 * stay open until the master stops (TERM, INT, QUIT). With `reuse-port` each worker accepts on SO_REUSEPORT
 * sockets of its own and the master keeps none once the workers hold them (reuse-port.ts).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Server as NetServer, Socket } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadApp, parseAppSpec, resolveAppFile } from './app-loader.js';
import { AppListens, listenWaitMs, portEnvironment, servedAddressesOf, type ServedAddress } from './app-listen.js';
import { loadConfiguration, type Configuration, type ConfigurationSources, type SettingOrigin } from './configuration.js';
import { ControlHandlers, type ControlledMaster, type MasterCommand } from './control/handlers.js';
import { openControlSocket } from './control/master-socket.js';
import type { ControlServer } from './control/server.js';
import { EXIT_APP_LOAD_ERROR, EXIT_BOOT_ERROR, SettingsError, TsunicornError, firstLine, reportOf } from './errors.js';
import { runHook, type Hooks, type ServerInfo } from './hooks.js';
import { Handover } from './handover.js';
import { bindAll, closeAll, type Listener } from './listeners.js';
import { MasterUpgrade } from './master-upgrade.js';
import { ReusePortSockets } from './reuse-port.js';
import { listeningFd } from './node-internals.js';
import { ServiceNotifier } from './service-notify.js';
import { inheritedSockets, listenOnInherited, withoutMasterVariables } from './socket-activation.js';
import { Logger, type LoggerOptions } from './logging.js';
import { MasterStats } from './master-stats.js';
import { MetricsServer } from './metrics-server.js';
import { StatsdClient } from './statsd.js';
import { heartbeatIntervalMs, isWorkerMessage, type MasterMessage, type WorkerMessage } from './messages.js';
import { environmentOf, type Settings } from './settings.js';

type WorkerState = 'booting' | 'ready' | 'stopping';

interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Counts the workers started, 1 for the first (the hooks' worker.age). */
  age: number;
  generation: number;
  state: WorkerState;
  lastHeartbeat: number;
  /** When a stopping worker gets SIGKILL. */
  killAt?: number;
  /** Set once the master has SIGKILLed it (timeout or graceful deadline). */
  killed?: 'timeout' | 'deadline';
  bootFailure?: { exitCode: number; reason: string };
  /** --max-worker-memory: replaced once a new worker serves (it keeps serving until then). */
  recycle?: 'memory';
}

type MasterSignal = 'SIGTERM' | 'SIGINT' | 'SIGQUIT' | 'SIGHUP' | 'SIGTTIN' | 'SIGTTOU' | 'SIGUSR1' | 'SIGUSR2';
const HANDLED_SIGNALS: MasterSignal[] = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGTTIN', 'SIGTTOU', 'SIGUSR1', 'SIGUSR2'];
/**
 * A signal sent to the whole process group (Heroku's TERM to every process of a dyno, Ctrl-C) can reach
 * a worker, and come back from it over IPC, before the master's own handler runs. A worker that left on
 * its own without an error is therefore replaced only after this settle time, so a master that is
 * stopping too does not boot a worker just to kill it.
 */
const SIGNAL_SETTLE_MS = 250;
/** Booting includes Node's start-up and the app's import: never judge it by a --timeout under this. */
const MIN_BOOT_TIMEOUT_S = 10;
/** At TERM, the longest the master goes on accepting what the kernel queued before it closes the sockets. */
const BACKLOG_DRAIN_MS = 1000;
/** How long a quick shutdown (INT/QUIT) waits for workers before SIGKILL. */
const QUICK_STOP_MS = 2000;

function workerEntry(): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const typescript = here.endsWith('.ts');
  return {
    file: path.join(path.dirname(here), typescript ? 'worker-main.ts' : 'worker-main.js'),
    execArgv: typescript ? ['--import', 'tsx'] : [],
  };
}

const PID_FILE_ERRORS: Record<string, string> = {
  ENOENT: 'its directory does not exist',
  ENOTDIR: 'its directory does not exist',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
};

/**
 * Writes the master's pid to --pid FILE whole or not at all (a temporary file renamed over it), before
 * the server announces that it listens: whoever reads it after `Listening at:` finds the complete pid.
 */
function writePidFile(file: string): void {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, `${process.pid}\n`);
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    const code = (error as NodeJS.ErrnoException).code ?? '';
    const reason = PID_FILE_ERRORS[code] ?? firstLine(error);
    throw new TsunicornError(`Cannot write --pid ${file}: ${reason}`, 1);
  }
}

/** Removes --pid FILE unless another process has written its own pid there since. */
function removePidFile(file: string): void {
  try {
    if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file, { force: true });
  } catch {
    // Already gone.
  }
}

export interface ArbiterOptions {
  sources: ConfigurationSources;
  version: string;
}

export class Arbiter {
  private settings: Settings;
  private hooks: Hooks;
  private log: Logger;
  private listeners: Listener[] = [];
  private readonly workers = new Map<number, WorkerProcess>();
  private generation = 0;
  private targetWorkers: number;
  private workersStarted = 0;
  /** Workers whose async pre_fork hook has not settled yet, by generation: forked when it does. */
  private readonly forking: number[] = [];
  private readonly signalQueue: MasterSignal[] = [];
  private wake: (() => void) | undefined;
  private stopping: 'graceful' | 'quick' | undefined;
  private stopDeadline = 0;
  /** Workers that left on their own without an error, reported once the settle time tells why. */
  private readonly unexplainedExits: { pid: number; code: number | null; signal: NodeJS.Signals | null; decideAt: number }[] = [];
  /** No replacement worker is started before this time (see SIGNAL_SETTLE_MS). */
  private replacementsHeldUntil = 0;
  private haltStatus: number | undefined;
  private readonly handover: Handover<WorkerProcess>;
  /** --socket-sharing reuse-port: where the workers' own sockets are and go. */
  private reusePort: ReusePortSockets<WorkerProcess> | undefined;
  /** The addresses bound (read once: with reuse-port the master's own sockets pass to the workers). */
  private servedAddresses: ServedAddress[] = [];
  private reloadWatcher: { close(): Promise<void> } | undefined;
  private readyAnnounced = false;
  /** Connections the listening sockets accepted (the TERM drain watches it stop growing). */
  private accepted = 0;
  /** TERM: the master is still accepting what the kernel queued (drainBacklog). */
  private drainingBacklog = false;
  /** While TERM waits for shared workers to close their listening copies: called with each that did. */
  private unlistening: ((pid: number) => void) | undefined;
  /** The --pid file written at start (a reload may name another; this one is removed at exit). */
  private pidFile: string | undefined;
  /** --bind came from the command line, TSUNICORN_CMD_ARGS or a config file: it selects inherited sockets. */
  private readonly bindGiven: boolean;
  /** What the workers get: the environment without the sockets' and the service manager's variables. */
  private readonly workerEnv: Record<string, string | undefined>;
  private readonly notifier: ServiceNotifier;
  private upgrade: MasterUpgrade | undefined;
  /** A HUP's RELOADING=1 went out: READY=1 follows once the new generation serves. */
  private reloadAnnounced = false;
  /** The control socket (tsunicornc); its commands wait here for the loop, as signals do. */
  private control: ControlServer | undefined;
  private readonly commandQueue: MasterCommand[] = [];
  private origins: Record<keyof Settings, SettingOrigin>;

  /** gunicorn settings given that do not apply, logged once the log is up. */
  private warnings: string[];
  /**
   * The workers' statistics and the master's counts (spawned, restarts, reloads): read by the metrics
   * endpoint, statsd and the control socket (see master-stats.ts for the read API).
   */
  readonly stats: MasterStats;
  /** --metrics-bind (set once bound). */
  private metrics: MetricsServer | undefined;
  private statsd: StatsdClient | undefined;

  constructor(configuration: Configuration, private readonly options: ArbiterOptions) {
    this.settings = configuration.settings;
    this.origins = configuration.origins;
    this.hooks = configuration.hooks;
    this.warnings = configuration.warnings;
    this.bindGiven = !['default', 'env $PORT'].includes(configuration.origins.bind);
    this.workerEnv = withoutMasterVariables(options.sources.env);
    this.notifier = new ServiceNotifier(options.sources.env.NOTIFY_SOCKET, (line) => this.log.warning(line));
    this.targetWorkers = this.settings.workers;
    this.stats = new MasterStats({ targetWorkers: () => this.targetWorkers });
    this.log = this.makeLogger(this.settings);
    // The workers open the access log themselves: one that cannot be opened is a bad setting, refused here.
    if (this.settings.accesslog !== undefined) new Logger({ ...this.loggerOptions(this.settings), accesslog: this.settings.accesslog }).close();
    // The hand-over reads the pool afresh at each connection: reloads change settings and generation.
    this.handover = new Handover({
      workers: () => this.workers.values(),
      generation: () => this.generation,
      targetWorkers: () => this.targetWorkers,
      timeoutSeconds: () => this.settings.timeout,
      sendConnection: (worker, socket, index) => this.send(worker, { type: 'connection', index }, socket),
      logInfo: (line) => this.log.info(line),
    });
  }

  private makeLogger(settings: Settings): Logger {
    return new Logger(this.loggerOptions(settings));
  }

  /** The master's own log: the error log only (workers write the access log). */
  private loggerOptions(settings: Settings): LoggerOptions {
    return {
      errorlog: settings.errorlog,
      accesslog: undefined,
      accessLogFormat: settings.access_log_format,
      loglevel: settings.loglevel,
      logFormat: settings.log_format,
    };
  }

  private get info(): ServerInfo {
    return { pid: process.pid, settings: this.settings };
  }

  /** Runs until the server stops; resolves to the exit status. Throws BindError before any worker starts. */
  async run(): Promise<number> {
    const secure = this.settings.certfile !== undefined;
    const given = inheritedSockets(this.options.sources.env, process.pid);
    if (given?.warning) this.log.warning(given.warning);
    const reusePort = this.settings.socket_sharing === 'reuse-port';
    if (reusePort && given && given.fds.length > 0) {
      throw new SettingsError(`--socket-sharing reuse-port: the workers bind their own sockets, so it cannot serve the ${given.from}'s (${given.fds.length} given); use handoff or shared`);
    }
    this.listeners = given && given.fds.length > 0
      // The old master's sockets are its --bind: a new master serves them all (a reload does not move them either).
      ? await listenOnInherited(given, this.settings.bind, this.bindGiven && given.from === 'socket activation', secure, this.settings.backlog)
      : await bindAll(this.settings.bind, secure, this.settings.backlog, reusePort);
    this.servedAddresses = servedAddressesOf(this.listeners.map((listener) => listener.server));
    try {
      // USR2 hands these descriptors on: a Node.js that hides them fails here, not at the first USR2.
      for (const listener of this.listeners) listeningFd(listener.server);
    } catch (error) {
      await closeAll(this.listeners);
      throw error;
    }
    const byUsr2 = given?.from === 'the old master' && given.fds.length > 0;
    if (this.settings.metrics_bind) {
      try {
        await this.serveMetrics(byUsr2);
      } catch (error) {
        await closeAll(this.listeners);
        throw error;
      }
    }
    if (this.settings.statsd_host) {
      const statsd = new StatsdClient({
        host: this.settings.statsd_host,
        prefix: this.settings.statsd_prefix,
        tags: this.settings.dogstatsd_tags,
        workers: () => this.workers.size,
        warning: (line) => this.log.warning(line),
      });
      this.statsd = statsd;
      this.stats.onDelta = (delta) => statsd.add(delta);
    }
    this.upgrade = new MasterUpgrade({
      cwd: this.options.sources.cwd,
      env: this.options.sources.env,
      info: (line) => this.log.info(line),
      warning: (line) => this.log.warning(line),
      error: (line) => this.log.error(line),
      onFailed: (pidFile) => {
        this.pidFile = pidFile;
        // The new master had taken the control socket's path, and removed it as it exited.
        void this.control?.reclaim().catch((error: unknown) => this.log.warning(`Control socket: ${firstLine(error)}`));
      },
    }, given?.from === 'the old master' && given.fds.length > 0);
    if (this.settings.pidfile) {
      try {
        writePidFile(this.settings.pidfile);
      } catch (error) {
        await closeAll(this.listeners);
        throw error;
      }
      this.pidFile = this.settings.pidfile;
    }
    try {
      this.control = await openControlSocket({
        settings: this.settings,
        cwd: this.options.sources.cwd,
        env: this.options.sources.env,
        urls: this.listeners.map((listener) => listener.url),
        handlers: new ControlHandlers(this.controlledMaster()),
        takeOver: given?.from === 'the old master' && given.fds.length > 0,
        warning: (line) => this.warnings.push(line),
      });
    } catch (error) {
      await closeAll(this.listeners);
      if (this.pidFile) removePidFile(this.pidFile);
      throw error;
    }
    process.on('exit', () => this.control?.removeFile());
    // Handled from before the announcement: whoever reads `Listening at:` may signal at once.
    for (const signal of HANDLED_SIGNALS) process.on(signal, () => this.queueSignal(signal));
    this.log.info(`Starting tsunicorn ${this.options.version}`);
    for (const warning of this.warnings.splice(0)) this.log.warning(warning);
    for (const listener of this.listeners) {
      this.log.info(`Listening at: ${listener.url} (${process.pid})${listener.inherited ? `, ${listener.inherited}` : ''}`);
    }
    this.log.info(`Using socket sharing: ${this.settings.socket_sharing}`);
    if (this.control) this.log.info(`Control socket: ${this.control.file}`);
    if (this.metrics) this.log.info(`Metrics at: ${this.metrics.url}`);
    if (this.statsd) this.log.info(`Sending statsd metrics to: ${this.settings.statsd_host!.text}`);
    for (const [index, listener] of this.listeners.entries()) {
      listener.server.on('connection', (socket: Socket) => this.acceptedByMaster(socket, index));
    }
    if (reusePort) {
      this.reusePort = new ReusePortSockets({
        addresses: this.servedAddresses.map((address) => ({ host: address.kind === 'tcp' ? address.address : '', port: address.kind === 'tcp' ? address.port : 0 })),
        backlog: this.settings.backlog,
        workers: () => this.workers.values(),
        generation: () => this.generation,
        targetWorkers: () => this.targetWorkers,
        send: (worker, message, handle, sent) => this.send(worker, message, handle, sent),
        accepted: (socket, index) => this.acceptedByMaster(socket, index),
        warning: (line) => this.log.warning(line),
      });
      this.reusePort.adoptInitial(this.listeners.map((listener) => listener.server));
    }
    await this.runHook('on_starting');
    if (this.settings.preload_app && !(await this.preload())) return this.shutdown();
    if (this.settings.reload) await this.watchForReload();
    this.generation = 1;
    await this.loop();
    return this.shutdown();
  }

  /** A connection a listening socket of the master's accepted: to a worker (handover.ts). */
  private acceptedByMaster(socket: Socket, index: number): void {
    this.accepted++;
    this.handover.dispatch(socket, index);
  }

  // ------------------------------------------------------------- the loop

  private async loop(): Promise<void> {
    const tick = heartbeatIntervalMs(this.settings.timeout);
    for (;;) {
      const signal = this.signalQueue.shift();
      if (signal) this.handleSignal(signal);
      const command = this.commandQueue.shift();
      if (command) this.handleCommand(command);
      this.reportUnexplainedExits();
      if (this.haltStatus !== undefined) return;
      this.murderWorkers();
      if (this.stopping) {
        if (this.workers.size === 0) return;
      } else {
        this.manageWorkers();
      }
      if (this.signalQueue.length === 0 && this.commandQueue.length === 0) {
        // Shorter than a tick only while replacements are held (to replace right when the hold ends); a hold
        // in the past must not turn the sleep into a 1 ms poll (a wake-up a millisecond, next to the workers).
        const heldFor = this.replacementsHeldUntil - Date.now();
        await this.sleep(heldFor > 0 ? Math.min(tick, heldFor) : tick);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private queueSignal(signal: MasterSignal): void {
    if (this.signalQueue.length < 5) this.signalQueue.push(signal);
    this.wakeUp();
  }

  /** A tsunicornc command: what its signal does (worker kill: that worker drains, and is replaced). */
  private handleCommand(command: MasterCommand): void {
    this.log.info(`Control command from ${command.by}: ${command.text}`);
    if ('kill' in command) {
      const worker = this.workers.get(command.kill);
      if (worker && worker.state !== 'stopping') this.stopWorker(worker);
      return;
    }
    this.handleSignal(command.signal, 'count' in command ? command.count : 1, false);
  }

  private handleSignal(signal: MasterSignal, count = 1, logged = true): void {
    if (logged) this.log.info(`Handling signal: ${signal.slice(3).toLowerCase()}`);
    switch (signal) {
      case 'SIGTERM':
        this.stop('graceful');
        break;
      case 'SIGINT':
      case 'SIGQUIT':
        this.stop('quick');
        break;
      case 'SIGHUP':
        void this.reload();
        break;
      case 'SIGTTIN':
        this.setTargetWorkers(this.targetWorkers + count);
        this.log.info(`Number of workers: ${this.targetWorkers}`);
        break;
      case 'SIGTTOU':
        this.setTargetWorkers(Math.max(1, this.targetWorkers - count));
        this.log.info(`Number of workers: ${this.targetWorkers}`);
        break;
      case 'SIGUSR2':
        if (this.stopping) this.log.warning('USR2 ignored: this master is stopping');
        else if (this.reusePort) this.log.warning('USR2 ignored: with --socket-sharing reuse-port the workers hold the listening sockets, a new master could not take them over');
        else this.pidFile = this.upgrade?.start(this.listeners, this.pidFile);
        break;
      case 'SIGUSR1':
        this.log.reopen();
        for (const worker of this.workers.values()) this.send(worker, { type: 'reopen' });
        break;
    }
  }

  /** Kills workers whose event loop has been silent for longer than --timeout, and stoppers past their deadline. */
  private murderWorkers(): void {
    const now = Date.now();
    for (const worker of this.workers.values()) {
      if (worker.killed) continue;
      if (worker.killAt !== undefined && now >= worker.killAt) {
        this.log.warning(`Worker (pid:${worker.pid}) did not stop within --graceful-timeout, killing it`);
        worker.killed = 'deadline';
        worker.child.kill('SIGKILL');
        continue;
      }
      if (this.settings.timeout <= 0) continue;
      const limit = worker.state === 'booting' ? Math.max(this.settings.timeout, MIN_BOOT_TIMEOUT_S) : this.settings.timeout;
      if (now - worker.lastHeartbeat > limit * 1000) {
        this.log.critical(`WORKER TIMEOUT (pid:${worker.pid})`);
        this.stats.restarted('timeout');
        worker.killed = 'timeout';
        worker.child.kill('SIGKILL');
      }
    }
  }

  private setTargetWorkers(count: number): void {
    const old = this.targetWorkers;
    this.targetWorkers = count;
    if (count !== old) void runHook(this.log, this.hooks.nworkers_changed, 'nworkers_changed', [this.info, count, old]);
  }

  /** Keeps `targetWorkers` workers of the current generation; retires the old generation once it is ready. */
  private manageWorkers(): void {
    // A worker marked for recycling still serves, but no longer counts: its replacement boots first.
    const currentGeneration = () =>
      [...this.workers.values()].filter((worker) => worker.generation === this.generation && worker.state !== 'stopping' && !worker.recycle);
    if (Date.now() >= this.replacementsHeldUntil) {
      const forking = this.forking.filter((generation) => generation === this.generation).length;
      for (let count = currentGeneration().length + forking; count < this.targetWorkers; count++) this.spawnWorker();
    }
    const current = currentGeneration();
    if (current.length > this.targetWorkers) {
      // TTOU: the oldest go first.
      for (const worker of current.slice(0, current.length - this.targetWorkers)) this.stopWorker(worker);
    }
    const newReady = current.filter((worker) => worker.state === 'ready').length;
    if (newReady >= this.targetWorkers) {
      for (const worker of this.workers.values()) {
        if (worker.state === 'stopping') continue;
        if (worker.generation < this.generation) {
          this.stats.restarted('reload');
          this.stopWorker(worker);
        } else if (worker.recycle) {
          this.stopWorker(worker);
        }
      }
    }
    this.reusePort?.balance();
    if (this.reloadAnnounced && newReady >= this.targetWorkers) {
      this.reloadAnnounced = false;
      void this.notifier.notify('READY=1');
    }
    if (!this.readyAnnounced && newReady >= this.targetWorkers) {
      this.readyAnnounced = true;
      // A master started by USR2 becomes the service's main process once it serves.
      if (this.upgrade?.startedByUsr2) void this.notifier.notify('READY=1', `MAINPID=${process.pid}`);
      else void this.notifier.notify('READY=1');
      void this.runHook('when_ready');
    }
  }

  // ------------------------------------------------------------- workers

  /** pre_fork, then the fork; an async pre_fork is awaited (the worker counts as starting meanwhile). */
  private spawnWorker(): void {
    const age = ++this.workersStarted;
    const preFork = this.hooks.pre_fork;
    if (!preFork) {
      this.fork(age);
      return;
    }
    const generation = this.generation;
    this.forking.push(generation);
    void runHook(this.log, preFork, 'pre_fork', [this.info, { pid: undefined, age, server: undefined }]).then(() => {
      this.forking.splice(this.forking.indexOf(generation), 1);
      if (!this.stopping && this.haltStatus === undefined && generation === this.generation) this.fork(age);
      this.wakeUp();
    });
  }

  /** The addresses bound, as an app that calls listen() itself is told it listens on. */
  private get served(): ServedAddress[] {
    return this.servedAddresses;
  }

  /** Where the workers run and the APP is found: --chdir, else where tsunicorn started. */
  private get appCwd(): string {
    return this.settings.chdir ? path.resolve(this.options.sources.cwd, this.settings.chdir) : this.options.sources.cwd;
  }

  private fork(age: number): void {
    const entry = workerEntry();
    // --capture-output: the app's stdout and stderr go to the error log file (opened per fork, so that a
    // worker started after USR1 writes to the reopened file).
    const captured = this.settings.capture_output && this.settings.errorlog !== '-' ? this.openCapture() : undefined;
    let child: ChildProcess;
    try {
      child = fork(entry.file, [], {
        cwd: this.appCwd,
        env: { ...this.workerEnv, ...portEnvironment(this.served), ...environmentOf(this.settings) },
        execArgv: entry.execArgv,
        stdio: ['ignore', captured ?? 'inherit', captured ?? 'inherit', 'ipc'],
      });
    } finally {
      if (captured !== undefined) closeSync(captured);
    }
    const pid = child.pid;
    if (pid === undefined) {
      this.log.error('Cannot start a worker process');
      return;
    }
    const worker: WorkerProcess = { child, pid, age, generation: this.generation, state: 'booting', lastHeartbeat: Date.now() };
    this.workers.set(pid, worker);
    this.stats.workerStarted({ pid, generation: this.generation, age });
    this.log.info(`Booting worker with pid: ${pid}`);
    child.on('message', (message: unknown, handle: unknown) => {
      if (isWorkerMessage(message)) this.onWorkerMessage(worker, message, handle as NetServer | undefined);
    });
    child.on('error', () => undefined);
    child.on('exit', (code, signal) => this.reap(worker, code, signal));
    // After its IPC channel closed too: its last statistics (sent right before it exits) are in.
    child.on('close', () => this.stats.workerLeft(pid));
    this.send(worker, { type: 'boot', settings: this.settings, cwd: this.appCwd, age, served: this.served });
  }

  private openCapture(): number | undefined {
    try {
      return openSync(this.settings.errorlog, 'a');
    } catch (error) {
      this.log.error(`--capture-output: cannot open ${this.settings.errorlog}: ${firstLine(error)}`);
      return undefined;
    }
  }

  private onWorkerMessage(worker: WorkerProcess, message: WorkerMessage, handle: NetServer | undefined): void {
    worker.lastHeartbeat = Date.now();
    this.stats.heardFrom(worker.pid);
    switch (message.type) {
      case 'booted':
        // Stopped while it booted (TERM before this message arrived): it may have taken the TERM as a drain that
        // waits for `stop`, which nothing else would send it now. No connection is handed to a stopping worker.
        if (worker.state === 'stopping') this.send(worker, { type: 'stop' });
        if (worker.state !== 'booting') return;
        worker.state = 'ready';
        this.stats.workerState(worker.pid, 'serving');
        if (this.settings.socket_sharing === 'shared' && !this.stopping) {
          for (const [index, listener] of this.listeners.entries()) this.send(worker, { type: 'listen', index, backlog: this.settings.backlog }, listener.server);
        }
        this.reusePort?.balance();
        this.handover.flush();
        this.wakeUp();
        break;
      case 'bound':
        this.reusePort?.bound(worker, message.index, message.error);
        break;
      case 'released':
        if (this.reusePort) this.reusePort.released(worker, message.index, handle);
        else handle?.close();
        break;
      case 'boot-failed':
        worker.bootFailure = { exitCode: message.exitCode, reason: message.reason };
        break;
      case 'retiring':
        // It stops taking connections; the `stop` reply tells it that none is on its way any more.
        if (message.reason === 'received SIGTERM') {
          // Maybe a TERM to the whole group (Heroku): the master, about to stop too, will empty its backlog
          // into the workers, and a draining worker still serves what it is handed. So it gets `stop` after
          // the settle time, or with the others once that backlog is empty.
          this.holdReplacements();
          setTimeout(() => {
            if (worker.state !== 'stopping' && !this.drainingBacklog) this.stopWorker(worker);
            this.wakeUp();
          }, SIGNAL_SETTLE_MS);
          break;
        }
        if (message.reason === 'max-requests') this.stats.restarted('max-requests');
        this.stopWorker(worker);
        this.wakeUp();
        break;
      case 'heartbeat':
        this.handover.flush();
        if (message.stats) {
          this.stats.report(worker.pid, message.stats);
          this.checkMemory(worker, message.stats.rssBytes);
        }
        break;
      case 'unlistened':
        this.unlistening?.(worker.pid);
        break;
    }
  }

  /**
   * Sends a message (and a handle) to a worker; false only when its channel is closed. `child.send` also
   * returns false for a message Node merely queued (behind a handle not yet acknowledged: any burst of
   * hand-overs); such a message is on its way, in order, and counts as sent. One the worker never
   * acknowledges comes back through handover.recover() when it exits.
   */
  private send(worker: WorkerProcess, message: MasterMessage, handle?: Socket | Listener['server'], sent?: (error: Error | null) => void): boolean {
    if (!worker.child.connected) return false;
    try {
      worker.child.send(message, handle as Socket, { keepOpen: message.type === 'listen' }, (error) => {
        if (error && message.type === 'connection' && handle) (handle as Socket).destroy();
        sent?.(error);
      });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * --max-worker-memory, at each report: a serving worker past the limit is marked; manageWorkers boots its
   * replacement and stops it (a graceful drain) once the replacement serves.
   */
  private checkMemory(worker: WorkerProcess, rssBytes: number): void {
    const limitMb = this.settings.max_worker_memory;
    if (limitMb <= 0 || worker.recycle || worker.state !== 'ready' || this.stopping) return;
    if (rssBytes <= limitMb * 1024 * 1024) return;
    worker.recycle = 'memory';
    this.stats.recycling(worker.pid, 'memory');
    this.stats.restarted('memory');
    this.log.info(`Worker (pid:${worker.pid}) uses ${Math.round(rssBytes / 1024 / 1024)} MB, over --max-worker-memory ${limitMb} MB: replacing it (a new worker first, then it drains)`);
    this.wakeUp();
  }

  /** Graceful stop of one worker: it drains; SIGKILL after --graceful-timeout. */
  private stopWorker(worker: WorkerProcess, deadline = Date.now() + this.settings.graceful_timeout * 1000): void {
    const wasBooting = worker.state === 'booting';
    if (worker.state !== 'stopping') {
      worker.state = 'stopping';
      this.stats.workerState(worker.pid, 'draining');
      worker.killAt = deadline;
    }
    // A booting worker serves nothing yet and does not listen for `stop`: TERM ends it.
    if (wasBooting || !this.send(worker, { type: 'stop' })) worker.child.kill('SIGTERM');
  }

  private reap(worker: WorkerProcess, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.pid);
    this.unlistening?.(worker.pid);
    this.handover.recover(worker.child);
    this.reusePort?.gone(worker);
    // Ctrl-C and Heroku's TERM reach the workers too, maybe before the master's own handling of it.
    const stopSignalQueued = this.signalQueue.some((queued) => queued === 'SIGINT' || queued === 'SIGTERM' || queued === 'SIGQUIT');
    const expected = worker.state === 'stopping' || this.stopping !== undefined || stopSignalQueued;
    const stopSignal = signal === 'SIGTERM' || signal === 'SIGINT' || signal === 'SIGQUIT';
    const maybeOrderly = !worker.killed && (code === 0 || stopSignal);
    if (!expected && maybeOrderly) this.holdReplacements();
    if (!expected && !worker.killed && worker.state !== 'booting' && this.haltStatus === undefined) this.stats.restarted('exited');
    if (worker.bootFailure || (worker.state === 'booting' && (code === EXIT_APP_LOAD_ERROR || code === EXIT_BOOT_ERROR))) {
      this.onBootFailure(worker, worker.bootFailure ?? { exitCode: code!, reason: `worker exited with status ${code}` });
    } else if (this.haltStatus !== undefined) {
      // Halting after a boot failure: the one message is out already.
    } else if (maybeOrderly && stopSignal && expected) {
      // A worker still booting has no TERM handler yet: the signal ends it, as the master meant.
      this.log.info(`Worker (pid:${worker.pid}) stopped by ${signal} while booting`);
    } else if (maybeOrderly && !expected) {
      // Maybe a TERM sent to the whole process group that the master has not handled yet: decide later.
      this.unexplainedExits.push({ pid: worker.pid, code, signal, decideAt: Date.now() + SIGNAL_SETTLE_MS });
    } else if (signal && worker.killed !== 'timeout' && !(expected && signal === 'SIGKILL' && worker.killed)) {
      this.log.error(`Worker (pid:${worker.pid}) was sent ${signal}!${signal === 'SIGKILL' ? ' Perhaps out of memory?' : ''}`);
    } else if (!expected && !signal) {
      this.log.error(`Worker (pid:${worker.pid}) exited with code ${code}`);
    }
    void this.runHook('child_exit', { pid: worker.pid, age: worker.age, exitCode: code, signal });
    this.wakeUp();
  }

  /**
   * Reports the workers that stopped on their own within the settle time: an orderly stop if the master
   * is stopping by now (a TERM sent to the whole group), else what gunicorn reports for such an exit.
   */
  private reportUnexplainedExits(): void {
    const now = Date.now();
    for (let index = 0; index < this.unexplainedExits.length; ) {
      const { pid, code, signal, decideAt } = this.unexplainedExits[index]!;
      if (!this.stopping && now < decideAt) {
        index++;
        continue;
      }
      this.unexplainedExits.splice(index, 1);
      if (this.stopping) this.log.info(`Worker (pid:${pid}) ${signal ? `stopped by ${signal}` : `exited with code ${code}`} along with the master`);
      else if (signal) this.log.error(`Worker (pid:${pid}) was sent ${signal}!`);
      else this.log.warning(`Worker (pid:${pid}) exited with code ${code}`);
    }
  }

  private holdReplacements(): void {
    this.replacementsHeldUntil = Math.max(this.replacementsHeldUntil, Date.now() + SIGNAL_SETTLE_MS);
  }

  private onBootFailure(worker: WorkerProcess, failure: { exitCode: number; reason: string }): void {
    if (this.haltStatus !== undefined || this.stopping) return;
    const olderGenerationServing = [...this.workers.values()].some(
      (other) => other.generation < worker.generation && other.state === 'ready',
    );
    if (olderGenerationServing) {
      // A reload with broken code: keep the running workers rather than take the site down.
      this.log.error(`Reload failed, keeping the running workers: ${failure.reason}`);
      for (const other of this.workers.values()) if (other.generation === worker.generation) this.stopWorker(other);
      this.generation--;
      return;
    }
    const what = failure.exitCode === EXIT_APP_LOAD_ERROR ? 'App failed to load' : 'Worker failed to boot';
    this.log.error(`${what}: ${failure.reason}`);
    this.haltStatus = failure.exitCode;
    this.wakeUp();
  }

  // ------------------------------------------------------------- reload, preload, stop

  private async reload(): Promise<void> {
    void this.notifier.notify('RELOADING=1');
    try {
      const configuration = await loadConfiguration(this.options.sources);
      const next = configuration.settings;
      if (JSON.stringify(next.bind) !== JSON.stringify(this.settings.bind)) {
        this.log.warning('Reload does not change --bind: restart the server to listen elsewhere');
      }
      next.bind = this.settings.bind;
      if (next.control_socket !== this.settings.control_socket || next.control_socket_disable !== this.settings.control_socket_disable) {
        this.log.warning('Reload does not move the control socket: restart the server for another --control-socket');
        next.control_socket = this.settings.control_socket;
        next.control_socket_disable = this.settings.control_socket_disable;
      }
      // The metrics endpoint and the statsd client live as long as the master.
      for (const [key, flag] of [['metrics_bind', '--metrics-bind'], ['statsd_host', '--statsd-host'], ['statsd_prefix', '--statsd-prefix'], ['dogstatsd_tags', '--dogstatsd-tags']] as const) {
        if (JSON.stringify(next[key]) !== JSON.stringify(this.settings[key])) this.log.warning(`Reload does not change ${flag}: restart the server for that`);
      }
      next.metrics_bind = this.settings.metrics_bind;
      next.statsd_host = this.settings.statsd_host;
      next.statsd_prefix = this.settings.statsd_prefix;
      next.dogstatsd_tags = this.settings.dogstatsd_tags;
      // The logging settings are checked before anything changes: a log file that cannot be opened keeps
      // the running configuration (the new workers would open the access log themselves, and fail).
      if (next.accesslog !== undefined) new Logger({ ...this.loggerOptions(next), accesslog: next.accesslog }).close();
      if (next.errorlog !== this.settings.errorlog || next.loglevel !== this.settings.loglevel || next.log_format !== this.settings.log_format) {
        const log = this.makeLogger(next);
        this.log.close();
        this.log = log;
      }
      if (next.workers !== this.settings.workers) this.setTargetWorkers(next.workers);
      this.settings = next;
      this.origins = configuration.origins;
      this.hooks = configuration.hooks;
      for (const warning of configuration.warnings) this.log.warning(warning);
    } catch (error) {
      // No new generation either: its workers would read the same config file (for the hooks) and fail.
      this.log.error(`Reload: cannot read the configuration, keeping the current one and the running workers: ${reportOf(error)}`);
      return;
    }
    await this.runHook('on_reload');
    this.stats.reloaded();
    this.generation++;
    this.reloadAnnounced = true;
    this.wakeUp();
  }

  /** --preload: load the app in the master so a broken app fails before any worker starts. */
  private async preload(): Promise<boolean> {
    try {
      Object.assign(process.env, portEnvironment(this.served), environmentOf(this.settings));
      await loadApp(this.settings.app ?? '', {
        cwd: this.appCwd,
        factory: this.settings.factory,
        fetch: { secure: false, isTrustedProxy: () => false },
        listens: new AppListens(this.served),
        listenWaitMs: listenWaitMs(this.settings),
      });
      return true;
    } catch (error) {
      const status = error instanceof TsunicornError ? error.exitCode : EXIT_APP_LOAD_ERROR;
      this.log.error(`App failed to load: ${reportOf(error)}`);
      this.haltStatus = status;
      return false;
    }
  }

  private async watchForReload(): Promise<void> {
    const { watch } = await import('chokidar');
    const appFile = resolveAppFile(parseAppSpec(this.settings.app ?? ''), this.appCwd);
    const root = appFile ? path.dirname(appFile) : this.appCwd;
    const watcher = watch(root, {
      ignoreInitial: true,
      ignored: (file: string) => /(^|[/\\])(node_modules|\.git)([/\\]|$)/.test(file),
    });
    let timer: NodeJS.Timeout | undefined;
    watcher.on('all', (_event: string, file: string) => {
      if (!/\.(c|m)?(j|t)sx?$|\.json$/.test(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.log.info(`Reloading: ${path.relative(this.options.sources.cwd, file) || file} changed`);
        this.queueSignal('SIGHUP');
      }, 200);
    });
    watcher.once('ready', () => this.log.debug(`Watching ${root} for changes (--reload)`));
    this.reloadWatcher = watcher;
  }

  private stop(mode: 'graceful' | 'quick'): void {
    if (this.stopping === 'quick') return;
    const first = this.stopping === undefined;
    // After a USR2 the new master is the service: STOPPING=1 from this one would stop it.
    if (first && !this.upgrade?.running) void this.notifier.notify('STOPPING=1');
    this.stopping = mode;
    const limit = mode === 'graceful' ? this.settings.graceful_timeout * 1000 : QUICK_STOP_MS;
    this.stopDeadline = Date.now() + limit;
    const serving = [...this.workers.values()].some((worker) => worker.state === 'ready');
    if (mode === 'graceful' && first && this.haltStatus === undefined && serving) {
      // The workers go on serving while the master empties the backlog; their deadline runs from now.
      for (const worker of this.workers.values()) worker.killAt = Math.min(worker.killAt ?? Infinity, this.stopDeadline);
      this.drainingBacklog = true;
      void this.drainBacklog().then(() => this.closeAndStopWorkers('graceful'));
      return;
    }
    this.closeAndStopWorkers(mode);
  }

  /**
   * TERM: before the listening sockets close, accept what the kernel already holds for them. Closing a
   * listening socket resets every connection in its backlog, connections whose clients already count as
   * connected. With `shared`, the workers first close their copies of the listening sockets (the kernel
   * resets the backlog when the last copy closes: that must be the master's). Then the master accepts
   * until one turn of its event loop (each poll accepts until the kernel has nothing left) brings no new
   * connection, and hands every connection to a worker that is still serving. Bounded by BACKLOG_DRAIN_MS.
   */
  private async drainBacklog(): Promise<void> {
    const until = Date.now() + BACKLOG_DRAIN_MS;
    // Reuse-port: the workers give their sockets back, and the master empties their queues the same way.
    this.reusePort?.hold();
    if (this.settings.socket_sharing !== 'handoff') await this.unlistenWorkers(until);
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (;;) {
      const before = this.accepted;
      // Two turns: at least one poll phase (where libuv accepts) lies between them.
      await turn();
      await turn();
      if (this.accepted === before || Date.now() >= until || this.stopping === 'quick') return;
    }
  }

  /** Shared sockets: each serving worker closes its copies of the listening sockets and says so (bounded). */
  private unlistenWorkers(until: number): Promise<void> {
    return new Promise((resolve) => {
      const waiting = new Set<number>();
      for (const worker of this.workers.values()) {
        if (worker.state === 'ready' && this.send(worker, { type: 'unlisten' })) waiting.add(worker.pid);
      }
      const timer = setTimeout(done, Math.max(0, until - Date.now()));
      this.unlistening = (pid) => {
        waiting.delete(pid);
        if (waiting.size === 0) done();
      };
      if (waiting.size === 0) done();
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }

  /** The listening sockets close (later connections are refused), then every worker is told to stop. */
  private closeAndStopWorkers(mode: 'graceful' | 'quick'): void {
    if (mode === 'graceful' && this.stopping === 'quick') return;
    this.drainingBacklog = false;
    this.unlistening = undefined;
    for (const listener of this.listeners) listener.server.close();
    this.reusePort?.close();
    // Connections accepted just now go to a worker before it is told to stop (the IPC keeps the order).
    this.handover.flush();
    this.handover.close();
    for (const worker of this.workers.values()) {
      if (mode === 'graceful') {
        this.stopWorker(worker, this.stopDeadline);
      } else {
        worker.state = 'stopping';
        worker.child.kill('SIGQUIT');
      }
      worker.killAt = Math.min(worker.killAt ?? Infinity, this.stopDeadline);
    }
    this.wakeUp();
  }


  /** Stops whatever still runs (after a halt), releases sockets and the pid file; returns the exit status. */
  private async shutdown(): Promise<number> {
    if (!this.stopping) this.stop('graceful');
    if (this.haltStatus !== undefined) {
      for (const worker of this.workers.values()) {
        worker.killed = 'deadline';
        worker.child.kill('SIGKILL');
      }
    }
    while (this.workers.size > 0) {
      this.murderWorkers();
      await this.sleep(100);
    }
    await this.reloadWatcher?.close();
    await closeAll(this.listeners);
    await this.metrics?.close();
    await this.statsd?.close();
    if (this.pidFile) removePidFile(this.pidFile);
    this.reportUnexplainedExits();
    await this.runHook('on_exit');
    await this.control?.close();
    this.log.info('Shutting down: Master');
    await this.notifier.settled();
    if (this.haltStatus !== undefined) {
      this.log.info(`Reason: ${this.haltStatus === EXIT_APP_LOAD_ERROR ? 'App failed to load.' : 'Worker failed to boot.'}`);
    }
    return this.haltStatus ?? 0;
  }

  /** What the control socket's handlers see of this master, and how their commands reach the loop. */
  private controlledMaster(): ControlledMaster {
    const secure = this.settings.certfile !== undefined;
    return {
      view: () => ({
        pid: process.pid,
        generation: this.generation,
        stopping: this.stopping,
        workers: this.stats.workers(),
        summary: this.stats.summary(),
        listeners: this.listeners.map((listener) => ({
          address: listener.url,
          type: listener.address.kind === 'unix' ? 'unix' : listener.address.host.includes(':') ? 'tcp6' : 'tcp',
          tls: secure && listener.address.kind === 'tcp',
          fd: listener.server.listening ? listeningFd(listener.server) : undefined,
          inherited: listener.inherited,
          acceptedBy: this.settings.socket_sharing === 'reuse-port' ? 'workers' : this.settings.socket_sharing === 'shared' ? 'master and workers' : 'master',
        })),
        settings: this.settings,
        origins: this.origins,
      }),
      queue: (command) => {
        this.commandQueue.push(command);
        this.wakeUp();
      },
      logRead: (line) => this.log.debug(line),
    };
  }

  /**
   * Binds --metrics-bind. A master started by USR2 finds the old master still serving it: it takes the
   * address over once the old master has let it go (tried every second), serving its sockets meanwhile.
   */
  private async serveMetrics(byUsr2: boolean): Promise<void> {
    const address = this.settings.metrics_bind!;
    try {
      this.metrics = await MetricsServer.listen(address, this.stats);
    } catch (error) {
      if (!byUsr2) throw error;
      this.warnings.push(`--metrics-bind ${address.text} is still the old master's: served from here once it lets it go`);
      const retry = setInterval(() => {
        if (this.stopping) {
          clearInterval(retry);
          return;
        }
        MetricsServer.listen(address, this.stats).then((metrics) => {
          clearInterval(retry);
          if (this.stopping) void metrics.close();
          else {
            this.metrics = metrics;
            this.log.info(`Metrics at: ${metrics.url}`);
          }
        }, () => undefined);
      }, 1000);
      retry.unref();
    }
  }

  /** A master-side hook that takes the server first. */
  private runHook(name: 'on_starting' | 'when_ready' | 'on_reload' | 'child_exit' | 'on_exit', ...extra: unknown[]): Promise<void> {
    return runHook(this.log, this.hooks[name], name, [this.info, ...extra]);
  }
}
