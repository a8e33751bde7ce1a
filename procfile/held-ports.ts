import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { bindTcpSocket, type BoundTcpSocket } from '../runtime/node-internals.js';
import type { EnvMap } from './env.js';
import { UserError } from './errors.js';
import { describeCommand } from './export/commands.js';
import { isExecd } from './shell.js';

/**
 * `tsforeman start --hold-port TYPE`: the manager owns the listening sockets of those instances and
 * hands them to each process it starts as systemd's socket activation does (fd 3 on, `LISTEN_FDS`,
 * `LISTEN_PID` = the program's own pid, `LISTEN_FDNAMES` = the instance name), so a restart never
 * closes the port: connections made meanwhile wait in the kernel's backlog for the next process.
 *
 *   const held = await HeldPorts.open([{ name: 'web.1', type: 'web', addresses: [{ host: '0.0.0.0', port: 5000 }] }]);
 *   held.get('web.1')   // { fds: [21], fdName: 'web.1', probe: { host: '127.0.0.1', port: 5000 }, ... }
 *   held.close();
 *
 * The sockets are listening without the manager ever accepting on them: each is bound here (a bare
 * TCP handle, see `bindTcpSocket`) and put into the listening state by a short-lived child that calls
 * listen() on it and exits before its event loop runs. The state belongs to the socket, not to a
 * descriptor, so it lasts while the manager keeps its descriptor open, whoever else comes and goes.
 */

/** One address to hold (a host, and the port: the instance's PORT, or what its tsunicorn binds). */
export interface HeldAddress {
  host: string;
  port: number;
}

export interface HoldRequest {
  /** `web.1` */
  name: string;
  /** `web` */
  type: string;
  addresses: HeldAddress[];
}

/** What a process needs of its held sockets. */
export interface HeldSockets {
  /** The manager's descriptors, handed to the child as fds 3, 4, ... in this order. */
  fds: number[];
  /** `LISTEN_FDNAMES` of each: the instance name, as an exported `.socket` unit names it. */
  fdName: string;
  /** Where the readiness probe connects (the loopback for a wildcard address). */
  probe: HeldAddress;
  /** `0.0.0.0:5000`, for messages. */
  text: string;
  /** The process type, as `--hold-port` names it. */
  type: string;
}

/** What `holdRequests` needs to know of an instance. */
export interface HoldCandidate {
  name: string;
  type: string;
  command: string;
  cwd: string;
  env: EnvMap;
}

/**
 * The sockets to hold for the `types` named by `--hold-port`, one request per instance: its PORT on
 * 0.0.0.0, or, for a tsunicorn command, the addresses it would bind (so its `--bind` selects them).
 * A type that cannot take a socket is a UserError naming it: `release`, a type with no instance in
 * this run, a command the shell runs (its pid is not the program's, as LISTEN_PID must be), and a
 * tsunicorn bound to a unix socket or a host name.
 */
export async function holdRequests(types: readonly string[], instances: readonly HoldCandidate[]): Promise<HoldRequest[]> {
  const requests: HoldRequest[] = [];
  for (const type of types) {
    if (type === 'release') throw new UserError('--hold-port release: release runs once per deploy and serves no port');
    const ofType = instances.filter((instance) => instance.type === type);
    if (ofType.length === 0) {
      throw new UserError(`--hold-port ${type}: no instance of ${type} runs (the formation gives it 0, or it is not among the types named), so it gets no port to hold`);
    }
    for (const instance of ofType) {
      if (!isExecd(instance.command)) {
        throw new UserError(
          `--hold-port ${type}: "${instance.command}" is not one program, so /bin/sh would keep the socket's LISTEN_PID: make it a single command`,
        );
      }
      const port = Number(instance.env.PORT);
      const facts = await describeCommand(type, instance.command, instance.env, instance.cwd, { PORT: String(port) }, 0);
      const addresses: HeldAddress[] = [];
      for (const bind of facts.tsunicorn ? facts.binds : [{ kind: 'tcp' as const, host: '0.0.0.0', port, text: `0.0.0.0:${port}` }]) {
        if (bind.kind === 'unix') {
          throw new UserError(`--hold-port ${type}: tsunicorn binds ${bind.text}; tsforeman holds TCP ports only (bind $PORT, or leave ${type} out of --hold-port)`);
        }
        if (net.isIP(bind.host) === 0) {
          throw new UserError(`--hold-port ${type}: tsunicorn binds ${bind.text}, a host name; bind an address (such as 0.0.0.0:$PORT or 127.0.0.1:$PORT) to hold it`);
        }
        addresses.push({ host: bind.host, port: bind.port });
      }
      requests.push({ name: instance.name, type, addresses });
    }
  }
  return requests;
}

/** The backlog until the program's own listen() sets its own (Node's default). */
const INITIAL_BACKLOG = 511;

export function addressText(address: HeldAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

function loopbackFor(address: HeldAddress): HeldAddress {
  if (address.host === '0.0.0.0') return { host: '127.0.0.1', port: address.port };
  if (address.host === '::') return { host: '::1', port: address.port };
  return address;
}

export class HeldPorts {
  private constructor(
    private readonly held: Map<string, HeldSockets>,
    private readonly sockets: BoundTcpSocket[],
  ) {}

  /** Binds and listens on every address; a UserError (one line, nothing left open) when one cannot be. */
  static async open(requests: readonly HoldRequest[]): Promise<HeldPorts> {
    const sockets: BoundTcpSocket[] = [];
    const held = new Map<string, HeldSockets>();
    const closeAll = () => {
      for (const socket of sockets) socket.close();
    };
    try {
      for (const request of requests) {
        const fds: number[] = [];
        for (const address of request.addresses) {
          let socket: BoundTcpSocket;
          try {
            socket = bindTcpSocket(address.host, address.port);
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            if (code === undefined) throw new UserError(`--hold-port ${request.type}: ${(error as Error).message}`);
            const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : code;
            throw new UserError(`--hold-port ${request.type}: cannot bind ${addressText(address)} for ${request.name}: ${why}`);
          }
          sockets.push(socket);
          fds.push(socket.fd);
        }
        const [first] = request.addresses;
        if (first === undefined) continue;
        held.set(request.name, {
          fds,
          fdName: request.name,
          probe: loopbackFor(first),
          text: request.addresses.map(addressText).join(', '),
          type: request.type,
        });
      }
      await startListening(sockets.map((socket) => socket.fd));
    } catch (error) {
      closeAll();
      throw error;
    }
    return new HeldPorts(held, sockets);
  }

  get(name: string): HeldSockets | undefined {
    return this.held.get(name);
  }

  close(): void {
    for (const socket of this.sockets) socket.close();
    this.sockets.length = 0;
  }
}

/**
 * listen() on each descriptor, in a child that exits right after it (synchronously, before its event
 * loop could accept anything): Node's `server.listen({ fd })` calls listen() itself.
 */
async function startListening(fds: readonly number[]): Promise<void> {
  if (fds.length === 0) return;
  const script =
    `const net = require('node:net');` +
    `for (let fd = 3; fd < 3 + ${fds.length}; fd++) net.createServer().listen({ fd, backlog: ${INITIAL_BACKLOG} });` +
    `process.exit(0);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe', ...fds], env: {} });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const status = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (code) => resolve(code));
  });
  if (status !== 0) {
    const line = stderr.split('\n').find((text) => /Error/.test(text)) ?? stderr.trim().split('\n')[0] ?? `exit status ${status}`;
    throw new UserError(`--hold-port: the held sockets could not be put into listening state: ${line}`);
  }
}

/**
 * Whether the program behind a held socket accepts connections. A connect succeeds on a held socket
 * even when no process runs (the kernel queues it), so readiness cannot be "the port accepts": the
 * probe makes one connection and waits until a process takes it out of the queue. On Linux that is
 * seen without sending a byte: the kernel's table (/proc/net/tcp, tcp6) shows a queued connection with
 * inode 0 and an accepted one with its socket's inode. Elsewhere the probe asks `HEAD / HTTP/1.0`,
 * and any answer (or the program closing the connection) means it was accepted.
 *
 *   const probe = new AcceptProbe({ host: '127.0.0.1', port: 5000 });
 *   while (!probe.accepted()) await sleep(100);
 *   probe.close();
 */
export class AcceptProbe {
  private readonly socket: net.Socket;
  private answered = false;
  private localPort: number | undefined;

  constructor(
    private readonly target: HeldAddress,
    private readonly via: 'kernel-table' | 'http-answer' = process.platform === 'linux' ? 'kernel-table' : 'http-answer',
  ) {
    this.socket = net.createConnection({ host: target.host, port: target.port });
    this.socket.once('connect', () => {
      this.localPort = this.socket.localPort;
      if (this.via === 'http-answer') this.socket.write(`HEAD / HTTP/1.0\r\nHost: ${addressText(target)}\r\n\r\n`);
    });
    // Any byte back, or the other side closing, means a process had accepted it.
    this.socket.on('data', () => (this.answered = true));
    this.socket.once('end', () => (this.answered = true));
    this.socket.once('error', () => undefined);
    this.socket.once('close', () => {
      if (this.localPort !== undefined) this.answered = true;
    });
  }

  accepted(): boolean {
    if (this.answered) return true;
    if (this.via !== 'kernel-table' || this.localPort === undefined) return false;
    return acceptedInKernelTable(this.target, this.localPort);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** True when the server side of the connection `clientPort` -> `target.port` belongs to a process (inode not 0). */
function acceptedInKernelTable(target: HeldAddress, clientPort: number): boolean {
  const file = net.isIPv6(target.host) ? '/proc/net/tcp6' : '/proc/net/tcp';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  const local = `:${target.port.toString(16).toUpperCase().padStart(4, '0')}`;
  const remote = `:${clientPort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of text.split('\n').slice(1)) {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(local) && fields[2]?.endsWith(remote)) return fields[9] !== undefined && fields[9] !== '0';
  }
  return false;
}
