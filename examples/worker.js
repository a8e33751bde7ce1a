// A background worker for the example Procfile: does a unit of "work" every few seconds and stops
// cleanly on SIGTERM (what tsforeman sends at shutdown), finishing the job in hand first.
const intervalMs = Number(process.env.WORKER_INTERVAL_MS ?? 3000);
let jobs = 0;
let busy = false;
let stopping = false;

console.log(`worker ${process.env.DYNO ?? 'worker'} ready (pid ${process.pid}), a job every ${intervalMs} ms`);

const timer = setInterval(async () => {
  if (busy) return;
  busy = true;
  jobs += 1;
  await new Promise((resolve) => setTimeout(resolve, 100));
  console.log(`job ${jobs} done`);
  busy = false;
  if (stopping) finish();
}, intervalMs);

function finish() {
  clearInterval(timer);
  console.log(`worker stopping after ${jobs} jobs`);
  process.exit(0);
}

process.on('SIGTERM', () => {
  stopping = true;
  if (!busy) finish();
});
