// The reference: a hand-written node:cluster server with WORKERS workers (Node's default round-robin
// scheduling) serving the same app. Prints "listening PORT" once every worker listens.
import cluster from 'node:cluster';
import http from 'node:http';
import hello from './hello-app.mjs';

const workers = Number(process.env.WORKERS ?? '2');
if (cluster.isPrimary) {
  let listening = 0;
  for (let index = 0; index < workers; index++) cluster.fork();
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) console.log(`listening ${address.port}`);
  });
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  });
} else {
  http.createServer(hello).listen(Number(process.env.PORT ?? '0'), '127.0.0.1');
}
