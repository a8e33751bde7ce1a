/**
 * Every Node.js internal tsunicorn relies on, in one place. Node documents none of these; each accessor
 * says why it is needed. `checkNodeInternals()` runs at boot (master and workers) and throws a BootError
 * (one line, exit 3) naming what this Node.js lacks, instead of letting a check silently stop working:
 *
 *   checkNodeInternals('master');                  // the CLI, before any worker: HTTP and IPC internals
 *   checkNodeInternals();                          // throws BootError: "... (socket.parser missing)"
 *   const parser = httpParserOf(socket);           // after http.Server's own 'connection' listener
 *   onParserExecute(parser, { afterParse(ret, nodeHandling) { scan(parserCurrentBuffer(parser)); nodeHandling(ret); } });
 *   const unsent = takeUnacknowledgedHandles(child);    // connections a worker that exited never took
 *   const pending = activeResourceKinds();              // ['Timeout', 'TCPSocketWrap', ...]
 *
 * Checked on Node 20, 22, 24 and 26.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http, { type ServerResponse } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import util from 'node:util';
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

let checkedHttp = false;
let checkedIpc = false;
let checkedResources = false;

/**
 * Verifies the internals below once per process; throws BootError naming the first one missing. The
 * master also checks the ChildProcess internals its hand-over uses (a worker forks nothing).
 */
export function checkNodeInternals(role: 'master' | 'server' = 'server'): void {
  if (!checkedHttp) {
    const missing = probeHttpConnection();
    if (missing) throw lacking('the strict HTTP layer', missing);
    checkedHttp = true;
  }
  if (!checkedResources) {
    if (typeof resourcesInfo() !== 'function') throw lacking("the wait for an app's listen()", 'process.getActiveResourcesInfo missing');
    checkedResources = true;
  }
  if (role === 'master' && !checkedIpc) {
    const missing = probeChildProcess();
    if (missing) throw lacking('the master', missing);
    checkedIpc = true;
  }
}

function lacking(who: string, missing: string): BootError {
  return new BootError(`tsunicorn: Node.js ${process.version} lacks an internal ${who} needs (${missing}); use Node.js 20, 22, 24 or 26`);
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
    const handle = (socket as unknown as { _handle?: { writeQueueSize?: unknown; listen?: unknown } | null })._handle;
    if (typeof handle?.writeQueueSize !== 'number') return 'socket._handle.writeQueueSize missing';
    // Pipe and TCP handles share their listen() (ConnectionWrap): setListenBacklog's call.
    if (typeof handle.listen !== 'function') return 'socket._handle.listen missing';
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
    const ownOption = PARSER_OPTIONS.find((name) => !Object.hasOwn(server, name));
    if (ownOption) return `http.Server's own ${ownOption} property missing`;
    if (responseClassKey(server) === undefined) return "http.Server's own ServerResponse class missing";
    return undefined;
  } finally {
    socket.destroy();
  }
}

/**
 * Sets up an IPC channel as fork() does and looks at what Node set up with it. The program spawned does
 * not exist: Node reports that later (unheard) and starts nothing, but sets the channel up all the same.
 */
function probeChildProcess(): string | undefined {
  const absent = path.join(os.tmpdir(), `tsunicorn-probe-${process.pid}-absent`);
  let child: ChildProcess;
  try {
    child = spawn(absent, [], { stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  } catch (error) {
    return `no IPC channel for a probe child: ${(error as Error).message}`;
  }
  child.on('error', () => undefined);
  try {
    const internals = child as unknown as ChildProcessInternals;
    if (!('_pendingMessage' in internals)) return 'ChildProcess._pendingMessage missing';
    if (!('_handleQueue' in internals)) return 'ChildProcess._handleQueue missing';
    return undefined;
  } finally {
    if (child.connected) child.disconnect();
  }
}

/** The parser options http.Server keeps as own properties and reads for every connection it sets up. */
const PARSER_OPTIONS = ['insecureHTTPParser', 'requireHostHeader', 'maxHeaderSize'] as const;

export type ParserOptions = Required<Pick<http.ServerOptions, (typeof PARSER_OPTIONS)[number]>>;

/**
 * Gives a server the app built (and so created without them) the parser options createServer() would
 * have stored: the constructor keeps them as own properties (`storeHTTPOptions`) and Node reads them for
 * each new connection, so setting them before the first connection has the same effect.
 */
export function setParserOptions(server: http.Server, options: ParserOptions): void {
  const settable = server as unknown as Record<string, unknown>;
  for (const name of PARSER_OPTIONS) settable[name] = options[name];
}

/** The own property under which http.Server keeps the ServerResponse class it builds responses with. */
function responseClassKey(server: http.Server): symbol | undefined {
  for (const key of Object.getOwnPropertySymbols(server)) {
    if (key.description === 'ServerResponse' && typeof (server as unknown as Record<symbol, unknown>)[key] === 'function') return key;
  }
  return undefined;
}

/**
 * Makes a server the app built (and so created without the option) build its responses with `make(its
 * class)`, as `http.createServer({ ServerResponse })` would: the constructor keeps the class as an own
 * property (`kServerResponse`) and Node reads it for each request.
 */
export function setServerResponseClass(server: http.Server, make: (current: typeof ServerResponse) => typeof ServerResponse): void {
  const key = responseClassKey(server);
  if (key === undefined) throw new Error("http.Server's own ServerResponse class missing");
  const slots = server as unknown as Record<symbol, typeof ServerResponse>;
  slots[key] = make(slots[key]!);
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
 * Puts `hook.afterParse` in front of the callback Node's C++ parser calls after each read it parsed
 * natively (`parser[HTTPParser.kOnExecute]`, set by http.Server per connection). It runs with the
 * parser's result (bytes parsed, or the parse error) while getCurrentBuffer() still holds the bytes, and
 * decides whether Node's own handling (errors, upgrades, pausing) runs after it.
 */
export function onParserExecute(parser: NativeHttpParser, hook: { afterParse(ret: number | Error, nodeHandling: ExecuteCallback): void }): void {
  const slots = parser as unknown as Record<number, unknown>;
  const key = (parser.constructor as ParserConstructor).kOnExecute as number;
  const nodeHandling = slots[key] as ExecuteCallback;
  slots[key] = (ret: number | Error) => hook.afterParse(ret, nodeHandling);
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

// ------------------------------------------------------------- ChildProcess: handles sent over IPC

/** One message that carries a handle, as Node queues it (`msg` is ours once Node wrapped it). */
interface QueuedHandleMessage {
  message?: { msg?: unknown } | null;
  handle?: unknown;
}

/**
 * Node keeps a handle sent with `child.send(message, handle)` until the child acknowledges it: the one in
 * flight in `_pendingMessage`, the ones queued behind it in `_handleQueue`. Both are set up with the IPC
 * channel (internal/child_process.js, setupChannel).
 */
interface ChildProcessInternals {
  _pendingMessage?: QueuedHandleMessage | null;
  _handleQueue?: QueuedHandleMessage[] | null;
}

/** A handle sent to a child that never acknowledged it, with the message it came with. */
export interface UnacknowledgedHandle {
  message: unknown;
  /** A net.Socket while queued; the bare native handle once Node passed it to the channel. */
  handle: unknown;
}

/**
 * Takes the handles a child never acknowledged out of Node's hands. Node closes none of them when the
 * child dies (no public API reports them either), so a connection sent to a worker that died before
 * taking it would hang its client forever: the master hands it to another worker instead.
 */
export function takeUnacknowledgedHandles(child: ChildProcess): UnacknowledgedHandle[] {
  const internals = child as unknown as ChildProcessInternals;
  const queued = [internals._pendingMessage, ...(Array.isArray(internals._handleQueue) ? internals._handleQueue : [])];
  internals._pendingMessage = null;
  internals._handleQueue = null;
  const taken: UnacknowledgedHandle[] = [];
  for (const item of queued) {
    if (!item?.handle) continue;
    // The message in flight is Node's wrapper around ours ({ cmd, type, msg }); a queued one is ours.
    const wrapped = item.message;
    taken.push({ message: wrapped && typeof wrapped === 'object' && 'msg' in wrapped ? wrapped.msg : wrapped, handle: item.handle });
  }
  return taken;
}

// ------------------------------------------------------------- listening sockets: the descriptor

/**
 * The file descriptor of a listening socket (`server._handle.fd`, libuv's stream fd; Node has no public
 * accessor). A USR2 upgrade passes it to the new master as one of its stdio descriptors, the way gunicorn
 * passes its sockets' fds; the arbiter reads it for every listener at start, so a Node.js without it fails
 * at boot (BootError) rather than at the first USR2.
 */
export function listeningFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw lacking('a USR2 upgrade', 'server._handle.fd missing');
  return fd;
}

// ------------------------------------------------------------- the event loop: what is pending

type ResourcesInfo = () => string[];

function resourcesInfo(): ResourcesInfo | undefined {
  const info = (process as { getActiveResourcesInfo?: unknown }).getActiveResourcesInfo;
  return typeof info === 'function' ? (info as ResourcesInfo) : undefined;
}

/**
 * The kinds of what keeps the event loop busy, one entry each ('Timeout', 'TCPSocketWrap',
 * 'FSReqCallback'...; unref'd timers are not counted). Node documents `process.getActiveResourcesInfo()`
 * as experimental; it is the one way to tell an app still starting (before its listen()) from one that
 * has nothing left to do.
 */
export function activeResourceKinds(): string[] {
  const info = resourcesInfo();
  if (!info) throw lacking("the wait for an app's listen()", 'process.getActiveResourcesInfo missing');
  return info.call(process);
}

// ------------------------------------------------------------- listening sockets received over IPC

/**
 * Makes a net.Server Node built for a listening socket received over IPC (which it starts without
 * `pauseOnConnect`) leave the connections it accepts unread, as the master's own listeners do: the master
 * hands them to a worker, which must get every byte. net.Server keeps the option as this own property and
 * reads it at each accept.
 */
export function pauseConnectionsOf(server: net.Server): void {
  const settable = server as unknown as { pauseOnConnect?: unknown };
  if (typeof settable.pauseOnConnect !== 'boolean') throw lacking('--socket-sharing reuse-port', 'net.Server#pauseOnConnect missing');
  settable.pauseOnConnect = true;
}

/**
 * Gives a listening socket received over IPC the --backlog again. Node listens on such a socket once more as it
 * arrives (net.Server#listen(handle), with Node's default backlog of 511), and the kernel keeps the last
 * listen(2)'s value for the socket all processes share: without this, the first worker would set the
 * master's socket to 511 whatever --backlog says. `server._handle.listen(n)` is that listen(2) call again.
 */
export function setListenBacklog(server: net.Server, backlog: number): void {
  const handle = (server as unknown as { _handle?: { listen?: unknown } | null })._handle;
  if (typeof handle?.listen !== 'function') throw lacking('--backlog on a shared socket', 'server._handle.listen missing');
  const status = (handle.listen as (backlog: number) => number).call(handle, backlog);
  if (typeof status === 'number' && status < 0) throw new Error(`cannot set the listening socket's backlog to ${backlog}: ${util.getSystemErrorName(status)}`);
}

// ------------------------------------------------------------- a bound socket nobody listens on yet

/** What tsforeman uses of Node's TCP handle (src/tcp_wrap.cc): bind without listening, and its fd. */
interface NativeTcpHandle {
  bind(host: string, port: number): number;
  bind6(host: string, port: number, flags: number): number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  readonly fd: number;
  close(): void;
}

interface TcpWrapBinding {
  TCP: new (type: number) => NativeTcpHandle;
  constants: { SERVER: number };
}

let tcpWrap: TcpWrapBinding | undefined;

/**
 * Node's TCP handle class, checked once. Node has no public way to bind a socket without listening
 * (and so accepting) on it in its own event loop; `tsforeman start --hold-port` needs exactly that, so
 * the port stays open while the process it is handed to restarts, with no accept in the manager.
 */
function tcpWrapBinding(): TcpWrapBinding {
  if (tcpWrap !== undefined) return tcpWrap;
  let binding: Partial<TcpWrapBinding> | undefined;
  try {
    binding = (process as unknown as { binding(name: string): Partial<TcpWrapBinding> }).binding('tcp_wrap');
  } catch (error) {
    throw new Error(`Node.js ${process.version} gives no TCP handle binding (${(error as Error).message})`, { cause: error });
  }
  if (typeof binding?.TCP !== 'function' || typeof binding.constants?.SERVER !== 'number') {
    throw new Error(`Node.js ${process.version} lacks an internal the held ports need (tcp_wrap TCP missing)`);
  }
  const prototype = binding.TCP.prototype as Partial<NativeTcpHandle>;
  for (const method of ['bind', 'bind6', 'getsockname', 'close'] as const) {
    if (typeof prototype[method] !== 'function') {
      throw new Error(`Node.js ${process.version} lacks an internal the held ports need (TCP.prototype.${method} missing)`);
    }
  }
  tcpWrap = binding as TcpWrapBinding;
  return tcpWrap;
}

/** A TCP socket bound to an address and not listening: its descriptor, its port, and how to close it. */
export interface BoundTcpSocket {
  readonly fd: number;
  readonly port: number;
  close(): void;
}

/**
 * Binds a TCP socket to `host:port` without listening on it (libuv's uv_tcp_bind; the descriptor is
 * close-on-exec, so only a child it is handed to explicitly gets it). Throws an Error whose `code` is
 * the errno name (EADDRINUSE, EACCES, EADDRNOTAVAIL) when the address cannot be bound.
 */
export function bindTcpSocket(host: string, port: number): BoundTcpSocket {
  const { TCP, constants } = tcpWrapBinding();
  const handle = new TCP(constants.SERVER);
  // Flags 0: an IPv6 wildcard takes IPv4 as well, as Node's own listen() does.
  const status = host.includes(':') ? handle.bind6(host, port, 0) : handle.bind(host, port);
  const fail = (errno: number) => {
    handle.close();
    const name = util.getSystemErrorName(errno);
    return Object.assign(new Error(`${name}: cannot bind ${host}:${port}`), { code: name });
  };
  if (status !== 0) throw fail(status);
  const address: { port?: number } = {};
  const named = handle.getsockname(address);
  if (named !== 0) throw fail(named);
  if (typeof handle.fd !== 'number' || handle.fd < 0 || typeof address.port !== 'number') {
    handle.close();
    throw new Error(`Node.js ${process.version} lacks an internal the held ports need (TCP handle fd missing)`);
  }
  return { fd: handle.fd, port: address.port, close: () => handle.close() };
}
