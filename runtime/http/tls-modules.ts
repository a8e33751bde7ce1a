/**
 * `node:https` and `node:tls`, loaded when first needed: a worker serving plain HTTP never loads them
 * (about 1 MB of RSS). An https server or a TLS socket was made by code that loaded them already, so
 * the checks below load them only for a value that is one, or a `tls.Server` of some kind.
 *
 *   const server = httpsModule().createServer({ cert, key });
 *   isTlsServer(server);   // true; false for an http.Server, without loading node:tls
 */
import { createRequire } from 'node:module';
import http from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import net from 'node:net';
import type { Server as TlsServer } from 'node:tls';

const load = createRequire(import.meta.url);

export function httpsModule(): typeof import('node:https') {
  return load('node:https') as typeof import('node:https');
}

/** A `tls.Server` (an https server among them): only those have `addContext`. */
export function isTlsServer(value: unknown): value is TlsServer {
  if (!(value instanceof net.Server) || value instanceof http.Server) return false;
  if (typeof (value as { addContext?: unknown }).addContext !== 'function') return false;
  return value instanceof (load('node:tls') as typeof import('node:tls')).Server;
}

export function isHttpsServer(value: unknown): value is HttpsServer {
  return isTlsServer(value) && value instanceof httpsModule().Server;
}

/** A TLS socket (`tlsSocket.encrypted` is always true; a plain socket has no such field). */
export function isTlsSocket(socket: net.Socket): boolean {
  return (socket as { encrypted?: unknown }).encrypted === true;
}
