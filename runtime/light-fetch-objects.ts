/**
 * Light web objects for fetch handlers (`--fetch-objects light`, the default): building Node's own `Request`
 * and `Response` costs more CPU than a whole request served by a plain listener, so the worker hands the
 * handler an `IncomingRequest` that only builds the parts a handler touches, and replaces the global
 * `Response` with `LightResponse`, which keeps a simple body (string, bytes, none) as given so that the
 * adapter writes it straight to the Node response. Anything else a handler asks of either object builds
 * the real one on the spot and answers from it, so both behave as the standard objects do.
 *
 *   installLightGlobals();                             // once, when a fetch handler is served
 *   const request = new IncomingRequest(req, url);     // request.url, .method, .headers: no Request built
 *   const response = await handler(request);
 *   if (LightResponse.isLightResponse(response)) standard = response.writeTo(res); // undefined: written
 *
 * What it changes for an app is listed in docs/tsunicorn.md (fetch handlers: light objects).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';

/** The standard classes, taken before anything replaces the globals. */
const NativeRequest = globalThis.Request;
const NativeResponse = globalThis.Response;

/** The standard object behind a light one, built on first need. */
const toNative = Symbol('toNative');

// Node's http parser hands over upper-case methods and raw targets; these are the shapes whose URL
// the WHATWG parser returns unchanged, so the string can be used as is without building a URL.
const PLAIN_TARGET = /^\/[\w!$&()*+,\-./:;=?@~]*$/;
const DOT_SEGMENT = /\/\.{1,2}(?:[/?]|$)/;
const PLAIN_HOST = /^(?:[a-z\d-]+\.)*[a-z][a-z\d-]*(?::([1-9]\d{0,4}))?$/;
const IPV4_HOST = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?::([1-9]\d{0,4}))?$/;

/** Hosts already checked (a server sees few): the port ('' for none), or null when not plain. */
const plainHosts = new Map<string, string | null>();
const PLAIN_HOSTS_KEPT = 64;

function isPlainHost(scheme: 'http' | 'https', host: string): boolean {
  let port = plainHosts.get(host);
  if (port === undefined) {
    const match = host.includes('xn--') ? null : (PLAIN_HOST.exec(host) ?? IPV4_HOST.exec(host));
    port = match === null || Number(match[1] ?? 0) > 65535 ? null : (match[1] ?? '');
    if (plainHosts.size >= PLAIN_HOSTS_KEPT) plainHosts.clear();
    plainHosts.set(host, port);
  }
  // The URL parser drops a scheme's default port.
  return port !== null && port !== (scheme === 'https' ? '443' : '80');
}

/** `scheme://host/target` as `new URL(...).href` would spell it, without parsing in the common case. */
export function requestHref(scheme: 'http' | 'https', host: string, target: string): string {
  const href = `${scheme}://${host}${target}`;
  if (isPlainHost(scheme, host) && PLAIN_TARGET.test(target)) {
    const query = target.indexOf('?');
    if (!DOT_SEGMENT.test(query === -1 ? target : target.slice(0, query))) return href;
  }
  return new URL(href).href;
}

/** The request's headers, in order, as a web Headers. */
export function requestHeaders(incoming: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) headers.append(raw[index]!, raw[index + 1]!);
  return headers;
}

/** Node's own Request for an incoming request, its body streamed from it. */
export function standardRequest(incoming: IncomingMessage, url: string, headers: Headers, signal: AbortSignal): Request {
  const method = incoming.method ?? 'GET';
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = Readable.toWeb(incoming);
    init.duplex = 'half';
  }
  return new NativeRequest(url, init);
}

/**
 * The request a fetch handler receives: `instanceof Request`, with `url`, `method`, `headers` and `signal`
 * answered without building a `Request`; any other member (the body readers, `clone()`, `cache`...) builds
 * the standard `Request` once (body streamed from the Node request) and answers from it.
 */
export class IncomingRequest {
  readonly #incoming: IncomingMessage;
  readonly #url: string;
  #headers: Headers | undefined;
  #controller: AbortController | undefined;
  #aborted = false;
  #native: Request | undefined;

  constructor(incoming: IncomingMessage, url: string) {
    this.#incoming = incoming;
    this.#url = url;
  }

  static isIncomingRequest(value: unknown): value is IncomingRequest {
    return typeof value === 'object' && value !== null && #incoming in value;
  }

  get url(): string {
    return this.#url;
  }

  get method(): string {
    return this.#incoming.method ?? 'GET';
  }

  get headers(): Headers {
    if (this.#native) return this.#native.headers;
    this.#headers ??= requestHeaders(this.#incoming);
    return this.#headers;
  }

  get signal(): AbortSignal {
    return this.#abortController().signal;
  }

  /** The client went away before the response was complete (a static, so handlers see no extra member). */
  static abort(request: IncomingRequest): void {
    request.#aborted = true;
    request.#controller?.abort();
  }

  #abortController(): AbortController {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort();
    }
    return this.#controller;
  }

  [toNative](): Request {
    this.#native ??= standardRequest(this.#incoming, this.#url, this.headers, this.#abortController().signal);
    return this.#native;
  }
}

/** Simple response bodies, kept as given and written in one piece. */
type SimpleBody = string | Uint8Array | null | undefined;

/** The status codes that may not carry a body (the standard constructor throws for them). */
const NULL_BODY_STATUS = new Set([204, 205, 304]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TEXT_CONTENT_TYPE = 'text/plain;charset=UTF-8';

function isSimple(body: unknown, init: ResponseInit | undefined): body is SimpleBody {
  if (!(body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array)) return false;
  if (init === undefined) return true;
  if (typeof init !== 'object' || init === null || init instanceof NativeResponse) return false;
  const { status, statusText } = init;
  if (status !== undefined && !(Number.isInteger(status) && status >= 200 && status <= 599)) return false;
  if (status !== undefined && body != null && NULL_BODY_STATUS.has(status)) return false;
  return statusText === undefined || (typeof statusText === 'string' && REASON_PHRASE.test(statusText));
}

/**
 * The global `Response` while light objects are on: `new Response('text' | bytes | null, init)` keeps its
 * parts; any other body (a stream, a Blob, FormData...) or unusual init builds the standard Response at once,
 * so errors are thrown where the standard constructor throws them. `instanceof Response` holds for both.
 */
export class LightResponse {
  #body: SimpleBody;
  #status = 200;
  #statusText = '';
  #headers: Headers | undefined;
  #native: Response | undefined;

  constructor(body?: ConstructorParameters<typeof Response>[0], init?: ResponseInit) {
    if (!isSimple(body, init)) {
      this.#native = new NativeResponse(body, init);
      return;
    }
    // The standard constructor copies bytes: changing the array afterwards does not change the answer.
    this.#body = body instanceof Uint8Array ? new Uint8Array(body) : body;
    if (init) {
      if (init.status !== undefined) this.#status = init.status;
      if (init.statusText !== undefined) this.#statusText = init.statusText;
      if (init.headers !== undefined) this.#headers = this.#defaultHeaders(new Headers(init.headers));
    }
  }

  /** What the standard constructor adds: a string body is text unless the headers say otherwise. */
  #defaultHeaders(headers: Headers): Headers {
    if (typeof this.#body === 'string' && !headers.has('content-type')) headers.set('content-type', TEXT_CONTENT_TYPE);
    return headers;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    // `x instanceof Response` is true for standard responses too; a subclass keeps the ordinary check.
    if (this === LightResponse) return value instanceof NativeResponse;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  get status(): number {
    return this.#native ? this.#native.status : this.#status;
  }

  get ok(): boolean {
    const status = this.status;
    return status >= 200 && status <= 299;
  }

  get statusText(): string {
    return this.#native ? this.#native.statusText : this.#statusText;
  }

  get headers(): Headers {
    if (this.#native) return this.#native.headers;
    this.#headers ??= this.#defaultHeaders(new Headers());
    return this.#headers;
  }

  [toNative](): Response {
    this.#native ??= new NativeResponse(this.#body, { status: this.#status, statusText: this.#statusText, headers: this.headers });
    return this.#native;
  }

  static isLightResponse(value: unknown): value is LightResponse {
    return typeof value === 'object' && value !== null && #body in value;
  }

  /**
   * Writes the response straight to `res` while it is light; once a handler has made it a standard one
   * (by reading its body, say), returns that instead, for the caller to stream.
   */
  writeTo(res: ServerResponse): Response | undefined {
    if (this.#native) return this.#native;
    const body = this.#body;
    const empty = body === null || body === undefined;
    if (!this.#headers) {
      // The common case, in one call. HEAD keeps the Content-Length of the GET answer; Node leaves the
      // body out. No body: Node decides (Content-Length: 0, or nothing for 204 and 304).
      const headers = empty ? {} : typeof body === 'string' ? { 'content-type': TEXT_CONTENT_TYPE, 'content-length': Buffer.byteLength(body) } : { 'content-length': body.byteLength };
      if (this.#statusText) res.writeHead(this.#status, this.#statusText, headers);
      else res.writeHead(this.#status, headers);
      res.end(body);
      return undefined;
    }
    res.statusCode = this.#status;
    if (this.#statusText) res.statusMessage = this.#statusText;
    // Node keeps each Set-Cookie a header of its own (a Headers getter would join them with commas).
    res.setHeaders(this.#headers);
    if (!empty && !res.hasHeader('content-length') && !res.hasHeader('transfer-encoding')) {
      res.setHeader('content-length', typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    }
    res.end(body);
    return undefined;
  }
}

/** The global `Request` while light objects are on: accepts an IncomingRequest as input (`new Request(request)`). */
class RequestAcceptingIncoming extends NativeRequest {
  constructor(input: ConstructorParameters<typeof Request>[0] | IncomingRequest, init?: RequestInit) {
    super(IncomingRequest.isIncomingRequest(input) ? input[toNative]() : input, init);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this === RequestAcceptingIncoming) return value instanceof NativeRequest;
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** Makes every other member of the standard prototype answer from the standard object. */
function delegateToNative(light: { prototype: object }, native: { prototype: object }): void {
  for (const name of Object.getOwnPropertyNames(native.prototype)) {
    if (name === 'constructor' || Object.hasOwn(light.prototype, name)) continue;
    const descriptor = Object.getOwnPropertyDescriptor(native.prototype, name)!;
    if (descriptor.get) {
      Object.defineProperty(light.prototype, name, {
        configurable: true,
        enumerable: descriptor.enumerable,
        get(this: { [toNative](): object }) {
          return (this[toNative]() as Record<string, unknown>)[name];
        },
      });
    } else if (typeof descriptor.value === 'function') {
      Object.defineProperty(light.prototype, name, {
        configurable: true,
        enumerable: descriptor.enumerable,
        writable: true,
        value(this: { [toNative](): object }, ...args: unknown[]) {
          const target = this[toNative]() as Record<string, (...args: unknown[]) => unknown>;
          return target[name]!(...args);
        },
      });
    }
  }
  Object.setPrototypeOf(light.prototype, native.prototype);
}

delegateToNative(IncomingRequest, NativeRequest);
delegateToNative(LightResponse, NativeResponse);
// Response.json(), Response.redirect(), Response.error() stay the standard ones (they return standard objects).
Object.setPrototypeOf(LightResponse, NativeResponse);

/** fetch() accepting an IncomingRequest (`fetch(request)` in a proxy): Node's fetch checks the class inside. */
function fetchAcceptingIncoming(nativeFetch: typeof fetch): typeof fetch {
  return (input, init) => nativeFetch(IncomingRequest.isIncomingRequest(input) ? input[toNative]() : input, init);
}

/** Replaces the global Response, Request and fetch; idempotent. */
export function installLightGlobals(): void {
  if (globalThis.Response === (LightResponse as unknown as typeof Response)) return;
  const define = (name: 'Response' | 'Request' | 'fetch', value: unknown) =>
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
  define('Response', LightResponse);
  define('Request', RequestAcceptingIncoming);
  define('fetch', fetchAcceptingIncoming(globalThis.fetch));
}
