/**
 * `--socket-sharing reuse-port`: every worker accepts on listening sockets of its own, one per --bind, all
 * bound with SO_REUSEPORT to the same address, and the kernel spreads new connections over them. The
 * master keeps the sockets' count and passes them on; it accepts on one only while no worker holds it
 * (from the start until the first worker is up, or for the moment a leaving worker's socket takes to reach
 * the next), and hands what it accepted to a worker.
 *
 * Linux resets every connection still queued on a SO_REUSEPORT socket when its last descriptor closes, so
 * a socket that a worker no longer wants is never closed: the worker sends it back over IPC and closes
 * its own descriptor only once it is sent (the descriptor in flight keeps the socket and its queue), and
 * it goes to another worker, which accepts what is queued. The number of sockets per address stays the
 * number of workers: a new worker takes a socket given back if there is one, binds one of its own only
 * when there are fewer sockets than workers, and a worker that holds two (after TTOU) gives one back for
 * the next.
 *
 *   const sockets = new ReusePortSockets({ addresses, backlog, workers, send, accepted });
 *   sockets.adoptInitial(servers);             // the master's own binds (port 0 resolved)
 *   sockets.balance();                         // after each change in the pool
 *   sockets.released(worker, index, server);   // from a worker's `released` message
 */
import type net from 'node:net';
import type { Socket } from 'node:net';
import type { MasterMessage } from './messages.js';
import { pauseConnectionsOf } from './node-internals.js';

export interface SocketHolder {
  readonly pid: number;
  readonly state: 'booting' | 'ready' | 'stopping';
  readonly generation: number;
}

export interface ReusePortOptions<W extends SocketHolder> {
  /** Per --bind index, where a worker binds its own socket (the port the master's bind resolved). */
  addresses: readonly { host: string; port: number }[];
  backlog: number;
  workers: () => Iterable<W>;
  generation: () => number;
  targetWorkers: () => number;
  /** Sends a message (and a listening server) to a worker; `sent` runs once it is written, or failed. */
  send: (worker: W, message: MasterMessage, handle?: net.Server, sent?: (error: Error | null) => void) => boolean;
  /** A connection the master accepted on a socket it holds, for the hand-over. */
  accepted: (socket: Socket, index: number) => void;
  warning: (line: string) => void;
}

interface Holdings {
  /** Sockets held, per --bind index. */
  held: number[];
  /** A `bind` sent and not answered, per index. */
  binding: boolean[];
  /** A `release` sent and not answered, per index. */
  releasing: boolean[];
}

export class ReusePortSockets<W extends SocketHolder> {
  /** Sockets no worker holds, per index: the master accepts on them meanwhile. */
  private readonly spare: net.Server[][];
  private readonly holdings = new Map<number, Holdings>();
  private closed = false;
  /** The server is stopping: what comes back stays with the master, which accepts on it until it closes. */
  private holding = false;

  constructor(private readonly options: ReusePortOptions<W>) {
    this.spare = options.addresses.map(() => []);
  }

  /** The master's own binds: spare until the first workers take them. */
  adoptInitial(servers: readonly net.Server[]): void {
    for (const [index, server] of servers.entries()) this.keep(index, server, false);
  }

  /** A worker gave a socket back (it leaves, it was asked, or the server stops). */
  released(worker: W, index: number, server: net.Server | undefined): void {
    const holdings = this.of(worker);
    if (holdings.held[index]! > 0) holdings.held[index]!--;
    holdings.releasing[index] = false;
    if (server && this.closed) server.close();
    else if (server) this.keep(index, server, true);
    this.balance();
  }

  /** A worker answered `bind`. */
  bound(worker: W, index: number, error: string | undefined): void {
    const holdings = this.of(worker);
    holdings.binding[index] = false;
    if (error) this.options.warning(`Worker (pid:${worker.pid}) could not bind its own socket: ${error}`);
    else holdings.held[index]!++;
    this.balance();
  }

  /** A worker exited: what it held closed with it. */
  gone(worker: W): void {
    this.holdings.delete(worker.pid);
    this.balance();
  }

  /** The sockets the master holds now (it accepts on them: at TERM, until they close). */
  get held(): number {
    return this.spare.reduce((sum, servers) => sum + servers.length, 0);
  }

  /** The server is stopping (TERM): sockets given back stay with the master, which drains their queues. */
  hold(): void {
    this.holding = true;
  }

  /** The server stops: nothing is passed on any more, and the master's sockets close. */
  close(): void {
    this.closed = true;
    for (const servers of this.spare) for (const server of servers.splice(0)) server.close();
  }

  /**
   * Gives each spare socket to a worker that serves and holds none for that address (the current
   * generation first), else, when no worker is booting to take it, to the one holding the fewest; a
   * worker that holds none binds its own when there are fewer sockets than workers, or gets one a
   * worker holding two gives back.
   */
  balance(): void {
    if (this.closed || this.holding) return;
    const all = [...this.options.workers()];
    const serving = all.filter((worker) => worker.state === 'ready');
    const generation = this.options.generation();
    const booting = all.some((worker) => worker.state === 'booting');
    for (let index = 0; index < this.spare.length; index++) {
      const spare = this.spare[index]!;
      const count = (worker: W) => this.of(worker).held[index]!;
      const byNeed = () =>
        [...serving].sort((a, b) => count(a) - count(b) || Number(b.generation === generation) - Number(a.generation === generation));
      while (spare.length > 0) {
        const [first] = byNeed();
        if (!first || (count(first) > 0 && booting)) break;
        if (!this.give(first, index, spare.shift()!)) break;
      }
      const existing = all.reduce((sum, worker) => sum + count(worker) + Number(this.of(worker).binding[index]), 0) + spare.length;
      let pendingRelease = all.some((worker) => this.of(worker).releasing[index]);
      let sockets = existing;
      for (const worker of serving) {
        const holdings = this.of(worker);
        if (count(worker) > 0 || holdings.binding[index]) continue;
        if (sockets < this.options.targetWorkers()) {
          const { host, port } = this.options.addresses[index]!;
          if (this.options.send(worker, { type: 'bind', index, host, port, backlog: this.options.backlog })) {
            holdings.binding[index] = true;
            sockets++;
          }
        } else if (!pendingRelease) {
          // More sockets than workers to hold them: one worker holds two (after a TTOU) and gives one back.
          const double = serving.find((other) => count(other) > 1 && !this.of(other).releasing[index]);
          if (double && this.options.send(double, { type: 'release', index })) {
            this.of(double).releasing[index] = true;
            pendingRelease = true;
          }
        }
      }
    }
  }

  private give(worker: W, index: number, server: net.Server): boolean {
    const holdings = this.of(worker);
    holdings.held[index]!++;
    const sent = this.options.send(worker, { type: 'listen', index, backlog: this.options.backlog }, server, (error) => {
      if (error) {
        // Not on its way: the master keeps it (and accepts on it) until another worker takes it.
        holdings.held[index]!--;
        this.spare[index]!.push(server);
        return;
      }
      // The worker has its own descriptor now (or one in flight): the master's closes, the socket stays.
      server.close();
    });
    if (!sent) {
      holdings.held[index]!--;
      return false;
    }
    return true;
  }

  private keep(index: number, server: net.Server, fromWorker: boolean): void {
    if (fromWorker) {
      // Accepted here only to be handed on: unread, like the master's own listeners' connections.
      pauseConnectionsOf(server);
      server.on('connection', (socket: Socket) => this.options.accepted(socket, index));
    }
    this.spare[index]!.push(server);
  }

  private of(worker: W): Holdings {
    let holdings = this.holdings.get(worker.pid);
    if (!holdings) {
      const none = this.options.addresses.map(() => 0);
      holdings = { held: none, binding: none.map(() => false), releasing: none.map(() => false) };
      this.holdings.set(worker.pid, holdings);
    }
    return holdings;
  }
}
