/**
 * `tsunicorn --check-config APP` (and `--print-config`, which prints first): does what a worker does
 * before it serves, without serving: opens the log files, reads the TLS files, imports the config
 * file's hooks and the app, and refuses an app shape the settings cannot serve. Prints one line per
 * problem and nothing else; the CLI exits 0 when the list is empty, else 1. No hook runs, nothing binds.
 *
 *   const problems = await checkConfiguration(configuration, cwd);
 */
import { readFileSync } from 'node:fs';
import { loadApp } from './app-loader.js';
import { AppListens, listenWaitMs, portEnvironment, servedAddressesOfBind } from './app-listen.js';
import type { Configuration } from './configuration.js';
import { loadConfigHooks } from './configuration.js';
import { firstLine, reportOf } from './errors.js';
import { Logger } from './logging.js';
import { checkNodeInternals } from './node-internals.js';

export async function checkConfiguration(configuration: Configuration, cwd: string): Promise<string[]> {
  const { settings } = configuration;
  const problems: string[] = [];
  const attempt = async (step: () => unknown) => {
    try {
      await step();
    } catch (error) {
      problems.push(reportOf(error));
    }
  };
  await attempt(() => checkNodeInternals('master'));
  await attempt(() =>
    new Logger({
      errorlog: settings.errorlog,
      accesslog: settings.accesslog,
      accessLogFormat: settings.access_log_format,
      loglevel: settings.loglevel,
      logFormat: settings.log_format,
    }).close(),
  );
  for (const [flag, file] of [['--certfile', settings.certfile], ['--keyfile', settings.keyfile]] as const) {
    if (file !== undefined) await attempt(() => readTlsFile(flag, file));
  }
  // A worker imports the config file itself, for its hooks.
  if (settings.config) await attempt(() => loadConfigHooks(settings.config!));
  if (!settings.app) {
    problems.push('missing APP: usage is tsunicorn --check-config [OPTIONS] path/to/module[:name]');
    return problems;
  }
  await attempt(async () => {
    // As a worker finds it: PORT is the port served; the app's own listen() binds nothing.
    const served = servedAddressesOfBind(settings.bind);
    Object.assign(process.env, portEnvironment(served));
    const app = await loadApp(settings.app!, {
      cwd,
      factory: settings.factory,
      fetch: { secure: settings.certfile !== undefined, isTrustedProxy: () => false, objects: settings.fetch_objects },
      listens: new AppListens(served),
      listenWaitMs: listenWaitMs(settings),
    });
    if (app.kind === 'server' && settings.certfile) {
      throw new Error('--certfile/--keyfile apply to servers tsunicorn builds: the app exports its own server, so build it with https.createServer({ cert, key }) instead');
    }
  });
  return problems;
}

function readTlsFile(flag: string, file: string): void {
  try {
    readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read ${flag} ${file}: ${firstLine(error)}`, { cause: error });
  }
}
