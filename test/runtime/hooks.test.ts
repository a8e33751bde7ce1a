import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { APPS, TsunicornProcess, request, sleep, stopAllServers } from './tsunicorn-process.js';

interface HookCall {
  hook: string;
  process: number;
  master?: number;
  worker?: { pid: number | null; age: number; server: string } | number;
  url?: string;
  status?: number;
  newValue?: number;
  oldValue?: number;
  workers?: number;
  exitCode?: number | null;
}

describe('tsunicorn hooks from the config file', function () {
  this.timeout(40000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-hooks-'));
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  it('calls every hook with its documented arguments, in order, and awaits worker_exit', async () => {
    const hookLog = path.join(directory, 'hooks.jsonl');
    const server = await TsunicornProcess.start(
      [path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '-w', '2', '-c', path.join(APPS, 'hooks.config.mjs')],
      { env: { HOOK_LOG: hookLog } },
    );
    const master = server.pid;
    const readCalls = () => readFileSync(hookLog, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as HookCall);
    const waitForCalls = async (hook: string, count: number) => {
      for (let attempt = 0; attempt < 300 && readCalls().filter((call) => call.hook === hook).length < count; attempt++) await sleep(50);
    };
    const first = await server.waitForWorkers(2);
    await waitForCalls('when_ready', 1);
    expect((await request(server.url, '/a')).status).to.equal(200);
    // A hook that throws is logged with its stack; the request is served and the worker lives on.
    expect((await request(server.url, '/hook-throws')).body).to.equal('esm listener\n');
    await server.waitFor(/\[ERROR\] Hook pre_request failed/);
    expect(server.stderr.join('\n')).to.match(/Error: pre_request failed on purpose\n\s+at /);
    server.signal('SIGTTIN');
    const three = await server.waitForWorkers(3);
    await waitForCalls('post_worker_init', 3);
    server.signal('SIGTTOU');
    await server.waitForWorkers(2);
    const stopped = three.find((pid) => !server.workerPids().includes(pid))!;
    server.signal('SIGINT');
    expect((await server.waitForExit()).code).to.equal(0);

    const calls = readCalls();
    const names = calls.map((call) => call.hook);
    const inMaster = calls.filter((call) => call.process === master);
    expect(inMaster[0]).to.deep.include({ hook: 'on_starting', master, workers: 2 });
    expect(inMaster.at(-1)).to.deep.equal({ hook: 'on_exit', process: master, master });
    expect(names.filter((name) => name === 'when_ready')).to.have.length(1);
    const preForks = inMaster.filter((call) => call.hook === 'pre_fork');
    expect(preForks.map((call) => call.worker)).to.deep.equal([1, 2, 3].map((age) => ({ pid: null, age, server: 'none' })));
    expect(inMaster.filter((call) => call.hook === 'nworkers_changed').map((call) => [call.newValue, call.oldValue])).to.deep.equal([[3, 2], [2, 3]]);
    const childExits = inMaster.filter((call) => call.hook === 'child_exit');
    expect(childExits.map((call) => call.worker).sort()).to.deep.equal([...three].sort());

    for (const pid of three) {
      const own = calls.filter((call) => call.process === pid);
      const ownNames = own.map((call) => call.hook);
      const age = (own[0]!.worker as { age: number }).age;
      expect(ownNames.slice(0, 2)).to.deep.equal(['post_fork', 'post_worker_init']);
      expect(own[0]).to.deep.include({ master, worker: { pid, age, server: 'none' } });
      expect(own[1]!.worker).to.deep.equal({ pid, age, server: 'http.Server' });
      // Requests come in pairs, pre before post; then the exit hooks, worker_exit awaited to its end.
      const requests = own.slice(2).filter((call) => call.hook === 'pre_request' || call.hook === 'post_request');
      for (let index = 0; index < requests.length; index += 2) {
        expect([requests[index]!.hook, requests[index + 1]!.hook]).to.deep.equal(['pre_request', 'post_request']);
        expect(requests[index + 1]).to.deep.include({ url: requests[index]!.url, status: 200 });
      }
      const tail = ownNames.filter((name) => !/_request$/.test(name)).slice(2);
      expect(tail).to.deep.equal(pid === stopped ? ['worker_exit', 'worker_exit done'] : ['worker_int', 'worker_exit', 'worker_exit done']);
      const exitIndex = calls.findIndex((call) => call.hook === 'worker_exit done' && call.process === pid);
      const reapIndex = calls.findIndex((call) => call.hook === 'child_exit' && call.worker === pid);
      expect(exitIndex, `worker ${pid} finished worker_exit before the master reaped it`).to.be.lessThan(reapIndex);
    }
    const served = calls.filter((call) => call.hook === 'post_request').map((call) => call.url).sort();
    expect(served).to.deep.equal(['/a', '/hook-throws']);
    expect(first.every((pid) => three.includes(pid))).to.equal(true);
  });

  const failures: [string, string, RegExp][] = [
    ['an unknown hook', 'export function post_requst(worker, req, res) {}\n', /hooks\.config\.mjs:1: unknown hook "post_requst" \(hooks: .*post_request/],
    ['pre_exec', 'export const workers = 2;\nexport function pre_exec(server) {}\n', /hooks\.config\.mjs:2: hook "pre_exec" is not supported: .*spawns the new master/],
    ['worker_abort', 'export default { worker_abort(worker) {} };\n', /hooks\.config\.mjs:1: hook "worker_abort" is not supported: .*SIGKILL/],
    ['a hook that is not a function', 'export const worker_exit = 5;\n', /hooks\.config\.mjs:1: worker_exit must be a function/],
  ];
  for (const [what, source, message] of failures) {
    it(`rejects ${what} in the config file with one line and status 2, before any worker`, async () => {
      const config = path.join(directory, 'hooks.config.mjs');
      writeFileSync(config, source);
      const server = await TsunicornProcess.start([path.join(APPS, 'esm-listener.mjs'), '-b', '127.0.0.1:0', '-c', config], { listening: 0 });
      expect((await server.waitForExit()).code).to.equal(2);
      expect(server.stderr).to.have.length(1);
      expect(server.stderr[0]).to.match(message);
    });
  }

  it('gives the upgraded connections to the app until the graceful deadline, and the app can close them in worker_exit', async () => {
    const server = await TsunicornProcess.start([
      path.join(APPS, 'frameworks/ws-listener.mjs'), '-b', '127.0.0.1:0', '-c', path.join(APPS, 'frameworks/ws-close.config.mjs'), '--graceful-timeout', '60',
    ]);
    const [worker] = await server.waitForWorkers(1);
    const socket = new WebSocket(server.url.replace(/^http/, 'ws'));
    const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    await new Promise((resolve) => socket.once('message', resolve));
    server.signal('SIGTERM');
    // Far below the 60 s graceful timeout: worker_exit closed the only connection, so the worker is done.
    expect(await closed).to.deep.equal({ code: 1001, reason: 'worker exiting' });
    expect((await server.waitForExit()).code).to.equal(0);
    expect(server.lines.some((line) => line.includes(`Worker exiting (pid: ${worker})`))).to.equal(true);
  });
});
