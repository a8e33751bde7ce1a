/**
 * Test helpers for the strict HTTP layer: a server on 127.0.0.1 port 0 that is torn down after each test,
 * and a raw `net` client that writes exact bytes and collects the exact bytes that come back.
 */
import http from 'node:http';
import net from 'node:net';
import { createStrictServer, type StrictServerOptions } from '../../../runtime/http/strict-server.js';

export const DEFAULT_LIMITS = {
  limitRequestLine: 4094,
  limitRequestFields: 100,
  limitRequestFieldSize: 8190,
  keepAliveSeconds: 5,
};

/** Answers `ok METHOD URL body=N` once the body has been read, with a Content-Length. */
export const echoApp: http.RequestListener = (req, res) => {
  let length = 0;
  req.on('data', (chunk: Buffer) => (length += chunk.length));
  req.on('end', () => {
    const body = `ok ${req.method} ${req.url} body=${length}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
};

export interface RunningServer {
  server: http.Server;
  port: number;
  /** Server-side sockets, in accept order. */
  sockets: net.Socket[];
  log: string[];
}

const cleanups: Array<() => Promise<void> | void> = [];

export function onCleanup(cleanup: () => Promise<void> | void): void {
  cleanups.push(cleanup);
}

/** Call from afterEach: destroys every client and server started by the test, even after a failure. */
export async function cleanupAll(): Promise<void> {
  while (cleanups.length > 0) await cleanups.pop()!();
}

export async function startServer(options: Partial<StrictServerOptions> = {}, app: http.RequestListener = echoApp): Promise<RunningServer> {
  const log: string[] = [];
  const server = createStrictServer(app, { ...DEFAULT_LIMITS, onClientError: (message) => log.push(message), ...options }) as http.Server;
  const sockets: net.Socket[] = [];
  server.on('connection', (socket: net.Socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  onCleanup(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { server, port, sockets, log };
}

export interface RawClient {
  socket: net.Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the server closed its side (FIN or reset), or rejects after `withinMs`. */
  closed(withinMs?: number): Promise<Buffer>;
  /** Resolves once `count` complete responses (by Content-Length) arrived, or rejects after `withinMs`. */
  responses(count: number, withinMs?: number): Promise<ParsedResponse[]>;
}

export function connect(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let ended = false;
    const waiters = new Set<() => void>();
    const notify = () => {
      for (const waiter of [...waiters]) waiter();
    };
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      notify();
    });
    socket.on('end', () => {
      ended = true;
      notify();
    });
    socket.on('close', () => {
      ended = true;
      notify();
    });
    // A reset after the server closed is a close too; the bytes received before it are kept.
    socket.on('error', () => undefined);
    onCleanup(() => {
      socket.destroy();
    });
    const received = () => Buffer.concat(chunks);
    const waitFor = <T>(check: () => T | undefined, withinMs: number, what: string): Promise<T> =>
      new Promise<T>((done, fail) => {
        const attempt = () => {
          const value = check();
          if (value === undefined) return false;
          clearTimeout(timer);
          waiters.delete(listener);
          done(value);
          return true;
        };
        const listener = () => void attempt();
        const timer = setTimeout(() => {
          waiters.delete(listener);
          fail(new Error(`${what} not seen within ${withinMs} ms; received ${JSON.stringify(received().toString('latin1').slice(0, 300))}`));
        }, withinMs);
        waiters.add(listener);
        attempt();
      });
    socket.once('connect', () =>
      resolve({
        socket,
        received,
        closed: (withinMs = 5000) => waitFor(() => (ended ? received() : undefined), withinMs, 'connection close'),
        responses: (count, withinMs = 5000) =>
          waitFor(
            () => {
              const parsed = parseResponses(received());
              return parsed.length >= count ? parsed : undefined;
            },
            withinMs,
            `${count} response(s)`,
          ),
      }),
    );
    socket.once('error', reject);
  });
}

export interface ParsedResponse {
  status: number;
  statusLine: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** The exact bytes of this response. */
  raw: string;
}

/** Splits bytes into complete responses (Content-Length framing only: the server under test always sets it). */
export function parseResponses(bytes: Buffer): ParsedResponse[] {
  const text = bytes.toString('latin1');
  const out: ParsedResponse[] = [];
  let offset = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', offset);
    if (headEnd === -1) break;
    const lines = text.slice(offset, headEnd).split('\r\n');
    const statusLine = lines[0] ?? '';
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    const length = Number(headers['content-length'] ?? '0');
    const bodyStart = headEnd + 4;
    if (text.length < bodyStart + length) break;
    out.push({
      status: Number(statusLine.split(' ')[1]),
      statusLine,
      headers,
      body: text.slice(bodyStart, bodyStart + length),
      raw: text.slice(offset, bodyStart + length),
    });
    offset = bodyStart + length;
  }
  return out;
}

/** Sends one raw request on a new connection and waits for the server to close it. */
export async function exchangeAndClose(port: number, request: string | Buffer): Promise<{ responses: ParsedResponse[]; raw: string }> {
  const client = await connect(port);
  client.socket.write(request);
  const bytes = await client.closed();
  return { responses: parseResponses(bytes), raw: bytes.toString('latin1') };
}

/** Sends one raw request and waits for one response (the connection may stay open). */
export async function exchange(port: number, request: string | Buffer): Promise<ParsedResponse> {
  const client = await connect(port);
  client.socket.write(request);
  const [response] = await client.responses(1);
  client.socket.destroy();
  return response!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 20 ms until it holds, failing after `withinMs`. */
export async function eventually(check: () => boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${withinMs} ms`);
    await sleep(20);
  }
}

/** A request line of exactly `length` bytes (CRLF not counted): `GET /aaa… HTTP/1.1`. */
export function requestLineOf(length: number): string {
  const fixed = 'GET / HTTP/1.1'.length;
  return `GET /${'a'.repeat(length - fixed)} HTTP/1.1`;
}

/** A header line of exactly `length` bytes including its CRLF: `X-Pad: vvv…\r\n`. */
export function headerLineOf(length: number, name = 'X-Pad'): string {
  const fixed = `${name}: \r\n`.length;
  return `${name}: ${'v'.repeat(length - fixed)}\r\n`;
}
