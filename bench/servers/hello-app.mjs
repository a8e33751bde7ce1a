// The benchmark's app: hello world as a Node request listener. Each process counts what it served and,
// when BENCH_COUNT_DIR is set, writes the count to BENCH_COUNT_DIR/<pid> (for the load-balance figures).
import { writeFileSync } from 'node:fs';
import path from 'node:path';

let served = 0;
let written = 0;
const directory = process.env.BENCH_COUNT_DIR;
if (directory) {
  setInterval(() => {
    if (served === written) return;
    written = served;
    writeFileSync(path.join(directory, String(process.pid)), String(served));
  }, 200).unref();
}

export function count() {
  served++;
}

export default function hello(req, res) {
  served++;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12 });
  res.end('Hello World\n');
}
