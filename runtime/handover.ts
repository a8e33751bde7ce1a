/**
 * Connection hand-over, the master's side of every connection it accepts (all of them with
 * `--socket-sharing handoff`, whatever it still accepts with `shared`): each goes to a ready worker
 * round-robin over IPC, waits in a queue while none is ready and responsive, and goes to another worker
 * when the one it was sent to died before taking it. These are the events the master handles outside its
 * loop (a listening socket's `connection`, a worker's message or exit); the loop never touches a connection.
 *
 *   const handover = new Handover(pool);
 *   listener.server.on('connection', (socket) => handover.dispatch(socket, index));
 *   handover.flush();               // a worker became ready or heartbeat again
 *   handover.recover(worker.child); // a worker exited: what it never took goes elsewhere
 *   handover.close();               // the master stops: queued connections are closed
 */
import type { ChildProcess } from 'node:child_process';
import { Socket } from 'node:net';
import { heartbeatIntervalMs } from './messages.js';
import { takeUnacknowledgedHandles } from './node-internals.js';

/** What the hand-over needs to know of a worker. */
export interface HandoverWorker {
  readonly child: ChildProcess;
  readonly state: 'booting' | 'ready' | 'stopping';
  readonly generation: number;
  /** When its event loop last spoke. */
  readonly lastHeartbeat: number;
  /** Set once the master has SIGKILLed it. */
  readonly killed?: string;
}

/** The master's view of its workers, read at each connection (reloads change every field). */
export interface WorkerPool<W extends HandoverWorker> {
  workers(): Iterable<W>;
  /** The newest generation (HUP starts one). */
  generation(): number;
  /** How many workers a generation has when complete. */
  targetWorkers(): number;
  /** --timeout in seconds (0 = none). */
  timeoutSeconds(): number;
  /** Sends `{ type: 'connection', index }` with the socket; false if the worker cannot take it. */
  sendConnection(worker: W, socket: Socket, index: number): boolean;
  logInfo(line: string): void;
}

export class Handover<W extends HandoverWorker> {
  private readonly pending: { socket: Socket; index: number }[] = [];
  private roundRobin = 0;
  private closed = false;

  constructor(private readonly pool: WorkerPool<W>) {}

  /** Hands a connection the master accepted on listener `index` to a worker, or queues it. */
  dispatch(socket: Socket, index: number): void {
    // A client's reset while the connection waits here is no error of the server's.
    socket.on('error', () => undefined);
    this.handOver(socket, index);
  }

  private handOver(socket: Socket, index: number): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const worker = this.pick();
    if (!worker || !this.pool.sendConnection(worker, socket, index)) {
      // Wait for a worker to boot or heartbeat again (or be replaced) rather than feed a stuck one.
      this.pending.push({ socket, index });
    }
  }

  /**
   * A ready worker that heartbeat recently (one that missed two heartbeats may be blocked: a connection
   * sent there would wait on it), round-robin. Once the newest generation is complete, an older one gets
   * no new connection even before the master has told it to stop: it is about to drain.
   */
  private pick(): W | undefined {
    const timeout = this.pool.timeoutSeconds();
    const stale = timeout > 0 ? Date.now() - 2 * heartbeatIntervalMs(timeout) : -Infinity;
    const generation = this.pool.generation();
    const newest: W[] = [];
    const older: W[] = [];
    for (const worker of this.pool.workers()) {
      if (worker.state !== 'ready' || worker.killed || worker.lastHeartbeat < stale) continue;
      (worker.generation === generation ? newest : older).push(worker);
    }
    const candidates = newest.length >= this.pool.targetWorkers() || older.length === 0 ? newest : [...newest, ...older];
    if (candidates.length === 0) return undefined;
    return candidates[this.roundRobin++ % candidates.length];
  }

  /** Dispatches the queued connections again (a worker became ready or heartbeat). */
  flush(): void {
    if (this.pending.length === 0) return;
    for (const { socket, index } of this.pending.splice(0)) this.handOver(socket, index);
  }

  /**
   * Connections sent to a worker that exited before taking them. Nothing was read from them
   * (pauseOnConnect), so another worker can serve them whole.
   */
  recover(child: ChildProcess): void {
    let recovered = 0;
    for (const { message, handle } of takeUnacknowledgedHandles(child)) {
      const sent = message as { type?: unknown; index?: unknown } | null | undefined;
      if (sent?.type !== 'connection') continue;
      const index = typeof sent.index === 'number' ? sent.index : 0;
      recovered++;
      if (handle instanceof Socket) this.handOver(handle, index);
      else this.dispatch(new Socket({ handle, readable: true, writable: true, pauseOnCreate: true } as ConstructorParameters<typeof Socket>[0]), index);
    }
    if (recovered > 0) this.pool.logInfo(`Handed ${recovered} connection(s) the exited worker never took to other workers`);
  }

  /** The master stops: queued connections are closed, later ones refused. */
  close(): void {
    this.closed = true;
    for (const { socket } of this.pending.splice(0)) socket.destroy();
  }
}
