/**
 * Output throughput of `tsforeman start`: N processes each print M numbered lines as fast as they can.
 * Measured in the same run:
 *   - the reference: the same N processes writing straight to files (no manager at all);
 *   - tsforeman start (timestamps on, no colour), its stdout going to a file;
 *   - foreman (Debian's ruby-foreman) the same way, when `foreman` is installed.
 * Every manager's output is then checked: each process's lines must all be there, whole, in order.
 * A run ends when the file holds every process's `done` line (the processes then idle, so that a
 * manager that stops everything when one process exits does not cut the others short).
 *
 *   npm run bench -- output            # BENCH_PROCESSES=4 BENCH_LINES=200000 BENCH_ROUNDS=2
 *   node --import tsx bench/output.bench.ts
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROCESSES = Number(process.env.BENCH_PROCESSES ?? '4');
const LINES = Number(process.env.BENCH_LINES ?? '200000');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '2');
const PAD = 'x'.repeat(40);

/** The writer: M lines `p<k> <i> xxx...`, written in 500-line chunks, then `done <k>`, then idles if asked. */
const WRITER = `
const [k, m] = process.argv.slice(2).map(Number);
const pad = ${JSON.stringify(PAD)};
let i = 0;
function write() {
  while (i < m) {
    let chunk = '';
    const end = Math.min(m, i + 500);
    for (; i < end; i++) chunk += 'p' + k + ' ' + i + ' ' + pad + '\\n';
    if (!process.stdout.write(chunk)) { process.stdout.once('drain', write); return; }
  }
  process.stdout.write('done ' + k + '\\n');
  if (process.argv[4] === 'stay') setInterval(() => {}, 1 << 30);
}
write();
`;

interface Measure {
  seconds: number;
  problems: string[];
}

const work = mkdtempSync(path.join(os.tmpdir(), 'tsforeman-output-bench-'));
const writer = path.join(work, 'writer.cjs');
writeFileSync(writer, WRITER);
const procfileLines = Array.from({ length: PROCESSES }, (_, n) => `p${n + 1}: node writer.cjs ${n + 1} ${LINES} stay`);
writeFileSync(path.join(work, 'Procfile'), `${procfileLines.join('\n')}\n`);

function hasForeman(): boolean {
  return spawnSync('sh', ['-c', 'command -v foreman'], { stdio: 'ignore' }).status === 0;
}

/** The reference: every writer straight into its own file; done when all have exited. */
async function reference(): Promise<Measure> {
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: PROCESSES }, (_, n) => {
      const fd = openSync(path.join(work, `direct.${n + 1}`), 'w');
      const child = spawn(process.execPath, [writer, String(n + 1), String(LINES)], { cwd: work, stdio: ['ignore', fd, 'inherit'] });
      closeSync(fd);
      return new Promise((resolve) => child.once('exit', resolve));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const problems: string[] = [];
  for (let n = 1; n <= PROCESSES; n++) {
    problems.push(...verify(readFileSync(path.join(work, `direct.${n}`), 'latin1').split('\n'), n));
  }
  return { seconds, problems };
}

/** A manager run: its stdout into a file, done when every `done k` line is in it. */
async function manager(name: string, command: string[]): Promise<Measure> {
  const outFile = path.join(work, `${name}.out`);
  const fd = openSync(outFile, 'w');
  const started = process.hrtime.bigint();
  const child = spawn(command[0] as string, command.slice(1), { cwd: work, stdio: ['ignore', fd, 'inherit'], detached: true });
  closeSync(fd);
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitForDoneLines(outFile, child);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  stop(child);
  await exited;
  const lines = readFileSync(outFile, 'latin1').split('\n');
  const problems: string[] = [];
  for (let n = 1; n <= PROCESSES; n++) {
    const prefix = new RegExp(`^(?:\\d\\d:\\d\\d:\\d\\d )?p${n}\\.1 +\\| `);
    const mine = lines.filter((line) => prefix.test(line)).map((line) => line.replace(prefix, ''));
    problems.push(...verify(mine, n));
  }
  return { seconds, problems };
}

function stop(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGTERM');
  } catch {
    // already gone
  }
}

/** Polls the output file (reading only what is new) until every process's `done` line is there. */
async function waitForDoneLines(file: string, child: ChildProcess): Promise<void> {
  const fd = openSync(file, 'r');
  const buffer = Buffer.alloc(1 << 20);
  let carry = '';
  let done = 0;
  let gone = false;
  child.once('exit', () => (gone = true));
  try {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read > 0) {
        const text = carry + buffer.toString('latin1', 0, read);
        const cut = text.lastIndexOf('\n');
        done += [...text.slice(0, cut + 1).matchAll(/\| done \d+$/gm)].length;
        carry = text.slice(cut + 1);
        if (done >= PROCESSES) return;
        continue;
      }
      if (gone) throw new Error(`the manager exited before every process finished (${done}/${PROCESSES} done)`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } finally {
    closeSync(fd);
  }
}

/** Every line of process k present, whole and in order: `p<k> <i> <pad>` for i = 0..M-1, then `done k`. */
function verify(lines: readonly string[], k: number): string[] {
  const problems: string[] = [];
  let expected = 0;
  for (const line of lines) {
    // foreman reports a process's start and end under the process's own name.
    if (line === '' || line === `done ${k}` || /^(started with pid \d+|terminated by SIG\w+|exited with code \d+)$/.test(line)) {
      continue;
    }
    if (line !== `p${k} ${expected} ${PAD}`) {
      problems.push(`p${k}: expected line ${expected}, got ${JSON.stringify(line.slice(0, 80))}`);
      break;
    }
    expected++;
  }
  if (problems.length === 0 && expected !== LINES) problems.push(`p${k}: ${LINES - expected} lines missing`);
  return problems;
}

const targets: [string, () => Promise<Measure>][] = [
  ['reference (straight to files)', reference],
  ['tsforeman start', () => manager('tsforeman', [process.execPath, path.join(ROOT, 'bin/tsforeman'), 'start', '--no-color', '-t', '2'])],
];
if (hasForeman()) targets.push(['foreman start (ruby-foreman)', () => manager('foreman', ['foreman', 'start', '-t', '2'])]);

const results = new Map<string, Measure[]>();
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of targets) {
      const measure = await run();
      results.set(name, [...(results.get(name) ?? []), measure]);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const total = PROCESSES * LINES;
const best = (name: string) => Math.min(...(results.get(name) ?? []).map((m) => m.seconds));
const referenceRate = total / best('reference (straight to files)');
console.log(`${PROCESSES} processes x ${LINES} lines (${total} lines of ${PAD.length + 12}-ish bytes), best of ${ROUNDS} rounds`);
let failed = false;
for (const [name] of targets) {
  const rate = total / best(name);
  const problems = (results.get(name) ?? []).flatMap((m) => m.problems);
  const verdict = problems.length === 0 ? 'no line lost or torn' : `PROBLEMS: ${problems.slice(0, 3).join('; ')}`;
  console.log(
    `${name.padEnd(30)} ${Math.round(rate).toLocaleString('en-US').padStart(11)} lines/s  ${(rate / referenceRate).toFixed(2)}x reference  ${verdict}`,
  );
  if (name === 'tsforeman start' && problems.length > 0) failed = true;
}
if (results.has('foreman start (ruby-foreman)')) {
  console.log(`tsforeman / foreman: ${(best('foreman start (ruby-foreman)') / best('tsforeman start')).toFixed(2)}x`);
} else {
  console.log('foreman: not installed (apt-get install ruby-foreman to compare)');
}
process.exit(failed ? 1 : 0);
