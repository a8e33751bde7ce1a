/**
 * Serves a fetch-style handler (`(request: Request) => Response`) from Node's http server: the Node request
 * becomes a web Request (body streamed, aborted when the client goes away) and the Response is written back
 * to the Node response, streaming its body with backpressure.
 *
 * With light objects (the default, `--fetch-objects light`) the Request is an IncomingRequest that builds
 * only what the handler touches, and a LightResponse with a simple body is written in one go; with
 * `--fetch-objects standard` both are Node's own objects, built for every request.
 *
 *   const listener = fetchToRequestListener((request) => new Response('hi'), { secure: false, isTrustedProxy, objects: 'light' });
 *   createStrictServer(listener, limits);
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { IncomingRequest, installLightGlobals, LightResponse, requestHeaders, requestHref, standardRequest } from './light-fetch-objects.js';
import { describeValue } from './errors.js';
import type { FetchObjects } from './settings.js';

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface FetchAdapterOptions {
  /** Whether the server itself speaks TLS (https:// URLs). */
  secure: boolean;
  /** Whether a peer may tell the scheme through X-Forwarded-Proto (--forwarded-allow-ips). */
  isTrustedProxy: (address: string | undefined) => boolean;
  /** --fetch-objects; standard when absent (nothing global is replaced). */
  objects?: FetchObjects;
}

/** The Response class the handler's results are checked against, taken before light objects replace it. */
const StandardResponse = globalThis.Response;

function requestUrl(req: IncomingMessage, options: FetchAdapterOptions): string {
  let scheme: 'http' | 'https' = options.secure ? 'https' : 'http';
  const forwarded = req.headers['x-forwarded-proto'];
  if (typeof forwarded === 'string' && options.isTrustedProxy(req.socket.remoteAddress)) {
    const value = forwarded.split(',')[0]!.trim().toLowerCase();
    if (value === 'https' || value === 'http') scheme = value;
  }
  return requestHref(scheme, req.headers.host ?? 'localhost', req.url ?? '/');
}

export async function writeWebResponse(response: Response, res: ServerResponse, method: string | undefined): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  // Node keeps each Set-Cookie a header of its own (a Headers getter would join them with commas).
  res.setHeaders(response.headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body.getReader();
  try {
    // A body that is complete at once (a string, a buffer) goes out with a Content-Length, in one write.
    // A stream that has nothing more to give in this turn of the event loop is streamed as it comes, so
    // its first chunk (a server-sent event, say) is not held back until a second one exists.
    const first = await reader.read();
    if (first.done) {
      res.end();
      return;
    }
    const next = reader.read();
    const ready = await Promise.race([next, new Promise<undefined>((resolve) => setImmediate(() => resolve(undefined)))]);
    if (ready?.done) {
      if (!res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) {
        res.setHeader('content-length', first.value.byteLength);
      }
      // HEAD keeps the Content-Length of the GET answer; Node leaves the body out itself.
      res.end(first.value);
      return;
    }
    if (method === 'HEAD') {
      // A stream that goes on (server-sent events, say) has no length to announce and no end to wait for.
      await reader.cancel();
      res.end();
      return;
    }
    if (!(await writeChunk(res, first.value))) {
      await reader.cancel();
      return;
    }
    for (let chunk = ready ?? (await next); !chunk.done; chunk = await reader.read()) {
      if (!(await writeChunk(res, chunk.value))) {
        await reader.cancel();
        return;
      }
    }
    res.end();
  } finally {
    reader.releaseLock();
  }
}

/** Writes one chunk, waiting for 'drain' when the socket is full; false when the client is gone. */
async function writeChunk(res: ServerResponse, chunk: Uint8Array): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  await new Promise<void>((resolve) => {
    const settle = () => {
      res.off('drain', settle);
      res.off('close', settle);
      resolve();
    };
    res.on('drain', settle);
    res.on('close', settle);
  });
  return !res.destroyed;
}

export function fetchToRequestListener(handler: FetchHandler, options: FetchAdapterOptions): RequestListener {
  if (options.objects === 'light') {
    installLightGlobals();
    return (req, res) => {
      const request = new IncomingRequest(req, requestUrl(req, options));
      // A throw or a rejection reaches the worker's error boundary, which logs it and answers 500.
      const result = handler(request as unknown as Request);
      const pending = isPromiseLike(result) ? Promise.resolve(result).then((response) => respond(response, req, res)) : respond(result, req, res);
      // Written at once: no client can have gone away yet, so the signal needs no watching.
      if (pending === undefined) return;
      res.once('close', () => {
        if (!res.writableFinished) IncomingRequest.abort(request);
      });
      return pending as unknown as void;
    };
  }
  return (req, res) => {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    // Returned so the worker's error boundary sees a rejection and answers 500.
    return (async () => {
      const response = await handler(standardRequest(req, requestUrl(req, options), requestHeaders(req), controller.signal));
      await respond(response, req, res);
    })() as unknown as void;
  };
}

/** Writes what the handler returned: a light response in one go, a standard one through its stream. */
function respond(response: unknown, req: IncomingMessage, res: ServerResponse): Promise<void> | undefined {
  if (LightResponse.isLightResponse(response)) {
    const standard = response.writeTo(res);
    return standard && writeWebResponse(standard, res, req.method);
  }
  if (!(response instanceof StandardResponse)) {
    throw new TypeError(`the fetch handler returned ${describeValue(response)}, not a Response`);
  }
  return writeWebResponse(response, res, req.method);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';
}

