import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { BIN, cleanup, processAlive, project, startManager } from './helpers.js';

type Result = { content: { type: string; text: string }[]; isError?: boolean };

/** The SDK's own client, running `tsforeman mcp` in `dir` over stdio. */
async function connect(dir: string): Promise<Client> {
  const client = new Client({ name: 'tsforeman-test', version: '1.0.0' });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], cwd: dir, stderr: 'pipe' }));
  return client;
}

const textOf = (result: unknown) => (result as Result).content.map((part) => part.text).join('\n');

describe('tsforeman mcp (Model Context Protocol over stdio)', function () {
  this.timeout(60_000);
  let client: Client | null = null;
  afterEach(async () => {
    await client?.close();
    client = null;
    await cleanup();
  });

  it('lists ps, logs, wait, restart and stop with JSON schemas, and drives a live stack', async () => {
    const dir = project({ Procfile: 'web: echo "hello from $PS"; exec sleep 300\nworker: echo "worker up"; exec sleep 300\n' });
    const manager = startManager(['start', '--no-timestamp', '--ready-line', 'web=hello from'], dir);
    await manager.waitFor(/web\.1 ready in[\s\S]*worker\.1 \| worker up|worker\.1 \| worker up[\s\S]*web\.1 ready in/);
    client = await connect(dir);

    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).to.deep.equal(['logs', 'ps', 'restart', 'stop', 'wait']);
    const logsTool = tools.find((tool) => tool.name === 'logs')!;
    expect(logsTool.inputSchema.type).to.equal('object');
    expect(Object.keys(logsTool.inputSchema.properties ?? {})).to.have.members(['names', 'lines']);

    const ps = JSON.parse(textOf(await client.callTool({ name: 'ps', arguments: {} }))) as { name: string; state: string; pid: number }[];
    expect(ps.map((row) => [row.name, row.state])).to.deep.equal([['web.1', 'ready'], ['worker.1', 'running']]);

    const logs = textOf(await client.callTool({ name: 'logs', arguments: { names: ['web'], lines: 10 } }));
    expect(logs).to.match(/^\d\d:\d\d:\d\d system +\| web\.1 started \(pid \d+\)$/m);
    expect(logs).to.match(/^\d\d:\d\d:\d\d web\.1 +\| hello from web\.1$/m);
    expect(logs).to.not.include('worker up');

    const waited = await client.callTool({ name: 'wait', arguments: { names: ['web.1', 'worker'], timeout: 10 } });
    expect(textOf(waited)).to.equal('ready: web.1, worker.1');

    const old = ps[0]!.pid;
    expect(textOf(await client.callTool({ name: 'restart', arguments: { names: ['web.1'] } }))).to.equal('restarted web.1');
    expect(processAlive(old)).to.equal(false);
    const unknown = (await client.callTool({ name: 'restart', arguments: { names: ['db'] } })) as Result;
    expect(unknown.isError).to.equal(true);
    expect(textOf(unknown)).to.equal('unknown process "db" (this manager runs: web.1, worker.1)');

    expect(textOf(await client.callTool({ name: 'stop', arguments: { names: ['worker'] } }))).to.equal('stopped worker.1');
    expect(textOf(await client.callTool({ name: 'stop', arguments: {} }))).to.equal('stopped all processes; the manager exited with status 0');
    expect((await manager.exit).code).to.equal(0);

    // The manager is gone: every tool answers one clear error.
    for (const name of ['ps', 'logs', 'wait', 'restart', 'stop']) {
      const result = (await client.callTool({ name, arguments: {} })) as Result;
      expect(result.isError, name).to.equal(true);
      expect(textOf(result), name).to.equal('no tsforeman is running here (no manager listening on .tsforeman.sock; start one, or use -d/-f/--socket)');
    }
  });

  it('restart gives up waiting after its timeout with one error naming what is not ready; the instance goes on starting', async () => {
    // Ready the first time only: after a restart its ready line never comes.
    const dir = project({ Procfile: 'slow: if [ -e again ]; then exec sleep 300; fi; touch again; echo ready; exec sleep 300\n' });
    const manager = startManager(['start', '--no-timestamp', '--ready-line', 'slow=^ready'], dir);
    await manager.waitFor(/slow\.1 ready in/);
    client = await connect(dir);
    const result = (await client.callTool({ name: 'restart', arguments: { names: ['slow'], timeout: 0.5 } })) as Result;
    expect(result.isError).to.equal(true);
    expect(textOf(result)).to.equal('restarted, but not ready after 0.5s: slow.1 (starting)');
    const ps = JSON.parse(textOf(await client.callTool({ name: 'ps', arguments: {} }))) as { state: string; restarts: number; pid: number | null }[];
    expect(ps[0]).to.include({ state: 'starting', restarts: 1 });
    expect(processAlive(ps[0]!.pid!)).to.equal(true);
    manager.signal('SIGTERM');
    expect((await manager.exit).code).to.equal(143);
  });
});
