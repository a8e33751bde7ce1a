/**
 * The open connections of one strict server, with the one coarse timer that applies their slow-client
 * bounds. The worker reads per-connection state from here (the drain flag is its RequestPipeline's); it keeps
 * none of its own.
 *
 *   const connections = new ConnectionTable({ onClose: () => exitWhenIdle() });
 *   createStrictServer(app, { ...limits, connections });
 *   connections.of(req.socket)?.requests;   // per-connection state of a request's connection
 *   for (const connection of connections) if (connection.active === 0) connection.socket.end();
 *
 * A single tick (at most 1 s, a quarter of the shortest timeout) costs nothing per byte received and
 * scales to thousands of idle or slow connections; deadlines are therefore honoured within one tick.
 */
import type { Duplex } from 'node:stream';
import type { ConnectionGate, ConnectionState } from './connection-gate.js';
import type { SlowClientTimeouts } from './slow-client.js';

export interface ConnectionEvents {
  /** A connection was accepted and is checked from now on. */
  onOpen?: (connection: ConnectionState) => void;
  /** A connection closed; it is no longer in the table. */
  onClose?: (connection: ConnectionState) => void;
}

/** Each socket's gate, kept on the socket itself: looked up once per request, cheaper than a WeakMap. */
const GATE = Symbol('tsunicorn.gate');
type GatedSocket = Duplex & { [GATE]?: ConnectionGate };

export class ConnectionTable implements Iterable<ConnectionState> {
  private readonly members = new Set<ConnectionGate>();
  private timer: NodeJS.Timeout | undefined;
  private tickMs = 1000;

  constructor(readonly events: ConnectionEvents = {}) {}

  get size(): number {
    return this.members.size;
  }

  [Symbol.iterator](): Iterator<ConnectionState> {
    return this.members.values();
  }

  /** The connection a socket belongs to (undefined once it closed). */
  of(socket: Duplex | null): ConnectionState | undefined {
    return this.gateOf(socket);
  }

  /** The strict server's own view: the gate itself. */
  gateOf(socket: Duplex | null): ConnectionGate | undefined {
    return socket ? (socket as GatedSocket)[GATE] : undefined;
  }

  /** Called by the strict server for each gate it attached, with the bounds it sweeps. */
  add(gate: ConnectionGate, timeouts: SlowClientTimeouts): void {
    (gate.socket as GatedSocket)[GATE] = gate;
    this.members.add(gate);
    if (!this.timer) {
      const shortest = Math.min(timeouts.headersTimeoutMs, timeouts.bodyIdleTimeoutMs, timeouts.writeStallTimeoutMs);
      this.tickMs = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
      this.timer = setInterval(() => this.tick(), this.tickMs);
      // Never the reason a process stays up: connections keep it alive on their own.
      this.timer.unref();
    }
    this.events.onOpen?.(gate);
  }

  /** Called by the strict server when a gate's socket closed. */
  remove(gate: ConnectionGate): void {
    if (!this.members.delete(gate)) return;
    delete (gate.socket as GatedSocket)[GATE];
    if (this.members.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.events.onClose?.(gate);
  }

  private tick(): void {
    const now = Date.now();
    for (const gate of this.members) gate.sweep(now);
  }
}
