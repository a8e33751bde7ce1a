import { expect } from 'chai';
import { LogStore } from '../../procfile/log-store.js';
import type { ExitStatus, SupervisedProcess } from '../../procfile/process.js';
import { Supervisor, type Clock, type SupervisedSpec } from '../../procfile/supervisor.js';

/** A clock the test moves by hand: timers fire only in `advance`. */
class FakeClock implements Clock {
  private time = 1_000_000;
  private timers: { at: number; callback: () => void; id: number }[] = [];
  private ids = 0;

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.timers.push({ at: this.time + ms, callback, id });
    return id;
  }

  clearTimeout(timer: unknown): void {
    this.timers = this.timers.filter((entry) => entry.id !== timer);
  }

  /** Moves time forward, firing each timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((entry) => entry.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.timers = this.timers.filter((entry) => entry !== due);
      this.time = due.at;
      due.callback();
    }
    this.time = end;
  }
}

/** A process that exits when the test says so (or when signalled). */
class FakeProcess implements SupervisedProcess {
  static next = 100;
  readonly pid = FakeProcess.next++;
  readonly exited: Promise<ExitStatus>;
  private done!: (status: ExitStatus) => void;
  private alive = false;

  constructor() {
    this.exited = new Promise((resolve) => (this.done = resolve));
  }

  start(): number {
    this.alive = true;
    return this.pid;
  }

  exit(code: number): void {
    this.alive = false;
    this.done({ code, signal: null });
  }

  signal(signal: NodeJS.Signals): boolean {
    if (!this.alive) return false;
    this.alive = false;
    this.done({ code: null, signal });
    return true;
  }

  groupAlive(): boolean {
    return this.alive;
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

function fixture(specs: Partial<SupervisedSpec>[]) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const processes: FakeProcess[] = [];
  const supervisor = new Supervisor(
    specs.map((spec, i) => ({ name: `p${i}.1`, type: `p${i}`, command: 'x', cwd: '/', env: {}, policy: 'stop-all', ...spec })),
    { system: (text) => lines.push(text), output: () => undefined },
    {
      timeoutMs: 1000,
      clock,
      createProcess: () => {
        const proc = new FakeProcess();
        processes.push(proc);
        return proc;
      },
    },
  );
  return { clock, lines, processes, supervisor };
}

describe('Supervisor with a fake clock and fake processes', () => {
  it('restarts with a doubling back-off, reports the crash loop, and starts over after a stable run (no real waiting)', async () => {
    const { clock, lines, processes, supervisor } = fixture([{ name: 'crasher.1', type: 'crasher', policy: 'restart' }]);
    const running = supervisor.run();
    const crash = async () => {
      processes.at(-1)!.exit(1);
      await settle();
    };
    await crash();
    expect(lines.at(-1)).to.equal('restarting crasher.1 in 0.5s');
    expect(supervisor.statuses()[0]).to.include({ state: 'restarting', restartInMs: 500 });
    clock.advance(499);
    expect(processes).to.have.length(1);
    clock.advance(1);
    expect(processes).to.have.length(2);
    await crash();
    expect(lines.at(-1)).to.equal('restarting crasher.1 in 1s');
    clock.advance(1000);
    await crash();
    expect(lines.at(-1)).to.equal('crasher.1 is crash looping (3 quick exits in a row); restarting in 2s');
    clock.advance(2000);
    await crash();
    expect(lines.at(-1)).to.equal('crasher.1 is crash looping (4 quick exits in a row); restarting in 4s');
    clock.advance(4000);
    // A run of 10 s counts as healthy: the back-off starts over.
    clock.advance(10_000);
    await crash();
    expect(lines.at(-1)).to.equal('restarting crasher.1 in 0.5s');
    expect(supervisor.statuses()[0]).to.include({ restarts: 4 });
    supervisor.stop({ signal: 'SIGTERM' });
    expect(await running).to.equal(143);
  });

  it('starts a type --after another only once it is ready, and reports who waits', async () => {
    const { lines, processes, supervisor } = fixture([
      { name: 'web.1', type: 'web', readiness: /listening/ },
      { name: 'worker.1', type: 'worker', after: ['web'] },
    ]);
    const running = supervisor.run();
    expect(processes).to.have.length(1);
    expect(lines).to.include('worker.1 waits for web to be ready');
    expect(supervisor.statuses().map((status) => status.state)).to.deep.equal(['starting', 'starting']);
    const ready = supervisor.whenReady(['web.1', 'worker.1']);
    supervisor.lineSeen('web.1', Buffer.from('booting\nlistening on 5000'));
    expect(processes).to.have.length(2);
    expect(await ready).to.deep.equal({ ok: true });
    expect(supervisor.statuses().map((status) => status.state)).to.deep.equal(['ready', 'running']);
    supervisor.stop({ status: 0 });
    expect(await running).to.equal(0);
  });
});

describe('LogStore', () => {
  it('keeps the last N lines per instance and merges them in print order', () => {
    let now = 0;
    const logs = new LogStore(2, () => ++now);
    logs.add('a', 'output', Buffer.from('a1\na2\na3'));
    logs.add('b', 'output', Buffer.from('b1'));
    logs.add('a', 'system', Buffer.from('a4'));
    expect(logs.last([], 10).map((line) => line.bytes.toString())).to.deep.equal(['a3', 'b1', 'a4']);
    expect(logs.last(['a'], 1).map((line) => line.bytes.toString())).to.deep.equal(['a4']);
    expect(logs.last(['b', 'a'], 2).map((line) => line.bytes.toString())).to.deep.equal(['b1', 'a4']);
  });
});
