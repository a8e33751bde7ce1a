/**
 * Time bounds for clients that send or read too slowly. Each connection's gate checks them when its
 * ConnectionTable ticks:
 *
 *   createStrictServer(app, { ...limits, slowClient: { headersTimeoutMs: 5000 } });
 */

export interface SlowClientTimeouts {
  /** A request head must be complete this long after its first byte (a new connection: after accept). */
  headersTimeoutMs: number;
  /** A request body that is being read may go this long without a byte arriving. */
  bodyIdleTimeoutMs: number;
  /** A response with bytes waiting to be sent may go this long without the client taking any. */
  writeStallTimeoutMs: number;
  /** After an error response, how long to keep reading (and discarding) before closing hard. */
  lingerMs: number;
}

export const DEFAULT_SLOW_CLIENT_TIMEOUTS: Readonly<SlowClientTimeouts> = Object.freeze({
  headersTimeoutMs: 20_000,
  bodyIdleTimeoutMs: 30_000,
  writeStallTimeoutMs: 30_000,
  lingerMs: 2_000,
});
