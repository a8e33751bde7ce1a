/**
 * Entry point of a worker process (forked by the master). Waits for the master's boot message, boots,
 * and reports a failure as exit status 4 (app load error) or 3 (other boot error) with a one-line reason.
 */
import { EXIT_BOOT_ERROR, TsunicornError, firstLine } from './errors.js';
import { Logger } from './logging.js';
import { isMasterMessage, type WorkerMessage } from './messages.js';
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
  const { settings, cwd, age } = message;
  const log = new Logger({
    errorlog: settings.errorlog,
    accesslog: settings.accesslog,
    accessLogFormat: settings.access_log_format,
    loglevel: settings.loglevel,
    logFormat: settings.log_format,
  });
  const worker = new Worker(settings, cwd, log, age);
  worker.startHeartbeat();
  try {
    await worker.boot();
  } catch (error) {
    const exitCode = error instanceof TsunicornError ? error.exitCode : EXIT_BOOT_ERROR;
    if (!(error instanceof TsunicornError)) log.exception('Exception in worker process', error);
    await send({ type: 'boot-failed', exitCode, reason: firstLine(error) });
    process.exit(exitCode);
  }
  // Errors that escape the app's request handling are logged; the worker keeps serving.
  process.on('uncaughtException', (error) => log.exception('Uncaught exception in the app', error));
  process.on('unhandledRejection', (error) => log.exception('Unhandled promise rejection in the app', error));
  worker.serve();
}
