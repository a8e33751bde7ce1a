/**
 * The master's listening sockets: bound before any worker starts, open for the master's whole life.
 *
 *   const listeners = await bindAll(settings.bind, secure);   // throws BindError, having closed the rest
 *   listeners[0].url                                          // 'http://127.0.0.1:43121' (the real port)
 */
import { lstatSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { BindError } from './errors.js';
import type { BindAddress } from './settings.js';

export interface Listener {
  address: BindAddress;
  server: net.Server;
  /** `http://HOST:PORT` with the port actually bound, or `unix:/path`. */
  url: string;
  /** Set when the socket was inherited (socket activation, USR2): says from where, for `Listening at:`. */
  inherited?: string;
  /** Another process serves this socket too (an inherited one, or a new master after USR2): its unix path stays. */
  shared?: boolean;
}

const BIND_ERRORS: Record<string, string> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available on this machine',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'unknown host',
};

function removeStaleUnixSocket(socketPath: string): void {
  try {
    if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
  } catch {
    // Nothing there: fine.
  }
}

function bindOne(address: BindAddress, secure: boolean, backlog: number, reusePort: boolean): Promise<Listener> {
  // pauseOnConnect: a connection the master accepts is handed to a worker unread.
  const server = net.createServer({ pauseOnConnect: true });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const reason = BIND_ERRORS[error.code ?? ''] ?? error.message;
      reject(new BindError(`Cannot bind ${address.text}: ${reason}`));
    });
    const onListening = () => {
      server.removeAllListeners('error');
      let url: string;
      if (address.kind === 'unix') url = `unix:${address.path}`;
      else {
        const bound = server.address() as net.AddressInfo;
        const host = address.host.includes(':') ? `[${address.host}]` : address.host;
        url = `${secure ? 'https' : 'http'}://${host}:${bound.port}`;
      }
      resolve({ address, server, url });
    };
    if (address.kind === 'unix') {
      removeStaleUnixSocket(address.path);
      server.listen({ path: address.path, backlog }, onListening);
    } else {
      // reusePort (Node 22.12+, checked with the settings): the workers bind the same address beside it.
      server.listen({ host: address.host, port: address.port, backlog, ...(reusePort ? { reusePort: true } : {}) } as net.ListenOptions, onListening);
    }
  });
}

export async function bindAll(addresses: readonly BindAddress[], secure: boolean, backlog = 2048, reusePort = false): Promise<Listener[]> {
  const listeners: Listener[] = [];
  try {
    for (const address of addresses) listeners.push(await bindOne(address, secure, backlog, reusePort));
  } catch (error) {
    await closeAll(listeners);
    throw error;
  }
  return listeners;
}

export async function closeAll(listeners: readonly Listener[]): Promise<void> {
  await Promise.all(
    listeners.map(
      (listener) =>
        new Promise<void>((resolve) => (listener.server.listening ? listener.server.close(() => resolve()) : resolve())),
    ),
  );
  for (const listener of listeners) {
    if (listener.address.kind === 'unix' && !listener.shared && listener.inherited === undefined) removeStaleUnixSocket(listener.address.path);
  }
}
