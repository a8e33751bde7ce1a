/**
 * Puts a function in front of every emission of one event on one emitter, whoever listens to it. The
 * worker's servers need this: Node emits 'request' and 'upgrade' on the server, and listeners the app adds
 * later (Socket.IO's attach() takes the existing 'request' listeners into a wrapper of its own) must not
 * get past the strict layer, the counting or the drain.
 *
 *   interceptEvent(server, 'request', (pass, req, res) => { before(req, res); return pass(req, res); });
 *
 * `pass` emits the event as before (to the listeners, or to the next interceptor installed earlier); it is
 * also returned, for emitting the event later past the interceptor.
 * Adding or removing a listener is unaffected, and so is listenerCount(), which Node consults to decide
 * whether an upgrade is the app's to answer.
 */
import type { EventEmitter } from 'node:events';

export type PassEvent<Args extends unknown[]> = (...args: Args) => boolean;

export function interceptEvent<Args extends unknown[]>(
  emitter: EventEmitter,
  event: string,
  handler: (pass: PassEvent<Args>, ...args: Args) => boolean,
): PassEvent<Args> {
  const emit = Reflect.get(emitter, 'emit') as (this: EventEmitter, name: string | symbol, ...args: unknown[]) => boolean;
  const pass: PassEvent<Args> = (...args) => Reflect.apply(emit, emitter, [event, ...args]);
  emitter.emit = function (this: EventEmitter, name: string | symbol, ...args: unknown[]): boolean {
    if (name === event) return handler(pass, ...(args as Args));
    return Reflect.apply(emit, this, [name, ...args]);
  };
  return pass;
}
