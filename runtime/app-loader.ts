/**
 * Loads the APP (`path/to/module[:name]` or `package[:name]`) and turns whatever it exports into either
 * one Node request listener or the server the app built. Accepted shapes: a request listener `(req, res)`,
 * a fetch handler `(request)` or an object with `fetch()`, an object with `callback()` (Koa), an
 * `http.Server`/`https.Server` that is not listening (Socket.IO, ws, Fastify's `app.server`), and with
 * --factory a function returning any of those. A server the app listen()s on itself (see app-listen.ts)
 * comes first, whatever the module exports; a module that exports nothing usable is given until it has
 * nothing left to do (or --timeout) to call listen(). Every failure is an AppLoadError with a one-line reason.
 *
 *   const app = await loadApp('examples/app.js', { cwd, factory: false, fetch: adapterOptions, listens, listenWaitMs });
 *   if (app.kind === 'server') app.server.emit('connection', socket); else app.listener(req, res);
 */
import { existsSync } from 'node:fs';
import http, { type RequestListener } from 'node:http';
import type https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { AppLoadError, describeValue, firstLine } from './errors.js';
import { describeSyntaxError } from './source-location.js';
import { AppListens } from './app-listen.js';
// Types only: the adapter is imported for a fetch handler alone (it reads the global Request and Response,
// which makes Node load its fetch implementation, several MB of a worker's memory).
import type { FetchAdapterOptions, FetchHandler } from './fetch-adapter.js';
import { isHttpsServer } from './http/tls-modules.js';
import { importModule } from './typescript-loader.js';

export interface AppSpec {
  /** A file path (as given) or a package specifier. */
  module: string;
  /** The export to use; undefined means default, then `app`, then `handler`. */
  name: string | undefined;
}

export interface LoadAppOptions {
  cwd: string;
  factory: boolean;
  fetch: FetchAdapterOptions;
  /** Takes the app's own listen() calls (installed here, before the import, when it is not yet). */
  listens: AppListens;
  /** How long an app that exports nothing usable may take to call listen() (--timeout). */
  listenWaitMs: number;
}

export type LoadedApp =
  | { kind: 'listener'; listener: RequestListener }
  /** A server the app built: tsunicorn hands it connections and never calls listen() on it. */
  | { kind: 'server'; server: http.Server | https.Server };

/** `server` before `app`: a module exporting both (Socket.IO's usual layout) is served with its upgrades. */
const DEFAULT_EXPORTS = ['default', 'server', 'app', 'handler'];

/** Splits `module:name`; a colon followed by something that is not an identifier belongs to the path. */
export function parseAppSpec(spec: string): AppSpec {
  const match = /^(.+):([A-Za-z_$][\w$]*)$/.exec(spec);
  if (match && !/^[A-Za-z]$/.test(match[1]!)) return { module: match[1]!, name: match[2] };
  return { module: spec, name: undefined };
}

/** The file the module resolves to, when it is a file path (for --reload and TypeScript). */
export function resolveAppFile(spec: AppSpec, cwd: string): string | undefined {
  const looksLikePath = /^(\.{1,2}\/|\/)/.test(spec.module) || /\.(c|m)?(j|t)sx?$/.test(spec.module);
  const candidate = path.resolve(cwd, spec.module);
  if (existsSync(candidate)) return candidate;
  return looksLikePath ? candidate : undefined;
}

async function importAppModule(spec: AppSpec, cwd: string): Promise<Record<string, unknown>> {
  const file = resolveAppFile(spec, cwd);
  let url: string;
  if (file !== undefined) {
    if (!existsSync(file)) throw new AppLoadError(`cannot load app ${spec.module}: no such file`);
    url = pathToFileURL(file).href;
  } else {
    // A package specifier, resolved from the current directory's node_modules.
    try {
      url = pathToFileURL(createRequire(path.join(cwd, 'package.json')).resolve(spec.module)).href;
    } catch {
      url = spec.module;
    }
  }
  try {
    return await importModule(file, url, cwd);
  } catch (error) {
    throw new AppLoadError(`cannot load app ${spec.module}: ${describeSyntaxError(error, file) ?? describeLoadError(error)}`);
  }
}

function describeLoadError(error: unknown): string {
  const line = firstLine(error);
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  // Point at the app's own file:line when the error came from its code.
  const frames = [...stack.matchAll(/^\s+at (?:.*?\()?((?:file:\/\/)?\/[^()\s]+:\d+:\d+)\)?$/gm)].map((match) => match[1]!);
  const where = frames.find((frame) => !frame.includes('/node_modules/') && !frame.includes('/dist/runtime/'));
  const name = error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : '';
  return where ? `${name}${line} (${where.replace(/^file:\/\//, '')})` : `${name}${line}`;
}

export function isServer(value: unknown): value is http.Server | https.Server {
  return value instanceof http.Server || isHttpsServer(value);
}

/** Whether a value is one of the accepted app shapes. */
function isUsable(value: unknown): boolean {
  if (typeof value === 'function' || isServer(value)) return true;
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    return typeof object.fetch === 'function' || typeof object.callback === 'function';
  }
  return false;
}

/** Turns one exported value into a Node request listener, or takes the server the app built. */
export async function toLoadedApp(value: unknown, fetchOptions: FetchAdapterOptions, source: string): Promise<LoadedApp> {
  if (isServer(value)) {
    if (value.listening) {
      throw new AppLoadError(
        `${source} is a server already bound to a socket of its own: let tsunicorn serve it (server.listen(process.env.PORT), or export it unstarted); tsunicorn binds the addresses and hands it the connections`,
      );
    }
    return { kind: 'server', server: value };
  }
  return { kind: 'listener', listener: await toRequestListener(value, fetchOptions, source) };
}

async function toRequestListener(value: unknown, fetchOptions: FetchAdapterOptions, source: string): Promise<RequestListener> {
  const adapt = async (handler: FetchHandler) => (await import('./fetch-adapter.js')).fetchToRequestListener(handler, fetchOptions);
  if (typeof value === 'function') {
    // (req, res) and Express's (req, res, next) take two or more; a fetch handler takes the request only.
    if (value.length >= 2) return value as RequestListener;
    return adapt(value as FetchHandler);
  }
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object.fetch === 'function') {
      const fetch = object.fetch as FetchHandler;
      return adapt((request) => fetch.call(object, request));
    }
    if (typeof object.callback === 'function') {
      const listener = (object.callback as () => unknown).call(object);
      if (typeof listener !== 'function') {
        throw new AppLoadError(`${source}.callback() returned ${describeValue(listener)}, not a request listener`);
      }
      return listener as RequestListener;
    }
  }
  throw new AppLoadError(
    `${source} is ${describeValue(value)}: expected a request listener (req, res), a fetch handler (request), ` +
      'an object with fetch() or callback(), or an http.Server that is not listening',
  );
}

/** The takeovers already installed (once per process: the worker's, or the master's for --preload). */
const installed = new WeakSet<AppListens>();

export async function loadApp(specText: string, options: LoadAppOptions): Promise<LoadedApp> {
  const spec = parseAppSpec(specText);
  const { listens } = options;
  if (!installed.has(listens)) {
    listens.install();
    installed.add(listens);
  }
  const namespace = await importAppModule(spec, options.cwd);
  listens.checkRefusals();
  // The server the app started itself is the one it means to serve, whatever it exports besides.
  const started = (): LoadedApp | undefined => (listens.server ? { kind: 'server', server: listens.server } : undefined);
  let exportName: string;
  if (spec.name !== undefined) {
    if (namespace[spec.name] === undefined) {
      throw new AppLoadError(`cannot load app ${spec.module}: it has no export named "${spec.name}"`);
    }
    exportName = spec.name;
  } else {
    const wanted = (value: unknown) => (options.factory ? typeof value === 'function' : isUsable(value));
    const found = DEFAULT_EXPORTS.find((name) => wanted(namespace[name]));
    if (found === undefined) {
      const present = Object.keys(namespace).filter((key) => namespace[key] !== undefined);
      const expected = `${options.factory ? 'a factory function' : 'an app'} as the default export, "server", "app" or "handler" (exports: ${present.length ? present.join(', ') : 'none'})`;
      if (options.factory) throw new AppLoadError(`${spec.module} exports nothing usable: expected ${expected}`);
      // An app that listen()s once it is ready (Fastify after its plugins, an app after its database).
      const nothing = (waitedMs: number) => new AppLoadError(
        `${spec.module} exports nothing usable: expected it to call listen() on its server (it ` +
          `${waitedMs >= options.listenWaitMs ? `did not within ${Math.round(waitedMs / 1000)} s, --timeout` : 'has nothing left to do and did not'}), or ${expected}`,
      );
      return { kind: 'server', server: await listens.waitForServer(options.listenWaitMs, nothing) };
    }
    exportName = found;
  }
  const source = `${spec.module}:${exportName}`;
  let value = namespace[exportName];
  if (options.factory) {
    if (typeof value !== 'function') throw new AppLoadError(`--factory: ${source} is ${describeValue(value)}, not a function`);
    try {
      value = await (value as () => unknown)();
    } catch (error) {
      throw new AppLoadError(`--factory: ${source}() failed: ${describeLoadError(error)}`);
    }
    listens.checkRefusals();
    return started() ?? toLoadedApp(value, options.fetch, `${source}()`);
  }
  return started() ?? toLoadedApp(value, options.fetch, source);
}
