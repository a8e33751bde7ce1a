/**
 * Entry point of a worker process (forked by the master). Waits for the master's boot message, boots,
 * and reports a failure as exit status 4 (app load error) or 3 (other boot error) with a one-line reason.
 */
import { BootError, EXIT_BOOT_ERROR, TsunicornError, firstLine, reportOf } from './errors.js';
import { Logger } from './logging.js';
import { isMasterMessage, type WorkerMessage } from './messages.js';
import type { Settings } from './settings.js';
import { Worker } from './worker.js';

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || !process.send) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

process.once('message', (message: unknown) => void boot(message));

async function boot(message: unknown): Promise<void> {
  if (!isMasterMessage(message) || message.type !== 'boot') return;
  const { settings, cwd, age, served } = message;
  const log = new Logger({
    errorlog: settings.errorlog,
    accesslog: settings.accesslog,
    accessLogFormat: settings.access_log_format,
    loglevel: settings.loglevel,
    logFormat: settings.log_format,
  });
  process.title = `tsunicorn: worker [${settings.proc_name ?? settings.app ?? ''}]`;
  const worker = new Worker(settings, cwd, log, age, served);
  worker.startHeartbeat();
  try {
    // After the log files are open, before the config's hooks and the app load: they run as --user.
    runAs(settings);
    await worker.boot();
  } catch (error) {
    const exitCode = error instanceof TsunicornError ? error.exitCode : EXIT_BOOT_ERROR;
    if (!(error instanceof TsunicornError)) log.exception('Exception in worker process', error);
    await send({ type: 'boot-failed', exitCode, reason: reportOf(error) });
    process.exit(exitCode);
  }
  // Errors that escape the app's request handling are logged; the worker keeps serving.
  process.on('uncaughtException', (error) => log.exception('Uncaught exception in the app', error));
  process.on('unhandledRejection', (error) => log.exception('Unhandled promise rejection in the app', error));
  worker.serve();
}

/**
 * --user / --group (and --initgroups), as gunicorn's workers switch: group first, while still allowed to,
 * then the user. As root without --initgroups the worker keeps no supplementary group but --group's.
 */
function runAs(settings: Settings): void {
  const { user, group } = settings;
  if (user === undefined && group === undefined) return;
  const what = [user !== undefined ? `--user ${user}` : '', group !== undefined ? `--group ${group}` : ''].filter(Boolean).join(' ');
  try {
    const asRoot = process.getuid?.() === 0;
    if (group !== undefined) process.setgid?.(numericOrName(group));
    if (asRoot) {
      if (settings.initgroups && user !== undefined) initgroups(numericOrName(user), process.getgid?.() ?? 0);
      else process.setgroups?.([process.getgid?.() ?? 0]);
    }
    if (user !== undefined) process.setuid?.(numericOrName(user));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'EPERM' ? 'not permitted (switching needs root)' : firstLine(error);
    throw new BootError(`cannot run the workers as ${what}: ${reason}`);
  }
}

function numericOrName(value: string): string | number {
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** process.initgroups (POSIX; missing from @types/node 20). */
function initgroups(user: string | number, extraGroup: number): void {
  const call = (process as { initgroups?: (user: string | number, extraGroup: number) => void }).initgroups;
  if (!call) throw new Error('--initgroups: this platform has no initgroups');
  call(user, extraGroup);
}
