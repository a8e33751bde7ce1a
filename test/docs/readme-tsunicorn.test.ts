/**
 * The README's first tsunicorn example works as written: its app (which calls app.listen() itself) in a
 * fresh folder, served by the README's own command lines. Only the port differs: 8000 and 5000 may be
 * taken on the machine running the tests, so the first line gets its bind from TSUNICORN_CMD_ARGS and
 * the second a free port in PORT.
 */
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT, TsunicornProcess, stopAllServers, waitUntilServing } from '../runtime/tsunicorn-process.js';

const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const SECTION = README.slice(README.indexOf('## tsunicorn: the pre-fork HTTP server'));

function firstBlock(language: string): string {
  const match = new RegExp('```' + language + '\\n([\\s\\S]*?)```').exec(SECTION);
  if (!match) throw new Error(`no \`\`\`${language} block in the README's tsunicorn section`);
  return match[1]!;
}

/** A command line of the README's block: `VAR=value ... tsunicorn ARGS # comment`. */
function parseCommand(line: string): { env: Record<string, string>; args: string[] } {
  const words = line.replace(/#.*$/, '').trim().split(/\s+/);
  const env: Record<string, string> = {};
  while (/^[A-Z_]+=/.test(words[0] ?? '')) {
    const [name, value] = words.shift()!.split('=') as [string, string];
    env[name] = value;
  }
  expect(words.shift()).to.equal('tsunicorn');
  return { env, args: words };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("the README's first tsunicorn example", function () {
  this.timeout(30000);
  let directory: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-readme-'));
    writeFileSync(path.join(directory, 'app.js'), firstBlock('js'));
    writeFileSync(path.join(directory, 'package.json'), JSON.stringify({ name: 'readme-app', private: true }));
    // `npm install express`, from the packages this repository installs.
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(directory, 'node_modules'));
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  it('is an app that calls app.listen() itself', () => {
    expect(firstBlock('js')).to.match(/^app\.listen\(process\.env\.PORT/m);
    expect(firstBlock('js')).to.not.match(/export|module\.exports/);
  });

  it('serves it with the first command line as written', async () => {
    const { env, args } = parseCommand(firstBlock('sh').split('\n')[0]!);
    expect(args).to.deep.equal(['app.js']);
    const server = await TsunicornProcess.start(args, { cwd: directory, env: { ...env, TSUNICORN_CMD_ARGS: '-b 127.0.0.1:0' } });
    const [worker] = await server.waitForWorkers(1);
    expect((await waitUntilServing(server.url)).body).to.equal(`Hello World! (worker ${worker})`);
    await server.waitFor(new RegExp(`^worker ${worker} listening$`));
  });

  it('serves it with $PORT and $WEB_CONCURRENCY workers as the second line says', async () => {
    const { env, args } = parseCommand(firstBlock('sh').split('\n')[1]!);
    expect(Object.keys(env)).to.deep.equal(['PORT', 'WEB_CONCURRENCY']);
    const port = await freePort();
    const server = await TsunicornProcess.start(args, { cwd: directory, env: { ...env, PORT: String(port) } });
    expect(server.url).to.equal(`http://0.0.0.0:${port}`);
    const workers = await server.waitForWorkers(Number(env.WEB_CONCURRENCY));
    const answer = await waitUntilServing(`http://127.0.0.1:${port}`);
    expect(workers.map((pid) => `Hello World! (worker ${pid})`)).to.include(answer.body);
  });
});
