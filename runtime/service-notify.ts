/**
 * sd_notify(3) for the master: with `NOTIFY_SOCKET` set (systemd's `Type=notify`), the master says
 * `READY=1` once its workers serve, `RELOADING=1` then `READY=1` around a HUP, `STOPPING=1` at a stop,
 * and a new master started by USR2 says `MAINPID=` (its own pid) with its `READY=1`.
 *
 *   const notifier = new ServiceNotifier(env.NOTIFY_SOCKET, (line) => log.warning(line));
 *   notifier.notify('READY=1');      // queued: the messages go out one at a time, in order
 *
 * The protocol is one datagram on a unix socket (a path, or an abstract name written `@name`). Node has
 * no unix datagram sockets, so each message is sent by systemd's own `systemd-notify`, which is there
 * wherever a service manager set NOTIFY_SOCKET. It runs as the master's child: without --pid it sends the
 * message on behalf of its parent (the master; the kernel lets root claim that pid, other users send it
 * as systemd-notify's own, which is why the units need `NotifyAccess=all`), and it waits until the
 * manager has read the message (`BARRIER=1`) so nothing is lost when the master exits right after.
 */
import { execFile } from 'node:child_process';
import { firstLine } from './errors.js';

export class ServiceNotifier {
  private queue: Promise<void> = Promise.resolve();
  private failed = false;

  constructor(
    private readonly socket: string | undefined,
    private readonly warn: (line: string) => void,
  ) {}

  get enabled(): boolean {
    return this.socket !== undefined && this.socket !== '' && !this.failed;
  }

  /** Sends `assignments` (`READY=1`, `MAINPID=123`) as one message after the ones queued before. */
  notify(...assignments: string[]): Promise<void> {
    if (!this.enabled) return this.queue;
    this.queue = this.queue.then(() => this.send(assignments));
    return this.queue;
  }

  private send(assignments: string[]): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    return new Promise((resolve) => {
      const env = { ...process.env, NOTIFY_SOCKET: this.socket };
      execFile('systemd-notify', assignments, { env, timeout: 10_000 }, (error, _stdout, stderr) => {
        if (error) {
          const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
          // One line, once: the service manager waits for READY=1 and will say the start timed out.
          this.failed = true;
          this.warn(
            missing
              ? `NOTIFY_SOCKET is set but systemd-notify is not on PATH: the service manager is not told ${assignments.join(' ')} (install systemd or drop Type=notify)`
              : `systemd-notify ${assignments.join(' ')} failed: ${firstLine(stderr || error)}; no more notifications are sent`,
          );
        }
        resolve();
      });
    });
  }

  /** Resolves once every queued message went out (or failed). */
  settled(): Promise<void> {
    return this.queue;
  }
}
