import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { Printer } from '../../procfile/printer.js';

/** Blocks the event loop, as a busy manager on a loaded machine would be. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

describe('Printer', () => {
  let child: ChildProcess | null = null;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = null;
  });

  it('does not split a line because the event loop was late: the rest, already in the pipe, is read first', async () => {
    const out = new PassThrough();
    const printed: Buffer[] = [];
    out.on('data', (chunk: Buffer) => printed.push(chunk));
    const printer = new Printer(out, { timestamp: false, color: false, nameWidth: 6 });
    child = spawn('/bin/sh', ['-c', "printf 'half'; sleep 0.05; printf ' rest\\n'"], { stdio: ['ignore', 'pipe', 'ignore'] });
    const source = child.stdout!;
    printer.attach('web.1', source);
    // As soon as the half line is held, the loop stalls past the partial-line delay while the rest arrives.
    source.once('data', () => setImmediate(() => busy(400)));
    await new Promise((resolve) => source.once('close', resolve));
    expect(Buffer.concat(printed).toString()).to.equal('web.1  | half rest\n');
  });

  it('still prints a partial line alone after the delay when nothing more comes (a prompt)', async () => {
    const out = new PassThrough();
    const printed: Buffer[] = [];
    out.on('data', (chunk: Buffer) => printed.push(chunk));
    const printer = new Printer(out, { timestamp: false, color: false, nameWidth: 6 });
    child = spawn('/bin/sh', ['-c', "printf 'name? '; sleep 0.6; printf 'ok\\n'"], { stdio: ['ignore', 'pipe', 'ignore'] });
    printer.attach('web.1', child.stdout!);
    await new Promise((resolve) => child!.stdout!.once('close', resolve));
    expect(Buffer.concat(printed).toString()).to.equal('web.1  | name? \nweb.1  | ok\n');
  });
});
