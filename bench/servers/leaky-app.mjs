// Hello world that leaks memory on every request: each one keeps LEAK_BYTES (default 4096) bytes, written
// so that they count in the worker's resident memory. For the --max-worker-memory row of the drain bench.
const leaked = [];
const size = Number(process.env.LEAK_BYTES ?? '4096');

export default function leaky(req, res) {
  leaked.push(Buffer.alloc(size, 1));
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 12 });
  res.end('Hello World\n');
}
