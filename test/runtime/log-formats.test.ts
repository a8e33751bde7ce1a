import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TsunicornProcess, request, sleep, stopAllServers, waitUntilServing } from './tsunicorn-process.js';

const APP = [
  "export default (req, res) => {",
  "  if (req.url === '/boom') throw new Error('boom in the app');",
  "  res.setHeader('X-Out', 'o\"ut\\\\');",
  "  res.end('ok');",
  "};",
  '',
].join('\n');

/** Writes `bytes` on a fresh connection and resolves to the status code of the answer (0 if none). */
function rawRequest(url: string, bytes: Buffer): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(bytes));
    let answer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => (answer = Buffer.concat([answer, chunk])));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer.toString('latin1'))?.[1] ?? 0)));
  });
}

function head(target: Buffer | string, headers: Record<string, Buffer | string>): Buffer {
  const lines = [Buffer.concat([Buffer.from('GET '), Buffer.from(target as string, 'latin1'), Buffer.from(' HTTP/1.1')])];
  lines.push(Buffer.from('Host: test'));
  for (const [name, value] of Object.entries(headers)) lines.push(Buffer.concat([Buffer.from(`${name}: `), Buffer.from(value as string, 'latin1')]));
  lines.push(Buffer.from('Connection: close'));
  return Buffer.concat([Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\r\n')])), Buffer.from('\r\n')]);
}

const basic = (user: Buffer) => 'Basic ' + Buffer.concat([user, Buffer.from(':secret')]).toString('base64');
/** Every byte a client can put in a header value or target that is not printable ASCII: 0x01-0x1f, 0x7f. */
const CONTROL_BYTES = [...Array.from({ length: 31 }, (_, index) => index + 1), 0x7f];

/** What the clients send, and what the access log must make of it. */
const CASES = [
  {
    // The forgery of issue 17: a quote in the user agent that would close the field and add fake ones.
    target: '/forge?a="b"', ua: 'Mozilla" "200 999 "forged', referer: 'http://x/"y',
    text: '"GET /forge?a=\\"b\\" HTTP/1.1" 200 2 "http://x/\\"y" "Mozilla\\" \\"200 999 \\"forged"',
    json: { path: '/forge', query: 'a="b"', user_agent: 'Mozilla" "200 999 "forged', referer: 'http://x/"y' },
  },
  {
    // A backslash before a quote must not turn the escaped quote back into a closing one.
    target: '/back\\slash', ua: 'a\\"b\\', referer: 'tab\there',
    text: '"GET /back\\\\slash HTTP/1.1" 200 2 "tab\\there" "a\\\\\\"b\\\\"',
    json: { path: '/back\\slash', query: '', user_agent: 'a\\"b\\', referer: 'tab\there' },
  },
  {
    // UTF-8 and bytes that are not UTF-8 (0xff, a lone continuation byte, a cut sequence); the strict layer
    // refuses any byte above 0x7f in the target (400), so there it is percent-encoded.
    target: '/caf%C3%A9', ua: 'caf\xc3\xa9 \xff \x80 \xe2\x82', referer: '\xf0\x9f\x98\x80',
    text: '"GET /caf%C3%A9 HTTP/1.1" 200 2 "\\xf0\\x9f\\x98\\x80" "caf\\xc3\\xa9 \\xff \\x80 \\xe2\\x82"',
    json: { path: '/caf%C3%A9', query: '', user_agent: 'café \\xff \\x80 \\xe2\\x82', referer: '😀' },
  },
];

describe('tsunicorn access log escaping and JSON logs', function () {
  this.timeout(40000);
  let directory: string;
  let app: string;
  beforeEach(() => {
    directory = mkdtempSync(path.join(os.tmpdir(), 'tsunicorn-logs-'));
    app = path.join(directory, 'app.mjs');
    writeFileSync(app, APP);
  });
  afterEach(async () => {
    await stopAllServers();
    rmSync(directory, { recursive: true, force: true });
  });

  /** Sends every case, then each control byte in the target, the user agent and the referer. */
  async function sendAll(url: string): Promise<void> {
    for (const { target, ua, referer } of CASES) {
      expect(await rawRequest(url, head(target, { 'User-Agent': ua, Referer: referer }))).to.equal(200);
    }
    for (const byte of CONTROL_BYTES) {
      const raw = String.fromCharCode(byte);
      // A tab is allowed inside a header value (and logged escaped); every other control byte, and any in
      // the target, is refused by the strict layer with 400 before the app and the log see it.
      expect(await rawRequest(url, head(`/c${raw}`, {}))).to.equal(400);
      expect(await rawRequest(url, head('/ua', { 'User-Agent': `u${raw}a` }))).to.equal(byte === 9 ? 200 : 400);
      expect(await rawRequest(url, head('/ref', { Referer: `r${raw}f` }))).to.equal(byte === 9 ? 200 : 400);
    }
    // A Basic auth user carries any byte (base64): every control byte reaches %(u)s.
    const user = Buffer.from([0x75, ...CONTROL_BYTES, 0x22, 0x5c]);
    expect(await rawRequest(url, head('/user', { Authorization: basic(user) }))).to.equal(200);
    expect(await rawRequest(url, head('/last', {}))).to.equal(200);
  }

  it('escapes ", \\ and control bytes in every atom of the default format: no line can be forged or broken', async () => {
    const server = await TsunicornProcess.start([app, '-b', '127.0.0.1:0', '--access-logfile', '-']);
    await waitUntilServing(server.url, '/first');
    await sendAll(server.url);
    await server.waitFor(/"GET \/last /);
    const lines = server.stdout.filter((line) => line !== '');
    // One line per answered request, each holding printable ASCII only and parsing as the combined format.
    expect(lines).to.have.length(1 + CASES.length + 2 + 2);
    const combined = /^(\S+) - (\S+) \[[^\]]+\] "((?:[^"\\]|\\.)*)" (\d{3}) (\S+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$/;
    for (const line of lines) {
      expect(line).to.match(/^[\x20-\x7e]*$/);
      expect(line).to.match(combined);
    }
    CASES.forEach(({ text }, index) => expect(lines[1 + index]).to.match(new RegExp(`^127\\.0\\.0\\.1 - - \\[[^\\]]+\\] ${text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}$`)));
    expect(lines.find((line) => line.includes('"GET /ua '))).to.match(/ "u\\ta"$/);
    expect(lines.find((line) => line.includes('"GET /ref '))).to.match(/ "r\\tf" "-"$/);
    const controls = '\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\b\\t\\n\\v\\f\\r\\x0e\\x0f\\x10\\x11\\x12\\x13\\x14\\x15\\x16\\x17\\x18\\x19\\x1a\\x1b\\x1c\\x1d\\x1e\\x1f\\x7f';
    expect(lines.find((line) => line.includes('"GET /user '))!.split(' ')[2]).to.equal(`u${controls}\\"\\\\`);
    // A custom format escapes each atom too, response headers included.
    await server.kill();
    const custom = await TsunicornProcess.start([app, '-b', '127.0.0.1:0', '--access-logfile', '-', '--access-logformat', '%(U)s|%(q)s|%({x-out}o)s|%({user-agent}i)s']);
    expect(await rawRequest(custom.url, head('/p"q?x=\\', { 'User-Agent': 'tab\t"' }))).to.equal(200);
    expect(await custom.waitFor(/\|/)).to.deep.equal(['/p\\"q|x=\\\\|o\\"ut\\\\|tab\\t\\"']);
  });

  it('writes one JSON object per request with --access-logformat json, whatever the client sent', async () => {
    const server = await TsunicornProcess.start([
      app, '-b', '127.0.0.1:0', '--access-logfile', '-', '--access-logformat', 'json %({x-request-id}i)s %({x-out}o)s %(r)s',
    ]);
    await waitUntilServing(server.url, '/first');
    await sendAll(server.url);
    expect(await rawRequest(server.url, head('/id', { 'X-Request-Id': 'r"1\\\xff' }))).to.equal(200);
    await server.waitFor(/"\/id"/);
    const lines = server.stdout.filter((line) => line !== '');
    expect(lines).to.have.length(1 + CASES.length + 2 + 2 + 1);
    // Every line parses, holds no control character, and has the documented fields in order.
    const records = lines.map((line) => {
      expect([...line].filter((char) => char.charCodeAt(0) < 0x20 || (char.charCodeAt(0) >= 0x7f && char.charCodeAt(0) <= 0x9f))).to.deep.equal([]);
      return JSON.parse(line) as Record<string, unknown>;
    });
    for (const record of records) {
      expect(Object.keys(record)).to.deep.equal([
        'time', 'remote_addr', 'user', 'method', 'path', 'query', 'protocol', 'status', 'bytes', 'referer',
        'user_agent', 'duration', 'pid', 'request_line', 'request_headers', 'response_headers',
      ]);
      expect(record.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/);
      expect(record).to.include({ remote_addr: '127.0.0.1', method: 'GET', protocol: 'HTTP/1.1', status: 200, bytes: 2 });
      expect(record.duration).to.be.a('number');
      expect(record.pid).to.be.a('number');
      expect(record.response_headers).to.deep.equal({ 'x-out': 'o"ut\\' });
    }
    CASES.forEach(({ json }, index) => expect(records[1 + index]).to.include(json));
    expect(records.find((record) => record.path === '/ua')).to.include({ user_agent: 'u\ta', referer: null });
    expect(records.find((record) => record.path === '/ref')).to.include({ referer: 'r\tf', user_agent: null });
    const user = String.fromCharCode(0x75, ...CONTROL_BYTES, 0x22, 0x5c);
    expect(records.find((record) => record.path === '/user')).to.include({ user });
    const withId = records.find((record) => record.path === '/id')!;
    expect(withId.request_headers).to.deep.equal({ 'x-request-id': 'r"1\\\\xff' });
    expect(withId.request_line).to.equal('GET /id HTTP/1.1');
    expect(records[0]!.request_headers).to.deep.equal({ 'x-request-id': null });
  });

  it('writes the error log as JSON lines with --log-format json, stacks included', async () => {
    const server = await TsunicornProcess.start([app, '-b', '127.0.0.1:0', '--log-format', 'json', '--log-level', 'debug']);
    await waitUntilServing(server.url);
    expect((await request(server.url, '/boom')).status).to.equal(500);
    await server.waitFor(/Error handling request/);
    // Requests the strict layer refuses are logged at debug level, with what the client sent.
    await sendAll(server.url);
    expect(await rawRequest(server.url, Buffer.from('GE"T /\\\xff\x01 HTTP/1.1\r\n\r\n', 'latin1'))).to.equal(400);
    await server.waitFor(/Invalid or slow request/, 1 + CONTROL_BYTES.length);
    server.signal('SIGTERM');
    expect((await server.waitForExit()).code).to.equal(0);
    const records = server.stderr.filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const record of records) {
      expect(record.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/);
      expect(record.level).to.be.oneOf(['debug', 'info', 'warning', 'error', 'critical']);
      expect(record.pid).to.be.a('number');
      expect(record.message).to.be.a('string');
    }
    expect(String(records[0]!.message)).to.match(/^Starting tsunicorn \d/);
    expect(records.at(-1)!.message).to.equal('Shutting down: Master');
    const failure = records.find((record) => record.message === 'Error handling request /boom')!;
    expect(failure.level).to.equal('error');
    expect(failure.stack).to.match(/^Error: boom in the app\n\s+at /);
    expect(records.filter((record) => 'stack' in record)).to.have.length(1);
    expect(records.filter((record) => record.level === 'debug' && /^Invalid or slow request/.test(String(record.message)))).to.have.length.at.least(1 + CONTROL_BYTES.length);
  });

  it('re-reads the logging settings at HUP, and keeps them when the new config is bad (one error line)', async () => {
    const config = path.join(directory, 'tsunicorn.config.mjs');
    const accessLog = path.join(directory, 'access.log');
    writeFileSync(config, `export const accesslog = ${JSON.stringify(accessLog)};\n`);
    const server = await TsunicornProcess.start([app, '-b', '127.0.0.1:0', '-c', config]);
    await waitUntilServing(server.url, '/before');
    writeFileSync(config, `export const accesslog = ${JSON.stringify(accessLog)};\nexport const access_log_format = 'json';\nexport const log_format = 'json';\n`);
    server.signal('SIGHUP');
    await server.waitFor(/\[INFO\] Worker exiting/);
    await waitUntilServing(server.url, '/after');
    // The master's own lines after the HUP are JSON, like the new workers' access-log lines.
    const reloadAt = server.stderr.findIndex((line) => /\[INFO\] Handling signal: hup/.test(line));
    const afterReload = server.stderr.slice(reloadAt + 1).filter((line) => line !== '' && !/\[INFO\] Worker exiting/.test(line));
    expect(afterReload.length).to.be.greaterThan(0);
    for (const line of afterReload) expect(JSON.parse(line)).to.have.keys('time', 'level', 'pid', 'message');
    const access = () => readFileSync(accessLog, 'utf8').trim().split('\n');
    /** The access-log line is written once the response is finished: waits (bounded) for a line naming `target`. */
    const accessLine = async (target: string) => {
      for (let attempt = 0; attempt < 200 && !access().some((line) => line.includes(target)); attempt++) await sleep(25);
      return access().find((line) => line.includes(target))!;
    };
    expect(access()[0]).to.match(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/before HTTP\/1.1" 200 2 "-" "-"$/);
    expect(JSON.parse(await accessLine('/after'))).to.include({ path: '/after', status: 200 });

    // A bad config at HUP: one error line, and the JSON settings keep running.
    for (const bad of ['export const log_format = "xml";\n', 'export const accesslog = "/nonexistent-dir/access.log";\n', 'export const = ;\n']) {
      writeFileSync(config, bad);
      const before = server.stderr.length;
      server.signal('SIGHUP');
      await server.waitFor(/Reload: cannot read the configuration/, server.stderr.filter((line) => /Reload: cannot read/.test(line)).length + 1);
      const errors = server.stderr.slice(before).filter((line) => /"level":"error"/.test(line));
      expect(errors).to.have.length(1);
      expect((JSON.parse(errors[0]!) as { message: string }).message).to.match(/keeping the current one and the running workers: .*(log_format|access\.log|config)/);
    }
    expect(server.exitCode).to.equal(undefined);
    // No new generation for a bad config: the JSON worker started at the first HUP still serves.
    expect(server.lines.filter((line) => /Booting worker/.test(line))).to.have.length(2);
    await waitUntilServing(server.url, '/still');
    expect(JSON.parse(await accessLine('/still'))).to.include({ path: '/still', status: 200 });
  });
});
