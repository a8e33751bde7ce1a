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

/** A printer writing into memory, and what it printed. */
function memoryPrinter(): { printer: Printer; printed: () => string } {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (chunk: Buffer) => chunks.push(chunk));
  const printer = new Printer(out, { timestamp: false, color: false, nameWidth: 6 });
  return { printer, printed: () => Buffer.concat(chunks).toString() };
}

describe('Printer', () => {
  let child: ChildProcess | null = null;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = null;
  });

  it('does not split a line because the event loop was late: the rest, already in the pipe, is read first', async () => {
    const { printer, printed } = memoryPrinter();
    child = spawn('/bin/sh', ['-c', "printf 'half'; sleep 0.05; printf ' rest\\n'"], { stdio: ['ignore', 'pipe', 'ignore'] });
    const source = child.stdout!;
    printer.attach('web.1', source);
    // As soon as the half line is held, the loop stalls past the partial-line delay while the rest arrives.
    source.once('data', () => setImmediate(() => busy(400)));
    await new Promise((resolve) => source.once('close', resolve));
    expect(printed()).to.equal('web.1  | half rest\n');
  });

  it('still prints a partial line alone after the delay when nothing more comes (a prompt)', async () => {
    const { printer, printed } = memoryPrinter();
    child = spawn('/bin/sh', ['-c', "printf 'name? '; sleep 0.6; printf 'ok\\n'"], { stdio: ['ignore', 'pipe', 'ignore'] });
    printer.attach('web.1', child.stdout!);
    await new Promise((resolve) => child!.stdout!.once('close', resolve));
    expect(printed()).to.equal('web.1  | name? \nweb.1  | ok\n');
  });
});
