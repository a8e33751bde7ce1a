/**
 * Every Node.js internal tsunicorn relies on, in one place. Node documents none of these; each accessor
 * says why it is needed. `checkNodeInternals()` runs at boot (master and workers) and throws a BootError
 * (one line, exit 3) naming what this Node.js lacks, instead of letting a check silently stop working:
 *
 *   checkNodeInternals();                          // throws BootError: "... (socket.parser missing)"
 *   const parser = httpParserOf(socket);           // after http.Server's own 'connection' listener
 *   onParserExecute(parser, (ret, nodeHandling) => { scan(parserCurrentBuffer(parser)); nodeHandling(ret); });
 *
 * Checked on Node 20, 22 and 24.
 */
import http, { type ServerResponse } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BootError } from './errors.js';

/** What tsunicorn uses of Node's per-connection HTTP parser (node_http_parser.cc, _http_server.js). */
export interface NativeHttpParser {
  /** True while the parser reads the socket's handle itself (C++), with no JavaScript 'data' events. */
  _consumed?: boolean;
  /** A copy of the bytes being parsed; only valid inside the kOnExecute callback. */
  getCurrentBuffer(): Buffer;
}

interface ParserConstructor {
  kOnExecute?: unknown;
}

type ExecuteCallback = (ret: number | Error) => unknown;

let checked = false;

/** Verifies every internal below once per process; throws BootError naming the first one missing. */
export function checkNodeInternals(): void {
  if (checked) return;
  const missing = probeHttpConnection();
  if (missing) {
    throw new BootError(
      `tsunicorn: Node.js ${process.version} lacks an internal the strict HTTP layer needs (${missing}); use Node.js 20, 22 or 24`,
    );
  }
  checked = true;
}

/**
 * Hands a socket with a real stream handle to an http.Server, as a connection would be, and looks at what
 * Node set up. The handle comes from connecting to a unix socket path that does not exist: connect()
 * creates it synchronously and the failure arrives later, unheard. Nothing is sent or listened on.
 */
function probeHttpConnection(): string | undefined {
  const server = http.createServer();
  const socket = new net.Socket();
  socket.on('error', () => undefined);
  try {
    try {
      socket.connect(path.join(os.tmpdir(), `tsunicorn-probe-${process.pid}-absent.sock`));
    } catch (error) {
      return `no stream handle for a probe socket: ${(error as Error).message}`;
    }
    const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle;
    if (typeof handle?.writeQueueSize !== 'number') return 'socket._handle.writeQueueSize missing';
    const nodeListeners = socket.listenerCount('data');
    server.emit('connection', socket);
    const parser = (socket as unknown as { parser?: unknown }).parser as (NativeHttpParser & Record<number, unknown>) | undefined;
    if (!parser || typeof parser !== 'object') return 'socket.parser missing';
    const key = (parser.constructor as ParserConstructor).kOnExecute;
    if (typeof key !== 'number') return 'HTTPParser.kOnExecute missing';
    if (typeof parser[key] !== 'function') return 'parser[kOnExecute] missing';
    if (typeof parser.getCurrentBuffer !== 'function') return 'parser.getCurrentBuffer missing';
    if (parser._consumed !== true) return 'parser._consumed not set: Node does not parse the socket natively';
    if (socket.listenerCount('data') !== nodeListeners + 1) return "http.Server's own socket data listener missing";
    return undefined;
  } finally {
    socket.destroy();
  }
}

/**
 * Node's HTTP parser of a socket http.Server set up (null once Node freed it for an upgrade or CONNECT).
 * Needed to see each read's bytes without taking the read path away from the parser.
 */
export function httpParserOf(socket: net.Socket): NativeHttpParser | null {
  const parser = (socket as unknown as { parser?: NativeHttpParser | null }).parser;
  return parser ?? null;
}

/**
 * Whether the parser reads the socket natively. Node only calls kOnExecute on that path; a socket that
 * is read through JavaScript never reaches the hook below, so the strict layer refuses to run without it.
 */
export function parsesNatively(parser: NativeHttpParser): boolean {
  return parser._consumed === true;
}

/**
 * Puts `hook` in front of the callback Node's C++ parser calls after each read it parsed natively
 * (`parser[HTTPParser.kOnExecute]`, set by http.Server per connection). `hook` runs with the parser's
 * result (bytes parsed, or the parse error) while getCurrentBuffer() still holds the bytes, and decides
 * whether Node's own handling (errors, upgrades, pausing) runs after it.
 */
export function onParserExecute(parser: NativeHttpParser, hook: (ret: number | Error, nodeHandling: ExecuteCallback) => void): void {
  const slots = parser as unknown as Record<number, unknown>;
  const key = (parser.constructor as ParserConstructor).kOnExecute as number;
  const nodeHandling = slots[key] as ExecuteCallback;
  slots[key] = (ret: number | Error) => hook(ret, nodeHandling);
}

/** The bytes the parser is executing; only inside the kOnExecute hook (a copy: the read buffer is reused). */
export function parserCurrentBuffer(parser: NativeHttpParser): Buffer {
  return parser.getCurrentBuffer();
}

/**
 * Stops Node's parser from seeing more input and hands every later read to `listener`. Node's own 'data'
 * listener (which feeds the parser once it no longer reads natively) is removed; adding ours makes
 * http.Server's listener wrapper stop the native read, so reads arrive in JavaScript.
 */
export function takeSocketInput(socket: net.Socket, listener: (chunk: Buffer) => void): void {
  for (const own of socket.listeners('data')) socket.removeListener('data', own as (chunk: Buffer) => void);
  socket.on('data', listener);
}

/**
 * Makes Node close the connection once this response is out, and say so in a `Connection: close` header
 * (`OutgoingMessage#shouldKeepAlive`). A header set by the server would be the app's to change or remove.
 */
export function closeAfterResponse(res: ServerResponse): void {
  res.shouldKeepAlive = false;
}

/** Whether Node keeps the connection open after this response (what the request and app asked for). */
export function keepsAlive(res: ServerResponse): boolean {
  return res.shouldKeepAlive;
}

/**
 * Bytes libuv still holds for writing on the socket's handle (0 without one). A large response is one
 * write whose callback only fires at its end, so this is the only progress a slow reader shows meanwhile.
 */
export function handleWriteQueueSize(socket: net.Socket): number {
  const size = (socket as unknown as { _handle?: { writeQueueSize?: unknown } | null })._handle?.writeQueueSize;
  return typeof size === 'number' ? size : 0;
}
