/**
 * What each control command does, over what the master shows of itself (`ControlledMaster`). A command
 * that changes something is queued into the master's loop as the signal it stands for (worker add N is
 * TTIN N times over, reload is HUP...), so it takes the very path the signal takes; the reply says what
 * was asked, the master's log what happened. A show command reads the master's state at once.
 *
 *   const handlers = new ControlHandlers(master);
 *   const reply = await handlers.answer({ command: ['worker', 'add'], pid, uid }, peer);
 */
import type { SettingOrigin } from '../configuration.js';
import type { StatsSummary, WorkerView } from '../master-stats.js';
import { SETTINGS, type Settings } from '../settings.js';
import { describePeer, type Peer } from './peer.js';
import { CommandError, parseCommand, type ControlCommand, type ControlReply, type ControlRequest } from './protocol.js';

export interface ListenerView {
  address: string;
  type: 'tcp' | 'tcp6' | 'unix';
  tls: boolean;
  fd: number | undefined;
  /** Where an inherited socket came from. */
  inherited?: string;
  /** Who accepts on it, by --socket-sharing (with reuse-port the master holds no descriptor: fd is null). */
  acceptedBy: 'master' | 'master and workers' | 'workers';
}

export interface MasterView {
  pid: number;
  generation: number;
  stopping: 'graceful' | 'quick' | undefined;
  /** The workers' statistics (master-stats.ts), oldest first. */
  workers: WorkerView[];
  summary: StatsSummary;
  listeners: ListenerView[];
  settings: Settings;
  origins: Record<keyof Settings, SettingOrigin>;
}

/** A command for the master's loop, handled as its signal (`kill` drains one worker). */
export type MasterCommand =
  | { signal: 'SIGHUP' | 'SIGUSR1' | 'SIGTERM' | 'SIGINT'; text: string; by: string }
  | { signal: 'SIGTTIN' | 'SIGTTOU'; count: number; text: string; by: string }
  | { kill: number; text: string; by: string };

export interface ControlledMaster {
  view(): MasterView;
  queue(command: MasterCommand): void;
  /** A show command, logged at debug level (a `watch tsunicornc show workers` would fill the log). */
  logRead(line: string): void;
}

/** Seconds to one decimal. */
function tenths(seconds: number): number {
  return Math.round(seconds * 10) / 10;
}

/** What show config gives of a setting: --env's values are the app's secrets, so only their names. */
function shownValue(name: keyof Settings, settings: Settings): unknown {
  const value = settings[name];
  if (name === 'raw_env') return settings.raw_env.map((assignment) => `${assignment.slice(0, assignment.indexOf('='))}=(hidden)`);
  if (name === 'bind') return settings.bind.map((address) => address.text);
  return value ?? null;
}

export class ControlHandlers {
  constructor(private readonly master: ControlledMaster) {}

  answer(request: ControlRequest, peer: Peer): ControlReply {
    let command: ControlCommand;
    try {
      command = parseCommand(request.command);
    } catch (error) {
      if (error instanceof CommandError) return { ok: false, error: error.message, usage: true };
      throw error;
    }
    const text = request.command.join(' ');
    const by = describePeer(peer);
    const view = this.master.view();
    if (command.name.startsWith('show ')) {
      this.master.logRead(`Control command from ${by}: ${text}`);
      return { ok: true, data: this.show(command, view) };
    }
    if (view.stopping && command.name !== 'shutdown') return { ok: false, error: `${text}: the master is stopping (${view.stopping})` };
    return this.act(command, view, text, by);
  }

  private show(command: ControlCommand, view: MasterView): unknown {
    switch (command.name) {
      case 'show workers':
        return {
          workers: view.workers.map((worker) => ({
            pid: worker.pid,
            generation: worker.generation,
            age: worker.age,
            uptime: tenths(worker.uptimeSeconds),
            state: worker.state,
            requests: worker.requests,
            in_flight: worker.inFlight,
            connections: worker.connections,
            upgraded: worker.upgraded,
            rss_bytes: worker.rssBytes,
            cpu_percent: worker.cpuPercent === null ? null : Math.round(worker.cpuPercent * 10) / 10,
            event_loop_delay_p99_ms: worker.eventLoopDelayP99Seconds === null ? null : Math.round(worker.eventLoopDelayP99Seconds * 10_000) / 10,
            last_heartbeat: tenths(worker.lastHeartbeatAgoMs / 1000),
            recycling: worker.recycling,
          })),
        };
      case 'show stats': {
        const { summary } = view;
        const draining = view.workers.filter((worker) => worker.state === 'draining').length;
        return {
          pid: view.pid,
          uptime: tenths(summary.uptimeSeconds),
          generation: view.generation,
          workers_current: summary.workers.current - draining,
          workers_draining: draining,
          workers_target: summary.workers.target,
          workers_spawned: summary.spawned,
          killed_by_timeout: summary.killedByTimeout,
          recycled_max_requests: summary.recycled.maxRequests,
          recycled_memory: summary.recycled.memory,
          reloads: summary.reloads,
          restarts: summary.restarts,
          requests_total: summary.requests.total,
          requests_in_flight: summary.requests.inFlight,
          requests_by_status: summary.requests.byStatusClass,
        };
      }
      case 'show config':
        return {
          settings: (['app', ...SETTINGS.map((setting) => setting.name)] as (keyof Settings)[]).map((name) => ({
            name,
            value: shownValue(name, view.settings),
            from: view.origins[name] ?? 'default',
          })),
        };
      case 'show listeners':
        return {
          listeners: view.listeners.map((listener) => ({
            address: listener.address,
            type: listener.type,
            tls: listener.tls,
            fd: listener.fd ?? null,
            accepted_by: listener.acceptedBy,
            inherited: listener.inherited ?? null,
          })),
        };
      default:
        throw new Error(`not a show command: ${command.name}`);
    }
  }

  private act(command: ControlCommand, view: MasterView, text: string, by: string): ControlReply {
    switch (command.name) {
      case 'worker add':
        this.master.queue({ signal: 'SIGTTIN', count: command.count, text, by });
        return { ok: true, data: { previous: view.summary.workers.target, target: view.summary.workers.target + command.count } };
      case 'worker remove': {
        const target = Math.max(1, view.summary.workers.target - command.count);
        this.master.queue({ signal: 'SIGTTOU', count: command.count, text, by });
        return { ok: true, data: { previous: view.summary.workers.target, target } };
      }
      case 'worker kill': {
        const worker = view.workers.find((candidate) => candidate.pid === command.pid);
        if (!worker) {
          const pids = view.workers.map((candidate) => candidate.pid).join(', ') || 'none';
          return { ok: false, error: `worker kill: ${command.pid} is not a worker of this master (workers: ${pids})`, usage: true };
        }
        if (worker.state === 'draining') return { ok: true, data: { pid: command.pid, state: 'draining', already: true } };
        this.master.queue({ kill: command.pid, text, by });
        return { ok: true, data: { pid: command.pid, state: 'draining', already: false } };
      }
      case 'reload':
        this.master.queue({ signal: 'SIGHUP', text, by });
        return { ok: true, data: { generation: view.generation + 1 } };
      case 'reopen':
        this.master.queue({ signal: 'SIGUSR1', text, by });
        return { ok: true, data: {} };
      case 'shutdown':
        this.master.queue({ signal: command.mode === 'quick' ? 'SIGINT' : 'SIGTERM', text, by });
        return { ok: true, data: { mode: command.mode, pid: view.pid } };
      default:
        throw new Error(`not an action: ${command.name}`);
    }
  }
}
